//! Numeric tables read from CSV files, the way most tabular data sets travel.
//!
//! [`Table::read_csv`] reads a header row of column names and rows of numbers, and
//! splits the columns into the features and one named target. It is strict because a
//! table that is read wrong trains a network on wrong numbers without a word: a cell
//! that is not a finite number, a row with too few or too many fields, a missing or
//! repeated column name is an [`Error::Table`] naming the file, the line and the column,
//! never a guess (a NaN, a zero, a column silently dropped) and never a panic.
//!
//! The bytes are parsed by the `csv` crate (RFC 4180: quoted cells, doubled quotes,
//! CRLF or LF line ends); this module decides what they mean, and counts the lines
//! itself (the crate's positions do not count the blank lines it skips). Memory grows
//! with the bytes actually in the file, never with anything the file declares: the file
//! is read whole, each cell becomes one `f64`, and the parser holds one record at a time.

use std::path::{Path, PathBuf};

use ::csv::{ByteRecord, ReaderBuilder, Trim};
use ndarray::{Array1, Array2};

use crate::scalar::Scalar;
use crate::Error;

/// The UTF-8 byte-order mark that Excel ("CSV UTF-8") and pandas' `encoding="utf-8-sig"`
/// put before the first column name.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The largest class index [`Table::class_labels`] accepts: a target beyond it is taken
/// for a value of a regression target, not a class.
const MAX_CLASS: f64 = u32::MAX as f64;

/// How many characters of a bad cell an error message quotes.
const QUOTED_CHARS: usize = 40;

/// How many column names the message of a missing target lists.
const LISTED_NAMES: usize = 12;

/// A numeric table read from a CSV file: the features, one row per sample and one
/// column per feature, and the target column.
///
/// Every cell is an `f64`; [`Table::features_as`] gives the features in a network's
/// element type and [`Table::class_labels`] the target as class indices. The parts are
/// read through methods so that the rows of the features, the target and the line
/// numbers errors quote always agree; [`Table::into_arrays`] hands the arrays over.
///
/// # Example
///
/// ```no_run
/// use nn_core::data::Table;
///
/// let table = Table::read_csv("data/breast-cancer/wdbc.csv", "diagnosis")?;
/// assert_eq!(table.features().dim(), (569, 30));
/// assert_eq!(table.feature_names()[0], "mean_radius");
/// let x = table.features_as::<f32>();        // (569, 30), for a network of f32
/// let labels = table.class_labels()?;        // 0 malignant, 1 benign
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    features: Array2<f64>,
    target: Array1<f64>,
    feature_names: Vec<String>,
    target_name: String,
    path: PathBuf,
    /// The target's column in the file, counting from 0.
    target_column: usize,
    /// The line each row starts on, for the errors of [`Table::class_labels`].
    lines: Vec<u64>,
}

impl Table {
    /// Reads the CSV file at `path`: a header row naming the columns, then one row of
    /// numbers per sample. The column named `target` becomes the target; the others,
    /// in file order, the features.
    ///
    /// # Format
    ///
    /// - Fields are separated by commas; a field may be quoted (`"1.5"`), with `""` for
    ///   a quote inside. Lines end with LF or CRLF, and the last line may or may not.
    /// - Spaces and tabs around a field or a name are ignored (`1.5 , 2` is `1.5`, `2`);
    ///   blank lines are skipped.
    /// - A UTF-8 byte-order mark at the start of the file is skipped, so files saved by
    ///   Excel as "CSV UTF-8" or by pandas with `encoding="utf-8-sig"` read as written.
    /// - Every column has a name, unique in the header. (`DataFrame.to_csv` writes the
    ///   index as a first column without a name unless given `index=False`: such a file
    ///   is refused rather than the row numbers taken for a feature.)
    /// - Every cell is a finite number as Rust's `f64::from_str` reads it: `3`, `-0.5`,
    ///   `1e-3`, `.5`. Missing values (an empty cell, `NA`, `nan`) and infinities are
    ///   refused: a table with gaps must be filled in before it is read.
    ///
    /// # Errors
    ///
    /// - [`Error::Io`] if the file cannot be opened or read.
    /// - [`Error::Table`], naming the file, the line and, where it is a cell's or a
    ///   column's problem, the column by number and name: an empty file; a header only
    ///   (no rows); a column without a name or with the name of an earlier one; no
    ///   column named `target` (the message lists the names there are); no column
    ///   besides the target; a row with fewer or more fields than the header has
    ///   names; a cell that is empty, not valid UTF-8, not a number, or infinite or
    ///   NaN.
    ///
    /// No bytes make it panic, and memory grows only with the bytes in the file.
    pub fn read_csv(path: impl AsRef<Path>, target: &str) -> Result<Table, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        parse(&bytes, path, target)
    }

    /// The features, one row per sample and one column per feature in file order:
    /// `(rows, columns − 1)`.
    pub fn features(&self) -> &Array2<f64> {
        &self.features
    }

    /// The target column, one value per row.
    pub fn target(&self) -> &Array1<f64> {
        &self.target
    }

    /// The names of the feature columns, in file order: `feature_names()[j]` names
    /// column `j` of [`Table::features`].
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The name of the target column.
    pub fn target_name(&self) -> &str {
        &self.target_name
    }

    /// The file the table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The number of rows (samples).
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// Whether the table has no rows; never true of a table [`Table::read_csv`] returns.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// The features in a network's element type, `f32` or `f64`, rounded to nearest:
    /// the input of [`Trainer::fit`](crate::train::Trainer::fit) or
    /// [`Standardizer::fit`](super::Standardizer::fit).
    pub fn features_as<T: Scalar>(&self) -> Array2<T> {
        self.features.mapv(T::of_f64)
    }

    /// The target as a `(rows, 1)` array in a network's element type: the targets of
    /// [`MeanSquaredError`](crate::MeanSquaredError), for regression.
    pub fn regression_targets<T: Scalar>(&self) -> Array2<T> {
        self.target.mapv(T::of_f64).insert_axis(ndarray::Axis(1))
    }

    /// The target as class indices, the labels of
    /// [`SoftmaxCrossEntropy`](crate::SoftmaxCrossEntropy) and of
    /// [`Trainer::fit`](crate::train::Trainer::fit): each value must be a whole number
    /// from 0 to 4,294,967,295 (`1` and `1.0` are class 1).
    ///
    /// # Errors
    ///
    /// [`Error::Table`] naming the file, the line of the first row whose target is not
    /// such a number (negative, fractional, too large), and the target column; the
    /// message gives the row's index too.
    pub fn class_labels(&self) -> Result<Vec<usize>, Error> {
        self.target
            .iter()
            .zip(&self.lines)
            .enumerate()
            .map(|(row, (&value, &line))| {
                if (0.0..=MAX_CLASS).contains(&value) && value.fract() == 0.0 {
                    Ok(value as usize)
                } else {
                    Err(Error::Table {
                        path: self.path.clone(),
                        line,
                        column: Some(self.target_column + 1),
                        column_name: Some(self.target_name.clone()),
                        reason: format!(
                            "the target of row {row} is {}, not a class index (a whole \
                             number from 0 to {})",
                            number(value),
                            MAX_CLASS
                        ),
                    })
                }
            })
            .collect()
    }

    /// The features and the target, without a copy.
    pub fn into_arrays(self) -> (Array2<f64>, Array1<f64>) {
        (self.features, self.target)
    }
}

/// Reads a table from `bytes`, the contents of the file at `path` (named in errors).
fn parse(bytes: &[u8], path: &Path, target: &str) -> Result<Table, Error> {
    // csv-core skips a BOM at the start of its input too, when its first buffer holds
    // all three bytes; accepting one is this reader's decision, so it is made here.
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(bytes);
    let mut counter = Lines {
        bytes,
        at: 0,
        line: 1,
    };

    let mut record = ByteRecord::new();
    let mut line = 1;
    if !read_record(&mut csv, &mut record, &mut counter, &mut line, path)? {
        return Err(at_line(
            path,
            line,
            "the file is empty: expected a header row naming the columns, then rows of numbers",
        ));
    }
    let header_line = line;
    let names = column_names(&record, path, header_line)?;
    let target_column = find_target(&names, target, path, header_line)?;
    let columns = names.len();
    if columns == 1 {
        return Err(at_line(
            path,
            header_line,
            format!(
                "the only column is the target `{}`: there are no features",
                quoted(target)
            ),
        ));
    }

    let mut features = Vec::new();
    let mut targets = Vec::new();
    let mut lines = Vec::new();
    while read_record(&mut csv, &mut record, &mut counter, &mut line, path)? {
        let cell = |column: usize, reason: String| Error::Table {
            path: path.to_path_buf(),
            line,
            column: Some(column + 1),
            column_name: names.get(column).cloned(),
            reason,
        };
        if record.len() < columns {
            return Err(cell(
                record.len(),
                format!(
                    "too few fields: the row has {} and the header {columns}; this column \
                     and those after it are missing{}",
                    record.len(),
                    unclosed_quote_hint(&record)
                ),
            ));
        }
        if record.len() > columns {
            return Err(cell(
                columns,
                format!(
                    "too many fields: the row has {} and the header {columns}{}",
                    record.len(),
                    unclosed_quote_hint(&record)
                ),
            ));
        }
        for (column, field) in record.iter().enumerate() {
            let value = parse_number(field)
                .map_err(|reason| cell(column, reason + &unclosed_quote_hint(&record)))?;
            if column == target_column {
                targets.push(value);
            } else {
                features.push(value);
            }
        }
        lines.push(line);
    }
    if targets.is_empty() {
        return Err(at_line(
            path,
            header_line,
            "the header is the only row: the table has no data",
        ));
    }

    let rows = targets.len();
    let features = Array2::from_shape_vec((rows, columns - 1), features).map_err(|e| {
        // Unreachable: every row pushed exactly `columns − 1` features.
        at_line(path, line, format!("the rows do not make a table: {e}"))
    })?;
    let mut feature_names = names;
    let target_name = feature_names.remove(target_column);
    Ok(Table {
        features,
        target: Array1::from(targets),
        feature_names,
        target_name,
        path: path.to_path_buf(),
        target_column,
        lines,
    })
}

/// Reads the next record into `record` and the line it starts on into `line`; `false`
/// at the end of the file.
fn read_record(
    csv: &mut ::csv::Reader<&[u8]>,
    record: &mut ByteRecord,
    lines: &mut Lines<'_>,
    line: &mut u64,
    path: &Path,
) -> Result<bool, Error> {
    match csv.read_byte_record(record) {
        Ok(true) => {
            let byte = record
                .position()
                .map_or(lines.at as u64, ::csv::Position::byte);
            *line = lines.start_of(byte);
            Ok(true)
        }
        Ok(false) => Ok(false),
        // Reading from memory, with byte records and rows of any length, the parser
        // reports no error; should a later version, it is still one naming the line.
        Err(e) => Err(at_line(path, *line, format!("unreadable CSV: {e}"))),
    }
}

/// The line numbers of records, counted in the bytes the parser reads.
///
/// The `csv` crate places a record at the end of the one before it, before the blank
/// lines it skips (and, after a CRLF, between the CR and the LF), and counts its lines
/// from there; a record really starts at the first byte after those that is not a line
/// end.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Where the last record started; every line end before it is counted.
    at: usize,
    /// The line of byte `at`, counting from 1.
    line: u64,
}

impl Lines<'_> {
    /// The line of the record the parser places at `byte`.
    fn start_of(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .clamp(self.at, self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let ends = self.bytes[self.at..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += ends as u64;
        self.at = start;
        self.line
    }
}

/// The names in the header `record`: each non-empty, valid UTF-8 and unique.
fn column_names(record: &ByteRecord, path: &Path, line: u64) -> Result<Vec<String>, Error> {
    let error = |column: usize, column_name: Option<String>, reason: String| Error::Table {
        path: path.to_path_buf(),
        line,
        column: Some(column + 1),
        column_name,
        reason,
    };
    for (column, field) in record.iter().enumerate() {
        if std::str::from_utf8(field).is_err() {
            return Err(error(
                column,
                None,
                format!(
                    "the column's name `{}` is not valid UTF-8",
                    quoted(&String::from_utf8_lossy(field))
                ),
            ));
        }
        if field.is_empty() {
            let hint = if column == 0 {
                " (pandas' `DataFrame.to_csv` writes the index so; pass `index=False`)"
            } else {
                ""
            };
            return Err(error(
                column,
                None,
                format!("the column has no name: every column needs one{hint}"),
            ));
        }
    }
    // Duplicates, before a name is copied: the columns sorted by name (8 bytes a
    // column), and the first column, in file order, that repeats an earlier one's name.
    let field = |i: usize| record.get(i).unwrap_or_default();
    let mut order: Vec<usize> = (0..record.len()).collect();
    order.sort_unstable_by(|&i, &j| field(i).cmp(field(j)).then(i.cmp(&j)));
    let mut repeat: Option<(usize, usize)> = None;
    let mut first = order.first().copied().unwrap_or(0);
    for pair in order.windows(2) {
        if field(pair[0]) != field(pair[1]) {
            first = pair[1];
        } else if repeat.is_none_or(|(_, later)| pair[1] < later) {
            repeat = Some((first, pair[1]));
        }
    }
    let name = |field: &[u8]| String::from_utf8_lossy(field).into_owned();
    if let Some((first, later)) = repeat {
        return Err(error(
            later,
            Some(name(field(later))),
            format!("column {} has the same name", first + 1),
        ));
    }
    Ok(record.iter().map(name).collect())
}

/// The index of the column named `target` in `names`.
fn find_target(names: &[String], target: &str, path: &Path, line: u64) -> Result<usize, Error> {
    if let Some(column) = names.iter().position(|name| name == target) {
        return Ok(column);
    }
    let near = names
        .iter()
        .find(|name| name.trim().eq_ignore_ascii_case(target.trim()))
        .map(|name| format!(" (did you mean `{name}`?)"))
        .unwrap_or_default();
    let mut listed = names
        .iter()
        .take(LISTED_NAMES)
        .map(|name| format!("`{}`", quoted(name)))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED_NAMES {
        listed += &format!(" and {} more", names.len() - LISTED_NAMES);
    }
    Err(at_line(
        path,
        line,
        format!(
            "no column is named `{}`, the target{near}; the header names {listed}",
            quoted(target)
        ),
    ))
}

/// The value of one cell, or why it is not a finite number.
fn parse_number(field: &[u8]) -> Result<f64, String> {
    let text = std::str::from_utf8(field).map_err(|_| {
        format!(
            "`{}` is not valid UTF-8, so not a number",
            quoted(&String::from_utf8_lossy(field))
        )
    })?;
    if text.is_empty() {
        return Err(
            "the cell is empty: missing values are not supported; fill them in first".into(),
        );
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        Ok(_) => Err(format!(
            "`{}` is not a finite number: infinities and NaN (missing values) are not \
             supported",
            quoted(text)
        )),
        Err(_) => Err(format!("`{}` is not a number", quoted(text))),
    }
}

/// A hint for a record one of whose (quoted) cells spans several lines, as the rest of
/// the file does after a quote that is never closed; nothing for other records.
fn unclosed_quote_hint(record: &ByteRecord) -> String {
    match record
        .iter()
        .map(|field| field.iter().filter(|&&b| b == b'\n').count() + 1)
        .max()
    {
        Some(lines @ 2..) => format!(
            " (a quoted cell spans {lines} lines: is a quote opened on this line never \
             closed?)"
        ),
        _ => String::new(),
    }
}

/// `text` for a message: at most [`QUOTED_CHARS`] characters, control characters and
/// backticks escaped, `…` where it was cut.
fn quoted(text: &str) -> String {
    let mut shown: String = text
        .chars()
        .take(QUOTED_CHARS)
        .map(|c| match c {
            '`' => "\\`".to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect();
    if text.chars().nth(QUOTED_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

/// `value` for a message: in full when it is short, in scientific notation otherwise.
fn number(value: f64) -> String {
    if value.abs() < 1e15 {
        format!("{value}")
    } else {
        format!("{value:e}")
    }
}

/// An [`Error::Table`] about line `line` as a whole.
fn at_line(path: &Path, line: u64, reason: impl Into<String>) -> Error {
    Error::Table {
        path: path.to_path_buf(),
        line,
        column: None,
        column_name: None,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests;

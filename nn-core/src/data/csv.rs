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
mod tests {
    use ndarray::array;

    use super::*;

    fn read(bytes: &[u8]) -> Result<Table, Error> {
        parse(bytes, Path::new("t.csv"), "y")
    }

    #[test]
    fn data_csv_counts_lines_across_blank_lines_crlf_and_quoted_line_ends() {
        let lines = |bytes: &[u8]| read(bytes).unwrap().lines;
        assert_eq!(lines(b"a,y\n1,2\n3,4\n"), [2, 3]);
        assert_eq!(lines(b"\na,y\n\n1,2\n\n\n3,4\n\n"), [4, 7]);
        assert_eq!(lines(b"a,y\r\n\r\n1,2\r\n3,4"), [3, 4]);
        assert_eq!(lines(b"a,y\r\r\n\n1,2\n"), [3]);
        assert_eq!(lines(b"a,y\n\"1\n\",2\n\n3,\"\r\n4\"\n5,6"), [2, 5, 7]);
        assert_eq!(lines(b"\xEF\xBB\xBF\n\na,y\n1,2"), [4]);
    }

    /// The fields of the [`Error::Table`] of reading `bytes`, and its message.
    fn table_error(bytes: &[u8]) -> (u64, Option<usize>, Option<String>, String) {
        let err = read(bytes).unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("t.csv: line "), "{message}");
        match err {
            Error::Table {
                line,
                column,
                column_name,
                ..
            } => (line, column, column_name, message),
            other => panic!("not a table error: {other:?}"),
        }
    }

    #[test]
    fn data_csv_reads_a_table() {
        let table = read(b"a,y,b\n1,0,2.5\n-3e2,1,.25\n").unwrap();
        assert_eq!(table.features(), &array![[1.0, 2.5], [-300.0, 0.25]]);
        assert_eq!(table.target(), &array![0.0, 1.0]);
        assert_eq!(table.feature_names(), ["a", "b"]);
        assert_eq!(table.target_name(), "y");
        assert_eq!(table.path(), Path::new("t.csv"));
        assert_eq!((table.len(), table.is_empty()), (2, false));
        assert_eq!(table.lines, [2, 3]);
        assert_eq!(table.target_column, 1);
        assert_eq!(table.class_labels().unwrap(), [0, 1]);
        assert_eq!(
            table.features_as::<f32>(),
            array![[1.0f32, 2.5], [-300.0, 0.25]]
        );
        assert_eq!(table.regression_targets::<f64>(), array![[0.0], [1.0]]);
        let (features, target) = table.into_arrays();
        assert_eq!((features.dim(), target.len()), ((2, 2), 2));
    }

    #[test]
    fn data_csv_features_as_f32_round_to_nearest() {
        let table = read(b"x,y\n0.1,0\n16777217,0\n").unwrap();
        let x = table.features_as::<f32>();
        assert_eq!(x[[0, 0]], 0.1f32);
        assert_eq!(x[[1, 0]], 16_777_216.0f32);
        assert_eq!(table.features_as::<f64>()[[0, 0]], 0.1f64);
    }

    #[test]
    fn data_csv_line_ends_bom_quotes_blank_lines_and_spaces() {
        let plain = read(b"a,y\n1,2\n3,4\n").unwrap();
        for bytes in [
            &b"a,y\n1,2\n3,4"[..],              // no final newline
            b"a,y\r\n1,2\r\n3,4\r\n",           // CRLF
            b"a,y\r\n1,2\r\n3,4",               // CRLF, no final newline
            b"\xEF\xBB\xBFa,y\n1,2\n3,4\n",     // a byte-order mark
            b"\"a\",\"y\"\n\"1\",2\n3,\"4\"\n", // quoted names and cells
            b"a , y\n 1,\t2 \n3 ,4\n",          // spaces and tabs around fields
            b"\na,y\n\n1,2\n\n\n3,4\n\n",       // blank lines
        ] {
            let table = read(bytes).unwrap();
            assert_eq!(table.features(), plain.features(), "{bytes:?}");
            assert_eq!(table.target(), plain.target(), "{bytes:?}");
            assert_eq!(table.feature_names(), ["a"], "{bytes:?}");
        }
        // A byte-order mark before the target's name: the name is read without it.
        let table = read(b"\xEF\xBB\xBFy,a\n1,2\n").unwrap();
        assert_eq!(table.target(), &array![1.0]);
        // Blank lines shift the line numbers errors give.
        assert_eq!(read(b"\na,y\n\n1,2\n\n\n3,4\n\n").unwrap().lines, [4, 7]);
        // A BOM anywhere else is a character of a name or a cell.
        let (line, column, _, message) = table_error(b"a,y\n\xEF\xBB\xBF1,2\n");
        assert_eq!((line, column), (2, Some(1)));
        assert!(message.contains("is not a number"), "{message}");
    }

    #[test]
    fn data_csv_a_short_file_is_not_mistaken_for_a_bom() {
        // Fewer than three bytes, and three that start like a BOM without being one.
        assert_eq!(table_error(b"").0, 1);
        assert!(table_error(b"y").3.contains("no features"));
        assert!(table_error(b"x").3.contains("no column is named `y`"));
        assert!(table_error(b"\xEF").3.contains("not valid UTF-8"));
        assert!(table_error(b"\xEF\xBB").3.contains("not valid UTF-8"));
        assert!(table_error(b"\xEF\xBBa,y\n1,2\n")
            .3
            .contains("not valid UTF-8"));
    }

    #[test]
    fn data_csv_refuses_empty_files_and_a_header_only() {
        for bytes in [&b""[..], b"\n", b"\r\n\r\n", b"\xEF\xBB\xBF"] {
            let (line, column, _, message) = table_error(bytes);
            assert_eq!(column, None);
            assert!(line >= 1);
            assert!(message.contains("the file is empty"), "{message}");
        }
        for bytes in [&b"a,y"[..], b"a,y\n", b"a,y\r\n\r\n"] {
            let (line, column, _, message) = table_error(bytes);
            assert_eq!((line, column), (1, None));
            assert!(message.contains("the header is the only row"), "{message}");
        }
    }

    #[test]
    fn data_csv_refuses_ragged_rows() {
        let (line, column, name, message) = table_error(b"a,b,y\n1,2,3\n4,5\n");
        assert_eq!((line, column, name.as_deref()), (3, Some(3), Some("y")));
        assert!(
            message
                .contains("line 3, column 3 (`y`): too few fields: the row has 2 and the header 3"),
            "{message}"
        );
        let (line, column, name, message) = table_error(b"a,b,y\n1,2,3\n\n4,5,6,7\n");
        assert_eq!((line, column, name), (4, Some(4), None));
        assert!(
            message.contains("line 4, column 4: too many fields: the row has 4 and the header 3"),
            "{message}"
        );
        // A trailing comma is an empty fourth field.
        assert_eq!(table_error(b"a,b,y\n1,2,3,\n").1, Some(4));
        // A line of spaces is a row of one empty field, not a blank line.
        assert_eq!(table_error(b"a,b,y\n1,2,3\n   \n").0, 3);
    }

    #[test]
    fn data_csv_refuses_cells_that_are_not_finite_numbers() {
        let cases: [(&[u8], &str); 9] = [
            (b"a,y\n1,2\nabc,3\n", "`abc` is not a number"),
            (b"a,y\n1,2\n,3\n", "the cell is empty"),
            (b"a,y\n1,2\n\"\",3\n", "the cell is empty"),
            (b"a,y\n1,2\nNaN,3\n", "`NaN` is not a finite number"),
            (b"a,y\n1,2\ninf,3\n", "`inf` is not a finite number"),
            (
                b"a,y\n1,2\n-infinity,3\n",
                "`-infinity` is not a finite number",
            ),
            (b"a,y\n1,2\n1e999,3\n", "`1e999` is not a finite number"),
            (b"a,y\n1,2\n1\xFF,3\n", "`1\u{FFFD}` is not valid UTF-8"),
            (b"a,y\n1,2\n1.5.2,3\n", "`1.5.2` is not a number"),
        ];
        for (bytes, expected) in cases {
            let (line, column, name, message) = table_error(bytes);
            assert_eq!((line, column, name.as_deref()), (3, Some(1), Some("a")));
            assert!(
                message.starts_with("t.csv: line 3, column 1 (`a`): "),
                "{message}"
            );
            assert!(message.contains(expected), "{message} lacks {expected}");
        }
        // The target's cells too.
        let (_, column, name, _) = table_error(b"a,y\n1,x\n");
        assert_eq!((column, name.as_deref()), (Some(2), Some("y")));
    }

    #[test]
    fn data_csv_a_quote_never_closed_takes_the_rest_of_the_file() {
        // In the first column: the row is one field, the rest of the file.
        let (line, column, _, message) = table_error(b"a,y\n1,2\n\"3,4\n5,6\n7,8\n");
        assert_eq!((line, column), (3, Some(2)));
        assert!(message.contains("too few fields"), "{message}");
        assert!(message.contains("a quoted cell spans 3 lines"), "{message}");
        assert!(message.contains("never closed"), "{message}");
        // In the last column: the row's last cell is the rest of the file.
        let (line, column, _, message) = table_error(b"a,y\n1,\"2\r\n3,4\r\n");
        assert_eq!((line, column), (2, Some(2)));
        assert!(message.contains(r"`2\r\n3,4` is not a number"), "{message}");
        assert!(message.contains("spans 2 lines"), "{message}");
        // No hint for a record on one line.
        assert!(!table_error(b"a,y\nx,1\n").3.contains("spans"));
    }

    #[test]
    fn data_csv_messages_quote_at_most_forty_characters_and_escape_controls() {
        let mut bytes = b"a,y\n".to_vec();
        bytes.extend(std::iter::repeat_n(b'x', 100_000));
        bytes.extend_from_slice(b",1\n");
        let message = table_error(&bytes).3;
        assert!(message.contains(&format!("`{}…` is not a number", "x".repeat(40))));
        assert!(message.len() < 200, "{message}");
        let message = table_error(b"a,y\n\"1\x07`\",2\n").3;
        assert!(message.contains(r"`1\u{7}\`` is not a number"), "{message}");
    }

    #[test]
    fn data_csv_refuses_bad_headers() {
        let (line, column, name, message) = table_error(b"a,b,a,y\n1,2,3,4\n");
        assert_eq!((line, column, name.as_deref()), (1, Some(3), Some("a")));
        assert!(message.contains("column 1 has the same name"), "{message}");
        // Names are compared after trimming.
        assert_eq!(table_error(b"a, a ,y\n1,2,3\n").1, Some(2));
        // Of several repeats, the first in file order; `b` repeats at column 5 only.
        let (_, column, name, message) = table_error(b"b,a,c,a,b,y\n1,2,3,4,5,6\n");
        assert_eq!((column, name.as_deref()), (Some(4), Some("a")));
        assert!(message.contains("column 2 has the same name"), "{message}");
        let (_, column, name, message) = table_error(b"z,q,y,z,q,z\n1,2,3,4,5,6\n");
        assert_eq!((column, name.as_deref()), (Some(4), Some("z")));
        assert!(message.contains("column 1 has the same name"), "{message}");

        // pandas' index column.
        let (_, column, name, message) = table_error(b",a,y\n0,1,2\n");
        assert_eq!((column, name), (Some(1), None));
        assert!(message.contains("no name"), "{message}");
        assert!(message.contains("index=False"), "{message}");
        let message = table_error(b"a,,y\n0,1,2\n").3;
        assert!(
            message.contains("column 2: the column has no name"),
            "{message}"
        );
        assert!(!message.contains("index=False"), "{message}");

        let (_, column, _, message) = table_error(b"a,b\xFF,y\n1,2,3\n");
        assert_eq!(column, Some(2));
        assert!(message.contains("not valid UTF-8"), "{message}");

        let message = table_error(b"y\n1\n2\n").3;
        assert!(message.contains("no features"), "{message}");
    }

    #[test]
    fn data_csv_missing_target_lists_the_names_and_suggests_one() {
        let (line, column, _, message) = table_error(b"a,b,Y\n1,2,3\n");
        assert_eq!((line, column), (1, None));
        assert!(message.contains("no column is named `y`"), "{message}");
        assert!(message.contains("did you mean `Y`?"), "{message}");
        assert!(message.contains("`a`, `b`, `Y`"), "{message}");
        let header: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
        let message = table_error(format!("{}\n", header.join(",")).as_bytes()).3;
        assert!(message.contains("`c11` and 8 more"), "{message}");
        assert!(!message.contains("did you mean"), "{message}");
    }

    #[test]
    fn data_csv_class_labels() {
        let table = read(b"a,y\n0,0\n0,2\n0,1.0\n0,-0\n0,4294967295\n").unwrap();
        assert_eq!(table.class_labels().unwrap(), [0, 2, 1, 0, 4_294_967_295]);
        for (value, shown) in [
            ("0.5", "0.5"),
            ("-1", "-1"),
            ("4294967296", "4294967296"),
            ("1e300", "1e300"),
        ] {
            let table = read(format!("y,a\n1,0\n\n{value},0\n").as_bytes()).unwrap();
            let err = table.class_labels().unwrap_err();
            let message = err.to_string();
            let Error::Table {
                line,
                column,
                column_name,
                ..
            } = err
            else {
                panic!("{message}")
            };
            assert_eq!((line, column), (4, Some(1)));
            assert_eq!(column_name.as_deref(), Some("y"));
            assert!(
                message.contains(&format!(
                    "the target of row 1 is {shown}, not a class index"
                )),
                "{message}"
            );
        }
    }

    #[test]
    fn data_csv_files_that_cannot_be_read_are_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.csv");
        let err = Table::read_csv(&missing, "y").unwrap_err();
        let Error::Io { path, source } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (path, source.kind()),
            (&missing, std::io::ErrorKind::NotFound)
        );
        assert!(err.to_string().contains("missing.csv"), "{err}");
        // A directory.
        let err = Table::read_csv(dir.path(), "y").unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }

    #[test]
    fn data_csv_quoted_and_number_helpers() {
        assert_eq!(quoted("abc"), "abc");
        assert_eq!(quoted(&"é".repeat(41)), format!("{}…", "é".repeat(40)));
        assert_eq!(quoted("a\nb\tc"), r"a\nb\tc");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-2e20), "-2e20");
    }
}

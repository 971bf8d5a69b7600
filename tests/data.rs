//! `frechet::data` as a user sees it: the bundled breast-cancer table read, split and
//! standardised; MNIST as vectors; and CSV files, valid and hostile, written to a
//! temporary directory.
//!
//! Valid tables of random shapes, names, numbers and spellings (quotes, spaces, CRLF, a
//! byte-order mark, a final line end or none) read back exactly. Hostile files — random
//! bytes and mutations of valid ones — make `Table::read_csv` return `Ok` or `Err`,
//! never panic or hang, and never allocate more than the file can justify: a few dozen
//! times its length plus a small constant. Each bad file of the list the documentation
//! gives is an error naming the file, the line and the column.
//!
//! Memory is measured with the counting global allocator the hostile-bytes tests of
//! the other readers use (`tests/support/counting.rs`): each read runs on a thread of
//! its own, whose allocations are its alone, and a hang fails instead of stalling.

use std::path::{Path, PathBuf};

use frechet::data::{select, split, split_stratified, Fractions, Mnist, Standardizer, Table};
use frechet::ndarray::{Array2, Axis};
use frechet::Error;
use proptest::prelude::*;
use proptest::sample::Index;

#[path = "support/counting.rs"]
mod counting;
#[path = "support/edits.rs"]
mod edits;

use counting::{measured, Usage};
use edits::{run, Edit};

const WDBC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast-cancer/wdbc.csv");
const MNIST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k");

// ---------------------------------------------------------------------------------------
// The bundled data.

#[test]
fn the_breast_cancer_table_reads_as_its_notice_describes() {
    let table = Table::read_csv(WDBC, "diagnosis").unwrap();
    assert_eq!(table.features().dim(), (569, 30));
    assert_eq!(table.len(), 569);
    assert_eq!(table.target_name(), "diagnosis");
    let names = table.feature_names();
    assert_eq!(names.len(), 30);
    assert_eq!(names[0], "mean_radius");
    assert_eq!(names[10], "radius_error");
    assert_eq!(names[29], "worst_fractal_dimension");
    assert_eq!(table.path(), Path::new(WDBC));
    // The first row as the file spells it.
    let first = table.features().row(0);
    assert_eq!(
        (first[0], first[1], first[3], first[29]),
        (17.99, 10.38, 1001.0, 0.1189)
    );
    // 212 malignant (0), 357 benign (1).
    let labels = table.class_labels().unwrap();
    assert_eq!(labels.iter().filter(|&&l| l == 0).count(), 212);
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 357);
    assert_eq!(labels.len(), 569);
    // In f32, the features are the f64 values rounded.
    let x = table.features_as::<f32>();
    assert_eq!(x[[0, 0]], 17.99f32);
    assert_eq!(x.dim(), (569, 30));
    // And a wrong target name says which names there are.
    let err = Table::read_csv(WDBC, "target").unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("wdbc.csv: line 1: no column is named `target`"),
        "{message}"
    );
    assert!(message.contains("`mean_radius`"), "{message}");
    assert!(message.contains("and 19 more"), "{message}");
}

#[test]
fn split_select_and_standardize_the_breast_cancer_table() {
    let table = Table::read_csv(WDBC, "diagnosis").unwrap();
    let labels = table.class_labels().unwrap();
    let x = table.features_as::<f64>();
    let fractions = Fractions {
        validation: 0.15,
        test: 0.15,
    };

    let plain = split(table.len(), fractions, 0);
    assert_eq!(
        (plain.train.len(), plain.validation.len(), plain.test.len()),
        (399, 85, 85)
    );
    let sets = split_stratified(&labels, fractions, 0);
    // 212 malignant: 32 + 32 + 148; 357 benign: 54 + 54 + 249.
    assert_eq!(
        (sets.train.len(), sets.validation.len(), sets.test.len()),
        (397, 86, 86)
    );
    let test_labels = select(&labels, &sets.test);
    assert_eq!(test_labels.iter().filter(|&&l| l == 0).count(), 32);
    let mut all: Vec<usize> = [&sets.train, &sets.validation, &sets.test]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..569).collect::<Vec<_>>());

    // Rows and labels selected by the same indices stay together.
    let train = x.select(Axis(0), &sets.train);
    let train_labels = select(&labels, &sets.train);
    for (k, &i) in sets.train.iter().enumerate() {
        assert_eq!(train.row(k), x.row(i));
        assert_eq!(train_labels[k], labels[i]);
    }

    // Standardised with the training rows' statistics: those rows have mean 0 and
    // standard deviation 1 in every column; the test rows only about.
    let scaler = Standardizer::fit(train.view());
    assert_eq!(scaler.columns(), 30);
    let z = scaler.transform(train.view());
    for column in z.columns() {
        let n = column.len() as f64;
        let mean = column.sum() / n;
        let std = (column.mapv(|v| (v - mean).powi(2)).sum() / n).sqrt();
        assert!(
            mean.abs() < 1e-12 && (std - 1.0).abs() < 1e-12,
            "{mean} {std}"
        );
    }
    let test = scaler.transform(x.select(Axis(0), &sets.test).view());
    let test_mean = test.column(3).sum() / test.nrows() as f64;
    assert!(test_mean != 0.0 && test_mean.abs() < 0.5, "{test_mean}");
    // Fitted on f32 features, the same statistics up to the rounding of the inputs.
    let scaler32 = Standardizer::fit(
        table
            .features_as::<f32>()
            .select(Axis(0), &sets.train)
            .view(),
    );
    for (a, b) in scaler32.mean().iter().zip(scaler.mean()) {
        assert!((a - b).abs() <= 1e-6 * b.abs(), "{a} {b}");
    }
}

#[test]
fn mnist_vectors_are_the_images_as_rows() {
    let mnist = Mnist::load(MNIST).unwrap();
    let (train, test) = (mnist.train_vectors(), mnist.test_vectors());
    assert_eq!(train.dim(), (8000, 784));
    assert_eq!(test.dim(), (2000, 784));
    assert!(train.is_view() && test.is_view());
    for i in [0, 1, 4321, 7999] {
        let image = mnist.train_images.index_axis(Axis(0), i);
        let flat: Vec<f32> = image.iter().copied().collect();
        assert_eq!(train.row(i).to_vec(), flat, "image {i}");
    }
    assert_eq!(
        test.row(1999).sum(),
        mnist.test_images.index_axis(Axis(0), 1999).sum()
    );
}

// ---------------------------------------------------------------------------------------
// Bad files: each an error naming the file, the line and the column.

/// Writes `bytes` to `name` in `dir` and reads it with the target `y`.
fn read_file(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, Result<Table, Error>) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let table = Table::read_csv(&path, "y");
    (path, table)
}

/// A bad file: its contents, then the line, the column and its name the error gives,
/// and words of its reason.
type BadFile = (
    &'static [u8],
    u64,
    Option<usize>,
    Option<&'static str>,
    &'static str,
);

#[test]
fn bad_files_are_errors_naming_the_file_the_line_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[BadFile] = &[
        (b"", 1, None, None, "the file is empty"),
        (b"a,b,y\n", 1, None, None, "the header is the only row"),
        (b"a,b,y", 1, None, None, "the header is the only row"),
        (b"a,b,x\n1,2,3\n", 1, None, None, "no column is named `y`"),
        (b"y\n1\n", 1, None, None, "there are no features"),
        (
            b"a,b,a,y\n1,2,3,4\n",
            1,
            Some(3),
            Some("a"),
            "column 1 has the same name",
        ),
        (b",a,y\n0,1,2\n", 1, Some(1), None, "the column has no name"),
        (
            b"a,b,y\n1,2,3\n4,5\n",
            3,
            Some(3),
            Some("y"),
            "too few fields",
        ),
        (
            b"a,b,y\n1,2,3\n4,5,6,7\n",
            3,
            Some(4),
            None,
            "too many fields",
        ),
        (
            b"a,b,y\n1,2,3\n4,five,6\n",
            3,
            Some(2),
            Some("b"),
            "`five` is not a number",
        ),
        (
            b"a,b,y\n1,2,3\n4,,6\n",
            3,
            Some(2),
            Some("b"),
            "the cell is empty",
        ),
        (
            b"a,b,y\n1,2,3\n4,NaN,6\n",
            3,
            Some(2),
            Some("b"),
            "not a finite number",
        ),
        (
            b"a,b,y\n1,2,3\n4,-inf,6\n",
            3,
            Some(2),
            Some("b"),
            "not a finite number",
        ),
        (
            b"a,b,y\n1,2,3\n4,2e400,6\n",
            3,
            Some(2),
            Some("b"),
            "not a finite number",
        ),
        (
            b"a,b,y\n1,2,3\n4,\xC3\x28,6\n",
            3,
            Some(2),
            Some("b"),
            "not valid UTF-8",
        ),
        (b"a,b\xFF,y\n1,2,3\n", 1, Some(2), None, "not valid UTF-8"),
        (
            b"a,b,y\n1,\"2,3\n4,5,6\n",
            2,
            Some(3),
            Some("y"),
            "never closed",
        ),
        (
            b"a,b,y\r\n\r\n1,2,3\r\n4,x,6\r\n",
            4,
            Some(2),
            Some("b"),
            "`x` is not a number",
        ),
        (
            b"\xEF\xBB\xBFa,b,y\n1,2,3\n4,5,z\n",
            3,
            Some(3),
            Some("y"),
            "`z` is not a number",
        ),
    ];
    for (i, &(bytes, line, column, column_name, words)) in cases.iter().enumerate() {
        let (path, table) = read_file(dir.path(), &format!("case{i}.csv"), bytes);
        let err = table.unwrap_err();
        let message = err.to_string();
        let expected_start = match (column, column_name) {
            (Some(c), Some(name)) => {
                format!("{}: line {line}, column {c} (`{name}`): ", path.display())
            }
            (Some(c), None) => format!("{}: line {line}, column {c}: ", path.display()),
            (None, _) => format!("{}: line {line}: ", path.display()),
        };
        assert!(message.starts_with(&expected_start), "case {i}: {message}");
        assert!(message.contains(words), "case {i}: {message} lacks {words}");
        assert!(!message.contains('\n'), "case {i}: one line: {message}");
        let Error::Table {
            path: p,
            line: l,
            column: c,
            column_name: n,
            ..
        } = err
        else {
            panic!("case {i}: {message}")
        };
        assert_eq!(
            (p, l, c, n.as_deref()),
            (path, line, column, column_name),
            "case {i}"
        );
    }
}

#[test]
fn class_labels_name_the_file_the_line_and_the_target_column() {
    let dir = tempfile::tempdir().unwrap();
    let (path, table) = read_file(dir.path(), "labels.csv", b"a,y\n1,0\n2,1\n\n3,2.5\n4,-1\n");
    let err = table.unwrap().class_labels().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: line 5, column 2 (`y`): the target of row 2 is 2.5, not a class index (a \
             whole number from 0 to 4294967295)",
            path.display()
        )
    );
}

#[test]
fn missing_files_are_io_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.csv");
    let err = Table::read_csv(&path, "y").unwrap_err();
    assert!(
        matches!(&err, Error::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn spellings_of_the_same_table_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let spellings: &[&[u8]] = &[
        b"a,y\n1.5,0\n-2,1\n",
        b"a,y\n1.5,0\n-2,1",
        b"a,y\r\n1.5,0\r\n-2,1\r\n",
        b"a,y\r\n1.5,0\r\n-2,1",
        b"\xEF\xBB\xBFa,y\r\n1.5,0\r\n-2,1\r\n",
        b"\"a\",\"y\"\n\"1.5\",\"0\"\n\"-2\",1\n",
        b"  a ,\ty\n 1.5 , 0\n-2.0,1.0\n\n",
        b"\n\na,y\n15e-1,0\n\n-0.2e1,+1\n",
    ];
    for (i, bytes) in spellings.iter().enumerate() {
        let (_, table) = read_file(dir.path(), &format!("s{i}.csv"), bytes);
        let table = table.unwrap_or_else(|e| panic!("spelling {i}: {e}"));
        assert_eq!(table.feature_names(), ["a"], "spelling {i}");
        assert_eq!(
            table.features().column(0).to_vec(),
            [1.5, -2.0],
            "spelling {i}"
        );
        assert_eq!(table.class_labels().unwrap(), [0, 1], "spelling {i}");
    }
}

// ---------------------------------------------------------------------------------------
// Memory: what a read allocates follows the file's length.

/// Bytes a read may keep live at once, for a file of `file_len` bytes. The file is read
/// whole (1×). The parser keeps the header row twice (its own copy and the trimmed
/// one), with an 8-byte end per field, and the check of the names an 8-byte index per
/// column: for a header of one-letter names, 2 bytes a column, some 24× while the
/// vectors grow. Each cell of a row, at least 2 bytes (a digit and a comma), becomes an
/// 8-byte `f64` in a vector that doubles as it grows (4×, 12× while it moves), and each
/// row of at least 4 bytes keeps its line number (2×). Measured: 23× for the header of
/// one-letter names, 9–12× for the large tables below. The constant covers the
/// parser's buffer, the paths and the messages.
fn peak_bound(file_len: usize) -> usize {
    40 * file_len + 128 * 1024
}

/// Bytes a read may request in all: the same, with every vector's growth.
fn requested_bound(file_len: usize) -> usize {
    80 * file_len + 256 * 1024
}

/// Fails unless a read of a file of `file_len` bytes stayed within the bounds.
fn check_usage(file_len: usize, usage: Usage) -> Result<(), String> {
    let file = format!("a {file_len}-byte file");
    usage.within(&file, peak_bound(file_len), requested_bound(file_len))
}

/// Writes `bytes` to a file in `dir`, reads it on a thread of its own and fails if the
/// read panics, hangs or allocates more than the bounds allow; returns the table or
/// the error's message (which must name the file).
fn read_measured(dir: &Path, bytes: &[u8]) -> Result<Result<Table, String>, String> {
    let path = dir.join("table.csv");
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let (result, usage) = {
        let path = path.clone();
        measured(move || Table::read_csv(&path, "y").map_err(|e| e.to_string()))
    };
    check_usage(bytes.len(), usage)?;
    if let Err(message) = &result {
        if !message.starts_with(&path.display().to_string()) {
            return Err(format!("the error does not name the file: {message}"));
        }
    }
    Ok(result)
}

#[test]
fn huge_fields_are_refused_within_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    // A cell of 4 MB of digits is a number too large to be finite; 4 MB of letters is
    // not a number; a 4 MB name is not the target. Each message quotes 40 characters.
    let big = 4 << 20;
    let mut digits = b"a,y\n1,".to_vec();
    digits.extend(std::iter::repeat_n(b'7', big));
    let mut letters = b"a,y\n".to_vec();
    letters.extend(std::iter::repeat_n(b'x', big));
    letters.extend_from_slice(b",1\n");
    let mut name = vec![b'n'; big];
    name.extend_from_slice(b",a\n1,2\n");
    for (bytes, words) in [
        (digits, "is not a finite number"),
        (letters, "is not a number"),
        (name, "no column is named `y`"),
    ] {
        let message = read_measured(dir.path(), &bytes).unwrap().unwrap_err();
        assert!(message.contains(words), "{message}");
        let start: String = message.chars().take(400).collect();
        assert!(message.len() < 400, "{} bytes: {start}", message.len());
    }
}

#[test]
fn large_tables_read_within_the_bounds() {
    // 20,000 rows of 11 short cells: the tightest rows for the bound (a digit and a comma
    // a cell), and a large file.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = b"a,b,c,d,e,f,g,h,i,j,y\n".to_vec();
    for r in 0..20_000 {
        bytes.extend_from_slice(format!("1,2,3,4,5,6,7,8,9,0,{}\n", r % 2).as_bytes());
    }
    let table = read_measured(dir.path(), &bytes).unwrap().unwrap();
    assert_eq!(table.features().dim(), (20_000, 10));
    // A header of 50,000 one-letter names, then one row.
    let names: Vec<String> = (0..50_000).map(|i| format!("c{i}")).collect();
    let mut wide = names.join(",").into_bytes();
    wide.extend_from_slice(b",y\n");
    wide.extend(std::iter::repeat_n(b"1,".as_slice(), 50_000).flatten());
    wide.extend_from_slice(b"0\n");
    let table = read_measured(dir.path(), &wide).unwrap().unwrap();
    assert_eq!(table.features().dim(), (1, 50_000));
    // The tightest header: 50,000 one-letter names, all the same.
    let mut same: Vec<u8> = std::iter::repeat_n(b"a,".as_slice(), 50_000)
        .flatten()
        .copied()
        .collect();
    same.extend_from_slice(b"y\n1\n");
    let message = read_measured(dir.path(), &same).unwrap().unwrap_err();
    assert!(
        message.contains("column 2 (`a`): column 1 has the same name"),
        "{message}"
    );
}

#[test]
fn the_bounds_catch_a_reader_that_trusts_a_count() {
    // A reader that reserved room for a million rows on seeing a header (as one trusting
    // a declared row count would) breaks the bound for a small file: the check can fail.
    let (_, usage) = measured(|| {
        let reserved: Vec<f64> = Vec::with_capacity(1_000_000);
        reserved.capacity()
    });
    assert!(check_usage(100, usage).is_err());
}

// ---------------------------------------------------------------------------------------
// Valid tables of random shapes and spellings read back exactly.

/// Names with characters a CSV writer must quote, and ones it need not.
const NAMES: &[&str] = &[
    "a",
    "b",
    "B",
    "mean radius",
    "x,y",
    "say \"hi\"",
    "é",
    "日本",
    "z_1",
    "line\nbreak",
    "#",
];

/// A valid table and how to write it.
#[derive(Clone, Debug)]
struct Written {
    names: Vec<&'static str>,
    target: usize,
    rows: Vec<Vec<f64>>,
    crlf: bool,
    final_line_end: bool,
    bom: bool,
    quote_all: bool,
    spaces: bool,
    blank_lines: bool,
    exponent: bool,
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i32..1000).prop_map(f64::from),
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
    ]
}

fn written() -> impl Strategy<Value = Written> {
    let names = proptest::sample::subsequence(NAMES, 2..=NAMES.len()).prop_shuffle();
    (names, any::<Index>(), 1..12usize)
        .prop_flat_map(|(names, target, rows)| {
            let columns = names.len();
            (
                Just(names),
                Just(target.index(columns)),
                prop::collection::vec(prop::collection::vec(value(), columns), rows),
                prop::array::uniform7(any::<bool>()),
            )
        })
        .prop_map(|(names, target, rows, flags)| Written {
            names,
            target,
            rows,
            crlf: flags[0],
            final_line_end: flags[1],
            bom: flags[2],
            quote_all: flags[3],
            spaces: flags[4],
            blank_lines: flags[5],
            exponent: flags[6],
        })
}

impl Written {
    fn field(&self, text: &str) -> String {
        let needs_quotes = text.contains([',', '"', '\n', '\r']);
        if self.quote_all || needs_quotes {
            // Spaces before an opening quote would make the quote a character of the
            // field (RFC 4180): quoted fields go without.
            format!("\"{}\"", text.replace('"', "\"\""))
        } else if self.spaces {
            format!(" {text}\t")
        } else {
            text.to_string()
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let end = if self.crlf { "\r\n" } else { "\n" };
        let mut lines = vec![self
            .names
            .iter()
            .map(|name| self.field(name))
            .collect::<Vec<_>>()
            .join(",")];
        for row in &self.rows {
            let cells = row.iter().map(|v| {
                // Rust's shortest round-trip spellings, plain or in scientific notation.
                self.field(&if self.exponent {
                    format!("{v:e}")
                } else {
                    format!("{v}")
                })
            });
            lines.push(cells.collect::<Vec<_>>().join(","));
            if self.blank_lines {
                lines.push(String::new());
            }
        }
        let mut text = lines.join(end);
        if self.final_line_end {
            text += end;
        }
        let mut bytes = if self.bom {
            b"\xEF\xBB\xBF".to_vec()
        } else {
            Vec::new()
        };
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }
}

#[test]
fn valid_tables_read_back_exactly() {
    run(200, written(), |dir, written| {
        let target = written.names[written.target];
        let path = dir.join("valid.csv");
        std::fs::write(&path, written.bytes()).map_err(|e| e.to_string())?;
        let table = Table::read_csv(&path, target).map_err(|e| format!("{e}"))?;
        let mut names = written.names.clone();
        names.remove(written.target);
        same(
            table.feature_names().to_vec(),
            names.iter().map(|n| n.to_string()).collect(),
            "feature names",
        )?;
        same(table.target_name(), target, "target name")?;
        let rows = written.rows.len();
        let features = Array2::from_shape_fn((rows, names.len()), |(r, c)| {
            written.rows[r][if c < written.target { c } else { c + 1 }]
        });
        // Bit for bit, so that 0.0 and -0.0 count as different.
        let bits = |a: &Array2<f64>| a.mapv(f64::to_bits);
        same(bits(table.features()), bits(&features), "features")?;
        let target_bits: Vec<u64> = written
            .rows
            .iter()
            .map(|r| r[written.target].to_bits())
            .collect();
        same(
            table.target().mapv(f64::to_bits).to_vec(),
            target_bits,
            "target",
        )
    });
}

/// `Ok` if `found == expected`, else an error saying what differs.
fn same<T: PartialEq + std::fmt::Debug>(found: T, expected: T, what: &str) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("{what}: read {found:?}, written {expected:?}"))
    }
}

// ---------------------------------------------------------------------------------------
// Hostile bytes: no panic, no hang, memory within the bounds.

#[test]
fn random_bytes_never_panic_hang_or_overallocate() {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        // Bytes a CSV parser treats specially, and digits, densely.
        prop::collection::vec(
            prop::sample::select(&b"\",\r\n\xEF\xBB\xBF 0123456789.e-y"[..]),
            0..3000
        ),
    ];
    run(300, bytes, |dir, bytes| {
        read_measured(dir, &bytes).map(drop)
    });
}

#[test]
fn mutated_tables_never_panic_hang_or_overallocate() {
    // The breast-cancer table's header and first rows, cut at a line end.
    let wdbc = std::fs::read(WDBC).unwrap();
    let cut = wdbc[..4000].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let valid: Vec<Vec<u8>> = vec![
        wdbc[..cut].to_vec(),
        b"a,y\n1,0\n2,1\n".to_vec(),
        b"\xEF\xBB\xBF\"a\",\"y\"\r\n\"1.5\",0\r\n".to_vec(),
    ];
    let edit = prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Edit::FlipBit(at, bit)),
        (
            any::<Index>(),
            prop::sample::select(&b"\",\r\n\xEF\xBB\xBF x.e-9"[..])
        )
            .prop_map(|(at, byte)| Edit::SetByte(at, byte)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Edit::SetByte(at, byte)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        (any::<Index>(), 1..200usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        Edit::splice(500),
    ];
    let strategy = (0..valid.len(), prop::collection::vec(edit, 1..6));
    run(300, strategy, |dir, (which, edits)| {
        let mut bytes = valid[which].clone();
        for edit in &edits {
            edit.apply(&mut bytes, &valid);
        }
        read_measured(dir, &bytes).map(drop)
    });
}

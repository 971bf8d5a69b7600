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
        message.contains("line 3, column 3 (`y`): too few fields: the row has 2 and the header 3"),
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

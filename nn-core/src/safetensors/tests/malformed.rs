//! Bytes that are not a valid file for the network: truncated, too long, a header that
//! lies about its length, is not JSON, has offsets that do not tile the data or would
//! overflow, or floods the parser with small values. Each is an error, never a panic,
//! and leaves the network untouched.

use super::super::header::{claimed_header_length, json_numbers};
use super::*;

#[test]
fn truncated_file_is_malformed() {
    let bytes = serialize(&net_tensors(0));
    // Inside the length, inside the header, inside the data, one byte short.
    for cut in [3, 8, 20, bytes.len() - 10, bytes.len() - 1] {
        let (error, path) = load_error(&bytes[..cut]);
        assert!(
            matches!(error, Error::Malformed { .. }),
            "cut at {cut}: {error:?}"
        );
        assert_message(&error, &path, &[]);
    }
    assert_malformed(&bytes[..bytes.len() - 1], &["truncated"]);
    assert_malformed(
        &bytes[..20],
        &["header length", "exceeds the file's 20 bytes"],
    );
}

#[test]
fn trailing_bytes_are_malformed() {
    let mut bytes = serialize(&net_tensors(0));
    bytes.extend_from_slice(&[0; 4]);
    assert_malformed(&bytes, &["do not cover"]);
}

#[test]
fn empty_file_is_malformed() {
    assert_malformed(&[], &["not a safetensors file", "0 bytes"]);
}

#[test]
fn huge_header_length_is_refused() {
    for claimed in [u64::MAX, 1 << 40, MAX_HEADER_BYTES + 1] {
        let mut bytes = claimed.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let claimed = claimed.to_string();
        assert_malformed(&bytes, &["not a safetensors file", &claimed]);
    }
    // Within the crate's limit, but longer than the file.
    let mut bytes = 1_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert_malformed(&bytes, &["header length 1000 exceeds the file's 10 bytes"]);
}

#[test]
fn malformed_header_is_refused() {
    assert_malformed(
        &raw_file(r#"{"fc1.weight": {"dtype": "F32","#, &[]),
        &["header"],
    );
    assert_malformed(&raw_file("not json at all", &[]), &["header"]);
    assert_malformed(
        &raw_file(
            r#"{"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}"#,
            &[0; 4],
        ),
        &["header"],
    );
    assert_malformed(
        &raw_file(
            r#"{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#,
            &[0; 4],
        ),
        &["header"],
    );
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, 0x7b, 0x7d]);
    assert_malformed(&bytes, &["UTF-8"]);
}

#[test]
fn offsets_past_the_end_of_the_data_are_refused() {
    // Consistent with the shape, but the file holds only 8 of the 24 bytes.
    let header = r#"{"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#;
    assert_malformed(&raw_file(header, &[0; 8]), &["truncated"]);
    // Offsets inconsistent with the shape.
    let header = r#"{"fc1.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,4096]}}"#;
    assert_malformed(&raw_file(header, &[0; 24]), &["offsets"]);
    // Offsets that skip bytes, or run backwards.
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    assert_malformed(&raw_file(header, &[0; 8]), &["`a`"]);
    let header = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#;
    assert_malformed(&raw_file(header, &[0; 8]), &["offsets"]);
    // A shape whose size overflows.
    let header = r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
    assert_malformed(&raw_file(header, &[0; 4]), &["too large"]);
}

#[test]
fn offsets_near_usize_max_are_refused_without_panicking() {
    // Eight byte tensors of 2⁶¹ − 1 bytes each and one of 7 end at usize::MAX: the
    // crate would overflow computing where the data ends.
    let m = (1u64 << 61) - 1;
    let mut entries = Vec::new();
    let mut start = 0u64;
    for (i, size) in [m, m, m, m, m, m, m, m, 7].into_iter().enumerate() {
        entries.push(format!(
            r#""t{i}":{{"dtype":"U8","shape":[{size}],"data_offsets":[{start},{}]}}"#,
            start + size
        ));
        start += size;
    }
    let header = format!("{{{}}}", entries.join(","));
    assert_malformed(&raw_file(&header, &[]), &["too large"]);

    // Digits inside strings are not numbers.
    let name = "t18446744073709551615";
    let header = format!(r#"{{"{name}":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}}}"#);
    let (error, _) = load_error(&raw_file(&header, &[0; 4]));
    assert!(matches!(error, Error::MissingTensor { .. }), "{error:?}");
}

#[test]
fn a_header_flooded_with_small_values_is_refused_before_parsing() {
    // 20,000 zeros in a list: 40 kB of header that the crate's parser would hold as
    // over a megabyte of nodes. Refused by the scan, naming the count.
    let tensors = serialize(&net_tensors(0));
    let claimed = claimed_header_length(&tensors).unwrap() as usize;
    let header = std::str::from_utf8(&tensors[8..8 + claimed]).unwrap();
    let flood = format!(r#"{{"flood":[{}0],{}"#, "0,".repeat(20_000), &header[1..]);
    assert_malformed(
        &raw_file(&flood, &tensors[8 + claimed..]),
        &["JSON values", "network's tensors"],
    );

    // Long metadata costs memory in proportion to its length, and is allowed; so are
    // a few tensors the network does not have, which are then named.
    let net = TwoLayers::new(3);
    let mut metadata = std::collections::HashMap::new();
    for i in 0..200 {
        metadata.insert(format!("key {i}"), "a value of some length ".repeat(3));
    }
    let mut tensors = net_tensors(3);
    let views = tensors.iter().map(|(name, raw)| {
        let view = TensorView::new(raw.dtype, raw.shape.clone(), &raw.data).unwrap();
        (name.clone(), view)
    });
    let bytes = safetensors::serialize(views, Some(metadata)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = TwoLayers::new(4);
    load_into(&mut loaded, &write(&dir, &bytes)).unwrap();
    assert_eq!(loaded.bits(), net.bits());
    for i in 0..20 {
        tensors.push((format!("extra{i:02}"), f32_tensor(&[1, 1, 1], &[0.0])));
    }
    let (error, _) = load_error(&serialize(&tensors));
    assert!(
        matches!(&error, Error::UnexpectedTensor { name, .. } if name == "extra00"),
        "{error:?}"
    );
}

#[test]
fn no_bytes_make_loading_panic() {
    // Deterministic mutations of a valid file: every one loads or fails cleanly,
    // and the network changes only when loading succeeds.
    let valid = serialize(&net_tensors(9));
    let path = Path::new("fuzz.safetensors");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3_000 {
        let mut bytes = valid.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 4 {
                0 => bytes[at] = next() as u8,
                1 => bytes[at] = b"0123456789{}[]\",:-e"[(next() % 19) as usize],
                2 => bytes.truncate(at),
                _ => bytes.insert(at, next() as u8),
            }
            if bytes.is_empty() {
                break;
            }
        }
        let mut net = TwoLayers::new(10);
        let before = net.clone();
        if load_from_bytes(&mut net, &bytes, path).is_err() {
            assert_eq!(net, before);
        }
    }
}

#[test]
fn a_file_longer_than_any_valid_one_is_refused_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.safetensors");
    let mut net = TwoLayers::new(0);
    // A sparse file: long, but it costs no disk.
    let length = largest_file(&net) + 4096;
    std::fs::File::create(&path)
        .unwrap()
        .set_len(length)
        .unwrap();
    let before = net.clone();
    let error = load_into(&mut net, &path).expect_err("loading should fail");
    assert!(matches!(error, Error::Malformed { .. }), "{error:?}");
    assert_message(&error, &path, &["larger than any safetensors file"]);
    assert_eq!(net, before);
}

#[test]
fn the_scan_sees_numbers_outside_strings_only() {
    // Digits in a name, behind an escaped quote or in a metadata value are not numbers;
    // a sign, a fraction or an exponent ends one; the text may end with one.
    let json = br#"{"t1\"2":{"shape":[12,-3],"x":1.5e7},"n":"4"}9"#;
    let numbers: Vec<&[u8]> = json_numbers(json)
        .into_iter()
        .map(|run| &json[run])
        .collect();
    assert_eq!(numbers, [&b"12"[..], b"3", b"1", b"5", b"7", b"9"]);
}

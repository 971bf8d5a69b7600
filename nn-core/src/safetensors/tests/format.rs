//! What `save` writes and `load_into` reads back: every bit, PyTorch's names and
//! layouts, the same bytes every time, files written by others, and the I/O errors.

use super::*;

#[test]
fn round_trip_restores_every_parameter_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let mut saved = TwoLayers::new(1);
    // Values whose bits a sloppy conversion would lose.
    saved.fc2.bias_mut().assign(&ndarray::arr1(&[
        -0.0,
        f32::from_bits(0x7fc0_1234), // NaN with a payload
        f32::MIN_POSITIVE / 8.0,     // subnormal
        f32::NEG_INFINITY,
    ]));
    save(&saved, &path).unwrap();

    let mut loaded = TwoLayers::new(2);
    assert_ne!(loaded.bits(), saved.bits());
    load_into(&mut loaded, &path).unwrap();
    assert_eq!(loaded.bits(), saved.bits());
}

#[test]
fn file_uses_pytorch_names_shapes_and_little_endian_f32() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let net = TwoLayers::new(3);
    save(&net, &path).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(names, ["fc1.bias", "fc1.weight", "fc2.bias", "fc2.weight"]);
    let expected: [(&str, &[usize], &[f32]); 4] = [
        ("fc1.weight", &[2, 3], net.fc1.param(0)),
        ("fc1.bias", &[2], net.fc1.param(1)),
        ("fc2.weight", &[4, 2], net.fc2.param(0)),
        ("fc2.bias", &[4], net.fc2.param(1)),
    ];
    for (name, shape, values) in expected {
        let view = file.tensor(name).unwrap();
        assert_eq!(view.dtype(), Dtype::F32, "{name}");
        assert_eq!(view.shape(), shape, "{name}");
        let le: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(view.data(), le, "{name}");
    }
    // Row-major [out, in]: element (1, 0) of fc1.weight is the fourth value.
    assert_eq!(net.fc1.weight()[[1, 0]], net.fc1.param(0)[3]);
}

#[test]
fn saving_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    save(&TwoLayers::new(4), &a).unwrap();
    save(&TwoLayers::new(4), &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // Saving over an existing file replaces it.
    save(&TwoLayers::new(5), &a).unwrap();
    save(&TwoLayers::new(5), &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn loads_files_written_by_others() {
    // Metadata like PyTorch's, tensors in another order, and data at an unaligned
    // offset (an odd-length header, no padding): the values must still come through.
    let net = TwoLayers::new(6);
    let tensors = net_tensors(6);
    let mut header = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut data = Vec::new();
    for (name, raw) in tensors.iter().rev() {
        let (start, end) = (data.len(), data.len() + raw.data.len());
        header += &format!(
            r#","{name}":{{"dtype":"F32","shape":{:?},"data_offsets":[{start},{end}]}}"#,
            raw.shape
        );
        data.extend_from_slice(&raw.data);
    }
    header += "}";
    if header.len() % 2 == 0 {
        header.push(' ');
    }
    assert_ne!(header.len() % 4, 0, "the data should start unaligned");
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, &raw_file(&header, &data));

    let mut loaded = TwoLayers::new(8);
    load_into(&mut loaded, &path).unwrap();
    assert_eq!(loaded.bits(), net.bits());
}

#[test]
fn saving_into_a_missing_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no such directory").join("net.safetensors");
    let error = save(&TwoLayers::new(0), &path).expect_err("saving should fail");
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert_message(&error, &path, &[]);
}

#[test]
fn loading_a_missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.safetensors");
    let mut net = TwoLayers::new(0);
    let before = net.clone();
    let error = load_into(&mut net, &path).expect_err("loading should fail");
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    assert_message(&error, &path, &[]);
    assert_eq!(net, before);
}

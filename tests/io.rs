//! Safetensors through the API `network!` generates: a round trip is exact, the names
//! and layouts are PyTorch's, and every way a file can disagree with the network is an
//! error that names the file and the tensor. The byte-level format (headers, hostile
//! files, PyTorch's `__metadata__`) is tested in nn-core's `safetensors` module.

use std::path::Path;

use frechet::ndarray::{Array, Array2};
use frechet::prelude::*;
use frechet::{Error, Network};

network! {
    /// The network under test.
    #[derive(Clone, Debug, PartialEq)]
    struct Net {
        input: [6],
        fc1: Dense(5) -> ReLU,
        fc2: Dense(3),
    }
}

network! {
    /// The same layer names as [`Net`], but `fc1` is narrower.
    struct Narrower {
        input: [6],
        fc1: Dense(4) -> ReLU,
        fc2: Dense(3),
    }
}

network! {
    /// [`Net`] with a third layer: a file of [`Net`] lacks `fc3`, and a file of this
    /// network has a layer [`Net`] lacks.
    #[derive(Debug)]
    struct Deeper {
        input: [6],
        fc1: Dense(5) -> ReLU,
        fc2: Dense(3) -> Tanh,
        fc3: Dense(2),
    }
}

/// A deterministic batch of `rows` samples with irregular values.
fn batch(rows: usize) -> Array2<f32> {
    Array::from_shape_fn((rows, 6), |(i, j)| ((i * 7 + j * 3) as f32 * 0.37).sin())
}

/// Every parameter of `net` with its full name and shape, in the network's order.
fn tensors(net: &impl Network<Elem = f32>) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    net.layers()
        .into_iter()
        .flat_map(|(layer_name, layer)| {
            layer
                .param_names()
                .iter()
                .enumerate()
                .map(move |(i, param)| {
                    (
                        format!("{layer_name}.{param}"),
                        layer.param_shape(i).to_vec(),
                        layer.param(i).iter().map(|v| v.to_bits()).collect(),
                    )
                })
        })
        .collect()
}

fn bits(values: impl IntoIterator<Item = f32>) -> Vec<u32> {
    values.into_iter().map(f32::to_bits).collect()
}

/// A network whose biases are not zero, so that they are checked too.
fn trained_net() -> Net {
    let mut net = Net::new(11);
    let x = batch(8);
    let labels = [0, 1, 2, 0, 1, 2, 2, 1];
    let mut opt = Adam::new(0.05);
    for _ in 0..3 {
        net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut opt);
    }
    assert!(net.fc1.bias().iter().all(|&b| b != 0.0));
    net
}

/// Checks that `error`'s message names the file.
fn assert_names_file(error: &Error, path: &Path) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "the message `{message}` does not name the file {}",
        path.display()
    );
}

#[test]
fn round_trip_gives_identical_parameters_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let net = trained_net();
    net.save_safetensors(&path).unwrap();
    let loaded = Net::load_safetensors(&path).unwrap();

    assert_eq!(
        bits(loaded.fc1.weight().iter().copied()),
        bits(net.fc1.weight().iter().copied())
    );
    assert_eq!(
        bits(loaded.fc1.bias().iter().copied()),
        bits(net.fc1.bias().iter().copied())
    );
    assert_eq!(
        bits(loaded.fc2.weight().iter().copied()),
        bits(net.fc2.weight().iter().copied())
    );
    assert_eq!(
        bits(loaded.fc2.bias().iter().copied()),
        bits(net.fc2.bias().iter().copied())
    );
    assert_eq!(tensors(&loaded), tensors(&net));
    assert_eq!(loaded, net);

    let x = batch(9);
    assert_eq!(bits(loaded.forward(x.view())), bits(net.forward(x.view())));
}

#[test]
fn saving_is_deterministic_and_replaces_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
    );
    let net = trained_net();
    net.save_safetensors(&first).unwrap();
    // Write another network first, so that saving `net` has to replace a longer file.
    Deeper::new(0).save_safetensors(&second).unwrap();
    net.save_safetensors(&second).unwrap();
    assert_eq!(
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap()
    );
    assert_eq!(Net::load_safetensors(&second).unwrap(), net);
}

#[test]
fn gradient_round_trips_with_the_same_names_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grad.safetensors");
    let net = trained_net();
    let labels = [2, 1, 0, 0, 1];
    let (_, grad) = net.loss_and_grads(batch(5).view(), &labels[..], &SoftmaxCrossEntropy);
    grad.save_safetensors(&path).unwrap();

    let loaded = Net::load_safetensors(&path).unwrap();
    assert_eq!(tensors(&loaded), tensors(&grad));
    let names_and_shapes = |net: &Net| -> Vec<(String, Vec<usize>)> {
        tensors(net)
            .into_iter()
            .map(|(name, shape, _)| (name, shape))
            .collect()
    };
    assert_eq!(names_and_shapes(&loaded), names_and_shapes(&net));
}

#[test]
fn names_and_layouts_are_pytorch_s() {
    let net = Net::new(0);
    let layers: Vec<&str> = net.layers().iter().map(|(name, _)| *name).collect();
    assert_eq!(layers, ["fc1", "fc2"]);
    let shapes: Vec<(String, Vec<usize>)> = tensors(&net)
        .into_iter()
        .map(|(name, shape, _)| (name, shape))
        .collect();
    let expected = [
        ("fc1.weight", vec![5, 6]), // nn.Linear(6, 5).weight is [out, in]
        ("fc1.bias", vec![5]),
        ("fc2.weight", vec![3, 5]),
        ("fc2.bias", vec![3]),
    ];
    assert_eq!(
        shapes,
        expected.map(|(name, shape)| (name.to_string(), shape))
    );
    // The weight is stored row-major [out, in]: element (o, i) at o · in + i.
    let (_, fc1) = net.layers()[0];
    assert_eq!(fc1.param(0)[6 + 2], net.fc1.weight()[[1, 2]]);
}

network! {
    /// Every image layer kind; only `conv` and `fc` have tensors.
    #[derive(Debug, PartialEq)]
    struct ConvNet {
        input: [3, 9, 8],
        conv: Conv2d(4, kernel = 3, stride = 2, padding = 1) -> ReLU, // 4×5×4
        pool: MaxPool2d(2),                                         // 4×2×2
        avg: AvgPool2d(1),
        flat: Flatten,
        fc: Dense(2),
    }
}

#[test]
fn conv2d_layout_is_pytorch_s_and_round_trips() {
    let mut net = ConvNet::new(4);
    net.conv.bias_mut().fill(0.25);
    let shapes: Vec<(String, Vec<usize>)> = tensors(&net)
        .into_iter()
        .map(|(name, shape, _)| (name, shape))
        .collect();
    let expected = [
        ("conv.weight", vec![4, 3, 3, 3]), // nn.Conv2d(3, 4, 3).weight is [out, in, kh, kw]
        ("conv.bias", vec![4]),
        ("fc.weight", vec![2, 16]),
        ("fc.bias", vec![2]),
    ];
    assert_eq!(
        shapes,
        expected.map(|(name, shape)| (name.to_string(), shape))
    );
    // Row-major [out, in, kh, kw]: element (o, c, i, j) at ((o · in + c) · kh + i) · kw + j.
    let (_, conv) = net.layers()[0];
    assert_eq!(
        conv.param(0)[((2 * 3 + 1) * 3 + 2) * 3],
        net.conv.weight()[[2, 1, 2, 0]]
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conv.safetensors");
    net.save_safetensors(&path).unwrap();
    let loaded = ConvNet::load_safetensors(&path).unwrap();
    assert_eq!(loaded, net);
    let x = Array::from_shape_fn((2, 3, 9, 8), |(n, c, i, j)| {
        ((n + 2 * c + 3 * i + j) as f32 * 0.31).sin()
    });
    assert_eq!(loaded.forward(x.view()), net.forward(x.view()));
}

#[test]
fn different_widths_are_a_shape_mismatch_naming_file_tensor_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("narrower.safetensors");
    Narrower::new(0).save_safetensors(&path).unwrap();

    let error = Net::load_safetensors(&path).unwrap_err();
    let Error::ShapeMismatch {
        name,
        expected,
        found,
        ..
    } = &error
    else {
        panic!("expected a shape mismatch, got {error:?}");
    };
    assert_eq!(name, "fc1.weight");
    assert_eq!(expected, &[5, 6]);
    assert_eq!(found, &[4, 6]);

    let message = error.to_string();
    assert_names_file(&error, &path);
    for part in ["fc1.weight", "[5, 6]", "[4, 6]"] {
        assert!(
            message.contains(part),
            "`{part}` is not in the message `{message}`"
        );
    }
}

#[test]
fn a_layer_the_file_lacks_is_a_missing_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    Net::new(0).save_safetensors(&path).unwrap();

    let error = Deeper::load_safetensors(&path).unwrap_err();
    assert!(
        matches!(&error, Error::MissingTensor { name, .. } if name == "fc3.weight"),
        "expected `fc3.weight` to be missing, got {error:?}"
    );
    assert_names_file(&error, &path);
    assert!(error.to_string().contains("fc3.weight"), "{error}");
}

#[test]
fn a_layer_the_network_lacks_is_an_unexpected_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deeper.safetensors");
    Deeper::new(0).save_safetensors(&path).unwrap();

    let error = Net::load_safetensors(&path).unwrap_err();
    // The first unexpected name in sorted order.
    assert!(
        matches!(&error, Error::UnexpectedTensor { name, .. } if name == "fc3.bias"),
        "expected `fc3.bias` to be unexpected, got {error:?}"
    );
    assert_names_file(&error, &path);
    assert!(error.to_string().contains("fc3.bias"), "{error}");
}

#[test]
fn a_nonexistent_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-file.safetensors");
    let error = Net::load_safetensors(&path).unwrap_err();
    let Error::Io { source, .. } = &error else {
        panic!("expected an I/O error, got {error:?}");
    };
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    assert_names_file(&error, &path);
    assert!(std::error::Error::source(&error).is_some());
}

#[test]
fn saving_into_a_nonexistent_directory_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("net.safetensors");
    let error = Net::new(0).save_safetensors(&path).unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "got {error:?}");
    assert_names_file(&error, &path);
}

#[test]
fn garbage_is_a_malformed_file() {
    let dir = tempfile::tempdir().unwrap();
    for (file, bytes) in [
        ("empty.safetensors", &b""[..]),
        ("short.safetensors", &b"abc"[..]),
        (
            "garbage.safetensors",
            &b"this is not a safetensors file at all"[..],
        ),
        (
            "json.safetensors",
            &b"\x04\x00\x00\x00\x00\x00\x00\x00{{{{"[..],
        ),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, bytes).unwrap();
        let error = Net::load_safetensors(&path).unwrap_err();
        assert!(
            matches!(error, Error::Malformed { .. }),
            "{file}: got {error:?}"
        );
        assert_names_file(&error, &path);
    }
}

#[test]
fn a_truncated_file_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    Net::new(0).save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
    let error = Net::load_safetensors(&path).unwrap_err();
    assert!(matches!(error, Error::Malformed { .. }), "got {error:?}");
    assert_names_file(&error, &path);
}

network! {
    /// Batch normalisation: parameters and buffers, as `nn.BatchNorm1d`.
    #[derive(Debug, PartialEq)]
    struct Normalised {
        input: [3],
        fc: Dense(4),
        bn: BatchNorm1d -> ReLU,
        out: Dense(2),
    }
}

/// Writes `tensors` (name, dtype, shape, little-endian bytes) as a safetensors file.
fn write_raw(path: &Path, tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .expect("a consistent tensor");
            (name.to_string(), view)
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).expect("written");
}

/// The tensors of a `Normalised` network as PyTorch's state dict would hold them, with
/// `bn.running_var` and `bn.num_batches_tracked` as given.
fn normalised_state(
    running_var: [f32; 4],
    counter: (safetensors::Dtype, Vec<usize>, Vec<u8>),
) -> Vec<(&'static str, safetensors::Dtype, Vec<usize>, Vec<u8>)> {
    use safetensors::Dtype::F32;
    let f32s = |values: &[f32]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    vec![
        ("fc.weight", F32, vec![4, 3], f32s(&[0.5; 12])),
        ("fc.bias", F32, vec![4], f32s(&[0.0; 4])),
        ("bn.weight", F32, vec![4], f32s(&[1.0, 2.0, 3.0, 4.0])),
        ("bn.bias", F32, vec![4], f32s(&[0.1; 4])),
        ("bn.running_mean", F32, vec![4], f32s(&[0.2; 4])),
        ("bn.running_var", F32, vec![4], f32s(&running_var)),
        ("bn.num_batches_tracked", counter.0, counter.1, counter.2),
        ("out.weight", F32, vec![2, 4], f32s(&[0.25; 8])),
        ("out.bias", F32, vec![2], f32s(&[0.0; 2])),
    ]
}

#[test]
fn batch_norm_buffers_round_trip_with_pytorch_s_names_and_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.safetensors");
    let int64 = (safetensors::Dtype::I64, vec![], 7i64.to_le_bytes().to_vec());
    write_raw(&path, &normalised_state([1.0, 0.5, 2.0, 0.25], int64));
    let net = Normalised::load_safetensors(&path).unwrap();
    assert_eq!(net.bn.num_batches_tracked(), 7);
    assert_eq!(net.bn.running_var().to_vec(), [1.0, 0.5, 2.0, 0.25]);
    assert_eq!(net.bn.weight().to_vec(), [1.0, 2.0, 3.0, 4.0]);
    // Saved again, the file has the same tensors, the counter an int64 scalar.
    let again = dir.path().join("again.safetensors");
    net.save_safetensors(&again).unwrap();
    let bytes = std::fs::read(&again).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let counter = file.tensor("bn.num_batches_tracked").unwrap();
    assert_eq!(counter.dtype(), safetensors::Dtype::I64);
    assert!(counter.shape().is_empty());
    assert_eq!(Normalised::load_safetensors(&again).unwrap(), net);
    // The running statistics are not parameters: not counted, not trained.
    assert_eq!(Normalised::NUM_PARAMS, 4 * 3 + 4 + 2 * 4 + 2 * 4 + 2);
}

#[test]
fn a_counter_that_is_not_an_int64_scalar_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.safetensors");
    let as_float = (
        safetensors::Dtype::F32,
        vec![],
        7.0f32.to_le_bytes().to_vec(),
    );
    write_raw(&path, &normalised_state([1.0; 4], as_float));
    let error = Normalised::load_safetensors(&path).unwrap_err();
    assert!(
        matches!(&error, Error::DtypeMismatch { name, .. } if name == "bn.num_batches_tracked"),
        "{error}"
    );
    assert!(error.to_string().contains("I64"), "{error}");
    let as_vector = (
        safetensors::Dtype::I64,
        vec![1],
        7i64.to_le_bytes().to_vec(),
    );
    write_raw(&path, &normalised_state([1.0; 4], as_vector));
    let error = Normalised::load_safetensors(&path).unwrap_err();
    assert!(
        matches!(&error, Error::ShapeMismatch { name, .. } if name == "bn.num_batches_tracked"),
        "{error}"
    );
}

#[test]
fn a_negative_running_variance_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.safetensors");
    let int64 = (safetensors::Dtype::I64, vec![], 7i64.to_le_bytes().to_vec());
    write_raw(&path, &normalised_state([1.0, -0.5, 2.0, 0.25], int64));
    let error = Normalised::load_safetensors(&path).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidTensor { name, .. } if name == "bn.running_var"),
        "{error}"
    );
    assert_names_file(&error, &path);
    assert!(error.to_string().contains("-0.5"), "{error}");
}

network! {
    /// [`Normalised`] in `f64`: its tensors are `F64`, its counter still `I64`.
    #[derive(Debug, PartialEq)]
    struct NormalisedF64<f64> {
        input: [3],
        fc: Dense(4) -> Tanh,
        bn: BatchNorm1d -> ReLU,
        out: Dense(2),
    }
}

#[test]
fn a_network_of_f64_round_trips_as_f64_tensors_and_refuses_f32_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f64.safetensors");
    let mut net = NormalisedF64::new(3);
    // Values no f32 holds, and running statistics that moved.
    let x = Array::from_shape_fn((5, 3), |(i, j)| 0.1 * (i * 3 + j) as f64 + 1e-12);
    net.train_step(
        x.view(),
        &[0, 1, 1, 0, 1][..],
        &SoftmaxCrossEntropy,
        &mut Sgd::new(0.1),
    );
    net.save_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, dtype) in [
        ("fc.weight", safetensors::Dtype::F64),
        ("bn.running_var", safetensors::Dtype::F64),
        ("bn.num_batches_tracked", safetensors::Dtype::I64),
    ] {
        assert_eq!(file.tensor(name).unwrap().dtype(), dtype, "{name}");
    }
    let loaded = NormalisedF64::load_safetensors(&path).unwrap();
    assert_eq!(loaded, net);
    assert_eq!(loaded.forward(x.view()), net.forward(x.view()));

    // A file of the network of f32 is refused, naming the tensor and both dtypes.
    let f32_path = dir.path().join("f32.safetensors");
    let int64 = (safetensors::Dtype::I64, vec![], 7i64.to_le_bytes().to_vec());
    write_raw(&f32_path, &normalised_state([1.0; 4], int64));
    let error = NormalisedF64::load_safetensors(&f32_path).unwrap_err();
    assert_names_file(&error, &f32_path);
    let message = error.to_string();
    assert!(
        message.contains("fc.weight") && message.contains("F32") && message.contains("F64"),
        "{message}"
    );
}

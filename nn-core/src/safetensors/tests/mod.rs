//! The loader's own tests, on a network of two dense layers built by hand as `network!`
//! would generate it, and on files written here, some by hand: what `save` writes and
//! `load_into` reads back (`format.rs`), the strict checks against the network
//! (`strict.rs`), and bytes that are not a valid file (`malformed.rs`). The helpers
//! below write the files and check that a failed load names the file and leaves the
//! network untouched.

mod format;
mod malformed;
mod strict;

use std::path::PathBuf;

use typenum::{U2, U3, U4};

use super::*;
use crate::{Dense, Init, InitRng, Parameters};

/// The smallest interesting network: two dense layers, as `network!` would
/// generate them.
#[derive(Clone, Debug, PartialEq)]
struct TwoLayers {
    fc1: Dense<U3, U2>,
    fc2: Dense<U2, U4>,
}

impl TwoLayers {
    fn new(seed: u64) -> Self {
        let mut rng = InitRng::new(seed);
        let mut net = TwoLayers {
            fc1: Dense::new(&mut rng, Init::Xavier),
            fc2: Dense::new(&mut rng, Init::Xavier),
        };
        // Non-zero biases, so that they are checked too.
        let shift = seed as f32;
        net.fc1
            .bias_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = shift + i as f32);
        net.fc2
            .bias_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = -shift - i as f32);
        net
    }

    /// Every parameter's bits, in order.
    fn bits(&self) -> Vec<u32> {
        self.layers()
            .iter()
            .flat_map(|(_, layer)| {
                (0..layer.param_names().len())
                    .flat_map(|i| layer.param(i).iter().map(|v| v.to_bits()))
            })
            .collect()
    }
}

impl Network for TwoLayers {
    type Elem = f32;

    fn layers(&self) -> Vec<(&'static str, &dyn Parameters<Elem = f32>)> {
        vec![("fc1", &self.fc1), ("fc2", &self.fc2)]
    }

    fn layers_mut(&mut self) -> Vec<(&'static str, &mut dyn Parameters<Elem = f32>)> {
        vec![("fc1", &mut self.fc1), ("fc2", &mut self.fc2)]
    }
}

/// An owned tensor for writing arbitrary files with the safetensors crate.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn f32_tensor(shape: &[usize], values: &[f32]) -> Raw {
    Raw {
        dtype: Dtype::F32,
        shape: shape.to_vec(),
        data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// The tensors `TwoLayers::new(seed)` saves, by name.
fn net_tensors(seed: u64) -> Vec<(String, Raw)> {
    let net = TwoLayers::new(seed);
    let mut tensors = Vec::new();
    for (layer_name, layer) in net.layers() {
        for (i, param) in layer.param_names().iter().enumerate() {
            let tensor = f32_tensor(layer.param_shape(i), layer.param(i));
            tensors.push((format!("{layer_name}.{param}"), tensor));
        }
    }
    tensors
}

fn serialize(tensors: &[(String, Raw)]) -> Vec<u8> {
    let views = tensors.iter().map(|(name, raw)| {
        let view = TensorView::new(raw.dtype, raw.shape.clone(), &raw.data).unwrap();
        (name.clone(), view)
    });
    safetensors::serialize(views, None).unwrap()
}

/// A file from a hand-written JSON header and data, no padding.
fn raw_file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn write(dir: &tempfile::TempDir, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join("net.safetensors");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Loads `bytes` from a file into a fresh network, asserts that it fails and that
/// the network is untouched, and returns the error and the file's path.
fn load_error(bytes: &[u8]) -> (Error, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, bytes);
    let mut net = TwoLayers::new(7);
    let before = net.clone();
    let error = load_into(&mut net, &path).expect_err("loading should fail");
    assert_eq!(net, before, "a failed load changed the network");
    (error, path)
}

/// Asserts that the message names the file and contains every one of `parts`.
fn assert_message(error: &Error, path: &Path, parts: &[&str]) {
    let message = error.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "`{message}` does not name the file"
    );
    for part in parts {
        assert!(
            message.contains(part),
            "`{message}` does not mention `{part}`"
        );
    }
}

fn assert_malformed(bytes: &[u8], parts: &[&str]) {
    let (error, path) = load_error(bytes);
    assert!(matches!(error, Error::Malformed { .. }), "{error:?}");
    assert_message(&error, &path, parts);
}

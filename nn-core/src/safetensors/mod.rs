//! Saving and loading a network's parameters and buffers as [safetensors].
//!
//! # Names and layouts
//!
//! Every parameter tensor of every layer is stored as one tensor of the network's element
//! type (`F32`, or `F64` for a network of `f64`), named
//! `"<layer>.<tensor>"`: the layer's name in the network (its field name in the
//! `network!` declaration) and the tensor's name from [`Parameters::param_names`], such as
//! `fc1.weight` and `fc1.bias`; every buffer likewise (`bn1.running_mean`, `F32`, and
//! `bn1.num_batches_tracked`, an `I64` scalar, as PyTorch's batch normalisation stores
//! them). Shapes are those of [`Parameters::param_shape`], data is
//! row-major (C order) and little-endian, as the format requires. These are PyTorch's
//! names and layouts — a Dense weight is `[out, in]` like `nn.Linear`'s — so a file
//! written here is a state dict that `safetensors.torch.load_file` followed by
//! `model.load_state_dict` accepts for the equivalent PyTorch model, and the other way
//! round.
//!
//! Saving is deterministic: the same parameters always give the same bytes (the crate
//! orders tensors by name and writes no metadata).
//!
//! # Strict loading
//!
//! [`load_into`] behaves like PyTorch's `load_state_dict(strict=True)`: the file must
//! hold exactly the network's tensors. It checks, in the order the network lists its
//! parameters and buffers, that each one is present ([`Error::MissingTensor`]), stored
//! as the layer stores it, `F32`, `F64` or `I64` ([`Error::DtypeMismatch`]), of the right shape
//! ([`Error::ShapeMismatch`]), and, for a buffer, with values the layer takes (a running
//! variance is not negative: [`Error::InvalidTensor`]); then that the file holds nothing else ([`Error::UnexpectedTensor`], the first such name
//! in sorted order). It returns the first problem it finds, and it changes the network
//! only once everything has checked out, so a failed load leaves the network exactly
//! as it was. A `__metadata__` entry (PyTorch writes `{"format": "pt"}`) is allowed and
//! ignored.
//!
//! The file is read into memory whole, so memory is bounded by the file's actual size,
//! never by a size the file claims, and reading stops (with an error) once the file is
//! longer than any valid file for the network: 8 bytes, the crate's 100 MB limit on the
//! header, and the bytes of every tensor. The safetensors crate then checks the
//! header length against the file, the JSON header, and that the tensors' byte ranges
//! tile the data exactly and match their shapes and dtypes; any bytes that fail these
//! checks give [`Error::Malformed`], never a panic. Before the crate parses the header,
//! a byte scan refuses a header holding far more JSON values than the network's tensors
//! need (beyond a few hundred spare ones, one per 16 bytes of header): the crate's
//! parser keeps some 64 bytes per value, so a flood of small values such as
//! `[0,0,0,…]` would otherwise make a file cost 30 times its length in memory.
//!
//! [safetensors]: https://huggingface.co/docs/safetensors
//! [`Parameters::param_names`]: crate::Parameters::param_names
//! [`Parameters::param_shape`]: crate::Parameters::param_shape

// This file holds the public API and the walk over a network's tensors that saving,
// loading and the checks share. The strict checks of a parsed file against the network,
// and the words for the files the safetensors crate refuses, are in `check.rs`; the scan
// of the header's bytes before the crate parses them, with the header's limits, is in
// `header.rs`.

mod check;
mod header;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use crate::scalar::Scalar;
use crate::{Buffer, BufferMut, Error, Network};
use check::{check, describe};
use header::{header_values, scan_header, HEADER_LENGTH_BYTES, MAX_HEADER_BYTES};

#[doc(hidden)]
pub use header::json_numbers;

/// Writes every parameter (`F32`, or `F64` for a network of `f64`) and buffer (the same,
/// or `I64`) of `network` to `path` as safetensors.
///
/// Tensors are named `"<layer>.<tensor>"` (for example `fc1.weight`) and shaped as
/// [`Parameters::param_shape`](crate::Parameters::param_shape) gives them — a Dense weight is
/// `[out, in]`, PyTorch's layout. An existing file at `path` is replaced. The output is
/// deterministic. See the [module documentation](self) for the format.
///
/// # Errors
///
/// [`Error::Io`] naming `path` if the file cannot be written (for example because its
/// directory does not exist).
pub fn save<N: Network + ?Sized>(network: &N, path: &Path) -> Result<(), Error> {
    let bytes = to_bytes(network).map_err(|e| {
        Error::malformed(
            path,
            format!("cannot encode the parameters as safetensors: {e}"),
        )
    })?;
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Reads every parameter and buffer of `network` from the safetensors file at `path`,
/// replacing their values.
///
/// Loading is strict, like PyTorch's `load_state_dict(strict=True)`: every tensor the
/// network has must be in the file with its dtype and shape, and the file must
/// hold no other tensor. On any error the network is left unchanged. See the
/// [module documentation](self) for the order of the checks.
///
/// # Errors
///
/// - [`Error::Io`] if the file cannot be read;
/// - [`Error::Malformed`] if it is not a valid safetensors file (too short, a header
///   length beyond the file, malformed JSON, byte ranges that do not match the data);
/// - [`Error::MissingTensor`], [`Error::DtypeMismatch`], [`Error::ShapeMismatch`] for
///   the first of the network's tensors that is absent, of another dtype or of another
///   shape;
/// - [`Error::InvalidTensor`] for a buffer with values its layer cannot take;
/// - [`Error::UnexpectedTensor`] for a tensor the network does not have.
///
/// # Panics
///
/// Never because of the file's bytes; only if a layer's parameter has a different
/// number of elements from its own [`Parameters::param_shape`](crate::Parameters::param_shape),
/// a bug in that layer.
pub fn load_into<N: Network + ?Sized>(network: &mut N, path: &Path) -> Result<(), Error> {
    // A valid file is its header plus the network's tensors; reading one byte more
    // than the largest such file tells a file that is too long without reading it all.
    let num_params = network.num_params();
    let largest = largest_file(&*network);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(largest + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > largest {
        return Err(Error::malformed(
            path,
            format!(
                "the file is larger than any safetensors file of this network's {} parameters \
                 and its buffers ({largest} bytes at most)",
                num_params
            ),
        ));
    }
    load_from_bytes(network, &bytes, path)
}

/// The length of the largest valid file of `network`: the length prefix, the largest
/// header the crate accepts, and the bytes of every tensor.
fn largest_file<N: Network + ?Sized>(network: &N) -> u64 {
    let data: usize = tensors(network)
        .iter()
        .map(|(_, tensor)| tensor.data_len())
        .sum();
    HEADER_LENGTH_BYTES as u64 + MAX_HEADER_BYTES + data as u64
}

/// A tensor borrowed from a layer — a parameter or a buffer — encoded to little-endian
/// bytes only when the serializer asks for them.
type Tensor<'a, T> = Buffer<'a, T>;

impl<T: Scalar> View for Buffer<'_, T> {
    fn dtype(&self) -> Dtype {
        match self {
            Buffer::Float { .. } => T::DTYPE,
            Buffer::I64(_) => Dtype::I64,
        }
    }

    fn shape(&self) -> &[usize] {
        match self {
            Buffer::Float { shape, .. } => shape,
            // A scalar.
            Buffer::I64(_) => &[],
        }
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self {
            Buffer::Float { values, .. } => {
                let mut bytes = Vec::with_capacity(std::mem::size_of_val(*values));
                values.iter().for_each(|v| v.push_le_bytes(&mut bytes));
                Cow::Owned(bytes)
            }
            Buffer::I64(value) => Cow::Owned(value.to_le_bytes().to_vec()),
        }
    }

    fn data_len(&self) -> usize {
        match self {
            Buffer::Float { values, .. } => std::mem::size_of_val(*values),
            Buffer::I64(_) => 8,
        }
    }
}

/// Every tensor of `network` by its full name, in order: each layer's parameters, then
/// its buffers.
fn tensors<N: Network + ?Sized>(network: &N) -> Vec<(String, Tensor<'_, N::Elem>)> {
    let mut tensors = Vec::new();
    for (layer_name, layer) in network.layers() {
        for (index, param) in layer.param_names().iter().enumerate() {
            let tensor = Tensor::Float {
                shape: layer.param_shape(index),
                values: layer.param(index),
            };
            tensors.push((tensor_name(layer_name, param), tensor));
        }
        for (index, buffer) in layer.buffer_names().iter().enumerate() {
            let tensor = layer.buffer(index);
            tensors.push((tensor_name(layer_name, buffer), tensor));
        }
    }
    tensors
}

/// The full name of parameter `param` of layer `layer`: `"<layer>.<param>"`.
fn tensor_name(layer: &str, param: &str) -> String {
    format!("{layer}.{param}")
}

/// The whole safetensors file for `network`'s tensors.
fn to_bytes<N: Network + ?Sized>(network: &N) -> Result<Vec<u8>, SafeTensorError> {
    safetensors::serialize(tensors(network), None)
}

/// [`load_into`] once the file is in memory; `path` only names the file in errors.
fn load_from_bytes<N: Network + ?Sized>(
    network: &mut N,
    bytes: &[u8],
    path: &Path,
) -> Result<(), Error> {
    scan_header(bytes, header_values(&*network))
        .map_err(|reason| Error::malformed(path, reason))?;
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| Error::malformed(path, describe(&e, bytes)))?;
    let views = check(&*network, &file, path)?;

    // Everything checked out: only now touch the network.
    let mut views = views.into_iter();
    let mut next = || views.next().expect("`check` returns one view per tensor");
    for (_, layer) in network.layers_mut() {
        for index in 0..layer.param_names().len() {
            copy_floats(layer.param_mut(index), &next());
        }
        for index in 0..layer.buffer_names().len() {
            let view = next();
            match layer.buffer_mut(index) {
                BufferMut::Float(values) => copy_floats(values, &view),
                BufferMut::I64(value) => {
                    let bytes: [u8; 8] = view.data().try_into().expect("an I64 scalar");
                    *value = i64::from_le_bytes(bytes);
                }
            }
        }
    }
    Ok(())
}

/// `values` from the little-endian data of `view`, which has as many of their type.
fn copy_floats<T: Scalar>(values: &mut [T], view: &TensorView<'_>) {
    let size = std::mem::size_of::<T>();
    for (value, bytes) in values.iter_mut().zip(view.data().chunks_exact(size)) {
        *value = T::from_le_slice(bytes);
    }
}

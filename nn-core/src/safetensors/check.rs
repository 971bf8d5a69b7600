//! What makes a file unfit for a network, in words: the strict checks of a parsed file
//! against the network's tensors ([`check`], the order the module documentation
//! promises), and a readable reason for each file the safetensors crate refuses
//! ([`describe`]). Both run before the network is touched, so that a failed load leaves
//! it as it was.

use std::collections::HashSet;
use std::path::Path;

use num_traits::Zero;
use safetensors::tensor::TensorView;
use safetensors::{SafeTensorError, SafeTensors, View};

use super::header::{claimed_header_length, HEADER_LENGTH_BYTES, MAX_HEADER_BYTES};
use super::{copy_floats, tensor_name, Tensor};
use crate::{Buffer, Error, Network};

/// Checks that `file` holds exactly `network`'s tensors, in their dtypes and shapes and
/// with values the layers take, and returns their views in the order of
/// [`tensors`](super::tensors).
pub(super) fn check<'data, N: Network + ?Sized>(
    network: &N,
    file: &SafeTensors<'data>,
    path: &Path,
) -> Result<Vec<TensorView<'data>>, Error> {
    let mut views = Vec::new();
    let mut expected = HashSet::new();
    for (layer_name, layer) in network.layers() {
        let buffers = (0..layer.buffer_names().len()).map(|index| layer.buffer(index));
        let params = (0..layer.param_names().len()).map(|index| Buffer::Float {
            shape: layer.param_shape(index),
            values: layer.param(index),
        });
        let names = layer.param_names().iter().chain(layer.buffer_names());
        let buffer_indices = (0..layer.param_names().len())
            .map(|_| None)
            .chain((0..layer.buffer_names().len()).map(Some));
        for ((own, tensor), buffer_index) in names.zip(params.chain(buffers)).zip(buffer_indices) {
            let name = tensor_name(layer_name, own);
            let Ok(view) = file.tensor(&name) else {
                return Err(Error::MissingTensor {
                    path: path.into(),
                    name,
                });
            };
            if view.dtype() != tensor.dtype() {
                return Err(Error::DtypeMismatch {
                    path: path.into(),
                    name,
                    found: view.dtype().to_string(),
                    expected: tensor.dtype().to_string(),
                });
            }
            let shape = tensor.shape();
            if view.shape() != shape {
                return Err(Error::ShapeMismatch {
                    path: path.into(),
                    name,
                    expected: shape.to_vec(),
                    found: view.shape().to_vec(),
                });
            }
            // The crate has checked that the data is exactly as long as the shape says;
            // a layer whose tensor is not the size of its own shape is a bug in the layer.
            assert_eq!(
                tensor.data_len(),
                view.data().len(),
                "layer `{layer_name}`: tensor `{own}` does not have as many elements as \
                 its shape {shape:?} says",
            );
            if let (Some(index), Tensor::Float { values, .. }) = (buffer_index, &tensor) {
                let mut loaded = vec![N::Elem::zero(); values.len()];
                copy_floats(&mut loaded, &view);
                if let Err(reason) = layer.check_buffer(index, &loaded) {
                    return Err(Error::InvalidTensor {
                        path: path.into(),
                        name,
                        reason,
                    });
                }
            }
            views.push(view);
            expected.insert(name);
        }
    }

    let mut names = file.names();
    names.sort_unstable();
    if let Some(name) = names.into_iter().find(|name| !expected.contains(*name)) {
        return Err(Error::UnexpectedTensor {
            path: path.into(),
            name: name.to_owned(),
        });
    }
    Ok(views)
}

/// A readable reason, in lowercase, for a file safetensors refused.
pub(super) fn describe(error: &SafeTensorError, bytes: &[u8]) -> String {
    let length = bytes.len();
    let claimed = claimed_header_length(bytes).unwrap_or(0);
    match error {
        SafeTensorError::HeaderTooSmall => format!(
            "not a safetensors file: {length} bytes is too short for the 8-byte header length"
        ),
        SafeTensorError::HeaderTooLarge => format!(
            "not a safetensors file: header length {claimed} exceeds the limit of \
             {MAX_HEADER_BYTES} bytes (the file has {length} bytes)"
        ),
        SafeTensorError::InvalidHeaderLength => format!(
            "not a safetensors file, or a truncated one: header length {claimed} exceeds \
             the file's {length} bytes"
        ),
        SafeTensorError::InvalidHeader(e) => {
            format!("corrupt safetensors header: not valid UTF-8 ({e})")
        }
        SafeTensorError::InvalidHeaderDeserialization(e) => {
            format!("corrupt safetensors header: {e}")
        }
        SafeTensorError::InvalidOffset(name) => format!(
            "corrupt safetensors header: the data offsets of tensor `{name}` overlap \
             another tensor's, leave a gap or run backwards"
        ),
        SafeTensorError::TensorInvalidInfo => "corrupt safetensors header: a tensor's data \
             offsets do not span its shape times its dtype's size"
            .to_owned(),
        SafeTensorError::ValidationOverflow => {
            "corrupt safetensors header: a tensor's shape is too large to address".to_owned()
        }
        SafeTensorError::MetadataIncompleteBuffer => format!(
            "truncated or corrupt safetensors file: the tensors in the header do not cover \
             exactly the {} bytes of data after it",
            length
                .saturating_sub(HEADER_LENGTH_BYTES)
                .saturating_sub(usize::try_from(claimed).unwrap_or(usize::MAX))
        ),
        other => format!("invalid safetensors file: {other}"),
    }
}

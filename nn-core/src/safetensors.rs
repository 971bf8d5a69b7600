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

use std::borrow::Cow;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors, View};

use crate::scalar::Scalar;
use crate::{Buffer, BufferMut, Error, Network};
use num_traits::Zero;

/// Bytes in the little-endian `u64` that starts every safetensors file: the header's
/// length.
const HEADER_LENGTH_BYTES: usize = 8;

/// The largest header the safetensors crate accepts (it refuses anything longer).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// JSON values a header may hold beyond those of the network's tensors, whatever its
/// length: room for a `__metadata__` of a hundred short entries (PyTorch's
/// `{"format":"pt"}` is 4 values) and for some tensors the network does not have, which
/// are then reported by name.
const SPARE_HEADER_VALUES: usize = 256;

/// Header bytes that pay for each JSON value beyond the network's own and the spare
/// ones. The safetensors crate's parser holds some 64 bytes per value while it reads the
/// header (serde buffers every value of a flattened map before it looks at any), so this
/// keeps a header's cost within a few times its length.
const HEADER_BYTES_PER_VALUE: usize = 16;

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

/// Checks that `file` holds exactly `network`'s tensors, in their dtypes and shapes and
/// with values the layers take, and returns their views in the order of [`tensors`].
fn check<'data, N: Network + ?Sized>(
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

/// The header length the first 8 bytes of `bytes` claim, if there are 8 bytes.
fn claimed_header_length(bytes: &[u8]) -> Option<u64> {
    let prefix = bytes.get(..HEADER_LENGTH_BYTES)?;
    Some(u64::from_le_bytes(prefix.try_into().ok()?))
}

/// The JSON values in the header of a valid file of `network`: the top-level object,
/// and per tensor its name, an object, three keys, the dtype, two arrays, the shape's
/// dimensions and the two data offsets.
fn header_values<N: Network + ?Sized>(network: &N) -> usize {
    let tensors = tensors(network);
    1 + tensors
        .iter()
        .map(|(_, tensor)| 10 + tensor.shape().len())
        .sum::<usize>()
}

/// Scans the header's bytes before the safetensors crate parses them, and refuses two
/// kinds of headers no valid file of the network has:
///
/// - a number so large that safetensors 0.8 would overflow adding it to the header
///   length (it computes `end of data + 8 + header length` unchecked, which panics in
///   builds with overflow checks). Such a number is never a valid byte offset (no file
///   is that large); as a shape dimension it can only belong to a tensor with another
///   dimension 0, which no network has;
/// - more JSON values than `values_needed` (those of the network's tensors, see
///   [`header_values`]), [`SPARE_HEADER_VALUES`] and one per [`HEADER_BYTES_PER_VALUE`]
///   bytes of header. The crate's parser holds every value of the header at once, at
///   some 64 bytes each, so `[0,0,0,…]` — 2 bytes a value — would cost 30 times the
///   file in memory; a valid file's values are its tensors', plus `__metadata__`.
///
/// Values are counted as opening quotes, brackets and braces, and runs of other bytes
/// (numbers, `true`, …) outside strings; numbers are the runs of digits outside strings,
/// so tensor names and metadata values with digits in them are left alone.
fn scan_header(bytes: &[u8], values_needed: usize) -> Result<(), String> {
    let Some(claimed) = claimed_header_length(bytes) else {
        return Ok(()); // too short: safetensors reports it
    };
    let header = usize::try_from(claimed).ok().and_then(|length| {
        bytes.get(HEADER_LENGTH_BYTES..HEADER_LENGTH_BYTES.checked_add(length)?)
    });
    let Some(header) = header else {
        return Ok(()); // the header does not fit in the file: safetensors reports it
    };
    // A number `n` is safe when `n + 8 + header length` fits in a usize.
    let limit = usize::MAX - HEADER_LENGTH_BYTES - header.len();
    let values_allowed = values_needed
        .saturating_add(SPARE_HEADER_VALUES)
        .saturating_add(header.len() / HEADER_BYTES_PER_VALUE);

    let mut in_string = false;
    let mut escaped = false;
    let mut number: Option<Option<usize>> = None; // Some(None): overflowed usize
    let mut in_bare_value = false; // inside a number or a literal such as `true`
    let mut values = 0usize;
    for &byte in header.iter().chain(std::iter::once(&b' ')) {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if byte.is_ascii_digit() {
            let digit = usize::from(byte - b'0');
            let so_far = number.unwrap_or(Some(0));
            number = Some(so_far.and_then(|n| n.checked_mul(10)?.checked_add(digit)));
        } else if let Some(Some(n)) = number.take() {
            // Numbers beyond a usize are left to the JSON parser, which refuses them.
            if n > limit {
                return Err(format!(
                    "corrupt safetensors header: the number {n} is too large for a \
                     shape or a data offset"
                ));
            }
        }
        let bare = !matches!(
            byte,
            b'"' | b'{' | b'[' | b'}' | b']' | b',' | b':' | b' ' | b'\t' | b'\n' | b'\r'
        );
        if matches!(byte, b'"' | b'{' | b'[') || (bare && !in_bare_value) {
            values += 1;
            if values > values_allowed {
                return Err(format!(
                    "corrupt safetensors header: more than {values_allowed} JSON values in \
                     {} bytes, far more than the {values_needed} of this network's tensors \
                     (refused before parsing: they would cost memory out of proportion to \
                     the file)",
                    header.len()
                ));
            }
        }
        in_bare_value = bare;
        in_string = byte == b'"';
    }
    Ok(())
}

/// A readable reason, in lowercase, for a file safetensors refused.
fn describe(error: &SafeTensorError, bytes: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dense, Init, InitRng, Parameters};
    use std::path::PathBuf;
    use typenum::{U2, U3, U4};

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
    fn missing_tensor_is_named() {
        let mut tensors = net_tensors(0);
        tensors.retain(|(name, _)| name != "fc2.bias");
        let (error, path) = load_error(&serialize(&tensors));
        assert!(
            matches!(&error, Error::MissingTensor { name, .. } if name == "fc2.bias"),
            "{error:?}"
        );
        assert_message(&error, &path, &["fc2.bias", "missing"]);
    }

    #[test]
    fn unexpected_tensor_is_named_in_sorted_order() {
        let mut tensors = net_tensors(0);
        tensors.push(("zeta".into(), f32_tensor(&[1], &[1.0])));
        tensors.push(("fc3.weight".into(), f32_tensor(&[1, 1], &[2.0])));
        tensors.push(("alpha".into(), f32_tensor(&[1], &[3.0])));
        // Every tensor the network has is valid, so only the extras are wrong: the
        // network must still be left untouched (`load_error` checks it).
        let (error, path) = load_error(&serialize(&tensors));
        assert!(
            matches!(&error, Error::UnexpectedTensor { name, .. } if name == "alpha"),
            "{error:?}"
        );
        assert_message(&error, &path, &["alpha", "unexpected"]);
    }

    #[test]
    fn wrong_shape_is_reported_with_both_shapes() {
        let mut tensors = net_tensors(0);
        // fc1.weight transposed: [in, out] instead of PyTorch's [out, in].
        let weight = &mut tensors
            .iter_mut()
            .find(|(n, _)| n == "fc1.weight")
            .unwrap()
            .1;
        weight.shape = vec![3, 2];
        let (error, path) = load_error(&serialize(&tensors));
        match &error {
            Error::ShapeMismatch {
                name,
                expected,
                found,
                ..
            } => {
                assert_eq!(name, "fc1.weight");
                assert_eq!(expected, &[2, 3]);
                assert_eq!(found, &[3, 2]);
            }
            other => panic!("expected a shape mismatch, got {other:?}"),
        }
        assert_message(&error, &path, &["fc1.weight", "[3, 2]", "[2, 3]"]);
    }

    #[test]
    fn wrong_dtype_is_reported() {
        let mut tensors = net_tensors(0);
        let bias = &mut tensors.iter_mut().find(|(n, _)| n == "fc2.bias").unwrap().1;
        bias.dtype = Dtype::F64;
        bias.data = [0.5f64, 1.5, 2.5, 3.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let (error, path) = load_error(&serialize(&tensors));
        assert!(
            matches!(&error, Error::DtypeMismatch { name, found, .. }
                if name == "fc2.bias" && found == "F64"),
            "{error:?}"
        );
        assert_message(&error, &path, &["fc2.bias", "F64", "F32"]);
    }

    #[test]
    fn first_problem_in_network_order_wins() {
        // fc1.bias has the wrong shape, fc2.weight is missing, fc2.bias is F64, and
        // there is an extra tensor: the first of the network's tensors wins.
        let mut tensors = net_tensors(0);
        tensors.retain(|(name, _)| name != "fc2.weight");
        tensors.iter_mut().find(|(n, _)| n == "fc1.bias").unwrap().1 = f32_tensor(&[3], &[0.0; 3]);
        tensors.iter_mut().find(|(n, _)| n == "fc2.bias").unwrap().1 = Raw {
            dtype: Dtype::F64,
            shape: vec![4],
            data: vec![0; 32],
        };
        tensors.push(("extra".into(), f32_tensor(&[1], &[0.0])));
        let (error, _) = load_error(&serialize(&tensors));
        assert!(
            matches!(&error, Error::ShapeMismatch { name, .. } if name == "fc1.bias"),
            "{error:?}"
        );

        // Dtype is checked before shape.
        let mut tensors = net_tensors(0);
        tensors
            .iter_mut()
            .find(|(n, _)| n == "fc1.weight")
            .unwrap()
            .1 = Raw {
            dtype: Dtype::F16,
            shape: vec![5],
            data: vec![0; 10],
        };
        let (error, _) = load_error(&serialize(&tensors));
        assert!(
            matches!(&error, Error::DtypeMismatch { name, found, .. }
                if name == "fc1.weight" && found == "F16"),
            "{error:?}"
        );
    }

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
        let header =
            r#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
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
}

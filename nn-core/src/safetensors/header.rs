//! The header's limits, and the scan of its bytes before the safetensors crate parses
//! them.
//!
//! The crate's parser keeps every JSON value of the header at once, at some 64 bytes
//! each, and adds the numbers it reads to the header's length without checking for
//! overflow. A hand-written scan over the raw bytes, which allocates nothing, refuses
//! the headers that would make either hurt before the parser sees them; see
//! [`scan_header`].

use std::ops::Range;

use safetensors::View;

use super::tensors;
use crate::Network;

/// Bytes in the little-endian `u64` that starts every safetensors file: the header's
/// length.
pub(super) const HEADER_LENGTH_BYTES: usize = 8;

/// The largest header the safetensors crate accepts (it refuses anything longer).
pub(super) const MAX_HEADER_BYTES: u64 = 100_000_000;

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

/// The header length the first 8 bytes of `bytes` claim, if there are 8 bytes.
pub(super) fn claimed_header_length(bytes: &[u8]) -> Option<u64> {
    let prefix = bytes.get(..HEADER_LENGTH_BYTES)?;
    Some(u64::from_le_bytes(prefix.try_into().ok()?))
}

/// The JSON values in the header of a valid file of `network`: the top-level object,
/// and per tensor its name, an object, three keys, the dtype, two arrays, the shape's
/// dimensions and the two data offsets.
pub(super) fn header_values<N: Network + ?Sized>(network: &N) -> usize {
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
pub(super) fn scan_header(bytes: &[u8], values_needed: usize) -> Result<(), String> {
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

    let mut number: Option<Option<usize>> = None; // Some(None): overflowed usize
    let mut in_bare_value = false; // inside a number or a literal such as `true`
    let mut values = 0usize;
    // A space after the last byte ends a number or a literal the header ends with.
    let bytes = outside_strings(header).map(|(_, byte)| byte);
    for byte in bytes.chain(std::iter::once(b' ')) {
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
    }
    Ok(())
}

/// The bytes of the JSON text `json` that lie outside its strings, with their
/// positions: every byte but those inside a string and its closing quote. A string's
/// opening quote is kept, since it starts a value.
///
/// This is the only lexing the scan does: a backslash escapes the byte after it, so
/// that `\"` does not end a string. It reads any bytes, valid JSON or not.
fn outside_strings(json: &[u8]) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut in_string = false;
    let mut escaped = false;
    json.iter().enumerate().filter_map(move |(at, &byte)| {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            return None;
        }
        in_string = byte == b'"';
        Some((at, byte))
    })
}

/// Where the numbers of the JSON text `json` are, as the header scan sees them: the runs
/// of ASCII digits outside strings, so that digits in a tensor's name or a metadata
/// value are not numbers. A sign, a fraction or an exponent ends a run.
///
/// For tests, not part of the API: the hostile-bytes tests (`tests/hostile_bytes.rs`)
/// edit the numbers of a header where the loader's scan will find them.
#[doc(hidden)]
pub fn json_numbers(json: &[u8]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    // A space after the last byte ends a run the text ends with.
    let bytes = outside_strings(json).chain(std::iter::once((json.len(), b' ')));
    for (at, byte) in bytes {
        if byte.is_ascii_digit() {
            start.get_or_insert(at);
        } else if let Some(start) = start.take() {
            runs.push(start..at);
        }
    }
    runs
}

//! A small, strict reader for the IDX format of the MNIST files, plain or gzip-compressed.
//!
//! An IDX file is a big-endian `u32` magic number — bytes `0x00`, `0x00`, the element
//! type (`0x08` = unsigned byte, the only type supported here) and the number of
//! dimensions — followed by one big-endian `u32` per dimension and then the elements,
//! row-major.
//!
//! The reader never trusts the header with memory: it reads through
//! [`Read::take`], so the buffer grows only with bytes actually present in the file (or
//! actually produced by the decompressor, up to what the header declares), and it checks that the
//! product of the dimensions does not overflow. Truncated files, trailing bytes after the
//! data and corrupt gzip streams are all errors naming the file.

use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::Error;

/// The element-type byte of unsigned-byte data, the only type MNIST uses.
const TYPE_U8: u8 = 0x08;

/// How many trailing bytes are counted (at most) for the error message.
const TRAILING_REPORT_LIMIT: u64 = 1 << 16;

/// The contents of an IDX file of unsigned bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Idx {
    /// The dimensions from the header, outermost first.
    pub dims: Vec<usize>,
    /// The `dims.iter().product()` elements, row-major.
    pub data: Vec<u8>,
}

/// The magic number of an unsigned-byte IDX file with `rank` dimensions.
pub(crate) fn magic(rank: u8) -> u32 {
    u32::from_be_bytes([0, 0, TYPE_U8, rank])
}

/// Reads an IDX file of unsigned bytes with `rank` dimensions from `reader`.
///
/// `path` is the file's path, used in error messages and for its extension: a path ending
/// in `.gz` is decompressed as gzip (several concatenated members are allowed, like
/// `gunzip`). `check` sees the dimensions before any data is read and can reject them
/// with a reason, which becomes an [`Error::Malformed`] naming the file.
pub(crate) fn read<R: Read>(
    reader: R,
    path: &Path,
    rank: u8,
    check: impl FnOnce(&[usize]) -> Result<(), String>,
) -> Result<Idx, Error> {
    if path.extension().is_some_and(|ext| ext == "gz") {
        let mut source = Source {
            reader: MultiGzDecoder::new(reader),
            path,
            gzip: true,
        };
        source.read_idx(rank, check)
    } else {
        let mut source = Source {
            reader: io::BufReader::new(reader),
            path,
            gzip: false,
        };
        source.read_idx(rank, check)
    }
}

/// The decompressed byte stream of one file, with what is needed to report errors.
struct Source<'a, R> {
    reader: R,
    path: &'a Path,
    gzip: bool,
}

impl<R: Read> Source<'_, R> {
    fn read_idx(
        &mut self,
        rank: u8,
        check: impl FnOnce(&[usize]) -> Result<(), String>,
    ) -> Result<Idx, Error> {
        let expected_magic = magic(rank);
        let header_len = 4 + 4 * u64::from(rank);

        let bytes = self.read_up_to(4)?;
        if bytes.len() < 4 {
            return Err(self.truncated_header(header_len, bytes.len()));
        }
        let found_magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != TYPE_U8 {
            return Err(self.malformed(format!(
                "bad magic number: expected {expected_magic:#010x} (IDX, unsigned bytes, \
                 {rank} dimensions), found {found_magic:#010x}"
            )));
        }
        if bytes[3] != rank {
            return Err(self.malformed(format!(
                "wrong number of dimensions: expected {rank} (magic {expected_magic:#010x}), \
                 found {} (magic {found_magic:#010x})",
                bytes[3]
            )));
        }

        let bytes = self.read_up_to(4 * u64::from(rank))?;
        if bytes.len() < 4 * usize::from(rank) {
            return Err(self.truncated_header(header_len, 4 + bytes.len()));
        }
        let dims: Vec<usize> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
            .collect();
        let len = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                self.malformed(format!(
                    "absurd dimensions {}: their product overflows",
                    format_dims(&dims)
                ))
            })?;
        check(&dims).map_err(|reason| self.malformed(reason))?;

        let data = self.read_up_to(len as u64)?;
        if data.len() < len {
            return Err(self.malformed(format!(
                "truncated data: the header declares {} = {len} bytes of data, found {}",
                format_dims(&dims),
                data.len()
            )));
        }
        let trailing = self.read_up_to(TRAILING_REPORT_LIMIT)?;
        if !trailing.is_empty() {
            let count = match trailing.len() {
                1 => "1 trailing byte".to_string(),
                n if n as u64 == TRAILING_REPORT_LIMIT => format!("at least {n} trailing bytes"),
                n => format!("{n} trailing bytes"),
            };
            return Err(self.malformed(format!(
                "{count} after the {len} bytes of data the header declares"
            )));
        }
        Ok(Idx { dims, data })
    }

    /// Reads up to `limit` bytes, fewer only at the end of the stream. Memory grows with
    /// the bytes actually read, never with `limit`.
    fn read_up_to(&mut self, limit: u64) -> Result<Vec<u8>, Error> {
        let mut buf = Vec::new();
        (&mut self.reader)
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| self.read_error(e))?;
        Ok(buf)
    }

    /// Turns a read error into an [`Error`]: the decompressor's complaints about its input
    /// are [`Error::Malformed`], anything else is [`Error::Io`].
    fn read_error(&self, e: io::Error) -> Error {
        let corrupt = matches!(
            e.kind(),
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        );
        if self.gzip && corrupt {
            self.malformed(format!("corrupt gzip data: {e}"))
        } else {
            Error::io(self.path, e)
        }
    }

    fn truncated_header(&self, expected: u64, found: usize) -> Error {
        self.malformed(format!(
            "truncated header: expected {expected} bytes, found {found}"
        ))
    }

    fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::malformed(self.path, reason)
    }
}

/// Formats dimensions as `8000×28×28`.
pub(crate) fn format_dims(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×")
}

#[cfg(test)]
pub(super) mod test_files {
    //! Builders of IDX files for the tests of this module and of `mnist`.

    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    /// The bytes of an IDX file with the given magic, dimensions and data.
    pub fn idx_bytes(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(data);
        bytes
    }

    /// Asserts `err` is `Malformed`, names `name`, and contains every one of `needles`.
    pub fn assert_malformed(err: &crate::Error, name: &str, needles: &[&str]) {
        assert!(matches!(err, crate::Error::Malformed { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(name), "`{name}` not in `{message}`");
        for needle in needles {
            assert!(message.contains(needle), "`{needle}` not in `{message}`");
        }
    }

    /// `bytes` compressed with gzip.
    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::test_files::{self, gzip, idx_bytes};
    use super::*;

    fn ok(_: &[usize]) -> Result<(), String> {
        Ok(())
    }

    fn read_plain(bytes: &[u8], rank: u8) -> Result<Idx, Error> {
        read(bytes, Path::new("some-file"), rank, ok)
    }

    /// Asserts `result` is `Malformed` naming `name` and containing every one of `needles`.
    fn assert_malformed(result: Result<Idx, Error>, name: &str, needles: &[&str]) {
        test_files::assert_malformed(&result.unwrap_err(), name, needles);
    }

    #[test]
    fn data_idx_reads_plain_and_gzip() {
        let bytes = idx_bytes(0x0000_0803, &[2, 1, 3], &[1, 2, 3, 4, 5, 6]);
        let expected = Idx {
            dims: vec![2, 1, 3],
            data: vec![1, 2, 3, 4, 5, 6],
        };
        assert_eq!(read_plain(&bytes, 3).unwrap(), expected);
        let gz = gzip(&bytes);
        let got = read(&gz[..], Path::new("f.gz"), 3, ok).unwrap();
        assert_eq!(got, expected);
        // Concatenated gzip members are one stream, as for `gunzip`.
        let mut two = gzip(&bytes[..7]);
        two.extend(gzip(&bytes[7..]));
        assert_eq!(read(&two[..], Path::new("f.gz"), 3, ok).unwrap(), expected);
    }

    #[test]
    fn data_idx_empty_dimension_is_fine() {
        let bytes = idx_bytes(0x0000_0801, &[0], &[]);
        assert_eq!(read_plain(&bytes, 1).unwrap().data, Vec::<u8>::new());
    }

    #[test]
    fn data_idx_rejects_bad_magic_type_and_rank() {
        let bytes = idx_bytes(0x1234_5678, &[1], &[0]);
        assert_malformed(
            read_plain(&bytes, 1),
            "some-file",
            &["0x00000801", "0x12345678"],
        );
        // Element type 0x0D (f32) is not supported.
        let bytes = idx_bytes(0x0000_0D01, &[1], &[0, 0, 0, 0]);
        assert_malformed(
            read_plain(&bytes, 1),
            "some-file",
            &["0x00000801", "0x00000d01"],
        );
        let bytes = idx_bytes(0x0000_0801, &[1], &[0]);
        assert_malformed(
            read_plain(&bytes, 3),
            "some-file",
            &["expected 3", "found 1", "0x00000803", "0x00000801"],
        );
    }

    #[test]
    fn data_idx_rejects_truncation_at_every_length() {
        let bytes = idx_bytes(0x0000_0803, &[2, 1, 3], &[1, 2, 3, 4, 5, 6]);
        for cut in 0..bytes.len() {
            let err = read_plain(&bytes[..cut], 3).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, Error::Malformed { .. }), "{message}");
            if cut < 16 {
                assert!(
                    message.contains(&format!("expected 16 bytes, found {cut}")),
                    "{message}"
                );
            } else {
                assert!(
                    message.contains(&format!("6 bytes of data, found {}", cut - 16)),
                    "{message}"
                );
            }
        }
    }

    #[test]
    fn data_idx_rejects_trailing_bytes() {
        let bytes = idx_bytes(0x0000_0801, &[2], &[1, 2, 3, 4]);
        assert_malformed(read_plain(&bytes, 1), "some-file", &["2 trailing bytes"]);
    }

    #[test]
    fn data_idx_rejects_overflowing_dimensions() {
        let rank = if usize::BITS == 64 { 3 } else { 2 };
        let dims = vec![u32::MAX; rank];
        let bytes = idx_bytes(magic(rank as u8), &dims, &[]);
        assert_malformed(read_plain(&bytes, rank as u8), "some-file", &["overflows"]);
    }

    #[test]
    fn data_idx_huge_declared_size_over_few_bytes_is_truncation() {
        // Claims 4 GiB of data but holds 3 bytes: reported as truncated, and fast.
        let bytes = idx_bytes(0x0000_0801, &[u32::MAX], &[1, 2, 3]);
        assert_malformed(
            read_plain(&bytes, 1),
            "some-file",
            &["4294967295 bytes of data, found 3"],
        );
    }

    #[test]
    fn data_idx_check_sees_dimensions_before_data() {
        let bytes = idx_bytes(0x0000_0801, &[5], &[]);
        let result = read(&bytes[..], Path::new("some-file"), 1, |dims| {
            assert_eq!(dims, [5]);
            Err("nope".to_string())
        });
        assert_malformed(result, "some-file", &["nope"]);
    }

    #[test]
    fn data_idx_rejects_corrupt_gzip() {
        let bytes = idx_bytes(0x0000_0801, &[3], &[1, 2, 3]);
        let gz = gzip(&bytes);
        let path = Path::new("f.gz");

        // Not gzip at all: the plain IDX bytes in a file named `.gz`.
        assert_malformed(
            read(&bytes[..], path, 1, ok),
            "f.gz",
            &["corrupt gzip data"],
        );

        // Bad deflate block: first block header byte with BTYPE = 0b11 (reserved).
        let mut bad = gz.clone();
        bad[10] = 0xff;
        assert_malformed(read(&bad[..], path, 1, ok), "f.gz", &["corrupt gzip data"]);

        // Checksum mismatch: CRC32 in the trailer changed.
        let mut bad = gz.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff;
        assert_malformed(read(&bad[..], path, 1, ok), "f.gz", &["corrupt gzip data"]);

        // Truncated compressed stream.
        for cut in 0..gz.len() {
            let err = read(&gz[..cut], path, 1, ok).unwrap_err();
            assert!(matches!(err, Error::Malformed { .. }), "{err}");
            assert!(err.to_string().contains("f.gz"), "{err}");
        }

        // Garbage after the gzip member.
        let mut bad = gz.clone();
        bad.extend_from_slice(b"junk");
        assert_malformed(read(&bad[..], path, 1, ok), "f.gz", &["corrupt gzip data"]);
    }

    #[test]
    fn data_idx_format_dims() {
        assert_eq!(format_dims(&[8000, 28, 28]), "8000×28×28");
        assert_eq!(format_dims(&[]), "");
    }
}

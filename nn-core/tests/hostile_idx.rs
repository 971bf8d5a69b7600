//! Hostile bytes for the IDX reader behind `Mnist::load`: random bytes and mutations of
//! valid files (bit flips, byte edits, truncations, insertions, deletions, splices,
//! edits of the magic number and of the dimensions), plain, gzipped after the mutation,
//! or mutated after gzipping, must make the load return `Ok` or `Err`, never panic or
//! hang, and never allocate more than the file can justify: a few times the bytes of
//! IDX data the files really hold (for a `.gz` file, what it really decompresses to),
//! plus a constant for the readers' buffers.
//!
//! Memory is measured with a counting global allocator whose counters are per thread
//! (`tests/support/counting.rs`); each load runs on a thread of its own, which also lets
//! a hang fail the test instead of stalling it. The valid files and the bounds are shared
//! with the fuzz target (`tests/support/idx_files.rs`). The same checks for the
//! safetensors loader are in the workspace's `tests/hostile_bytes.rs`; longer runs of
//! both live in `fuzz/` (cargo-fuzz).

use std::io::Read;
use std::path::Path;

use flate2::Compression;
use nn_core::data::Mnist;
use proptest::prelude::*;
use proptest::sample::Index;

#[path = "../../tests/support/counting.rs"]
mod counting;
#[path = "../../tests/support/edits.rs"]
mod edits;
#[path = "../../tests/support/idx_files.rs"]
mod idx_files;

use counting::{measured, Usage};
use edits::{run, Edit};
use idx_files::{
    gunzipped_len, idx_bytes, labels, mnist_files, peak_bound, requested_bound, MNIST_NAMES,
};

/// Fails unless a load of files holding `idx_bytes` bytes of IDX data stayed within the
/// bounds.
fn check_usage(idx_bytes: usize, usage: Usage) -> Result<(), String> {
    let files = format!("files of {idx_bytes} bytes of IDX data");
    usage.within(&files, peak_bound(idx_bytes), requested_bound(idx_bytes))
}

/// `bytes` gzipped as `gzip` does by default.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    idx_files::gzip(bytes, Compression::default())
}

// ---------------------------------------------------------------------------------------
// Loading hostile files.

/// One file of a dataset as it is written: its bytes, and whether it is gzipped.
struct File {
    bytes: Vec<u8>,
    gz: bool,
}

/// Writes `files` under their MNIST names (with `.gz` for gzipped ones), runs
/// `Mnist::load`, and fails if it panics, hangs or allocates more than the bounds allow.
/// Returns whether the load succeeded.
fn load(dir: &Path, files: &[File; 4]) -> Result<bool, String> {
    let mut idx_bytes = 0;
    for (name, file) in MNIST_NAMES.iter().zip(files) {
        let plain = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        let _ = std::fs::remove_file(&plain);
        let _ = std::fs::remove_file(&gz);
        let path = if file.gz { gz } else { plain };
        std::fs::write(path, &file.bytes).map_err(|e| e.to_string())?;
        idx_bytes += if file.gz {
            gunzipped_len(&file.bytes)
        } else {
            file.bytes.len()
        };
    }
    let dir = dir.to_path_buf();
    let (ok, usage) = measured(move || Mnist::load(&dir).is_ok());
    check_usage(idx_bytes, usage)?;
    Ok(ok)
}

// ---------------------------------------------------------------------------------------
// Mutations.

/// Dimensions worth trying: around 28 and the counts, the 1,000,000 limit, the edges of
/// u32, and products that overflow a usize.
const DIMENSIONS: &[u32] = &[
    0,
    1,
    2,
    3,
    27,
    28,
    29,
    784,
    65_536,
    999_999,
    1_000_000,
    1_000_001,
    1 << 31,
    u32::MAX - 1,
    u32::MAX,
];

/// One edit of a file. Positions are resolved against the file's length when applied.
#[derive(Clone, Debug)]
enum Mutation {
    /// An edit that knows nothing of the format.
    Edit(Edit),
    /// Sets one of the (up to 3) dimensions in the header.
    SetDimension(usize, u32),
    /// Sets the element type and number of dimensions of the magic number.
    SetMagic(u8, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::Edit(Edit::FlipBit(at, bit))),
        (any::<Index>(), any::<u8>())
            .prop_map(|(at, byte)| Mutation::Edit(Edit::SetByte(at, byte))),
        any::<Index>().prop_map(|at| Mutation::Edit(Edit::Truncate(at))),
        (any::<Index>(), prop::collection::vec(any::<u8>(), 1..64))
            .prop_map(|(at, bytes)| Mutation::Edit(Edit::Insert(at, bytes))),
        (any::<Index>(), 1..800usize).prop_map(|(at, len)| Mutation::Edit(Edit::Delete(at, len))),
        Edit::splice(2000).prop_map(Mutation::Edit),
        (
            0..3usize,
            prop_oneof![prop::sample::select(DIMENSIONS), any::<u32>()]
        )
            .prop_map(|(i, d)| Mutation::SetDimension(i, d)),
        (
            prop_oneof![Just(0x08u8), any::<u8>()],
            prop_oneof![0..5u8, any::<u8>()]
        )
            .prop_map(|(ty, rank)| Mutation::SetMagic(ty, rank)),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation, files: &[Vec<u8>]) {
    let len = bytes.len();
    match mutation {
        Mutation::Edit(edit) => edit.apply(bytes, files),
        Mutation::SetDimension(i, d) => {
            let at = 4 + 4 * i;
            if len >= at + 4 {
                bytes[at..at + 4].copy_from_slice(&d.to_be_bytes());
            }
        }
        Mutation::SetMagic(ty, rank) if len >= 4 => {
            bytes[2] = *ty;
            bytes[3] = *rank;
        }
        _ => {} // an edit at a position an empty (or too short) file does not have
    }
}

/// How the mutated file is written.
#[derive(Clone, Copy, Debug)]
enum Encoding {
    Plain,
    /// Mutated, then gzipped: hostile IDX behind a valid gzip stream.
    GzipOfMutated,
    /// Gzipped, then mutated: a hostile gzip stream.
    MutatedGzip,
}

fn encoding() -> impl Strategy<Value = Encoding> {
    prop_oneof![
        Just(Encoding::Plain),
        Just(Encoding::GzipOfMutated),
        Just(Encoding::MutatedGzip),
    ]
}

/// The dataset with file `target` mutated and encoded, the others valid and plain (the
/// loader reads them in order, so every file before the target must be valid for it to
/// be read at all).
fn hostile_dataset(target: usize, encoding: Encoding, mutations: &[Mutation]) -> [File; 4] {
    let valid = mnist_files();
    let mut files = valid.clone().map(|bytes| File { bytes, gz: false });
    let mut bytes = valid[target].clone();
    let corpus: Vec<Vec<u8>> = match encoding {
        Encoding::MutatedGzip => {
            bytes = gzip(&bytes);
            valid.iter().map(|file| gzip(file)).collect()
        }
        _ => valid.to_vec(),
    };
    for mutation in mutations {
        apply(&mut bytes, mutation, &corpus);
    }
    files[target] = match encoding {
        Encoding::Plain => File { bytes, gz: false },
        Encoding::GzipOfMutated => File {
            bytes: gzip(&bytes),
            gz: true,
        },
        Encoding::MutatedGzip => File { bytes, gz: true },
    };
    files
}

// ---------------------------------------------------------------------------------------
// The properties.

#[test]
fn the_dataset_is_valid_plain_and_gzipped_and_loads_within_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    for gz in [false, true] {
        let files = mnist_files().map(|bytes| File {
            bytes: if gz { gzip(&bytes) } else { bytes },
            gz,
        });
        assert!(load(dir.path(), &files).unwrap(), "gz: {gz}");
    }
    let mnist = Mnist::load(dir.path()).unwrap();
    assert_eq!(mnist.train_labels, [5, 0, 9]);
    assert_eq!(mnist.test_images.dim(), (2, 1, 28, 28));
}

#[test]
fn random_files_never_panic_hang_or_overallocate() {
    let file = (prop::collection::vec(any::<u8>(), 0..3000), any::<bool>());
    run(150, (0..4usize, file), |dir, (target, (random, gz))| {
        let mut files = mnist_files().map(|bytes| File { bytes, gz: false });
        files[target] = File { bytes: random, gz };
        load(dir, &files).map(drop)
    });
}

#[test]
fn random_data_behind_a_valid_magic_never_panics_hangs_or_overallocates() {
    // A header the reader accepts more often than random bytes: the right magic number
    // and a few dimensions, each small or from the list, then random data.
    let dimension = prop_oneof![0..40u32, prop::sample::select(DIMENSIONS)];
    let strategy = (
        0..4usize,
        prop::collection::vec(dimension, 3),
        prop::collection::vec(any::<u8>(), 0..3000),
        encoding(),
    );
    run(150, strategy, |dir, (target, dims, data, encoding)| {
        let rank = if target % 2 == 0 { 3 } else { 1 };
        let bytes = idx_bytes(rank, &dims[..usize::from(rank)], &data);
        let mut files = mnist_files().map(|bytes| File { bytes, gz: false });
        files[target] = match encoding {
            Encoding::Plain => File { bytes, gz: false },
            _ => File {
                bytes: gzip(&bytes),
                gz: true,
            },
        };
        load(dir, &files).map(drop)
    });
}

#[test]
fn mutated_files_never_panic_hang_or_overallocate() {
    let strategy = (
        0..4usize,
        encoding(),
        prop::collection::vec(mutation(), 1..6),
    );
    run(400, strategy, |dir, (target, encoding, mutations)| {
        load(dir, &hostile_dataset(target, encoding, &mutations)).map(drop)
    });
}

#[test]
fn memory_follows_what_a_gzip_file_decompresses_to() {
    // 2,000 blank images compress about a thousandfold: the reader holds what they
    // decompress to (as the format requires), and no more.
    let dir = tempfile::tempdir().unwrap();
    let blank = idx_bytes(3, &[2000, 28, 28], &vec![0; 2000 * 784]);
    let mut files = mnist_files().map(|bytes| File { bytes, gz: false });
    files[0] = File {
        bytes: gzip(&blank),
        gz: true,
    };
    files[1] = File {
        bytes: labels(&[3; 2000]),
        gz: false,
    };
    assert!(files[0].bytes.len() * 100 < blank.len());
    assert!(load(dir.path(), &files).unwrap());
}

// ---------------------------------------------------------------------------------------
// The checks can fail.

/// A reader that trusts the header: it reserves the bytes the dimensions declare before
/// reading them, as `Vec::with_capacity(count * 28 * 28)` would.
fn trusting_read(path: &Path) -> Result<Vec<u8>, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut header = [0; 16];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let dims: Vec<usize> = header[4..]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes(d.try_into().unwrap()) as usize)
        .collect();
    if dims[0] > 1_000_000 {
        return Err("absurd count".into()); // the real reader's limit, even so
    }
    let mut data = Vec::with_capacity(dims.iter().product());
    file.read_to_end(&mut data).map_err(|e| e.to_string())?;
    Ok(data)
}

#[test]
fn the_bounds_catch_a_reader_that_trusts_the_header() {
    let dir = tempfile::tempdir().unwrap();
    // Declares 100,000 images; holds 16 bytes of header and none of the data.
    let liar = idx_bytes(3, &[100_000, 28, 28], &[]);
    let mut files = mnist_files().map(|bytes| File { bytes, gz: false });
    files[0] = File {
        bytes: liar.clone(),
        gz: false,
    };
    // The real reader refuses it, within the bounds.
    assert!(!load(dir.path(), &files).unwrap());

    let path = dir.path().join(MNIST_NAMES[0]);
    let (result, usage) = measured(move || trusting_read(&path).is_ok());
    assert!(result);
    let error = check_usage(liar.len(), usage).expect_err("the bounds should catch it");
    assert!(error.contains("at once"), "{error}");
}

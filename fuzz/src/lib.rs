//! What the fuzz targets share: the networks the safetensors target loads into, the
//! small valid MNIST files the IDX target surrounds its hostile file with, a scratch
//! directory, and a counting allocator that turns "allocates more than the file can
//! justify" into a crash the fuzzer reports, like a panic.
//!
//! The networks, the files, the allocator and the allocation bounds are those of the CI
//! property tests (`tests/hostile_bytes.rs`, `nn-core/tests/hostile_idx.rs`), from the
//! same files under `tests/support/`, included by path: a few times what the input
//! holds, plus a constant.

use std::path::PathBuf;

#[path = "../../tests/support/counting.rs"]
mod counting;
#[path = "../../tests/support/idx_files.rs"]
mod idx_files;
#[path = "../../tests/support/safetensors_nets.rs"]
mod safetensors_nets;

pub use idx_files::peak_bound as mnist_bound;
pub use idx_files::{gunzipped_len, gzip, idx_bytes, images, mnist_files, MNIST_NAMES};
pub use safetensors_nets::peak_bound as safetensors_bound;
pub use safetensors_nets::{Cnn, Mlp};

// ---------------------------------------------------------------------------------------
// Counting what the thread allocates.

/// Runs `f` on this thread and returns its result and the most bytes it held at once.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let (value, usage) = counting::measure(f);
    (value, usage.peak)
}

/// Panics (a crash for the fuzzer) if `peak` is above `bound`.
pub fn assert_within(what: &str, input_len: usize, peak: usize, bound: usize) {
    assert!(
        peak <= bound,
        "{what}: {input_len} bytes of input made the reader hold {peak} bytes at once \
         (bound {bound})"
    );
}

// ---------------------------------------------------------------------------------------
// Scratch files.

/// A directory of this process's own (the fuzzer may run several processes), in memory
/// when `/dev/shm` exists.
pub fn scratch_dir(name: &str) -> PathBuf {
    let shm = PathBuf::from("/dev/shm");
    let base = if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("frechet-fuzz-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create the scratch directory");
    dir
}

//! What the fuzz targets share: the networks the safetensors target loads into, the
//! small valid MNIST files the IDX target surrounds its hostile file with, a scratch
//! directory, and a counting allocator that turns "allocates more than the file can
//! justify" into a crash the fuzzer reports, like a panic.
//!
//! The allocation bounds are those of the CI property tests (`tests/hostile_bytes.rs`,
//! `nn-core/tests/hostile_idx.rs`): a few times what the input holds, plus a constant.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::path::PathBuf;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use frechet::prelude::*;

// ---------------------------------------------------------------------------------------
// Counting what the thread allocates.

/// Passes every request to the system allocator and keeps, per thread, the bytes live
/// now and the most ever live since [`measure`] started.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grow(bytes: usize) {
    let live = LIVE.with(|l| {
        l.set(l.get().saturating_add(bytes));
        l.get()
    });
    PEAK.with(|p| p.set(p.get().max(live)));
}

fn shrink(bytes: usize) {
    LIVE.with(|l| l.set(l.get().saturating_sub(bytes)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a move: for a moment both blocks exist.
        grow(new_size);
        shrink(layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result and the most bytes it held at once.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let value = f();
    (value, PEAK.with(Cell::get) - start)
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

// ---------------------------------------------------------------------------------------
// Safetensors.

network! {
    /// Rank-2 weights and rank-1 biases.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Mlp {
        input: [6],
        fc1: Dense(5) -> ReLU,
        fc2: Dense(3),
    }
}

network! {
    /// A rank-4 convolution kernel, and layers without parameters in between.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Cnn {
        input: [1, 6, 5],
        conv1: Conv2d(2, kernel = 3, padding = 1) -> ReLU,
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(3),
    }
}

/// What loading a safetensors file of `file_len` bytes may hold at once: the file, read
/// into a vector up to twice its length, its header parsed into a few words per JSON
/// value (the loader refuses headers with more than one value per 16 bytes beyond the
/// network's own and a few hundred), and a constant for the names, views and messages.
pub fn safetensors_bound(file_len: usize) -> usize {
    8 * file_len + 64 * 1024
}

// ---------------------------------------------------------------------------------------
// IDX.

/// The four MNIST file names, in the order `Mnist::load` reads them.
pub const MNIST_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// An IDX file of unsigned bytes.
pub fn idx_bytes(rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, rank];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

/// `count` 28×28 images of a blob, mostly zeros like MNIST.
pub fn images(count: u32) -> Vec<u8> {
    let mut data = Vec::new();
    for i in 0..count as usize {
        for r in 0..28 {
            for c in 0..28 {
                let (dr, dc) = (r as isize - 10 - i as isize, c as isize - 14);
                let inside = dr * dr + dc * dc < 40 + 10 * i as isize;
                data.push(if inside { (255 - 9 * (r + c)) as u8 } else { 0 });
            }
        }
    }
    idx_bytes(3, &[count, 28, 28], &data)
}

/// A small valid dataset, in the order of [`MNIST_NAMES`]: 3 training images and 2 test
/// images with their labels.
pub fn mnist_files() -> [Vec<u8>; 4] {
    [
        images(3),
        idx_bytes(1, &[3], &[5, 0, 9]),
        images(2),
        idx_bytes(1, &[2], &[1, 7]),
    ]
}

pub fn gzip(bytes: &[u8], level: Compression) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), level);
    encoder.write_all(bytes).expect("writing to a vector");
    encoder.finish().expect("writing to a vector")
}

/// The bytes `gz` decompresses to before its stream ends or turns out corrupt, like
/// `gunzip` (concatenated members included).
pub fn gunzipped_len(gz: &[u8]) -> usize {
    let mut decoder = MultiGzDecoder::new(gz);
    let mut buffer = [0; 8192];
    let mut total = 0;
    while let Ok(n @ 1..) = decoder.read(&mut buffer) {
        total += n;
    }
    total
}

/// What `Mnist::load` may hold at once for files of `idx_bytes` bytes of IDX data in all
/// (plain, or decompressed): each byte read into a vector up to twice its length, then an
/// `f32` pixel or a `usize` label in a vector that grows by doubling, and a constant for
/// the file and gzip buffers.
pub fn mnist_bound(idx_bytes: usize) -> usize {
    16 * idx_bytes + 256 * 1024
}

//! Valid MNIST files and what reading them may cost, for the hostile-input tests of the
//! IDX reader behind `Mnist::load` (`nn-core/tests/hostile_idx.rs`) and its fuzz target
//! (through `fuzz/src/lib.rs`), which include this file by path: both surround a hostile
//! file with valid ones, and both hold the reader to the same bounds.

#![allow(dead_code)] // each includer uses its own subset

use std::io::{Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

/// The four MNIST file names, in the order `Mnist::load` reads them.
pub const MNIST_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// An IDX file of unsigned bytes (element type `0x08`) of `rank` dimensions: the magic
/// number, the dimensions `dims` (as many as the file says or not, for hostile files)
/// and `data`.
pub fn idx_bytes(rank: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, rank];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes.extend_from_slice(data);
    bytes
}

/// `count` 28×28 images of a blob whose size and place vary: mostly zeros, like MNIST,
/// so that gzip has runs to compress.
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

/// A labels file holding `values`.
pub fn labels(values: &[u8]) -> Vec<u8> {
    idx_bytes(1, &[values.len() as u32], values)
}

/// A small valid dataset, in the order of [`MNIST_NAMES`]: 3 training images and 2 test
/// images with their labels.
pub fn mnist_files() -> [Vec<u8>; 4] {
    [images(3), labels(&[5, 0, 9]), images(2), labels(&[1, 7])]
}

/// `bytes` gzipped at `level`.
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

/// Bytes `Mnist::load` may hold at once for files holding `idx_bytes` bytes of IDX data
/// in all (plain, or once decompressed). Each byte of data is read into a vector that
/// may be up to twice its length, then becomes an `f32` pixel (4 bytes) or a `usize`
/// label (8 bytes, collected into a vector that grows by doubling, both blocks counted
/// while it moves): 16 bytes a byte at most. The constant covers the file and gzip
/// buffers, the paths and the error messages.
pub fn peak_bound(idx_bytes: usize) -> usize {
    16 * idx_bytes + 256 * 1024
}

/// Bytes `Mnist::load` may request in all: the same, with every vector's growth.
pub fn requested_bound(idx_bytes: usize) -> usize {
    32 * idx_bytes + 512 * 1024
}

//! The networks the hostile-input tests of the safetensors loader load into, and what a
//! load may cost, for the property tests (`tests/hostile_bytes.rs`) and the fuzz target
//! (through `fuzz/src/lib.rs`), which include this file by path: both try the same
//! layouts of tensors and hold the loader to the same bounds.

#![allow(dead_code)] // each includer uses its own subset

use frechet::prelude::*;

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

/// Bytes a load may keep live at once, for a file of `file_len` bytes: the file itself
/// (read into a vector that may be up to twice as long as what it holds), its header
/// parsed at some 64 bytes per JSON value (the loader refuses more than one value per 16
/// bytes of header, beyond the network's own and a few hundred: up to 6 times the file),
/// and a constant for the paths, views, names and error messages of a small network.
pub fn peak_bound(file_len: usize) -> usize {
    8 * file_len + 64 * 1024
}

/// Bytes a load may request in all: the vector's growth and the parser's buffers.
pub fn requested_bound(file_len: usize) -> usize {
    12 * file_len + 128 * 1024
}

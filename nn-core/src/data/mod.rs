//! Datasets.
//!
//! [`Mnist`] loads the MNIST handwritten digits from the four IDX files of the original
//! distribution, plain or gzip-compressed, into `ndarray` arrays ready for a network:
//! images as `(N, 1, 28, 28)` `f32` in `[0, 1]`, labels as class indices.
//!
//! Reading is strict and defensive: a missing, truncated, corrupt or hostile file is an
//! [`Error`](crate::Error) naming the file, never a panic, and a header cannot make the
//! reader allocate more memory than the bytes actually present (for gzip, the bytes the
//! stream really decompresses to, capped at 1,000,000 images).

mod idx;
mod mnist;

pub use mnist::Mnist;

//! Datasets (stub, being written).

mod mnist;

pub use mnist::Mnist;

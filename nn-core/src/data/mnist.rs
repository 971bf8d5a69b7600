//! MNIST (stub, being written).

use std::path::Path;

use ndarray::Array4;

use crate::Error;

/// MNIST.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// Training images.
    pub train_images: Array4<f32>,
    /// Training labels.
    pub train_labels: Vec<usize>,
    /// Test images.
    pub test_images: Array4<f32>,
    /// Test labels.
    pub test_labels: Vec<usize>,
}

impl Mnist {
    /// Loads.
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, Error> {
        let _ = dir;
        unimplemented!()
    }
}

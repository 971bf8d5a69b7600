//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use frechet::ndarray::{Array, Array2, Array4};
use frechet::Network;

/// Every parameter of `net`, layer by layer, tensor by tensor, in row-major order.
pub fn params<N: Network>(net: &N) -> Vec<N::Elem> {
    net.layers()
        .iter()
        .flat_map(|(_, layer)| (0..layer.param_names().len()).flat_map(|i| layer.param(i).to_vec()))
        .collect()
}

/// Overwrites every parameter of `net` with `values`, in the order of [`params`].
pub fn set_params<N: Network>(net: &mut N, values: &[N::Elem]) {
    let mut values = values.iter();
    for (_, layer) in net.layers_mut() {
        for i in 0..layer.param_names().len() {
            for p in layer.param_mut(i) {
                *p = *values.next().expect("as many values as parameters");
            }
        }
    }
    assert!(values.next().is_none(), "more values than parameters");
}

/// A deterministic pseudo-random stream of test data in [-1, 1) (xorshift).
pub struct Stream(pub u64);

impl Stream {
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    pub fn matrix(&mut self, rows: usize, cols: usize) -> Array2<f32> {
        Array::from_shape_simple_fn((rows, cols), || self.next())
    }
}

impl Stream {
    /// A batch of images (N, C, H, W).
    pub fn images(&mut self, shape: (usize, usize, usize, usize)) -> Array4<f32> {
        Array::from_shape_simple_fn(shape, || self.next())
    }
}

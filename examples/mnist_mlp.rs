//! Trains W1 — 784 → Dense 128 → ReLU → Dense 10 — on the bundled MNIST digits.
//!
//! ```text
//! cargo run --release --example mnist_mlp
//! cargo run --release --example mnist_mlp -- --epochs 5 --lr 0.1 --save mlp.safetensors
//! cargo run --release --example mnist_mlp -- --data /path/to/full/mnist
//! ```
//!
//! Defaults: SGD with momentum 0.9, learning rate 0.05 decayed by 0.85 per epoch, batch
//! 32, 15 epochs.

mod common;

use std::process::ExitCode;

use frechet::ndarray::{Array4, ArrayView2, Axis};
use frechet::prelude::*;

network! {
    /// The multilayer perceptron of workload W1.
    pub struct Mlp {
        input: [784],
        fc1: Dense(128) -> ReLU,
        fc2: Dense(10),
    }
}

fn main() -> ExitCode {
    common::main_with(common::Recipe::MOMENTUM, |args| {
        let mnist = common::load(&args)?;
        print!("{}", Mlp::SUMMARY);
        let mut net = Mlp::new(args.seed);
        let (train, test) = (rows(&mnist.train_images), rows(&mnist.test_images));
        common::train(&args, &mnist, &mut net, train, test)
    })
}

/// (N, 1, 28, 28) images seen as (N, 784) rows, without a copy.
fn rows(images: &Array4<f32>) -> ArrayView2<'_, f32> {
    let n = images.len_of(Axis(0));
    images
        .view()
        .into_shape_with_order((n, images.len() / n.max(1)))
        .expect("the loader returns contiguous images")
}

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
        // (N, 1, 28, 28) images as (N, 784) rows, without a copy.
        let (train, test) = (mnist.train_vectors(), mnist.test_vectors());
        common::train(&args, &mnist, &mut net, train.view(), test.view())
    })
}

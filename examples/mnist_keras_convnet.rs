//! The network of Keras' "Simple MNIST convnet" example, with its recipe, on the bundled
//! MNIST digits.
//!
//! ```text
//! cargo run --release --example mnist_keras_convnet
//! ```
//!
//! Defaults, as that example: Adam with learning rate 0.001, batch 128, 15 epochs.
//! PyTorch, with the same network, recipe and split, reaches 0.9820 and 0.9805 for two
//! seeds. Dropout is on in training and off in `forward`.

mod common;

use std::process::ExitCode;

use common::{Method, Recipe};
use frechet::prelude::*;

network! {
    /// Keras' simple MNIST convnet.
    pub struct KerasConvnet {
        input: [1, 28, 28],
        conv1: Conv2d(32, kernel = 3) -> ReLU, // 32×26×26
        pool1: MaxPool2d(2),                   // 32×13×13
        conv2: Conv2d(64, kernel = 3) -> ReLU, // 64×11×11
        pool2: MaxPool2d(2),                   // 64×5×5
        flat:  Flatten,                        // 1600
        drop:  Dropout(0.5),
        fc:    Dense(10),
    }
}

const RECIPE: Recipe = Recipe {
    method: Method::Adam,
    epochs: 15,
    batch_size: 128,
    lr: 1e-3,
    lr_decay: 1.0,
};

fn main() -> ExitCode {
    common::main_with(RECIPE, |args| {
        let mnist = common::load(&args)?;
        print!("{}", KerasConvnet::SUMMARY);
        let mut net = KerasConvnet::new(args.seed);
        let (train, test) = (mnist.train_images.view(), mnist.test_images.view());
        common::train(&args, &mnist, &mut net, train, test)
    })
}

//! LeNet-5 with batch normalisation and dropout, on the bundled MNIST digits.
//!
//! ```text
//! cargo run --release --example mnist_batchnorm_lenet
//! ```
//!
//! Defaults: SGD with momentum 0.9, learning rate 0.05 decayed by 0.85 per epoch, batch
//! 32, 15 epochs. PyTorch, with the same network, recipe and split, reaches 0.9870 and
//! 0.9865 for two seeds. In training (`train_step`) batch normalisation uses the
//! statistics of each batch and updates its running ones, and dropout is on; `forward`
//! uses the running statistics and no dropout, as PyTorch's `model.eval()`.

mod common;

use std::process::ExitCode;

use frechet::prelude::*;

network! {
    /// LeNet-5 with a batch normalisation after each layer but the last two.
    pub struct BatchNormLeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5),    // 6×24×24
        bn1:   BatchNorm2d -> ReLU,
        pool1: MaxPool2d(2),             // 6×12×12
        conv2: Conv2d(16, kernel = 5),   // 16×8×8
        bn2:   BatchNorm2d -> ReLU,
        pool2: MaxPool2d(2),             // 16×4×4
        flat:  Flatten,                  // 256
        fc1:   Dense(120),
        bn3:   BatchNorm1d -> ReLU,
        drop:  Dropout(0.25),
        fc2:   Dense(84) -> ReLU,
        fc3:   Dense(10),
    }
}

fn main() -> ExitCode {
    common::main_with(common::Recipe::MOMENTUM, |args| {
        let mnist = common::load(&args)?;
        print!("{}", BatchNormLeNet::SUMMARY);
        let mut net = BatchNormLeNet::new(args.seed);
        let (train, test) = (mnist.train_images.view(), mnist.test_images.view());
        common::train(&args, &mnist, &mut net, train, test)
    })
}

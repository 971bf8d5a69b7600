//! Trains W3 — LeNet-5 — on the bundled MNIST digits.
//!
//! ```text
//! cargo run --release --example mnist_lenet
//! cargo run --release --example mnist_lenet -- --plot curves.svg --save lenet.safetensors
//! cargo run --release --example mnist_lenet -- --holdout 1000 --patience 3
//! cargo run --release --example mnist_lenet -- --data /path/to/full/mnist
//! ```
//!
//! Defaults: SGD with momentum 0.9, learning rate 0.05 decayed by 0.85 per epoch, batch
//! 32, 15 epochs — the settings under which PyTorch reaches 0.977–0.981 on this split.

mod common;

use std::process::ExitCode;

use frechet::prelude::*;

network! {
    /// LeNet-5 for 28×28 digits: workload W3.
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5) -> ReLU,
        pool2: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(120) -> ReLU,
        fc2:   Dense(84) -> ReLU,
        fc3:   Dense(10),
    }
}

fn main() -> ExitCode {
    common::main_with(common::Recipe::MOMENTUM, |args| {
        let mnist = common::load(&args)?;
        print!("{}", LeNet::SUMMARY);
        let mut net = LeNet::new(args.seed);
        let (train, test) = (mnist.train_images.view(), mnist.test_images.view());
        common::train(&args, &mnist, &mut net, train, test)
    })
}

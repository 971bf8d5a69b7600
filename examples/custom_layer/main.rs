//! A layer written outside the library, declared in `network!` like a built-in: a
//! depthwise separable convolution (a depthwise convolution of our own, `depthwise.rs`,
//! then a built-in 1×1 convolution) trained on the bundled MNIST digits.
//!
//! ```text
//! cargo run --release --example custom_layer
//! cargo expand --example custom_layer        # the generated backward pass
//! ```
//!
//! `network!` checks the shapes through the layer at compile time: `dw` gets 16×12×12
//! from `pool1`, its own rule (`Layer::OUTPUT_SHAPE`) gives 16×8×8, and every layer after
//! it is checked against that. Change `DepthwiseConv2d(5)` to `DepthwiseConv2d(13)` and
//! the build stops with "`dw` receives 16×12×12, but its kernel is larger than the image",
//! on that line.

#[path = "../common/mod.rs"]
mod common;
mod depthwise;

use std::process::ExitCode;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;

network! {
    /// A small convnet with a depthwise separable block.
    pub struct Separable {
        input: [1, 28, 28],
        conv1: Conv2d(16, kernel = 5) -> ReLU,   // 16×24×24
        pool1: MaxPool2d(2),                     // 16×12×12
        dw:    DepthwiseConv2d(5),               // 16×8×8: our layer, one 5×5 kernel per channel
        pw:    Conv2d(32, kernel = 1) -> ReLU,   // 32×8×8: the channels mixed
        pool2: MaxPool2d(2),                     // 32×4×4
        flat:  Flatten,                          // 512
        fc1:   Dense(64) -> ReLU,
        fc2:   Dense(10),
    }
}

fn main() -> ExitCode {
    common::main_with(common::Recipe::MOMENTUM, |args| {
        let mnist = common::load(&args)?;
        print!("{}", Separable::SUMMARY);
        let mut net = Separable::new(args.seed);
        let (train, test) = (mnist.train_images.view(), mnist.test_images.view());
        common::train(&args, &mnist, &mut net, train, test)
    })
}

// The layers after a user's layer are checked against the shape its rule gives.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::ndarray::Array4;
use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        dw: DepthwiseConv2d(5),
        fc: Dense(10),
    }
}

fn main() {
    let mut net = Net::new(0);
    let x = Array4::<f32>::zeros((2, 1, 28, 28));
    net.train_step(x.view(), &[0, 1][..], &SoftmaxCrossEntropy, &mut Sgd::new(0.1));
}

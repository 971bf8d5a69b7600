// A layer of the user's that cannot take its input is an error on its line, in its own
// words, with the shape it received.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        dw: DepthwiseConv2d(13),
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {
    let _ = Net::new(0);
}

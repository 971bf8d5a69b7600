// A layer of the user's that cannot take its input is an error on its line, in its own
// words, with the shape it received.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;

network! {
    struct Net {
        input: [2, 12, 12],
        dw: DepthwiseConv2d(13) -> Tanh,
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {
    let _ = Net::new(0);
}

// A user's layer takes its arguments in order: they are its type's generic parameters.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        dw: DepthwiseConv2d(kernel = 5),
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {
    let _ = Net::new(0);
}

// After a user's layer, the kind of batch normalisation is still checked against the
// shape the layer's rule gives.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;

network! {
    struct Net {
        input: [2, 12, 12],
        dw: DepthwiseConv2d(3),
        bn: BatchNorm1d -> ReLU,
        flat: Flatten,
        fc: Dense(2),
    }
}

fn main() {
    let _ = Net::new(0);
}

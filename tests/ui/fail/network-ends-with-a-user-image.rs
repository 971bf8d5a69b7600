// A network that ends with an image from a user's layer is refused, as with a built-in.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        dw: DepthwiseConv2d(5),
    }
}

fn main() {
    let _ = Net::new(0);
}

// Softmax is not pointwise: it lives in the loss.
use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        fc: Dense(2) -> Softmax,
    }
}

fn main() {}

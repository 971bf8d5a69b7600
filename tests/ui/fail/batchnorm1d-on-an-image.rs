use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 8, 8],
        conv: Conv2d(4, kernel = 3),
        bn: BatchNorm1d -> ReLU,
        flat: Flatten,
        fc: Dense(2),
    }
}

fn main() {}

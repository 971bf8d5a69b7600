use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        fc1: Dense(8),
        bn: BatchNorm1d(eps = 0.0, momentum = 1.5) -> ReLU,
        fc2: Dense(2),
    }
}

fn main() {}

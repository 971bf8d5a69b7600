use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        fc1: Dense(8) -> ReLU,
        drop: Dropout,
        fc2: Dense(2),
    }
}

fn main() {}

use frechet::prelude::*;

network! {
    struct Net {
        input: [0],
        fc1: Dense(8) -> ReLU,
        fc2: Dense(2),
    }
}

fn main() {}

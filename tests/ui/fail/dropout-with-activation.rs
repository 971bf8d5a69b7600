use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        fc1: Dense(8),
        drop: Dropout(0.5) -> ReLU,
        fc2: Dense(2),
    }
}

fn main() {}

use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        input: Dense(8) -> ReLU,
        fc2: Dense(2),
    }
}

fn main() {}

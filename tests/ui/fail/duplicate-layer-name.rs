use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        fc: Dense(8) -> ReLU,
        fc: Dense(2),
    }
}

fn main() {}

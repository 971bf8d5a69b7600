use frechet::prelude::*;

network! {
    struct Net {
        input: [28, 28],
        fc1: Dense(10),
    }
}

fn main() {}

use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28.0, 28],
        fc: Dense(10),
    }
}

fn main() {}

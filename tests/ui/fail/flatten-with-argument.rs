use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        flat: Flatten(1),
        fc: Dense(10),
    }
}

fn main() {}

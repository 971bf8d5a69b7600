use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        conv: Conv2d(6, kernal = 5),
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {}

use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 2, 2],
        conv: Conv2d(4, kernel = 5, padding = 1),
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {}

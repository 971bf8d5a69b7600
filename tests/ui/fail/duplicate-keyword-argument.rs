use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5, stride = 1, stride = 2),
        flat: Flatten,
        fc1: Dense(10),
    }
}

fn main() {}

use frechet::prelude::*;

network! {
    struct Net {
        input: [784],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        flat: Flatten,
        fc1: Dense(10),
    }
}

fn main() {}

use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        pool1: MaxPool2d(2, stride = 0),
        flat: Flatten,
        fc1: Dense(10),
    }
}

fn main() {}

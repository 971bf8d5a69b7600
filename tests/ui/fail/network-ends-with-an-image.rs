use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
    }
}

fn main() {}

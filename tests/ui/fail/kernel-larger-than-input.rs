use frechet::prelude::*;

network! {
    struct Net {
        input: [1, 12, 12],
        conv1: Conv2d(6, kernel = 5) -> ReLU, // 6×8×8
        pool1: MaxPool2d(2),                  // 6×4×4
        conv2: Conv2d(16, kernel = 5),
        flat: Flatten,
        fc1: Dense(10),
    }
}

fn main() {}

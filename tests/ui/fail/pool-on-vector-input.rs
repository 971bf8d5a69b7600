use frechet::prelude::*;

network! {
    struct Net {
        input: [784],
        pool: MaxPool2d(2),
        fc: Dense(10),
    }
}

fn main() {}

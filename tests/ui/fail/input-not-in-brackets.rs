use frechet::prelude::*;

network! {
    struct Net {
        input: 784,
        fc: Dense(10),
    }
}

fn main() {}

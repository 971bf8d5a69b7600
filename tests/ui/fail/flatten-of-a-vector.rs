use frechet::prelude::*;

network! {
    struct Net {
        input: [784],
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {}

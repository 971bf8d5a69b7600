use frechet::prelude::*;

network! {
    struct Huge {
        input: [4294967296],
        fc1: Dense(4294967296),
    }
}

fn main() {}

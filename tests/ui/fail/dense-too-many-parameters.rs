use frechet::prelude::*;

network! {
    struct Huge {
        input: [4294967295],
        fc1: Dense(4294967295),
    }
}

fn main() {}

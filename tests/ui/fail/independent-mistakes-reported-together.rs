use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
        fc1: Dens(8) -> ReLU,
        fc2: Dense(0) -> Relu,
        fc1: Dense(2),
    }
}

fn main() {}

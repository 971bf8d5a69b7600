use frechet::prelude::*;

network! {
    struct Net {
        input: [4],
    }
}

fn main() {}

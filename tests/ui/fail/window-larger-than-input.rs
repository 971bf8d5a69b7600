use frechet::prelude::*;

network! {
    struct Net {
        input: [3, 8, 3],
        pool: AvgPool2d(4),
        flat: Flatten,
        fc: Dense(10),
    }
}

fn main() {}

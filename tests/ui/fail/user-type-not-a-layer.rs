// A type that does not implement the layer contract.
use frechet::prelude::*;

pub struct Scale<I>(I);

network! {
    struct Net {
        input: [4],
        scale: Scale,
        fc: Dense(2),
    }
}

fn main() {
    let _ = Net::new(0);
}

// A layer of the user's written for f32 alone takes no element type, so a network of
// f64 cannot declare it.
#[path = "../support/scale.rs"]
mod user;

use frechet::prelude::*;

network! {
    struct Net<f64> {
        input: [4],
        scale: user::Scale,
        fc: Dense(2),
    }
}

fn main() {}

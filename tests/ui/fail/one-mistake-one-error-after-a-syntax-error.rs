// A syntax error, too, is the only error.
use frechet::ndarray::Array2;
use frechet::prelude::*;

network! {
    struct Mlp {
        input: [784],
        fc1: Dense(128) -> ReLU
        fc2: Dense(10),
    }
}

fn main() {
    let net = Mlp::new(0);
    let logits = net.forward(Array2::<f32>::zeros((1, 784)).view());
    println!("{logits}");
}

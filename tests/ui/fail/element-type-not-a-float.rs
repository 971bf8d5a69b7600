use frechet::prelude::*;

network! {
    struct Net<i32> {
        input: [4],
        fc1: Dense(8) -> ReLU,
        fc2: Dense(2),
    }
}

fn main() {
    // The stand-in is a network of f32: this use adds no error.
    let _ = Net::new(0).forward(frechet::ndarray::Array2::<f32>::zeros((1, 4)).view());
}

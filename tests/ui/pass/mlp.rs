//! A valid network with doc comments and attributes on the struct and its layers, used
//! from `main`. `missing_docs` checks that everything public the macro writes has docs,
//! `unsafe_code` that it writes no `unsafe`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use frechet::ndarray::Array2;
use frechet::prelude::*;

network! {
    /// A multilayer perceptron with every activation.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Mlp {
        input: [4],
        /// The first hidden layer.
        #[allow(unused)]
        hidden1: Dense(8) -> ReLU,
        hidden2: Dense(8) -> LeakyReLU(0.01),
        hidden3: Dense(6) -> Sigmoid,
        hidden4: Dense(5) -> Tanh,
        out: Dense(3) -> Identity,
    }
}

fn main() {
    let mut net = Mlp::new(0);
    let x = Array2::from_elem((2, 4), 0.5);
    let loss = net.train_step(
        x.view(),
        &[0, 2][..],
        &SoftmaxCrossEntropy,
        &mut Sgd::new(0.1),
    );
    assert!(loss.is_finite());
    assert_eq!(net.forward(x.view()).dim(), (2, 3));
    assert_eq!(net.clone(), net);
    assert_eq!(Mlp::INPUT_SHAPE, [4]);
    assert_eq!(Mlp::OUTPUT_SHAPE, [3]);
    assert_eq!(Mlp::NUM_PARAMS, 5 * 8 + 9 * 8 + 9 * 6 + 7 * 5 + 6 * 3);
    let _ = net.hidden1.weight();
}

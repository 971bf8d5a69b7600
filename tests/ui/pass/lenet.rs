//! LeNet-5 as in the design, with every image layer kind, used from `main`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use frechet::ndarray::Array4;
use frechet::prelude::*;

network! {
    /// LeNet-5 for 28×28 digits, with an average pool for variety.
    #[derive(Clone, Debug, PartialEq)]
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5, stride = 1, padding = 2) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5) -> Tanh,
        pool2: AvgPool2d(2, stride = 2),
        flat: Flatten,
        fc1: Dense(120) -> ReLU,
        fc2: Dense(84) -> ReLU,
        fc3: Dense(10),
    }
}

fn main() {
    let mut net = LeNet::new(0);
    let x = Array4::from_elem((2, 1, 28, 28), 0.5);
    let loss = net.train_step(x.view(), &[0, 7][..], &SoftmaxCrossEntropy, &mut Sgd::new(0.1));
    assert!(loss.is_finite());
    assert_eq!(net.forward(x.view()).dim(), (2, 10));
    assert_eq!(net.clone(), net);
    assert_eq!(LeNet::INPUT_SHAPE, [1, 28, 28]);
    assert_eq!(LeNet::OUTPUT_SHAPE, [10]);
    // conv1 keeps 28×28 with padding 2, so flat sees 16×5×5.
    assert_eq!(
        LeNet::NUM_PARAMS,
        (25 + 1) * 6 + (150 + 1) * 16 + (400 + 1) * 120 + (120 + 1) * 84 + (84 + 1) * 10
    );
}

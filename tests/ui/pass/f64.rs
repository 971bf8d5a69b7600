// A network of f64: every built-in kind, a layer of the user's generic over the element
// type, and the generated API in f64.
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::ndarray::Array4;
use frechet::prelude::*;

network! {
    pub struct Net<f64> {
        input: [1, 12, 12],
        dw: DepthwiseConv2d(3) -> Tanh,        // 1×10×10
        conv: Conv2d(4, kernel = 3) -> ReLU,   // 4×8×8
        bn: BatchNorm2d,
        pool: MaxPool2d(2),                    // 4×4×4
        avg: AvgPool2d(2),                     // 4×2×2
        flat: Flatten,
        drop: Dropout(0.5),
        fc: Dense(3) -> LeakyReLU(0.1),
        bn1: BatchNorm1d,
        out: Dense(2),
    }
}

fn main() {
    let mut net = Net::new(0);
    let x = Array4::from_elem((3, 1, 12, 12), 0.25f64);
    let logits: frechet::ndarray::Array2<f64> = net.forward(x.view());
    assert_eq!(logits.dim(), (3, 2));
    let loss: f64 = net.train_step(x.view(), &[0, 1, 1][..], &SoftmaxCrossEntropy, &mut Adam::new(1e-3));
    assert!(loss.is_finite());
    let (_, grad) = net.loss_and_grads(x.view(), &[0, 1, 1][..], &SoftmaxCrossEntropy);
    assert_eq!(frechet::Network::num_params(&grad), Net::NUM_PARAMS);
    assert!(Net::SUMMARY.contains("parameters"));
}

// Layers and activations written outside the library are declared like built-ins: by
// name or by path, with arguments as their generic parameters, anywhere in the chain;
// the layers after them get their shapes from the layer's own rule.
#[path = "../support/scale.rs"]
mod user;
#[path = "../../../examples/custom_layer/depthwise.rs"]
mod depthwise;

use depthwise::DepthwiseConv2d;
use frechet::ndarray::{Array2, Array4};
use frechet::prelude::*;

/// An argument may be a constant, even one named like the macro's own.
const LEN: usize = 3;

network! {
    struct Mixed {
        input: [2, 9, 9],
        dw: DepthwiseConv2d(LEN) -> user::Softplus, // 2×7×7, by the layer's own rule
        conv: Conv2d(4, kernel = 3) -> ReLU,       // 4×5×5, checked against it
        pool: MaxPool2d(2),                        // 4×2×2
        flat: Flatten,                             // 16
        scale: user::Scale,                        // a path
        fc: Dense(3),
    }
}

network! {
    struct Scaled {
        input: [5],
        r#type: user::Scale -> Tanh,
        fc: Dense(2),
    }
}

network! {
    /// A network of one layer of the user's: its output is the network's.
    struct OnlyScale {
        input: [5],
        scale: user::Scale,
    }
}

fn main() {
    let mut only = OnlyScale::new(0);
    let x = Array2::from_elem((2, 5), 0.5f32);
    assert_eq!(only.forward(x.view()), x);
    assert_eq!(OnlyScale::OUTPUT_SHAPE, [5]);
    only.train_step(x.view(), x.view(), &MeanSquaredError, &mut Sgd::new(0.1));

    assert_eq!(Mixed::OUTPUT_SHAPE, [3]);
    assert_eq!(
        Mixed::NUM_PARAMS,
        (2 * 9 + 2) + (4 * 2 * 9 + 4) + 2 * 16 + (3 * 16 + 3)
    );
    assert!(Mixed::SUMMARY.contains("dw     DepthwiseConv2d → user::Softplus  2×7×7"), "{}", Mixed::SUMMARY);
    let mut net = Mixed::new(0);
    let x = Array4::from_shape_fn((3, 2, 9, 9), |(n, c, y, x)| ((n + c * 3 + y * 5 + x) % 7) as f32 / 7.0);
    let before = net.fc.weight().to_owned();
    let loss = net.train_step(x.view(), &[0, 1, 2][..], &SoftmaxCrossEntropy, &mut Sgd::new(0.1));
    assert!(loss.is_finite());
    assert_ne!(net.fc.weight(), before);
    assert_eq!(net.forward(x.view()).dim(), (3, 3));

    let mut scaled = Scaled::new(0);
    let x = Array2::from_elem((4, 5), 0.5f32);
    scaled.train_step(x.view(), &[0, 1, 0, 1][..], &SoftmaxCrossEntropy, &mut Adam::new(1e-3));
    assert_eq!(Scaled::NUM_PARAMS, 10 + 12);
}

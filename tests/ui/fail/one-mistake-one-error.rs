// The mistake in the declaration is the only error: the uses of the network below do
// not add errors about a missing type or missing methods.
use frechet::ndarray::Array4;
use frechet::prelude::*;

network! {
    #[derive(Clone)]
    struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        fc1: Dense(10),
    }
}

fn main() {
    let mut net = LeNet::new(0);
    let x = Array4::<f32>::zeros((2, 1, 28, 28));
    let loss = net.train_step(x.view(), &[0, 1][..], &SoftmaxCrossEntropy, &mut Sgd::new(0.1));
    let logits = net.forward(x.view());
    assert_eq!(logits.dim(), (2, LeNet::OUTPUT_SHAPE[0]));
    let [c, h, w] = LeNet::INPUT_SHAPE;
    let (_, grad) = net.clone().loss_and_grads(x.view(), &[0, 1][..], &SoftmaxCrossEntropy);
    grad.save_safetensors("grad.safetensors").unwrap();
    println!("{loss} {c} {h} {w} {}", LeNet::SUMMARY);
}

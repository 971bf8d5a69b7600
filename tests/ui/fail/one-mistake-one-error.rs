// The mistake in the declaration is the only error: the uses of the network below — every
// documented one — do not add errors about a missing type, method, constant or impl.
use frechet::ndarray::Array4;
use frechet::prelude::*;
use frechet::train::Trainer;

network! {
    #[derive(Clone, Debug, PartialEq)]
    struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        fc1: Dense(10),
    }
}

fn main() -> Result<(), frechet::Error> {
    let mut net = LeNet::new(0);
    let x = Array4::<f32>::zeros((2, 1, 28, 28));
    let loss = net.train_step(x.view(), &[0, 1][..], &SoftmaxCrossEntropy, &mut Sgd::new(0.1));
    let logits = net.forward(x.view());
    assert_eq!(logits.dim(), (2, LeNet::OUTPUT_SHAPE[0]));
    let [c, h, w] = LeNet::INPUT_SHAPE;
    let (_, grad) = net.clone().loss_and_grads(x.view(), &[0, 1][..], &SoftmaxCrossEntropy);
    grad.save_safetensors("grad.safetensors")?;
    net.save_safetensors("net.safetensors")?;
    assert_eq!(LeNet::load_safetensors("net.safetensors")?, LeNet::zeros());
    let memory = LeNet::STEP_FLOATS_PER_SAMPLE * 2
        + LeNet::STEP_FLOATS_FIXED
        + LeNet::SCRATCH_FLOATS_PER_THREAD
        + LeNet::NUM_PARAMS;
    Trainer::new(1, 2).fit(&mut net, &mut Adam::new(1e-3), x.view(), &[0, 1])?;
    println!("{loss} {c} {h} {w} {memory} {}", LeNet::SUMMARY);
    Ok(())
}

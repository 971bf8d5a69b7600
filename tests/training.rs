//! Training through the API `network!` generates: the loss goes down with every
//! optimizer, a step is exactly the update its rule says, initialisation is seeded, the
//! batch size may change between steps, and the compile-time facts and derives are right.

mod common;

use common::{params, Stream};
use frechet::ndarray::{s, Array2};
use frechet::prelude::*;
use frechet::Network;

network! {
    /// A small classifier: 8 features, 3 classes.
    #[derive(Clone, Debug, PartialEq)]
    pub struct Classifier {
        input: [8],
        /// The hidden layer.
        fc1: Dense(16) -> ReLU,
        fc2: Dense(12) -> Tanh,
        fc3: Dense(3),
    }
}

/// `n` samples of 8 features and their classes: noise plus a class-dependent shift in
/// two features, so the classes can be learnt but not trivially.
fn classification(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut data = Stream(seed);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7 + 1) % 3).collect();
    let mut x = data.matrix(n, 8);
    for (mut row, &label) in x.outer_iter_mut().zip(&labels) {
        row[label] += 1.0;
        row[label + 3] -= 0.5;
    }
    (x, labels)
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// The losses of `steps` training steps on one fixed batch, and the loss after them.
fn cross_entropy_run<O: Optimizer>(mut optimizer: O, steps: usize) -> (Vec<f32>, f32) {
    let (x, labels) = classification(16, 5);
    let mut net = Classifier::new(1);
    let losses = (0..steps)
        .map(|_| net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut optimizer))
        .collect();
    let last = SoftmaxCrossEntropy.loss(net.forward(x.view()).view(), &labels);
    (losses, last)
}

/// The loss after 20 steps is below half the first: far beyond what rounding or a
/// single lucky step could give (the numbers are deterministic; at the time of writing
/// they were 1.60 → 0.68 for SGD, 0.28 for momentum, 0.35 for Adam).
fn assert_halves<O: Optimizer>(optimizer: O) -> Vec<f32> {
    let (losses, last) = cross_entropy_run(optimizer, 20);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(
        last < 0.5 * losses[0],
        "loss went from {} to {last} only: {losses:?}",
        losses[0]
    );
    losses
}

#[test]
fn sgd_decreases_the_cross_entropy() {
    let losses = assert_halves(Sgd::new(0.1));
    // With a small step, plain gradient descent decreases the loss at every step.
    assert!(
        losses.windows(2).all(|w| w[1] < w[0]),
        "not decreasing: {losses:?}"
    );
}

#[test]
fn sgd_with_momentum_decreases_the_cross_entropy() {
    assert_halves(Sgd::momentum(0.05, 0.9));
}

#[test]
fn adam_decreases_the_cross_entropy() {
    assert_halves(Adam::new(0.01));
}

#[test]
fn adam_decreases_the_mean_squared_error() {
    let mut data = Stream(9);
    let x = data.matrix(16, 8);
    let y = data.matrix(16, 3) * 0.5;
    let mut net = Classifier::new(2);
    let mut adam = Adam::new(0.01);
    let first = net.train_step(x.view(), y.view(), &MeanSquaredError, &mut adam);
    for _ in 1..20 {
        net.train_step(x.view(), y.view(), &MeanSquaredError, &mut adam);
    }
    let last = MeanSquaredError.loss(net.forward(x.view()).view(), y.view());
    // 0.90 → 0.07 at the time of writing.
    assert!(last < 0.5 * first, "loss went from {first} to {last} only");
}

#[test]
fn train_step_returns_the_loss_before_the_update() {
    let (x, labels) = classification(16, 5);
    let mut net = Classifier::new(4);
    let mut sgd = Sgd::momentum(0.05, 0.9);
    for _ in 0..3 {
        // The same kernels in the same order: the loss before the update, bit for bit.
        let before = SoftmaxCrossEntropy.loss(net.forward(x.view()).view(), &labels);
        let returned = net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut sgd);
        assert_eq!(
            returned.to_bits(),
            before.to_bits(),
            "{returned} vs {before}"
        );
        let after = SoftmaxCrossEntropy.loss(net.forward(x.view()).view(), &labels);
        assert_ne!(after, before, "the step changed nothing");
    }
}

/// `|a − b| ≤ 1e-6 · max(|a|, |b|)`, for every parameter.
fn assert_relatively_close(actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len());
    for (i, (&a, &b)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 * a.abs().max(b.abs()),
            "parameter {i}: {a} after the step, {b} expected"
        );
    }
}

#[test]
fn sgd_step_is_theta_minus_lr_times_gradient() {
    let lr = 0.1;
    let (x, labels) = classification(16, 5);
    let mut net = Classifier::new(5);
    let mut sgd = Sgd::new(lr);
    // The second round runs with buffers left over from the first step.
    for _ in 0..2 {
        let (_, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
        let expected: Vec<f32> = params(&net)
            .iter()
            .zip(params(&grad))
            .map(|(theta, g)| theta - lr * g)
            .collect();
        net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut sgd);
        assert_relatively_close(&params(&net), &expected);
    }

    let mut data = Stream(3);
    let y = data.matrix(16, 3);
    let (_, grad) = net.loss_and_grads(x.view(), y.view(), &MeanSquaredError);
    let expected: Vec<f32> = params(&net)
        .iter()
        .zip(params(&grad))
        .map(|(theta, g)| theta - lr * g)
        .collect();
    net.train_step(x.view(), y.view(), &MeanSquaredError, &mut sgd);
    assert_relatively_close(&params(&net), &expected);
}

#[test]
fn initialisation_is_seeded_with_zero_biases() {
    assert_eq!(Classifier::new(7), Classifier::new(7));
    assert_eq!(
        bits(&params(&Classifier::new(7))),
        bits(&params(&Classifier::new(7)))
    );
    assert_ne!(params(&Classifier::new(7)), params(&Classifier::new(8)));
    let net = Classifier::new(7);
    for (name, layer) in net.layers() {
        assert!(layer.param(1).iter().all(|&b| b == 0.0), "{name}.bias");
        assert!(layer.param(0).iter().any(|&w| w != 0.0), "{name}.weight");
    }
    assert!(params(&Classifier::zeros()).iter().all(|&p| p == 0.0));
}

#[test]
fn initialisation_is_he_before_relu_and_xavier_otherwise() {
    let net = Classifier::new(3);
    // (fan_in, fan_out, bound): He-uniform √(6 / fan_in) before ReLU, Xavier-uniform
    // √(6 / (fan_in + fan_out)) before Tanh and the identity. Each pair of bounds is
    // far enough apart that the largest of the draws tells them apart.
    let expected = [
        (8.0f32, 16.0f32, (6.0f32 / 8.0).sqrt()),
        (16.0, 12.0, (6.0f32 / 28.0).sqrt()),
        (12.0, 3.0, (6.0f32 / 15.0).sqrt()),
    ];
    for ((name, layer), (fan_in, fan_out, bound)) in net.layers().into_iter().zip(expected) {
        let weights = layer.param(0);
        assert_eq!(weights.len() as f32, fan_in * fan_out);
        let max = weights.iter().fold(0.0f32, |m, &w| m.max(w.abs()));
        assert!(
            max < bound && max > 0.9 * bound,
            "{name}: largest weight {max}, bound {bound}"
        );
    }
}

#[test]
fn batch_size_may_change_between_steps() {
    let (x, labels) = classification(16, 6);
    let batches = [(0, 4), (4, 11), (11, 15), (3, 7), (0, 16)];
    let mut net = Classifier::new(9);
    let mut fresh = Classifier::new(9);
    let (mut adam, mut fresh_adam) = (Adam::new(0.01), Adam::new(0.01));
    for (start, end) in batches {
        let (x, labels) = (x.slice(s![start..end, ..]), &labels[start..end]);
        let loss = net.train_step(x, labels, &SoftmaxCrossEntropy, &mut adam);
        // A clone starts without buffers: every step of `fresh` allocates new ones.
        fresh = fresh.clone();
        let fresh_loss = fresh.train_step(x, labels, &SoftmaxCrossEntropy, &mut fresh_adam);
        assert_eq!(loss.to_bits(), fresh_loss.to_bits(), "batch {start}..{end}");
        assert_eq!(
            bits(&params(&net)),
            bits(&params(&fresh)),
            "batch {start}..{end}"
        );
    }
    assert_ne!(net, Classifier::new(9));
    let output = net.forward(x.slice(s![..7, ..]));
    assert_eq!(output.dim(), (7, 3));
}

#[test]
#[should_panic(expected = "`Classifier` expects a batch of shape [batch, 8], got [4, 7]")]
fn forward_panics_on_a_wrong_input_width() {
    Classifier::new(0).forward(Array2::zeros((4, 7)).view());
}

#[test]
#[should_panic(expected = "`Classifier` expects a batch of shape [batch, 8], got [2, 9]")]
fn train_step_panics_on_a_wrong_input_width() {
    let mut net = Classifier::new(0);
    let x = Array2::zeros((2, 9));
    net.train_step(
        x.view(),
        &[0, 1][..],
        &SoftmaxCrossEntropy,
        &mut Sgd::new(0.1),
    );
}

#[test]
#[should_panic(expected = "SoftmaxCrossEntropy: 3 labels for a batch of 2")]
fn train_step_panics_on_a_wrong_number_of_labels() {
    let mut net = Classifier::new(0);
    let x = Array2::zeros((2, 8));
    net.train_step(
        x.view(),
        &[0, 1, 2][..],
        &SoftmaxCrossEntropy,
        &mut Sgd::new(0.1),
    );
}

#[test]
fn compile_time_facts() {
    assert_eq!(Classifier::INPUT_SHAPE, [8]);
    assert_eq!(Classifier::OUTPUT_SHAPE, [3]);
    // Dense(out) after `in` features: out · in weights and out biases.
    let widths = [8, 16, 12, 3];
    let by_hand: usize = widths.windows(2).map(|w| w[1] * w[0] + w[1]).sum();
    assert_eq!(by_hand, 387);
    assert_eq!(Classifier::NUM_PARAMS, by_hand);
    assert_eq!(Classifier::new(0).num_params(), by_hand);

    let summary = Classifier::SUMMARY;
    for name in ["input", "fc1", "fc2", "fc3", "ReLU", "Tanh", "387"] {
        assert!(summary.contains(name), "`{name}` is not in\n{summary}");
    }
    // One row per layer, with its parameter count last.
    for (name, params) in [("fc1", 144), ("fc2", 204), ("fc3", 39)] {
        let row = summary
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("no row for `{name}` in\n{summary}"));
        assert!(row.ends_with(&params.to_string()), "row `{row}`");
    }
}

#[test]
fn derives_pass_through() {
    let (x, labels) = classification(4, 7);
    let mut net = Classifier::new(0);
    let clone = net.clone();
    assert_eq!(clone, net);
    // Buffers are not part of the value: a network that has trained on a batch still
    // equals a copy with the same parameters.
    net.train_step(
        x.view(),
        &labels[..],
        &SoftmaxCrossEntropy,
        &mut Sgd::new(0.0),
    );
    assert_eq!(net.clone(), net);
    assert_eq!(clone, net);
    net.train_step(
        x.view(),
        &labels[..],
        &SoftmaxCrossEntropy,
        &mut Sgd::new(0.1),
    );
    assert_ne!(clone, net);

    let debug = format!("{net:?}");
    for name in ["Classifier", "fc1", "fc2", "fc3"] {
        assert!(debug.contains(name), "`{name}` is not in {debug}");
    }
}

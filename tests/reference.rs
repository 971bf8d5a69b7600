//! frechet against PyTorch: loss, logits, gradients and optimizer trajectories on the
//! same weights and batches, from the fixtures `tools/make_references.py` wrote into
//! `tests/fixtures/reference/` (see `tools/README.md`; no Python runs here).
//!
//! Nine networks, seventeen batches: together every layer kind, activation and loss, with
//! stride 2, padding, non-square inputs, pooling windows that do not divide their input,
//! width-1 layers, batch 1 and larger batches (see the declarations below). For each
//! batch: the logits of `forward`, the loss and every gradient of `loss_and_grads`, and
//! the losses and parameters after 1 and 10 `train_step`s with `Sgd::new(0.1)`,
//! `Sgd::momentum(0.05, 0.9)` and `Adam::new(0.01)`, the last two also with
//! `weight_decay(0.05)`, and `AdamW::new(0.01).weight_decay(0.05)` on that batch, against
//! `torch.optim.SGD`, `Adam` and `AdamW` with the same settings; five of the networks
//! again in `f64`, against PyTorch's float64; and every schedule against PyTorch's
//! schedulers. The fixtures hold
//! PyTorch's results computed in float64 from the float32 weights and inputs, rounded to
//! float32: the exact answers as far as float32 can say them, so what is measured here is
//! frechet's own rounding error.
//!
//! # Tolerance
//!
//! Elementwise, `|a − b| ≤ 1e-5·|b| + 1e-5·S` ([`RTOL`], [`ATOL`]), where `S` is the
//! largest magnitude in the layer's tensors of the same quantity (`grad.conv1.weight`
//! and `grad.conv1.bias` together), or in the tensor itself for logits and losses. The
//! absolute term is needed because a sum that cancels cannot be more accurate than the
//! terms it sums: in `conv_mse/batch4` one channel of `grad.conv3.bias` sums 14 error
//! signals whose magnitudes add up to 0.19 into −1.0e-6, a cancellation by 2·10⁵;
//! frechet is off there by 2e-8, and PyTorch's own float32 by 8e-9. Adam's parameters
//! may differ by 1e-3·lr (1e-5) more ([`ADAM_SLACK`]): Adam divides each gradient by its
//! running root mean square, so a gradient that is mostly rounding noise (that same
//! −1.0e-6) still moves its parameter by nearly lr, and how far exactly depends on the
//! noise — a gradient error of 2e-8 moves that bias 2e-6 differently after one step.
//!
//! # Measured
//!
//! With torch 2.15.0, the largest relative error `max |a − b| / S` (the test prints these
//! and the closest calls; run it with `--nocapture`):
//!
//! | compared | frechet | PyTorch's own float32 |
//! |---|---|---|
//! | logits | 6.3e-7 | 6.3e-7 |
//! | loss | 7.4e-8 | 1.3e-7 |
//! | gradients of Dense layers | 3.7e-7 | |
//! | gradients of Conv2d layers | 6.4e-6 | |
//! | gradients through MaxPool2d / AvgPool2d / Flatten | 6.4e-6 / 4.6e-7 / 6.4e-6 | |
//! | gradients, all | 6.4e-6 | 3.3e-6 |
//! | gradients after ReLU / LeakyReLU / Sigmoid / Tanh / Identity / no arrow | 6.4e-6 / 3.7e-7 / 4.6e-7 / 2.5e-7 / 3.3e-6 / 2.3e-7 | |
//! | `Sgd::new`, parameters after 1 / 10 steps | 9.0e-8 / 2.1e-7 | 2.0e-7 |
//! | `Sgd::momentum`, after 1 / 10 steps | 7.6e-8 / 2.6e-7 | 2.3e-7 |
//! | `Adam::new`, after 1 / 10 steps | 4.2e-6 / 1.3e-5 | 6.9e-6 |
//!
//! The closest call is at 0.64 of the tolerance (`grad.conv3.bias` above); every other
//! comparison is under 0.3 of it. "Through" a pooling layer or flatten means the
//! gradients of the layers before it, whose error signal came back through its adjoint.
//! PyTorch's own float32 errors are printed by `tools/make_references.py` with the same
//! measure. The last two tests show that the comparison fails for a gradient wrong in one
//! element by 1e-4 relative, and for an optimizer that differs slightly in one setting.

#[path = "../examples/custom_layer/depthwise.rs"]
#[allow(dead_code)]
mod depthwise;
#[path = "reference/harness.rs"]
mod harness;

use depthwise::DepthwiseConv2d;
use frechet::prelude::*;
use frechet::{Network, Parameters, Scalar};
use harness::*;

/// The relative tolerance.
const RTOL: f64 = 1e-5;
/// The absolute tolerance, as a fraction of the scale `S` of the comparison.
const ATOL: f64 = 1e-5;
/// What Adam's parameters may differ by beyond that, as a fraction of its learning rate.
const ADAM_SLACK: f64 = 1e-3;

/// The optimizers of the fixtures, as `tools/make_references.py` runs them.
const SGD_LR: f64 = 0.1;
const MOMENTUM_LR: f64 = 0.05;
const MOMENTUM: f64 = 0.9;
const ADAM_LR: f64 = 0.01;
const WEIGHT_DECAY: f64 = 0.05;
/// The steps after which the fixtures hold the parameters, and the trajectory's length.
const SNAPSHOTS: [usize; 2] = [1, 10];

/// Declares a network for the fixtures and keeps its declaration as text, to compare
/// with the one the fixture was made for.
/// `struct A, B<f64> { … }` declares the network twice, `B` of `f64`.
macro_rules! reference_network {
    ($(#[doc = $doc:literal])* struct $name:ident, $name64:ident<f64> { $($body:tt)* }) => {
        reference_network! { $(#[doc = $doc])* struct $name { $($body)* } }
        reference_network! { $(#[doc = $doc])* struct $name64<f64> { $($body)* } }
    };
    ($(#[doc = $doc:literal])* struct $name:ident $(<$elem:ty>)? { $($body:tt)* }) => {
        network! {
            $(#[doc = $doc])*
            #[derive(Clone)]
            struct $name $(<$elem>)? { $($body)* }
        }

        impl $name {
            const DECLARATION: &'static str = stringify!($($body)*);
        }
    };
}

reference_network! {
    /// Every image layer kind with odd shapes: a non-square input, stride 2 with padding,
    /// a max pool whose window does not divide its 6×5 input, an average pool with
    /// overlapping windows, and a width-1 dense layer in the middle.
    struct ConvCe, ConvCeF64<f64> {
        input: [3, 11, 9],
        conv1: Conv2d(4, kernel = 3, stride = 2, padding = 1) -> LeakyReLU(0.1), // 4×6×5
        pool1: MaxPool2d(2),                                                     // 4×3×2
        conv2: Conv2d(6, kernel = 2, padding = 1) -> Tanh,                       // 6×4×3
        pool2: AvgPool2d(2, stride = 1),                                         // 6×3×2
        flat: Flatten,
        fc1: Dense(7) -> ReLU,
        fc2: Dense(1) -> Sigmoid,
        fc3: Dense(4),
    }
}

reference_network! {
    /// Regression through convolutions: kernel 4 with stride 2 and padding 2, an average
    /// pool with stride 2 that leaves the last column out, a 1×1 convolution to a single
    /// channel with an explicit identity, and a max pool with overlapping windows.
    struct ConvMse {
        input: [2, 13, 10],
        conv1: Conv2d(5, kernel = 4, stride = 2, padding = 2) -> Sigmoid, // 5×7×6
        pool1: AvgPool2d(3, stride = 2),                                  // 5×3×2
        conv2: Conv2d(1, kernel = 1) -> Identity,                         // 1×3×2
        conv3: Conv2d(3, kernel = 2, padding = 1) -> ReLU,                // 3×4×3
        pool2: MaxPool2d(2, stride = 1),                                  // 3×3×2
        flat: Flatten,
        fc1: Dense(5) -> Tanh,
        fc2: Dense(3),
    }
}

reference_network! {
    /// Dense layers with every activation, a width-1 layer among them.
    struct MlpCe {
        input: [7],
        fc1: Dense(12) -> ReLU,
        fc2: Dense(1) -> LeakyReLU(0.2),
        fc3: Dense(6) -> Sigmoid,
        fc4: Dense(5),
    }
}

reference_network! {
    /// Multi-label binary classification: three logits per sample, each against 0 or 1.
    struct MlpBce {
        input: [5],
        fc1: Dense(7) -> Tanh,
        fc2: Dense(3),
    }
}

reference_network! {
    /// Regression onto a single output.
    struct MlpMse {
        input: [4],
        fc1: Dense(6) -> Tanh,
        fc2: Dense(5) -> Identity,
        fc3: Dense(1),
    }
}

reference_network! {
    /// Large enough for the matrix products to take more than one block (a 320-wide
    /// dense input, 360 output positions in `conv1`), in LeNet's pattern.
    struct Medium, MediumF64<f64> {
        input: [3, 18, 20],
        conv1: Conv2d(8, kernel = 5, padding = 2) -> ReLU,  // 8×18×20
        pool1: MaxPool2d(2),                                // 8×9×10
        conv2: Conv2d(16, kernel = 3, padding = 1) -> ReLU, // 16×9×10
        pool2: AvgPool2d(2),                                // 16×4×5
        flat: Flatten,
        fc1: Dense(24) -> ReLU,
        fc2: Dense(10),
    }
}

reference_network! {
    /// A layer written outside the library — the depthwise convolution of
    /// `examples/custom_layer`, PyTorch's `Conv2d(4, 4, 3, groups=4)` — between built-ins.
    struct Separable, SeparableF64<f64> {
        input: [3, 10, 9],
        conv1: Conv2d(4, kernel = 3, padding = 1) -> Tanh, // 4×10×9
        dw: DepthwiseConv2d(3) -> ReLU,                    // 4×8×7
        pw: Conv2d(5, kernel = 1) -> Sigmoid,              // 5×8×7
        pool: MaxPool2d(2),                                // 5×4×3
        flat: Flatten,
        fc1: Dense(6) -> LeakyReLU(0.1),
        fc2: Dense(3),
    }
}

reference_network! {
    /// Dropout on an image with the fixture's mask (`mask.drop1`), and with p = 0 on a
    /// vector: training mode for the loss, gradients and trajectories, evaluation mode for
    /// the logits.
    struct WithDropout, WithDropoutF64<f64> {
        input: [2, 8, 8],
        conv1: Conv2d(4, kernel = 3) -> ReLU, // 4×6×6
        pool: MaxPool2d(2),                   // 4×3×3
        drop1: Dropout(0.25),
        flat: Flatten,
        fc1: Dense(10) -> ReLU,
        drop2: Dropout(0),
        fc2: Dense(3),
    }
}

reference_network! {
    /// Batch normalisation of an image's channels and of a vector's features, with
    /// activations before and after both: training mode for the loss, gradients and
    /// trajectories (with the running statistics after each), evaluation mode, with the
    /// fixture's running statistics, for the logits.
    struct WithBatchNorm, WithBatchNormF64<f64> {
        input: [2, 9, 8],
        conv1: Conv2d(3, kernel = 3) -> ReLU, // 3×7×6
        bn1: BatchNorm2d -> Sigmoid,
        pool: MaxPool2d(2),                   // 3×3×3
        flat: Flatten,
        fc1: Dense(8) -> Tanh,
        bn2: BatchNorm1d -> LeakyReLU(0.1),
        fc2: Dense(3),
    }
}

/// Gives a network's dropout layers `drop1` and `drop2` the masks of the fixture, as
/// PyTorch used them.
macro_rules! fix_masks {
    ($net:ty) => {
        |net: &mut $net, fixture: &Fixture| {
            net.drop1.fix_mask(Some(fixture.mask("mask.drop1")));
            net.drop2.fix_mask(Some(fixture.mask("mask.drop2")));
        }
    };
}

/// The networks' inputs and targets from a fixture, and what the generated methods do
/// with them.
macro_rules! case {
    ($net:ident, $file:literal, $batch:literal, $loss:ident, |$case:ident, $model:ident, $x:ident, $targets:ident| $body:block) => {{
        type Elem = <$net as Network>::Elem;
        let $case = Case::open(
            $file,
            $batch,
            $net::DECLARATION,
            <$loss as ReferenceLoss<Elem>>::NAME,
        );
        let $model = $net::load_safetensors($case.weights()).expect("the fixture's weights load");
        let $x = $case.fixture.input::<Elem, _>();
        let owned = <$loss as ReferenceLoss<Elem>>::read(&$case.fixture);
        let $targets = <$loss as ReferenceLoss<Elem>>::view(&owned);
        $body
    }};
}

/// Checks one network on one batch against its fixture: loss, logits, gradients and the
/// trajectories of the three optimizers.
macro_rules! check {
    ($report:expr, $net:ident, $file:literal, $batch:literal, $loss:ident) => {
        check!(
            $report,
            $net,
            $file,
            $batch,
            $loss,
            |_: &mut $net, _: &Fixture| {}
        )
    };
    // `prepare` gives the network what the fixture fixed (dropout masks).
    ($report:expr, $net:ident, $file:literal, $batch:literal, $loss:ident, $prepare:expr) => {
        case!($net, $file, $batch, $loss, |case, net, x, targets| {
            let report: &mut Report = $report;
            let mut net = net;
            ($prepare)(&mut net, &case.fixture);
            let logits = net.forward(x.view());
            let logits = logits.as_slice().expect("standard layout");
            case.compare(report, "logits", &["logits".into()], logits);
            if case.fixture.tensors.contains_key("probabilities") {
                let probabilities = net.predict_proba(x.view());
                let probabilities = probabilities.as_slice().expect("standard layout");
                case.compare(
                    report,
                    "probabilities",
                    &["probabilities".into()],
                    probabilities,
                );
            }
            let (loss, grad) = net.loss_and_grads(x.view(), targets, &$loss);
            case.compare(report, "loss", &["loss".into()], &[loss]);
            case.compare_params(report, "grad", &grad, 0.0, |layer| case.groups_of(layer));

            let mut sgd = Sgd::new(Elem::of_f64(SGD_LR));
            case.compare_trajectory(report, "sgd", 0.0, net.clone(), |n: &mut $net| {
                n.train_step(x.view(), targets, &$loss, &mut sgd)
            });
            let mut momentum = Sgd::momentum(Elem::of_f64(MOMENTUM_LR), Elem::of_f64(MOMENTUM));
            case.compare_trajectory(report, "momentum", 0.0, net.clone(), |n: &mut $net| {
                n.train_step(x.view(), targets, &$loss, &mut momentum)
            });
            let mut adam = Adam::new(Elem::of_f64(ADAM_LR));
            let slack = ADAM_SLACK * ADAM_LR * precision::<Elem>();
            case.compare_trajectory(report, "adam", slack, net.clone(), |n: &mut $net| {
                n.train_step(x.view(), targets, &$loss, &mut adam)
            });
            let decay = Elem::of_f64(WEIGHT_DECAY);
            let mut momentum_wd = Sgd::momentum(Elem::of_f64(MOMENTUM_LR), Elem::of_f64(MOMENTUM))
                .weight_decay(decay);
            case.compare_trajectory(report, "momentum_wd", 0.0, net.clone(), |n: &mut $net| {
                n.train_step(x.view(), targets, &$loss, &mut momentum_wd)
            });
            let mut adam_wd = Adam::new(Elem::of_f64(ADAM_LR)).weight_decay(decay);
            case.compare_trajectory(report, "adam_wd", slack, net.clone(), |n: &mut $net| {
                n.train_step(x.view(), targets, &$loss, &mut adam_wd)
            });
            let mut adamw = AdamW::new(Elem::of_f64(ADAM_LR)).weight_decay(decay);
            case.compare_trajectory(report, "adamw", slack, net.clone(), |n: &mut $net| {
                n.train_step(x.view(), targets, &$loss, &mut adamw)
            });
            case.fixture.meta("torch").to_string()
        })
    };
}

#[test]
fn every_network_matches_pytorch() {
    let mut report = Report::default();
    let mut torch = vec![
        check!(&mut report, ConvCe, "conv_ce", 1, SoftmaxCrossEntropy),
        check!(&mut report, ConvCe, "conv_ce", 6, SoftmaxCrossEntropy),
        check!(&mut report, ConvMse, "conv_mse", 1, MeanSquaredError),
        check!(&mut report, ConvMse, "conv_mse", 4, MeanSquaredError),
        check!(&mut report, MlpCe, "mlp_ce", 1, SoftmaxCrossEntropy),
        check!(&mut report, MlpCe, "mlp_ce", 9, SoftmaxCrossEntropy),
        check!(&mut report, MlpMse, "mlp_mse", 1, MeanSquaredError),
        check!(&mut report, MlpMse, "mlp_mse", 3, MeanSquaredError),
        check!(
            &mut report,
            MlpBce,
            "mlp_bce",
            1,
            BinaryCrossEntropyWithLogits
        ),
        check!(
            &mut report,
            MlpBce,
            "mlp_bce",
            6,
            BinaryCrossEntropyWithLogits
        ),
        check!(&mut report, Medium, "medium", 5, SoftmaxCrossEntropy),
        check!(&mut report, Separable, "separable", 1, SoftmaxCrossEntropy),
        check!(&mut report, Separable, "separable", 4, SoftmaxCrossEntropy),
        check!(
            &mut report,
            WithDropout,
            "dropout",
            1,
            SoftmaxCrossEntropy,
            fix_masks!(WithDropout)
        ),
        check!(
            &mut report,
            WithDropout,
            "dropout",
            5,
            SoftmaxCrossEntropy,
            fix_masks!(WithDropout)
        ),
        check!(
            &mut report,
            WithBatchNorm,
            "batchnorm",
            8,
            SoftmaxCrossEntropy
        ),
        check!(
            &mut report,
            WithBatchNorm,
            "batchnorm",
            12,
            SoftmaxCrossEntropy
        ),
    ];
    torch.dedup();
    report.finish(&format!(
        "frechet against PyTorch {}; |a − b| ≤ {RTOL:e}·|b| + {ATOL:e}·S \
         (+ {ADAM_SLACK:e}·lr for Adam's parameters)",
        torch.join(", ")
    ));
}

/// The networks of `f64` (`struct Net<f64>`) against PyTorch's float64 autograd and
/// optimizers, on fixtures stored in float64: every layer kind, dropout with the
/// fixture's mask, batch normalisation with its running statistics, and a layer written
/// outside the library.
#[test]
fn networks_of_f64_match_pytorch_in_f64() {
    let mut report = Report::default();
    check!(&mut report, MediumF64, "medium.f64", 5, SoftmaxCrossEntropy);
    check!(
        &mut report,
        ConvCeF64,
        "conv_ce.f64",
        6,
        SoftmaxCrossEntropy
    );
    check!(
        &mut report,
        SeparableF64,
        "separable.f64",
        4,
        SoftmaxCrossEntropy
    );
    check!(
        &mut report,
        WithDropoutF64,
        "dropout.f64",
        5,
        SoftmaxCrossEntropy,
        fix_masks!(WithDropoutF64)
    );
    check!(
        &mut report,
        WithBatchNormF64,
        "batchnorm.f64",
        8,
        SoftmaxCrossEntropy
    );
    report.finish(&format!(
        "networks of f64 against PyTorch's float64; |a − b| ≤ ({RTOL:e}·|b| + {ATOL:e}·S)·{:.1e}",
        precision::<f64>()
    ));
}

/// Every schedule against PyTorch's scheduler of the same settings, epoch by epoch from a
/// base rate of 0.1 (`schedules.safetensors`): `StepLR`, `ExponentialLR`,
/// `CosineAnnealingLR`, `LinearLR` then `CosineAnnealingLR` in a `SequentialLR`, and
/// `ReduceLROnPlateau` stepped with the fixture's losses.
#[test]
fn every_schedule_matches_pytorch_epoch_by_epoch() {
    use frechet::train::{Schedule, Scheduler, Warmup};
    let fixture = Fixture::open("schedules.safetensors");
    let losses = fixture.floats::<f64>("plateau.losses");
    let cosine = |t_max, warmup| Schedule::Cosine {
        t_max,
        eta_min: 0.001,
        warmup,
    };
    let schedules = [
        (
            "step",
            Schedule::Step {
                step_size: 3,
                gamma: 0.5,
            },
        ),
        ("exponential", Schedule::Exponential { gamma: 0.9 }),
        ("cosine", cosine(8, None)),
        (
            "warmup_cosine",
            cosine(
                6,
                Some(Warmup {
                    epochs: 3,
                    start_factor: 0.25,
                }),
            ),
        ),
        (
            "plateau",
            Schedule::Plateau {
                factor: 0.5,
                patience: 2,
                threshold: 1e-4,
                min_lr: 0.004,
            },
        ),
    ];
    for (name, schedule) in schedules {
        let expected = fixture.floats::<f64>(&format!("{name}.lrs"));
        let mut scheduler = Scheduler::new(schedule, 0.1);
        for (epoch, (&expected, &loss)) in expected.iter().zip(&losses).enumerate() {
            let rate = scheduler.learning_rate();
            assert!(
                (rate - expected).abs() <= 1e-12 * expected,
                "{name}, epoch {epoch}: {rate} against PyTorch's {expected}"
            );
            scheduler.step(loss);
        }
    }
}

/// The comparison is sharp enough to see a gradient that is wrong in one element by
/// ten times the relative tolerance.
#[test]
fn a_gradient_wrong_in_one_element_is_caught() {
    case!(
        ConvCe,
        "conv_ce",
        6,
        SoftmaxCrossEntropy,
        |case, net, x, labels| {
            let (_, mut grad) = net.loss_and_grads(x.view(), labels, &SoftmaxCrossEntropy);
            let mut report = Report::default();
            case.compare_params(&mut report, "grad", &grad, 0.0, |_| vec![]);
            assert_eq!(report.failures(), Vec::<String>::new());

            for (layer, tensor) in [(0, 0), (0, 1), (5, 0), (7, 1)] {
                let mut wrong = grad.clone();
                let (name, param) = wrong.layers_mut().swap_remove(layer);
                let values = param.param_mut(tensor);
                let largest = (0..values.len())
                    .max_by(|&i, &j| values[i].abs().total_cmp(&values[j].abs()))
                    .unwrap();
                values[largest] *= 1.0 + 10.0 * RTOL as f32;
                let mut report = Report::default();
                case.compare_params(&mut report, "grad", &wrong, 0.0, |_| vec![]);
                let failures = report.failures();
                assert_eq!(failures.len(), 1, "{name}: {failures:?}");
                assert!(
                    failures[0].contains(&format!("grad.{name}.")),
                    "{failures:?}"
                );
            }
            grad.fc3.param_mut(1)[0] = f32::NAN;
            let mut report = Report::default();
            case.compare_params(&mut report, "grad", &grad, 0.0, |_| vec![]);
            assert_eq!(report.failures().len(), 1);
        }
    )
}

/// The trajectories tell the optimizers' hyper-parameters apart: each of these differs
/// from the fixture's optimizer in one setting, slightly, and is caught.
#[test]
fn a_slightly_different_optimizer_is_caught() {
    case!(
        Medium,
        "medium",
        5,
        SoftmaxCrossEntropy,
        |case, net, x, labels| {
            // The comparisons each variant fails, of the trajectory of `optimizer`.
            let caught = |optimizer: &str, slack: f64, mut variant: Box<dyn Optimizer<f32>>| {
                let mut report = Report::default();
                case.compare_trajectory(
                    &mut report,
                    optimizer,
                    slack,
                    net.clone(),
                    |n: &mut Medium| {
                        n.train_step(x.view(), labels, &SoftmaxCrossEntropy, &mut variant)
                    },
                );
                report.failures().len()
            };
            let adam_slack = ADAM_SLACK * ADAM_LR;
            let lr = ADAM_LR as f32;
            let variants = [
                (
                    "lr × 1.001",
                    caught("sgd", 0.0, Box::new(Sgd::new(SGD_LR as f32 * 1.001))),
                ),
                (
                    "momentum 0.899",
                    caught(
                        "momentum",
                        0.0,
                        Box::new(Sgd::momentum(MOMENTUM_LR as f32, 0.899)),
                    ),
                ),
                (
                    "β₂ = 0.99",
                    caught(
                        "adam",
                        adam_slack,
                        Box::new(Adam::with_betas(lr, 0.9, 0.99, 1e-8)),
                    ),
                ),
                (
                    "ε = 1e-6",
                    caught(
                        "adam",
                        adam_slack,
                        Box::new(Adam::with_betas(lr, 0.9, 0.999, 1e-6)),
                    ),
                ),
            ];
            for (variant, failures) in variants {
                assert!(failures > 0, "{variant} was not caught");
                eprintln!("caught: {variant} in {failures} comparisons");
            }
        }
    )
}

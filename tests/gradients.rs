//! The generated backward pass against central finite differences of the generated
//! forward pass, in f32, and for a network of f64 to 1e-7 (at the end).
//!
//! Tolerance: a loss of size O(1) evaluated in f32 carries a rounding error of a few
//! ulps, about 5e-7, so a central difference with step h is off by about 5e-7 / 2h from
//! rounding plus h² · |L'''| / 6 from truncation. With h = 1e-2 both are near 2.5e-5, so
//! we accept |numeric − analytic| ≤ 2e-4 + 1e-2 · |analytic|: several times the expected
//! error, and far below the size of a wrong gradient (a test below checks that one is
//! caught). The kernels themselves are checked in f64 with tight tolerances in nn-core.
//!
//! ReLU and LeakyReLU have kinks where a finite difference that crosses one is wrong;
//! `check_kinked` recognises and skips those coordinates (see there).

mod common;

use common::{params, set_params, Stream};
use frechet::prelude::*;
use frechet::Network;

const H: f32 = 1e-2;
const TOLERANCE: f32 = 2e-4;
/// A smaller step for networks with kinks, so that fewer differences cross one; these
/// networks are piecewise quadratic, so there is no truncation error to trade against,
/// and the rounding error grows to about 1.25e-4.
const H_KINKED: f32 = 2e-3;
const TOLERANCE_KINKED: f32 = 1e-3;

/// `|numeric − analytic| ≤ absolute + 1e-2 · |analytic|`.
fn close(numeric: f32, analytic: f32, absolute: f32) -> bool {
    (numeric - analytic).abs() <= absolute + 1e-2 * analytic.abs()
}

/// The central difference of `loss_at` in coordinate `i` with step `h`.
fn central_difference<N: Network<Elem = f32>>(
    probe: &mut N,
    theta: &[f32],
    i: usize,
    h: f32,
    loss_at: &impl Fn(&N) -> f32,
) -> f32 {
    let mut shifted = theta.to_vec();
    shifted[i] = theta[i] + h;
    set_params(probe, &shifted);
    let plus = loss_at(probe);
    shifted[i] = theta[i] - h;
    set_params(probe, &shifted);
    let minus = loss_at(probe);
    (plus - minus) / (2.0 * h)
}

/// Checks `grad` against central differences of `loss_at` in every coordinate.
fn check_every_coordinate<N: Network<Elem = f32> + Clone>(
    net: &N,
    grad: &N,
    loss_at: impl Fn(&N) -> f32,
) {
    let theta = params(net);
    let analytic = params(grad);
    let mut probe = net.clone();
    for (i, &analytic) in analytic.iter().enumerate() {
        let numeric = central_difference(&mut probe, &theta, i, H, &loss_at);
        assert!(
            close(numeric, analytic, TOLERANCE),
            "parameter {i}: numeric {numeric}, analytic {analytic}"
        );
    }
}

/// As [`check_every_coordinate`], for networks with kinks (ReLU, LeakyReLU, max
/// pooling).
///
/// Between kinks these networks are piecewise smooth, and a central difference that
/// crosses a kink says nothing about the gradient, so such coordinates are recognised
/// and skipped (at most one in twenty may be):
/// - a kink between h/2 and h away makes the central differences with steps h and h/2
///   disagree;
/// - a kink closer than that (say two inputs of a max-pooling window within h/2 of a
///   tie) gives both steps the mean of the slopes on either side, but makes the forward
///   and backward differences disagree by the jump in slope. For a smooth loss they
///   differ by h · L'', under the tolerance unless the loss is sharply curved there.
fn check_kinked<N: Network<Elem = f32> + Clone>(net: &N, grad: &N, loss_at: impl Fn(&N) -> f32) {
    let theta = params(net);
    let analytic = params(grad);
    let mut probe = net.clone();
    let at_theta = loss_at(net);
    let mut skipped = 0;
    for (i, &analytic) in analytic.iter().enumerate() {
        let mut shifted = theta.clone();
        let mut loss_shifted = |step: f32| {
            shifted[i] = theta[i] + step;
            set_params(&mut probe, &shifted);
            loss_at(&probe)
        };
        let (plus, minus) = (loss_shifted(H_KINKED), loss_shifted(-H_KINKED));
        let numeric = (plus - minus) / (2.0 * H_KINKED);
        let half_step = (loss_shifted(H_KINKED / 2.0) - loss_shifted(-H_KINKED / 2.0)) / H_KINKED;
        let (forward, backward) = ((plus - at_theta) / H_KINKED, (at_theta - minus) / H_KINKED);
        if !close(numeric, half_step, TOLERANCE_KINKED)
            || !close(forward, backward, TOLERANCE_KINKED)
        {
            skipped += 1;
            continue;
        }
        assert!(
            close(numeric, analytic, TOLERANCE_KINKED),
            "parameter {i}: numeric {numeric}, analytic {analytic}"
        );
    }
    assert!(
        skipped * 20 <= theta.len(),
        "{skipped} of {} coordinates crossed a kink",
        theta.len()
    );
    eprintln!("skipped {skipped} of {}", theta.len());
}

network! {
    /// Smooth activations: every coordinate can be checked.
    #[derive(Clone)]
    struct Smooth {
        input: [6],
        fc1: Dense(5) -> Tanh,
        fc2: Dense(4) -> Sigmoid,
        fc3: Dense(3),
    }
}

network! {
    #[derive(Clone)]
    struct Rectified {
        input: [6],
        fc1: Dense(8) -> ReLU,
        fc2: Dense(7) -> LeakyReLU(0.1),
        fc3: Dense(3),
    }
}

#[test]
fn three_layers_with_cross_entropy() {
    let mut data = Stream(1);
    let x = data.matrix(4, 6);
    let labels = [2usize, 0, 1, 2];
    let net = Smooth::new(3);
    let (_, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    check_every_coordinate(&net, &grad, |n| {
        SoftmaxCrossEntropy.loss(n.forward(x.view()).view(), &labels)
    });
}

#[test]
fn three_layers_with_mean_squared_error() {
    let mut data = Stream(2);
    let x = data.matrix(5, 6);
    let y = data.matrix(5, 3);
    let net = Smooth::new(4);
    let (_, grad) = net.loss_and_grads(x.view(), y.view(), &MeanSquaredError);
    check_every_coordinate(&net, &grad, |n| {
        MeanSquaredError.loss(n.forward(x.view()).view(), y.view())
    });
}

#[test]
fn rectified_layers_with_both_losses() {
    let mut data = Stream(3);
    let x = data.matrix(6, 6);
    let y = data.matrix(6, 3);
    let labels = [0usize, 1, 2, 2, 1, 0];
    let net = Rectified::new(5);
    let (_, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    check_kinked(&net, &grad, |n| {
        SoftmaxCrossEntropy.loss(n.forward(x.view()).view(), &labels)
    });
    let (_, grad) = net.loss_and_grads(x.view(), y.view(), &MeanSquaredError);
    check_kinked(&net, &grad, |n| {
        MeanSquaredError.loss(n.forward(x.view()).view(), y.view())
    });
}

/// One network per activation, with the activation on both layers, so that σ' is
/// exercised after the loss (δ_L) and inside the recursion (δ_{l−1}).
macro_rules! dense_with_activation {
    ($test:ident, $net:ident, $check:ident, $($activation:tt)+) => {
        network! {
            #[derive(Clone)]
            struct $net {
                input: [5],
                hidden: Dense(6) -> $($activation)+,
                out: Dense(4) -> $($activation)+,
            }
        }

        #[test]
        fn $test() {
            let mut data = Stream(11);
            let x = data.matrix(8, 5);
            let y = data.matrix(8, 4);
            let mut net = $net::new(7);
            // Positive biases keep most ReLU units alive.
            net.hidden.bias_mut().fill(0.5);
            net.out.bias_mut().fill(0.5);
            let (loss, grad) = net.loss_and_grads(x.view(), y.view(), &MeanSquaredError);
            assert_eq!(loss, MeanSquaredError.loss(net.forward(x.view()).view(), y.view()));
            // Every sample must reach the loss through a live unit, or the check would not
            // see its part of the gradient.
            let output = net.forward(x.view());
            assert!(output.rows().into_iter().all(|row| row.iter().any(|&a| a != 0.0)));
            let gradient = params(&grad);
            let zeros = gradient.iter().filter(|&&g| g == 0.0).count();
            assert!(zeros * 4 <= gradient.len(), "{zeros} of {} entries are zero", gradient.len());
            $check(&net, &grad, |n| MeanSquaredError.loss(n.forward(x.view()).view(), y.view()));
        }
    };
}

dense_with_activation!(
    dense_identity,
    WithIdentity,
    check_every_coordinate,
    Identity
);
dense_with_activation!(dense_sigmoid, WithSigmoid, check_every_coordinate, Sigmoid);
dense_with_activation!(dense_tanh, WithTanh, check_every_coordinate, Tanh);
dense_with_activation!(dense_relu, WithReLU, check_kinked, ReLU);
dense_with_activation!(
    dense_leaky_relu,
    WithLeakyReLU,
    check_kinked,
    LeakyReLU(0.05)
);

network! {
    /// Convolutions with stride 2, padding 1, a non-square input and several channels in
    /// and out, average pooling with overlapping windows, smooth activations: every
    /// coordinate can be checked.
    #[derive(Clone)]
    struct SmoothConv {
        input: [2, 7, 6],
        conv1: Conv2d(3, kernel = 3, stride = 2, padding = 1) -> Tanh, // 3×4×3
        pool1: AvgPool2d(2, stride = 1),                             // 3×3×2
        conv2: Conv2d(2, kernel = 2) -> Sigmoid,                     // 2×2×1
        flat: Flatten,
        fc: Dense(3),
    }
}

network! {
    /// LeNet's shape, scaled down: ReLU convolutions, max pooling (the second window
    /// does not divide its input), then dense layers.
    #[derive(Clone)]
    struct SmallLeNet {
        input: [1, 12, 11],
        conv1: Conv2d(4, kernel = 3) -> ReLU,             // 4×10×9
        pool1: MaxPool2d(2),                              // 4×5×4
        conv2: Conv2d(5, kernel = 3, padding = 1) -> ReLU, // 5×5×4
        pool2: MaxPool2d(3, stride = 2),                  // 5×2×1
        flat: Flatten,
        fc1: Dense(8) -> ReLU,
        fc2: Dense(3),
    }
}

#[test]
fn convolutions_and_average_pooling() {
    let mut data = Stream(21);
    let x = data.images((3, 2, 7, 6));
    let labels = [2usize, 0, 1];
    let net = SmoothConv::new(8);
    let (_, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    check_every_coordinate(&net, &grad, |n| {
        SoftmaxCrossEntropy.loss(n.forward(x.view()).view(), &labels)
    });
}

#[test]
fn lenet_shaped_network() {
    let mut data = Stream(22);
    let x = data.images((4, 1, 12, 11));
    let labels = [2usize, 0, 1, 1];
    let mut net = SmallLeNet::new(9);
    // Positive biases keep most ReLU units alive, so that most weights get a gradient.
    net.conv1.bias_mut().fill(0.2);
    net.conv2.bias_mut().fill(0.2);
    net.fc1.bias_mut().fill(0.2);
    let (_, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    let gradient = params(&grad);
    let zeros = gradient.iter().filter(|&&g| g == 0.0).count();
    assert!(
        zeros * 4 <= gradient.len(),
        "{zeros} of {} entries are zero",
        gradient.len()
    );
    check_kinked(&net, &grad, |n| {
        SoftmaxCrossEntropy.loss(n.forward(x.view()).view(), &labels)
    });
}

#[test]
fn a_wrong_gradient_is_caught() {
    // The checks above must be able to fail: perturb one gradient entry.
    let mut data = Stream(5);
    let x = data.matrix(4, 6);
    let labels = [1usize, 0, 2, 2];
    let net = Smooth::new(1);
    let (_, mut grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    grad.fc2.weight_mut()[[1, 2]] += 0.05;
    let result = std::panic::catch_unwind(|| {
        check_every_coordinate(&net, &grad, |n| {
            SoftmaxCrossEntropy.loss(n.forward(x.view()).view(), &labels)
        })
    });
    assert!(result.is_err());
}

#[test]
fn a_wrong_gradient_is_caught_past_the_kinks() {
    // `check_kinked` skips coordinates; it must still see a wrong one.
    let mut data = Stream(6);
    let x = data.matrix(6, 6);
    let labels = [0usize, 1, 2, 2, 1, 0];
    let net = Rectified::new(5);
    let (_, mut grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    grad.fc3.bias_mut()[1] += 0.05;
    let result = std::panic::catch_unwind(|| {
        check_kinked(&net, &grad, |n| {
            SoftmaxCrossEntropy.loss(n.forward(x.view()).view(), &labels)
        })
    });
    assert!(result.is_err());
}

network! {
    /// A network of `f64` with every layer kind, its training maps included: batch
    /// normalisation of an image and of a vector, and dropout (whose mask is the same at
    /// every evaluation of `loss_and_grads`, which runs on a copy of the network).
    #[derive(Clone)]
    struct Double<f64> {
        input: [2, 9, 8],
        conv1: Conv2d(3, kernel = 3, stride = 2, padding = 1) -> Tanh, // 3×5×4
        bn1: BatchNorm2d -> Sigmoid,
        conv2: Conv2d(4, kernel = 2) -> Tanh,                          // 4×4×3
        pool1: MaxPool2d(2, stride = 1),                               // 4×3×2
        pool2: AvgPool2d(2, stride = 1),                               // 4×2×1
        flat: Flatten,
        drop: Dropout(0.25),
        fc1: Dense(6) -> Tanh,
        bn2: BatchNorm1d -> Sigmoid,
        fc2: Dense(3),
    }
}

/// The step of the f64 central differences, and the largest error they may leave,
/// relative to the largest gradient `S`, and per coordinate (`1e-7·|g| + 1e-9·S`).
const H_F64: f64 = 1e-5;
const F64_RELATIVE: f64 = 1e-7;

/// The worst error of central differences against `grad`, relative to the largest
/// gradient, after asserting every coordinate within `1e-7·|g| + 1e-9·S`.
fn check_f64<N: Network<Elem = f64> + Clone>(
    net: &N,
    grad: &N,
    loss_at: impl Fn(&N) -> f64,
) -> f64 {
    let theta = params(net);
    let analytic = params(grad);
    let largest = analytic.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let mut probe = net.clone();
    let mut worst = 0.0f64;
    for (i, &analytic) in analytic.iter().enumerate() {
        let mut shifted = theta.clone();
        let mut loss_shifted = |step: f64| {
            shifted[i] = theta[i] + step;
            set_params(&mut probe, &shifted);
            loss_at(&probe)
        };
        let numeric = (loss_shifted(H_F64) - loss_shifted(-H_F64)) / (2.0 * H_F64);
        let error = (numeric - analytic).abs();
        assert!(
            error <= F64_RELATIVE * analytic.abs() + 1e-2 * F64_RELATIVE * largest,
            "parameter {i}: numeric {numeric:e}, analytic {analytic:e}"
        );
        worst = worst.max(error / largest);
    }
    worst
}

#[test]
fn a_network_of_f64_agrees_with_central_differences_to_1e_7() {
    let mut data = Stream(7);
    let x = data.images((5, 2, 9, 8)).mapv(f64::from);
    let y = data.matrix(5, 3).mapv(f64::from);
    let labels = [2usize, 0, 1, 1, 2];
    let net = Double::new(8);
    for (name, worst) in [
        {
            let (_, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
            let worst = check_f64(&net, &grad, |n| {
                n.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy)
                    .0
            });
            ("cross-entropy", worst)
        },
        {
            let (_, grad) = net.loss_and_grads(x.view(), y.view(), &MeanSquaredError);
            let worst = check_f64(&net, &grad, |n| {
                n.loss_and_grads(x.view(), y.view(), &MeanSquaredError).0
            });
            ("mean squared error", worst)
        },
    ] {
        eprintln!("{name}: max |numeric − analytic| / max |analytic| = {worst:.1e}");
        assert!(worst <= F64_RELATIVE, "{name}: {worst:e}");
    }
}

#[test]
fn a_wrong_gradient_of_f64_is_caught() {
    let mut data = Stream(8);
    let x = data.images((4, 2, 9, 8)).mapv(f64::from);
    let labels = [1usize, 0, 2, 2];
    let net = Double::new(2);
    let (_, mut grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
    // Wrong by a millionth of itself: far beyond what f64 differences leave.
    grad.fc1.weight_mut()[[1, 2]] *= 1.0 + 1e-6;
    let result = std::panic::catch_unwind(|| {
        check_f64(&net, &grad, |n| {
            n.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy)
                .0
        })
    });
    assert!(result.is_err());
}

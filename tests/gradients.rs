//! The generated backward pass against central finite differences of the generated
//! forward pass, in f32.
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
fn central_difference<N: Network>(
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
fn check_every_coordinate<N: Network + Clone>(net: &N, grad: &N, loss_at: impl Fn(&N) -> f32) {
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

/// As [`check_every_coordinate`], for networks with kinks (ReLU, LeakyReLU).
///
/// Between kinks these networks are piecewise polynomial of low degree, so the central
/// differences with steps h and h/2 agree to rounding (about 1e-4 at h = 2e-3 for a loss
/// of size O(1) whose f32 evaluation is off by a few ulps). Where they disagree the step
/// crossed a kink and the coordinate says nothing about the gradient: it is skipped, and
/// at most one coordinate in twenty may be.
fn check_kinked<N: Network + Clone>(net: &N, grad: &N, loss_at: impl Fn(&N) -> f32) {
    let theta = params(net);
    let analytic = params(grad);
    let mut probe = net.clone();
    let mut skipped = 0;
    for (i, &analytic) in analytic.iter().enumerate() {
        let numeric = central_difference(&mut probe, &theta, i, H_KINKED, &loss_at);
        let half_step = central_difference(&mut probe, &theta, i, H_KINKED / 2.0, &loss_at);
        if !close(numeric, half_step, TOLERANCE_KINKED) {
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

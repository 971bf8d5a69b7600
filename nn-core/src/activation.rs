//! Pointwise activations σ and their derivatives.
//!
//! By Remark 8 of the paper σ' is computed from the stored output `a = σ(z)` rather
//! than from `z`: ReLU' = `[a > 0]`, sigmoid' = a(1 − a), tanh' = 1 − a². The forward pass
//! therefore overwrites `z` with `a` in place, and only activations are ever kept.

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

use crate::init::Init;
use crate::parallel::{for_each_sample, VISIT};
use crate::scalar::Scalar;

/// A pointwise activation function.
pub trait Activation {
    /// Replaces every `z` by `σ(z)` in place.
    fn apply<T: Scalar, D: Dimension>(&self, z: ArrayViewMut<'_, T, D>);

    /// Multiplies `delta` elementwise by `σ'`, computed from the activations `a = σ(z)`
    /// of the forward pass: `δ ← σ'(z) ⊙ δ`.
    fn backprop<T: Scalar, D: Dimension>(
        &self,
        a: ArrayView<'_, T, D>,
        delta: ArrayViewMut<'_, T, D>,
    );

    /// The initialisation suited to this activation: He for the ReLU family, Xavier
    /// otherwise.
    fn init(&self) -> Init {
        Init::Xavier
    }
}

/// The identity: `σ(z) = z`. The default when a layer names no activation; generated
/// code calls nothing for it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Identity;

/// The rectified linear unit `max(z, 0)`; its derivative at 0 is taken as 0, like PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReLU;

/// `z` for `z > 0`, `slope · z` otherwise.
///
/// The slope must be non-negative (σ' is read off the sign of the output, which a
/// negative slope would flip); `network!` rejects other values at compile time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LeakyReLU(pub f64);

/// The logistic function `1 / (1 + e^{-z})`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sigmoid;

/// The hyperbolic tangent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

impl Activation for Identity {
    fn apply<T: Scalar, D: Dimension>(&self, _z: ArrayViewMut<'_, T, D>) {}

    fn backprop<T: Scalar, D: Dimension>(
        &self,
        _a: ArrayView<'_, T, D>,
        _delta: ArrayViewMut<'_, T, D>,
    ) {
    }
}

impl Activation for ReLU {
    fn apply<T: Scalar, D: Dimension>(&self, z: ArrayViewMut<'_, T, D>) {
        // Not LeakyReLU(0): that would give −0 for negative inputs, where PyTorch gives 0.
        // A NaN stays NaN, as in PyTorch, so that a bad input cannot hide.
        map_inplace(z, |z| {
            if z > T::zero() || z.is_nan() {
                z
            } else {
                T::zero()
            }
        });
    }

    fn backprop<T: Scalar, D: Dimension>(
        &self,
        a: ArrayView<'_, T, D>,
        delta: ArrayViewMut<'_, T, D>,
    ) {
        // σ' is 0 where the output is not positive: the error signal there is replaced
        // (not multiplied) by 0, as in PyTorch, so that an infinite one cannot make NaN.
        scale_delta(delta, a, |d, a| if a <= T::zero() { T::zero() } else { d });
    }

    fn init(&self) -> Init {
        LeakyReLU(0.0).init()
    }
}

impl Activation for LeakyReLU {
    fn apply<T: Scalar, D: Dimension>(&self, z: ArrayViewMut<'_, T, D>) {
        let slope = T::of_f64(self.0);
        map_inplace(z, |z| if z > T::zero() { z } else { slope * z });
    }

    fn backprop<T: Scalar, D: Dimension>(
        &self,
        a: ArrayView<'_, T, D>,
        delta: ArrayViewMut<'_, T, D>,
    ) {
        let slope = T::of_f64(self.0);
        // A select rather than a branch, so that it vectorises.
        scale_delta(delta, a, |d, a| if a <= T::zero() { d * slope } else { d });
    }

    fn init(&self) -> Init {
        Init::He {
            slope: self.0 as f32,
        }
    }
}

impl Activation for Sigmoid {
    fn apply<T: Scalar, D: Dimension>(&self, z: ArrayViewMut<'_, T, D>) {
        // Two branches so that exp never overflows: for z < 0, e^z / (1 + e^z).
        map_inplace(z, |z| {
            if z >= T::zero() {
                T::one() / (T::one() + (-z).exp())
            } else {
                let e = z.exp();
                e / (T::one() + e)
            }
        });
    }

    fn backprop<T: Scalar, D: Dimension>(
        &self,
        a: ArrayView<'_, T, D>,
        delta: ArrayViewMut<'_, T, D>,
    ) {
        scale_delta(delta, a, |d, a| d * a * (T::one() - a));
    }
}

impl Activation for Tanh {
    fn apply<T: Scalar, D: Dimension>(&self, z: ArrayViewMut<'_, T, D>) {
        map_inplace(z, T::tanh);
    }

    fn backprop<T: Scalar, D: Dimension>(
        &self,
        a: ArrayView<'_, T, D>,
        delta: ArrayViewMut<'_, T, D>,
    ) {
        scale_delta(delta, a, |d, a| d * (T::one() - a * a));
    }
}

/// `z ← f(z)` elementwise, in pieces side by side on large batches.
fn map_inplace<T: Scalar, D: Dimension>(z: ArrayViewMut<'_, T, D>, f: impl Fn(T) -> T + Sync) {
    // As IxDyn, which keeps up to four axes inline (no allocation), to split the batch.
    let z = z.into_dyn();
    for_each_sample(VISIT * z.len(), (z,), &|(mut z,)| z.mapv_inplace(&f));
}

/// `δ ← f(δ, a)` elementwise: `δ ← σ'(z) ⊙ δ` with σ' read off `a`, in pieces side by
/// side on large batches.
fn scale_delta<T: Scalar, D: Dimension>(
    delta: ArrayViewMut<'_, T, D>,
    a: ArrayView<'_, T, D>,
    f: impl Fn(T, T) -> T + Sync,
) {
    let (delta, a) = (delta.into_dyn(), a.into_dyn());
    for_each_sample(VISIT * delta.len(), (delta, a), &|(mut delta, a)| {
        Zip::from(&mut delta)
            .and(&a)
            .for_each(|d, &a| *d = f(*d, a));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{arr0, array, Array1};

    /// An array with no axes is one value, not a batch to split.
    #[test]
    fn a_scalar_array_is_one_value() {
        let mut z = arr0(-1.0f32);
        ReLU.apply(z.view_mut());
        assert_eq!(z[()], 0.0);
        let mut delta = arr0(3.0f32);
        Tanh.backprop(arr0(0.5f32).view(), delta.view_mut());
        assert_eq!(delta[()], 3.0 * 0.75);
    }

    /// Checks `backprop` against a central difference of `apply`, in f64, at points away
    /// from the kink of the ReLU family (where no derivative exists).
    fn check(activation: impl Activation) {
        let z: Array1<f64> = array![-2.5, -0.7, -0.1, 0.3, 0.9, 3.0];
        let h = 1e-6;
        let mut a = z.clone();
        activation.apply(a.view_mut());
        let mut delta = Array1::ones(z.len());
        activation.backprop(a.view(), delta.view_mut());
        for i in 0..z.len() {
            let (mut plus, mut minus) = (z.clone(), z.clone());
            plus[i] += h;
            minus[i] -= h;
            activation.apply(plus.view_mut());
            activation.apply(minus.view_mut());
            let numeric = (plus[i] - minus[i]) / (2.0 * h);
            // Central differences in f64 are accurate to about h² + ε/h ≈ 1e-10.
            assert!(
                (numeric - delta[i]).abs() < 1e-8,
                "σ'({}) = {} analytically, {} numerically",
                z[i],
                delta[i],
                numeric
            );
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        check(Identity);
        check(ReLU);
        check(LeakyReLU(0.01));
        check(LeakyReLU(0.3));
        check(Sigmoid);
        check(Tanh);
    }

    #[test]
    fn relu_family_matches_pytorch_at_zero() {
        // torch.relu'(0) = 0 and leaky_relu'(0) = slope: both read from a = 0.
        let mut delta = array![1.0f32];
        ReLU.backprop(array![0.0f32].view(), delta.view_mut());
        assert_eq!(delta[0], 0.0);
        let mut delta = array![1.0f32];
        LeakyReLU(0.1).backprop(array![0.0f32].view(), delta.view_mut());
        assert_eq!(delta[0], 0.1);
    }

    #[test]
    fn relu_of_a_negative_number_is_positive_zero() {
        let mut z = array![-2.0f32];
        ReLU.apply(z.view_mut());
        assert_eq!(z[0].to_bits(), 0.0f32.to_bits());
    }

    #[test]
    fn nan_goes_through_every_activation() {
        fn check(activation: impl Activation) {
            let mut z = array![f32::NAN];
            activation.apply(z.view_mut());
            assert!(z[0].is_nan());
        }
        check(ReLU);
        check(LeakyReLU(0.1));
        check(Sigmoid);
        check(Tanh);
        check(Identity);
    }

    #[test]
    fn sigmoid_saturates_without_overflow() {
        let mut z = array![-1e4f32, 1e4];
        Sigmoid.apply(z.view_mut());
        assert_eq!(z, array![0.0, 1.0]);
    }
}

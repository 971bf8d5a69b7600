//! Binary cross-entropy on logits, PyTorch's `nn.BCEWithLogitsLoss`: binary (and
//! multi-label) classification, one logit per yes-or-no answer.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use super::FitLoss;
use crate::scalar::Scalar;

/// The sigmoid and binary cross-entropy against targets in `[0, 1]`, fused, averaged over
/// every element: PyTorch's `nn.BCEWithLogitsLoss` with its default mean.
///
/// In the stable form `max(z, 0) − z y + log(1 + e^{−|z|})`, finite for any finite logit
/// (the sigmoid followed by a separate cross-entropy overflows for a logit of −100 in
/// `f32`); the gradient is `(σ(z) − y) / n` over the `n` elements. The network's last
/// layer gives the logits: put no `Sigmoid` after it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BinaryCrossEntropyWithLogits;

super::loss_computed_by!(
    BinaryCrossEntropyWithLogits,
    rows,
    binary_cross_entropy_with_logits
);

/// Rows of targets; the metric is the fraction of answers right, a logit above 0 saying
/// yes and a target above ½ meaning yes.
impl<T: Scalar> FitLoss<T> for BinaryCrossEntropyWithLogits {
    super::row_targets!();

    fn right(output: ArrayView2<'_, T>, targets: ArrayView2<'_, T>) -> Option<(usize, usize)> {
        let half = T::of_f64(0.5);
        let right = Zip::from(&output).and(&targets).fold(0, |n, &z, &y| {
            n + usize::from((z > T::zero()) == (y > half))
        });
        Some((right, output.len()))
    }
}

/// `mean(max(z, 0) − z y + log(1 + e^{−|z|}))` over all elements, and if `delta` is
/// given, its gradient `(σ(z) − y) / n`.
///
/// # Panics
///
/// If `targets` and `logits` differ in shape, or the batch is empty.
pub fn binary_cross_entropy_with_logits<T: Scalar>(
    logits: ArrayView2<'_, T>,
    targets: ArrayView2<'_, T>,
    delta: Option<ArrayViewMut2<'_, T>>,
) -> T {
    assert_eq!(
        logits.shape(),
        targets.shape(),
        "BinaryCrossEntropyWithLogits: targets of shape {:?} for outputs of shape {:?}",
        targets.shape(),
        logits.shape()
    );
    assert!(
        !logits.is_empty(),
        "BinaryCrossEntropyWithLogits: the mean over an empty batch is undefined"
    );
    let scale = T::one() / T::from_usize(logits.len()).expect("size fits");
    if let Some(delta) = delta {
        Zip::from(delta)
            .and(&logits)
            .and(&targets)
            .for_each(|d, &z, &y| *d = (sigmoid(z) - y) * scale);
    }
    let sum = Zip::from(&logits)
        .and(&targets)
        .fold(T::zero(), |s, &z, &y| {
            s + z.max(T::zero()) - z * y + (-z.abs()).exp().ln_1p()
        });
    sum * scale
}

/// `1 / (1 + e^{−z})`, without overflow for either sign.
fn sigmoid<T: Scalar>(z: T) -> T {
    if z >= T::zero() {
        T::one() / (T::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (T::one() + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::tests::check_delta;
    use crate::loss::Loss;
    use ndarray::array;

    #[test]
    fn the_gradient_matches_central_differences() {
        let z = array![[0.2, -1.0, 3.0], [1.5, -4.0, 0.0]];
        let y = array![[0.0, 1.0, 1.0], [0.3, 0.0, 1.0]];
        check_delta(|z, d| binary_cross_entropy_with_logits(z, y.view(), d), z);
    }

    #[test]
    fn it_is_the_mean_negative_log_likelihood_of_the_sigmoid() {
        let z = array![[0.5f64, -2.0], [3.0, 0.0]];
        let y = array![[1.0f64, 0.0], [0.0, 1.0]];
        let expected = [(0.5f64, 1.0), (-2.0, 0.0), (3.0, 0.0), (0.0, 1.0)]
            .iter()
            .map(|&(z, y): &(f64, f64)| {
                let p = 1.0 / (1.0 + (-z).exp());
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / 4.0;
        let loss = BinaryCrossEntropyWithLogits.loss(z.view(), y.view());
        assert!((loss - expected).abs() < 1e-15, "{loss} vs {expected}");
    }

    #[test]
    fn it_is_finite_for_huge_logits_where_the_unfused_form_is_not() {
        let z = array![[-200.0f32, 200.0]];
        let y = array![[1.0f32, 0.0]];
        let mut delta = ndarray::Array2::zeros((1, 2));
        let loss =
            BinaryCrossEntropyWithLogits.loss_and_delta(z.view(), y.view(), delta.view_mut());
        assert!((loss - 200.0).abs() < 1e-3, "{loss}");
        assert_eq!(delta, array![[-0.5, 0.5]]);
        // log(σ(−200)) in f32 is log(0).
        assert!((1.0 / (1.0 + 200f32.exp())).ln().is_infinite());
    }

    #[test]
    fn answers_are_right_when_the_logit_s_sign_is_the_target_s() {
        let z = array![[0.3f32, -0.1], [-2.0, 4.0]];
        let y = array![[1.0f32, 1.0], [0.0, 1.0]];
        assert_eq!(
            <BinaryCrossEntropyWithLogits as FitLoss<f32>>::right(z.view(), y.view()),
            Some((3, 4))
        );
    }

    #[test]
    #[should_panic(expected = "targets of shape [2, 1] for outputs of shape [2, 2]")]
    fn targets_of_another_shape_panic_naming_both() {
        let z = ndarray::Array2::<f32>::zeros((2, 2));
        BinaryCrossEntropyWithLogits.loss(z.view(), ndarray::Array2::zeros((2, 1)).view());
    }
}

//! Losses `ℓ(a_L, y)` and their gradients `∇ℓ`, the start of the backward pass.
//!
//! Both are reduced by the mean over the batch, like PyTorch's default
//! `reduction="mean"`, so the gradient of each sample carries a factor `1 / batch`.

use ndarray::{ArrayView2, ArrayViewMut2, Axis, Zip};

use crate::scalar::Scalar;

/// A loss over a batch of network outputs (batch × outputs) of element type `T`.
///
/// The losses here are generic over the element type, so one value serves networks of
/// `f32` and of `f64`.
pub trait Loss<T: Scalar = f32> {
    /// What the loss compares the outputs with, passed by value: class indices
    /// `&[usize]` or an `ArrayView2<T>` of the output's shape.
    type Targets<'a>: Copy;

    /// The mean loss over the batch.
    ///
    /// # Panics
    ///
    /// If the batch is empty, or the targets do not match the outputs (wrong batch size,
    /// class index out of range, wrong shape); the message says which.
    fn loss(&self, output: ArrayView2<'_, T>, targets: Self::Targets<'_>) -> T;

    /// The mean loss over the batch, and its gradient in `output` written into `delta`.
    ///
    /// # Panics
    ///
    /// As [`Loss::loss`].
    fn loss_and_delta(
        &self,
        output: ArrayView2<'_, T>,
        targets: Self::Targets<'_>,
        delta: ArrayViewMut2<'_, T>,
    ) -> T;
}

/// Softmax followed by cross-entropy against class indices, fused: PyTorch's
/// `nn.CrossEntropyLoss` on logits.
///
/// Fusing them gives the gradient `(softmax(z) − onehot(y)) / batch` directly, and the
/// log-sum-exp is shifted by the row maximum, so the loss stays finite for any finite
/// logits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SoftmaxCrossEntropy;

/// The mean squared error `mean((a − y)²)` over every element, PyTorch's `nn.MSELoss`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanSquaredError;

impl<T: Scalar> Loss<T> for SoftmaxCrossEntropy {
    type Targets<'a> = &'a [usize];

    fn loss(&self, output: ArrayView2<'_, T>, targets: &[usize]) -> T {
        softmax_cross_entropy(output, targets, None)
    }

    fn loss_and_delta(
        &self,
        output: ArrayView2<'_, T>,
        targets: &[usize],
        delta: ArrayViewMut2<'_, T>,
    ) -> T {
        softmax_cross_entropy(output, targets, Some(delta))
    }
}

impl<T: Scalar> Loss<T> for MeanSquaredError {
    type Targets<'a> = ArrayView2<'a, T>;

    fn loss(&self, output: ArrayView2<'_, T>, targets: ArrayView2<'_, T>) -> T {
        mean_squared_error(output, targets, None)
    }

    fn loss_and_delta(
        &self,
        output: ArrayView2<'_, T>,
        targets: ArrayView2<'_, T>,
        delta: ArrayViewMut2<'_, T>,
    ) -> T {
        mean_squared_error(output, targets, Some(delta))
    }
}

/// `mean_i [logsumexp(z_i) − z_i[y_i]]`, and if `delta` is given, its gradient
/// `(softmax(z_i) − onehot(y_i)) / batch`.
///
/// # Panics
///
/// If `labels.len()` is not the batch size, or a label is not a valid class index.
pub fn softmax_cross_entropy<T: Scalar>(
    logits: ArrayView2<'_, T>,
    labels: &[usize],
    mut delta: Option<ArrayViewMut2<'_, T>>,
) -> T {
    let (batch, classes) = logits.dim();
    assert!(
        batch > 0,
        "SoftmaxCrossEntropy: the mean over an empty batch is undefined"
    );
    assert_eq!(
        labels.len(),
        batch,
        "SoftmaxCrossEntropy: {} labels for a batch of {batch}",
        labels.len()
    );
    let scale = T::one() / T::from_usize(batch).expect("batch size fits");
    let mut total = T::zero();
    for (i, (z, &label)) in logits.outer_iter().zip(labels).enumerate() {
        assert!(
            label < classes,
            "SoftmaxCrossEntropy: label {label} of sample {i} is out of range for {classes} classes"
        );
        let max = z.fold(T::neg_infinity(), |m, &v| m.max(v));
        // Each e^(v − max) is taken once: kept in δ's row when there is one, then scaled
        // there into the softmax. Summed in the logits' order either way, so that the loss
        // is the same with δ or without.
        let sum_exp = match delta.as_mut() {
            Some(delta) => delta
                .index_axis_mut(Axis(0), i)
                .iter_mut()
                .zip(z.iter())
                .fold(T::zero(), |s, (d, &v)| {
                    *d = (v - max).exp();
                    s + *d
                }),
            None => z.iter().fold(T::zero(), |s, &v| s + (v - max).exp()),
        };
        let log_sum_exp = max + sum_exp.ln();
        total = total + log_sum_exp - z[label];
        if let Some(delta) = delta.as_mut() {
            let mut row = delta.index_axis_mut(Axis(0), i);
            let per_exp = scale / sum_exp;
            row.mapv_inplace(|e| e * per_exp);
            row[label] -= scale;
        }
    }
    total * scale
}

/// `mean((a − y)²)` over all elements, and if `delta` is given, its gradient
/// `2 (a − y) / (batch · outputs)`.
///
/// # Panics
///
/// If `targets` and `output` differ in shape.
pub fn mean_squared_error<T: Scalar>(
    output: ArrayView2<'_, T>,
    targets: ArrayView2<'_, T>,
    delta: Option<ArrayViewMut2<'_, T>>,
) -> T {
    assert_eq!(
        output.shape(),
        targets.shape(),
        "MeanSquaredError: targets of shape {:?} for outputs of shape {:?}",
        targets.shape(),
        output.shape()
    );
    assert!(
        !output.is_empty(),
        "MeanSquaredError: the mean over an empty batch is undefined"
    );
    let scale = T::one() / T::from_usize(output.len()).expect("size fits");
    if let Some(delta) = delta {
        let two = T::one() + T::one();
        Zip::from(delta)
            .and(&output)
            .and(&targets)
            .for_each(|d, &a, &y| *d = two * (a - y) * scale);
    }
    let sum = Zip::from(&output)
        .and(&targets)
        .fold(T::zero(), |s, &a, &y| s + (a - y) * (a - y));
    sum * scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Central differences of each loss in f64 against its delta.
    fn check_delta(
        loss: impl Fn(ArrayView2<f64>, Option<ArrayViewMut2<f64>>) -> f64,
        z: Array2<f64>,
    ) {
        let mut delta = Array2::zeros(z.dim());
        loss(z.view(), Some(delta.view_mut()));
        let h = 1e-6;
        for idx in ndarray::indices_of(&z) {
            let (mut p, mut m) = (z.clone(), z.clone());
            p[idx] += h;
            m[idx] -= h;
            let numeric = (loss(p.view(), None) - loss(m.view(), None)) / (2.0 * h);
            // Smooth losses of O(1) values: h² + ε/h ≈ 1e-10.
            assert!(
                (numeric - delta[idx]).abs() < 1e-8,
                "at {idx:?}: {numeric} vs {}",
                delta[idx]
            );
        }
    }

    #[test]
    fn softmax_cross_entropy_gradient_matches_central_differences() {
        let z = array![
            [0.2, -1.0, 3.0],
            [1.5, 1.5, -0.5],
            [0.0, 0.1, 0.2],
            [-2.0, 4.0, 1.0]
        ];
        check_delta(|z, d| softmax_cross_entropy(z, &[2, 0, 1, 1], d), z);
    }

    #[test]
    fn mean_squared_error_gradient_matches_central_differences() {
        let z = array![[0.2, -1.0], [1.5, 3.0], [0.0, 0.1]];
        let y = array![[0.0, 1.0], [1.0, 2.0], [-0.5, 0.5]];
        check_delta(|z, d| mean_squared_error(z, y.view(), d), z);
    }

    #[test]
    fn softmax_cross_entropy_is_the_mean_negative_log_likelihood() {
        // Row 0: log(e¹ + e² + e³) − 1; row 1: uniform over 3 classes, log 3.
        let z = array![[1.0f32, 2.0, 3.0], [1.0, 1.0, 1.0]];
        let loss = SoftmaxCrossEntropy.loss(z.view(), &[0, 2]);
        let expected = ((1f32.exp() + 2f32.exp() + 3f32.exp()).ln() - 1.0 + 3f32.ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    /// The loss is the same, bit for bit, whether δ is asked for or not, whatever the
    /// layouts of the logits and of δ.
    #[test]
    fn softmax_cross_entropy_is_the_same_with_delta_or_without() {
        let z = Array2::from_shape_fn((10, 4), |(i, j)| {
            ((i * 7 + j * 3) as f32 * 0.37).sin() * 5.0
        });
        let labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1];
        let transposed = z.t().to_owned();
        for logits in [z.view(), transposed.t()] {
            let alone = softmax_cross_entropy(logits, &labels, None);
            let mut delta = Array2::<f32>::zeros((4, 10));
            let with =
                softmax_cross_entropy(logits, &labels, Some(delta.view_mut().reversed_axes()));
            assert_eq!(alone.to_bits(), with.to_bits());
            // Each row of δ is softmax − onehot over the batch: it sums to zero.
            for row in delta.t().rows() {
                assert!(row.sum().abs() < 1e-6, "{row}");
            }
        }
    }

    #[test]
    fn softmax_cross_entropy_is_finite_for_huge_logits() {
        let z = array![[1e4f32, -1e4, 0.0], [-1e4, -1e4, -1e4]];
        let mut delta = Array2::zeros(z.dim());
        let loss = SoftmaxCrossEntropy.loss_and_delta(z.view(), &[1, 0], delta.view_mut());
        assert!(loss.is_finite());
        assert!(delta.iter().all(|d| d.is_finite()));
        assert!((loss - (2e4 + 3f32.ln()) / 2.0).abs() < 1.0);
    }

    #[test]
    #[should_panic(expected = "label 10 of sample 1 is out of range for 10 classes")]
    fn label_out_of_range_panics_naming_it() {
        SoftmaxCrossEntropy.loss(Array2::<f32>::zeros((2, 10)).view(), &[3, 10]);
    }

    #[test]
    #[should_panic(expected = "3 labels for a batch of 2")]
    fn wrong_number_of_labels_panics() {
        SoftmaxCrossEntropy.loss(Array2::<f32>::zeros((2, 10)).view(), &[1, 2, 3]);
    }

    #[test]
    #[should_panic(expected = "empty batch")]
    fn an_empty_batch_has_no_mean() {
        SoftmaxCrossEntropy.loss(Array2::<f32>::zeros((0, 10)).view(), &[]);
    }

    #[test]
    fn mean_squared_error_is_the_mean_over_every_element() {
        let a = array![[1.0f32, 2.0], [3.0, 4.0]];
        let y = array![[0.0f32, 2.0], [3.0, 6.0]];
        assert_eq!(MeanSquaredError.loss(a.view(), y.view()), (1.0 + 4.0) / 4.0);
    }
}

//! Softmax followed by cross-entropy against class indices, PyTorch's
//! `nn.CrossEntropyLoss` on logits; and the softmax alone, for probabilities.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};

use super::FitLoss;
use crate::metrics::predictions;
use crate::scalar::Scalar;

/// Softmax followed by cross-entropy against class indices, fused: PyTorch's
/// `nn.CrossEntropyLoss` on logits.
///
/// Fusing them gives the gradient `(softmax(z) − onehot(y)) / batch` directly, and the
/// log-sum-exp is shifted by the row maximum, so the loss stays finite for any finite
/// logits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SoftmaxCrossEntropy;

super::loss_computed_by!(SoftmaxCrossEntropy, classes, softmax_cross_entropy);

impl<T: Scalar> FitLoss<T> for SoftmaxCrossEntropy {
    type Batch = Vec<usize>;

    fn samples(targets: &[usize]) -> usize {
        targets.len()
    }

    fn gather(targets: &[usize], samples: &[usize], batch: &mut Vec<usize>) {
        batch.clear();
        batch.extend(samples.iter().map(|&sample| targets[sample]));
    }

    fn lend(batch: &Vec<usize>) -> &[usize] {
        batch
    }

    /// The samples whose largest logit is at their label.
    fn right(output: ArrayView2<'_, T>, targets: &[usize]) -> Option<(usize, usize)> {
        let right = predictions(output)
            .zip(targets)
            .filter(|(predicted, label)| predicted == *label)
            .count();
        Some((right, targets.len()))
    }
}

/// The softmax of each row of `logits`, `e^{z_j} / Σ_k e^{z_k}`: the probability of each
/// class, as PyTorch's `logits.softmax(dim=1)` (shifted by the row's maximum, so finite
/// for any finite logits).
pub fn softmax<T: Scalar>(logits: ArrayView2<'_, T>) -> Array2<T> {
    let mut probabilities = logits.to_owned();
    for mut row in probabilities.rows_mut() {
        let max = row.fold(T::neg_infinity(), |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|e| e / sum);
    }
    probabilities
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::tests::check_delta;
    use crate::loss::Loss;
    use ndarray::{array, Array2};

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
    fn softmax_rows_are_probabilities_whose_log_is_the_loss() {
        let z = array![[1.0f64, 2.0, 3.0], [1e4, -1e4, 0.0]];
        let p = softmax(z.view());
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-15 && row.iter().all(|&p| p >= 0.0));
        }
        // −log p[label] is the cross-entropy of that sample.
        let loss: f64 = SoftmaxCrossEntropy.loss(z.slice(ndarray::s![0..1, ..]), &[1]);
        assert!((-p[[0, 1]].ln() - loss).abs() < 1e-15);
        assert_eq!(p[[1, 0]], 1.0);
    }

    #[test]
    fn a_classifier_counts_the_samples_it_gets_right() {
        let z = array![[0.1f32, 0.9], [0.8, 0.2], [0.3, 0.7]];
        assert_eq!(
            <SoftmaxCrossEntropy as FitLoss<f32>>::right(z.view(), &[1, 1, 1]),
            Some((2, 3))
        );
        let mut batch = Vec::new();
        <SoftmaxCrossEntropy as FitLoss<f32>>::gather(&[7, 8, 9], &[2, 0], &mut batch);
        assert_eq!(batch, [9, 7]);
    }
}

//! Losses `ℓ(a_L, y)` and their gradients `∇ℓ`, the start of the backward pass; and what
//! a training loop needs of a loss besides ([`FitLoss`]): how to batch its targets, and
//! the metric of its task.
//!
//! Every loss is reduced by the mean, like PyTorch's default `reduction="mean"`, so the
//! gradient of each sample carries a factor `1 / batch` (of each element, for the losses
//! taken elementwise). One file per loss, with its tests.

mod binary_cross_entropy;
mod cross_entropy;
mod mean_squared_error;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::scalar::Scalar;

pub use binary_cross_entropy::{binary_cross_entropy_with_logits, BinaryCrossEntropyWithLogits};
pub use cross_entropy::{softmax, softmax_cross_entropy, SoftmaxCrossEntropy};
pub use mean_squared_error::{mean_squared_error, MeanSquaredError};

/// A loss over a batch of network outputs (batch × outputs) of element type `T`.
///
/// The losses here are generic over the element type, so one value serves networks of
/// `f32` and of `f64`.
pub trait Loss<T: Scalar = f32> {
    /// What the loss compares the outputs with, passed by value: class indices
    /// `&[usize]`, or an `ArrayView2<T>` of the output's shape. Class indices are `usize`:
    /// labels stored as `u8` are converted once, `labels.iter().map(|&l| usize::from(l))`.
    type Targets<'a>: Copy
    where
        T: 'a;

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

/// What [`Trainer`](crate::train::Trainer) needs of a loss besides [`Loss`]: how to gather
/// the targets of a shuffled batch from a data set's, and the metric of the task — the
/// fraction of right answers for a classifier, none for regression, whose figure is the
/// loss. Every loss here implements it; a loss of your own does to train with `Trainer`
/// (its targets are class indices or rows, as here: copy the impl of
/// [`SoftmaxCrossEntropy`] or [`MeanSquaredError`]).
pub trait FitLoss<T: Scalar = f32>: Loss<T> {
    /// A batch of targets the loop owns and refills every step, without allocating once
    /// it has grown to the batch size: `Vec<usize>` of class indices, or [`RowBatch`].
    type Batch: Default;

    /// The number of samples `targets` holds.
    fn samples(targets: Self::Targets<'_>) -> usize;

    /// Makes `batch` the targets of `samples` (indices into `targets`), in that order.
    fn gather(targets: Self::Targets<'_>, samples: &[usize], batch: &mut Self::Batch);

    /// `batch`, as the loss takes it.
    fn lend(batch: &Self::Batch) -> Self::Targets<'_>;

    /// How many answers of `output` are right, of how many, if the task counts right
    /// answers: a class per sample for a classifier, a bit per output for binary
    /// classification. `None` by default: the task's figure is its loss.
    fn right(output: ArrayView2<'_, T>, targets: Self::Targets<'_>) -> Option<(usize, usize)> {
        let _ = (output, targets);
        None
    }
}

/// The [`Loss`] impl of a loss computed by `$f(output, targets, delta)`, its gradient
/// written into `delta` when there is one: its targets are `classes` (`&[usize]`) or
/// `rows` of the outputs' shape (`ArrayView2<T>`).
macro_rules! loss_computed_by {
    ($loss:ty, rows, $f:path) => {
        $crate::loss::loss_computed_by!(@impl $loss, ndarray::ArrayView2<'a, T>, $f);
    };
    ($loss:ty, classes, $f:path) => {
        $crate::loss::loss_computed_by!(@impl $loss, &'a [usize], $f);
    };
    (@impl $loss:ty, $targets:ty, $f:path) => {
        impl<T: $crate::scalar::Scalar> $crate::loss::Loss<T> for $loss {
            type Targets<'a> = $targets;

            fn loss(&self, output: ndarray::ArrayView2<'_, T>, targets: Self::Targets<'_>) -> T {
                $f(output, targets, None)
            }

            fn loss_and_delta(
                &self,
                output: ndarray::ArrayView2<'_, T>,
                targets: Self::Targets<'_>,
                delta: ndarray::ArrayViewMut2<'_, T>,
            ) -> T {
                $f(output, targets, Some(delta))
            }
        }
    };
}
use loss_computed_by;

/// The [`FitLoss`] items of a loss whose targets are rows of `T`, one per sample, with the
/// outputs' shape: batched as [`RowBatch`]es. Used inside `impl<T: Scalar> FitLoss<T>`.
macro_rules! row_targets {
    () => {
        type Batch = $crate::loss::RowBatch<T>;

        fn samples(targets: ndarray::ArrayView2<'_, T>) -> usize {
            targets.nrows()
        }

        fn gather(
            targets: ndarray::ArrayView2<'_, T>,
            samples: &[usize],
            batch: &mut $crate::loss::RowBatch<T>,
        ) {
            batch.gather(targets, samples);
        }

        fn lend(batch: &$crate::loss::RowBatch<T>) -> ndarray::ArrayView2<'_, T> {
            batch.view()
        }
    };
}
use row_targets;

/// A batch of target rows gathered by a training loop: the rows of a regression's or a
/// reconstruction's targets ([`MeanSquaredError`], [`BinaryCrossEntropyWithLogits`]).
#[derive(Clone, Debug, Default)]
pub struct RowBatch<T> {
    values: Vec<T>,
    rows: usize,
    cols: usize,
}

impl<T: Scalar> RowBatch<T> {
    /// Makes the batch the rows `samples` of `targets`, reusing its memory.
    pub fn gather(&mut self, targets: ArrayView2<'_, T>, samples: &[usize]) {
        self.values.clear();
        for &sample in samples {
            self.values.extend(targets.row(sample).iter().copied());
        }
        (self.rows, self.cols) = (samples.len(), targets.ncols());
    }

    /// The rows, as a view.
    pub fn view(&self) -> ArrayView2<'_, T> {
        ArrayView2::from_shape((self.rows, self.cols), &self.values)
            .expect("as many values as rows × columns")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use ndarray::{Array2, ArrayView2, ArrayViewMut2};

    /// Central differences of a loss in f64 against its delta.
    pub(crate) fn check_delta(
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
    fn a_row_batch_gathers_rows_in_order_and_reuses_its_memory() {
        let targets = Array2::from_shape_fn((5, 3), |(i, j)| (10 * i + j) as f32);
        let mut batch = super::RowBatch::default();
        batch.gather(targets.view(), &[4, 0, 2]);
        assert_eq!(
            batch.view(),
            ndarray::array![[40.0, 41.0, 42.0], [0.0, 1.0, 2.0], [20.0, 21.0, 22.0]]
        );
        let capacity = batch.values.capacity();
        batch.gather(targets.view(), &[1]);
        assert_eq!(batch.view(), ndarray::array![[10.0, 11.0, 12.0]]);
        assert_eq!(batch.values.capacity(), capacity);
    }
}

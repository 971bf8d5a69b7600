//! Mini-batches of a data set, in order or in a seeded random order: what a training
//! loop steps through. [`Trainer`](crate::train::Trainer) uses it; a loop of one's own can.

use ndarray::{Array, ArrayView, Axis, Dimension, RemoveAxis, Slice};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::loss::FitLoss;
use crate::scalar::Scalar;

/// The mini-batches of inputs (samples along the first axis) and their targets, of the
/// kind the loss `L` takes, one pass after another.
///
/// In order, each batch is a view of the inputs, with no copy. Shuffled
/// ([`Batches::shuffled`]), every pass visits the samples in a new random order drawn
/// from the seed, the same on every platform, and each batch is gathered into buffers
/// reused from batch to batch: after the first batch, nothing is allocated. The last
/// batch of a pass may be smaller.
///
/// ```
/// use nn_core::data::Batches;
/// use nn_core::ndarray::Array2;
/// use nn_core::MeanSquaredError;
///
/// let x = Array2::from_shape_fn((10, 3), |(i, j)| (3 * i + j) as f32);
/// let mut batches = Batches::new(&MeanSquaredError, x.view(), x.view(), 4).shuffled(7);
/// for _epoch in 0..2 {
///     batches.start_pass();
///     while let Some((inputs, targets)) = batches.next_batch() {
///         assert_eq!(inputs, targets); // an autoencoder's: each row its own target
///     }
/// }
/// ```
pub struct Batches<'a, T: Scalar, D: Dimension, L: FitLoss<T>> {
    inputs: ArrayView<'a, T, D>,
    targets: L::Targets<'a>,
    batch_size: usize,
    order: Vec<usize>,
    /// The position in `order` of the next batch's first sample.
    next: usize,
    rng: Option<ChaCha8Rng>,
    /// `(rank, ranks)`: each batch is this rank's share of the batch of all ranks.
    share: Option<(usize, usize)>,
    batch_inputs: Array<T, D>,
    batch_targets: L::Batch,
}

impl<'a, T: Scalar, D: Dimension + RemoveAxis, L: FitLoss<T>> Batches<'a, T, D, L> {
    /// Batches of `batch_size` of `inputs` and `targets`, in order, for `loss` (which
    /// only names the kind of targets).
    ///
    /// # Panics
    ///
    /// If `batch_size` is 0, or the targets are not one per sample.
    pub fn new(
        loss: &L,
        inputs: ArrayView<'a, T, D>,
        targets: L::Targets<'a>,
        batch_size: usize,
    ) -> Self {
        let _ = loss;
        let samples = inputs.len_of(Axis(0));
        assert!(batch_size > 0, "Batches: the batch size must be at least 1");
        assert_eq!(
            samples,
            L::samples(targets),
            "Batches: {samples} samples but {} targets",
            L::samples(targets)
        );
        let mut shape = inputs.raw_dim();
        shape[0] = 0;
        Batches {
            inputs,
            targets,
            batch_size,
            order: (0..samples).collect(),
            next: 0,
            rng: None,
            share: None,
            batch_inputs: Array::zeros(shape),
            batch_targets: L::Batch::default(),
        }
    }

    /// The same batches in a random order drawn anew for every pass from `seed`.
    pub fn shuffled(mut self, seed: u64) -> Self {
        self.rng = Some(ChaCha8Rng::seed_from_u64(seed));
        self
    }

    /// Each batch is rank `rank`'s share of the batch of `ranks` processes stepping
    /// through the same data in the same order (a data-parallel group): consecutive
    /// shares of every batch, as equal as they can be, which may be empty. The `k`-th
    /// batch of the group (from 0) holds `min(batch_size, samples − k · batch_size)`.
    ///
    /// # Panics
    ///
    /// If `rank` is not less than `ranks`.
    pub fn share(mut self, rank: usize, ranks: usize) -> Self {
        assert!(rank < ranks, "Batches: rank {rank} of {ranks}");
        self.share = Some((rank, ranks));
        self
    }

    /// The number of batches in a pass.
    pub fn len(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Whether a pass has no batch (the data set is empty).
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Starts a pass over the data: from the first batch, in a new order if shuffled.
    pub fn start_pass(&mut self) {
        if let Some(rng) = &mut self.rng {
            self.order.shuffle(rng);
        }
        self.next = 0;
    }

    /// The next batch of the pass, or `None` at its end.
    pub fn next_batch(&mut self) -> Option<(ArrayView<'_, T, D>, L::Targets<'_>)> {
        let start = self.next;
        let end = (start + self.batch_size).min(self.order.len());
        if start >= end {
            return None;
        }
        self.next = end;
        let (start, end) = match self.share {
            Some((rank, ranks)) => {
                let share = share(end - start, rank, ranks);
                (start + share.start, start + share.end)
            }
            None => (start, end),
        };
        let samples = &self.order[start..end];
        L::gather(self.targets, samples, &mut self.batch_targets);
        let targets = L::lend(&self.batch_targets);
        if self.rng.is_none() {
            let inputs = self.inputs.slice_axis(Axis(0), Slice::from(start..end));
            return Some((inputs, targets));
        }
        if self.batch_inputs.len_of(Axis(0)) < samples.len() {
            let mut shape = self.inputs.raw_dim();
            shape[0] = self.batch_size.min(self.order.len());
            self.batch_inputs = Array::zeros(shape);
        }
        let mut inputs = self
            .batch_inputs
            .slice_axis_mut(Axis(0), Slice::from(..samples.len()));
        for (mut row, &sample) in inputs.outer_iter_mut().zip(samples) {
            row.assign(&self.inputs.index_axis(Axis(0), sample));
        }
        let inputs = self
            .batch_inputs
            .slice_axis(Axis(0), Slice::from(..samples.len()));
        Some((inputs, targets))
    }
}

/// Samples `start..end` of a batch of `batch` that rank `rank` of `ranks` takes:
/// consecutive shares, as equal as they can be.
pub(crate) fn share(batch: usize, rank: usize, ranks: usize) -> std::ops::Range<usize> {
    batch * rank / ranks..batch * (rank + 1) / ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::SoftmaxCrossEntropy;
    use ndarray::Array2;

    fn data() -> (Array2<f32>, Vec<usize>) {
        let x = Array2::from_shape_fn((10, 2), |(i, j)| (10 * i + j) as f32);
        (x, (0..10).collect())
    }

    #[test]
    fn in_order_batches_are_views_and_the_last_one_is_short() {
        let (x, labels) = data();
        let mut batches = Batches::new(&SoftmaxCrossEntropy, x.view(), &labels[..], 4);
        assert_eq!(batches.len(), 3);
        let mut seen = Vec::new();
        while let Some((inputs, targets)) = batches.next_batch() {
            // A view of the data itself, not a copy.
            assert!(std::ptr::eq(inputs.as_ptr(), x.row(targets[0]).as_ptr()));
            seen.push(targets.to_vec());
        }
        assert_eq!(seen, [vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
        assert!(batches.next_batch().is_none());
    }

    #[test]
    fn shuffled_passes_visit_every_sample_once_in_new_orders_with_their_targets() {
        let (x, labels) = data();
        let mut batches = Batches::new(&SoftmaxCrossEntropy, x.view(), &labels[..], 3).shuffled(5);
        let mut passes = Vec::new();
        for _ in 0..2 {
            batches.start_pass();
            let mut order = Vec::new();
            while let Some((inputs, targets)) = batches.next_batch() {
                for (row, &label) in inputs.outer_iter().zip(targets) {
                    assert_eq!(row[0], (10 * label) as f32, "a sample kept its target");
                    order.push(label);
                }
            }
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, labels);
            passes.push(order);
        }
        assert_ne!(passes[0], passes[1]);
        assert_ne!(passes[0], labels, "shuffled");
        // The same seed, the same orders.
        let mut again = Batches::new(&SoftmaxCrossEntropy, x.view(), &labels[..], 3).shuffled(5);
        again.start_pass();
        assert_eq!(again.next_batch().unwrap().1, &passes[0][..3]);
    }

    #[test]
    fn the_shares_of_a_group_are_its_batches_cut_in_order() {
        let (x, labels) = data();
        for shuffled in [false, true] {
            let batches = |share: Option<(usize, usize)>| {
                let mut batches = Batches::new(&SoftmaxCrossEntropy, x.view(), &labels[..], 4);
                if shuffled {
                    batches = batches.shuffled(9);
                }
                if let Some((rank, ranks)) = share {
                    batches = batches.share(rank, ranks);
                }
                batches.start_pass();
                let mut out = Vec::new();
                while let Some((inputs, targets)) = batches.next_batch() {
                    assert_eq!(inputs.nrows(), targets.len());
                    out.push(targets.to_vec());
                }
                out
            };
            let whole = batches(None);
            let ranks = 3;
            let shares: Vec<_> = (0..ranks)
                .map(|rank| batches(Some((rank, ranks))))
                .collect();
            for (k, batch) in whole.iter().enumerate() {
                // 10 samples in batches of 4: the last batch of 2 leaves a rank empty.
                let joined: Vec<usize> = shares.iter().flat_map(|s| s[k].clone()).collect();
                assert_eq!(&joined, batch, "batch {k}, shuffled: {shuffled}");
            }
            assert!(shares.iter().any(|s| s[2].is_empty()));
        }
    }

    #[test]
    #[should_panic(expected = "10 samples but 9 targets")]
    fn targets_of_another_count_are_refused() {
        let (x, labels) = data();
        Batches::new(&SoftmaxCrossEntropy, x.view(), &labels[..9], 3);
    }

    #[test]
    fn shares_are_consecutive_cover_the_batch_and_differ_by_at_most_one() {
        for batch in 0..40 {
            for ranks in 1..6 {
                let shares: Vec<_> = (0..ranks).map(|r| super::share(batch, r, ranks)).collect();
                assert_eq!(shares[0].start, 0);
                assert_eq!(shares[ranks - 1].end, batch);
                for pair in shares.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                }
                let (min, max) = shares.iter().fold((usize::MAX, 0), |(lo, hi), s| {
                    (lo.min(s.len()), hi.max(s.len()))
                });
                assert!(max - min <= 1, "{batch} over {ranks}: {shares:?}");
            }
        }
    }
}

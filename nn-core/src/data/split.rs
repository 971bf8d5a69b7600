//! Seeded splits of a data set's samples into training, validation and test sets.
//!
//! A split is a list of sample indices per set, drawn from a seed so that a run can be
//! repeated and its test set stays unseen: the same seed gives the same sets on every
//! platform (the permutation comes from `ChaCha8Rng` and `rand`'s `SliceRandom::shuffle`,
//! which draw the same numbers on 32- and 64-bit machines). The sets are then taken
//! from the data with ndarray's `select`, and from labels with [`select`]:
//!
//! ```
//! use nn_core::data::{select, split, Fractions};
//! use nn_core::ndarray::{Array2, Axis};
//!
//! let x = Array2::<f32>::zeros((100, 4));
//! let labels = vec![1usize; 100];
//! let sets = split(100, Fractions { validation: 0.15, test: 0.15 }, 0);
//! assert_eq!((sets.train.len(), sets.validation.len(), sets.test.len()), (70, 15, 15));
//! let train_x = x.select(Axis(0), &sets.train);        // (70, 4)
//! let train_labels = select(&labels, &sets.train);      // 70 labels, in the same order
//! # assert_eq!(train_x.nrows(), train_labels.len());
//! ```

use std::collections::BTreeMap;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The fractions of the samples that go to the validation and the test sets; the
/// training set takes the rest.
///
/// Each fraction is in `[0, 1)` and their sum is below 1; [`split`] and
/// [`split_stratified`] panic otherwise. `Fractions::default()` is all training.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Fractions {
    /// The fraction of samples in the validation set, such as `0.15`.
    pub validation: f64,
    /// The fraction of samples in the test set, such as `0.15`.
    pub test: f64,
}

/// The indices of the samples in each set: disjoint, together every index below the
/// number of samples once, each list in increasing order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Splits {
    /// The training samples.
    pub train: Vec<usize>,
    /// The validation samples (for early stopping, checkpoints, choosing settings).
    pub validation: Vec<usize>,
    /// The test samples, to be evaluated once at the end.
    pub test: Vec<usize>,
}

/// Splits the samples `0..n` at random, from `seed`, into training, validation and test
/// sets of the given fractions.
///
/// # Sizes
///
/// The test set has `fractions.test × n` samples and the validation set
/// `fractions.validation × n`, each rounded to the nearest whole number (halves up);
/// the training set has the rest, which may be none for a very small `n`. The
/// permutation decides which samples go where: its first samples make the test set,
/// the next the validation set, so that the test set of a seed depends on the test
/// fraction alone, not on the validation fraction.
///
/// # Panics
///
/// If a fraction is not in `[0, 1)` (or is NaN), or the two add up to 1 or more: these
/// are constants of a program, not data.
pub fn split(n: usize, fractions: Fractions, seed: u64) -> Splits {
    check(fractions, "split");
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut splits = Splits::default();
    deal(&order, fractions, &mut splits);
    splits.sort();
    splits
}

/// Splits the samples `0..labels.len()` like [`split`], but class by class, so that
/// each set holds every class in about the proportions of the whole (scikit-learn's
/// `train_test_split(..., stratify=labels)`).
///
/// # Sizes
///
/// The samples of each class are divided by the rule of [`split`]: `fraction × count`
/// of them, rounded to nearest, go to the test and the validation sets. The sizes of
/// the sets are the sums over the classes, so they may differ from [`split`]'s by up to
/// one sample per class, and a class with very few samples may have none in a small
/// set. Classes are visited in increasing order of label, each shuffled in turn by one
/// generator seeded from `seed`.
///
/// # Panics
///
/// As [`split`], if the fractions are not valid.
pub fn split_stratified(labels: &[usize], fractions: Fractions, seed: u64) -> Splits {
    check(fractions, "split_stratified");
    let mut classes: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        classes.entry(label).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut splits = Splits::default();
    for members in classes.values_mut() {
        members.shuffle(&mut rng);
        deal(members, fractions, &mut splits);
    }
    splits.sort();
    splits
}

/// The items of `items` at `indices`, in the order of `indices`: the labels of one set
/// of a [`Splits`], as `array.select(Axis(0), indices)` gives its rows.
///
/// # Panics
///
/// If an index is out of bounds.
pub fn select<T: Clone>(items: &[T], indices: &[usize]) -> Vec<T> {
    indices
        .iter()
        .map(|&i| match items.get(i) {
            Some(item) => item.clone(),
            None => panic!(
                "select: index {i} is out of bounds of {} items",
                items.len()
            ),
        })
        .collect()
}

/// Panics unless `fractions` are valid, naming `caller`.
fn check(fractions: Fractions, caller: &str) {
    let Fractions { validation, test } = fractions;
    for (name, fraction) in [("validation", validation), ("test", test)] {
        assert!(
            (0.0..1.0).contains(&fraction),
            "{caller}: the {name} fraction must be at least 0 and below 1, not {fraction}"
        );
    }
    assert!(
        validation + test < 1.0,
        "{caller}: the validation and test fractions add up to {}, leaving nothing to \
         train on; they must add up to less than 1",
        validation + test
    );
}

/// The size of a set of `fraction` of `n` samples: rounded to nearest, halves up.
fn size(n: usize, fraction: f64) -> usize {
    // At most `n`, as `fraction < 1`; exact for any `n` below 2^53.
    (n as f64 * fraction).round() as usize
}

/// Deals the shuffled `order` into `splits`: the first samples to the test set, the next
/// to the validation set, the rest to the training set.
fn deal(order: &[usize], fractions: Fractions, splits: &mut Splits) {
    let n = order.len();
    let test = size(n, fractions.test);
    // round(a n) + round(b n) < a n + b n + 1 < n + 1 when a + b < 1: the sizes fit.
    let validation = size(n, fractions.validation).min(n - test);
    splits.test.extend_from_slice(&order[..test]);
    splits
        .validation
        .extend_from_slice(&order[test..test + validation]);
    splits.train.extend_from_slice(&order[test + validation..]);
}

impl Splits {
    fn sort(&mut self) {
        self.train.sort_unstable();
        self.validation.sort_unstable();
        self.test.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRACTIONS: Fractions = Fractions {
        validation: 0.15,
        test: 0.15,
    };

    /// Fails unless `splits` is a partition of `0..n` into increasing lists.
    fn assert_partition(splits: &Splits, n: usize) {
        let mut all = Vec::new();
        for set in [&splits.train, &splits.validation, &splits.test] {
            assert!(set.windows(2).all(|w| w[0] < w[1]), "{set:?}");
            all.extend_from_slice(set);
        }
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    fn sizes(splits: &Splits) -> (usize, usize, usize) {
        (
            splits.train.len(),
            splits.validation.len(),
            splits.test.len(),
        )
    }

    #[test]
    fn data_split_is_a_partition_with_rounded_sizes() {
        for n in [0, 1, 2, 3, 7, 10, 100, 569, 1001] {
            let splits = split(n, FRACTIONS, 3);
            assert_partition(&splits, n);
            let expected = (n as f64 * 0.15).round() as usize;
            assert_eq!(splits.test.len(), expected, "n = {n}");
            assert_eq!(splits.validation.len(), expected, "n = {n}");
        }
        assert_eq!(sizes(&split(569, FRACTIONS, 0)), (399, 85, 85));
        assert_eq!(sizes(&split(100, FRACTIONS, 0)), (70, 15, 15));
        // Halves round up: 0.25 × 10 = 2.5 → 3.
        let quarter = Fractions {
            validation: 0.25,
            test: 0.25,
        };
        assert_eq!(sizes(&split(10, quarter, 0)), (4, 3, 3));
        // Near the limits: the sum below 1 leaves the rest, possibly nothing, to train.
        let most = Fractions {
            validation: 0.5,
            test: 0.49,
        };
        assert_eq!(sizes(&split(1, most, 0)), (0, 1, 0));
        assert_eq!(sizes(&split(3, most, 0)), (0, 2, 1));
        assert_eq!(sizes(&split(100, most, 0)), (1, 50, 49));
        assert_eq!(sizes(&split(5, Fractions::default(), 0)), (5, 0, 0));
    }

    #[test]
    fn data_split_is_deterministic_and_depends_on_the_seed() {
        assert_eq!(split(50, FRACTIONS, 7), split(50, FRACTIONS, 7));
        assert_ne!(split(50, FRACTIONS, 7), split(50, FRACTIONS, 8));
        // The same sets on every platform and with every release: pinned.
        let splits = split(12, FRACTIONS, 0);
        assert_eq!(splits.test, PINNED_TEST);
        assert_eq!(splits.validation, PINNED_VALIDATION);
        let stratified = split_stratified(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1], FRACTIONS, 0);
        assert_eq!(stratified.test, PINNED_STRATIFIED_TEST);
    }

    /// The sets of `split(12, FRACTIONS, 0)` and the test set of the stratified split
    /// above, as this version draws them: a change here changes every user's splits.
    const PINNED_TEST: [usize; 2] = [2, 8];
    const PINNED_VALIDATION: [usize; 2] = [1, 6];
    const PINNED_STRATIFIED_TEST: [usize; 2] = [4, 9];

    #[test]
    fn data_split_the_test_set_does_not_depend_on_the_validation_fraction() {
        let without = split(
            200,
            Fractions {
                validation: 0.0,
                test: 0.2,
            },
            5,
        );
        let with = split(
            200,
            Fractions {
                validation: 0.3,
                test: 0.2,
            },
            5,
        );
        assert_eq!(without.test, with.test);
        assert!(with.validation.iter().all(|i| without.train.contains(i)));
    }

    #[test]
    fn data_split_shuffles() {
        // The test set of a split of 1000 is not a block of consecutive indices, and
        // differs from seed to seed.
        let a = split(1000, FRACTIONS, 1).test;
        assert!(a.windows(2).any(|w| w[1] - w[0] > 1));
        assert!(a.first() < Some(&100) && a.last() > Some(&900), "{a:?}");
        let b = split(1000, FRACTIONS, 2).test;
        let common = a.iter().filter(|i| b.contains(i)).count();
        // Two random 150-subsets of 1000 share about 22 indices.
        assert!(common < 60, "{common}");
    }

    #[test]
    fn data_split_stratified_keeps_the_proportions() {
        // 300 of class 0, 100 of class 5, 20 of class 9, interleaved.
        let labels: Vec<usize> = (0..420)
            .map(|i| match i % 21 {
                0 => 9,
                1..=5 => 5,
                _ => 0,
            })
            .collect();
        let counts =
            |set: &[usize], class: usize| set.iter().filter(|&&i| labels[i] == class).count();
        let splits = split_stratified(&labels, FRACTIONS, 11);
        assert_partition(&splits, labels.len());
        for (class, total, in_test) in [(0, 300, 45), (5, 100, 15), (9, 20, 3)] {
            assert_eq!(counts(&splits.test, class), in_test, "class {class}");
            assert_eq!(counts(&splits.validation, class), in_test, "class {class}");
            assert_eq!(counts(&splits.train, class), total - 2 * in_test);
        }
        // A plain split of the same labels does not keep them exactly (for this seed).
        let plain = split(labels.len(), FRACTIONS, 11);
        let exact = [(0, 45), (5, 15), (9, 3)]
            .iter()
            .all(|&(class, n)| counts(&plain.test, class) == n);
        assert!(!exact);
        // Deterministic, seed-dependent; no labels, no samples.
        assert_eq!(splits, split_stratified(&labels, FRACTIONS, 11));
        assert_ne!(splits, split_stratified(&labels, FRACTIONS, 12));
        assert_eq!(split_stratified(&[], FRACTIONS, 0), Splits::default());
        // Huge labels are only keys: no memory in proportion to their value.
        let sparse = split_stratified(&[usize::MAX, 0, usize::MAX], FRACTIONS, 0);
        assert_partition(&sparse, 3);
    }

    #[test]
    fn data_split_select() {
        let labels = ['a', 'b', 'c', 'd'];
        assert_eq!(select(&labels, &[3, 0, 0]), ['d', 'a', 'a']);
        assert!(select(&labels, &[]).is_empty());
    }

    #[test]
    #[should_panic(expected = "select: index 2 is out of bounds of 2 items")]
    fn data_split_select_out_of_bounds_panics() {
        select(&[1, 2], &[0, 2]);
    }

    #[test]
    fn data_split_refuses_bad_fractions() {
        let cases = [
            (
                1.0,
                0.0,
                "the validation fraction must be at least 0 and below 1, not 1",
            ),
            (
                0.0,
                -0.1,
                "the test fraction must be at least 0 and below 1, not -0.1",
            ),
            (
                f64::NAN,
                0.0,
                "the validation fraction must be at least 0 and below 1, not NaN",
            ),
            (
                0.0,
                f64::INFINITY,
                "the test fraction must be at least 0 and below 1, not inf",
            ),
            (0.5, 0.5, "add up to 1, leaving nothing to train on"),
            (0.75, 0.5, "add up to 1.25"),
        ];
        for (validation, test, expected) in cases {
            let fractions = Fractions { validation, test };
            for stratified in [false, true] {
                let result = std::panic::catch_unwind(|| {
                    if stratified {
                        split_stratified(&[0, 1], fractions, 0)
                    } else {
                        split(2, fractions, 0)
                    }
                });
                let payload = result.unwrap_err();
                let message = payload.downcast_ref::<String>().unwrap();
                let caller = if stratified {
                    "split_stratified: "
                } else {
                    "split: "
                };
                assert!(message.starts_with(caller), "{message}");
                assert!(message.contains(expected), "{message} lacks {expected}");
            }
        }
    }
}

//! How good a classifier is: accuracy and the confusion matrix.

use std::fmt;

use ndarray::ArrayView2;

use crate::scalar::Scalar;

/// The index of the largest output of each row (the predicted class); the first one
/// on ties, and a row with a NaN predicts the NaN's class (it compares as the largest).
pub fn predictions<T: Scalar>(outputs: ArrayView2<'_, T>) -> impl Iterator<Item = usize> + '_ {
    outputs.into_outer_iter().map(|row| {
        row.iter()
            .enumerate()
            .fold((0, T::neg_infinity()), |(best, max), (i, &v)| {
                if v > max || (v.is_nan() && !max.is_nan()) {
                    (i, v)
                } else {
                    (best, max)
                }
            })
            .0
    })
}

/// The fraction of rows of `outputs` whose largest entry is at the row's label.
///
/// # Panics
///
/// If there are not as many labels as rows.
pub fn accuracy<T: Scalar>(outputs: ArrayView2<'_, T>, labels: &[usize]) -> f32 {
    assert_eq!(outputs.nrows(), labels.len(), "accuracy: one label per row");
    let correct = predictions(outputs)
        .zip(labels)
        .filter(|(predicted, label)| predicted == *label)
        .count();
    correct as f32 / labels.len().max(1) as f32
}

/// Counts of (true class, predicted class) pairs: row `i`, column `j` is how many
/// samples of class `i` were predicted as class `j`.
///
/// Its `Display` is a table with the true classes down and the predictions across, and
/// each class's recall (the fraction of its samples predicted right) at the end of its
/// row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    counts: Vec<usize>,
}

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// The matrix of a batch of outputs (one column per class) against the labels.
    ///
    /// # Panics
    ///
    /// If there are not as many labels as rows, or a label is not below the number of
    /// columns.
    pub fn from_outputs<T: Scalar>(outputs: ArrayView2<'_, T>, labels: &[usize]) -> Self {
        let mut matrix = ConfusionMatrix::new(outputs.ncols());
        matrix.add_outputs(outputs, labels);
        matrix
    }

    /// Counts a batch of outputs against the labels.
    ///
    /// # Panics
    ///
    /// As [`ConfusionMatrix::from_outputs`], or if the outputs do not have one column
    /// per class.
    pub fn add_outputs<T: Scalar>(&mut self, outputs: ArrayView2<'_, T>, labels: &[usize]) {
        assert_eq!(
            outputs.nrows(),
            labels.len(),
            "confusion matrix: one label per row"
        );
        assert_eq!(
            outputs.ncols(),
            self.classes,
            "confusion matrix: outputs with {} columns for {} classes",
            outputs.ncols(),
            self.classes
        );
        for (predicted, &label) in predictions(outputs).zip(labels) {
            self.add(label, predicted);
        }
    }

    /// Counts one sample of class `actual` predicted as `predicted`.
    ///
    /// # Panics
    ///
    /// If either is not below the number of classes.
    pub fn add(&mut self, actual: usize, predicted: usize) {
        assert!(
            actual < self.classes && predicted < self.classes,
            "confusion matrix: class {actual} predicted as {predicted}, but there are {} classes",
            self.classes
        );
        self.counts[actual * self.classes + predicted] += 1;
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How many samples of class `actual` were predicted as `predicted`.
    pub fn count(&self, actual: usize, predicted: usize) -> usize {
        self.counts[actual * self.classes + predicted]
    }

    /// The number of samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The fraction of samples on the diagonal.
    pub fn accuracy(&self) -> f32 {
        let correct: usize = (0..self.classes).map(|c| self.count(c, c)).sum();
        correct as f32 / self.total().max(1) as f32
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .counts
            .iter()
            .max()
            .map_or(1, |m| m.to_string().len())
            .max(self.classes.saturating_sub(1).to_string().len())
            .max(1);
        let label_width = "true\\predicted".len();
        write!(f, "{:>label_width$}", "true\\predicted")?;
        for predicted in 0..self.classes {
            write!(f, " {predicted:>width$}")?;
        }
        writeln!(f, "   recall")?;
        for actual in 0..self.classes {
            write!(f, "{actual:>label_width$}")?;
            let mut row_total = 0;
            for predicted in 0..self.classes {
                let count = self.count(actual, predicted);
                row_total += count;
                write!(f, " {count:>width$}")?;
            }
            match row_total {
                0 => writeln!(f, "        -")?,
                _ => {
                    let recall = self.count(actual, actual) as f32 / row_total as f32;
                    writeln!(f, "   {recall:.4}")?
                }
            }
        }
        write!(
            f,
            "accuracy {:.4} over {} samples",
            self.accuracy(),
            self.total()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn predictions_take_the_first_largest_entry() {
        let outputs = array![[0.1, 0.7, 0.2], [0.5, 0.5, 0.0], [-1.0, -3.0, -2.0]];
        assert_eq!(predictions(outputs.view()).collect::<Vec<_>>(), [1, 0, 0]);
        assert_eq!(accuracy(outputs.view(), &[1, 1, 0]), 2.0 / 3.0);
    }

    #[test]
    fn confusion_matrix_counts_pairs_and_prints_a_table() {
        let outputs = array![[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]];
        let matrix = ConfusionMatrix::from_outputs(outputs.view(), &[0, 0, 1, 1, 1]);
        assert_eq!(
            (
                matrix.count(0, 0),
                matrix.count(0, 1),
                matrix.count(1, 0),
                matrix.count(1, 1)
            ),
            (1, 1, 1, 2)
        );
        assert_eq!(matrix.total(), 5);
        assert_eq!(matrix.accuracy(), 0.6);
        let expected = [
            "true\\predicted 0 1   recall",
            "             0 1 1   0.5000",
            "             1 1 2   0.6667",
            "accuracy 0.6000 over 5 samples",
        ];
        assert_eq!(matrix.to_string(), expected.join("\n"));
    }
}

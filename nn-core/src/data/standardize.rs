//! Standardisation of features: each column shifted to mean 0 and scaled to standard
//! deviation 1.
//!
//! Features on very different scales (a radius near 10, an area near 1,000, a
//! smoothness near 0.1) make gradient descent crawl along the small ones, so tabular
//! data is standardised before training. The mean and scale are learnt from the
//! training set alone and applied unchanged to the validation and test sets, as
//! scikit-learn's `StandardScaler` and PyTorch recipes do: learning them from all the
//! data would leak the test set into training.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};

use crate::scalar::Scalar;

/// A per-column affine map `x ↦ (x − mean) / scale`, fitted to a training set.
///
/// `mean` and `scale` are each column's mean and standard deviation over the rows it
/// was fitted on, computed in `f64` whatever the element type: the population standard
/// deviation (dividing by `n`, NumPy's `ddof=0`), as scikit-learn's `StandardScaler`.
/// A column whose values are all equal gets scale 1 and its value as mean, so it
/// becomes 0 rather than a division by zero.
///
/// ```
/// use nn_core::data::Standardizer;
/// use nn_core::ndarray::array;
///
/// let train = array![[1.0f32, 10.0, 5.0], [3.0, 30.0, 5.0]];
/// let scaler = Standardizer::fit(train.view());
/// assert_eq!(scaler.mean(), [2.0, 20.0, 5.0]);
/// assert_eq!(scaler.scale(), [1.0, 10.0, 1.0]);          // the constant column: 1
/// let test = array![[2.0f32, 40.0, 6.0]];
/// assert_eq!(scaler.transform(test.view()), array![[0.0f32, 2.0, 1.0]]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    mean: Vec<f64>,
    scale: Vec<f64>,
}

impl Standardizer {
    /// Learns each column's mean and standard deviation from the rows of `x` (samples
    /// along the first axis): fit on the training set only.
    ///
    /// A column holding a NaN or an infinity gets a NaN mean or scale, and its values
    /// become NaN when transformed ([`Table`](super::Table) never holds such values).
    ///
    /// # Panics
    ///
    /// If `x` has no rows: there is nothing to learn a mean from.
    pub fn fit<T: Scalar>(x: ArrayView2<'_, T>) -> Standardizer {
        let n = x.nrows();
        assert!(
            n > 0,
            "Standardizer::fit: x has no rows to learn a mean from"
        );
        let (mean, scale) = x
            .columns()
            .into_iter()
            .map(|column| {
                let first = column[0].widen();
                if column.iter().all(|v| v.widen() == first) {
                    return (first, 1.0);
                }
                let mean = column.iter().map(|v| v.widen()).sum::<f64>() / n as f64;
                let squares: f64 = column.iter().map(|v| (v.widen() - mean).powi(2)).sum();
                let std = (squares / n as f64).sqrt();
                // Unequal values whose squared deviations underflow: scale 1, as equal ones.
                (mean, if std == 0.0 { 1.0 } else { std })
            })
            .unzip();
        Standardizer { mean, scale }
    }

    /// A standardizer with the given means and scales, such as those of a fitted one
    /// kept with a trained network ([`Standardizer::mean`], [`Standardizer::scale`]).
    ///
    /// # Panics
    ///
    /// If `mean` and `scale` differ in length, or a scale is not finite and positive.
    pub fn new(mean: Vec<f64>, scale: Vec<f64>) -> Standardizer {
        assert_eq!(
            mean.len(),
            scale.len(),
            "Standardizer::new: one scale per mean"
        );
        if let Some((j, s)) = scale
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            panic!("Standardizer::new: the scale of column {j} is {s}, not a positive number");
        }
        Standardizer { mean, scale }
    }

    /// Each column's mean, subtracted by the transform.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Each column's standard deviation (1 for a constant column), divided by by the
    /// transform.
    pub fn scale(&self) -> &[f64] {
        &self.scale
    }

    /// The number of columns the standardizer was fitted on.
    pub fn columns(&self) -> usize {
        self.mean.len()
    }

    /// `x` standardised: `(x[i, j] − mean[j]) / scale[j]`, computed in `f64` and rounded
    /// to the element type.
    ///
    /// # Panics
    ///
    /// If `x` has another number of columns than the data the standardizer was fitted
    /// on.
    pub fn transform<T: Scalar>(&self, x: ArrayView2<'_, T>) -> Array2<T> {
        let mut out = x.to_owned();
        self.transform_inplace(out.view_mut());
        out
    }

    /// [`Standardizer::transform`] in place, without an allocation.
    ///
    /// # Panics
    ///
    /// As [`Standardizer::transform`].
    pub fn transform_inplace<T: Scalar>(&self, mut x: ArrayViewMut2<'_, T>) {
        self.check_columns(x.ncols(), "transform");
        for mut row in x.rows_mut() {
            for ((v, &mean), &scale) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = T::of_f64((v.widen() - mean) / scale);
            }
        }
    }

    /// The inverse of the transform, `x[i, j] × scale[j] + mean[j]`: standardised
    /// values (a regression network's outputs, say) back in the original units.
    ///
    /// # Panics
    ///
    /// As [`Standardizer::transform`].
    pub fn inverse_transform<T: Scalar>(&self, x: ArrayView2<'_, T>) -> Array2<T> {
        self.check_columns(x.ncols(), "inverse_transform");
        let mut out = x.to_owned();
        for mut row in out.rows_mut() {
            for ((v, &mean), &scale) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = T::of_f64(v.widen() * scale + mean);
            }
        }
        out
    }

    fn check_columns(&self, columns: usize, method: &str) {
        assert_eq!(
            columns,
            self.columns(),
            "Standardizer::{method}: x has {columns} columns, but the standardizer was \
             fitted on {}",
            self.columns()
        );
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, Array2, ShapeBuilder};

    use super::*;

    #[test]
    fn data_standardize_population_statistics_like_scikit_learn() {
        // sklearn.preprocessing.StandardScaler().fit([[1, -2], [2, 0], [6, 8]]):
        // mean_ = [3, 2], scale_ = [2.160246899469287, 4.320493798938574] (NumPy's
        // x.std(0), ddof=0).
        let x = array![[1.0f64, -2.0], [2.0, 0.0], [6.0, 8.0]];
        let scaler = Standardizer::fit(x.view());
        assert_eq!(scaler.mean(), [3.0, 2.0]);
        assert_eq!(
            scaler.scale(),
            [2.160_246_899_469_287, 4.320_493_798_938_574]
        );
        assert_eq!(scaler.columns(), 2);
        let z = scaler.transform(x.view());
        for column in z.columns() {
            let mean = column.sum() / 3.0;
            let var = column.mapv(|v| (v - mean).powi(2)).sum() / 3.0;
            assert!(mean.abs() < 1e-15 && (var - 1.0).abs() < 1e-15, "{column}");
        }
        assert!((z[[0, 0]] - (-2.0 / 2.160_246_899_469_287)).abs() < 1e-15);
    }

    #[test]
    fn data_standardize_f32_statistics_are_taken_in_f64() {
        // 10^4 copies of 0.1f32 and of 0.3f32: an f32 sum would drift; f64 does not.
        let mut x = Array2::<f32>::zeros((20_000, 1));
        for (i, v) in x.iter_mut().enumerate() {
            *v = if i % 2 == 0 { 0.1 } else { 0.3 };
        }
        // Summed in f32, the mean would be off by about 1e-4 (checked here, so that the
        // bound below means something); in f64 it is exact and the scale within 1e-12.
        let f32_sum: f32 = x.iter().sum();
        assert!((f64::from(f32_sum) / 20_000.0 - 0.2).abs() > 1e-6);
        let scaler = Standardizer::fit(x.view());
        let exact_mean = (f64::from(0.1f32) + f64::from(0.3f32)) / 2.0;
        assert_eq!(scaler.mean()[0], exact_mean);
        let exact_scale = (f64::from(0.3f32) - f64::from(0.1f32)) / 2.0;
        assert!((scaler.scale()[0] - exact_scale).abs() < 1e-12);
        let z = scaler.transform(x.view());
        assert_eq!((z[[0, 0]], z[[1, 0]]), (-1.0, 1.0));
    }

    #[test]
    fn data_standardize_constant_columns_become_zero() {
        // 0.1 ten times: a mean taken by summing is not exactly 0.1, and the deviations
        // would be divided by a scale of about 1e-17; a constant column is found as such.
        let x = Array2::from_shape_fn((10, 3), |(i, j)| match j {
            0 => 0.1,
            1 => i as f64,
            _ => -7.0,
        });
        let scaler = Standardizer::fit(x.view());
        assert_eq!((scaler.mean()[0], scaler.scale()[0]), (0.1, 1.0));
        assert_eq!((scaler.mean()[2], scaler.scale()[2]), (-7.0, 1.0));
        let z = scaler.transform(x.view());
        assert!(z.column(0).iter().all(|&v| v == 0.0));
        assert!(z.column(2).iter().all(|&v| v == 0.0));
        // A single row: every column is constant.
        let one = Standardizer::fit(array![[3.0f32, 4.0]].view());
        assert_eq!(one.scale(), [1.0, 1.0]);
        // Unequal values whose squared deviations underflow to 0: scale 1 too.
        let tiny = Standardizer::fit(array![[0.0f64], [5e-324]].view());
        assert_eq!(tiny.scale(), [1.0]);
        assert!(tiny.transform(array![[5e-324f64]].view())[[0, 0]].is_finite());
    }

    #[test]
    fn data_standardize_applies_the_fit_to_other_data() {
        let train = array![[0.0f32, 100.0], [2.0, 300.0]];
        let scaler = Standardizer::fit(train.view());
        let mut test = array![[4.0f32, 0.0], [1.0, 200.0]];
        let expected = array![[3.0f32, -2.0], [0.0, 0.0]];
        assert_eq!(scaler.transform(test.view()), expected);
        scaler.transform_inplace(test.view_mut());
        assert_eq!(test, expected);
        assert_eq!(
            scaler.inverse_transform(test.view()),
            array![[4.0f32, 0.0], [1.0, 200.0]]
        );
        // Any layout: a column-major array and a transposed view.
        let mut fortran = Array2::<f32>::zeros((2, 2).f());
        fortran.assign(&array![[4.0f32, 0.0], [1.0, 200.0]]);
        assert_eq!(scaler.transform(fortran.view()), expected);
        let t = array![[4.0f32, 1.0], [0.0, 200.0]];
        assert_eq!(scaler.transform(t.t()), expected);
        // No rows is fine once fitted.
        assert_eq!(
            scaler.transform(Array2::<f32>::zeros((0, 2)).view()).dim(),
            (0, 2)
        );
    }

    #[test]
    fn data_standardize_new_round_trips() {
        let scaler = Standardizer::fit(array![[1.0f64, 2.0], [3.0, 8.0]].view());
        let copy = Standardizer::new(scaler.mean().to_vec(), scaler.scale().to_vec());
        assert_eq!(copy, scaler);
    }

    #[test]
    fn data_standardize_nan_poisons_its_column_only() {
        let scaler = Standardizer::fit(array![[f64::NAN, 1.0], [1.0, 3.0]].view());
        assert!(scaler.mean()[0].is_nan());
        assert_eq!((scaler.mean()[1], scaler.scale()[1]), (2.0, 1.0));
    }

    #[test]
    #[should_panic(
        expected = "Standardizer::transform: x has 3 columns, but the standardizer was fitted on 2"
    )]
    fn data_standardize_transform_panics_on_a_column_mismatch() {
        let scaler = Standardizer::fit(array![[1.0f32, 2.0]].view());
        scaler.transform(Array2::<f32>::zeros((1, 3)).view());
    }

    #[test]
    #[should_panic(expected = "Standardizer::transform: x has 1 columns")]
    fn data_standardize_transform_inplace_panics_on_a_column_mismatch() {
        let scaler = Standardizer::fit(array![[1.0f32, 2.0]].view());
        scaler.transform_inplace(Array2::<f32>::zeros((4, 1)).view_mut());
    }

    #[test]
    #[should_panic(expected = "Standardizer::inverse_transform: x has 1 columns")]
    fn data_standardize_inverse_transform_panics_on_a_column_mismatch() {
        let scaler = Standardizer::fit(array![[1.0f32, 2.0]].view());
        scaler.inverse_transform(Array2::<f32>::zeros((4, 1)).view());
    }

    #[test]
    #[should_panic(expected = "Standardizer::fit: x has no rows")]
    fn data_standardize_fit_panics_without_rows() {
        Standardizer::fit(Array2::<f32>::zeros((0, 3)).view());
    }

    #[test]
    #[should_panic(
        expected = "Standardizer::new: the scale of column 1 is 0, not a positive number"
    )]
    fn data_standardize_new_panics_on_a_zero_scale() {
        Standardizer::new(vec![0.0, 0.0], vec![1.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "Standardizer::new: one scale per mean")]
    fn data_standardize_new_panics_on_lengths() {
        Standardizer::new(vec![0.0, 0.0], vec![1.0]);
    }
}

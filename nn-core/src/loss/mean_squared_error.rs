//! The mean squared error, PyTorch's `nn.MSELoss`: regression, and reconstruction with
//! the input as its own target.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use super::FitLoss;
use crate::scalar::Scalar;

/// The mean squared error `mean((a − y)²)` over every element, PyTorch's `nn.MSELoss`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeanSquaredError;

super::loss_computed_by!(MeanSquaredError, rows, mean_squared_error);

/// Rows of targets; no metric but the loss.
impl<T: Scalar> FitLoss<T> for MeanSquaredError {
    super::row_targets!();
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
    use crate::loss::tests::check_delta;
    use crate::loss::Loss;
    use ndarray::array;

    #[test]
    fn mean_squared_error_gradient_matches_central_differences() {
        let z = array![[0.2, -1.0], [1.5, 3.0], [0.0, 0.1]];
        let y = array![[0.0, 1.0], [1.0, 2.0], [-0.5, 0.5]];
        check_delta(|z, d| mean_squared_error(z, y.view(), d), z);
    }

    #[test]
    fn mean_squared_error_is_the_mean_over_every_element() {
        let a = array![[1.0f32, 2.0], [3.0, 4.0]];
        let y = array![[0.0f32, 2.0], [3.0, 6.0]];
        assert_eq!(MeanSquaredError.loss(a.view(), y.view()), (1.0 + 4.0) / 4.0);
    }
}

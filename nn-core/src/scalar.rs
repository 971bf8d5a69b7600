//! The element types the kernels accept.
//!
//! Networks store `f32`, like PyTorch's default. Every kernel is generic over
//! [`Scalar`] as well, so the finite-difference checks in the tests can run in `f64`,
//! where a tight tolerance is meaningful (PyTorch's `gradcheck` insists on the same).

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float, FromPrimitive};

/// A floating-point element type: `f32` or `f64`.
pub trait Scalar:
    LinalgScalar + ScalarOperand + Float + FromPrimitive + std::fmt::Debug + Send + Sync
{
    /// Converts an `f32` constant (a slope, a learning rate) to this type.
    fn of_f32(value: f32) -> Self;
}

impl Scalar for f32 {
    fn of_f32(value: f32) -> Self {
        value
    }
}

impl Scalar for f64 {
    fn of_f32(value: f32) -> Self {
        f64::from(value)
    }
}

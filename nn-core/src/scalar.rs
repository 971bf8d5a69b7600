//! The element types the kernels accept.
//!
//! Networks store `f32`, like PyTorch's default. Every kernel is generic over
//! [`Scalar`] as well, so the finite-difference checks in the tests can run in `f64`,
//! where a tight tolerance is meaningful (PyTorch's `gradcheck` insists on the same).

use std::any::TypeId;

use ndarray::{ArrayView, ArrayViewMut, Dimension, LinalgScalar, ScalarOperand, Zip};
use num_traits::{Float, FromPrimitive};

/// A floating-point element type: `f32` or `f64`.
pub trait Scalar:
    LinalgScalar + ScalarOperand + Float + FromPrimitive + std::fmt::Debug + Send + Sync
{
    /// Converts an `f32` constant (a slope, a learning rate) to this type.
    fn of_f32(value: f32) -> Self;
}

/// `sum += part`, element by element: where a sum taken in parts is put together.
pub(crate) fn add_into<T: Scalar, D: Dimension>(
    mut sum: ArrayViewMut<'_, T, D>,
    part: ArrayView<'_, T, D>,
) {
    Zip::from(&mut sum)
        .and(&part)
        .for_each(|sum, &part| *sum = *sum + part);
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

/// `values` as a slice of `U`, if `T` is `U`: for kernels written for `f32` alone, called
/// from code generic over the element type.
pub(crate) fn same_type<T: 'static, U: 'static>(values: &[T]) -> Option<&[U]> {
    // SAFETY: T and U are the same type.
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { &*(values as *const [T] as *const [U]) })
}

/// [`same_type`], to write to.
pub(crate) fn same_type_mut<T: 'static, U: 'static>(values: &mut [T]) -> Option<&mut [U]> {
    // SAFETY: T and U are the same type.
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { &mut *(values as *mut [T] as *mut [U]) })
}

/// [`same_type_mut`] for a view of any layout.
pub(crate) fn same_type_view_mut<'a, T: 'static, U: 'static, D: Dimension>(
    mut view: ArrayViewMut<'a, T, D>,
) -> Option<ArrayViewMut<'a, U, D>> {
    // SAFETY: T and U are the same type, so the view's elements are valid `U`s, borrowed
    // as long and as exclusively as by `view`, which is consumed.
    (TypeId::of::<T>() == TypeId::of::<U>())
        .then(|| unsafe { view.raw_view_mut().cast::<U>().deref_into_view_mut() })
}

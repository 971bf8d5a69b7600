//! The element types of networks and kernels: `f32`, like PyTorch's default, or `f64`.
//!
//! Every kernel is generic over [`Scalar`]. The fast paths written for `f32` alone (the
//! packed matrix products, the direct convolutions, the pooling adjoint) are reached
//! through [`Scalar::as_f32`] and its siblings, which each type implements: `f32`
//! hands its slices over, `f64` declines, and its kernels take the general path.

use ndarray::{ArrayView, ArrayViewMut, Dimension, LinalgScalar, ScalarOperand, Zip};
use num_traits::{Float, FromPrimitive, NumAssign};

/// What data-parallel training needs of an element type: with the feature `mpi`, MPI's
/// description of it (rsmpi's `Equivalence`); without, nothing.
#[cfg(feature = "mpi")]
pub use mpi::traits::Equivalence as Communicable;

/// What data-parallel training needs of an element type: with the feature `mpi`, MPI's
/// description of it (rsmpi's `Equivalence`); without, nothing.
#[cfg(not(feature = "mpi"))]
pub trait Communicable {}
#[cfg(not(feature = "mpi"))]
impl Communicable for f32 {}
#[cfg(not(feature = "mpi"))]
impl Communicable for f64 {}

/// A floating-point element type: `f32` or `f64`.
pub trait Scalar:
    LinalgScalar
    + ScalarOperand
    + Float
    + NumAssign
    + FromPrimitive
    + std::fmt::Debug
    + std::fmt::Display
    + Default
    + Send
    + Sync
    + Communicable
    + 'static
{
    /// Whether the kernels written for `f32` alone (the packed and direct matrix
    /// products) multiply this type; the others take ndarray's general product.
    const F32_KERNELS: bool;

    /// The safetensors dtype of this type's tensors: `F32` or `F64`.
    const DTYPE: safetensors::Dtype;

    /// The `f32` words one element takes in the threads' scratch space: 1 or 2.
    const WORDS: usize;

    /// Converts an `f32` constant (a slope, a learning rate) to this type.
    fn of_f32(value: f32) -> Self;

    /// This value in `f64`, exactly: where sums are taken in `f64` whatever the type.
    fn widen(self) -> f64;

    /// Converts an `f64` constant (PyTorch's Python floats) to this type, rounding to
    /// nearest.
    fn of_f64(value: f64) -> Self;

    /// `values` as `f32`, if this type is `f32`: the way into a kernel written for `f32`
    /// alone.
    fn as_f32(values: &[Self]) -> Option<&[f32]>;

    /// [`Scalar::as_f32`], to write to.
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]>;

    /// [`Scalar::as_f32_mut`] for a view of any layout.
    fn view_as_f32_mut<D: Dimension>(
        view: ArrayViewMut<'_, Self, D>,
    ) -> Option<ArrayViewMut<'_, f32, D>>;

    /// `words`, which start on a cache line, as `words.len() / WORDS` elements: how a
    /// thread's scratch space (kept in `f32` words) lends itself to either type.
    fn of_words(words: &mut [f32]) -> &mut [Self];

    /// Appends the little-endian bytes of `self`, as safetensors stores it.
    fn push_le_bytes(self, bytes: &mut Vec<u8>);

    /// The value of the little-endian bytes `bytes`, of which there are exactly
    /// `size_of::<Self>()`.
    fn from_le_slice(bytes: &[u8]) -> Self;
}

impl Scalar for f32 {
    const DTYPE: safetensors::Dtype = safetensors::Dtype::F32;
    const F32_KERNELS: bool = true;
    const WORDS: usize = 1;

    fn of_f32(value: f32) -> Self {
        value
    }

    fn widen(self) -> f64 {
        f64::from(self)
    }

    fn of_f64(value: f64) -> Self {
        value as f32
    }

    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        Some(values)
    }

    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        Some(values)
    }

    fn view_as_f32_mut<D: Dimension>(
        view: ArrayViewMut<'_, Self, D>,
    ) -> Option<ArrayViewMut<'_, f32, D>> {
        Some(view)
    }

    fn of_words(words: &mut [f32]) -> &mut [Self] {
        words
    }

    fn push_le_bytes(self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&self.to_le_bytes());
    }

    fn from_le_slice(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }
}

impl Scalar for f64 {
    const DTYPE: safetensors::Dtype = safetensors::Dtype::F64;
    const F32_KERNELS: bool = false;
    const WORDS: usize = 2;

    fn of_f32(value: f32) -> Self {
        f64::from(value)
    }

    fn widen(self) -> f64 {
        self
    }

    fn of_f64(value: f64) -> Self {
        value
    }

    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }

    fn as_f32_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }

    fn view_as_f32_mut<D: Dimension>(
        _: ArrayViewMut<'_, Self, D>,
    ) -> Option<ArrayViewMut<'_, f32, D>> {
        None
    }

    fn of_words(words: &mut [f32]) -> &mut [Self] {
        assert_eq!(
            words.as_ptr().align_offset(std::mem::align_of::<f64>()),
            0,
            "scratch words start on a cache line"
        );
        // SAFETY: the words are aligned for f64 (checked above), every bit pattern is a
        // valid f64, and the result covers no more bytes than `words`, borrowed as long
        // and as exclusively.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast(), words.len() / 2) }
    }

    fn push_le_bytes(self, bytes: &mut Vec<u8>) {
        bytes.extend_from_slice(&self.to_le_bytes());
    }

    fn from_le_slice(bytes: &[u8]) -> Self {
        f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
}

/// `sum += part`, element by element: where a sum taken in parts is put together.
pub(crate) fn add_into<T: Scalar, D: Dimension>(
    mut sum: ArrayViewMut<'_, T, D>,
    part: ArrayView<'_, T, D>,
) {
    Zip::from(&mut sum)
        .and(&part)
        .for_each(|sum, &part| *sum += part);
}

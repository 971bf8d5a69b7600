//! Parameters stored from the start of a cache line.
//!
//! At small batches the products read the weights row by row with vector loads, and the
//! allocator places a large array 16 bytes past a page boundary, where every other
//! 32-byte load would straddle two cache lines. So the layers keep their parameters in
//! arrays that start on a line, made here, and their `Clone` copies into such an array
//! rather than cloning the buffer (a clone keeps the element offset, not the alignment).

use ndarray::{s, Array, Array1, Dimension};

use crate::scalar::Scalar;

/// An array of zeros of shape `dim`, in standard layout, whose first element starts a
/// cache line.
pub(crate) fn zeros<T: Scalar, D: Dimension>(dim: D) -> Array<T, D> {
    // Elements in a cache line of 64 bytes.
    let line = 64 / std::mem::size_of::<T>();
    let len = dim.size();
    let buffer = vec![T::zero(); len + line];
    let offset = buffer.as_ptr().align_offset(64).min(line);
    Array1::from_vec(buffer)
        .slice_move(s![offset..offset + len])
        .into_shape_with_order(dim)
        .expect("a contiguous run of the right length")
}

/// A copy of `array` in standard layout, starting on a cache line.
pub(crate) fn copy<T: Scalar, D: Dimension>(array: &Array<T, D>) -> Array<T, D> {
    let mut copy = zeros(array.raw_dim());
    copy.assign(array);
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn arrays_start_on_a_cache_line_and_copies_too() {
        for (rows, cols) in [(1, 1), (3, 5), (128, 784), (10, 128)] {
            let mut a: Array2<f32> = zeros(ndarray::Ix2(rows, cols));
            assert_eq!(a.as_ptr() as usize % 64, 0);
            assert!(a.is_standard_layout() && a.iter().all(|&v| v == 0.0));
            a.iter_mut().enumerate().for_each(|(i, v)| *v = i as f32);
            let b = copy(&a);
            assert_eq!(b.as_ptr() as usize % 64, 0);
            assert_eq!(a, b);
            assert_eq!(b.as_slice().map(<[f32]>::len), Some(rows * cols));
        }
    }
}

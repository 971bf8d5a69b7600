//! Parameters stored from the start of a cache line.
//!
//! At small batches the products read the weights row by row with vector loads. The
//! allocator places a large array 16 bytes past a page boundary, and then every other
//! 32-byte load straddles two cache lines: measured on W1 at batch 1, inference took
//! 7–9.5 µs with weights 16 or 48 bytes past a line and 5.1 µs from 32 or 0. So the
//! layers keep their parameters in arrays that start on a line, made here, and their
//! `Clone` copies into such an array rather than cloning the buffer (a clone keeps the
//! element offset, not the alignment).

use std::any::TypeId;
use std::cell::RefCell;

use ndarray::{s, Array, Array1, Dimension, Ix1};

use crate::scalar::{same_type_mut, Scalar};

/// Floats in a cache line of 64 bytes.
const LINE: usize = 64 / std::mem::size_of::<f32>();

/// An array of zeros of shape `dim`, in standard layout, whose first element starts a
/// cache line.
pub(crate) fn zeros<D: Dimension>(dim: D) -> Array<f32, D> {
    let len = dim.size();
    let buffer = vec![0.0f32; len + LINE];
    let offset = buffer.as_ptr().align_offset(64).min(LINE);
    Array1::from_vec(buffer)
        .slice_move(s![offset..offset + len])
        .into_shape_with_order(dim)
        .expect("a contiguous run of the right length")
}

/// A copy of `array` in standard layout, starting on a cache line.
pub(crate) fn copy<D: Dimension>(array: &Array<f32, D>) -> Array<f32, D> {
    let mut copy = zeros(array.raw_dim());
    copy.assign(array);
    copy
}

/// A buffer of `f32` that starts on a cache line, so that no vector load from it
/// straddles two lines, and that grows to the longest length asked of it.
#[derive(Default)]
pub(crate) struct Buffer(Option<Array1<f32>>);

impl Buffer {
    /// `len` floats starting on a cache line, growing the buffer if it is too short.
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        if self.0.as_ref().is_none_or(|buffer| buffer.len() < len) {
            self.0 = Some(zeros(Ix1(len)));
        }
        let buffer = self.0.as_mut().expect("made above");
        &mut buffer.as_slice_mut().expect("standard layout")[..len]
    }
}

/// What a thread's scratch space holds; each has its own buffer, so that a kernel can use
/// both at once.
#[derive(Clone, Copy)]
pub(crate) enum Scratch {
    /// A sample's unrolled input to a convolution, or its error signal in columns.
    Unrolled = 0,
    /// A partial sum of a gradient, over part of a batch.
    Sums = 1,
}

thread_local! {
    static SCRATCH: [RefCell<Buffer>; 2] = Default::default();
}

/// Runs `f` on `len` elements of scratch space for `what`, whose contents are left from
/// earlier use: `f` must write before it reads.
///
/// For `f32` the space is the calling thread's, made on its first use and kept, like the
/// matrix products' packing buffers, so a kernel that works one sample at a time keeps
/// its working set in cache and a warmed-up step allocates nothing. Other types (the
/// `f64` of the gradient checks) get a fresh vector.
pub(crate) fn with_scratch<T: Scalar, R>(
    what: Scratch,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    if TypeId::of::<T>() != TypeId::of::<f32>() {
        return f(&mut vec![T::zero(); len]);
    }
    let run = |buffer: &mut Buffer| f(same_type_mut(buffer.get(len)).expect("T is f32"));
    let mut run = Some(run);
    let ran = SCRATCH.try_with(|scratch| {
        let run = run.take().expect("called once");
        match scratch[what as usize].try_borrow_mut() {
            Ok(mut buffer) => run(&mut buffer),
            // Only a kernel run from inside another's use of the same scratch on the same
            // thread (a stolen rayon job) could get here: it gets its own.
            Err(_) => run(&mut Buffer::default()),
        }
    });
    match ran {
        Ok(result) => result,
        // The thread is being torn down and its buffers are gone.
        Err(_) => run.take().expect("not run")(&mut Buffer::default()),
    }
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

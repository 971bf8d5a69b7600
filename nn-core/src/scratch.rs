//! Scratch space each thread keeps for the kernels, made on its first use and grown to
//! the largest size asked of it: a warmed-up training step allocates nothing, and a
//! kernel that works a sample at a time keeps its working set in cache.

use std::any::TypeId;
use std::cell::RefCell;

use ndarray::{Array1, Ix1};

use crate::aligned;
use crate::scalar::{same_type_mut, Scalar};

/// A buffer of `f32` that starts on a cache line, so that no vector load from it
/// straddles two lines, and that grows to the longest length asked of it.
#[derive(Default)]
pub(crate) struct Buffer(Option<Array1<f32>>);

impl Buffer {
    /// `len` floats starting on a cache line, growing the buffer if it is too short.
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        if self.0.as_ref().is_none_or(|buffer| buffer.len() < len) {
            self.0 = Some(aligned::zeros(Ix1(len)));
        }
        let buffer = self.0.as_mut().expect("made above");
        &mut buffer.as_slice_mut().expect("standard layout")[..len]
    }

    /// The floats the buffer holds.
    pub(crate) fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |buffer| buffer.len())
    }
}

/// What a thread's scratch space holds; each has its own buffer, so that a kernel can use
/// both at once.
#[derive(Clone, Copy)]
pub(crate) enum Space {
    /// A sample's unrolled input to a convolution, or its error signal in columns.
    Unrolled = 0,
    /// A partial sum of a gradient, over part of a batch.
    Sums = 1,
    /// A matrix product's sum over the second half of its depth.
    Partial = 2,
}

thread_local! {
    static SCRATCH: [RefCell<Buffer>; 3] = Default::default();
}

/// The floats the calling thread keeps for the kernels: its scratch space and the matrix
/// products' packing buffers. What a network's `SCRATCH_FLOATS_PER_THREAD` bounds, for
/// the tests to check.
#[doc(hidden)]
pub fn thread_floats() -> usize {
    let scratch = SCRATCH
        .try_with(|scratch| {
            scratch
                .iter()
                .map(|buffer| buffer.try_borrow().map_or(0, |buffer| buffer.len()))
                .sum()
        })
        .unwrap_or(0);
    scratch + crate::gemm::thread_floats()
}

/// Runs `f` on `len` elements of scratch space for `what`, whose contents are left from
/// earlier use: `f` must write before it reads.
///
/// For `f32` the space is the calling thread's, made on its first use and kept, like the
/// matrix products' packing buffers, so a kernel that works one sample at a time keeps
/// its working set in cache and a warmed-up step allocates nothing. Other types (the
/// `f64` of the gradient checks) get a fresh vector.
pub(crate) fn with_scratch<T: Scalar, R>(
    what: Space,
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

//! Scratch space each thread keeps for the kernels, made on its first use and grown to
//! the largest size asked of it: a warmed-up training step allocates nothing, and a
//! kernel that works a sample at a time keeps its working set in cache.

use std::cell::RefCell;

use ndarray::{Array1, Ix1};

use crate::aligned;
use crate::scalar::Scalar;

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

/// The floats a layer's kernels keep in a thread's scratch space, at most, buffer by
/// buffer, whatever the batch and the CPU; what a network's `SCRATCH_FLOATS_PER_THREAD`
/// adds up.
///
/// Each buffer grows to the largest length asked of it, so a network needs, per buffer,
/// the most any of its layers asks ([`ThreadScratch::max`]), and in all the sum of those
/// ([`ThreadScratch::total`]). A layer whose kernels keep no scratch of the core's (every
/// layer written outside the core) needs [`ThreadScratch::NONE`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadScratch {
    /// [`Space::Unrolled`].
    pub(crate) unrolled: usize,
    /// [`Space::Sums`].
    pub(crate) sums: usize,
    /// [`Space::Partial`].
    pub(crate) partial: usize,
    /// The matrix products' packed panels of `A`.
    pub(crate) packed_a: usize,
    /// The matrix products' packed panels of `B`.
    pub(crate) packed_b: usize,
}

impl ThreadScratch {
    /// No scratch at all.
    pub const NONE: ThreadScratch = ThreadScratch {
        unrolled: 0,
        sums: 0,
        partial: 0,
        packed_a: 0,
        packed_b: 0,
    };

    /// Buffer by buffer, the larger of the two needs.
    pub const fn max(self, other: ThreadScratch) -> ThreadScratch {
        const fn larger(a: usize, b: usize) -> usize {
            if a > b {
                a
            } else {
                b
            }
        }
        ThreadScratch {
            unrolled: larger(self.unrolled, other.unrolled),
            sums: larger(self.sums, other.sums),
            partial: larger(self.partial, other.partial),
            packed_a: larger(self.packed_a, other.packed_a),
            packed_b: larger(self.packed_b, other.packed_b),
        }
    }

    /// The floats of all buffers together.
    pub const fn total(self) -> usize {
        self.unrolled + self.sums + self.partial + self.packed_a + self.packed_b
    }

    /// The floats of the matrix products' buffers alone (packed panels, partial sums).
    pub const fn products(self) -> usize {
        self.partial + self.packed_a + self.packed_b
    }
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
/// The space is the calling thread's, made on its first use and kept, like the matrix
/// products' packing buffers, so a kernel that works one sample at a time keeps its
/// working set in cache and a warmed-up step allocates nothing; an `f64` takes two of its
/// `f32` words.
pub(crate) fn with_scratch<T: Scalar, R>(
    what: Space,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    let run = |buffer: &mut Buffer| f(T::of_words(buffer.get(len * T::WORDS)));
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

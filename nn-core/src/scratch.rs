//! Scratch space each thread keeps for the kernels, made on its first use and grown to
//! the largest size asked of it: a warmed-up training step allocates nothing, and a
//! kernel that works a sample at a time keeps its working set in cache.
//!
//! One mechanism serves every kernel: a [`Space`] of the thread is lent out ([`Lent`])
//! and given back when the loan is dropped, even by a panic. Each kernel states the
//! sizes it asks beside itself, as a [`ThreadScratch`], which a network adds up.

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
/// several at once.
#[derive(Clone, Copy)]
pub(crate) enum Space {
    /// A sample's unrolled input to a convolution, or its error signal in columns.
    Unrolled = 0,
    /// A partial sum of a gradient, over part of a batch.
    Sums = 1,
    /// A matrix product's sum over the second half of its depth.
    Partial = 2,
    /// A matrix product's packed panels of `A`.
    PackedA = 3,
    /// A matrix product's packed panels of `B`.
    PackedB = 4,
}

/// The number of [`Space`]s.
const SPACES: usize = 5;

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
    static SCRATCH: [RefCell<Buffer>; SPACES] = Default::default();
}

/// The buffer of a [`Space`] of the calling thread, lent out until the loan is dropped.
///
/// The buffer is taken out of the thread's slot rather than borrowed in it, so that the
/// kernel using it runs in its caller's code (compiled with the caller's instructions,
/// where a closure handed to the thread-local would not be). A loan of a space already
/// lent on the same thread (a stolen rayon job inside a kernel), or on a thread being
/// torn down, gets an empty buffer of its own.
pub(crate) struct Lent {
    space: Space,
    buffer: Buffer,
}

impl Lent {
    /// Lends the calling thread's buffer of `space`.
    pub(crate) fn take(space: Space) -> Lent {
        let buffer = SCRATCH
            .try_with(|scratch| {
                scratch[space as usize]
                    .try_borrow_mut()
                    .map(|mut buffer| std::mem::take(&mut *buffer))
            })
            .map_or_else(|_| Buffer::default(), Result::unwrap_or_default);
        Lent { space, buffer }
    }
}

impl std::ops::Deref for Lent {
    type Target = Buffer;

    fn deref(&self) -> &Buffer {
        &self.buffer
    }
}

impl std::ops::DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut Buffer {
        &mut self.buffer
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.buffer);
        let _ = SCRATCH.try_with(|scratch| {
            if let Ok(mut slot) = scratch[self.space as usize].try_borrow_mut() {
                *slot = buffer;
            }
        });
    }
}

/// The floats the calling thread keeps for the kernels, in every space: what a network's
/// `SCRATCH_FLOATS_PER_THREAD` bounds, for the tests to check.
#[doc(hidden)]
pub fn thread_floats() -> usize {
    SCRATCH
        .try_with(|scratch| {
            scratch
                .iter()
                .map(|buffer| buffer.try_borrow().map_or(0, |buffer| buffer.len()))
                .sum()
        })
        .unwrap_or(0)
}

/// Runs `f` on `len` elements of scratch space for `what`, whose contents are left from
/// earlier use: `f` must write before it reads. An `f64` takes two of the space's `f32`
/// words.
pub(crate) fn with_scratch<T: Scalar, R>(
    what: Space,
    len: usize,
    f: impl FnOnce(&mut [T]) -> R,
) -> R {
    let mut lent = Lent::take(what);
    f(T::of_words(lent.get(len * T::WORDS)))
}

//! When to share a kernel's work among threads.
//!
//! Kernels split their work in halves with [`join()`] — the rows or columns of a matrix
//! product, the samples of a batch, the taps of a convolution's weight gradient — for as
//! long as each half is large enough to pay for handing it to another thread (and, where
//! each piece repeats some work, no more than once per thread). A sum over the batch,
//! the convolution's weight gradient, is always taken in two halves added at the end,
//! threads or not, so that it can be shared and still give the same bits. The threads
//! are rayon's, of the current pool (the global one unless the caller is inside
//! `ThreadPool::install`), so `RAYON_NUM_THREADS=1` makes everything single-threaded;
//! with one thread no kernel calls into rayon at all, so a warmed-up training step
//! allocates nothing.

use std::sync::OnceLock;

use ndarray::Axis;

mod join;

pub(crate) use join::join;

/// The least work, in multiply-adds or element visits, worth handing to another thread:
/// about ten microseconds, more than waking a thread costs.
const MIN_WORK: usize = 1 << 18;

/// The work of visiting one element in a pool, in multiply-adds: about the time of
/// eight (a load, a compare or add, a store, and the window's bookkeeping).
pub(crate) const VISIT: usize = 8;

/// The threads the kernels may share work among: the current rayon pool's.
///
/// Asking rayon outside any pool starts its global pool, worker threads and all; so when
/// `RAYON_NUM_THREADS=1` asks for one thread and the caller is in no pool, the answer
/// is 1 without asking, and no rayon thread is ever started.
pub(crate) fn threads() -> usize {
    static ONE_THREAD: OnceLock<bool> = OnceLock::new();
    let asked_for_one =
        || std::env::var("RAYON_NUM_THREADS").is_ok_and(|threads| threads.trim() == "1");
    if rayon::current_thread_index().is_none() && *ONE_THREAD.get_or_init(asked_for_one) {
        return 1;
    }
    rayon::current_num_threads()
}

/// Whether `work` (multiply-adds, or elements visited) should be split in two.
pub(crate) fn worth_splitting(work: usize) -> bool {
    work >= 2 * MIN_WORK && threads() > 1
}

/// [`join()`] when `side_by_side`, else `a` and then `b` on this thread.
pub(crate) fn join_if(side_by_side: bool, a: impl FnOnce(), b: impl FnOnce() + Send) {
    if side_by_side {
        join(a, b);
    } else {
        a();
        b();
    }
}

/// Runs `f` on the batch `views` (samples along the first axis of each), split into
/// halves run side by side while `work` is worth sharing among threads.
pub(crate) fn for_each_sample<V: SplitBatch>(work: usize, views: V, f: &(impl Fn(V) + Sync)) {
    let batch = views.batch();
    if batch >= 2 && worth_splitting(work) {
        let (first, second) = views.split(batch / 2);
        join(
            || for_each_sample(work / 2, first, f),
            || for_each_sample(work / 2, second, f),
        );
    } else {
        f(views);
    }
}

/// Runs `f(first, part)` on parts of `items` (with the index in `items` of each part's
/// first item), split into halves run side by side while `work`, that of all the items,
/// is worth sharing among threads: for work on items that are not samples, such as the
/// channels of a batch.
pub(crate) fn for_each_part<X: Send>(
    work: usize,
    items: &mut [X],
    f: &(impl Fn(usize, &mut [X]) + Sync),
) {
    fn split<X: Send>(
        work: usize,
        first: usize,
        items: &mut [X],
        f: &(impl Fn(usize, &mut [X]) + Sync),
    ) {
        if items.len() >= 2 && worth_splitting(work) {
            let mid = items.len() / 2;
            let (a, b) = items.split_at_mut(mid);
            join(
                || split(work / 2, first, a, f),
                || split(work / 2, first + mid, b, f),
            );
        } else {
            f(first, items);
        }
    }
    split(work, 0, items, f);
}

/// A tuple of views with the samples along their first axis, split between samples.
pub(crate) trait SplitBatch: Sized + Send {
    fn batch(&self) -> usize;
    fn split(self, at: usize) -> (Self, Self);
}

impl<A: SplitView> SplitBatch for (A,) {
    fn batch(&self) -> usize {
        self.0.len_of_batch()
    }

    fn split(self, at: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_batch(at);
        ((a0,), (a1,))
    }
}

impl<A: SplitView, B: SplitView> SplitBatch for (A, B) {
    fn batch(&self) -> usize {
        self.0.len_of_batch()
    }

    fn split(self, at: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_batch(at);
        let (b0, b1) = self.1.split_batch(at);
        ((a0, b0), (a1, b1))
    }
}

impl<A, B, C> SplitBatch for (A, B, C)
where
    A: SplitView,
    B: SplitView,
    C: SplitView,
{
    fn batch(&self) -> usize {
        self.0.len_of_batch()
    }

    fn split(self, at: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_batch(at);
        let (b0, b1) = self.1.split_batch(at);
        let (c0, c1) = self.2.split_batch(at);
        ((a0, b0, c0), (a1, b1, c1))
    }
}

/// The samples of an array of `shape`: along its first axis, or one for an array with no
/// axes (a scalar, which an activation may be given), so that it is never split.
fn batch_len(shape: &[usize]) -> usize {
    shape.first().copied().unwrap_or(1)
}

/// One view with samples along its first axis.
pub(crate) trait SplitView: Sized + Send {
    fn len_of_batch(&self) -> usize;
    fn split_batch(self, at: usize) -> (Self, Self);
}

impl<T: Sync, D: ndarray::RemoveAxis> SplitView for ndarray::ArrayView<'_, T, D> {
    fn len_of_batch(&self) -> usize {
        batch_len(self.shape())
    }

    fn split_batch(self, at: usize) -> (Self, Self) {
        self.split_at(Axis(0), at)
    }
}

impl<T: Send, D: ndarray::RemoveAxis> SplitView for ndarray::ArrayViewMut<'_, T, D> {
    fn len_of_batch(&self) -> usize {
        batch_len(self.shape())
    }

    fn split_batch(self, at: usize) -> (Self, Self) {
        self.split_at(Axis(0), at)
    }
}

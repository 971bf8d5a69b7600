//! Counting what a thread allocates, for every test that bounds allocations: the
//! hostile-bytes tests of the readers (`tests/hostile_bytes.rs`,
//! `nn-core/tests/hostile_idx.rs`, `tests/data.rs`), the fuzz targets (through
//! `fuzz/src/lib.rs`) and the check that a warmed-up training step allocates nothing
//! (`tests/allocations.rs`), all of which include this file by path. One global
//! allocator keeps, per thread, the bytes live now, the most ever live, the bytes
//! requested in all and the number of allocations; [`measure`] reads them around a call
//! on the current thread, and [`measured`] runs a load on a thread of its own, so that
//! its allocations are its alone and a hang fails instead of stalling.
//!
//! Counters per thread, not global ones, so that tests running at the same time on
//! other threads do not disturb a count.

#![allow(dead_code)] // each test binary uses its own subset

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

/// Passes every request to the system allocator and keeps, per thread, the bytes live
/// now, the most ever live, the bytes requested in total and the number of allocations.
pub struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static REQUESTED: Cell<usize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// An allocation of `bytes`, or a reallocation to that size.
fn grow(bytes: usize) {
    ALLOCATIONS.with(|a| a.set(a.get().saturating_add(1)));
    REQUESTED.with(|r| r.set(r.get().saturating_add(bytes)));
    let live = LIVE.with(|l| {
        l.set(l.get().saturating_add(bytes));
        l.get()
    });
    PEAK.with(|p| p.set(p.get().max(live)));
}

fn shrink(bytes: usize) {
    // Memory allocated by another thread and freed here is not counted.
    LIVE.with(|l| l.set(l.get().saturating_sub(bytes)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Counted as a move: for a moment both blocks exist.
        grow(new_size);
        shrink(layout.size());
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What a call allocated.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// The most bytes it held at once, beyond what the thread held before.
    pub peak: usize,
    /// The bytes it requested in all (a reallocation counts its new size).
    pub requested: usize,
    /// How many allocations and reallocations it made.
    pub allocations: usize,
}

impl Usage {
    /// Fails, naming `input` (such as "a 120-byte file"), if the call held more than
    /// `peak_bound` bytes at once or requested more than `requested_bound` in all.
    pub fn within(
        self,
        input: &str,
        peak_bound: usize,
        requested_bound: usize,
    ) -> Result<(), String> {
        if self.peak > peak_bound {
            return Err(format!(
                "reading {input} held {} bytes at once (bound {peak_bound})",
                self.peak
            ));
        }
        if self.requested > requested_bound {
            return Err(format!(
                "reading {input} requested {} bytes in all (bound {requested_bound})",
                self.requested
            ));
        }
        Ok(())
    }
}

/// Runs `f` on the current thread and returns its result and what it allocated.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    let (requested, allocations) = (REQUESTED.with(Cell::get), ALLOCATIONS.with(Cell::get));
    let value = f();
    let usage = Usage {
        peak: PEAK.with(Cell::get) - live,
        requested: REQUESTED.with(Cell::get) - requested,
        allocations: ALLOCATIONS.with(Cell::get) - allocations,
    };
    (value, usage)
}

/// A hang: no load of these small files takes more than a fraction of a second.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `f` on a fresh thread and returns its result and what it allocated there. A
/// panic in `f` is re-raised here; a run longer than [`TIMEOUT`] fails as a hang.
pub fn measured<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> (T, Usage) {
    measured_within(TIMEOUT, f)
}

/// [`measured`], failing as a hang after `timeout`.
pub fn measured_within<T: Send + 'static>(
    timeout: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> (T, Usage) {
    let (send, receive) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let (peak0, requested0) = (PEAK.with(Cell::get), REQUESTED.with(Cell::get));
        assert_eq!(
            (peak0, requested0),
            (0, 0),
            "a fresh thread has allocated nothing"
        );
        let (value, usage) = measure(f);
        // The receiver is gone only if the test already failed on a timeout.
        let _ = send.send((value, usage));
    });
    match receive.recv_timeout(timeout) {
        Ok(result) => {
            thread.join().expect("the thread has sent its result");
            result
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The thread panicked before sending: re-raise its panic.
            std::panic::resume_unwind(thread.join().expect_err("the thread panicked"))
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("a load hung for over {timeout:?}"),
    }
}

/// The helper itself can fail: a run longer than the timeout panics as a hang (in every
/// test binary that includes this file).
#[test]
fn a_hang_fails_the_test() {
    let outcome = std::panic::catch_unwind(|| {
        measured_within(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(500));
        })
    });
    let message = outcome.expect_err("the timeout should have fired");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(message.contains("hung"), "{message}");
}

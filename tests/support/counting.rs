//! Counting what a thread allocates, for the hostile-bytes tests of the readers
//! (`tests/hostile_bytes.rs`, `nn-core/tests/hostile_idx.rs`, `tests/data.rs`, which
//! include this file by path): a global allocator that keeps, per thread, the bytes live now, the most ever
//! live and the bytes requested in all, and a way to run a load on a thread of its own,
//! so that its allocations are its alone and a hang fails instead of stalling.

#![allow(dead_code)] // each test binary uses its own subset

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::mpsc;
use std::time::Duration;

/// Passes every request to the system allocator and keeps, per thread, the bytes live
/// now, the most ever live, and the bytes requested in total.
pub struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static REQUESTED: Cell<usize> = const { Cell::new(0) };
}

fn grow(bytes: usize) {
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

/// What a load allocated: the most bytes live at once and the bytes requested in all.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub peak: usize,
    pub requested: usize,
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
        let value = f();
        let usage = Usage {
            peak: PEAK.with(Cell::get),
            requested: REQUESTED.with(Cell::get),
        };
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

//! [`join`]: two closures side by side, the second offered to helper threads that are
//! already awake.
//!
//! `rayon::join` alone loses most of what a second core could give a training step on
//! the machines this project is measured on (KVM guests): a rayon worker that has run
//! out of work goes to sleep within some tens of microseconds, and waking it takes about
//! as long as a whole kernel at batch 128, and a step has a dozen kernels, each a join
//! or two. OpenMP runtimes, which PyTorch uses,
//! avoid this by letting their threads spin for a while after a parallel region.
//!
//! This does the same on rayon's threads: the first join of a caller starts helpers as
//! rayon jobs in the current pool (one fewer than its threads, since the caller works
//! too), and each helper spins, taking offered closures, until [`LINGER`] has passed
//! without a join. Back-to-back training steps thus find their helpers awake, and the
//! handover costs about as much as a cache line moving between cores. The pool stays
//! rayon's, so `RAYON_NUM_THREADS=1` still means one thread, and a join on a pool of
//! one thread runs both closures in order without touching any of this.
//!
//! A join never waits for a helper to arrive: it offers its second closure, runs the
//! first, and takes the second back to run itself if no helper has taken it by then.
//! So a cold start costs nothing but the lost parallelism, and no arrangement of busy
//! or absent helpers can deadlock.

use std::cell::{RefCell, UnsafeCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long helpers stay awake after the last join: much longer than the gap between
/// two training steps (copying a batch, printing progress), much shorter than anything a
/// person would notice as a busy core.
const LINGER: Duration = Duration::from_millis(2);

/// Spins between two looks at the clock or a yield to the scheduler: short enough to
/// give up the core promptly when threads outnumber cores, long enough that the
/// syscall is rare.
const SPINS: usize = 64;

/// Runs `a` and `b`, `b` on a helper thread if one is awake to take it, and returns both
/// results. A panic in either is resumed on the caller once neither is running (if `a`
/// panics before a helper has taken `b`, `b` does not run at all).
pub(crate) fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    let Some(team) = Team::current() else {
        return (a(), b());
    };
    team.keep_awake();
    let job = Job {
        f: UnsafeCell::new(Some(b)),
        result: UnsafeCell::new(None),
        done: AtomicBool::new(false),
    };
    let offer = Offer {
        job: (&job as *const Job<B, RB>).cast(),
        run: Job::<B, RB>::run,
    };
    team.offer(offer);
    let result_a = panic::catch_unwind(AssertUnwindSafe(a));
    let result_b = if team.take_back(offer) {
        // SAFETY: the offer is withdrawn, so no helper has seen it: `f` is ours alone.
        let b = unsafe { (*job.f.get()).take() }.expect("a job runs once");
        match result_a {
            // `b` need not run at all if `a` failed: nothing waits for it.
            Err(_) => None,
            Ok(_) => Some(Ok(b())),
        }
    } else {
        // A helper has it; the job on this stack must outlive its run. Nothing else runs
        // here meanwhile: the frames below may hold this thread's scratch space, which
        // another kernel run on top of them would have to allocate afresh.
        wait_until(|| job.done.load(Ordering::Acquire));
        // SAFETY: `done` is the helper's last access to the job (Release above).
        unsafe { (*job.result.get()).take() }
    };
    match (result_a, result_b) {
        (Err(payload), _) | (Ok(_), Some(Err(payload))) => panic::resume_unwind(payload),
        (Ok(ra), Some(Ok(rb))) => (ra, rb),
        (Ok(_), None) => unreachable!("`b` runs whenever `a` succeeded"),
    }
}

/// A closure offered to helpers, and what it gave, on the offering thread's stack.
struct Job<F, R> {
    f: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<std::thread::Result<R>>>,
    /// Set by the helper after its last access to the job.
    done: AtomicBool,
}

impl<F: FnOnce() -> R, R> Job<F, R> {
    /// Runs the job behind `job` and marks it done.
    ///
    /// # Safety
    ///
    /// `job` points to a live `Job<F, R>` whose offer this thread alone has taken.
    unsafe fn run(job: *const ()) {
        let job = &*job.cast::<Job<F, R>>();
        let f = (*job.f.get()).take().expect("a job runs once");
        *job.result.get() = Some(panic::catch_unwind(AssertUnwindSafe(f)));
        job.done.store(true, Ordering::Release);
    }
}

/// A type-erased pointer to an offered [`Job`] and the function that runs it.
#[derive(Clone, Copy)]
struct Offer {
    job: *const (),
    run: unsafe fn(*const ()),
}

// SAFETY: an offer is taken by exactly one thread (under the team's lock), and the
// offering thread waits until the job is done before its stack frame ends; the closure
// and its result are `Send`, as `join` requires.
unsafe impl Send for Offer {}

/// The helpers serving one caller thread (and the helpers' own nested joins).
struct Team {
    /// Helpers wanted: one fewer than the pool's threads.
    helpers: usize,
    /// Helpers started and not yet retired.
    running: AtomicUsize,
    /// When helpers may retire, in nanoseconds as [`now`] counts them.
    deadline: AtomicU64,
    /// Offers not yet taken, oldest first (the largest piece of a recursive split).
    offers: Mutex<Vec<Offer>>,
    /// `offers.len()`, for helpers to watch without taking the lock.
    pending: AtomicUsize,
}

thread_local! {
    /// The team a join on this thread offers to: its own, or the one it is helping.
    static CURRENT: RefCell<Option<Arc<Team>>> = const { RefCell::new(None) };
}

impl Team {
    /// The team for a join on this thread, made if need be; `None` on a pool of one
    /// thread.
    fn current() -> Option<Arc<Team>> {
        let threads = super::threads();
        if threads < 2 {
            return None;
        }
        CURRENT
            .try_with(|current| {
                let mut current = current.borrow_mut();
                // A thread belongs to one pool, so the number of helpers stays right.
                current
                    .get_or_insert_with(|| Arc::new(Team::new(threads - 1)))
                    .clone()
            })
            .ok()
    }

    fn new(helpers: usize) -> Self {
        Team {
            helpers,
            running: AtomicUsize::new(0),
            deadline: AtomicU64::new(0),
            offers: Mutex::new(Vec::with_capacity(4 * helpers)),
            pending: AtomicUsize::new(0),
        }
    }

    /// Moves the helpers' deadline to [`LINGER`] from now, and starts any missing.
    fn keep_awake(self: &Arc<Self>) {
        self.deadline
            .store(now() + LINGER.as_nanos() as u64, Ordering::Relaxed);
        while self.running.load(Ordering::Relaxed) < self.helpers {
            if self.running.fetch_add(1, Ordering::Relaxed) >= self.helpers {
                self.running.fetch_sub(1, Ordering::Relaxed);
                break;
            }
            let team = self.clone();
            rayon::spawn(move || team.help());
        }
    }

    fn offer(&self, offer: Offer) {
        let mut offers = self.offers();
        offers.push(offer);
        self.pending.store(offers.len(), Ordering::Release);
    }

    /// Withdraws `offer` if no helper has taken it; `false` if one has.
    fn take_back(&self, offer: Offer) -> bool {
        let mut offers = self.offers();
        let Some(at) = offers.iter().position(|o| o.job == offer.job) else {
            return false;
        };
        offers.remove(at);
        self.pending.store(offers.len(), Ordering::Release);
        true
    }

    /// The oldest offer, taken.
    fn take(&self) -> Option<Offer> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut offers = self.offers();
        let offer = (!offers.is_empty()).then(|| offers.remove(0));
        self.pending.store(offers.len(), Ordering::Release);
        offer
    }

    fn offers(&self) -> std::sync::MutexGuard<'_, Vec<Offer>> {
        // Jobs run outside the lock, so a panic cannot poison it; recover anyway.
        self.offers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A helper's life: take and run offers until the deadline passes with none.
    fn help(self: Arc<Self>) {
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        // A thread of the team itself can get here: rayon runs the helper it spawned on
        // the spawning thread when that thread waits in a join of its own (a kernel
        // called inside `par_iter`). Nobody else would offer it anything.
        if !previous
            .as_ref()
            .is_some_and(|team| Arc::ptr_eq(team, &self))
        {
            self.work_until(|| now() >= self.deadline.load(Ordering::Relaxed));
        }
        // An offer made after this point is taken back by the thread that made it.
        self.running.fetch_sub(1, Ordering::Relaxed);
        CURRENT.with(|current| current.replace(previous));
    }

    /// Runs offers as they come until `done`, spinning in between and yielding the core
    /// now and then: a helper's loop, never a caller's (see [`join`]).
    fn work_until(&self, done: impl Fn() -> bool) {
        while !done() {
            if let Some(offer) = self.take() {
                // SAFETY: taken under the lock, so this thread alone runs it; the
                // offering thread waits for `done` before its frame ends.
                unsafe { (offer.run)(offer.job) };
                continue;
            }
            for _ in 0..SPINS {
                if self.pending.load(Ordering::Relaxed) > 0 || done() {
                    break;
                }
                std::hint::spin_loop();
            }
            if self.pending.load(Ordering::Relaxed) == 0 && !done() {
                std::thread::yield_now();
            }
        }
    }
}

/// Spins until `done`, yielding the core now and then.
fn wait_until(done: impl Fn() -> bool) {
    while !done() {
        for _ in 0..SPINS {
            if done() {
                return;
            }
            std::hint::spin_loop();
        }
        std::thread::yield_now();
    }
}

/// Nanoseconds since the first call.
fn now() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use std::any::Any;

    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool")
    }

    fn sum(range: std::ops::Range<u64>) -> u64 {
        if range.end - range.start <= 64 {
            return range.sum();
        }
        let mid = range.start + (range.end - range.start) / 2;
        let (a, b) = join(|| sum(range.start..mid), || sum(mid..range.end));
        a + b
    }

    #[test]
    fn nested_joins_give_every_result_on_any_pool() {
        for threads in [1, 2, 3] {
            let total = pool(threads).install(|| sum(0..100_000));
            assert_eq!(total, 100_000 * 99_999 / 2, "{threads} threads");
        }
    }

    #[test]
    fn a_helper_takes_the_second_closure() {
        // Helpers start on the first join, so the first few may run both closures here;
        // soon one must have run on another thread.
        pool(2).install(|| {
            let me = std::thread::current().id();
            let start = Instant::now();
            let mut elsewhere = false;
            while !elsewhere && start.elapsed() < Duration::from_secs(5) {
                let (_, id) = join(
                    || std::thread::sleep(Duration::from_micros(500)),
                    || std::thread::current().id(),
                );
                elsewhere = id != me;
            }
            assert!(elsewhere, "no join ran its second closure on a helper");
        });
    }

    #[test]
    fn a_panic_in_either_closure_reaches_the_caller() {
        pool(2).install(|| {
            for _ in 0..50 {
                let second = panic::catch_unwind(|| {
                    join(
                        || std::thread::sleep(Duration::from_micros(100)),
                        || panic!("second"),
                    )
                });
                let first = panic::catch_unwind(|| join(|| panic!("first"), || 1));
                let message = |e: Box<dyn Any + Send>| *e.downcast::<&str>().unwrap();
                assert_eq!(message(second.unwrap_err()), "second");
                assert_eq!(message(first.unwrap_err()), "first");
            }
        });
    }

    #[test]
    fn a_panic_in_the_first_closure_waits_for_the_second() {
        use std::sync::atomic::AtomicUsize;
        pool(2).install(|| {
            let (started, finished) = (AtomicUsize::new(0), AtomicUsize::new(0));
            for _ in 0..50 {
                let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                    join(
                        || {
                            std::thread::sleep(Duration::from_micros(200));
                            panic!("first")
                        },
                        || {
                            started.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(1));
                            finished.fetch_add(1, Ordering::SeqCst);
                        },
                    )
                }));
                // Had the panic left before `b` ended, `b` would still be sleeping.
                assert_eq!(
                    started.load(Ordering::SeqCst),
                    finished.load(Ordering::SeqCst)
                );
            }
            assert!(
                finished.load(Ordering::SeqCst) > 0,
                "no helper ever ran a second closure"
            );
        });
    }

    #[test]
    fn helpers_retire_after_the_last_join() {
        pool(2).install(|| {
            sum(0..100_000);
            let team = Team::current().expect("a team on two threads");
            assert!(
                team.running.load(Ordering::Relaxed) > 0,
                "no helper started"
            );
            // Well past LINGER, however busy the machine keeps the helpers from their
            // clock: they must all have retired.
            let deadline = std::time::Instant::now() + LINGER * 25 + Duration::from_secs(5);
            while team.running.load(Ordering::Relaxed) > 0 && std::time::Instant::now() < deadline {
                std::thread::sleep(LINGER);
            }
            assert_eq!(
                team.running.load(Ordering::Relaxed),
                0,
                "a helper still spins"
            );
        });
    }

    #[test]
    fn a_single_thread_runs_both_in_order() {
        pool(1).install(|| {
            let order = std::sync::Mutex::new(Vec::new());
            let push = |step| order.lock().unwrap().push(step);
            join(|| push(1), || push(2));
            join(|| push(3), || push(4));
            assert_eq!(*order.lock().unwrap(), [1, 2, 3, 4]);
        });
    }
}

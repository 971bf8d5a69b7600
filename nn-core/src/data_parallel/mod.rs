//! Data-parallel training over MPI (cargo feature `mpi`): every process of an `mpirun`
//! job (a *rank*) holds the whole network, takes its share of every batch, and the
//! gradients are summed across ranks before every rank applies the same update, so the
//! weights stay identical everywhere.
//!
//! ```text
//! rank r:  forward and backward on its share x_r of the batch (b_r of B samples)
//!          as each layer's gradient g_r is formed:   start  Σ_r (b_r / B) g_r   (non-blocking)
//!          after the backward pass:                  wait, then update every layer
//! ```
//!
//! The sum is the gradient of the mean loss over the whole batch, the same as one
//! process would compute on all `B` samples (to rounding: the order of the sums
//! differs). Each layer's sum starts as soon as the generated backward pass has formed its
//! gradient — the order of Remark 8 of the paper, last layer first — so the messages of
//! the last layers travel while the first layers are still differentiating, as PyTorch's
//! DDP does with gradient buckets and hooks. The hook here is the network's optimizer
//! call: [`DataParallel::train_step`] passes the network an [`Optimizer`] that starts the
//! sum where an update would be, and applies the real optimizer once the sums are in.
//!
//! The sums start in one order on every rank, the order the network's layers and tensors
//! have from last to first, whatever order a layer hands its tensors over in; a rank whose
//! share of a batch is empty, or whose loss is not finite, contributes zeros, so the ranks
//! never wait on each other in different collectives. If the loss of the whole batch is
//! not finite, no rank updates, as `train_step` does alone.
//!
//! A layer's own `Layer::step` sees its update deferred: the optimizer it is handed
//! starts the sum where the update would be, and the update comes after the backward
//! pass. A tensor that no rank's network handed over in a step is not updated, as it
//! would not be alone.
//!
//! [`DataParallel::init`] installs a panic hook that aborts the whole job when a rank
//! panics (even a panic that would have been caught), so that the other ranks end with
//! `mpirun`'s report rather than wait forever for a rank that will not come. Errors that
//! one rank meets alone must be agreed on ([`DataParallel::agree`]) before returning, for
//! the same reason: `Trainer` does so for its checkpoints.
//!
//! BatchNorm normalises over each rank's share of the batch (like DDP without
//! `SyncBatchNorm`); `Trainer` makes every rank's running statistics rank 0's before each
//! evaluation ([`DataParallel::broadcast_buffers`]). Dropout draws its masks from each
//! rank's copy of the network's stream (not broadcast): the same masks on every rank
//! when every rank makes the network from one seed, as the example does.

use std::any::Any;
use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::request::{LocalScope, Request};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use ndarray::{ArrayView, Axis};
use num_traits::{Float, Zero};

use crate::data::batches::share;
use crate::error::Error;
use crate::loss::Loss;
use crate::network::{BufferMut, Network};
use crate::optim::{Optimizer, Slot};
use crate::scalar::Scalar;
use crate::train::Model;

pub use mpi;

/// The ranks of an MPI job training one network together: made once per process by
/// [`DataParallel::init`], which starts MPI, and ends MPI when dropped.
pub struct DataParallel {
    world: SimpleCommunicator,
    rank: usize,
    ranks: usize,
    /// The [`Slots`] of the element type of the last network stepped, kept from step to
    /// step so that their buffers are reused.
    slots: Option<Box<dyn Any>>,
    timing: Timing,
    // Dropped last: ends MPI.
    _universe: Universe,
}

/// Whether MPI is running for the panic hook: it may abort the job only between
/// [`DataParallel::init`] and the drop that ends MPI.
static RUNNING: AtomicBool = AtomicBool::new(false);

impl Drop for DataParallel {
    fn drop(&mut self) {
        RUNNING.store(false, Ordering::SeqCst);
    }
}

/// Where the time of the data-parallel steps went, summed since the last
/// [`DataParallel::take_timing`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Steps taken.
    pub steps: usize,
    /// Whole steps: forward, backward, waiting for the sums, and the updates.
    pub step: Duration,
    /// The sum of the loss after the backward pass, which waits for the slowest rank
    /// (and moves the gradients' sums on meanwhile).
    pub sync: Duration,
    /// Waiting, after that, for the gradients' sums still under way: the communication
    /// the backward pass did not hide.
    pub wait: Duration,
    /// Gradient sums started, over all steps.
    pub sums: usize,
    /// Of those, the ones already finished when the backward pass ended.
    pub finished_in_backward: usize,
    /// Floats each rank sent into the sums per step.
    pub floats_per_step: usize,
}

impl DataParallel {
    /// Starts MPI (with threads that do not call MPI themselves: rayon's workers only
    /// compute) and takes `MPI_COMM_WORLD`'s ranks as the training group. Installs a
    /// panic hook that prints the panic, then aborts the job, so that a failing rank
    /// does not leave the others waiting.
    ///
    /// # Errors
    ///
    /// [`Error::Distributed`] if MPI was already started in this process, or cannot
    /// let a thread other than the one that calls it run while MPI runs.
    pub fn init() -> Result<Self, Error> {
        let refuse = |reason: &str| Error::Distributed {
            reason: reason.into(),
        };
        let (universe, provided) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or_else(|| {
                refuse("MPI is already initialised in this process; make one DataParallel")
            })?;
        if provided < mpi::Threading::Funneled {
            return Err(refuse(
                "the MPI library does not support threads beside the one that calls it \
                 (MPI_THREAD_FUNNELED), which the kernels' threads need",
            ));
        }
        let world = universe.world();
        let (rank, ranks) = (world.rank() as usize, world.size() as usize);
        RUNNING.store(true, Ordering::SeqCst);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            if RUNNING.load(Ordering::SeqCst) && !mpi::environment::is_finalized() {
                eprintln!("frechet: rank {rank} of {ranks} panicked; aborting the MPI job");
                // SAFETY: MPI runs (`RUNNING` is cleared before it ends) and
                // MPI_COMM_WORLD is a valid communicator; MPI_Abort does not return.
                unsafe {
                    mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, 101);
                }
            }
        }));
        Ok(DataParallel {
            world,
            rank,
            ranks,
            slots: None,
            timing: Timing::default(),
            _universe: universe,
        })
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// Whether this is rank 0, the one that prints, checkpoints and saves.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// The samples `start..end` of a batch of `batch` that this rank takes: consecutive
    /// shares, as equal as they can be, the first ranks' one smaller when `batch` does not
    /// divide evenly.
    pub fn share(&self, batch: usize) -> std::ops::Range<usize> {
        share(batch, self.rank, self.ranks)
    }

    /// Makes every rank's parameters and buffers (BatchNorm's running statistics and
    /// count) those of rank 0, so that training starts from the same weights everywhere
    /// whatever the seeds. Every rank must call it.
    pub fn broadcast<N: Network + ?Sized>(&self, network: &mut N) {
        let root = self.world.process_at_rank(0);
        for (_, layer) in network.layers_mut() {
            for tensor in 0..layer.param_names().len() {
                root.broadcast_into(layer.param_mut(tensor));
            }
        }
        self.broadcast_buffers(network);
    }

    /// Makes every rank's buffers (BatchNorm's running statistics, which each rank
    /// updates from its own share of the batches) those of rank 0. Every rank must call
    /// it.
    pub fn broadcast_buffers<N: Network + ?Sized>(&self, network: &mut N) {
        let root = self.world.process_at_rank(0);
        for (_, layer) in network.layers_mut() {
            for index in 0..layer.buffer_names().len() {
                match layer.buffer_mut(index) {
                    BufferMut::Float(values) => root.broadcast_into(values),
                    BufferMut::I64(count) => root.broadcast_into(count),
                }
            }
        }
    }

    /// `result` on every rank if it is `Ok` on every rank, else an error on every rank:
    /// this rank's own, or one saying that another rank could not do `what`. Every rank
    /// must call it: a rank that meets an error alone (reading or writing a file, say)
    /// agrees with the others before returning, so that none is left waiting for it in
    /// a collective.
    ///
    /// # Errors
    ///
    /// This rank's error, or [`Error::Distributed`] when another rank failed.
    pub fn agree<T, E: From<Error>>(&self, result: Result<T, E>, what: &str) -> Result<T, E> {
        let failed = self.sum(if result.is_ok() { 0.0 } else { 1.0 });
        match result {
            Ok(_) if failed > 0.0 => Err(Error::Distributed {
                reason: format!("another rank could not {what}"),
            }
            .into()),
            result => result,
        }
    }

    /// Runs `write` on rank 0 alone (writing a file, say) and [agrees](Self::agree) on
    /// how it went, so that every rank returns its error if it failed.
    ///
    /// # Errors
    ///
    /// As [`DataParallel::agree`].
    pub fn on_root<E: From<Error>>(
        &self,
        write: impl FnOnce() -> Result<(), E>,
        what: &str,
    ) -> Result<(), E> {
        let result = if self.is_root() { write() } else { Ok(()) };
        self.agree(result, what)
    }

    /// Rank 0's `values` on every rank (a broadcast): for decisions every rank must take
    /// alike. Every rank must call it.
    pub fn from_root(&self, values: &mut [f64]) {
        self.world.process_at_rank(0).broadcast_into(values);
    }

    /// A hash of every parameter's bits: equal on ranks whose weights are equal, and
    /// (but for a collision, one chance in 2⁶⁴) different otherwise.
    pub fn hash<N: Network + ?Sized>(network: &N) -> u64 {
        let mut hasher = DefaultHasher::new();
        for (_, layer) in network.layers() {
            for tensor in 0..layer.param_names().len() {
                for value in layer.param(tensor) {
                    hasher.write_u64(value.widen().to_bits());
                }
            }
        }
        hasher.finish()
    }

    /// Whether every rank holds the same weights: [`DataParallel::hash`] gathered from
    /// every rank and compared. Every rank must call it.
    pub fn weights_agree<N: Network + ?Sized>(&self, network: &N) -> bool {
        let mine = Self::hash(network);
        let mut all = vec![0u64; self.ranks];
        self.world.all_gather_into(&mine, &mut all[..]);
        all.iter().all(|&hash| hash == mine)
    }

    /// The sum over ranks of `value`, on every rank (a blocking all-reduce): for counts
    /// and metrics. Every rank must call it.
    pub fn sum(&self, value: f64) -> f64 {
        let mut total = 0.0;
        self.world
            .all_reduce_into(&value, &mut total, SystemOperation::sum());
        total
    }

    /// The time the sums of one step of `net` take alone, on average over `reps` steps'
    /// worth (every rank must call it): what [`Timing::wait`] is measured against, to
    /// tell how much of the communication the backward pass hides.
    pub fn time_sums<N: Network + ?Sized>(&mut self, net: &N, reps: usize) -> Duration {
        let mut slots = Slots::<N::Elem>::of(net);
        self.world.barrier();
        let started = Instant::now();
        for _ in 0..reps {
            mpi::request::scope(|scope| {
                let Slots { buffers, sent, .. } = &mut slots;
                let mut sums =
                    Sums::new(scope, &self.world, buffers, N::Elem::zero(), &mut sent[1..]);
                sums.start_the_rest();
                for request in sums.requests {
                    request.wait();
                }
            });
            slots.unready();
        }
        started.elapsed() / reps.max(1) as u32
    }

    /// Where the time went since the last call, and starts counting anew.
    pub fn take_timing(&mut self) -> Timing {
        std::mem::take(&mut self.timing)
    }

    /// One data-parallel training step: `x` and `targets` are this rank's share of a
    /// batch of `batch` samples over all ranks (see [`DataParallel::share`]; the share
    /// may be empty). Every rank must call it for every batch, with the same `batch`.
    /// Returns the mean loss over the whole batch before the update, the same on every
    /// rank; if it is not finite, no rank's weights change.
    ///
    /// # Panics
    ///
    /// As `train_step`, and if this rank's share is larger than `batch`.
    pub fn train_step<N, L, O>(
        &mut self,
        net: &mut N,
        x: ArrayView<'_, N::Elem, N::Batch>,
        targets: L::Targets<'_>,
        batch: usize,
        loss: &L,
        optimizer: &mut O,
    ) -> N::Elem
    where
        N: Model,
        L: Loss<N::Elem>,
        O: Optimizer<N::Elem>,
    {
        let started = Instant::now();
        let local = x.len_of(Axis(0));
        assert!(
            local <= batch,
            "DataParallel::train_step: a share of {local} samples of a batch of {batch}"
        );
        let mut slots = match self
            .slots
            .take()
            .map(|slots| slots.downcast::<Slots<N::Elem>>())
        {
            Some(Ok(slots)) if slots.fit(net) => slots,
            _ => Box::new(Slots::of(net)),
        };
        let weight = N::Elem::of_f64(local as f64 / batch as f64);
        let world = &self.world;
        let Slots {
            buffers,
            sent,
            totals,
            ..
        } = &mut *slots;
        let buffers_len = buffers.len();
        let (sync, wait, finished) = mpi::request::scope(|scope| {
            // What this rank adds to the sums of the loss and of how many ranks formed
            // each tensor's gradient.
            let (loss_sent, formed) = sent.split_first_mut().expect("the loss's place");
            formed.fill(0.0);
            let mut sums = Sums::new(scope, world, buffers, weight, formed);
            sums.learning_rate = optimizer.learning_rate();
            let mean = if local > 0 {
                net.train_step(x, targets, loss, &mut sums)
            } else {
                N::Elem::nan()
            };
            // A rank that formed no gradient (an empty share, or a loss that is not
            // finite) sends zeros, so that every rank starts the same sums.
            sums.start_the_rest();
            sums.progress();
            let requests = sums.requests;
            let finished = buffers_len - requests.len();
            *loss_sent = if local > 0 {
                mean.widen() * local as f64
            } else {
                0.0
            };
            let synced = Instant::now();
            world.all_reduce_into(&sent[..], &mut totals[..], SystemOperation::sum());
            let sync = synced.elapsed();
            let waiting = Instant::now();
            for request in requests {
                request.wait();
            }
            (sync, waiting.elapsed(), finished)
        });
        let mean = slots.totals[0] / batch as f64;
        if mean.is_finite() {
            slots.update(net, optimizer);
        }
        slots.unready();
        self.timing.steps += 1;
        self.timing.sync += sync;
        self.timing.wait += wait;
        self.timing.sums += buffers_len;
        self.timing.finished_in_backward += finished;
        self.timing.floats_per_step = slots.floats;
        self.slots = Some(slots);
        self.timing.step += started.elapsed();
        N::Elem::of_f64(mean)
    }
}

/// The buffers of one parameter tensor's sum: what this rank sends, and the sum.
struct SlotBuffers<T> {
    slot: Slot,
    /// The tensor's place in the order of [`Slots`].
    index: usize,
    send: Vec<T>,
    sum: Vec<T>,
    /// Whether `send` holds this step's gradient.
    ready: bool,
}

/// Every parameter tensor's buffers, in the order the sums start: layers from last to
/// first, each layer's tensors in order, the order in which the generated backward pass
/// forms them.
struct Slots<T> {
    buffers: Vec<SlotBuffers<T>>,
    floats: usize,
    /// What this rank adds to the step's last sum: its share of the loss, then a 1 for
    /// each tensor whose gradient it formed.
    sent: Vec<f64>,
    /// That sum over the ranks.
    totals: Vec<f64>,
}

impl<T: Scalar> Slots<T> {
    fn of<N: Network<Elem = T> + ?Sized>(net: &N) -> Self {
        let buffers: Vec<_> = Self::tensors(net)
            .into_iter()
            .enumerate()
            .map(|(index, (slot, len))| SlotBuffers {
                slot,
                index,
                send: vec![T::zero(); len],
                sum: vec![T::zero(); len],
                ready: false,
            })
            .collect();
        Slots {
            floats: buffers.iter().map(|b| b.send.len()).sum(),
            sent: vec![0.0; buffers.len() + 1],
            totals: vec![0.0; buffers.len() + 1],
            buffers,
        }
    }

    /// Whether these are the buffers of `net`'s tensors.
    fn fit<N: Network<Elem = T> + ?Sized>(&self, net: &N) -> bool {
        let tensors = Self::tensors(net);
        tensors.len() == self.buffers.len()
            && tensors
                .iter()
                .zip(&self.buffers)
                .all(|(&(slot, len), buffers)| buffers.slot == slot && buffers.send.len() == len)
    }

    /// Every tensor of `net` and its length, in the order of [`Slots`].
    fn tensors<N: Network<Elem = T> + ?Sized>(net: &N) -> Vec<(Slot, usize)> {
        let mut tensors = Vec::new();
        for (layer, (_, params)) in net.layers().into_iter().enumerate().rev() {
            for tensor in 0..params.param_names().len() {
                tensors.push((Slot { layer, tensor }, params.param(tensor).len()));
            }
        }
        tensors
    }

    /// Applies `optimizer` to every tensor whose gradient some rank formed, with the
    /// sum of the ranks' gradients.
    fn update<N: Network<Elem = T> + ?Sized>(
        &mut self,
        net: &mut N,
        optimizer: &mut impl Optimizer<T>,
    ) {
        let mut layers = net.layers_mut();
        for (buffers, &formed) in self.buffers.iter().zip(&self.totals[1..]) {
            if formed > 0.0 {
                let layer = &mut layers[buffers.slot.layer].1;
                optimizer.update(
                    buffers.slot,
                    layer.param_mut(buffers.slot.tensor),
                    &buffers.sum,
                );
            }
        }
    }

    /// Marks every gradient as not yet formed, for the next step.
    fn unready(&mut self) {
        self.buffers
            .iter_mut()
            .for_each(|buffers| buffers.ready = false);
    }
}

/// The optimizer a data-parallel step hands the network: where the network would update
/// a tensor, it starts the sum of its gradient instead (scaled by this rank's share of
/// the batch), in the order of [`Slots`].
struct Sums<'s, 'r, 'w, 'f, T: Scalar> {
    scope: &'r LocalScope<'s>,
    world: &'w SimpleCommunicator,
    weight: T,
    /// The learning rate of the optimizer that will update, for a layer that asks.
    learning_rate: T,
    /// The buffers of the sums not started yet, in order.
    waiting: &'s mut [SlotBuffers<T>],
    /// A 1 for each tensor whose gradient the network formed, by its place in [`Slots`].
    formed: &'f mut [f64],
    /// The sums under way, oldest first.
    requests: VecDeque<Request<'s, [T], &'r LocalScope<'s>>>,
}

impl<'s, 'r, 'w, 'f, T: Scalar> Sums<'s, 'r, 'w, 'f, T> {
    fn new(
        scope: &'r LocalScope<'s>,
        world: &'w SimpleCommunicator,
        buffers: &'s mut [SlotBuffers<T>],
        weight: T,
        formed: &'f mut [f64],
    ) -> Self {
        Sums {
            scope,
            world,
            weight,
            learning_rate: T::zero(),
            requests: VecDeque::with_capacity(buffers.len()),
            waiting: buffers,
            formed,
        }
    }

    /// Starts the sums whose gradients are ready, in order, up to the first that is not.
    fn start_ready(&mut self) {
        while self.waiting.first().is_some_and(|buffers| buffers.ready) {
            let (buffers, rest) = std::mem::take(&mut self.waiting)
                .split_first_mut()
                .expect("a first slot");
            self.waiting = rest;
            self.requests
                .push_back(self.world.immediate_all_reduce_into(
                    self.scope,
                    &buffers.send[..],
                    &mut buffers.sum[..],
                    SystemOperation::sum(),
                ));
        }
    }

    /// Lets MPI move the sums on. Open MPI moves non-blocking collectives only inside MPI
    /// calls (it has no progress thread by default): without a call between layers, the
    /// sums would travel only once the backward pass waits for them. Testing one
    /// request drives them all; the finished ones, oldest first, leave the list.
    fn progress(&mut self) {
        while let Some(request) = self.requests.pop_front() {
            if let Err(pending) = request.test() {
                self.requests.push_front(pending);
                break;
            }
        }
    }

    /// Starts every sum not started yet, with zeros for the gradients not formed.
    fn start_the_rest(&mut self) {
        for buffers in self.waiting.iter_mut().filter(|buffers| !buffers.ready) {
            buffers.send.fill(T::zero());
            buffers.ready = true;
        }
        self.start_ready();
    }
}

impl<T: Scalar> Optimizer<T> for Sums<'_, '_, '_, '_, T> {
    fn learning_rate(&self) -> T {
        self.learning_rate
    }

    fn set_learning_rate(&mut self, _lr: T) {}

    fn update(&mut self, slot: Slot, _param: &mut [T], grad: &[T]) {
        let buffers = self
            .waiting
            .iter_mut()
            .find(|buffers| buffers.slot == slot)
            .unwrap_or_else(|| panic!("DataParallel: the network updated {slot:?} twice in a step, or a tensor it does not list"));
        assert_eq!(
            buffers.send.len(),
            grad.len(),
            "DataParallel: the gradient of {slot:?} changed length"
        );
        for (send, &g) in buffers.send.iter_mut().zip(grad) {
            *send = g * self.weight;
        }
        buffers.ready = true;
        self.formed[buffers.index] = 1.0;
        self.start_ready();
        self.progress();
    }
}

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
//! [`DataParallel::init`] installs a panic hook that aborts the whole job when a rank
//! panics, so that the other ranks end with `mpirun`'s report rather than wait forever
//! for a rank that will not come.
//!
//! BatchNorm normalises over each rank's share of the batch (like DDP without
//! `SyncBatchNorm`), and its running statistics are each rank's own; dropout draws its
//! masks from each rank's copy of the network's stream.

use std::any::Any;
use std::hash::{DefaultHasher, Hasher};
use std::time::{Duration, Instant};

use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::request::{LocalScope, Request};
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use ndarray::{ArrayView, Axis};

use crate::data::batches::share;
use crate::error::Error;
use crate::loss::Loss;
use crate::network::Network;
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

/// Where the time of the data-parallel steps went, summed since the last
/// [`DataParallel::take_timing`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Steps taken.
    pub steps: usize,
    /// Whole steps: forward, backward, waiting for the sums, and the updates.
    pub step: Duration,
    /// Waiting, after the backward pass, for the sums it started: the communication the
    /// backward pass did not hide.
    pub wait: Duration,
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
    /// [`Error::Distributed`] if MPI was already started in this process.
    pub fn init() -> Result<Self, Error> {
        let (universe, _) =
            mpi::initialize_with_threading(mpi::Threading::Funneled).ok_or_else(|| {
                Error::Distributed {
                    reason: "MPI is already initialised in this process; make one DataParallel"
                        .into(),
                }
            })?;
        let world = universe.world();
        let (rank, ranks) = (world.rank() as usize, world.size() as usize);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            eprintln!("frechet: rank {rank} of {ranks} panicked; aborting the MPI job");
            // SAFETY: MPI is initialised (this hook is installed after it is) and
            // MPI_COMM_WORLD is a valid communicator; MPI_Abort does not return.
            unsafe {
                mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, 101);
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

    /// Makes every rank's parameters and buffers those of rank 0 (a broadcast), so that
    /// training starts from the same weights everywhere whatever the seeds.
    pub fn broadcast<N: Network + ?Sized>(&self, network: &mut N) {
        let root = self.world.process_at_rank(0);
        for (_, layer) in network.layers_mut() {
            for tensor in 0..layer.param_names().len() {
                root.broadcast_into(layer.param_mut(tensor));
            }
        }
    }

    /// A hash of every parameter's bits, the same on every rank exactly when their weights
    /// are.
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
        let count = slots.count;
        self.world.barrier();
        let started = Instant::now();
        for _ in 0..reps {
            let world = &self.world;
            mpi::request::scope(|scope| {
                let mut sums = Sums {
                    scope,
                    world,
                    weight: <N::Elem as num_traits::Zero>::zero(),
                    waiting: &mut slots.slots[..],
                    requests: Vec::with_capacity(count),
                };
                sums.start_the_rest();
                for request in sums.requests {
                    request.wait();
                }
            });
            slots.readied_none();
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
        let (total, wait) = mpi::request::scope(|scope| {
            let mut sums = Sums {
                scope,
                world,
                weight,
                waiting: &mut slots.slots[..],
                requests: Vec::with_capacity(slots.count),
            };
            let mean = if local > 0 {
                net.train_step(x, targets, loss, &mut sums)
            } else {
                <N::Elem as num_traits::Float>::nan()
            };
            // A rank that formed no gradient (an empty share, or a loss that is not
            // finite) sends zeros, so that every rank starts the same sums.
            sums.weight = <N::Elem as num_traits::Zero>::zero();
            sums.start_the_rest();
            let contribution = if local > 0 {
                mean.widen() * local as f64
            } else {
                0.0
            };
            let mut total = 0.0;
            world.all_reduce_into(&contribution, &mut total, SystemOperation::sum());
            let waiting = Instant::now();
            for request in sums.requests {
                request.wait();
            }
            (total, waiting.elapsed())
        });
        let mean = total / batch as f64;
        if mean.is_finite() {
            slots.update(net, optimizer);
        }
        slots.readied_none();
        self.timing.steps += 1;
        self.timing.wait += wait;
        self.timing.floats_per_step = slots.floats;
        self.slots = Some(slots);
        self.timing.step += started.elapsed();
        N::Elem::of_f64(mean)
    }
}

/// The buffers of one parameter tensor's sum: what this rank sends, and the sum.
struct SlotBuffers<T> {
    slot: Slot,
    send: Vec<T>,
    sum: Vec<T>,
    /// Whether `send` holds this step's gradient.
    ready: bool,
}

/// Every parameter tensor's buffers, in the order the sums start: layers from last to
/// first, each layer's tensors in order, the order in which the generated backward pass
/// forms them.
struct Slots<T> {
    slots: Vec<SlotBuffers<T>>,
    count: usize,
    floats: usize,
}

impl<T: Scalar> Slots<T> {
    fn of<N: Network<Elem = T> + ?Sized>(net: &N) -> Self {
        let slots: Vec<_> = Self::of_shapes(net)
            .into_iter()
            .map(|(slot, len)| SlotBuffers {
                slot,
                send: vec![T::zero(); len],
                sum: vec![T::zero(); len],
                ready: false,
            })
            .collect();
        let floats = slots.iter().map(|s| s.send.len()).sum();
        Slots {
            count: slots.len(),
            slots,
            floats,
        }
    }

    /// Whether these are the buffers of `net`'s tensors.
    fn fit<N: Network<Elem = T> + ?Sized>(&self, net: &N) -> bool {
        let fresh = Self::of_shapes(net);
        fresh.len() == self.slots.len()
            && fresh
                .iter()
                .zip(&self.slots)
                .all(|(&(slot, len), buffers)| buffers.slot == slot && buffers.send.len() == len)
    }

    /// The slots of `net` and their lengths, in the order of [`Slots::of`].
    fn of_shapes<N: Network<Elem = T> + ?Sized>(net: &N) -> Vec<(Slot, usize)> {
        let mut shapes = Vec::new();
        for (layer, (_, params)) in net.layers().into_iter().enumerate().rev() {
            for tensor in 0..params.param_names().len() {
                shapes.push((Slot { layer, tensor }, params.param(tensor).len()));
            }
        }
        shapes
    }

    /// Applies `optimizer` to every tensor with its summed gradient.
    fn update<N: Network<Elem = T> + ?Sized>(
        &mut self,
        net: &mut N,
        optimizer: &mut impl Optimizer<T>,
    ) {
        let mut layers = net.layers_mut();
        for buffers in &mut self.slots {
            let layer = &mut layers[buffers.slot.layer].1;
            optimizer.update(
                buffers.slot,
                layer.param_mut(buffers.slot.tensor),
                &buffers.sum,
            );
        }
    }

    /// Marks every gradient as not yet formed, for the next step.
    fn readied_none(&mut self) {
        self.slots
            .iter_mut()
            .for_each(|buffers| buffers.ready = false);
    }
}

/// The optimizer a data-parallel step hands the network: where the network would update
/// a tensor, it starts the sum of its gradient instead (scaled by this rank's share of
/// the batch), in the order of [`Slots`].
struct Sums<'s, 'r, 'w, T: Scalar> {
    scope: &'r LocalScope<'s>,
    world: &'w SimpleCommunicator,
    weight: T,
    /// The buffers of the sums not started yet, in order.
    waiting: &'s mut [SlotBuffers<T>],
    requests: Vec<Request<'s, [T], &'r LocalScope<'s>>>,
}

impl<'s, T: Scalar> Sums<'s, '_, '_, T> {
    /// Starts the sums whose gradients are ready, in order, up to the first that is not.
    fn start_ready(&mut self) {
        while self.waiting.first().is_some_and(|buffers| buffers.ready) {
            let (buffers, rest) = std::mem::take(&mut self.waiting)
                .split_first_mut()
                .expect("a first slot");
            self.waiting = rest;
            self.requests.push(self.world.immediate_all_reduce_into(
                self.scope,
                &buffers.send[..],
                &mut buffers.sum[..],
                SystemOperation::sum(),
            ));
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

impl<T: Scalar> Optimizer<T> for Sums<'_, '_, '_, T> {
    fn learning_rate(&self) -> T {
        T::zero()
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
        self.start_ready();
    }
}

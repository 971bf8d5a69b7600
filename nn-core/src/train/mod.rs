//! A training loop with the conveniences of Keras' `fit`, for any loss: classifiers
//! ([`Trainer::new`]), and regression, reconstruction and binary classification
//! ([`Trainer::with_loss`]).
//!
//! ```text
//! let history = Trainer::new(15, 32)                         // epochs, batch size
//!     .seed(0)                                               // the shuffling
//!     .schedule(Schedule::Exponential { gamma: 0.85 })       // learning rate per epoch
//!     .validation(test_images.view(), &test_labels)
//!     .early_stopping(EarlyStopping::new(Monitor::ValidationLoss, 3))
//!     .restore_best(true)                                    // the best epoch's weights at the end
//!     .checkpoint("best.safetensors")
//!     .on_epoch(|epoch| println!("{epoch}"))
//!     .fit(&mut net, &mut Sgd::momentum(0.05, 0.9), images.view(), &labels)?;
//!
//! // An autoencoder: the input is its own target.
//! Trainer::with_loss(10, 64, MeanSquaredError)
//!     .validation(test.view(), test.view())
//!     .fit(&mut net, &mut Adam::new(1e-3), train.view(), train.view())?;
//! ```
//!
//! Each epoch visits the training samples in a seeded random order, one
//! [`Model::train_step`] per batch (inputs and targets gathered into buffers reused from
//! step to step), then evaluates the validation set: its loss, and its accuracy where the
//! loss's task counts right answers ([`FitLoss::right`]). On a terminal a progress bar
//! shows the steps per second, the running loss and the time left; elsewhere (a pipe,
//! CI) the loop prints nothing itself. A step whose loss is not finite stops training
//! with [`Error::NonFiniteLoss`], which names the step.

mod epoch;
mod schedule;

pub use epoch::{EarlyStopping, Epoch, History, Monitor};
pub use schedule::{Schedule, Scheduler, Warmup};

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array2, ArrayView, Axis, Dimension, RemoveAxis};

use crate::data::Batches;
use crate::error::Error;
use crate::loss::{FitLoss, Loss, SoftmaxCrossEntropy};
use crate::network::{Network, Snapshot};
use crate::optim::Optimizer;
use crate::scalar::Scalar;

/// A network as the training loop sees it: `network!` implements this trait by
/// forwarding to the generated methods of the same names.
pub trait Model: Network {
    /// The dimension of a batch of inputs: `Ix2` (batch, features) or `Ix4`
    /// (batch, channels, height, width).
    type Batch: Dimension + RemoveAxis;

    /// The shape of one input sample.
    fn input_shape() -> &'static [usize];

    /// The outputs for a batch of inputs.
    fn forward(&self, x: ArrayView<'_, Self::Elem, Self::Batch>) -> Array2<Self::Elem>;

    /// One training step; returns the mean loss before the update.
    fn train_step<L: Loss<Self::Elem>, O: Optimizer<Self::Elem>>(
        &mut self,
        x: ArrayView<'_, Self::Elem, Self::Batch>,
        targets: L::Targets<'_>,
        loss: &L,
        optimizer: &mut O,
    ) -> Self::Elem;
}

/// A data set: a batch of inputs (samples along the first axis) and their targets.
struct Samples<'a, D: Dimension, T, Y> {
    inputs: ArrayView<'a, T, D>,
    targets: Y,
}

/// What [`Trainer::on_epoch`] calls.
type EpochCallback<'a> = Box<dyn FnMut(&Epoch) + 'a>;

/// The training loop's settings; [`Trainer::fit`] runs it, on batches of dimension `D`
/// and element type `T`, minimising the loss `L` ([`SoftmaxCrossEntropy`] unless made
/// with [`Trainer::with_loss`]).
pub struct Trainer<'a, D: Dimension, T: Scalar = f32, L: FitLoss<T> = SoftmaxCrossEntropy> {
    loss: L,
    epochs: usize,
    batch_size: usize,
    seed: u64,
    schedule: Schedule,
    validation: Option<Samples<'a, D, T, L::Targets<'a>>>,
    early_stopping: Option<EarlyStopping>,
    restore_best: bool,
    checkpoint: Option<PathBuf>,
    progress: bool,
    on_epoch: Option<EpochCallback<'a>>,
    #[cfg(feature = "mpi")]
    group: Option<&'a mut crate::data_parallel::DataParallel>,
}

impl<'a, D: Dimension + RemoveAxis, T: Scalar> Trainer<'a, D, T> {
    /// A classifier's training: `epochs` passes over the training set in batches of
    /// `batch_size` (the last batch of an epoch may be smaller), minimising
    /// [`SoftmaxCrossEntropy`] against class indices, shuffled with seed 0, at a constant
    /// learning rate, with a progress bar when standard error is a terminal.
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Trainer::with_loss(epochs, batch_size, SoftmaxCrossEntropy)
    }
}

impl<'a, D: Dimension + RemoveAxis, T: Scalar, L: FitLoss<T>> Trainer<'a, D, T, L> {
    /// [`Trainer::new`] minimising `loss`, with targets of its kind: rows of values for
    /// [`MeanSquaredError`](crate::MeanSquaredError) (the inputs themselves for an
    /// autoencoder), rows of 0s and 1s for
    /// [`BinaryCrossEntropyWithLogits`](crate::BinaryCrossEntropyWithLogits).
    pub fn with_loss(epochs: usize, batch_size: usize, loss: L) -> Self {
        Trainer {
            loss,
            epochs,
            batch_size,
            seed: 0,
            schedule: Schedule::Constant,
            validation: None,
            early_stopping: None,
            restore_best: false,
            checkpoint: None,
            progress: true,
            on_epoch: None,
            #[cfg(feature = "mpi")]
            group: None,
        }
    }

    /// The seed of the shuffling: the same seed visits the samples in the same order.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How the learning rate changes between epochs, from the optimizer's rate.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// A validation set, evaluated after every epoch: inputs and their targets, of the
    /// kind the loss takes (class indices for a classifier).
    pub fn validation(mut self, inputs: ArrayView<'a, T, D>, targets: L::Targets<'a>) -> Self {
        self.validation = Some(Samples { inputs, targets });
        self
    }

    /// Stop early when the validation figure stops improving (needs a validation set).
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// Whether to put back, at the end, the weights (and buffers) of the epoch with the
    /// best validation figure — the one early stopping monitors, else the validation
    /// loss — as Keras' `restore_best_weights` (needs a validation set). Off by default:
    /// the network ends with the last epoch's weights.
    pub fn restore_best(mut self, restore: bool) -> Self {
        self.restore_best = restore;
        self
    }

    /// After every epoch that improves the validation loss (or the figure early
    /// stopping monitors), write the network to `path` as safetensors.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }

    /// Trains as one rank of `group` (feature `mpi`): every rank runs the same `fit` on
    /// the same data with the same settings and takes its share of every batch, and the
    /// gradients are summed across ranks ([`DataParallel`](crate::data_parallel::DataParallel)).
    /// Only rank 0 draws the progress bar, calls [`Trainer::on_epoch`] and writes the
    /// checkpoint (the ranks agree on whether it was written, and all return the error
    /// if not). Before each evaluation every rank takes rank 0's BatchNorm statistics,
    /// and every rank decides from rank 0's validation figures, so every rank returns
    /// the same history and weights.
    #[cfg(feature = "mpi")]
    pub fn data_parallel(mut self, group: &'a mut crate::data_parallel::DataParallel) -> Self {
        self.group = Some(group);
        self
    }

    /// Whether to show the progress bar on a terminal (it never shows elsewhere).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Called after every epoch with its figures, for instance to print them.
    pub fn on_epoch(mut self, f: impl FnMut(&Epoch) + 'a) -> Self {
        self.on_epoch = Some(Box::new(f));
        self
    }

    /// Trains `net` with `optimizer` on `inputs` (samples along the first axis) and their
    /// `targets`, minimising the trainer's loss: class indices `&labels[..]` for a
    /// classifier, rows of `inputs` themselves for an autoencoder, rows of values for a
    /// regression.
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteLoss`] if a step's loss is not finite (the generated
    /// `train_step` then leaves the weights as they were), and the errors of writing
    /// the checkpoint.
    ///
    /// # Panics
    ///
    /// If the batch size or the number of epochs is 0, the targets do not match the
    /// samples, a validation set, early stopping or the schedule is inconsistent
    /// (monitoring an accuracy the loss does not count, say), or the inputs do not have
    /// the network's input shape.
    pub fn fit<'d, N, O>(
        mut self,
        net: &mut N,
        optimizer: &mut O,
        inputs: ArrayView<'d, T, D>,
        targets: L::Targets<'d>,
    ) -> Result<History, Error>
    where
        N: Model<Batch = D, Elem = T>,
        O: Optimizer<T>,
    {
        let loss = &self.loss;
        assert!(
            self.epochs > 0 && self.batch_size > 0,
            "fit: epochs and batch size must be at least 1"
        );
        // `Batches` checks that the training targets are one per sample.
        let samples = inputs.len_of(Axis(0));
        if let Some(validation) = &self.validation {
            assert_eq!(
                validation.inputs.len_of(Axis(0)),
                L::samples(validation.targets),
                "fit: one target per validation sample"
            );
        }
        let watches =
            self.early_stopping.is_some() || self.checkpoint.is_some() || self.restore_best;
        assert!(
            self.validation.is_some() || !watches,
            "fit: early stopping, checkpoints and restore_best watch the validation set; give one with `validation`"
        );
        let mut scheduler = Scheduler::new(self.schedule, optimizer.learning_rate().widen());

        let mut batches = Batches::new(loss, inputs, targets, self.batch_size).shuffled(self.seed);
        let root = self.rank() == 0;
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            batches = batches.share(group.rank(), group.ranks());
        }
        let steps_per_epoch = batches.len();
        let bar = self.progress_bar(steps_per_epoch, root);
        let mut history = History::default();
        let (mut best, mut since_best) = (None::<f32>, 0);
        let mut best_weights = None;
        let start = Instant::now();

        for epoch in 1..=self.epochs {
            bar.reset();
            bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
            batches.start_pass();
            optimizer.set_learning_rate(T::of_f64(scheduler.learning_rate()));
            let learning_rate = scheduler.learning_rate() as f32;
            let (mut total_loss, mut seen) = (0.0f64, 0);
            let mut step = 0;
            while let Some((x, y)) = batches.next_batch() {
                step += 1;
                // The batch of the whole group, of which `x` may be a share.
                let size = self.batch_size.min(samples - (step - 1) * self.batch_size);
                #[cfg(feature = "mpi")]
                let step_loss = match &mut self.group {
                    Some(group) => group.train_step(net, x, y, size, loss, optimizer),
                    None => net.train_step(x, y, loss, optimizer),
                };
                #[cfg(not(feature = "mpi"))]
                let step_loss = net.train_step(x, y, loss, optimizer);
                if !step_loss.is_finite() {
                    bar.abandon();
                    return Err(Error::NonFiniteLoss {
                        epoch,
                        step,
                        loss: step_loss.widen(),
                    });
                }
                total_loss += step_loss.widen() * size as f64;
                seen += size;
                bar.inc(1);
                // Formatting the message allocates: only for a visible bar, now and then.
                if !bar.is_hidden() && (step % 8 == 1 || step == steps_per_epoch) {
                    bar.set_message(format!(
                        "{:.0} steps/s  loss {:.4}",
                        bar.per_sec(),
                        total_loss / seen as f64
                    ));
                }
            }

            let (validation_loss, validation_accuracy) = match &self.validation {
                Some(validation) => {
                    self.same_buffers(net);
                    let (loss, accuracy) =
                        evaluate_with(net, loss, validation.inputs.clone(), validation.targets);
                    self.root_figures(Some(loss), accuracy)
                }
                None => (None, None),
            };
            let train_loss = (total_loss / samples.max(1) as f64) as f32;
            let mut record = Epoch {
                epoch,
                epochs: self.epochs,
                learning_rate,
                train_loss,
                validation_loss,
                validation_accuracy,
                elapsed: start.elapsed(),
                checkpointed: false,
            };

            let monitor = self
                .early_stopping
                .map_or(Monitor::ValidationLoss, |e| e.monitor);
            let improved = match (watches, monitor.value(&record)) {
                (false, _) => false,
                (true, Some(value)) => {
                    let improved = best.is_none_or(|best| monitor.improves(value, best));
                    if improved {
                        best = Some(value);
                        since_best = 0;
                    } else {
                        since_best += 1;
                    }
                    improved
                }
                (true, None) => panic!(
                    "fit: {monitor:?} is watched, but the loss counts no right answers; monitor the validation loss"
                ),
            };
            if let (true, Some(path)) = (improved, &self.checkpoint) {
                self.write_checkpoint(net, path)?;
                record.checkpointed = true;
            }
            if improved && self.restore_best {
                best_weights = Some((epoch, Snapshot::of(net)));
            }
            if let (true, Some(on_epoch)) = (root, &mut self.on_epoch) {
                bar.suspend(|| on_epoch(&record));
            }
            history.epochs.push(record);

            scheduler.step(f64::from(validation_loss.unwrap_or(train_loss)));
            if self
                .early_stopping
                .is_some_and(|e| since_best >= e.patience && epoch < self.epochs)
            {
                history.stopped_early = true;
                break;
            }
        }
        bar.finish_and_clear();
        if let Some((epoch, weights)) = best_weights {
            weights.restore(net);
            history.restored = Some(epoch);
        }
        Ok(history)
    }

    /// Makes every rank's buffers rank 0's (feature `mpi`), before an evaluation: each
    /// rank updates BatchNorm's running statistics from its own share of the batches.
    fn same_buffers<N: Network>(&self, net: &mut N) {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            group.broadcast_buffers(net);
        }
        let _ = net;
    }

    /// Rank 0's validation figures on every rank (feature `mpi`), so that every rank
    /// takes the same decisions from them: early stopping, checkpoints, the plateau
    /// schedule, the best epoch.
    fn root_figures(&self, loss: Option<f32>, accuracy: Option<f32>) -> (Option<f32>, Option<f32>) {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            let to_f64 = |v: Option<f32>| v.map_or(f64::NAN, f64::from);
            let mut figures = [to_f64(loss), to_f64(accuracy)];
            group.from_root(&mut figures);
            let back = |v: f64, had: bool| had.then_some(v as f32);
            return (
                back(figures[0], loss.is_some()),
                back(figures[1], accuracy.is_some()),
            );
        }
        (loss, accuracy)
    }

    /// Writes the checkpoint: on rank 0 alone when training as a group, whose ranks then
    /// agree on whether it went well, so that all of them stop if it did not.
    fn write_checkpoint<N: Network>(&self, net: &N, path: &Path) -> Result<(), Error> {
        let write = || crate::safetensors::save(net, path);
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            return group.on_root(write, &format!("write the checkpoint {}", path.display()));
        }
        write()
    }

    /// This process's rank in its data-parallel group; 0 when training alone.
    fn rank(&self) -> usize {
        #[cfg(feature = "mpi")]
        if let Some(group) = &self.group {
            return group.rank();
        }
        0
    }

    fn progress_bar(&self, steps: usize, show: bool) -> ProgressBar {
        if !(self.progress && show) {
            return ProgressBar::hidden();
        }
        // `ProgressBar::new` draws to standard error, and only if it is a terminal.
        let bar = ProgressBar::new(steps as u64);
        let style =
            ProgressStyle::with_template("{prefix} {wide_bar} {pos}/{len} steps  {msg}  eta {eta}")
                .expect("a valid template");
        bar.set_style(style);
        bar
    }
}

/// The mean cross-entropy and the accuracy of the classifier `net` on `inputs` and
/// `labels`: [`evaluate_with`] with [`SoftmaxCrossEntropy`].
pub fn evaluate<N: Model>(
    net: &N,
    inputs: ArrayView<'_, N::Elem, N::Batch>,
    labels: &[usize],
) -> (f32, f32) {
    let (loss, accuracy) = evaluate_with(net, &SoftmaxCrossEntropy, inputs, labels);
    (loss, accuracy.expect("a classifier counts right answers"))
}

/// The mean `loss` of `net` on `inputs` and `targets`, and the fraction of right answers
/// if the loss's task counts them ([`FitLoss::right`]), evaluated a thousand samples at a
/// time in evaluation mode (as `forward`).
///
/// # Panics
///
/// If the targets do not match the samples.
pub fn evaluate_with<'d, N: Model, L: FitLoss<N::Elem>>(
    net: &N,
    loss: &L,
    inputs: ArrayView<'d, N::Elem, N::Batch>,
    targets: L::Targets<'d>,
) -> (f32, Option<f32>) {
    let samples = inputs.len_of(Axis(0));
    let (mut total, mut right, mut counted) = (0.0f64, 0usize, 0usize);
    let mut counts = true;
    let mut batches = Batches::new(loss, inputs, targets, 1000);
    while let Some((x, y)) = batches.next_batch() {
        let size = x.len_of(Axis(0));
        let outputs = net.forward(x);
        total += loss.loss(outputs.view(), y).widen() * size as f64;
        match L::right(outputs.view(), y) {
            Some((r, n)) => (right, counted) = (right + r, counted + n),
            None => counts = false,
        }
    }
    let n = samples.max(1) as f64;
    let accuracy = counts.then(|| (right as f64 / counted.max(1) as f64) as f32);
    ((total / n) as f32, accuracy)
}

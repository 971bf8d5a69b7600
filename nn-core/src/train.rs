//! A training loop for classifiers, with the conveniences of Keras' `fit`.
//!
//! ```text
//! let history = Trainer::new(15, 32)                         // epochs, batch size
//!     .seed(0)                                               // the shuffling
//!     .schedule(Schedule::Exponential { gamma: 0.85 })       // learning rate per epoch
//!     .validation(test_images.view(), &test_labels)
//!     .early_stopping(EarlyStopping::new(Monitor::ValidationLoss, 3))
//!     .checkpoint("best.safetensors")
//!     .on_epoch(|epoch| println!("{epoch}"))
//!     .fit(&mut net, &mut Sgd::momentum(0.05, 0.9), images.view(), &labels)?;
//! ```
//!
//! Each epoch visits the training samples in a seeded random order, one
//! [`Model::train_step`] per batch, then evaluates the validation set. On a terminal a
//! progress bar shows the steps per second, the running loss and the time left;
//! elsewhere (a pipe, CI) the loop prints nothing itself. A step whose loss is not
//! finite stops training with [`Error::NonFiniteLoss`], which names the step.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array, Array2, ArrayView, Axis, Dimension, RemoveAxis, Slice};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::Error;
use crate::loss::{Loss, SoftmaxCrossEntropy};
use crate::metrics::accuracy;
use crate::network::Network;
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

/// How the learning rate changes from one epoch to the next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Schedule {
    /// The optimizer's learning rate throughout.
    Constant,
    /// Multiplied by `gamma` after every epoch (PyTorch's `ExponentialLR`).
    Exponential {
        /// The factor per epoch.
        gamma: f64,
    },
    /// Multiplied by `gamma` after every `step_size` epochs (PyTorch's `StepLR`);
    /// `step_size` must be at least 1.
    Step {
        /// Epochs between two decays.
        step_size: usize,
        /// The factor of each decay.
        gamma: f64,
    },
}

/// The validation figure early stopping and checkpointing watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The mean loss on the validation set: lower is better.
    ValidationLoss,
    /// The accuracy on the validation set: higher is better.
    ValidationAccuracy,
}

impl Monitor {
    fn value(self, epoch: &Epoch) -> Option<f32> {
        match self {
            Monitor::ValidationLoss => epoch.validation_loss,
            Monitor::ValidationAccuracy => epoch.validation_accuracy,
        }
    }

    fn improves(self, value: f32, best: f32) -> bool {
        match self {
            Monitor::ValidationLoss => value < best,
            Monitor::ValidationAccuracy => value > best,
        }
    }
}

/// Stop when the monitored figure has not improved for `patience` epochs in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyStopping {
    /// What to watch.
    pub monitor: Monitor,
    /// How many epochs without improvement to allow.
    pub patience: usize,
}

impl EarlyStopping {
    /// Stops after `patience` epochs without improvement of `monitor`.
    pub fn new(monitor: Monitor, patience: usize) -> Self {
        EarlyStopping { monitor, patience }
    }
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct Epoch {
    /// The epoch, counting from 1.
    pub epoch: usize,
    /// The number of epochs asked for.
    pub epochs: usize,
    /// The learning rate the epoch trained with.
    pub learning_rate: f32,
    /// The mean training loss over the epoch's steps, weighted by batch size.
    pub train_loss: f32,
    /// The mean loss on the validation set after the epoch, if there is one.
    pub validation_loss: Option<f32>,
    /// The accuracy on the validation set after the epoch, if there is one.
    pub validation_accuracy: Option<f32>,
    /// The time since training started.
    pub elapsed: Duration,
    /// Whether the checkpoint was written after this epoch.
    pub checkpointed: bool,
}

impl std::fmt::Display for Epoch {
    /// `epoch  3/15  lr 0.0361  loss 0.1234  val loss 0.1500  val accuracy 0.9612  (4.2 s)`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let width = self.epochs.to_string().len();
        write!(
            f,
            "epoch {:>width$}/{}  lr {:.4}  loss {:.4}",
            self.epoch, self.epochs, self.learning_rate, self.train_loss
        )?;
        if let Some(loss) = self.validation_loss {
            write!(f, "  val loss {loss:.4}")?;
        }
        if let Some(accuracy) = self.validation_accuracy {
            write!(f, "  val accuracy {accuracy:.4}")?;
        }
        write!(f, "  ({:.1} s)", self.elapsed.as_secs_f32())?;
        if self.checkpointed {
            write!(f, "  saved")?;
        }
        Ok(())
    }
}

/// Every epoch's figures, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// One entry per epoch trained.
    pub epochs: Vec<Epoch>,
    /// Whether early stopping ended training before the last epoch.
    pub stopped_early: bool,
}

/// A labelled data set: a batch of inputs (samples along the first axis) and a class
/// per sample.
struct Labelled<'a, D: Dimension, T> {
    inputs: ArrayView<'a, T, D>,
    labels: &'a [usize],
}

/// What [`Trainer::on_epoch`] calls.
type EpochCallback<'a> = Box<dyn FnMut(&Epoch) + 'a>;

/// The training loop's settings; [`Trainer::fit`] runs it, on batches of dimension `D`
/// and element type `T`.
pub struct Trainer<'a, D: Dimension, T = f32> {
    epochs: usize,
    batch_size: usize,
    seed: u64,
    schedule: Schedule,
    validation: Option<Labelled<'a, D, T>>,
    early_stopping: Option<EarlyStopping>,
    checkpoint: Option<PathBuf>,
    progress: bool,
    on_epoch: Option<EpochCallback<'a>>,
}

impl<'a, D: Dimension + RemoveAxis, T: Scalar> Trainer<'a, D, T> {
    /// `epochs` passes over the training set in batches of `batch_size` (the last batch
    /// of an epoch may be smaller), shuffled with seed 0, at a constant learning rate,
    /// with a progress bar when standard error is a terminal.
    pub fn new(epochs: usize, batch_size: usize) -> Self {
        Trainer {
            epochs,
            batch_size,
            seed: 0,
            schedule: Schedule::Constant,
            validation: None,
            early_stopping: None,
            checkpoint: None,
            progress: true,
            on_epoch: None,
        }
    }

    /// The seed of the shuffling: the same seed visits the samples in the same order.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How the learning rate changes between epochs.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// A validation set, evaluated after every epoch.
    pub fn validation(mut self, inputs: ArrayView<'a, T, D>, labels: &'a [usize]) -> Self {
        self.validation = Some(Labelled { inputs, labels });
        self
    }

    /// Stop early when the validation figure stops improving (needs a validation set).
    pub fn early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// After every epoch that improves the validation loss (or the figure early
    /// stopping monitors), write the network to `path` as safetensors.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
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
    /// class `labels`, minimising [`SoftmaxCrossEntropy`].
    ///
    /// # Errors
    ///
    /// [`Error::NonFiniteLoss`] if a step's loss is not finite (the generated
    /// `train_step` then leaves the weights as they were), and the errors of writing
    /// the checkpoint.
    ///
    /// # Panics
    ///
    /// If the batch size or the number of epochs is 0, the labels do not match the
    /// samples, a validation set or early stopping is inconsistent, or the inputs do not
    /// have the network's input shape.
    pub fn fit<N, O>(
        mut self,
        net: &mut N,
        optimizer: &mut O,
        inputs: ArrayView<'_, T, D>,
        labels: &[usize],
    ) -> Result<History, Error>
    where
        N: Model<Batch = D, Elem = T>,
        O: Optimizer<T>,
    {
        assert!(
            self.epochs > 0 && self.batch_size > 0,
            "fit: epochs and batch size must be at least 1"
        );
        assert_eq!(
            inputs.len_of(Axis(0)),
            labels.len(),
            "fit: one label per training sample"
        );
        assert!(
            !matches!(self.schedule, Schedule::Step { step_size: 0, .. }),
            "fit: a step schedule's step_size must be at least 1"
        );
        if let Some(validation) = &self.validation {
            assert_eq!(
                validation.inputs.len_of(Axis(0)),
                validation.labels.len(),
                "fit: one label per validation sample"
            );
        }
        assert!(
            self.validation.is_some() || (self.early_stopping.is_none() && self.checkpoint.is_none()),
            "fit: early stopping and checkpoints watch the validation set; give one with `validation`"
        );

        let samples = labels.len();
        let steps_per_epoch = samples.div_ceil(self.batch_size);
        let mut batch_shape = inputs.raw_dim();
        batch_shape[0] = self.batch_size.min(samples);
        let mut batch = Array::zeros(batch_shape);
        let mut batch_labels = Vec::with_capacity(self.batch_size);
        let mut order: Vec<usize> = (0..samples).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let bar = self.progress_bar(steps_per_epoch);
        let mut history = History::default();
        let (mut best, mut since_best) = (None::<f32>, 0);
        let start = Instant::now();

        for epoch in 1..=self.epochs {
            bar.reset();
            bar.set_prefix(format!("epoch {epoch}/{}", self.epochs));
            order.shuffle(&mut rng);
            let learning_rate = optimizer.learning_rate().widen() as f32;
            let mut total_loss = 0.0f64;
            for (step, chunk) in order.chunks(self.batch_size).enumerate() {
                let mut x = batch.slice_axis_mut(Axis(0), Slice::from(..chunk.len()));
                batch_labels.clear();
                for (mut row, &i) in x.outer_iter_mut().zip(chunk) {
                    row.assign(&inputs.index_axis(Axis(0), i));
                    batch_labels.push(labels[i]);
                }
                let loss =
                    net.train_step(x.view(), &batch_labels[..], &SoftmaxCrossEntropy, optimizer);
                if !loss.is_finite() {
                    bar.abandon();
                    return Err(Error::NonFiniteLoss {
                        epoch,
                        step: step + 1,
                        loss: loss.widen(),
                    });
                }
                total_loss += loss.widen() * chunk.len() as f64;
                bar.inc(1);
                // Formatting the message allocates: only for a visible bar, now and then.
                if !bar.is_hidden() && (step % 8 == 0 || step + 1 == steps_per_epoch) {
                    let seen = step * self.batch_size + chunk.len();
                    bar.set_message(format!(
                        "{:.0} steps/s  loss {:.4}",
                        bar.per_sec(),
                        total_loss / seen as f64
                    ));
                }
            }

            let (validation_loss, validation_accuracy) = match &self.validation {
                Some(validation) => {
                    let (loss, accuracy) =
                        evaluate(net, validation.inputs.view(), validation.labels);
                    (Some(loss), Some(accuracy))
                }
                None => (None, None),
            };
            let mut record = Epoch {
                epoch,
                epochs: self.epochs,
                learning_rate,
                train_loss: (total_loss / samples.max(1) as f64) as f32,
                validation_loss,
                validation_accuracy,
                elapsed: start.elapsed(),
                checkpointed: false,
            };

            let monitor = self
                .early_stopping
                .map(|e| e.monitor)
                .or(self.checkpoint.as_ref().map(|_| Monitor::ValidationLoss));
            let improved = match monitor.and_then(|m| m.value(&record).map(|v| (m, v))) {
                Some((monitor, value)) => {
                    let improved = best.is_none_or(|best| monitor.improves(value, best));
                    if improved {
                        best = Some(value);
                        since_best = 0;
                    } else {
                        since_best += 1;
                    }
                    improved
                }
                None => false,
            };
            if let (true, Some(path)) = (improved, &self.checkpoint) {
                crate::safetensors::save(net, path)?;
                record.checkpointed = true;
            }
            if let Some(on_epoch) = &mut self.on_epoch {
                bar.suspend(|| on_epoch(&record));
            }
            history.epochs.push(record);

            let decay = match self.schedule {
                Schedule::Constant => None,
                Schedule::Exponential { gamma } => Some(gamma),
                Schedule::Step { step_size, gamma } => {
                    (step_size > 0 && epoch % step_size == 0).then_some(gamma)
                }
            };
            if let Some(gamma) = decay {
                optimizer.set_learning_rate(optimizer.learning_rate() * T::of_f64(gamma));
            }
            if self
                .early_stopping
                .is_some_and(|e| since_best >= e.patience && epoch < self.epochs)
            {
                history.stopped_early = true;
                break;
            }
        }
        bar.finish_and_clear();
        Ok(history)
    }

    fn progress_bar(&self, steps: usize) -> ProgressBar {
        if !self.progress {
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

/// The mean cross-entropy and the accuracy of `net` on `inputs` and `labels`, evaluated
/// a thousand samples at a time.
pub fn evaluate<N: Model>(
    net: &N,
    inputs: ArrayView<'_, N::Elem, N::Batch>,
    labels: &[usize],
) -> (f32, f32) {
    assert_eq!(
        inputs.len_of(Axis(0)),
        labels.len(),
        "evaluate: one label per sample"
    );
    let (mut loss, mut correct) = (0.0f64, 0.0f64);
    for (start, labels) in (0..).step_by(1000).zip(labels.chunks(1000)) {
        let x = inputs.slice_axis(Axis(0), Slice::from(start..start + labels.len()));
        let outputs = net.forward(x);
        let mean = SoftmaxCrossEntropy.loss(outputs.view(), labels);
        loss += mean.widen() * labels.len() as f64;
        correct += f64::from(accuracy(outputs.view(), labels)) * labels.len() as f64;
    }
    let n = labels.len().max(1) as f64;
    ((loss / n) as f32, (correct / n) as f32)
}

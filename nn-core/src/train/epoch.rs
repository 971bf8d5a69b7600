//! What the training loop reports: each [`Epoch`]'s figures, the [`History`] of them, and
//! the figure early stopping, checkpoints and `restore_best` watch ([`Monitor`]).

use std::time::Duration;

/// The validation figure early stopping and checkpointing watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Monitor {
    /// The mean loss on the validation set: lower is better.
    ValidationLoss,
    /// The accuracy on the validation set: higher is better (for a loss whose task counts
    /// right answers, [`FitLoss::right`](crate::FitLoss::right)).
    ValidationAccuracy,
}

impl Monitor {
    pub(super) fn value(self, epoch: &Epoch) -> Option<f32> {
        match self {
            Monitor::ValidationLoss => epoch.validation_loss,
            Monitor::ValidationAccuracy => epoch.validation_accuracy,
        }
    }

    pub(super) fn improves(self, value: f32, best: f32) -> bool {
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
    /// The accuracy on the validation set after the epoch, if there is one and the loss
    /// counts right answers.
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
    /// The epoch whose weights the network holds at the end, if `restore_best` put them
    /// back (counting from 1).
    pub restored: Option<usize>,
}

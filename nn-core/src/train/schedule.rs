//! Learning-rate schedules, epoch by epoch, each equal to a PyTorch scheduler.
//!
//! [`Scheduler`] runs a [`Schedule`] from a base learning rate: the rate of each epoch,
//! computed in `f64` like PyTorch's Python floats and handed to the optimizer in its
//! element type. [`Trainer`](super::Trainer) steps it after every epoch with the epoch's
//! loss (on the validation set if there is one), which only `Plateau` reads.

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
    /// Half a cosine from the base rate down to `eta_min` over `t_max` epochs (PyTorch's
    /// `CosineAnnealingLR(T_max, eta_min)`), after an optional linear warm-up (PyTorch's
    /// `SequentialLR` of `LinearLR(start_factor, total_iters=epochs)` and the cosine,
    /// with the milestone at the warm-up's end). `t_max` must be at least 1.
    Cosine {
        /// Epochs from the base rate to `eta_min`, after the warm-up.
        t_max: usize,
        /// The smallest rate.
        eta_min: f64,
        /// The warm-up before the cosine, if any.
        warmup: Option<Warmup>,
    },
    /// Multiplied by `factor` when the epoch's loss has not improved on the best by more
    /// than `threshold` (relative) for more than `patience` epochs, never below `min_lr`:
    /// PyTorch's `ReduceLROnPlateau(mode="min", factor, patience, threshold, min_lr)` with
    /// its default relative threshold, no cooldown and `eps = 1e-8`. The loss is the
    /// validation loss, or the training loss without a validation set.
    Plateau {
        /// The factor of each reduction, in (0, 1).
        factor: f64,
        /// Epochs without improvement tolerated before reducing.
        patience: usize,
        /// The relative improvement that counts (PyTorch's default is `1e-4`).
        threshold: f64,
        /// The smallest rate.
        min_lr: f64,
    },
}

impl Schedule {
    /// [`Schedule::Plateau`] with PyTorch's defaults: `factor` 0.1, `patience` 10,
    /// `threshold` 1e-4, `min_lr` 0.
    pub const PLATEAU: Schedule = Schedule::Plateau {
        factor: 0.1,
        patience: 10,
        threshold: 1e-4,
        min_lr: 0.0,
    };
}

/// A linear warm-up: the rate grows from `start_factor` times the base rate to the base
/// rate over `epochs` epochs (PyTorch's `LinearLR(start_factor, total_iters=epochs)`,
/// whose default `start_factor` is 1/3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// Epochs of warm-up.
    pub epochs: usize,
    /// The first epoch's rate, as a fraction of the base rate.
    pub start_factor: f64,
}

/// A [`Schedule`] in progress: the rate of the current epoch and what the schedule
/// remembers of the past ones.
#[derive(Clone, Debug)]
pub struct Scheduler {
    schedule: Schedule,
    base: f64,
    rate: f64,
    /// Epochs done, counting from 0.
    epoch: usize,
    /// The plateau's best loss and the epochs since it.
    best: f64,
    bad_epochs: usize,
}

impl Scheduler {
    /// The schedule starting at `base`, the rate of the first epoch (after warm-up, the
    /// rate the warm-up leads to).
    ///
    /// # Panics
    ///
    /// If a step size, `t_max` or a plateau's `factor` is out of range.
    pub fn new(schedule: Schedule, base: f64) -> Self {
        match schedule {
            Schedule::Step { step_size: 0, .. } => {
                panic!("a step schedule's step_size must be at least 1")
            }
            Schedule::Cosine { t_max: 0, .. } => {
                panic!("a cosine schedule's t_max must be at least 1")
            }
            Schedule::Plateau { factor, .. } if !(factor > 0.0 && factor < 1.0) => {
                panic!("a plateau schedule's factor must be in (0, 1), not {factor}")
            }
            _ => {}
        }
        let mut scheduler = Scheduler {
            schedule,
            base,
            rate: base,
            epoch: 0,
            best: f64::INFINITY,
            bad_epochs: 0,
        };
        scheduler.rate = scheduler.closed_form().unwrap_or(base);
        scheduler
    }

    /// The rate of the current epoch.
    pub fn learning_rate(&self) -> f64 {
        self.rate
    }

    /// Ends the current epoch, whose loss was `loss`, and moves to the next one's rate.
    pub fn step(&mut self, loss: f64) {
        self.epoch += 1;
        self.rate = match self.schedule {
            Schedule::Constant => self.rate,
            Schedule::Exponential { gamma } => self.rate * gamma,
            Schedule::Step { step_size, gamma } if self.epoch.is_multiple_of(step_size) => {
                self.rate * gamma
            }
            Schedule::Step { .. } => self.rate,
            Schedule::Cosine { .. } => self.closed_form().expect("a closed form"),
            Schedule::Plateau {
                factor,
                patience,
                threshold,
                min_lr,
            } => {
                if loss < self.best * (1.0 - threshold) {
                    (self.best, self.bad_epochs) = (loss, 0);
                } else {
                    self.bad_epochs += 1;
                }
                if self.bad_epochs > patience {
                    self.bad_epochs = 0;
                    let reduced = (self.rate * factor).max(min_lr);
                    if self.rate - reduced > 1e-8 {
                        reduced
                    } else {
                        self.rate
                    }
                } else {
                    self.rate
                }
            }
        };
    }

    /// The rate of the current epoch where it depends on the epoch alone (the warm-up
    /// and the cosine).
    fn closed_form(&self) -> Option<f64> {
        let Schedule::Cosine {
            t_max,
            eta_min,
            warmup,
        } = self.schedule
        else {
            return None;
        };
        let base = self.base;
        let warm = warmup.map_or(0, |w| w.epochs);
        if let (Some(w), true) = (warmup, self.epoch < warm) {
            let progress = self.epoch as f64 / w.epochs as f64;
            return Some(base * (w.start_factor + (1.0 - w.start_factor) * progress));
        }
        let t = (self.epoch - warm) as f64;
        let cosine = (std::f64::consts::PI * t / t_max as f64).cos();
        Some(eta_min + (base - eta_min) * (1.0 + cosine) / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rates of `epochs` epochs with the losses `losses` (repeated as needed).
    fn rates(schedule: Schedule, epochs: usize, losses: &[f64]) -> Vec<f64> {
        let mut scheduler = Scheduler::new(schedule, 0.1);
        (0..epochs)
            .map(|e| {
                let rate = scheduler.learning_rate();
                scheduler.step(losses[e % losses.len()]);
                rate
            })
            .collect()
    }

    #[test]
    fn step_and_exponential_decay_by_gamma() {
        let step = rates(
            Schedule::Step {
                step_size: 2,
                gamma: 0.5,
            },
            5,
            &[1.0],
        );
        assert_eq!(step, [0.1, 0.1, 0.05, 0.05, 0.025]);
        let exponential = rates(Schedule::Exponential { gamma: 0.5 }, 3, &[1.0]);
        assert_eq!(exponential, [0.1, 0.05, 0.025]);
    }

    #[test]
    fn cosine_falls_to_eta_min_at_t_max_after_a_linear_warm_up() {
        let warmup = Warmup {
            epochs: 2,
            start_factor: 0.5,
        };
        let cosine = Schedule::Cosine {
            t_max: 4,
            eta_min: 0.01,
            warmup: Some(warmup),
        };
        let r = rates(cosine, 7, &[1.0]);
        let expected = [
            0.05,
            0.075,
            0.1,
            0.01 + 0.09 * (1.0 + (0.25f64 * std::f64::consts::PI).cos()) / 2.0,
        ];
        for (r, e) in r.iter().zip(expected) {
            assert!((r - e).abs() < 1e-15, "{r} vs {e}");
        }
        assert!(
            (r[4] - 0.055).abs() < 1e-15 && (r[6] - 0.01).abs() < 1e-15,
            "{r:?}"
        );
    }

    #[test]
    fn a_plateau_reduces_after_patience_epochs_without_improvement() {
        let plateau = Schedule::Plateau {
            factor: 0.5,
            patience: 1,
            threshold: 1e-4,
            min_lr: 0.03,
        };
        // Improves, then stalls: two bad epochs exceed a patience of one.
        let r = rates(plateau, 8, &[1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]);
        assert_eq!(r, [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.03, 0.03]);
    }

    #[test]
    #[should_panic(expected = "t_max must be at least 1")]
    fn a_cosine_of_no_epochs_is_refused() {
        Scheduler::new(
            Schedule::Cosine {
                t_max: 0,
                eta_min: 0.0,
                warmup: None,
            },
            0.1,
        );
    }
}

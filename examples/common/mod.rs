//! What the MNIST examples share: their flags, the call to the training loop, the report
//! and the plot.
//!
//! Each example declares its network and says how to view the digits as its input; the
//! rest is the same for all of them.

mod exit;
mod plot;

use exit::Result;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use frechet::data::Mnist;
use frechet::ndarray::{ArrayView, Axis, Dimension, RemoveAxis, Slice};
use frechet::prelude::*;
use frechet::train::{evaluate, EarlyStopping, Model, Monitor, Schedule, Trainer};
use frechet::ConfusionMatrix;

/// The optimizer of a recipe.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code, reason = "each example constructs the one its recipe names")]
pub enum Method {
    /// SGD with momentum 0.9.
    Momentum,
    /// Adadelta (PyTorch's defaults, rho 0.9, eps 1e-6).
    Adadelta,
    /// Adam (PyTorch's defaults).
    Adam,
}

/// How an example trains, unless its flags say otherwise: the recipe published with its
/// network.
#[derive(Clone, Copy, Debug)]
pub struct Recipe {
    pub method: Method,
    pub epochs: usize,
    pub batch_size: usize,
    /// The learning rate of the first epoch.
    pub lr: f32,
    /// The factor applied to the learning rate after every epoch (PyTorch's
    /// `StepLR(step_size=1, gamma)`).
    pub lr_decay: f32,
}

impl Recipe {
    /// SGD with momentum 0.9, learning rate 0.05 decayed by 0.85 per epoch, batch 32, 15
    /// epochs: the MLP's, LeNet's and the custom layer's.
    pub const MOMENTUM: Recipe = Recipe {
        method: Method::Momentum,
        epochs: 15,
        batch_size: 32,
        lr: 0.05,
        lr_decay: 0.85,
    };
}

/// The flags every MNIST example takes.
#[derive(Parser)]
pub struct Args {
    /// Passes over the training set [default: the example's recipe].
    #[arg(long)]
    epochs: Option<usize>,
    /// Samples per training step [default: the example's recipe].
    #[arg(long)]
    batch_size: Option<usize>,
    /// Learning rate in the first epoch [default: the example's recipe].
    #[arg(long)]
    lr: Option<f32>,
    /// Factor applied to the learning rate after every epoch [default: the example's
    /// recipe].
    #[arg(long)]
    lr_decay: Option<f32>,
    /// The recipe, with the flags above applied.
    #[arg(skip = Recipe::MOMENTUM)]
    pub recipe: Recipe,
    /// Hold out this many training digits as a validation set (otherwise the test
    /// digits are evaluated after each epoch, for display only).
    #[arg(long, default_value_t = 0)]
    pub holdout: usize,
    /// Stop when the validation loss has not improved for this many epochs (needs
    /// --holdout).
    #[arg(long)]
    pub patience: Option<usize>,
    /// Write the weights to this safetensors file whenever the validation loss improves
    /// (needs --holdout).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Directory with the four MNIST IDX files, plain or gzipped.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))]
    pub data: PathBuf,
    /// Write the trained weights to this safetensors file.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Do not train: read the weights from this safetensors file (written by frechet or
    /// by PyTorch) and evaluate them.
    #[arg(long, conflicts_with_all = ["save", "plot", "checkpoint", "patience"])]
    pub load: Option<PathBuf>,
    /// Write the training curves (loss and accuracy per epoch) to this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Seed of the initial weights and of the shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Parses the flags over the example's `recipe`, runs `run`, and reports an error as one
/// line with a failing exit code.
pub fn main_with(recipe: Recipe, run: impl FnOnce(Args) -> Result<()>) -> ExitCode {
    let mut args = Args::parse();
    args.recipe = Recipe {
        method: recipe.method,
        epochs: args.epochs.unwrap_or(recipe.epochs),
        batch_size: args.batch_size.unwrap_or(recipe.batch_size),
        lr: args.lr.unwrap_or(recipe.lr),
        lr_decay: args.lr_decay.unwrap_or(recipe.lr_decay),
    };
    exit::exit_code(check(args).and_then(run))
}

fn check(args: Args) -> Result<Args> {
    let recipe = args.recipe;
    if recipe.batch_size == 0 || recipe.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".into());
    }
    if !(recipe.lr > 0.0 && recipe.lr_decay > 0.0) {
        return Err("--lr and --lr-decay must be positive".into());
    }
    if args.holdout == 0 && (args.patience.is_some() || args.checkpoint.is_some()) {
        return Err("--patience and --checkpoint watch a validation set: give --holdout N".into());
    }
    if let Some(plot) = &args.plot {
        if plot.extension().is_none_or(|e| e != "svg") {
            return Err(
                format!("--plot {}: only .svg files can be written", plot.display()).into(),
            );
        }
    }
    Ok(args)
}

/// Loads the digits named by `--data` and says how many there are.
pub fn load(args: &Args) -> Result<Mnist> {
    let mnist = Mnist::load(&args.data)?;
    println!(
        "{} training and {} test digits from {}",
        mnist.train_labels.len(),
        mnist.test_labels.len(),
        args.data.display()
    );
    if args.holdout >= mnist.train_labels.len() {
        return Err(format!(
            "--holdout {} leaves no training digits (there are {})",
            args.holdout,
            mnist.train_labels.len()
        )
        .into());
    }
    Ok(mnist)
}

/// Trains `net` as the flags say on `train` (the training digits as the network's
/// input), prints one line per epoch, the confusion matrix on `test` and, last, the
/// line `test accuracy: 0.xxxx` that scripts read; saves and plots if asked.
pub fn train<N: Model<Elem = f32>>(
    args: &Args,
    mnist: &Mnist,
    net: &mut N,
    train: ArrayView<'_, f32, N::Batch>,
    test: ArrayView<'_, f32, N::Batch>,
) -> Result<()>
where
    N::Batch: Dimension + RemoveAxis,
{
    if let Some(path) = &args.load {
        frechet::safetensors::load_into(net, path)?;
        println!("read the weights from {}", path.display());
        return report(mnist, net, test);
    }
    let kept = mnist.train_labels.len() - args.holdout;
    let (train, holdout) = train.split_at(Axis(0), kept);
    let (labels, holdout_labels) = mnist.train_labels.split_at(kept);
    let recipe = args.recipe;
    let mut trainer = Trainer::new(recipe.epochs, recipe.batch_size)
        .seed(args.seed)
        .schedule(Schedule::Step {
            step_size: 1,
            gamma: f64::from(recipe.lr_decay),
        })
        .on_epoch(|epoch| println!("{epoch}"));
    trainer = match args.holdout {
        0 => trainer.validation(test.view(), &mnist.test_labels),
        _ => trainer.validation(holdout, holdout_labels),
    };
    if let Some(patience) = args.patience {
        trainer = trainer.early_stopping(EarlyStopping::new(Monitor::ValidationLoss, patience));
    }
    if let Some(path) = &args.checkpoint {
        trainer = trainer.checkpoint(path);
    }
    let history = match recipe.method {
        Method::Momentum => trainer.fit(net, &mut Sgd::momentum(recipe.lr, 0.9), train, labels),
        Method::Adadelta => trainer.fit(net, &mut Adadelta::new(recipe.lr), train, labels),
        Method::Adam => trainer.fit(net, &mut Adam::new(recipe.lr), train, labels),
    }?;
    if history.stopped_early {
        println!(
            "stopped early: no improvement for {} epochs",
            args.patience.unwrap_or(0)
        );
    }
    if let Some(path) = &args.plot {
        plot::curves(&history, path)?;
        println!("wrote the training curves to {}", path.display());
    }
    if let Some(path) = &args.save {
        frechet::safetensors::save(net, path)?;
        println!("saved the weights to {}", path.display());
    }
    report(mnist, net, test)
}

/// Prints the confusion matrix on the test digits and, last, the line
/// `test accuracy: 0.xxxx` that scripts read.
fn report<N: Model<Elem = f32>>(
    mnist: &Mnist,
    net: &N,
    test: ArrayView<'_, f32, N::Batch>,
) -> Result<()>
where
    N::Batch: Dimension + RemoveAxis,
{
    let mut confusion = ConfusionMatrix::new(10);
    let batches = (0..mnist.test_labels.len()).step_by(1000);
    for (start, labels) in batches.zip(mnist.test_labels.chunks(1000)) {
        let x = test.slice_axis(Axis(0), Slice::from(start..start + labels.len()));
        confusion.add_outputs(net.forward(x).view(), labels);
    }
    println!("confusion matrix on the test digits:\n{confusion}");
    let (_, accuracy) = evaluate(net, test, &mnist.test_labels);
    println!("test accuracy: {accuracy:.4}");
    Ok(())
}

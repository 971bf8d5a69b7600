//! What the MNIST examples share: their flags, the training loop and the accuracy.
//!
//! Each example declares its network and says how to turn a list of digit indices into
//! a batch for it; the loop, the schedule and the report are the same for all of them.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use frechet::data::Mnist;
use frechet::ndarray::Array2;
use frechet::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// The flags every MNIST example takes.
#[derive(Parser)]
pub struct Args {
    /// Passes over the training set.
    #[arg(long, default_value_t = 15)]
    pub epochs: usize,
    /// Samples per training step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate of SGD (with momentum 0.9) in the first epoch.
    #[arg(long, default_value_t = 0.05)]
    pub lr: f32,
    /// Factor applied to the learning rate after every epoch.
    #[arg(long, default_value_t = 0.85)]
    pub lr_decay: f32,
    /// Directory with the four MNIST IDX files, plain or gzipped.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))]
    pub data: PathBuf,
    /// Write the trained weights to this safetensors file.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Seed of the initial weights and of the shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Parses the flags, runs `run`, and reports an error as one line with a failing exit
/// code.
pub fn main_with(run: impl FnOnce(Args) -> Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    let args = Args::parse();
    let checked = if args.batch_size == 0 || args.epochs == 0 {
        Err("--batch-size and --epochs must be at least 1".into())
    } else if !(args.lr > 0.0 && args.lr_decay > 0.0) {
        Err("--lr and --lr-decay must be positive".into())
    } else {
        Ok(args)
    };
    match checked.and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the digits named by `--data` and says how many there are.
pub fn load(args: &Args) -> Result<Mnist, frechet::Error> {
    let mnist = Mnist::load(&args.data)?;
    println!(
        "{} training and {} test digits from {}",
        mnist.train_labels.len(),
        mnist.test_labels.len(),
        args.data.display()
    );
    Ok(mnist)
}

/// Trains for `--epochs` with SGD (momentum 0.9, the learning rate decayed per epoch),
/// printing the mean loss and test accuracy after each epoch, and returns the final test
/// accuracy. `step` trains `net` on the training digits with the given indices;
/// `logits` gives its outputs for a range of test digits.
pub fn train<N>(
    args: &Args,
    mnist: &Mnist,
    net: &mut N,
    mut step: impl FnMut(&mut N, &[usize], &mut Sgd) -> f32,
    logits: impl Fn(&N, Range<usize>) -> Array2<f32>,
) -> f32 {
    let mut optimizer = Sgd::momentum(args.lr, 0.9);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let mut order: Vec<usize> = (0..mnist.train_labels.len()).collect();
    let start = std::time::Instant::now();
    for epoch in 1..=args.epochs {
        order.shuffle(&mut rng);
        let mut total_loss = 0.0;
        for chunk in order.chunks(args.batch_size) {
            total_loss += step(net, chunk, &mut optimizer) * chunk.len() as f32;
        }
        println!(
            "epoch {epoch:>2}/{}  loss {:.4}  test accuracy {:.4}  ({:.1} s)",
            args.epochs,
            total_loss / order.len().max(1) as f32,
            accuracy(|range| logits(net, range), &mnist.test_labels),
            start.elapsed().as_secs_f32()
        );
        optimizer.set_learning_rate(optimizer.learning_rate() * args.lr_decay);
    }
    accuracy(|range| logits(net, range), &mnist.test_labels)
}

/// Saves the weights with `save` if `--save` asks for it, then prints the final line,
/// `test accuracy: 0.xxxx`, which scripts read.
pub fn finish(
    args: &Args,
    accuracy: f32,
    save: impl FnOnce(&Path) -> Result<(), frechet::Error>,
) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(path) = &args.save {
        save(path)?;
        println!("saved the weights to {}", path.display());
    }
    println!("test accuracy: {accuracy:.4}");
    Ok(())
}

/// The fraction of test digits whose largest output is at the label's index.
fn accuracy(logits: impl Fn(Range<usize>) -> Array2<f32>, labels: &[usize]) -> f32 {
    let mut correct = 0;
    for start in (0..labels.len()).step_by(1000) {
        let range = start..labels.len().min(start + 1000);
        let outputs = logits(range.clone());
        for (output, &label) in outputs.outer_iter().zip(&labels[range]) {
            let predicted = output
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i);
            correct += usize::from(predicted == Some(label));
        }
    }
    correct as f32 / labels.len().max(1) as f32
}

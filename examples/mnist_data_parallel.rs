//! Trains LeNet-5 on the bundled MNIST digits on several MPI ranks at once: every rank
//! takes its share of each batch of 32, the gradients are summed across ranks as the
//! backward pass forms them, and every rank applies the same update.
//!
//! ```text
//! cargo build --release --features mpi --example mnist_data_parallel
//! RAYON_NUM_THREADS=1 mpirun -np 2 target/release/examples/mnist_data_parallel
//! RAYON_NUM_THREADS=1 mpirun -np 2 target/release/examples/mnist_data_parallel --epochs 3 --timing
//! ```
//!
//! (One thread per rank: Open MPI binds each of a few ranks to a core. As root, as in CI:
//! `mpirun --allow-run-as-root`; more ranks than cores: `--oversubscribe`.) The recipe is `mnist_lenet`'s: SGD with momentum 0.9, learning
//! rate 0.05 decayed by 0.85 per epoch, batch 32 over all ranks, 15 epochs. Rank 0
//! prints; the last two lines give the number of ranks, whether the weights agree on all
//! of them, and the test accuracy.

#[path = "common/exit.rs"]
mod exit;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use frechet::data::Mnist;
use frechet::data_parallel::DataParallel;
use frechet::prelude::*;
use frechet::train::{evaluate, Schedule, Trainer};

network! {
    /// LeNet-5 for 28×28 digits, as in `examples/mnist_lenet.rs`.
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5) -> ReLU,
        pool2: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(120) -> ReLU,
        fc2:   Dense(84) -> ReLU,
        fc3:   Dense(10),
    }
}

#[derive(Parser)]
struct Args {
    /// Passes over the training set.
    #[arg(long, default_value_t = 15)]
    epochs: usize,
    /// Samples per training step, over all ranks.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Learning rate in the first epoch (decayed by 0.85 per epoch).
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// Seed of the initial weights (rank 0's are broadcast) and of the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory with the four MNIST IDX files, plain or gzipped.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))]
    data: PathBuf,
    /// Write the trained weights to this safetensors file (rank 0 writes it).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Report the training speed and how much of the gradients' communication the
    /// backward pass hid.
    #[arg(long)]
    timing: bool,
}

fn main() -> ExitCode {
    exit::exit_code(run(Args::parse()))
}

fn run(args: Args) -> exit::Result<()> {
    if args.batch_size == 0 || args.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".into());
    }
    let mut group = DataParallel::init()?;
    let root = group.is_root();
    // Every rank reads the digits; if any cannot, all of them stop (a rank that returned
    // alone would leave the others waiting for it).
    let mnist = group.agree(Mnist::load(&args.data), "read the digits")?;
    if root {
        println!(
            "{} training and {} test digits from {}, on {} ranks",
            mnist.train_labels.len(),
            mnist.test_labels.len(),
            args.data.display(),
            group.ranks()
        );
    }
    let mut net = LeNet::new(args.seed);
    group.broadcast(&mut net);

    let started = Instant::now();
    let mut sgd = Sgd::momentum(args.lr, 0.9);
    let epochs = args.epochs;
    Trainer::new(epochs, args.batch_size)
        .seed(args.seed)
        .schedule(Schedule::Step {
            step_size: 1,
            gamma: 0.85,
        })
        .validation(mnist.test_images.view(), &mnist.test_labels)
        .on_epoch(|epoch| println!("{epoch}"))
        .data_parallel(&mut group)
        .fit(
            &mut net,
            &mut sgd,
            mnist.train_images.view(),
            &mnist.train_labels,
        )?;
    let elapsed = started.elapsed();

    if args.timing {
        let timing = group.take_timing();
        let alone = group.time_sums(&net, 50);
        let samples = (epochs * mnist.train_labels.len()) as f64;
        if root {
            let per_step = |d: std::time::Duration| 1e6 * d.as_secs_f64() / timing.steps as f64;
            println!(
                "training: {:.0} samples/s over all ranks ({} steps of {} samples, {:.1} s \
                 with evaluations)",
                samples / elapsed.as_secs_f64(),
                timing.steps,
                args.batch_size,
                elapsed.as_secs_f64()
            );
            println!(
                "per step: {:.1} µs in all; the sums of {} gradient floats take {:.1} µs alone, \
                 {:.0}% of them were done when the backward pass ended, and the step then \
                 waited {:.1} µs for the other ranks and the loss, and {:.1} µs for the rest",
                per_step(timing.step),
                timing.floats_per_step,
                1e6 * alone.as_secs_f64(),
                100.0 * timing.finished_in_backward as f64 / timing.sums.max(1) as f64,
                per_step(timing.sync),
                per_step(timing.wait),
            );
        }
    }
    if let Some(path) = &args.save {
        group.on_root(
            || frechet::safetensors::save(&net, path),
            "save the weights",
        )?;
        if root {
            println!("saved the weights to {}", path.display());
        }
    }
    let agree = group.weights_agree(&net);
    let (_, accuracy) = evaluate(&net, mnist.test_images.view(), &mnist.test_labels);
    if root {
        println!(
            "ranks: {}; weights {} on all ranks (parameter hash {:016x})",
            group.ranks(),
            if agree { "agree" } else { "DIFFER" },
            DataParallel::hash(&net)
        );
        println!("test accuracy: {accuracy:.4}");
    }
    if !agree {
        return Err("the ranks' weights differ".into());
    }
    Ok(())
}

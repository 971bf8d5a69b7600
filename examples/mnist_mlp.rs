//! Trains W1 — 784 → Dense 128 → ReLU → Dense 10 — on the bundled MNIST digits.
//!
//! ```text
//! cargo run --release --example mnist_mlp
//! cargo run --release --example mnist_mlp -- --epochs 5 --lr 0.1 --save mlp.safetensors
//! cargo run --release --example mnist_mlp -- --data /path/to/full/mnist
//! ```
//!
//! Defaults: SGD with momentum 0.9, learning rate 0.05, batch 32, 15 epochs — the
//! settings under which PyTorch reaches 0.954–0.960 on this split.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use frechet::data::Mnist;
use frechet::ndarray::{s, Array2, Array4, ArrayView2, Axis};
use frechet::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

network! {
    /// The multilayer perceptron of workload W1.
    pub struct Mlp {
        input: [784],
        fc1: Dense(128) -> ReLU,
        fc2: Dense(10),
    }
}

/// Train a two-layer perceptron on MNIST and report its test accuracy.
#[derive(Parser)]
struct Args {
    /// Passes over the training set.
    #[arg(long, default_value_t = 15)]
    epochs: usize,
    /// Samples per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Learning rate of SGD (with momentum 0.9).
    #[arg(long, default_value_t = 0.05)]
    lr: f32,
    /// Directory with the four MNIST IDX files, plain or gzipped.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))]
    data: PathBuf,
    /// Write the trained weights to this safetensors file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Seed of the initial weights and of the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.batch_size == 0 || args.epochs == 0 {
        return Err("--batch-size and --epochs must be at least 1".into());
    }
    let mnist = Mnist::load(&args.data)?;
    let train = flatten(&mnist.train_images);
    let test = flatten(&mnist.test_images);
    println!(
        "{} training and {} test digits from {}",
        train.nrows(),
        test.nrows(),
        args.data.display()
    );
    print!("{}", Mlp::SUMMARY);

    let mut net = Mlp::new(args.seed);
    let mut optimizer = Sgd::momentum(args.lr, 0.9);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let mut order: Vec<usize> = (0..train.nrows()).collect();
    let mut batch = Array2::zeros((args.batch_size, Mlp::INPUT_SHAPE[0]));
    let mut labels = Vec::with_capacity(args.batch_size);
    let start = std::time::Instant::now();
    for epoch in 1..=args.epochs {
        order.shuffle(&mut rng);
        let mut total_loss = 0.0;
        for chunk in order.chunks(args.batch_size) {
            let mut x = batch.slice_mut(s![..chunk.len(), ..]);
            labels.clear();
            for (row, &i) in chunk.iter().enumerate() {
                x.row_mut(row).assign(&train.row(i));
                labels.push(mnist.train_labels[i]);
            }
            let loss = net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut optimizer);
            total_loss += loss * chunk.len() as f32;
        }
        println!(
            "epoch {epoch:>2}/{}  loss {:.4}  test accuracy {:.4}  ({:.1} s)",
            args.epochs,
            total_loss / train.nrows() as f32,
            accuracy(&net, test, &mnist.test_labels),
            start.elapsed().as_secs_f32()
        );
    }
    if let Some(path) = &args.save {
        net.save_safetensors(path)?;
        println!("saved the weights to {}", path.display());
    }
    println!(
        "test accuracy: {:.4}",
        accuracy(&net, test, &mnist.test_labels)
    );
    Ok(())
}

/// (N, 1, 28, 28) images seen as (N, 784) rows, without a copy.
fn flatten(images: &Array4<f32>) -> ArrayView2<'_, f32> {
    let n = images.len_of(Axis(0));
    images
        .view()
        .into_shape_with_order((n, images.len() / n.max(1)))
        .expect("the loader returns contiguous images")
}

/// The fraction of `x`'s rows whose largest output is at the label's index.
fn accuracy(net: &Mlp, x: ArrayView2<f32>, labels: &[usize]) -> f32 {
    let mut correct = 0;
    for (rows, labels) in x.axis_chunks_iter(Axis(0), 1000).zip(labels.chunks(1000)) {
        let outputs = net.forward(rows);
        for (output, &label) in outputs.outer_iter().zip(labels) {
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

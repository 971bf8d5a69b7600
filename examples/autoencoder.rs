//! An autoencoder of the bundled MNIST digits: 784 → Dense 64 → ReLU → Dense 784 →
//! Sigmoid, trained by `Trainer` to reproduce its input (the mean squared error with the
//! input as its own target).
//!
//! ```text
//! cargo run --release --example autoencoder
//! cargo run --release --example autoencoder -- --epochs 20 --plot digits.svg
//! ```
//!
//! The last line is `test mse: X`, the mean squared error per pixel of the
//! reconstructions of the 2,000 test digits. `--plot` writes an SVG of test digits
//! (top row) above their reconstructions (bottom row).

#[path = "common/exit.rs"]
mod exit;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use exit::Result;
use frechet::data::Mnist;
use frechet::ndarray::{ArrayView2, Axis};
use frechet::prelude::*;
use frechet::train::{evaluate_with, Trainer};
use plotters::prelude::*;

network! {
    /// 784 pixels through a code of 64 and back.
    pub struct Autoencoder {
        input: [784],
        encode: Dense(64) -> ReLU,
        decode: Dense(784) -> Sigmoid,
    }
}

/// Train an MNIST autoencoder and report its test reconstruction error.
#[derive(Parser)]
struct Args {
    /// Passes over the training digits.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Digits per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// Seed of the initial weights and of the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Directory with the four MNIST IDX files, plain or gzipped.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k"))]
    data: PathBuf,
    /// Write test digits and their reconstructions to this SVG file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    exit::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    if args.epochs == 0 || args.batch_size == 0 || args.lr.is_nan() || args.lr <= 0.0 {
        return Err("--epochs and --batch-size must be at least 1, --lr positive".into());
    }
    if let Some(plot) = &args.plot {
        if plot.extension().is_none_or(|e| e != "svg") {
            return Err(
                format!("--plot {}: only .svg files can be written", plot.display()).into(),
            );
        }
    }
    let mnist = Mnist::load(&args.data)?;
    let (train, test) = (mnist.train_vectors(), mnist.test_vectors());
    println!(
        "{} training and {} test digits from {}",
        train.nrows(),
        test.nrows(),
        args.data.display()
    );
    print!("{}", Autoencoder::SUMMARY);

    let mut net = Autoencoder::new(args.seed);
    // Each digit is its own target; the test digits are evaluated after every epoch.
    Trainer::with_loss(args.epochs, args.batch_size, MeanSquaredError)
        .seed(args.seed)
        .validation(test.view(), test.view())
        .on_epoch(|epoch| println!("{epoch}"))
        .fit(
            &mut net,
            &mut Adam::new(args.lr),
            train.view(),
            train.view(),
        )?;

    if let Some(path) = &args.plot {
        let digits = test.slice_axis(Axis(0), (0..10).into());
        plot(digits, net.forward(digits).view(), path)?;
        println!("wrote {}", path.display());
    }
    let (mse, _) = evaluate_with(&net, &MeanSquaredError, test.view(), test.view());
    println!("test mse: {mse:.4}");
    Ok(())
}

/// Draws `inputs` (a row of 28 × 28 digits) above `outputs`, in grey levels.
fn plot(inputs: ArrayView2<'_, f32>, outputs: ArrayView2<'_, f32>, path: &Path) -> Result<()> {
    const PIXEL: i32 = 4;
    let side = 28 * PIXEL;
    let columns = inputs.nrows() as i32;
    let size = (
        (columns * (side + PIXEL)) as u32,
        (2 * (side + PIXEL)) as u32,
    );
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE)?;
    for (row, images) in [inputs, outputs].into_iter().enumerate() {
        for (column, image) in images.outer_iter().enumerate() {
            let (left, top) = (column as i32 * (side + PIXEL), row as i32 * (side + PIXEL));
            for (i, &value) in image.iter().enumerate() {
                let (y, x) = ((i / 28) as i32, (i % 28) as i32);
                // White digits on black, as MNIST is usually shown.
                let level = (value.clamp(0.0, 1.0) * 255.0) as u8;
                let corner = (left + x * PIXEL, top + y * PIXEL);
                root.draw(&Rectangle::new(
                    [corner, (corner.0 + PIXEL, corner.1 + PIXEL)],
                    RGBColor(level, level, level).filled(),
                ))?;
            }
        }
    }
    root.present()?;
    Ok(())
}

//! Classifies breast tumours as malignant or benign from 30 measurements: a table read
//! from a CSV file, split into training, validation and test sets, standardised, and a
//! small perceptron trained with early stopping.
//!
//! ```text
//! cargo run --release --example tabular
//! cargo run --release --example tabular -- --seed 3 --patience 20
//! ```
//!
//! The data (`data/breast-cancer/wdbc.csv`, 569 tumours) is the Wisconsin Diagnostic
//! Breast Cancer set as scikit-learn bundles it; the target column `diagnosis` is 0 for
//! malignant and 1 for benign. 70% of the rows train, 15% validate and 15% test, drawn
//! class by class from the seed. The features are standardised with the training rows'
//! means and standard deviations alone, the network trains with Adam (learning rate
//! 1e-3, batch 16) until the validation loss has not improved for `--patience` epochs,
//! and the weights of its best epoch are evaluated on the test rows.

#[path = "common/exit.rs"]
mod exit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use exit::Result;
use frechet::data::{select, split_stratified, Fractions, Standardizer, Table};
use frechet::ndarray::Axis;
use frechet::prelude::*;
use frechet::train::{evaluate, EarlyStopping, Monitor, Trainer};
use frechet::ConfusionMatrix;

network! {
    /// 30 standardised measurements → 32 hidden units → the two classes' logits.
    pub struct Tabular {
        input: [30],
        fc1: Dense(32) -> ReLU,
        fc2: Dense(2),
    }
}

/// Trains a perceptron on the breast-cancer table.
#[derive(Parser)]
struct Args {
    /// The CSV file: a header row, 30 feature columns and the target column.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/data/breast-cancer/wdbc.csv"))]
    data: PathBuf,
    /// The name of the target column (class indices 0 and 1).
    #[arg(long, default_value = "diagnosis")]
    target: String,
    /// Seed of the split, the initial weights and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when the validation loss has not improved for this many epochs.
    #[arg(long, default_value_t = 15)]
    patience: usize,
    /// The most epochs to train.
    #[arg(long, default_value_t = 300)]
    epochs: usize,
}

fn main() -> ExitCode {
    exit::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let table = Table::read_csv(&args.data, &args.target)?;
    let names = table.feature_names();
    println!(
        "{} rows from {}: {} features (`{}` … `{}`), target `{}`",
        table.len(),
        args.data.display(),
        names.len(),
        names[0],
        names[names.len() - 1],
        table.target_name()
    );
    if names.len() != 30 {
        return Err(format!(
            "the network takes 30 features, the table has {}",
            names.len()
        )
        .into());
    }
    let labels = table.class_labels()?;
    if let Some(&label) = labels.iter().find(|&&label| label > 1) {
        return Err(format!("the network tells 2 classes apart, but a label is {label}").into());
    }

    // 70% / 15% / 15%, each class in the same proportions in every set.
    let fractions = Fractions {
        validation: 0.15,
        test: 0.15,
    };
    let sets = split_stratified(&labels, fractions, args.seed);
    println!(
        "{} training, {} validation and {} test rows (stratified, seed {})",
        sets.train.len(),
        sets.validation.len(),
        sets.test.len(),
        args.seed
    );
    let x = table.features_as::<f32>();
    let (mut train, mut validation, mut test) = (
        x.select(Axis(0), &sets.train),
        x.select(Axis(0), &sets.validation),
        x.select(Axis(0), &sets.test),
    );
    let (train_labels, validation_labels, test_labels) = (
        select(&labels, &sets.train),
        select(&labels, &sets.validation),
        select(&labels, &sets.test),
    );

    // Means and standard deviations of the training rows only, applied to all three.
    let scaler = Standardizer::fit(train.view());
    for set in [&mut train, &mut validation, &mut test] {
        scaler.transform_inplace(set.view_mut());
    }

    print!("{}", Tabular::SUMMARY);
    let mut net = Tabular::new(args.seed);
    // Keras' `restore_best_weights`: the best epoch's weights at the end.
    let history = Trainer::new(args.epochs.max(1), 16)
        .seed(args.seed)
        .validation(validation.view(), &validation_labels)
        .early_stopping(EarlyStopping::new(Monitor::ValidationLoss, args.patience))
        .restore_best(true)
        .on_epoch(|epoch| println!("{epoch}"))
        .fit(&mut net, &mut Adam::new(1e-3), train.view(), &train_labels)?;
    if let Some(best) = history.restored {
        let epoch = &history.epochs[best - 1];
        println!(
            "{} after epoch {}; the weights of epoch {best} (val loss {:.4}, val accuracy {:.4}) restored",
            if history.stopped_early { "stopped early" } else { "stopped" },
            history.epochs.len(),
            epoch.validation_loss.unwrap_or(f32::NAN),
            epoch.validation_accuracy.unwrap_or(f32::NAN),
        );
    }

    let confusion = ConfusionMatrix::from_outputs(net.forward(test.view()).view(), &test_labels);
    println!("confusion matrix on the test rows (0 malignant, 1 benign):\n{confusion}");
    let (_, accuracy) = evaluate(&net, test.view(), &test_labels);
    println!("test accuracy: {accuracy:.4}");
    Ok(())
}

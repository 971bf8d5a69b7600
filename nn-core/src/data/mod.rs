//! Datasets, and what turns a table of numbers into batches a network trains on.
//!
//! - [`Mnist`] loads the MNIST handwritten digits from the four IDX files of the
//!   original distribution, plain or gzip-compressed, into `ndarray` arrays ready for a
//!   network: images as `(N, 1, 28, 28)` `f32` in `[0, 1]` (or as `(N, 784)` vectors,
//!   [`Mnist::train_vectors`]), labels as class indices.
//! - [`Table`] reads a numeric table from a CSV file with a header row, and splits its
//!   columns into features and a named target (class indices or values).
//! - [`split`] and [`split_stratified`] divide samples into training, validation and
//!   test sets, at random from a seed; [`select`] picks the labels of one set.
//! - [`Standardizer`] rescales each feature to mean 0 and standard deviation 1, fitted
//!   on the training set and applied to the others, as scikit-learn's `StandardScaler`.
//! - [`Batches`] steps through mini-batches of inputs and targets, in order (views) or
//!   shuffled from a seed (gathered into reused buffers), as a training loop does.
//!
//! ```no_run
//! use nn_core::data::{select, split_stratified, Fractions, Standardizer, Table};
//! use nn_core::ndarray::Axis;
//!
//! let table = Table::read_csv("data/breast-cancer/wdbc.csv", "diagnosis")?;
//! let (x, labels) = (table.features_as::<f32>(), table.class_labels()?);
//! let sets = split_stratified(&labels, Fractions { validation: 0.15, test: 0.15 }, 0);
//! let (mut train, mut test) = (x.select(Axis(0), &sets.train), x.select(Axis(0), &sets.test));
//! let scaler = Standardizer::fit(train.view());
//! scaler.transform_inplace(train.view_mut());
//! scaler.transform_inplace(test.view_mut());
//! let (train_labels, test_labels) = (select(&labels, &sets.train), select(&labels, &sets.test));
//! # Ok::<(), nn_core::Error>(())
//! ```
//!
//! Reading is strict and defensive: a missing, truncated, corrupt or hostile file is an
//! [`Error`](crate::Error) naming the file (and for a table, the line and the column),
//! never a panic, and a file cannot make the reader allocate more memory than the bytes
//! actually present (for gzip, the bytes the stream really decompresses to, capped at
//! 1,000,000 images).

pub(crate) mod batches;
mod csv;
mod idx;
mod mnist;
mod split;
mod standardize;

pub use self::csv::Table;
pub use batches::Batches;
pub use mnist::Mnist;
pub use split::{select, split, split_stratified, Fractions, Splits};
pub use standardize::Standardizer;

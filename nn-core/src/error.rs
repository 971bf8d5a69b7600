//! The one error type of frechet: everything that can go wrong when reading or writing
//! files, and training that cannot go on. Every variant names the file or the step, so
//! a message is useful on its own.

use std::path::PathBuf;

/// An I/O or format problem with a file frechet reads or writes, or a training step
/// whose loss is not finite.
///
/// Every file variant carries the path of the file involved; the `Display` output is
/// one line that names the file (or the step) and says what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// The bytes of the file are not a valid file of the expected format
    /// (bad magic number, truncated data, malformed header, corrupt compression, ...).
    #[error("{}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// A table (a CSV file) whose contents are not a numeric table: a ragged row, a cell
    /// that is not a finite number, a header without the target column or with a
    /// duplicate name, no rows; or a target value that is not a class index.
    ///
    /// Its `Display` is one line such as
    /// ``wdbc.csv: line 7, column 3 (`mean_perimeter`): `n/a` is not a number``, without
    /// the column where the problem is the line's (or the file's) as a whole.
    #[error("{}: line {line}{}: {reason}", path.display(), at_column(*column, column_name.as_deref()))]
    Table {
        /// The file.
        path: PathBuf,
        /// The line the problem is on, counting from 1 (the header is line 1, unless
        /// blank lines precede it); for a record whose quoted cells span several lines,
        /// the line it starts on.
        line: u64,
        /// The column, counting from 1, when the problem is a cell's or a column's.
        column: Option<usize>,
        /// The column's name in the header, when it has one (a field beyond the
        /// header's last column has none).
        column_name: Option<String>,
        /// What is wrong, in words.
        reason: String,
    },
    /// A safetensors file lacks a tensor the network has.
    #[error("{}: missing tensor `{name}`", path.display())]
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The name the network expected, such as `fc1.weight`.
        name: String,
    },
    /// A safetensors file holds a tensor the network does not have (strict loading, like
    /// PyTorch's `load_state_dict`).
    #[error("{}: unexpected tensor `{name}`: the network has no parameter of that name", path.display())]
    UnexpectedTensor {
        /// The file.
        path: PathBuf,
        /// The name found in the file.
        name: String,
    },
    /// A tensor has a different shape from the network's parameter of the same name.
    #[error("{}: tensor `{name}` has shape {found:?}, but the network expects {expected:?}", path.display())]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The shape of the network's parameter.
        expected: Vec<usize>,
        /// The shape stored in the file.
        found: Vec<usize>,
    },
    /// A tensor is stored with another element type than the layer's: `F32` for
    /// parameters, `I64` for counters such as `num_batches_tracked`.
    #[error("{}: tensor `{name}` has dtype {found}, but frechet stores it as {expected}", path.display())]
    DtypeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The dtype found in the file, as safetensors spells it.
        found: String,
        /// The dtype the layer stores it as.
        expected: String,
    },
    /// A tensor has the right name, dtype and shape, but values the layer cannot take,
    /// such as a negative running variance.
    #[error("{}: tensor `{name}` {reason}", path.display())]
    InvalidTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// What is wrong with its values.
        reason: String,
    },
    /// A training step's loss was infinite or NaN, so its gradient is meaningless; the
    /// step left the weights as they were.
    #[error("the loss of step {step} of epoch {epoch} is {loss}; the weights were left as they were before that step (a smaller learning rate may help)")]
    NonFiniteLoss {
        /// The epoch, counting from 1.
        epoch: usize,
        /// The step within the epoch, counting from 1.
        step: usize,
        /// The loss (NaN or infinite), in `f64` whatever the network's element type.
        loss: f64,
    },
    /// Data-parallel training could not start or go on (feature `mpi`).
    #[error("data-parallel training: {reason}")]
    Distributed {
        /// What went wrong, and what to do about it.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// `, column 3 (`name`)`, `, column 32` or nothing: where in a line an
/// [`Error::Table`] is.
fn at_column(column: Option<usize>, name: Option<&str>) -> String {
    match (column, name) {
        (Some(column), Some(name)) => format!(", column {column} (`{name}`)"),
        (Some(column), None) => format!(", column {column}"),
        (None, _) => String::new(),
    }
}

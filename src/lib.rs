//! frechet (being written).
#![deny(missing_docs)]

pub use nn_core::*;
pub use nn_macros::network;

/// The names most programs need.
pub mod prelude {
    pub use nn_core::{Adam, MeanSquaredError, Optimizer, Sgd, SoftmaxCrossEntropy, Loss};
    pub use nn_macros::network;
}

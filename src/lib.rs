//! frechet: feedforward neural networks whose shapes are known at compile time.
//!
//! (crate docs being written)
#![deny(missing_docs)]

pub use nn_core::*;
pub use nn_macros::network;

/// The names most programs need: the macro, the losses and the optimizers.
pub mod prelude {
    pub use nn_core::{Adam, Loss, MeanSquaredError, Optimizer, Sgd, SoftmaxCrossEntropy};
    pub use nn_macros::network;
}

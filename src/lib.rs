//! # frechet
//!
//! Feedforward neural networks whose shapes are known at compile time.
//!
//! The [`network!`] macro turns a declarative list of layers into a plain Rust struct
//! with statically shaped parameters, a forward pass and a backward pass written out
//! layer by layer — no tape, no graph, no dynamic dispatch, and no allocation in a
//! warmed-up training step. The backward pass is the recursion of Theorem 7 of "A Derivation of
//! Feedforward Neural Network Gradients Using Fréchet Calculus": every layer is
//! `a_l = σ(B(W_l, a_{l−1}) + C b_l)` with `B` bilinear, and the error signal flows back
//! through the adjoints of `B` in each argument:
//!
//! ```text
//! δ_L     = σ_L'(z_L) ⊙ ∇ℓ(a_L, y)
//! ∇W_l    = B(·, a_{l−1})* δ_l          (dense: δ_l a_{l−1}ᵀ)
//! ∇b_l    = C* δ_l                      (dense: δ_l)
//! δ_{l−1} = σ'_{l−1} ⊙ B(W_l, ·)* δ_l   (dense: W_lᵀ δ_l)
//! ```
//!
//! ## Declaring and training a network
//!
//! ```
//! use frechet::ndarray::Array2;
//! use frechet::prelude::*;
//!
//! network! {
//!     /// A two-layer perceptron for 28×28 digits.
//!     #[derive(Clone, Debug)]
//!     pub struct Mlp {
//!         input: [784],                 // the shape of one sample
//!         fc1: Dense(128) -> ReLU,      // a layer: name, kind, optional activation
//!         fc2: Dense(10),               // no arrow: the identity
//!     }
//! }
//!
//! let mut net = Mlp::new(42);                       // seeded He/Xavier initialisation
//! let x = Array2::<f32>::zeros((32, 784));          // a batch, rows are samples
//! let labels = vec![3usize; 32];
//! let mut optimizer = Sgd::momentum(0.05, 0.9);
//!
//! let loss = net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut optimizer);
//! assert!(loss.is_finite());
//!
//! let logits = net.forward(x.view());               // (32, 10)
//! assert_eq!(logits.dim(), (32, 10));
//! assert_eq!(Mlp::NUM_PARAMS, 784 * 128 + 128 + 128 * 10 + 10);
//!
//! // The gradient is a value of the network's own type (Remark 3 of the paper).
//! let (loss, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
//! assert_eq!(grad.fc1.weight().dim(), (128, 784));
//! # let _ = loss;
//! ```
//!
//! ## What `network!` generates
//!
//! For `pub struct Mlp { ... }`:
//!
//! | item | meaning |
//! |---|---|
//! | `Mlp::new(seed)` | He-uniform weights before ReLU/LeakyReLU, Xavier-uniform otherwise, zero biases; the same on every platform |
//! | `Mlp::zeros()` | every parameter zero |
//! | `net.forward(x)` | inference on a batch `ArrayView2<f32>` (batch, features); a wrong width panics with expected vs got |
//! | `net.loss_and_grads(x, targets, &loss)` | `(f32, Mlp)`: the mean loss and its gradient |
//! | `net.train_step(x, targets, &loss, &mut optimizer)` | one fused step; returns the loss before the update |
//! | `net.save_safetensors(path)`, `Mlp::load_safetensors(path)` | PyTorch's names (`fc1.weight`) and layouts (`[out, in]`) |
//! | `Mlp::INPUT_SHAPE`, `OUTPUT_SHAPE`, `NUM_PARAMS`, `SUMMARY` | compile-time facts |
//!
//! Targets are passed by value: class indices `&labels[..]` for
//! [`SoftmaxCrossEntropy`], an `ArrayView2<f32>` such as `y.view()` for
//! [`MeanSquaredError`]. Both losses are the mean over the batch, like PyTorch's.
//!
//! Layers: `Dense(outputs)`. Activations after `->`: `ReLU`, `LeakyReLU(slope)`,
//! `Sigmoid`, `Tanh`, `Identity` (the default). Doc comments and attributes on the
//! struct and on each layer pass through. Each layer's field is public and has the
//! core type of its kind, such as [`Dense<U784, U128>`](Dense).
//!
//! ## Crates
//!
//! This facade re-exports the core crate `nn-core` (kernels, losses, optimizers, I/O,
//! data), the `network!` macro from `nn-macros`, and the [`ndarray`] the API speaks.
//! Threads: none yet; everything runs on the calling thread.
#![deny(missing_docs)]

pub use nn_core::*;
pub use nn_macros::network;

/// The names most programs need: the macro, the losses and the optimizers.
pub mod prelude {
    pub use nn_core::{Adam, Loss, MeanSquaredError, Optimizer, Sgd, SoftmaxCrossEntropy};
    pub use nn_macros::network;
}

//! # frechet
//!
//! Feedforward neural networks whose shapes are known at compile time.
//!
//! The [`network!`] macro turns a declarative list of layers into a plain Rust struct
//! with statically shaped parameters, a forward pass and a backward pass written out
//! layer by layer — no tape, no graph, no dynamic dispatch, and no allocation in a
//! warmed-up training step. The backward pass is the recursion of Theorems 7 and 10 of
//! "A Derivation of Feedforward Neural Network Gradients Using Fréchet Calculus": every
//! layer is `a_l = σ(B(W_l, a_{l−1}) + C b_l)` with `B` bilinear, and the error signal
//! flows back through the adjoints of `B` in each argument:
//!
//! ```text
//! δ_L     = σ_L'(z_L) ⊙ ∇ℓ(a_L, y)
//! ∇W_l    = B(·, a_{l−1})* δ_l          (dense: δ_l a_{l−1}ᵀ;  conv: the input correlated with δ_l)
//! ∇b_l    = C* δ_l                      (dense: δ_l;           conv: δ_l summed over positions)
//! δ_{l−1} = σ'_{l−1} ⊙ B(W_l, ·)* δ_l   (dense: W_lᵀ δ_l;      conv: the transposed convolution)
//! ```
//!
//! Pooling and flatten are linear maps `P` for a fixed input (max pooling: a
//! selection); they have no parameters and pass `δ_{l−1} = P* δ_l` back.
//!
//! Every layer kind supplies these maps through one contract, the trait [`Layer`]: the
//! built-in ones, and any of yours — [`writing_a_layer`] walks through one, and
//! [`check`] verifies one by the inner-product identities of its adjoints.
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
//! ## Convolutional networks
//!
//! Declare `input: [channels, height, width]` and the batches become `ArrayView4<f32>`
//! (batch, C, H, W), NCHW like PyTorch. The macro infers every layer's shape, and a
//! shape that does not fit is a compile error on that layer, in words.
//!
//! ```
//! use frechet::ndarray::Array4;
//! use frechet::prelude::*;
//!
//! network! {
//!     /// LeNet-5 for 28×28 digits.
//!     pub struct LeNet {
//!         input: [1, 28, 28],
//!         conv1: Conv2d(6, kernel = 5) -> ReLU,  // 6×24×24; stride = 1, padding = 0
//!         pool1: MaxPool2d(2),                   // 6×12×12; stride defaults to the window
//!         conv2: Conv2d(16, kernel = 5) -> ReLU, // 16×8×8
//!         pool2: MaxPool2d(2),                   // 16×4×4
//!         flat: Flatten,                         // 256, in PyTorch's order
//!         fc1: Dense(120) -> ReLU,
//!         fc2: Dense(84) -> ReLU,
//!         fc3: Dense(10),
//!     }
//! }
//!
//! let mut net = LeNet::new(0);
//! let x = Array4::<f32>::zeros((8, 1, 28, 28));
//! let loss = net.train_step(x.view(), &[1usize; 8][..], &SoftmaxCrossEntropy, &mut Sgd::new(0.05));
//! assert!(loss.is_finite());
//! assert_eq!(net.conv1.weight().dim(), (6, 1, 5, 5)); // nn.Conv2d's [out, in, kh, kw]
//! assert_eq!(LeNet::NUM_PARAMS, 44_426);
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
//! | `net.forward(x)` | inference on a batch, `ArrayView2<f32>` (batch, features) or `ArrayView4<f32>` (batch, C, H, W), in evaluation mode (PyTorch's `model.eval()`: no dropout, batch normalisation by its running statistics); a wrong shape panics with expected vs got, at the caller's line |
//! | `net.loss_and_grads(x, targets, &loss)` | `(f32, Mlp)`: the mean loss and its gradient |
//! | `net.train_step(x, targets, &loss, &mut optimizer)` | one fused step in training mode (`model.train()`: dropout draws its masks from the network's seeded streams, batch normalisation uses the batch's statistics and updates its running ones); returns the loss before the update, and updates nothing if it is not finite |
//! | `net.save_safetensors(path)`, `Mlp::load_safetensors(path)` | PyTorch's names (`fc1.weight`) and layouts (Dense `[out, in]`, Conv2d `[out, in, kh, kw]`) |
//! | `Mlp::INPUT_SHAPE`, `OUTPUT_SHAPE`, `NUM_PARAMS`, `SUMMARY` | compile-time facts; `SUMMARY` is a table like Keras' `model.summary()` |
//! | `Mlp::STEP_FLOATS_PER_SAMPLE`, `STEP_FLOATS_FIXED` | the floats a training step keeps: this many per sample of its batch, plus this many |
//! | `impl Network`, `impl train::Model` | the network seen whole, by safetensors I/O and by the training loop |
//!
//! Targets are passed by value: class indices `&labels[..]` for
//! [`SoftmaxCrossEntropy`], an `ArrayView2<f32>` such as `y.view()` for
//! [`MeanSquaredError`]. Both losses are the mean over the batch, like PyTorch's.
//!
//! Layers: `Dense(outputs)`, `Conv2d(out_channels, kernel = k, stride = s, padding = p)`
//! (stride 1 and padding 0 by default), `MaxPool2d(k, stride = s)` and
//! `AvgPool2d(k, stride = s)` (stride `k` by default, floor mode like PyTorch),
//! `Flatten`, `Dropout(p)`, and `BatchNorm1d` / `BatchNorm2d` (`eps = 1e-5`,
//! `momentum = 0.1` by default); pools, `Flatten` and `Dropout` take no activation. Activations after `->`: `ReLU`, `LeakyReLU(slope)`,
//! `Sigmoid`, `Tanh`, `Identity` (the default). A layer or an activation of your own is
//! declared by its name or path (`dw: DepthwiseConv2d(5)`, `-> my::Softplus`): see
//! [`writing_a_layer`]. Doc comments and attributes on the struct and on each layer pass
//! through. Each layer's field is public and has the core type of its kind, such as
//! [`Dense<U784, U128>`](Dense).
//!
//! `pub struct Mlp<f64> { ... }` declares a network of `f64`: the table above with `f64`
//! for `f32` (batches `ArrayView2<f64>`, `loss_and_grads` returning `(f64, Mlp)`,
//! safetensors of `F64` tensors), every layer's type ending with `f64`
//! (`Dense<U784, U128, f64>`), and the optimizers and losses, which are generic over
//! the element type ([`Scalar`]), used as they are. A network without `<…>` is `f32`.
//!
//! ## Training
//!
//! [`train::Trainer`] is a `fit` loop for classifiers: seeded shuffling, a learning-rate
//! schedule, a validation set evaluated after every epoch, early stopping,
//! checkpoints, and a progress bar on a terminal (and silence elsewhere). It returns the
//! [`train::History`] of every epoch; [`ConfusionMatrix`] prints as a table.
//!
//! ```
//! use frechet::ndarray::Array2;
//! use frechet::prelude::*;
//! use frechet::train::{Schedule, Trainer};
//! use frechet::ConfusionMatrix;
//!
//! network! {
//!     /// Two classes from four features.
//!     struct Tiny {
//!         input: [4],
//!         fc1: Dense(8) -> Tanh,
//!         fc2: Dense(2),
//!     }
//! }
//!
//! // The class is whether the first feature is larger than the second.
//! let x = Array2::from_shape_fn((64, 4), |(i, j)| ((i * 7 + j * 3) % 11) as f32 / 11.0);
//! let labels: Vec<usize> = x.rows().into_iter().map(|r| usize::from(r[0] > r[1])).collect();
//!
//! let mut net = Tiny::new(0);
//! let history = Trainer::new(30, 8)
//!     .schedule(Schedule::Exponential { gamma: 0.95 })
//!     .validation(x.view(), &labels)
//!     .on_epoch(|epoch| println!("{epoch}"))
//!     .fit(&mut net, &mut Sgd::momentum(0.1, 0.9), x.view(), &labels)?;
//! assert_eq!(history.epochs.len(), 30);
//! let last = history.epochs.last().unwrap();
//! assert!(last.validation_accuracy.unwrap() > 0.9);
//!
//! let confusion = ConfusionMatrix::from_outputs(net.forward(x.view()).view(), &labels);
//! println!("{confusion}");
//! # Ok::<(), frechet::Error>(())
//! ```
//!
//! ## Data
//!
//! [`data`] reads what a network trains on: [`data::Mnist`] the MNIST digits (as images,
//! or as vectors for a perceptron), [`data::Table`] a numeric table from a CSV file, its
//! target as class labels or values. [`data::split`] and [`data::split_stratified`] draw
//! seeded training, validation and test sets, and [`data::Standardizer`] rescales the
//! features by the training set's means and standard deviations. `examples/tabular.rs`
//! does all of it on the bundled breast-cancer table.
//!
//! ## Crates
//!
//! This facade re-exports the core crate `nn-core` (kernels, losses, optimizers, I/O,
//! data), the `network!` macro from `nn-macros`, and the [`ndarray`] the API speaks.
//! Threads: the kernels share large products and batches among the threads of rayon's
//! global pool, computing every number as one thread would; `RAYON_NUM_THREADS=1` makes
//! everything single-threaded.
#![deny(missing_docs)]

pub use nn_core::*;

#[doc = include_str!("writing_a_layer.md")]
pub mod writing_a_layer {}
pub use nn_macros::network;

/// The names most programs need: the macro, the losses and the optimizers.
pub mod prelude {
    pub use nn_core::{
        Adadelta, Adam, AdamW, BinaryCrossEntropyWithLogits, Loss, MeanSquaredError, Optimizer,
        Sgd, SoftmaxCrossEntropy,
    };
    pub use nn_macros::network;
}

//! The layer contract: what Section 4 of the paper needs of a layer, and all that
//! `network!` knows of one.
//!
//! A layer is `a_l = σ(B(W, a_{l−1}) + C b)` with `B` bilinear in the weights `W` and the
//! input `a`, and `C` linear. Theorem 10 with Equation (3) gives the whole backward pass
//! from three maps of the layer:
//!
//! ```text
//! forward                 z       = B(W, a_prev) + C b
//! adjoint_input           δ_prev  = B(W, ·)* δ                  the error signal passed back
//! assign_adjoint_weight   ∇W      = B(·, a_prev)* δ,  ∇b = C* δ   the gradient
//! ```
//!
//! A layer without parameters that is linear for a fixed input (pooling, flatten) or not
//! linear at all (normalisation) has no weight adjoint; its `adjoint_input` is the adjoint
//! of its derivative at the input the forward pass kept, which is why it is given
//! `a_prev` (max pooling sends δ back to the element it selected). The activation σ is
//! not part of the layer: `network!` applies it, and its derivative, around the maps.
//!
//! `network!` writes one statement per layer in each pass, the same for every layer,
//! built-in or written by a user:
//!
//! ```text
//! forward, in order:    self.fc1.forward(x, a.fc1.view_mut()); σ(a.fc1)
//! backward, in reverse: self.fc2.adjoint_input(a.fc1, δ.fc2, δ.fc1); σ'(a.fc1) ⊙ δ.fc1
//!                       self.fc2.step(optimizer, 1, δ.fc2, a.fc1, &mut grad.fc2)
//! ```
//!
//! with no input adjoint for the first layer (nothing needs it). [`Layer::step`] forms the
//! gradient and hands it to the optimizer; a layer may fuse the two (Remark 8 (iii): plain
//! SGD need never form `∇W`), as [`crate::Dense`] does.
//!
//! Batches have the samples along their first axis: a layer of vectors takes
//! [`Ix2`](type@ndarray::Ix2) arrays (batch × features), a layer of images
//! [`Ix4`](type@ndarray::Ix4) arrays (batch × channels × height × width), like PyTorch.

use ndarray::{ArrayView, ArrayViewMut, Dimension};

use crate::init::{Init, InitRng};
use crate::network::Parameters;
use crate::optim::{update_layer, Optimizer};
use crate::scalar::Scalar;
use crate::scratch::ThreadScratch;
use crate::text::Text;

/// A layer kind with its sizes: its forward map, its two adjoints, its parameters and its
/// shapes. Every built-in layer implements it, and so can a type written outside the
/// library; `network!` then declares it like a built-in.
///
/// By Remark 3 of the paper a gradient is a point of the parameter space, so the gradient
/// of a layer is a value of the layer's own type: [`Layer::assign_adjoint_weight`] makes
/// `self` a gradient, and [`Parameters`] lists the tensors of either.
///
/// [`crate::check`] verifies an implementation: the inner-product
/// identities of the adjoints, and central differences.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a layer: it does not implement `frechet::Layer`",
    label = "declared as a layer here",
    note = "a layer of your own implements `frechet::Layer`, `frechet::Parameters` and `Clone`; the crate documentation's chapter \"Writing a layer\" walks through one"
)]
pub trait Layer: Parameters + Clone {
    /// The name of the kind, as in a `network!` declaration and its `SUMMARY`.
    const KIND: &'static str;

    /// The dimension of a batch of inputs: `Ix2` for vectors, `Ix4` for images.
    type InputDim: Dimension;

    /// The dimension of a batch of outputs.
    type OutputDim: Dimension;

    /// The shape of one input sample: `[features]` or `[channels, height, width]`; empty
    /// where an earlier layer refused its own input, in which case `OUTPUT_SHAPE` must
    /// not panic either (its refusal is not reported: the earlier one is).
    const INPUT_SHAPE: &'static [usize];

    /// The shape of one output sample, or why the layer cannot take
    /// [`Layer::INPUT_SHAPE`]: the layer's shape rule. `network!` reports a refusal as a
    /// compile error on the layer's line, `` `dw` receives 6×12×12, but <reason> ``; the
    /// reason says what the layer takes, as in "`DepthwiseConv2d` takes an image".
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str>;

    /// The number of scalar parameters, `W` and `b` together.
    const NUM_PARAMS: usize;

    /// The floats [`Layer::forward_train`] keeps per sample of its batch, at most.
    const KEPT_FLOATS_PER_SAMPLE: usize = 0;

    /// The floats [`Layer::forward_train`] keeps whatever the batch (batch
    /// normalisation's statistics of each channel).
    const KEPT_FLOATS_FIXED: usize = 0;

    /// The floats of the layer's buffers ([`Parameters::buffer`]; an `I64` counts as
    /// two), which a training step's gradient holds too.
    const BUFFER_FLOATS: usize = 0;

    /// The scratch each thread keeps for [`Layer::forward`] and [`Layer::step`] (the
    /// core's kernels lend it; a layer that keeps none of its own leaves this at none).
    const SCRATCH: ThreadScratch = ThreadScratch::NONE;

    /// The scratch each thread keeps for [`Layer::adjoint_input`].
    const SCRATCH_INPUT_ADJOINT: ThreadScratch = ThreadScratch::NONE;

    /// A layer with weights drawn from `rng` as `init` says (the initialisation suited to
    /// the activation that follows) and a zero bias.
    fn new(rng: &mut InitRng, init: Init) -> Self;

    /// A layer whose parameters are all zero: the start of a gradient, or of loading.
    fn zeros() -> Self;

    /// Draws a new seed for the layer's own random stream from `rng`, if it has one
    /// (dropout's masks), so that the layers of a network built by `Net::zeros()` — and
    /// so `load_safetensors` — draw different masks. Nothing by default.
    fn reseed(&mut self, rng: &mut InitRng) {
        let _ = rng;
    }

    /// `z = B(W, a_prev) + C b` for a batch `a_prev`, written into `z`.
    fn forward(
        &self,
        a_prev: ArrayView<'_, Self::Elem, Self::InputDim>,
        z: ArrayViewMut<'_, Self::Elem, Self::OutputDim>,
    );

    /// The forward map of a training step: [`Layer::forward`], unless the layer behaves
    /// otherwise in training (dropout draws a mask). It keeps in `self` what its adjoints
    /// need of the step, which [`Layer::kept_floats`] counts; the network's `forward`
    /// is evaluation, like PyTorch's `model.eval()`, and `train_step` training.
    fn forward_train(
        &mut self,
        a_prev: ArrayView<'_, Self::Elem, Self::InputDim>,
        z: ArrayViewMut<'_, Self::Elem, Self::OutputDim>,
    ) {
        self.forward(a_prev, z);
    }

    /// The floats kept by the last [`Layer::forward_train`] for the adjoints.
    fn kept_floats(&self) -> usize {
        0
    }

    /// `δ_prev = B(W, ·)* δ`: the error signal passed to the previous layer, before that
    /// layer's σ' is applied: the adjoint of the derivative of
    /// [`Layer::forward_train`] at `a_prev`, the input it was given.
    fn adjoint_input(
        &self,
        a_prev: ArrayView<'_, Self::Elem, Self::InputDim>,
        delta: ArrayView<'_, Self::Elem, Self::OutputDim>,
        delta_prev: ArrayViewMut<'_, Self::Elem, Self::InputDim>,
    );

    /// Makes `self`, a gradient, equal to `∇W = B(·, a_prev)* δ` and `∇b = C* δ`, summed
    /// over the batch. A layer without parameters does nothing.
    fn assign_adjoint_weight(
        &mut self,
        delta: ArrayView<'_, Self::Elem, Self::OutputDim>,
        a_prev: ArrayView<'_, Self::Elem, Self::InputDim>,
    ) {
        let _ = (delta, a_prev);
    }

    /// The layer's part of a fused training step, once `δ_prev` has been computed with
    /// the old weights: its gradient from `delta` and `a_prev`, formed in `grad`, then
    /// the update of `optimizer` (the layer is the `index`-th of its network). A layer may
    /// fold the update into its weight adjoint, and may overwrite `delta`, which is not
    /// needed afterwards.
    fn step<O: Optimizer<Self::Elem>>(
        &mut self,
        optimizer: &mut O,
        index: usize,
        delta: ArrayViewMut<'_, Self::Elem, Self::OutputDim>,
        a_prev: ArrayView<'_, Self::Elem, Self::InputDim>,
        grad: &mut Self,
    ) {
        if self.param_names().is_empty() {
            return;
        }
        grad.assign_adjoint_weight(delta.view(), a_prev);
        update_layer(optimizer, index, self, grad);
    }
}

/// The elements of `x` in row-major order: borrowed where it is in standard layout (a
/// step's buffers always are), copied otherwise.
pub(crate) fn contiguous<'a, T: Scalar, D: Dimension>(
    x: &'a ArrayView<'_, T, D>,
) -> std::borrow::Cow<'a, [T]> {
    match x.as_slice() {
        Some(slice) => std::borrow::Cow::Borrowed(slice),
        None => std::borrow::Cow::Owned(x.iter().copied().collect()),
    }
}

/// Runs `write` on the elements of `out` in row-major order, in place where it is in
/// standard layout.
pub(crate) fn write_contiguous<T: Scalar, D: Dimension>(
    mut out: ArrayViewMut<'_, T, D>,
    write: impl FnOnce(&mut [T]),
) {
    if let Some(slice) = out.as_slice_mut() {
        return write(slice);
    }
    let mut values: Vec<T> = out.iter().copied().collect();
    write(&mut values);
    for (o, v) in out.iter_mut().zip(values) {
        *o = v;
    }
}

/// The floats of `layer`'s buffers, an `I64` counted as two: what
/// [`Layer::BUFFER_FLOATS`] promises.
pub fn buffer_floats<T: Scalar>(layer: &dyn Parameters<Elem = T>) -> usize {
    (0..layer.buffer_names().len())
        .map(|index| match layer.buffer(index) {
            crate::network::Buffer::Float { values, .. } => values.len(),
            crate::network::Buffer::I64(_) => 2,
        })
        .sum()
}

/// The shape of one output sample of `L`, or no shape (`[]`) if `L` refuses its input.
pub const fn output_shape<L: Layer>() -> &'static [usize] {
    match L::OUTPUT_SHAPE {
        Ok(shape) => shape,
        Err(_) => &[],
    }
}

/// Why layer `name` of type `L` cannot take its input, as `network!` reports it: `` `dw`
/// receives 6×12×12, but <reason> ``; empty if it can, or if its input is no shape
/// because an earlier layer refused its own (that mistake is reported already).
///
/// Besides the layer's own rule, what `network!` needs of any layer: a vector or an
/// image out, and batches with one axis more than a sample, in and out.
pub const fn refusal<const N: usize, L: Layer>(name: &str) -> Text<N> {
    let input = L::INPUT_SHAPE;
    if input.is_empty() {
        return Text::new();
    }
    let receives = Text::new()
        .push("`")
        .push(name)
        .push("` receives ")
        .push_dims(input)
        .push(", but ");
    let output = match L::OUTPUT_SHAPE {
        Err(reason) => return receives.push(reason),
        Ok(output) => output,
    };
    if !matches!(output.len(), 1 | 3) {
        return receives
            .push("gives ")
            .push_dims(output)
            .push(": a layer gives a vector `[features]` or an image `[channels, height, width]`");
    }
    const fn batches_of(ndim: Option<usize>, sample: usize) -> bool {
        match ndim {
            Some(axes) => axes == sample + 1,
            None => true,
        }
    }
    if !batches_of(L::InputDim::NDIM, input.len()) || !batches_of(L::OutputDim::NDIM, output.len())
    {
        return receives
            .push("its batches (`Layer::InputDim`, `Layer::OutputDim`) do not have one axis more than its samples");
    }
    Text::new()
}

/// Why a network cannot end with layer `name` of type `L`, as `network!` reports it:
/// the losses take a vector. Empty if it gives one, or no shape at all (refused already).
pub const fn ends_with_a_vector<const N: usize, L: Layer>(name: &str) -> Text<N> {
    let output = output_shape::<L>();
    if output.len() <= 1 {
        return Text::new();
    }
    Text::new()
        .push("the network ends with `")
        .push(name)
        .push("`, which gives ")
        .push_dims(output)
        .push(" per sample, but the losses take a vector\nhelp: add `flat: Flatten` at the end, or a `Dense` layer after one")
}

/// Dimension `axis` of a per-sample `shape`, or 0 if it has fewer: the const numbers of a
/// [`crate::shape::Dims`].
pub const fn dim(shape: &[usize], axis: usize) -> usize {
    if axis < shape.len() {
        shape[axis]
    } else {
        0
    }
}

/// A batch of `batch` outputs of layer `L`, all zero: a buffer of a training step.
pub fn output_batch<L: Layer>(batch: usize) -> ndarray::Array<L::Elem, L::OutputDim> {
    ndarray::Array::zeros(batch_dim::<L::OutputDim>(batch, output_shape::<L>()))
}

/// `view` as a batch of dimension `D`: where `network!` joins layers whose dimensions it
/// could not see (a layer written outside the library, and those after it), so that a
/// mismatch is the one compile error that refuses the shape, not a type error besides.
///
/// # Panics
///
/// If the dimensions differ, which the shape checks ([`refusal`]) make a compile error
/// first.
#[track_caller]
pub fn view_as<T, D: Dimension, E: Dimension>(view: ArrayView<'_, T, E>) -> ArrayView<'_, T, D> {
    view.into_dimensionality()
        .expect("the shapes were checked when the network compiled")
}

/// [`view_as`] for a view to write to.
#[track_caller]
pub fn view_mut_as<T, D: Dimension, E: Dimension>(
    view: ArrayViewMut<'_, T, E>,
) -> ArrayViewMut<'_, T, D> {
    view.into_dimensionality()
        .expect("the shapes were checked when the network compiled")
}

/// [`view_as`] for an owned batch.
#[track_caller]
pub fn array_as<T, D: Dimension, E: Dimension>(
    array: ndarray::Array<T, E>,
) -> ndarray::Array<T, D> {
    array
        .into_dimensionality()
        .expect("the shapes were checked when the network compiled")
}

/// The dimension of a batch of `batch` samples of shape `sample`.
///
/// # Panics
///
/// If `D` does not have one axis more than `sample`: a layer whose `*Dim` and `*_SHAPE`
/// disagree.
pub fn batch_dim<D: Dimension>(batch: usize, sample: &[usize]) -> D {
    if let Some(axes) = D::NDIM {
        assert_eq!(
            axes,
            sample.len() + 1,
            "a batch of samples of shape {sample:?} has {} axes, not {axes}",
            sample.len() + 1
        );
    }
    let mut dim = D::zeros(sample.len() + 1);
    let axes = dim.slice_mut();
    axes[0] = batch;
    axes[1..].copy_from_slice(sample);
    dim
}

/// The number of scalars in one sample of `shape`.
pub const fn sample_len(shape: &[usize]) -> usize {
    let mut len = 1;
    let mut i = 0;
    while i < shape.len() {
        len *= shape[i];
        i += 1;
    }
    len
}

/// The one layer of the stand-in `network!` emits beside the errors of a declaration it
/// rejects, taking batches of dimension `D` of `T`: it has every item of the contract, so
/// that each use of the rejected network type-checks and its mistake is its only error.
/// It is never run, since the build stops at the errors.
#[doc(hidden)]
pub struct Rejected<D, T = f32>(std::marker::PhantomData<fn() -> (D, T)>);

impl<D, T> Clone for Rejected<D, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D, T> Copy for Rejected<D, T> {}

impl<D, T> Default for Rejected<D, T> {
    fn default() -> Self {
        Rejected(std::marker::PhantomData)
    }
}

impl<D, T> PartialEq for Rejected<D, T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<D, T> std::fmt::Debug for Rejected<D, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rejected")
    }
}

crate::network::parameterless_layer!("Rejected", impl<D, T: Scalar> for Rejected<D, T>, elem T);

const REJECTED: &str = "`network!` rejected this declaration";

impl<D: Dimension, T: Scalar> Layer for Rejected<D, T> {
    const KIND: &'static str = "Rejected";
    type InputDim = D;
    type OutputDim = ndarray::Ix2;
    const INPUT_SHAPE: &'static [usize] = &[];
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = Ok(&[0]);
    const NUM_PARAMS: usize = 0;

    fn new(_rng: &mut InitRng, _init: Init) -> Self {
        unreachable!("{REJECTED}")
    }

    fn zeros() -> Self {
        unreachable!("{REJECTED}")
    }

    fn forward(&self, _a_prev: ArrayView<'_, T, D>, _z: ArrayViewMut<'_, T, ndarray::Ix2>) {
        unreachable!("{REJECTED}")
    }

    fn adjoint_input(
        &self,
        _a_prev: ArrayView<'_, T, D>,
        _delta: ArrayView<'_, T, ndarray::Ix2>,
        _delta_prev: ArrayViewMut<'_, T, D>,
    ) {
        unreachable!("{REJECTED}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::no_parameter;
    use ndarray::{Ix2, Ix4};

    /// A layer whose rule gives `OUT` from `[3]`, with batches of `D`.
    #[derive(Clone)]
    struct Rule<D, const OUT: usize>(std::marker::PhantomData<D>);

    impl<D, const OUT: usize> Parameters for Rule<D, OUT> {
        type Elem = f32;
        fn param_names(&self) -> &'static [&'static str] {
            &[]
        }
        fn param_shape(&self, index: usize) -> &[usize] {
            no_parameter("Rule", index)
        }
        fn param(&self, index: usize) -> &[f32] {
            no_parameter("Rule", index)
        }
        fn param_mut(&mut self, index: usize) -> &mut [f32] {
            no_parameter("Rule", index)
        }
    }

    impl<D: Dimension + Clone, const OUT: usize> Layer for Rule<D, OUT> {
        const KIND: &'static str = "Rule";
        type InputDim = Ix2;
        type OutputDim = D;
        const INPUT_SHAPE: &'static [usize] = &[3];
        const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = match OUT {
            0 => Err("it refuses"),
            1 => Ok(&[3]),
            2 => Ok(&[2, 3]),
            _ => Ok(&[1, 2, 3]),
        };
        const NUM_PARAMS: usize = 0;
        fn new(_: &mut InitRng, _: Init) -> Self {
            Rule(std::marker::PhantomData)
        }
        fn zeros() -> Self {
            Rule(std::marker::PhantomData)
        }
        fn forward(&self, _: ArrayView<'_, f32, Ix2>, _: ArrayViewMut<'_, f32, D>) {}
        fn adjoint_input(
            &self,
            _: ArrayView<'_, f32, Ix2>,
            _: ArrayView<'_, f32, D>,
            _: ArrayViewMut<'_, f32, Ix2>,
        ) {
        }
    }

    fn refused<L: Layer>() -> String {
        refusal::<256, L>("r").as_str().to_string()
    }

    #[test]
    fn refusals_name_the_layer_and_its_input() {
        assert_eq!(refused::<Rule<Ix2, 1>>(), "");
        assert_eq!(refused::<Rule<Ix2, 0>>(), "`r` receives 3, but it refuses");
        // What network! needs of every layer: a vector or an image out, and batches of
        // one axis more.
        assert!(refused::<Rule<Ix2, 2>>()
            .starts_with("`r` receives 3, but gives 2×3: a layer gives a vector"));
        assert!(refused::<Rule<Ix2, 3>>().contains("do not have one axis more"));
        assert_eq!(refused::<Rule<Ix4, 3>>(), "");
    }
}

//! The dense (fully connected) layer: `B(W, a) = W a`, `C b = b`.
//!
//! Batched, rows are samples, so with `A` the (batch × in) input and `Δ` the
//! (batch × out) error signal the three maps of Theorem 7 are three GEMMs:
//!
//! ```text
//! forward          Z      = A Wᵀ + 1 bᵀ
//! adjoint_input    Δ_prev = Δ W                 B(W, ·)* δ
//! adjoint_weight   ∇W     = Δᵀ A,  ∇b = Σ_rows Δ   B(·, a)* δ and C* δ
//! ```
//!
//! The free functions and [`Dense`] are generic over the element type, `f32` or `f64`.

use std::marker::PhantomData;

use ndarray::{
    Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Ix1, Ix2, Zip,
};
use typenum::Unsigned;

use crate::shape::Features;

use crate::aligned;
use crate::gemm::{matmul, matmul_onto, product_scratch, Write};
use crate::init::{Init, InitRng};
use crate::layer::Layer;
use crate::optim::{update_layer, Optimizer};
use crate::scalar::{add_into, Scalar};
use crate::scratch::ThreadScratch;
use crate::shape::{LayerShape, Vector};

/// `z = a Wᵀ + 1 bᵀ`: the forward map of a batch `a` (batch × in) into `z` (batch × out).
pub fn forward<T: Scalar>(
    weight: ArrayView2<'_, T>,
    bias: ArrayView1<'_, T>,
    a_prev: ArrayView2<'_, T>,
    z: ArrayViewMut2<'_, T>,
) {
    // The product starts from the bias broadcast over the rows.
    let outputs = z.ncols();
    let bias = bias.broadcast(z.dim()).unwrap_or_else(|| {
        panic!(
            "Dense: a bias of {} elements for {outputs} outputs",
            bias.len()
        )
    });
    matmul_onto(a_prev, weight.t(), bias, z);
}

/// `Δ_prev = Δ W`: the adjoint of `B(W, ·)` applied to the batch of error signals `delta`
/// (batch × out), written into `delta_prev` (batch × in).
pub fn adjoint_input<T: Scalar>(
    weight: ArrayView2<'_, T>,
    delta: ArrayView2<'_, T>,
    delta_prev: ArrayViewMut2<'_, T>,
) {
    matmul(delta, weight, Write::Over, delta_prev);
}

/// `∇W = Δᵀ A` and `∇b = Σ_rows Δ`: the adjoints of `B(·, a)` and of `C` applied to
/// `delta`, summed over the batch, written into `grad_weight` (out × in) and
/// `grad_bias` (out).
pub fn adjoint_weight<T: Scalar>(
    delta: ArrayView2<'_, T>,
    a_prev: ArrayView2<'_, T>,
    mut grad_weight: ArrayViewMut2<'_, T>,
    grad_bias: ArrayViewMut1<'_, T>,
) {
    matmul(delta.t(), a_prev, Write::Over, grad_weight.view_mut());
    sum_rows(delta, grad_bias);
}

/// `sum = Σ_rows x`, row by row so that the inner loop runs along contiguous memory.
fn sum_rows<T: Scalar>(x: ArrayView2<'_, T>, mut sum: ArrayViewMut1<'_, T>) {
    sum.fill(T::zero());
    for row in x.rows() {
        add_into(sum.view_mut(), row);
    }
}

/// A dense layer from `I` to `O` features, with its size in its type.
///
/// `I` and `O` are [`typenum`] numbers, so two dense layers composed by hand only
/// type-check when the output width of one is the input width of the next. (`network!`
/// may give `I` as a [`crate::shape::Dims`] instead, after a layer of the user's.) The weight
/// is stored `[O, I]` and the bias `[O]`, like PyTorch's `nn.Linear`.
///
/// By Remark 3 of the paper the gradient of a layer lives in the same space as its
/// parameters, so it is a `Dense<I, O>` too.
#[derive(Debug, PartialEq)]
pub struct Dense<I, O, T = f32> {
    weight: Array2<T>,
    bias: Array1<T>,
    shape: PhantomData<fn() -> (I, O)>,
}

impl<I: Features, O: Unsigned, T: Scalar> Dense<I, O, T> {
    /// The number of input features.
    pub const INPUTS: usize = I::FEATURES;
    /// The number of output features.
    pub const OUTPUTS: usize = O::USIZE;
    /// The number of scalar parameters: `O · I + O`.
    pub const NUM_PARAMS: usize = I::FEATURES * O::USIZE + O::USIZE;

    /// A layer whose weights and bias are all zero.
    pub fn zeros() -> Self {
        Dense {
            weight: aligned::zeros(Ix2(O::USIZE, I::FEATURES)),
            bias: aligned::zeros(Ix1(O::USIZE)),
            shape: PhantomData,
        }
    }

    /// A layer with weights drawn from `rng` as `init` says and a zero bias.
    pub fn new(rng: &mut InitRng, init: Init) -> Self {
        let mut layer = Self::zeros();
        let weights = layer
            .weight
            .as_slice_mut()
            .expect("freshly allocated, contiguous");
        rng.fill(weights, init, I::FEATURES, O::USIZE);
        layer
    }

    /// The weight matrix, `[out, in]`.
    pub fn weight(&self) -> ArrayView2<'_, T> {
        self.weight.view()
    }

    /// The weight matrix, `[out, in]`, for changing in place (its shape is fixed).
    pub fn weight_mut(&mut self) -> ArrayViewMut2<'_, T> {
        self.weight.view_mut()
    }

    /// The bias, `[out]`.
    pub fn bias(&self) -> ArrayView1<'_, T> {
        self.bias.view()
    }

    /// The bias, `[out]`, for changing in place.
    pub fn bias_mut(&mut self) -> ArrayViewMut1<'_, T> {
        self.bias.view_mut()
    }
}

impl<I: Features, O: Unsigned, T: Scalar> Layer for Dense<I, O, T> {
    const KIND: &'static str = "Dense";
    type InputDim = Ix2;
    type OutputDim = Ix2;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = match I::SHAPE.len() {
        1 => Ok(&[O::USIZE]),
        _ => Err("`Dense` takes a vector of features\nhelp: insert `Flatten` before it, as in `flat: Flatten,`"),
    };
    const NUM_PARAMS: usize = Self::NUM_PARAMS;
    /// `a Wᵀ` forward, `Δᵀ a` for the gradient.
    const SCRATCH: ThreadScratch = product_scratch(None, Some(O::USIZE), Some(I::FEATURES))
        .max(product_scratch(Some(O::USIZE), Some(I::FEATURES), None));
    /// `Δ W`.
    const SCRATCH_INPUT_ADJOINT: ThreadScratch =
        product_scratch(None, Some(I::FEATURES), Some(O::USIZE));

    fn new(rng: &mut InitRng, init: Init) -> Self {
        Dense::new(rng, init)
    }

    fn zeros() -> Self {
        Dense::zeros()
    }

    /// `z = a Wᵀ + 1 bᵀ` for a batch `a_prev` (batch × `I`) into `z` (batch × `O`).
    fn forward(&self, a_prev: ArrayView2<'_, T>, z: ArrayViewMut2<'_, T>) {
        forward(self.weight.view(), self.bias.view(), a_prev, z);
    }

    /// `Δ_prev = Δ W`.
    fn adjoint_input(
        &self,
        _a_prev: ArrayView2<'_, T>,
        delta: ArrayView2<'_, T>,
        delta_prev: ArrayViewMut2<'_, T>,
    ) {
        adjoint_input(self.weight.view(), delta, delta_prev);
    }

    /// `∇W = Δᵀ A`, `∇b = Σ_rows Δ`.
    fn assign_adjoint_weight(&mut self, delta: ArrayView2<'_, T>, a_prev: ArrayView2<'_, T>) {
        adjoint_weight(delta, a_prev, self.weight.view_mut(), self.bias.view_mut());
    }

    /// The gradient is formed in `grad` and handed to the optimizer — except for plain
    /// SGD ([`Optimizer::plain_rate`]), where `W ← W − rate · Δᵀ A` is one product
    /// accumulated into `W` and only `∇b` is written, not `∇W`: for a large layer and a
    /// small batch that halves the memory traffic of the step. `delta` is scaled in place
    /// then.
    fn step<Opt: Optimizer<T>>(
        &mut self,
        optimizer: &mut Opt,
        index: usize,
        mut delta: ArrayViewMut2<'_, T>,
        a_prev: ArrayView2<'_, T>,
        grad: &mut Self,
    ) {
        let Some(rate) = optimizer.plain_rate() else {
            grad.assign_adjoint_weight(delta.view(), a_prev);
            update_layer(optimizer, index, self, grad);
            return;
        };
        // b ← b − rate Σ_rows Δ, the sum formed in the gradient's bias, then
        // W ← W + (−rate Δ)ᵀ A.
        sum_rows(delta.view(), grad.bias.view_mut());
        Zip::from(&mut self.bias)
            .and(&grad.bias)
            .for_each(|b, &g| *b -= rate * g);
        delta.mapv_inplace(|d| -rate * d);
        matmul(delta.t(), a_prev, Write::Add, self.weight.view_mut());
    }
}

// By hand, so that the copy's parameters start on a cache line too.
impl<I, O, T: Scalar> Clone for Dense<I, O, T> {
    fn clone(&self) -> Self {
        Dense {
            weight: aligned::copy(&self.weight),
            bias: aligned::copy(&self.bias),
            shape: PhantomData,
        }
    }
}

impl<I: Features, O: Unsigned, T: Scalar> Default for Dense<I, O, T> {
    fn default() -> Self {
        Self::zeros()
    }
}

impl<I, O, T> LayerShape for Dense<I, O, T> {
    type Input = Vector<I>;
    type Output = Vector<O>;
}

crate::network::weight_and_bias_layer!("Dense", impl<I: Features, O: Unsigned, T: Scalar> for Dense<I, O, T>, elem T);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Parameters;
    use crate::test_support::assert_central_differences;
    use ndarray::{array, Array};
    use typenum::{U2, U3};

    /// A deterministic, irregular f64 matrix (no symmetry a bug could hide behind).
    fn matrix(rows: usize, cols: usize, phase: f64) -> Array2<f64> {
        Array::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 7 + j * 3) as f64 + phase).sin()
        })
    }

    #[test]
    fn forward_is_affine_map_of_each_row() {
        let w = array![[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]];
        let b = array![0.25, -1.0];
        let a = array![[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]];
        let mut z = Array2::zeros((2, 2));
        forward(w.view(), b.view(), a.view(), z.view_mut());
        assert_eq!(z, array![[6.25, -1.5], [-0.75, -3.0]]);
    }

    /// `⟨B(W, a), δ⟩ = ⟨W, B(·, a)* δ⟩ = ⟨a, B(W, ·)* δ⟩`: the defining property of the two
    /// adjoints of a bilinear map, in f64 where it holds to rounding.
    #[test]
    fn adjoints_satisfy_the_inner_product_identity() {
        let (n, i, o) = (5, 4, 3);
        let w = matrix(o, i, 0.1);
        let a = matrix(n, i, 0.7);
        let delta = matrix(n, o, 1.3);
        let mut wa = Array2::zeros((n, o));
        forward(w.view(), Array1::zeros(o).view(), a.view(), wa.view_mut());
        let lhs = (&wa * &delta).sum();

        let mut grad_w = Array2::zeros((o, i));
        let mut grad_b = Array1::zeros(o);
        adjoint_weight(delta.view(), a.view(), grad_w.view_mut(), grad_b.view_mut());
        assert!((lhs - (&w * &grad_w).sum()).abs() < 1e-12);

        let mut delta_prev = Array2::zeros((n, i));
        adjoint_input(w.view(), delta.view(), delta_prev.view_mut());
        assert!((lhs - (&a * &delta_prev).sum()).abs() < 1e-12);

        // C* δ sums the error signal over the batch.
        assert_eq!(grad_b, delta.sum_axis(ndarray::Axis(0)));
    }

    /// Central differences of `L = ⟨Z, R⟩` for a fixed random `R`, whose gradient in `Z`
    /// is `R`: checks the weight, bias and input adjoints entry by entry.
    #[test]
    fn adjoints_match_central_differences() {
        let (n, i, o) = (3, 4, 2);
        let (w, b, a) = (
            matrix(o, i, 0.2),
            matrix(1, o, 0.9).row(0).to_owned(),
            matrix(n, i, 2.1),
        );
        let r = matrix(n, o, 0.4);
        let loss = |w: &Array2<f64>, b: &Array1<f64>, a: &Array2<f64>| {
            let mut z = Array2::zeros((n, o));
            forward(w.view(), b.view(), a.view(), z.view_mut());
            (&z * &r).sum()
        };
        let mut grad_w = Array2::zeros((o, i));
        let mut grad_b = Array1::zeros(o);
        adjoint_weight(r.view(), a.view(), grad_w.view_mut(), grad_b.view_mut());
        let mut grad_a = Array2::zeros((n, i));
        adjoint_input(w.view(), r.view(), grad_a.view_mut());

        assert_central_differences("the weight", &w, &grad_w, |w| loss(w, &b, &a));
        assert_central_differences("the bias", &b, &grad_b, |b| loss(&w, b, &a));
        assert_central_differences("the input", &a, &grad_a, |a| loss(&w, &b, a));
    }

    #[test]
    fn layer_exposes_pytorch_names_and_layouts() {
        let mut rng = InitRng::new(0);
        let layer = Dense::<U3, U2>::new(&mut rng, Init::Xavier);
        assert_eq!(layer.param_names(), ["weight", "bias"]);
        assert_eq!(layer.param_shape(0), [2, 3]);
        assert_eq!(layer.param_shape(1), [2]);
        assert_eq!(
            layer.param(0).len() + layer.param(1).len(),
            Dense::<U3, U2>::NUM_PARAMS
        );
        assert!(layer.bias().iter().all(|&b| b == 0.0));
        assert!(layer.weight().iter().any(|&w| w != 0.0));
    }
}

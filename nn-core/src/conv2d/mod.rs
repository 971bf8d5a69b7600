//! The 2-D convolution: `B(W, a) = W ⋆ a` (PyTorch's cross-correlation), `C b` = `b`
//! broadcast over positions.
//!
//! With im2col the convolution of one sample is a matrix product. `cols` unrolls the
//! input: its row `(c, i, j)` holds, for every output position, the input pixel under
//! kernel tap `(i, j)` of channel `c` (zero in the padding). Viewing the weight
//! `[out, in, k, k]` as `W` (out × in·k·k) and a sample's output `[out, oh, ow]` as `Z`
//! (out × oh·ow), the three maps of Theorem 10 are, per sample:
//!
//! ```text
//! forward          Z      = W cols + b 1ᵀ
//! adjoint_input    Δ_prev = col2im(Wᵀ Δ)          B(W, ·)* δ: the transposed convolution
//! adjoint_weight   ∇W     = Σ_n Δ colsᵀ           B(·, a)* δ: input correlated with δ
//!                  ∇b     = Σ_n Σ_positions Δ      C* δ
//! ```
//!
//! `col2im` is the adjoint of `im2col`: it adds every column entry back onto the pixel it
//! was copied from. A sample's columns are formed in scratch space that each thread
//! keeps, one sample at a time, so they stay in cache; the weight adjoint unrolls the
//! input again rather than keeping every sample's columns from the forward pass, which
//! at batch 128 would be megabytes written out and read back.
//!
//! The free functions are generic over the element type so that the tests can check
//! them in `f64`; [`Conv2d`] holds `f32` parameters and calls them.

use std::marker::PhantomData;

use ndarray::{Array1, Array4, ArrayView1, ArrayView4, ArrayViewMut1, ArrayViewMut4, Ix1, Ix4};
use typenum::{Unsigned, U0, U1};

use crate::aligned;
use crate::gemm::product_scratch;
use crate::init::{Init, InitRng};
use crate::layer::Layer;
use crate::scalar::Scalar;
use crate::scratch::ThreadScratch;
use crate::shape::{Image, ImageShape, LayerShape, Window, WindowOutput};

mod adjoints;
mod direct;
mod forward;
mod geometry;
mod taps;
#[cfg(test)]
mod tests;
mod unroll;

pub use adjoints::{adjoint_input, adjoint_weight};
pub use forward::forward;
pub use geometry::Geometry;
pub use unroll::{col2im, im2col};

/// A 2-D convolution of an `I` = [`Image`]`<C, H, W>` into `O` channels with an
/// `K` × `K` kernel, stride `S` and zero padding `P`, with its shapes in its type.
///
/// The output is `O` × `(H + 2P − K)/S + 1` × `(W + 2P − K)/S + 1`, computed at the type
/// level in [`LayerShape::Output`]. The weight is stored `[O, C, K, K]` and the bias `[O]`,
/// like PyTorch's `nn.Conv2d`. Its gradient, by Remark 3, is a `Conv2d` too.
pub struct Conv2d<I, O, K, S = U1, P = U0, T = f32> {
    weight: Array4<T>,
    bias: Array1<T>,
    shape: PhantomData<Sizes<I, O, K, S, P>>,
}

/// The type-level sizes, held as a function type so that `Conv2d` is `Send`, `Sync` and
/// covariant whatever they are.
type Sizes<I, O, K, S, P> = fn() -> (I, O, K, S, P);

impl<I: ImageShape, O: Unsigned, K: Unsigned, S: Unsigned, P: Unsigned, T: Scalar>
    Conv2d<I, O, K, S, P, T>
{
    /// The sizes at run time.
    pub const GEOMETRY: Geometry = Geometry {
        channels: I::CHANNELS,
        height: I::HEIGHT,
        width: I::WIDTH,
        window: Window {
            size: K::USIZE,
            stride: S::USIZE,
            padding: P::USIZE,
        },
    };
    /// The number of output channels.
    pub const OUT_CHANNELS: usize = O::USIZE;
    /// The output height.
    pub const OUT_HEIGHT: usize = Self::GEOMETRY.or_empty().out_height();
    /// The output width.
    pub const OUT_WIDTH: usize = Self::GEOMETRY.or_empty().out_width();
    /// The number of scalar parameters: `O · C · K² + O`.
    pub const NUM_PARAMS: usize = O::USIZE * Self::GEOMETRY.patch_len() + O::USIZE;

    /// A layer whose weights and bias are all zero.
    pub fn zeros() -> Self {
        Conv2d {
            weight: aligned::zeros(Ix4(O::USIZE, I::CHANNELS, K::USIZE, K::USIZE)),
            bias: aligned::zeros(Ix1(O::USIZE)),
            shape: PhantomData,
        }
    }

    /// A layer with weights drawn from `rng` as `init` says and a zero bias. The fans
    /// are PyTorch's: `C · K²` in and `O · K²` out.
    pub fn new(rng: &mut InitRng, init: Init) -> Self {
        let mut layer = Self::zeros();
        let area = K::USIZE * K::USIZE;
        let weights = layer
            .weight
            .as_slice_mut()
            .expect("freshly allocated, contiguous");
        rng.fill(weights, init, I::CHANNELS * area, O::USIZE * area);
        layer
    }

    /// The weight, `[out, in, k, k]`.
    pub fn weight(&self) -> ArrayView4<'_, T> {
        self.weight.view()
    }

    /// The weight, `[out, in, k, k]`, for changing in place (its shape is fixed).
    pub fn weight_mut(&mut self) -> ArrayViewMut4<'_, T> {
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

impl<I: ImageShape, O: Unsigned, K: Unsigned, S: Unsigned, P: Unsigned, T: Scalar> Layer
    for Conv2d<I, O, K, S, P, T>
{
    const KIND: &'static str = "Conv2d";
    type InputDim = Ix4;
    type OutputDim = Ix4;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> =
        match Self::GEOMETRY.refusal(I::SHAPE.len()) {
            Some(reason) => Err(reason),
            None => Ok(&[O::USIZE, Self::OUT_HEIGHT, Self::OUT_WIDTH]),
        };
    const NUM_PARAMS: usize = Self::NUM_PARAMS;
    /// A sample's unrolled input (or δ transposed, for the direct weight kernel), the
    /// weight gradient's sum over half the batch, and the products `W cols`, `Δ colsᵀ`.
    const SCRATCH: ThreadScratch = {
        let g = Self::GEOMETRY.or_empty();
        let (out, patch, positions) = (O::USIZE, g.patch_len(), g.positions());
        let unrolled = patch * positions;
        let transposed = direct::transposed_deltas(g, O::USIZE);
        let own = ThreadScratch {
            unrolled: if unrolled > transposed {
                unrolled
            } else {
                transposed
            },
            sums: Self::NUM_PARAMS,
            ..ThreadScratch::NONE
        };
        own.max(product_scratch(Some(out), Some(positions), Some(patch)))
            .max(product_scratch(Some(out), Some(patch), Some(positions)))
    };
    /// `Wᵀ Δ`, into a sample's columns.
    const SCRATCH_INPUT_ADJOINT: ThreadScratch = {
        let g = Self::GEOMETRY.or_empty();
        ThreadScratch {
            unrolled: g.patch_len() * g.positions(),
            ..ThreadScratch::NONE
        }
        .max(product_scratch(
            Some(g.patch_len()),
            Some(g.positions()),
            Some(O::USIZE),
        ))
    };

    fn new(rng: &mut InitRng, init: Init) -> Self {
        Conv2d::new(rng, init)
    }

    fn zeros() -> Self {
        Conv2d::zeros()
    }

    /// `z = W ⋆ a + b` for a batch `a_prev` (N × C × H × W) into `z` (N × O × OH × OW).
    ///
    /// # Panics
    ///
    /// If the shapes do not match the layer's.
    fn forward(&self, a_prev: ArrayView4<'_, T>, z: ArrayViewMut4<'_, T>) {
        forward(
            Self::GEOMETRY,
            self.weight.view(),
            self.bias.view(),
            a_prev,
            z,
        );
    }

    /// `Δ_prev = B(W, ·)* Δ`, the transposed convolution.
    fn adjoint_input(
        &self,
        _a_prev: ArrayView4<'_, T>,
        delta: ArrayView4<'_, T>,
        delta_prev: ArrayViewMut4<'_, T>,
    ) {
        adjoint_input(Self::GEOMETRY, self.weight.view(), delta, delta_prev);
    }

    /// `∇W = B(·, a)* Δ` (the input `a_prev` correlated with δ) and `∇b = C* Δ` (δ summed
    /// over positions).
    fn assign_adjoint_weight(&mut self, delta: ArrayView4<'_, T>, a_prev: ArrayView4<'_, T>) {
        adjoint_weight(
            Self::GEOMETRY,
            delta,
            a_prev,
            self.weight.view_mut(),
            self.bias.view_mut(),
        );
    }
}

// By hand, so that it holds whatever the sizes are and the copy's parameters start on a
// cache line too.
impl<I, O, K, S, P, T: Scalar> Clone for Conv2d<I, O, K, S, P, T> {
    fn clone(&self) -> Self {
        Conv2d {
            weight: aligned::copy(&self.weight),
            bias: aligned::copy(&self.bias),
            shape: PhantomData,
        }
    }
}

impl<I, O, K, S, P, T: Scalar> std::fmt::Debug for Conv2d<I, O, K, S, P, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conv2d")
            .field("weight", &self.weight)
            .field("bias", &self.bias)
            .finish()
    }
}

impl<I, O, K, S, P, T: Scalar> PartialEq for Conv2d<I, O, K, S, P, T> {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight && self.bias == other.bias
    }
}

impl<I: ImageShape, O: Unsigned, K: Unsigned, S: Unsigned, P: Unsigned, T: Scalar> Default
    for Conv2d<I, O, K, S, P, T>
{
    fn default() -> Self {
        Self::zeros()
    }
}

impl<C, H, W, O, K, S, P, T> LayerShape for Conv2d<Image<C, H, W>, O, K, S, P, T>
where
    H: WindowOutput<K, S, P>,
    W: WindowOutput<K, S, P>,
{
    type Input = Image<C, H, W>;
    type Output =
        Image<O, <H as WindowOutput<K, S, P>>::Output, <W as WindowOutput<K, S, P>>::Output>;
}

crate::network::weight_and_bias_layer!(
    "Conv2d",
    impl<I, O, K, S, P, T: Scalar> for Conv2d<I, O, K, S, P, T>,
    elem T
);

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
//! was copied from. The columns of a batch are kept from the forward pass for the weight
//! adjoint, in a [`Workspace`] that a training step reuses.
//!
//! The free functions are generic over the element type so that the tests can check
//! them in `f64`; [`Conv2d`] holds `f32` parameters and calls them.

use std::marker::PhantomData;

use ndarray::{
    Array1, Array3, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut1,
    ArrayViewMut2, ArrayViewMut3, ArrayViewMut4, Axis, Ix1, Ix4, Zip,
};
use typenum::{Unsigned, U0, U1};

use crate::aligned;
use crate::gemm::{matmul, matmul_planned, Plan};
use crate::init::{Init, InitRng};
use crate::parallel::{for_each_sample, worth_splitting};
use crate::scalar::Scalar;
use crate::shape::{Image, ImageShape, LayerShape, Window, WindowOutput};

/// The sizes of a convolution, at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// The kernel: its size, stride and zero padding.
    pub window: Window,
}

impl Geometry {
    /// The output height.
    pub const fn out_height(self) -> usize {
        self.window.output(self.height)
    }

    /// The output width.
    pub const fn out_width(self) -> usize {
        self.window.output(self.width)
    }

    /// The number of output positions, `oh · ow`: the columns of `cols`.
    pub const fn positions(self) -> usize {
        self.out_height() * self.out_width()
    }

    /// The length of an unrolled patch, `in · k · k`: the rows of `cols`.
    pub const fn patch_len(self) -> usize {
        self.channels * self.window.size * self.window.size
    }
}

/// Unrolls one sample `image` (in × h × w) into `cols` (in·k·k × oh·ow).
///
/// # Panics
///
/// If the shapes do not match `g`, or `cols` is not in standard layout.
pub fn im2col<T: Scalar>(g: Geometry, image: ArrayView3<'_, T>, mut cols: ArrayViewMut2<'_, T>) {
    assert_eq!(
        image.dim(),
        (g.channels, g.height, g.width),
        "im2col: image"
    );
    assert_eq!(cols.dim(), (g.patch_len(), g.positions()), "im2col: cols");
    let image = image.as_standard_layout();
    let image = image.as_slice().expect("standard layout");
    let cols = cols
        .as_slice_mut()
        .expect("im2col: cols must be contiguous");
    let taps = Taps::new(g);
    taps.for_each(|row, plane, rows, columns| {
        let plane = &image[plane * taps.plane_len..][..taps.plane_len];
        let out = &mut cols[row * taps.positions..][..taps.positions];
        for (y, dst) in out.chunks_exact_mut(taps.out_width).enumerate() {
            let Some(src) = rows.input_row(y).map(|r| &plane[r * g.width..][..g.width]) else {
                dst.fill(T::zero());
                continue;
            };
            dst[..columns.first].fill(T::zero());
            dst[columns.end..].fill(T::zero());
            let inside = &mut dst[columns.first..columns.end];
            if taps.stride == 1 {
                inside.copy_from_slice(&src[columns.input_start..][..inside.len()]);
            } else {
                let src = src[columns.input_start..].iter().step_by(taps.stride);
                inside.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
            }
        }
    });
}

/// The adjoint of [`im2col`]: overwrites `image` with the sum, for every pixel, of the
/// column entries that were copied from it.
///
/// # Panics
///
/// If the shapes do not match `g`, or `cols` or `image` is not in standard layout.
pub fn col2im<T: Scalar>(g: Geometry, cols: ArrayView2<'_, T>, mut image: ArrayViewMut3<'_, T>) {
    assert_eq!(
        image.dim(),
        (g.channels, g.height, g.width),
        "col2im: image"
    );
    assert_eq!(cols.dim(), (g.patch_len(), g.positions()), "col2im: cols");
    let cols = cols.as_slice().expect("col2im: cols must be contiguous");
    let image = image
        .as_slice_mut()
        .expect("col2im: the image must be contiguous");
    image.fill(T::zero());
    let taps = Taps::new(g);
    taps.for_each(|row, plane, rows, columns| {
        let plane = &mut image[plane * taps.plane_len..][..taps.plane_len];
        let src = &cols[row * taps.positions..][..taps.positions];
        for (y, src) in src.chunks_exact(taps.out_width).enumerate() {
            let Some(r) = rows.input_row(y) else { continue };
            let dst = &mut plane[r * g.width..][columns.input_start..];
            let inside = &src[columns.first..columns.end];
            if taps.stride == 1 {
                for (d, &v) in dst.iter_mut().zip(inside) {
                    *d = *d + v;
                }
            } else {
                for (d, &v) in dst.iter_mut().step_by(taps.stride).zip(inside) {
                    *d = *d + v;
                }
            }
        }
    });
}

/// The sizes im2col and col2im loop over, computed once per call.
#[derive(Clone, Copy)]
struct Taps {
    geometry: Geometry,
    stride: usize,
    out_width: usize,
    positions: usize,
    plane_len: usize,
}

/// Where kernel row `tap_row` reads the input, for each output row.
#[derive(Clone, Copy)]
struct TapRows {
    /// The input row read at output row 0, plus the padding (so never negative).
    offset: usize,
    stride: usize,
    padding: usize,
    height: usize,
}

impl TapRows {
    /// The input row read at output row `y`, or `None` in the padding.
    #[inline(always)]
    fn input_row(self, y: usize) -> Option<usize> {
        (y * self.stride + self.offset)
            .checked_sub(self.padding)
            .filter(|&r| r < self.height)
    }
}

/// Which output columns kernel column `tap_col` reads inside the input:
/// `first..end`, starting at input column `input_start`, one stride apart; the
/// others read the padding.
#[derive(Clone, Copy)]
struct TapColumns {
    first: usize,
    end: usize,
    input_start: usize,
}

impl Taps {
    fn new(g: Geometry) -> Self {
        Taps {
            geometry: g,
            stride: g.window.stride,
            out_width: g.out_width(),
            positions: g.positions(),
            plane_len: g.height * g.width,
        }
    }

    /// Calls `f(row, channel, rows, columns)` for every row of `cols` (every channel
    /// and kernel tap), in order.
    #[inline(always)]
    fn for_each(self, mut f: impl FnMut(usize, usize, TapRows, TapColumns)) {
        let g = self.geometry;
        let (k, s, p) = (g.window.size, g.window.stride, g.window.padding);
        for channel in 0..g.channels {
            for tap_row in 0..k {
                let rows = TapRows {
                    offset: tap_row,
                    stride: s,
                    padding: p,
                    height: g.height,
                };
                for tap_col in 0..k {
                    // Output column x reads input column x·s + tap_col − p, inside the
                    // input for x in first..end.
                    let first = p.saturating_sub(tap_col).div_ceil(s).min(self.out_width);
                    let end = (g.width + p)
                        .checked_sub(tap_col)
                        .map_or(0, |limit| limit.div_ceil(s))
                        .clamp(first, self.out_width);
                    let columns = TapColumns {
                        first,
                        end,
                        // Only read when first < end, and then first·s + tap_col ≥ p.
                        input_start: if first < end {
                            first * s + tap_col - p
                        } else {
                            0
                        },
                    };
                    f(
                        (channel * k + tap_row) * k + tap_col,
                        channel,
                        rows,
                        columns,
                    );
                }
            }
        }
    }
}

/// The weight `[out, in, k, k]` as the matrix `W` (out × in·k·k).
fn weight_matrix<T>(weight: ArrayView4<'_, T>) -> ArrayView2<'_, T> {
    let (out, rest) = (weight.dim().0, weight.len() / weight.dim().0.max(1));
    weight
        .into_shape_with_order((out, rest))
        .expect("conv2d: the weight must be in standard layout")
}

/// A sample's `[c, h, w]` as the matrix (c × h·w).
fn plane_matrix<T>(sample: ArrayView3<'_, T>) -> ArrayView2<'_, T> {
    let (c, h, w) = sample.dim();
    sample
        .into_shape_with_order((c, h * w))
        .expect("conv2d: the error signal must be in standard layout")
}

fn plane_matrix_mut<T>(sample: ArrayViewMut3<'_, T>) -> ArrayViewMut2<'_, T> {
    let (c, h, w) = sample.dim();
    sample
        .into_shape_with_order((c, h * w))
        .expect("conv2d: the output must be in standard layout")
}

/// `z = W ⋆ a + b` for a batch `a_prev` (N × in × h × w) into `z` (N × out × oh × ow).
///
/// `cols` has room for the unrolled input of either every sample (N × in·k·k × oh·ow),
/// which is then left there for [`adjoint_weight`], or one sample (1 × in·k·k × oh·ow),
/// reused by each in turn when only the output is wanted.
pub fn forward<T: Scalar>(
    g: Geometry,
    weight: ArrayView4<'_, T>,
    bias: ArrayView1<'_, T>,
    a_prev: ArrayView4<'_, T>,
    mut cols: ArrayViewMut3<'_, T>,
    mut z: ArrayViewMut4<'_, T>,
) {
    let w = weight_matrix(weight);
    let batch = a_prev.dim().0;
    if cols.dim().0 != batch {
        assert!(
            cols.dim().0 == 1,
            "conv2d: room for the columns of {} samples, but the batch has {batch}",
            cols.dim().0,
        );
        let mut cols = cols.index_axis_mut(Axis(0), 0);
        for (sample, z) in a_prev.outer_iter().zip(z.outer_iter_mut()) {
            forward_sample(g, w, bias, sample, cols.view_mut(), z);
        }
        return;
    }
    for_each_sample(batch * w.len() * g.positions(), (a_prev, cols, z), &|(
        a_prev,
        mut cols,
        mut z,
    )| {
        for ((sample, cols), z) in a_prev
            .outer_iter()
            .zip(cols.outer_iter_mut())
            .zip(z.outer_iter_mut())
        {
            forward_sample(g, w, bias, sample, cols, z);
        }
    });
}

/// `z = W cols + b 1ᵀ` for one sample, unrolling it into `cols` first.
fn forward_sample<T: Scalar>(
    g: Geometry,
    w: ArrayView2<'_, T>,
    bias: ArrayView1<'_, T>,
    sample: ArrayView3<'_, T>,
    mut cols: ArrayViewMut2<'_, T>,
    z: ArrayViewMut3<'_, T>,
) {
    im2col(g, sample, cols.view_mut());
    let mut z = plane_matrix_mut(z);
    // Broadcast the bias first, then let the GEMM accumulate onto it (β = 1).
    Zip::from(z.rows_mut())
        .and(&bias)
        .for_each(|mut row, &b| row.fill(b));
    matmul(w, cols.view(), T::one(), z);
}

/// `Δ_prev = col2im(Wᵀ Δ)` for every sample: the adjoint of `B(W, ·)` (a transposed
/// convolution) applied to `delta` (N × out × oh × ow), written into `delta_prev`
/// (N × in × h × w). Each sample's error signal in columns is formed in its slot of
/// `cols` (N × in·k·k × oh·ow), overwriting the unrolled input there: call
/// [`adjoint_weight`] first.
pub fn adjoint_input<T: Scalar>(
    g: Geometry,
    weight: ArrayView4<'_, T>,
    delta: ArrayView4<'_, T>,
    cols: ArrayViewMut3<'_, T>,
    delta_prev: ArrayViewMut4<'_, T>,
) {
    let w = weight_matrix(weight);
    let batch = delta.dim().0;
    assert_eq!(
        cols.dim().0,
        batch,
        "conv2d: room for the columns of {} samples, but the batch has {batch}",
        cols.dim().0
    );
    for_each_sample(
        batch * w.len() * g.positions(),
        (delta, cols, delta_prev),
        &|(delta, mut cols, mut delta_prev)| {
            for ((delta, mut cols), delta_prev) in delta
                .outer_iter()
                .zip(cols.outer_iter_mut())
                .zip(delta_prev.outer_iter_mut())
            {
                matmul(w.t(), plane_matrix(delta), T::zero(), cols.view_mut());
                col2im(g, cols.view(), delta_prev);
            }
        },
    );
}

/// `∇W = Σ_n Δ colsᵀ` and `∇b = Σ_n Σ_positions Δ`: the adjoints of `B(·, a)` and `C`
/// applied to `delta` (N × out × oh × ow), with `cols` the unrolled input [`forward`]
/// left, written into `grad_weight` (out × in × k × k) and `grad_bias` (out).
pub fn adjoint_weight<T: Scalar>(
    delta: ArrayView4<'_, T>,
    cols: ArrayView3<'_, T>,
    grad_weight: ArrayViewMut4<'_, T>,
    mut grad_bias: ArrayViewMut1<'_, T>,
) {
    let (out, rest) = (
        grad_weight.dim().0,
        grad_weight.len() / grad_weight.dim().0.max(1),
    );
    let grad_w = grad_weight
        .into_shape_with_order((out, rest))
        .expect("conv2d: the weight gradient must be in standard layout");
    grad_bias.fill(T::zero());
    for delta in delta.outer_iter() {
        Zip::from(&mut grad_bias)
            .and(delta.outer_iter())
            .for_each(|g, channel| *g = *g + channel.sum());
    }
    // One plan for the whole product, so that cutting it by taps changes no sum.
    let (c, h, w) = (delta.dim().1, delta.dim().2, delta.dim().3);
    let plan = Plan::new::<T>(c, grad_w.ncols(), h * w).on_this_thread();
    adjoint_weight_taps(delta, cols, grad_w, plan, rayon::current_num_threads());
}

/// The weight part of [`adjoint_weight`] for a range of taps (input channel and kernel
/// offset): the rows of every sample's `cols` and the columns of `grad_w`. Different
/// taps are independent sums, so with threads to spare the two halves are computed side
/// by side, in at most `pieces` pieces (one per thread: a narrower product is a slower
/// one). Split this way, each thread reads only its share of the unrolled input, the
/// largest operand; split by output channels, each would read all of it.
fn adjoint_weight_taps<T: Scalar>(
    delta: ArrayView4<'_, T>,
    cols: ArrayView3<'_, T>,
    mut grad_w: ArrayViewMut2<'_, T>,
    plan: Plan,
    pieces: usize,
) {
    let taps = grad_w.ncols();
    // At least two taps a piece: a product one column wide would take another form.
    if pieces >= 2 && taps >= 4 && worth_splitting(delta.len() * taps) {
        let mid = taps / 2;
        let (cols_a, cols_b) = cols.split_at(Axis(1), mid);
        let (grad_a, grad_b) = grad_w.split_at(Axis(1), mid);
        rayon::join(
            || adjoint_weight_taps(delta, cols_a, grad_a, plan, pieces.div_ceil(2)),
            || adjoint_weight_taps(delta, cols_b, grad_b, plan, pieces / 2),
        );
        return;
    }
    grad_w.fill(T::zero());
    for (delta, cols) in delta.outer_iter().zip(cols.outer_iter()) {
        let (c, h, w) = delta.dim();
        let delta = delta
            .into_shape_with_order((c, h * w))
            .expect("conv2d: the error signal must be in standard layout");
        matmul_planned(plan, delta, cols.t(), T::one(), grad_w.view_mut());
    }
}

/// The buffers a convolution reuses between training steps of one batch size.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// Every sample's unrolled input, from the forward pass (N × in·k·k × oh·ow); then,
    /// in the backward pass, after the weight adjoint has used it, every sample's error
    /// signal in columns.
    cols: Array3<f32>,
    /// Whether `cols` holds the unrolled input of the last forward pass.
    unrolled: bool,
}

impl Workspace {
    /// The batch size the buffers are sized for.
    pub fn batch(&self) -> usize {
        self.cols.dim().0
    }

    /// The number of floats the buffers hold.
    pub fn floats(&self) -> usize {
        self.cols.len()
    }
}

/// A 2-D convolution of an `I` = [`Image`]`<C, H, W>` into `O` channels with an
/// `K` × `K` kernel, stride `S` and zero padding `P`, with its shapes in its type.
///
/// The output is `O` × `(H + 2P − K)/S + 1` × `(W + 2P − K)/S + 1`, computed at the type
/// level in [`LayerShape::Output`]. The weight is stored `[O, C, K, K]` and the bias `[O]`,
/// like PyTorch's `nn.Conv2d`. Its gradient, by Remark 3, is a `Conv2d` too.
pub struct Conv2d<I, O, K, S = U1, P = U0> {
    weight: Array4<f32>,
    bias: Array1<f32>,
    shape: PhantomData<Sizes<I, O, K, S, P>>,
}

/// The type-level sizes, held as a function type so that `Conv2d` is `Send`, `Sync` and
/// covariant whatever they are.
type Sizes<I, O, K, S, P> = fn() -> (I, O, K, S, P);

impl<I: ImageShape, O: Unsigned, K: Unsigned, S: Unsigned, P: Unsigned> Conv2d<I, O, K, S, P> {
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
    pub const OUT_HEIGHT: usize = Self::GEOMETRY.out_height();
    /// The output width.
    pub const OUT_WIDTH: usize = Self::GEOMETRY.out_width();
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

    /// Buffers for training steps on batches of `batch` samples.
    pub fn workspace(batch: usize) -> Workspace {
        let g = Self::GEOMETRY;
        Workspace {
            cols: Array3::zeros((batch, g.patch_len(), g.positions())),
            unrolled: false,
        }
    }

    /// Buffers for [`Self::forward`] alone, on batches of any size: room for one
    /// sample's columns, reused by every sample.
    pub fn inference_workspace() -> Workspace {
        let g = Self::GEOMETRY;
        Workspace {
            cols: Array3::zeros((1, g.patch_len(), g.positions())),
            unrolled: false,
        }
    }

    /// The weight, `[out, in, k, k]`.
    pub fn weight(&self) -> ArrayView4<'_, f32> {
        self.weight.view()
    }

    /// The weight, `[out, in, k, k]`, for changing in place (its shape is fixed).
    pub fn weight_mut(&mut self) -> ArrayViewMut4<'_, f32> {
        self.weight.view_mut()
    }

    /// The bias, `[out]`.
    pub fn bias(&self) -> ArrayView1<'_, f32> {
        self.bias.view()
    }

    /// The bias, `[out]`, for changing in place.
    pub fn bias_mut(&mut self) -> ArrayViewMut1<'_, f32> {
        self.bias.view_mut()
    }

    /// `z = W ⋆ a + b` for a batch `a_prev` (N × C × H × W) into `z` (N × O × OH × OW),
    /// keeping the unrolled input in `work` for [`Self::assign_adjoint_weight`] if `work`
    /// is a [`Self::workspace`] for this batch size.
    ///
    /// # Panics
    ///
    /// If the shapes do not match the layer's, or `work` is sized for another batch.
    pub fn forward(
        &self,
        a_prev: ArrayView4<'_, f32>,
        z: ArrayViewMut4<'_, f32>,
        work: &mut Workspace,
    ) {
        forward(
            Self::GEOMETRY,
            self.weight.view(),
            self.bias.view(),
            a_prev,
            work.cols.view_mut(),
            z,
        );
        work.unrolled = true;
    }

    /// `Δ_prev = B(W, ·)* Δ`, the transposed convolution: the error signal passed to the
    /// previous layer (before that layer's σ' is applied). It forms the error signal in
    /// columns where the unrolled input was, so it comes after
    /// [`Self::assign_adjoint_weight`] in a backward pass.
    pub fn adjoint_input(
        &self,
        delta: ArrayView4<'_, f32>,
        delta_prev: ArrayViewMut4<'_, f32>,
        work: &mut Workspace,
    ) {
        work.unrolled = false;
        adjoint_input(
            Self::GEOMETRY,
            self.weight.view(),
            delta,
            work.cols.view_mut(),
            delta_prev,
        );
    }

    /// Makes `self`, a gradient (Remark 3: a point of the parameter space), equal to
    /// `∇W = B(·, a)* Δ` (the input correlated with δ) and `∇b = C* Δ` (δ summed over
    /// positions), where `a` is the input of the last [`Self::forward`] with `work`.
    ///
    /// # Panics
    ///
    /// If `work` does not hold the unrolled input of a forward pass of this batch: it
    /// was made for another batch size, or [`Self::adjoint_input`] has used it since.
    pub fn assign_adjoint_weight(&mut self, delta: ArrayView4<'_, f32>, work: &Workspace) {
        assert!(
            work.unrolled && delta.dim().0 == work.batch(),
            "conv2d: the workspace does not hold this batch's unrolled input; \
             call assign_adjoint_weight after forward and before adjoint_input"
        );
        adjoint_weight(
            delta,
            work.cols.view(),
            self.weight.view_mut(),
            self.bias.view_mut(),
        );
    }
}

// By hand, so that it holds whatever the sizes are and the copy's parameters start on a
// cache line too.
impl<I, O, K, S, P> Clone for Conv2d<I, O, K, S, P> {
    fn clone(&self) -> Self {
        Conv2d {
            weight: aligned::copy(&self.weight),
            bias: aligned::copy(&self.bias),
            shape: PhantomData,
        }
    }
}

impl<I, O, K, S, P> std::fmt::Debug for Conv2d<I, O, K, S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conv2d")
            .field("weight", &self.weight)
            .field("bias", &self.bias)
            .finish()
    }
}

impl<I, O, K, S, P> PartialEq for Conv2d<I, O, K, S, P> {
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight && self.bias == other.bias
    }
}

impl<I: ImageShape, O: Unsigned, K: Unsigned, S: Unsigned, P: Unsigned> Default
    for Conv2d<I, O, K, S, P>
{
    fn default() -> Self {
        Self::zeros()
    }
}

impl<C, H, W, O, K, S, P> LayerShape for Conv2d<Image<C, H, W>, O, K, S, P>
where
    H: WindowOutput<K, S, P>,
    W: WindowOutput<K, S, P>,
{
    type Input = Image<C, H, W>;
    type Output =
        Image<O, <H as WindowOutput<K, S, P>>::Output, <W as WindowOutput<K, S, P>>::Output>;
}

crate::network::weight_and_bias_layer!("Conv2d", impl<I, O, K, S, P> for Conv2d<I, O, K, S, P>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Layer;
    use ndarray::{Array, Array2};
    use typenum::{U12, U2, U24, U28, U3, U5, U6, U7};

    /// A deterministic, irregular f64 array (no symmetry a bug could hide behind).
    fn filled<Sh: ndarray::ShapeBuilder>(shape: Sh, phase: f64) -> Array<f64, Sh::Dim> {
        let mut i = 0.0;
        Array::from_shape_simple_fn(shape, || {
            i += 1.0;
            (i * 0.37 + phase).sin()
        })
    }

    /// Stride 2, padding 1, a non-square input, several channels in and out.
    const G: Geometry = Geometry {
        channels: 3,
        height: 7,
        width: 5,
        window: Window {
            size: 3,
            stride: 2,
            padding: 1,
        },
    };
    const OUT: usize = 2;
    const N: usize = 2;

    fn run_forward(w: &Array4<f64>, b: &Array1<f64>, a: &Array4<f64>) -> Array4<f64> {
        let mut cols = Array3::zeros((N, G.patch_len(), G.positions()));
        let mut z = Array4::zeros((N, OUT, G.out_height(), G.out_width()));
        forward(
            G,
            w.view(),
            b.view(),
            a.view(),
            cols.view_mut(),
            z.view_mut(),
        );
        z
    }

    /// The definition, PyTorch's `conv2d`: `z[n,o,y,x] = b[o] + Σ w[o,c,i,j] a[n,c,ys+i−p,xs+j−p]`.
    #[test]
    fn forward_is_the_cross_correlation_of_the_definition() {
        let (w, b, a) = (
            filled((OUT, 3, 3, 3), 0.1),
            filled(OUT, 0.5),
            filled((N, 3, 7, 5), 0.9),
        );
        let z = run_forward(&w, &b, &a);
        assert_eq!(z.dim(), (N, OUT, 4, 3));
        for ((n, o, y, x), &got) in z.indexed_iter() {
            let mut want = b[o];
            for ((c, i, j), &wv) in w.index_axis(Axis(0), o).indexed_iter() {
                let (r, s) = (2 * y + i, 2 * x + j);
                if (1..=7).contains(&r) && (1..=5).contains(&s) {
                    want += wv * a[(n, c, r - 1, s - 1)];
                }
            }
            assert!((got - want).abs() < 1e-12, "z[{n},{o},{y},{x}]");
        }
    }

    /// `⟨B(W, a), δ⟩ = ⟨W, B(·, a)* δ⟩ = ⟨a, B(W, ·)* δ⟩`, and `C* δ` sums δ over the
    /// batch and positions.
    #[test]
    fn adjoints_satisfy_the_inner_product_identity() {
        let (w, a) = (filled((OUT, 3, 3, 3), 0.2), filled((N, 3, 7, 5), 1.1));
        let delta = filled((N, OUT, 4, 3), 2.3);
        let z = run_forward(&w, &Array1::zeros(OUT), &a);
        let lhs = (&z * &delta).sum();

        let mut cols = Array3::zeros((N, G.patch_len(), G.positions()));
        let mut scratch = Array4::zeros((N, OUT, 4, 3));
        forward(
            G,
            w.view(),
            Array1::zeros(OUT).view(),
            a.view(),
            cols.view_mut(),
            scratch.view_mut(),
        );
        let (mut grad_w, mut grad_b) = (Array4::zeros(w.dim()), Array1::zeros(OUT));
        adjoint_weight(
            delta.view(),
            cols.view(),
            grad_w.view_mut(),
            grad_b.view_mut(),
        );
        assert!((lhs - (&w * &grad_w).sum()).abs() < 1e-12);
        for o in 0..OUT {
            let want = delta.index_axis(Axis(1), o).sum();
            assert!((grad_b[o] - want).abs() < 1e-12);
        }

        let mut delta_prev = Array4::from_elem(a.dim(), f64::NAN);
        let mut delta_cols = Array3::zeros((N, G.patch_len(), G.positions()));
        adjoint_input(
            G,
            w.view(),
            delta.view(),
            delta_cols.view_mut(),
            delta_prev.view_mut(),
        );
        assert!((lhs - (&a * &delta_prev).sum()).abs() < 1e-12);
    }

    /// Central differences of `L = ⟨Z, R⟩`, whose gradient in `Z` is `R`: the weight,
    /// bias and input adjoints entry by entry.
    #[test]
    fn adjoints_match_central_differences() {
        let (w, b, a) = (
            filled((OUT, 3, 3, 3), 0.3),
            filled(OUT, 0.8),
            filled((N, 3, 7, 5), 1.7),
        );
        let r = filled((N, OUT, 4, 3), 0.4);
        let loss =
            |w: &Array4<f64>, b: &Array1<f64>, a: &Array4<f64>| (&run_forward(w, b, a) * &r).sum();
        let mut cols = Array3::zeros((N, G.patch_len(), G.positions()));
        let mut z = Array4::zeros(r.dim());
        forward(
            G,
            w.view(),
            b.view(),
            a.view(),
            cols.view_mut(),
            z.view_mut(),
        );
        let (mut grad_w, mut grad_b) = (Array4::zeros(w.dim()), Array1::zeros(OUT));
        adjoint_weight(r.view(), cols.view(), grad_w.view_mut(), grad_b.view_mut());
        let mut grad_a = Array4::zeros(a.dim());
        let mut delta_cols = Array3::zeros((N, G.patch_len(), G.positions()));
        adjoint_input(
            G,
            w.view(),
            r.view(),
            delta_cols.view_mut(),
            grad_a.view_mut(),
        );

        // L is linear in each argument: central differences are exact up to rounding.
        let h = 1e-6;
        let mut worst = 0.0f64;
        let mut close = |numeric: f64, analytic: f64| {
            worst = worst.max((numeric - analytic).abs());
        };
        for idx in ndarray::indices_of(&w) {
            let (mut p, mut m) = (w.clone(), w.clone());
            p[idx] += h;
            m[idx] -= h;
            close(
                (loss(&p, &b, &a) - loss(&m, &b, &a)) / (2.0 * h),
                grad_w[idx],
            );
        }
        for o in 0..OUT {
            let (mut p, mut m) = (b.clone(), b.clone());
            p[o] += h;
            m[o] -= h;
            close((loss(&w, &p, &a) - loss(&w, &m, &a)) / (2.0 * h), grad_b[o]);
        }
        for idx in ndarray::indices_of(&a) {
            let (mut p, mut m) = (a.clone(), a.clone());
            p[idx] += h;
            m[idx] -= h;
            close(
                (loss(&w, &b, &p) - loss(&w, &b, &m)) / (2.0 * h),
                grad_a[idx],
            );
        }
        assert!(worst < 1e-8, "largest difference {worst:e}");
    }

    /// im2col against its definition, and col2im against im2col, for geometries where
    /// whole kernel rows and columns fall in the padding.
    #[test]
    fn unrolling_matches_its_definition_at_the_edges() {
        for (height, width, size, stride, padding) in [
            (1, 2, 3, 2, 2),
            (2, 1, 5, 1, 2),
            (3, 4, 2, 3, 1),
            (5, 5, 1, 2, 0),
            (4, 3, 3, 1, 1),
        ] {
            let g = Geometry {
                channels: 2,
                height,
                width,
                window: Window {
                    size,
                    stride,
                    padding,
                },
            };
            let image = filled((2, height, width), 0.3);
            let mut cols = Array2::from_elem((g.patch_len(), g.positions()), f64::NAN);
            im2col(g, image.view(), cols.view_mut());
            for ((row, position), &got) in cols.indexed_iter() {
                let (c, i, j) = (row / (size * size), row / size % size, row % size);
                let (y, x) = (position / g.out_width(), position % g.out_width());
                let (r, q) = (y * stride + i, x * stride + j);
                let want = if (padding..height + padding).contains(&r)
                    && (padding..width + padding).contains(&q)
                {
                    image[(c, r - padding, q - padding)]
                } else {
                    0.0
                };
                assert_eq!(got, want, "{g:?}: cols[{row}, {position}]");
            }
            let cols_dir = filled(cols.dim(), 1.4);
            let mut back = Array3::from_elem(image.dim(), f64::NAN);
            col2im(g, cols_dir.view(), back.view_mut());
            let lhs = (&cols * &cols_dir).sum();
            assert!((lhs - (&image * &back).sum()).abs() < 1e-12, "{g:?}");
        }
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        let image = filled((3, 7, 5), 0.6);
        let cols_dir = filled((G.patch_len(), G.positions()), 1.9);
        let mut cols = Array2::zeros(cols_dir.dim());
        im2col(G, image.view(), cols.view_mut());
        let mut back = Array3::zeros(image.dim());
        col2im(G, cols_dir.view(), back.view_mut());
        let lhs = (&cols * &cols_dir).sum();
        assert!((lhs - (&image * &back).sum()).abs() < 1e-12);
    }

    #[test]
    fn f32_layer_matches_the_generic_kernels_and_pytorch_layout() {
        type Conv = Conv2d<Image<U3, U7, U5>, U2, U3, U2, U1>;
        assert_eq!((Conv::OUT_HEIGHT, Conv::OUT_WIDTH), (4, 3));
        let mut layer = Conv::new(&mut InitRng::new(3), Init::He { slope: 0.0 });
        assert_eq!(layer.param_names(), ["weight", "bias"]);
        assert_eq!(layer.param_shape(0), [2, 3, 3, 3]);
        assert_eq!(layer.param_shape(1), [2]);
        assert_eq!(
            layer.param(0).len() + layer.param(1).len(),
            Conv::NUM_PARAMS
        );
        layer.bias_mut().assign(&ndarray::array![0.5, -0.25]);

        let a = filled((N, 3, 7, 5), 0.2).mapv(|v| v as f32);
        let mut work = Conv::workspace(N);
        let mut z = Array4::zeros((N, 2, 4, 3));
        layer.forward(a.view(), z.view_mut(), &mut work);
        let z64 = run_forward(
            &layer.weight().mapv(f64::from),
            &layer.bias().mapv(f64::from),
            &a.mapv(f64::from),
        );
        let err = (&z.mapv(f64::from) - &z64)
            .mapv(f64::abs)
            .fold(0.0, |m: f64, &e| m.max(e));
        assert!(err < 1e-5, "f32 forward differs by {err}");

        let delta = filled((N, 2, 4, 3), 0.7).mapv(|v| v as f32);
        let mut grad = Conv::zeros();
        grad.assign_adjoint_weight(delta.view(), &work);
        let mut delta_prev = Array4::zeros(a.dim());
        layer.adjoint_input(delta.view(), delta_prev.view_mut(), &mut work);
        let zb = (&z - &layer.bias().insert_axis(Axis(1)).insert_axis(Axis(2))) * &delta;
        let inner = zb.sum();
        assert!((inner - (&layer.weight() * &grad.weight()).sum()).abs() < 1e-3);
        assert!((inner - (&a * &delta_prev).sum()).abs() < 1e-3);
    }

    #[test]
    fn output_shape_is_computed_at_the_type_level() {
        fn output<L: LayerShape<Output = Out>, Out>() {}
        output::<Conv2d<Image<U1, U28, U28>, U6, U5>, Image<U6, U24, U24>>();
        output::<Conv2d<Image<U6, U24, U24>, U6, U5, U2, U2>, Image<U6, U12, U12>>();
        output::<Conv2d<Image<U3, U7, U5>, U2, U3, U2, U1>, Image<U2, typenum::U4, U3>>();
        assert_eq!(
            Conv2d::<Image<U6, U24, U24>, U6, U5, U2, U2>::OUT_HEIGHT,
            12
        );
    }
}

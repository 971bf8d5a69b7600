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
use std::ops::Range;

use ndarray::{
    Array1, Array4, ArrayView1, ArrayView2, ArrayView3, ArrayView4, ArrayViewMut1, ArrayViewMut2,
    ArrayViewMut3, ArrayViewMut4, Axis, Ix1, Ix4, Zip,
};
use typenum::{Unsigned, U0, U1};

use crate::aligned;
use crate::gemm::{matmul, matmul_planned, product_scratch, Plan};
use crate::init::{Init, InitRng};
use crate::layer::Layer;
use crate::parallel::{for_each_sample, join, join_if, worth_splitting};
use crate::scalar::{add_into, Scalar};
use crate::scratch::{with_scratch, Space, ThreadScratch};
use crate::shape::{Image, ImageShape, LayerShape, Window, WindowOutput};

mod direct;

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
    ///
    /// # Panics
    ///
    /// If the kernel does not fit in the padded input (in a constant, a compile error).
    pub const fn out_height(self) -> usize {
        self.window.output(self.height)
    }

    /// The output width.
    ///
    /// # Panics
    ///
    /// As [`Geometry::out_height`].
    pub const fn out_width(self) -> usize {
        self.window.output(self.width)
    }

    /// Whether the kernel fits in the padded input, so that the sizes above exist.
    const fn fits(self) -> bool {
        self.window.checked_output(self.height).is_some()
            && self.window.checked_output(self.width).is_some()
    }

    /// `self` if the kernel fits, otherwise a convolution of nothing: for the constants of
    /// a layer whose shape rule refuses its input, which must not fail to evaluate beside
    /// the refusal.
    const fn or_empty(self) -> Geometry {
        if self.fits() {
            return self;
        }
        Geometry {
            channels: 0,
            height: 1,
            width: 1,
            window: Window {
                size: 1,
                stride: 1,
                padding: 0,
            },
        }
    }

    /// Why a convolution of this geometry cannot take its input, if it cannot.
    const fn refusal(self, rank: usize) -> Option<&'static str> {
        if rank != 3 {
            Some(crate::shape::takes_an_image!("Conv2d"))
        } else if !self.fits() {
            Some("its kernel is larger than the (padded) image")
        } else {
            None
        }
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
pub fn im2col<T: Scalar>(g: Geometry, image: ArrayView3<'_, T>, cols: ArrayViewMut2<'_, T>) {
    im2col_taps(g, image, 0..g.patch_len(), cols);
}

/// The rows `wanted` of [`im2col`]'s `cols`: the unrolled input under those kernel taps
/// alone, for a part of the weight gradient.
fn im2col_taps<T: Scalar>(
    g: Geometry,
    image: ArrayView3<'_, T>,
    wanted: Range<usize>,
    mut cols: ArrayViewMut2<'_, T>,
) {
    assert_eq!(
        image.dim(),
        (g.channels, g.height, g.width),
        "im2col: image"
    );
    assert_eq!(cols.dim(), (wanted.len(), g.positions()), "im2col: cols");
    assert!(wanted.end <= g.patch_len(), "im2col: no such taps");
    let image = image.as_standard_layout();
    let image = image.as_slice().expect("standard layout");
    let cols = cols
        .as_slice_mut()
        .expect("im2col: cols must be contiguous");
    let taps = Taps::new(g);
    taps.for_each(|row, plane, rows, columns| {
        if !wanted.contains(&row) {
            return;
        }
        let out = &mut cols[(row - wanted.start) * taps.positions..][..taps.positions];
        let (above, inside, below) = rows.split(out, taps.out_width);
        above.fill(T::zero());
        below.fill(T::zero());
        let plane = &image[plane * taps.plane_len..][..taps.plane_len];
        if taps.stride == 1 && columns.first == 0 && columns.end == taps.out_width {
            // The common case, kept free of everything else so that it runs at the speed
            // of the copies: each output row reads a run of an input row.
            // (Indices rather than `chunks`, whose lengths cost a division per tap.)
            let src = &plane[rows.input_start * g.width + columns.input_start..];
            for y in 0..rows.end - rows.first {
                copy_run(
                    &mut inside[y * taps.out_width..][..taps.out_width],
                    &src[y * g.width..],
                );
            }
            return;
        }
        for (dst, src) in inside
            .chunks_exact_mut(taps.out_width)
            .zip(taps.input_rows(plane, rows))
        {
            let (left, dst, right) = columns.split(dst, 1);
            left.fill(T::zero());
            right.fill(T::zero());
            let src = &src[columns.input_start..];
            if taps.stride == 1 {
                copy_run(dst, src);
            } else {
                let src = src.iter().step_by(taps.stride);
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
            }
        }
    });
}

/// Copies `src` onto `dst` (as long, or longer), for the short runs of im2col (a row of
/// the output, a few dozen floats) in blocks of eight copied inline: as a call to
/// `memcpy`, each run cost more than the matrix product that reads it.
#[inline(always)]
fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    let len = dst.len();
    let src = &src[..len];
    if len < 8 {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
        return;
    }
    let block = |dst: &mut [T], at: usize| {
        let d: &mut [T; 8] = (&mut dst[at..at + 8]).try_into().expect("eight");
        *d = src[at..at + 8].try_into().expect("eight");
    };
    let mut at = 0;
    while at + 8 < len {
        block(dst, at);
        at += 8;
    }
    // The last block ends at the end, overlapping the one before if `len` is not a
    // multiple of eight.
    block(dst, len - 8);
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
        let src = &cols[row * taps.positions..][..taps.positions];
        let (_, inside, _) = rows.split(src, taps.out_width);
        let plane = &mut image[plane * taps.plane_len..][..taps.plane_len];
        if taps.stride == 1 && columns.first == 0 && columns.end == taps.out_width {
            // As in im2col: the common case alone, with indices rather than `chunks`.
            let dst = &mut plane[rows.input_start * g.width + columns.input_start..];
            for y in 0..rows.end - rows.first {
                let src = &inside[y * taps.out_width..][..taps.out_width];
                let dst = &mut dst[y * g.width..][..taps.out_width];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d += v;
                }
            }
            return;
        }
        let targets = taps.input_rows_mut(plane, rows);
        for (src, dst) in inside.chunks_exact(taps.out_width).zip(targets) {
            let (_, src, _) = columns.split(src, 1);
            let dst = &mut dst[columns.input_start..];
            if taps.stride == 1 {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in dst.iter_mut().step_by(taps.stride).zip(src) {
                    *d += v;
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
    out_height: usize,
    out_width: usize,
    positions: usize,
    plane_len: usize,
}

/// The outputs, along one axis, at which a kernel tap reads inside the input rather than
/// the padding: `first..end`, reading input `input_start` at `first` and one stride
/// further at each next one.
#[derive(Clone, Copy)]
struct Span {
    first: usize,
    end: usize,
    input_start: usize,
}

impl Span {
    /// The span of the tap at `offset` in the kernel along an axis of `extent` inputs and
    /// `outputs` outputs: output `x` reads input `x·s + offset − p`.
    #[inline(always)]
    fn new(window: Window, offset: usize, extent: usize, outputs: usize) -> Self {
        let (s, p) = (window.stride, window.padding);
        // Divisions, one per tap, cost as much as the copies of a short row: none at
        // stride 1.
        let outputs_below = |limit: usize| if s == 1 { limit } else { limit.div_ceil(s) };
        let first = outputs_below(p.saturating_sub(offset)).min(outputs);
        let end = (extent + p)
            .checked_sub(offset)
            .map_or(0, outputs_below)
            .clamp(first, outputs);
        Span {
            first,
            end,
            // Only read when first < end, and then first·s + offset ≥ p.
            input_start: if first < end {
                first * s + offset - p
            } else {
                0
            },
        }
    }

    /// `run` (outputs in blocks of `block` elements) cut into the blocks before the span,
    /// those in it, and those after.
    fn split<R: SplitRun>(self, run: R, block: usize) -> (R, R, R) {
        let (before, rest) = run.split_run(self.first * block);
        let (inside, after) = rest.split_run((self.end - self.first) * block);
        (before, inside, after)
    }
}

/// A slice, shared or not, that [`Span::split`] cuts.
trait SplitRun: Sized {
    fn split_run(self, at: usize) -> (Self, Self);
}

impl<T> SplitRun for &[T] {
    fn split_run(self, at: usize) -> (Self, Self) {
        self.split_at(at)
    }
}

impl<T> SplitRun for &mut [T] {
    fn split_run(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

impl Taps {
    fn new(g: Geometry) -> Self {
        Taps {
            geometry: g,
            stride: g.window.stride,
            out_height: g.out_height(),
            out_width: g.out_width(),
            positions: g.positions(),
            plane_len: g.height * g.width,
        }
    }

    /// The input rows a tap reads for the output rows of its span `rows`, in order, from
    /// the input `plane`.
    fn input_rows<T>(self, plane: &[T], rows: Span) -> impl Iterator<Item = &[T]> {
        let width = self.geometry.width;
        plane[rows.input_start * width..self.plane_len]
            .chunks_exact(width)
            .step_by(self.stride)
            .take(rows.end - rows.first)
    }

    /// [`Self::input_rows`], to write to.
    fn input_rows_mut<T>(self, plane: &mut [T], rows: Span) -> impl Iterator<Item = &mut [T]> {
        let width = self.geometry.width;
        plane[rows.input_start * width..self.plane_len]
            .chunks_exact_mut(width)
            .step_by(self.stride)
            .take(rows.end - rows.first)
    }

    /// Calls `f(row, channel, rows, columns)` for every row of `cols` (every channel
    /// and kernel tap), in order, with the spans of output rows and columns at which the
    /// tap reads inside the input.
    #[inline(always)]
    fn for_each(self, mut f: impl FnMut(usize, usize, Span, Span)) {
        let g = self.geometry;
        let k = g.window.size;
        for channel in 0..g.channels {
            for tap_row in 0..k {
                let rows = Span::new(g.window, tap_row, g.height, self.out_height);
                for tap_col in 0..k {
                    let columns = Span::new(g.window, tap_col, g.width, self.out_width);
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
/// Each sample is unrolled in turn into the same scratch space, which stays in cache:
/// keeping every sample's columns for the backward pass would cost more in memory
/// traffic than unrolling them again there.
pub fn forward<T: Scalar>(
    g: Geometry,
    weight: ArrayView4<'_, T>,
    bias: ArrayView1<'_, T>,
    a_prev: ArrayView4<'_, T>,
    z: ArrayViewMut4<'_, T>,
) {
    let w = weight_matrix(weight);
    check_shapes(g, w.nrows(), a_prev.dim(), z.dim());
    let batch = a_prev.dim().0;
    for_each_sample(batch * w.len() * g.positions(), (a_prev, z), &|(
        a_prev,
        mut z,
    )| {
        if forward_direct(g, w, bias, a_prev, z.view_mut()) {
            return;
        }
        with_cols(g, g.patch_len(), |mut cols| {
            for (sample, z) in a_prev.outer_iter().zip(z.outer_iter_mut()) {
                im2col(g, sample, cols.view_mut());
                let mut z = plane_matrix_mut(z);
                // Broadcast the bias first, then let the GEMM accumulate onto it (β = 1).
                Zip::from(z.rows_mut())
                    .and(&bias)
                    .for_each(|mut row, &b| row.fill(b));
                matmul(w, cols.view(), T::one(), z);
            }
        });
    });
}

/// Checks that `input` (N × in × h × w) and `output` (N × out × oh × ow) are the shapes
/// a convolution `g` with `outputs` channels takes and gives, for the same batch.
#[track_caller]
fn check_shapes(
    g: Geometry,
    outputs: usize,
    input: (usize, usize, usize, usize),
    output: (usize, usize, usize, usize),
) {
    let batch = input.0;
    let want_input = (batch, g.channels, g.height, g.width);
    let want_output = (batch, outputs, g.out_height(), g.out_width());
    assert!(
        input == want_input && output == want_output,
        "conv2d: {g:?} with {outputs} output channels takes a batch of shape {want_input:?} \
         and gives {want_output:?}, got {input:?} and {output:?}"
    );
}

/// Whether the [`direct`] kernels take convolution `g` with `outputs` channels on a batch
/// of `batch`: the empty cases (no sample, channel or output) are left to the general
/// path, which needs no chunks of them.
fn takes_direct(g: Geometry, outputs: usize, batch: usize) -> bool {
    batch > 0 && outputs > 0 && g.channels > 0 && direct::applies(g)
}

/// [`forward`] by the [`direct`] kernel, if it applies to `g` and the arrays are `f32` in
/// standard layout; `false` if not.
fn forward_direct<T: Scalar>(
    g: Geometry,
    w: ArrayView2<'_, T>,
    bias: ArrayView1<'_, T>,
    a_prev: ArrayView4<'_, T>,
    mut z: ArrayViewMut4<'_, T>,
) -> bool {
    let arrays = (
        w.as_slice().and_then(T::as_f32),
        bias.as_slice().and_then(T::as_f32),
        a_prev.as_slice().and_then(T::as_f32),
        z.as_slice_mut().and_then(T::as_f32_mut),
    );
    let batch = a_prev.dim().0;
    let direct = takes_direct(g, bias.len(), batch);
    let (true, (Some(w), Some(bias), Some(a_prev), Some(z))) = (direct, arrays) else {
        return false;
    };
    let images = a_prev.chunks_exact(g.channels * g.height * g.width);
    for (image, z) in images.zip(z.chunks_exact_mut(bias.len() * g.positions())) {
        direct::forward(g, w, bias, image, z);
    }
    true
}

/// Runs `f` on scratch space for `rows` rows of a sample's `cols` (rows × oh·ow).
fn with_cols<T: Scalar, R>(
    g: Geometry,
    rows: usize,
    f: impl FnOnce(ArrayViewMut2<'_, T>) -> R,
) -> R {
    let shape = (rows, g.positions());
    with_scratch(Space::Unrolled, rows * g.positions(), |floats| {
        f(ArrayViewMut2::from_shape(shape, floats).expect("scratch of the right length"))
    })
}

/// `Δ_prev = col2im(Wᵀ Δ)` for every sample: the adjoint of `B(W, ·)` (a transposed
/// convolution) applied to `delta` (N × out × oh × ow), written into `delta_prev`
/// (N × in × h × w).
pub fn adjoint_input<T: Scalar>(
    g: Geometry,
    weight: ArrayView4<'_, T>,
    delta: ArrayView4<'_, T>,
    delta_prev: ArrayViewMut4<'_, T>,
) {
    let w = weight_matrix(weight);
    check_shapes(g, w.nrows(), delta_prev.dim(), delta.dim());
    let batch = delta.dim().0;
    for_each_sample(
        batch * w.len() * g.positions(),
        (delta, delta_prev),
        &|(delta, mut delta_prev)| {
            if input_direct(g, w, delta, delta_prev.view_mut()) {
                return;
            }
            with_cols(g, g.patch_len(), |mut cols| {
                for (delta, delta_prev) in delta.outer_iter().zip(delta_prev.outer_iter_mut()) {
                    matmul(w.t(), plane_matrix(delta), T::zero(), cols.view_mut());
                    col2im(g, cols.view(), delta_prev);
                }
            });
        },
    );
}

/// [`adjoint_input`] by the [`direct`] kernel, if it applies to `g` and the arrays are
/// `f32` in standard layout; `false` if not.
fn input_direct<T: Scalar>(
    g: Geometry,
    w: ArrayView2<'_, T>,
    delta: ArrayView4<'_, T>,
    mut delta_prev: ArrayViewMut4<'_, T>,
) -> bool {
    let arrays = (
        w.as_slice().and_then(T::as_f32),
        delta.as_slice().and_then(T::as_f32),
        delta_prev.as_slice_mut().and_then(T::as_f32_mut),
    );
    let direct = takes_direct(g, delta.dim().1, delta.dim().0);
    let (true, (Some(w), Some(delta), Some(delta_prev))) = (direct, arrays) else {
        return false;
    };
    let deltas = delta.chunks_exact(w.len() / g.patch_len() * g.positions());
    let planes = delta_prev.chunks_exact_mut(g.channels * g.height * g.width);
    for (delta, delta_prev) in deltas.zip(planes) {
        direct::adjoint_input(g, w, delta, delta_prev);
    }
    true
}

/// `∇W = Σ_n Δ colsᵀ` and `∇b = Σ_n Σ_positions Δ`: the adjoints of `B(·, a)` and `C`
/// applied to `delta` (N × out × oh × ow), where `a_prev` (N × in × h × w) is the input
/// of the forward pass, written into `grad_weight` (out × in × k × k) and `grad_bias`
/// (out). The arguments come in the order of [`crate::dense::adjoint_weight`]'s.
pub fn adjoint_weight<T: Scalar>(
    g: Geometry,
    delta: ArrayView4<'_, T>,
    a_prev: ArrayView4<'_, T>,
    grad_weight: ArrayViewMut4<'_, T>,
    grad_bias: ArrayViewMut1<'_, T>,
) {
    let (out, rest) = (
        grad_weight.dim().0,
        grad_weight.len() / grad_weight.dim().0.max(1),
    );
    let grad_w = grad_weight
        .into_shape_with_order((out, rest))
        .expect("conv2d: the weight gradient must be in standard layout");
    assert_eq!(rest, g.patch_len(), "conv2d: the weight gradient's shape");
    check_shapes(g, out, a_prev.dim(), delta.dim());
    // One plan for the whole product, so that cutting it changes no sum.
    let plan = Plan::new::<T>(out, rest, g.positions()).on_this_thread();
    let pieces = crate::parallel::threads();
    let batch = delta.dim().0;
    if batch < 2 {
        return adjoint_weight_sums(g, a_prev, delta, grad_w, grad_bias, plan, pieces);
    }
    // The two halves of the batch are summed apart and then added, however many threads
    // there are, so that two threads can take one half each (each unrolling only its own
    // samples, for the whole product) and give the same bits as one thread.
    let (a_first, a_second) = a_prev.split_at(Axis(0), batch / 2);
    let (delta_first, delta_second) = delta.split_at(Axis(0), batch / 2);
    with_scratch(Space::Sums, out * rest + out, |sums| {
        let (sums_w, sums_b) = sums.split_at_mut(out * rest);
        let mut second_w = ArrayViewMut2::from_shape((out, rest), sums_w).expect("scratch");
        let mut second_b = ArrayViewMut1::from(sums_b);
        let (mut grad_w, mut grad_bias) = (grad_w, grad_bias);
        let first = (grad_w.view_mut(), grad_bias.view_mut());
        let second = (second_w.view_mut(), second_b.view_mut());
        join_if(
            pieces >= 2 && worth_splitting(delta.len() * rest),
            move || {
                let (w, b) = first;
                adjoint_weight_sums(g, a_first, delta_first, w, b, plan, pieces.div_ceil(2));
            },
            move || {
                let (w, b) = second;
                adjoint_weight_sums(g, a_second, delta_second, w, b, plan, pieces / 2);
            },
        );
        add_into(grad_w.view_mut(), second_w.view());
        add_into(grad_bias.view_mut(), second_b.view());
    });
}

/// [`adjoint_weight`] over the samples of `a_prev` and `delta`, a part of the batch.
fn adjoint_weight_sums<T: Scalar>(
    g: Geometry,
    a_prev: ArrayView4<'_, T>,
    delta: ArrayView4<'_, T>,
    grad_w: ArrayViewMut2<'_, T>,
    mut grad_bias: ArrayViewMut1<'_, T>,
    plan: Plan,
    pieces: usize,
) {
    grad_bias.fill(T::zero());
    for delta in delta.outer_iter() {
        Zip::from(&mut grad_bias)
            .and(delta.outer_iter())
            .for_each(|g, channel| *g += channel.sum());
    }
    adjoint_weight_taps(g, a_prev, delta, 0, grad_w, plan, pieces);
}

/// The weight part of [`adjoint_weight`] over the samples of `a_prev` and `delta`, for
/// the taps (input channel and kernel offset) from `first`: the columns of `grad_w`, and
/// the rows of every sample's `cols`, unrolled here a sample at a time. Different taps
/// are independent sums, so with threads to spare the two halves are computed side by
/// side, in at most `pieces` pieces (one per thread: a narrower product is a slower one).
/// Split this way, each thread unrolls only its share of the input; split by output
/// channels, each would unroll all of it.
fn adjoint_weight_taps<T: Scalar>(
    g: Geometry,
    a_prev: ArrayView4<'_, T>,
    delta: ArrayView4<'_, T>,
    first: usize,
    mut grad_w: ArrayViewMut2<'_, T>,
    plan: Plan,
    pieces: usize,
) {
    let taps = grad_w.ncols();
    // At least two taps a piece: a product one column wide would take another form.
    if pieces >= 2 && taps >= 4 && worth_splitting(delta.len() * taps) {
        let mid = taps / 2;
        let (grad_a, grad_b) = grad_w.split_at(Axis(1), mid);
        join(
            || adjoint_weight_taps(g, a_prev, delta, first, grad_a, plan, pieces.div_ceil(2)),
            || adjoint_weight_taps(g, a_prev, delta, first + mid, grad_b, plan, pieces / 2),
        );
        return;
    }
    grad_w.fill(T::zero());
    if weight_direct(g, a_prev, delta, first, grad_w.view_mut()) {
        return;
    }
    with_cols(g, taps, |mut cols| {
        for (sample, delta) in a_prev.outer_iter().zip(delta.outer_iter()) {
            im2col_taps(g, sample, first..first + taps, cols.view_mut());
            matmul_planned(
                plan,
                plane_matrix(delta),
                cols.t(),
                T::one(),
                grad_w.view_mut(),
            );
        }
    });
}

/// Samples summed together by the [`direct`] weight kernel: their inputs and error
/// signals stay in cache while every tile of the gradient passes over them, and the
/// lanes of each tile are summed once per block rather than once per sample.
const DIRECT_BLOCK: usize = 8;

/// [`adjoint_weight_taps`] by the [`direct`] kernel, adding to `grad_w`, if it applies
/// to `g` and the arrays are `f32` in standard layout; `false` if not.
fn weight_direct<T: Scalar>(
    g: Geometry,
    a_prev: ArrayView4<'_, T>,
    delta: ArrayView4<'_, T>,
    first: usize,
    grad_w: ArrayViewMut2<'_, T>,
) -> bool {
    let arrays = (
        a_prev.as_slice().and_then(T::as_f32),
        delta.as_slice().and_then(T::as_f32),
    );
    let direct = takes_direct(g, delta.dim().1, delta.dim().0);
    let (true, (Some(images), Some(deltas)), Some(mut grad_w)) =
        (direct, arrays, T::view_as_f32_mut(grad_w))
    else {
        return false;
    };
    let taps = first..first + grad_w.ncols();
    let image_len = g.channels * g.height * g.width;
    let delta_len = grad_w.nrows() * g.positions();
    let blocks = images
        .chunks(DIRECT_BLOCK * image_len)
        .zip(deltas.chunks(DIRECT_BLOCK * delta_len));
    for (images, deltas) in blocks {
        direct::adjoint_weight(g, images, deltas, taps.clone(), grad_w.view_mut());
    }
    true
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Parameters;
    use ndarray::{Array, Array2, Array3};
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
        let mut z = Array4::zeros((N, OUT, G.out_height(), G.out_width()));
        forward(G, w.view(), b.view(), a.view(), z.view_mut());
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

        let (mut grad_w, mut grad_b) = (Array4::zeros(w.dim()), Array1::zeros(OUT));
        adjoint_weight(
            G,
            delta.view(),
            a.view(),
            grad_w.view_mut(),
            grad_b.view_mut(),
        );
        assert!((lhs - (&w * &grad_w).sum()).abs() < 1e-12);
        for o in 0..OUT {
            let want = delta.index_axis(Axis(1), o).sum();
            assert!((grad_b[o] - want).abs() < 1e-12);
        }

        let mut delta_prev = Array4::from_elem(a.dim(), f64::NAN);
        adjoint_input(G, w.view(), delta.view(), delta_prev.view_mut());
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
        let (mut grad_w, mut grad_b) = (Array4::zeros(w.dim()), Array1::zeros(OUT));
        adjoint_weight(G, r.view(), a.view(), grad_w.view_mut(), grad_b.view_mut());
        let mut grad_a = Array4::zeros(a.dim());
        adjoint_input(G, w.view(), r.view(), grad_a.view_mut());

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
    fn runs_of_every_length_are_copied_exactly() {
        let src: Vec<u32> = (1..=40).collect();
        for len in 0..=33 {
            let mut dst = vec![0; len + 3];
            copy_run(&mut dst[..len], &src);
            assert_eq!(dst[..len], src[..len], "length {len}");
            assert_eq!(dst[len..], [0; 3], "length {len}: written past the end");
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
        let mut z = Array4::zeros((N, 2, 4, 3));
        layer.forward(a.view(), z.view_mut());
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
        grad.assign_adjoint_weight(delta.view(), a.view());
        let mut delta_prev = Array4::zeros(a.dim());
        layer.adjoint_input(a.view(), delta.view(), delta_prev.view_mut());
        let zb = (&z - &layer.bias().insert_axis(Axis(1)).insert_axis(Axis(2))) * &delta;
        let inner = zb.sum();
        assert!((inner - (&layer.weight() * &grad.weight()).sum()).abs() < 1e-3);
        assert!((inner - (&a * &delta_prev).sum()).abs() < 1e-3);
    }

    /// LeNet's second convolution, which the direct kernels take where the CPU has AVX2.
    const LENET2: Geometry = Geometry {
        channels: 6,
        height: 12,
        width: 12,
        window: Window {
            size: 5,
            stride: 1,
            padding: 0,
        },
    };

    #[test]
    fn an_empty_batch_gives_empty_results() {
        let w = Array4::<f32>::ones((16, 6, 5, 5));
        let a = Array4::<f32>::zeros((0, 6, 12, 12));
        let delta = Array4::<f32>::zeros((0, 16, 8, 8));
        let mut z = Array4::<f32>::zeros((0, 16, 8, 8));
        forward(
            LENET2,
            w.view(),
            Array1::ones(16).view(),
            a.view(),
            z.view_mut(),
        );
        let mut delta_prev = Array4::<f32>::zeros((0, 6, 12, 12));
        adjoint_input(LENET2, w.view(), delta.view(), delta_prev.view_mut());
        let (mut grad_w, mut grad_b) = (Array4::from_elem(w.dim(), 7.0f32), Array1::ones(16));
        adjoint_weight(
            LENET2,
            delta.view(),
            a.view(),
            grad_w.view_mut(),
            grad_b.view_mut(),
        );
        assert!(grad_w.iter().chain(&grad_b).all(|&g| g == 0.0));
    }

    #[test]
    #[should_panic(expected = "takes a batch of shape (1, 6, 12, 12)")]
    fn a_batch_of_another_shape_is_reported() {
        // As many numbers as one sample of LeNet's second convolution, another shape.
        let a = Array4::<f32>::zeros((1, 1, 72, 12));
        let mut z = Array4::<f32>::zeros((1, 16, 8, 8));
        let w = Array4::<f32>::zeros((16, 6, 5, 5));
        forward(
            LENET2,
            w.view(),
            Array1::zeros(16).view(),
            a.view(),
            z.view_mut(),
        );
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

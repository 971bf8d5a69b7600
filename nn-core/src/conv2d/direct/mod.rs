//! The forward map and the weight adjoint of a convolution of stride 1 without padding,
//! computed from the input where it lies: the products of [`super`]'s im2col form, with
//! the unrolled input read through its definition, `cols[(c, i, j), (y, x)] =
//! a[c, y + i, x + j]`, instead of copied ("implicit GEMM").
//!
//! For the small images of networks like LeNet, unrolling cost as much as the product
//! that read it: a row of `cols` is a run of a few floats of an input row, and LeNet's
//! second convolution unrolls 1,200 of them per sample. Read directly, eight output
//! positions along a row are eight consecutive input floats for every tap, one vector
//! load, so the products keep their shape:
//!
//! ```text
//! forward          Z[o, pos]  = b[o] + Σ_p W[o, p] a[off(p) + base(pos)]     broadcast form
//! adjoint_weight   ∇W[o, p]  += Σ_pos Δ[o, pos] a[off(p) + base(pos)]         dot form
//! ```
//!
//! where tap `p = (c, i, j)` reads from `off(p) = c·H·W + i·W + j` and output position
//! `pos = (y, x)` from `base(pos) = y·W + x`. They apply when output rows are whole
//! vectors (a width that is a multiple of eight) on a CPU with AVX2 and FMA; elsewhere
//! [`super`] unrolls.

use ndarray::ArrayViewMut2;

use super::Geometry;

/// Samples the weight kernel sums together: their inputs and error signals stay in
/// cache while every tile of the gradient passes over them, and the lanes of each tile
/// are summed once per block rather than once per sample.
pub(super) const BLOCK: usize = 8;

/// Floats in a vector: output positions computed together, all in one output row.
const LANES: usize = 8;

/// Output channels in the lanes of an AVX-512 vector, for the weight kernel that
/// transposes δ ([`avx2`]'s `by_channels`).
const CHANNELS: usize = 16;

/// The floats of scratch the weight kernel keeps for convolution `g` with `outputs`
/// channels, at most, on any CPU: where it runs and AVX-512 would put the output channels
/// along the lanes (filling at least three quarters of them), the error signals of
/// [`BLOCK`] samples transposed, sixteen channels at a time.
pub(super) const fn transposed_deltas(g: Geometry, outputs: usize) -> usize {
    let direct = takes_shape(g);
    let by_channels = 4 * outputs >= 3 * CHANNELS * outputs.div_ceil(CHANNELS);
    if direct && by_channels {
        BLOCK * g.positions() * CHANNELS
    } else {
        0
    }
}

/// Whether the direct kernels take convolution `g` by its shape: stride 1, no padding,
/// output rows a whole number of vectors wide.
const fn takes_shape(g: Geometry) -> bool {
    g.window.stride == 1
        && g.window.padding == 0
        && g.out_height() > 0
        && g.out_width() > 0
        && g.out_width().is_multiple_of(LANES)
}

/// Whether the direct kernels compute convolution `g` here: its shape, and a CPU with
/// AVX2 and FMA.
pub(super) fn applies(g: Geometry) -> bool {
    let shape = takes_shape(g);
    #[cfg(target_arch = "x86_64")]
    {
        shape && crate::isa::avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = shape;
        false
    }
}

/// Where tap `p` (a row of `cols`: channel, kernel row, kernel column) reads in a sample.
fn tap_offset(g: Geometry, p: usize) -> usize {
    let k = g.window.size;
    let (channel, tap) = (p / (k * k), p % (k * k));
    channel * g.height * g.width + (tap / k) * g.width + tap % k
}

/// Where vector `v` of the output positions (positions `8v .. 8v + 8`, in one output
/// row) reads in a sample, relative to a tap's offset.
fn vector_base(g: Geometry, v: usize) -> usize {
    let (y, x) = ((LANES * v) / g.out_width(), (LANES * v) % g.out_width());
    y * g.width + x
}

/// `z = W ⋆ a + b` for one sample: `weight` (out × in·k·k), `bias` (out), `image`
/// (in × h × w) and `z` (out × oh × ow), all in standard layout.
///
/// # Panics
///
/// If [`applies`] is false for `g` or the lengths do not match it.
pub(super) fn forward(g: Geometry, weight: &[f32], bias: &[f32], image: &[f32], z: &mut [f32]) {
    let outputs = bias.len();
    assert!(applies(g), "conv2d: no direct kernel for {g:?}");
    assert_eq!(weight.len(), outputs * g.patch_len(), "conv2d: weight");
    assert_eq!(
        image.len(),
        g.channels * g.height * g.width,
        "conv2d: image"
    );
    assert_eq!(z.len(), outputs * g.positions(), "conv2d: output");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (`applies`), and the lengths are checked above.
    // The eight floats under tap (c, i, j) of the vector at output (y, x) are at
    // c·H·W + (y + i)·W + x + j + 0..8, at most C·H·W − 1: with stride 1 and no padding
    // oh + k − 1 = H and ow + k − 1 = W, and `ow` is a multiple of eight, so that no
    // vector runs past the end of its output row.
    unsafe {
        avx2::ForwardJob {
            g,
            outputs,
            weight: weight.as_ptr(),
            bias: bias.as_ptr(),
            image: image.as_ptr(),
            z: z.as_mut_ptr(),
        }
        .run();
    }
}

/// `Δ_prev = B(W, ·)* Δ` for one sample, the transposed convolution: `weight` (out ×
/// in·k·k), `delta` (out × oh × ow) and `delta_prev` (in × h × w), all in standard
/// layout. Each tile of `Wᵀ Δ` (taps × positions), the error signal in columns, is added
/// onto the pixels its taps read, straight from the registers: col2im with no columns.
///
/// # Panics
///
/// If [`applies`] is false for `g` or the lengths do not match it.
pub(super) fn adjoint_input(g: Geometry, weight: &[f32], delta: &[f32], delta_prev: &mut [f32]) {
    adjoint_input_in(g, weight, delta, delta_prev, Registers::Widest);
}

/// [`adjoint_input`] with tiles that fill `registers`.
fn adjoint_input_in(
    g: Geometry,
    weight: &[f32],
    delta: &[f32],
    delta_prev: &mut [f32],
    registers: Registers,
) {
    assert!(applies(g), "conv2d: no direct kernel for {g:?}");
    let outputs = weight.len() / g.patch_len();
    assert_eq!(weight.len(), outputs * g.patch_len(), "conv2d: weight");
    assert_eq!(delta.len(), outputs * g.positions(), "conv2d: error signal");
    assert_eq!(
        delta_prev.len(),
        g.channels * g.height * g.width,
        "conv2d: the previous error signal"
    );
    delta_prev.fill(0.0);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (`applies`), and the lengths are checked above.
    // The stores follow the loads of `forward`: the eight floats under tap (c, i, j) of
    // the vector at output (y, x) are at c·H·W + (y + i)·W + x + j + 0..8, at most
    // (C − 1)·H·W + (oh − 1 + k − 1)·W + (ow − 8 + k − 1) + 7 = C·H·W − 1, since with
    // stride 1 and no padding oh + k − 1 = H and ow + k − 1 = W, and `ow` is a multiple
    // of eight so that no vector runs past the end of its output row.
    unsafe {
        avx2::InputJob {
            g,
            outputs,
            weight: weight.as_ptr(),
            delta: delta.as_ptr(),
            delta_prev: delta_prev.as_mut_ptr(),
        }
        .run(registers);
    }
}

/// `∇W[:, taps] += Σ_n Δ_n colsᵀ` over a block of samples: `images` (n × in × h × w) and
/// `deltas` (n × out × oh × ow) in standard layout, and `grad` the columns `taps` of the
/// weight gradient (out × in·k·k), with contiguous rows (unless it is one column wide).
///
/// # Panics
///
/// If [`applies`] is false for `g` or the shapes do not match it.
pub(super) fn adjoint_weight(
    g: Geometry,
    images: &[f32],
    deltas: &[f32],
    taps: std::ops::Range<usize>,
    grad: ArrayViewMut2<'_, f32>,
) {
    adjoint_weight_in(g, images, deltas, taps, grad, Registers::Widest);
}

/// The registers the weight adjoint's tiles fill: all of the widest instruction set the
/// CPU has, or AVX2's sixteen (to test that path on any CPU).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Registers {
    Widest,
    #[cfg_attr(not(test), allow(dead_code))]
    Avx2,
}

/// [`adjoint_weight`] with tiles that fill `registers`.
fn adjoint_weight_in(
    g: Geometry,
    images: &[f32],
    deltas: &[f32],
    taps: std::ops::Range<usize>,
    mut grad: ArrayViewMut2<'_, f32>,
    registers: Registers,
) {
    assert!(applies(g), "conv2d: no direct kernel for {g:?}");
    let image_len = g.channels * g.height * g.width;
    let samples = images.len() / image_len;
    let outputs = grad.nrows();
    assert_eq!(images.len(), samples * image_len, "conv2d: images");
    assert_eq!(
        deltas.len(),
        samples * outputs * g.positions(),
        "conv2d: deltas"
    );
    assert!(
        taps.end <= g.patch_len() && grad.ncols() == taps.len(),
        "conv2d: taps {taps:?} of a gradient with {} columns",
        grad.ncols()
    );
    assert!(
        grad.strides()[1] == 1 || taps.len() <= 1,
        "conv2d: the gradient's rows must be contiguous"
    );
    if outputs == 0 || taps.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the image is read as in `forward`, δ within the lengths checked above. The
    // gradient is a view of the shape checked above, borrowed mutably: the kernel writes
    // its elements alone, each at row · (its row stride) + column, and makes no slice
    // across rows, which may belong to other columns held by other threads.
    unsafe {
        avx2::WeightJob {
            g,
            samples,
            outputs,
            images: images.as_ptr(),
            deltas: deltas.as_ptr(),
            first_tap: taps.start,
            taps: taps.len(),
            grad: grad.as_mut_ptr(),
            grad_stride: grad.strides()[0],
        }
        .run(registers);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;

#[cfg(test)]
mod tests;

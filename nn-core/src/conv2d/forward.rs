//! The forward map of a batch: by the [`direct`] kernel where it applies, otherwise by
//! im2col and a matrix product per sample.

use ndarray::{ArrayView1, ArrayView2, ArrayView4, ArrayViewMut4, Axis, Zip};

use super::direct;
use super::geometry::check_shapes;
use super::unroll::{im2col, plane_matrix_mut, weight_matrix, with_cols};
use super::Geometry;
use crate::gemm::{matmul_planned, Plan, Write};
use crate::parallel::{for_each_sample, join, worth_splitting};
use crate::scalar::Scalar;

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
    let plan = Plan::new::<T>(w.nrows(), g.positions(), g.patch_len());
    for_each_sample(batch * w.len() * g.positions(), (a_prev, z), &|(
        a_prev,
        z,
    )| {
        let cut = w.nrows() / 2 / CUT * CUT;
        if a_prev.dim().0 == 1 && cut > 0 && worth_splitting(w.len() * g.positions()) {
            // One sample, and threads to share it: each computes half the output
            // channels, unrolling the sample (where it must) into its own scratch.
            // Cutting the product instead would have the second thread read the columns
            // the first unrolled, and the first overwrite them for the next sample while
            // the second's cache holds them.
            let (w_top, w_bottom) = w.split_at(Axis(0), cut);
            let (b_top, b_bottom) = bias.split_at(Axis(0), cut);
            let (z_top, z_bottom) = z.split_at(Axis(1), cut);
            let plan = plan.on_this_thread();
            join(
                || channels(g, w_top, b_top, a_prev, z_top, plan),
                || channels(g, w_bottom, b_bottom, a_prev, z_bottom, plan),
            );
        } else {
            channels(g, w, bias, a_prev, z, plan);
        }
    });
}

/// Output channels at which one sample's forward map is cut between threads: a multiple
/// of every micro-kernel's rows but AVX2's six (whose tiles would otherwise leave
/// ragged edges in pieces that the whole has not — a matter of speed, not of bits).
const CUT: usize = 8;

/// [`forward`] of the samples `a_prev` into the output channels of `w` (some or all of
/// the weight's rows, with their part of `bias` and of `z`): by the [`direct`] kernel
/// where it applies, else by unrolling each sample and multiplying by the whole
/// product's `plan`, so that each output sums as it would in the whole.
fn channels<T: Scalar>(
    g: Geometry,
    w: ArrayView2<'_, T>,
    bias: ArrayView1<'_, T>,
    a_prev: ArrayView4<'_, T>,
    mut z: ArrayViewMut4<'_, T>,
    plan: Plan,
) {
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
            matmul_planned(plan, w, cols.view(), Write::Add, z);
        }
    });
}

/// Whether the [`direct`] kernels take convolution `g` with `outputs` channels on a batch
/// of `batch`: the empty cases (no sample, channel or output) are left to the general
/// path, which needs no chunks of them.
pub(super) fn takes_direct(g: Geometry, outputs: usize, batch: usize) -> bool {
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

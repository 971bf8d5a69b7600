//! The two adjoints of a batch, `B(W, ·)*` and `B(·, a)*` with `C*`: by the [`direct`]
//! kernels where they apply, otherwise by matrix products with unrolled samples; the
//! weight adjoint split between threads so that every thread count gives the same sums.

use ndarray::{ArrayView2, ArrayView4, ArrayViewMut1, ArrayViewMut2, ArrayViewMut4, Axis, Zip};

use super::direct;
use super::forward::takes_direct;
use super::geometry::check_shapes;
use super::unroll::{col2im, im2col_taps, plane_matrix, weight_matrix, with_cols};
use super::Geometry;
use crate::gemm::{matmul, matmul_planned, Plan, Write};
use crate::parallel::{for_each_sample, join, join_if, worth_splitting};
use crate::scalar::{add_into, Scalar};
use crate::scratch::{with_scratch, Space};

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
                    matmul(w.t(), plane_matrix(delta), Write::Over, cols.view_mut());
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
                Write::Add,
                grad_w.view_mut(),
            );
        }
    });
}

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
        .chunks(direct::BLOCK * image_len)
        .zip(deltas.chunks(direct::BLOCK * delta_len));
    for (images, deltas) in blocks {
        direct::adjoint_weight(g, images, deltas, taps.clone(), grad_w.view_mut());
    }
    true
}

//! Helpers both pools' tests use: planes pooled through [`PoolKind`], worked examples,
//! and the checks whose statement is the same for both.

use ndarray::{array, s, Array, Array2, Array4, ArrayView4, Axis};

use super::PoolKind;
use crate::shape::Window;

/// A pooling window: no padding.
pub fn window(size: usize, stride: usize) -> Window {
    Window {
        size,
        stride,
        padding: 0,
    }
}

/// One plane as a batch of one sample with one channel.
fn as_batch(plane: &Array2<f64>) -> ArrayView4<'_, f64> {
    let (h, w) = plane.dim();
    plane.view().into_shape_with_order((1, 1, h, w)).unwrap()
}

/// The plane of a batch of one sample with one channel.
fn first_plane(batch: Array4<f64>) -> Array2<f64> {
    batch
        .index_axis_move(Axis(0), 0)
        .index_axis_move(Axis(0), 0)
}

/// Pools one plane.
pub fn pool<P: PoolKind>(window: Window, plane: &Array2<f64>) -> Array2<f64> {
    let (h, w) = plane.dim();
    let mut out = Array4::zeros((1, 1, window.output(h), window.output(w)));
    P::forward(window, as_batch(plane), out.view_mut());
    first_plane(out)
}

/// The adjoint at `plane` (which only the max pool reads) applied to `delta`, for one
/// plane.
pub fn unpool<P: PoolKind>(
    window: Window,
    plane: &Array2<f64>,
    delta: &Array2<f64>,
) -> Array2<f64> {
    let (h, w) = plane.dim();
    // Garbage in the output buffer: the adjoint must overwrite it, not add to it.
    let mut out = Array4::from_elem((1, 1, h, w), 7.0);
    P::adjoint_input(window, as_batch(plane), as_batch(delta), out.view_mut());
    first_plane(out)
}

/// A 7 × 5 plane for 2 × 2 windows at stride 2: 3 × 2 outputs, and a last row (all
/// 90) and column that must not be read.
pub fn partial_windows() -> Array2<f64> {
    array![
        [1.0, 9.0, 2.0, 1.0, 50.0],
        [3.0, 4.0, 8.0, 7.0, 60.0],
        [0.0, 2.0, 1.0, 3.0, 90.0],
        [5.0, 1.0, 4.0, 2.0, 0.0],
        [7.0, 3.0, 0.0, 6.0, 10.0],
        [2.0, 8.0, 5.0, 9.0, 40.0],
        [90.0, 90.0, 90.0, 90.0, 90.0],
    ]
}

/// A 4 × 4 plane for 3 × 3 windows at stride 1, which overlap.
pub fn overlapping() -> Array2<f64> {
    array![
        [1.0, 9.0, 2.0, 0.0],
        [3.0, 4.0, 8.0, 7.0],
        [0.0, 2.0, 1.0, 3.0],
        [5.0, 1.0, 4.0, 6.0],
    ]
}

/// A deterministic, irregular batch.
pub fn irregular(shape: (usize, usize, usize, usize), phase: f64) -> Array4<f64> {
    Array::from_shape_fn(shape, |(n, c, i, j)| {
        ((n * 13 + c * 7 + i * 5 + j * 3) as f64 + phase).sin()
    })
}

/// `⟨pool(a), δ⟩ = ⟨a, adjoint δ⟩` (for the max pool, of the selection at `a`), and
/// every window sends its δ somewhere: non-square planes, several channels, a batch of
/// two, overlapping windows (stride < size), gaps between them (stride > size), and
/// window sizes with and without a specialised loop.
pub fn assert_inner_product_identity<P: PoolKind>() {
    for (size, stride) in [(3, 2), (2, 3), (2, 1), (3, 3), (4, 3), (1, 2)] {
        let w = window(size, stride);
        let a = irregular((2, 3, 7, 9), 0.3);
        let shape = (2, 3, w.output(7), w.output(9));
        let delta = irregular(shape, 1.7);
        let mut pa = Array4::zeros(shape);
        P::forward(w, a.view(), pa.view_mut());
        let mut delta_prev = Array4::zeros(a.dim());
        P::adjoint_input(w, a.view(), delta.view(), delta_prev.view_mut());
        let lhs = (&pa * &delta).sum();
        let rhs = (&a * &delta_prev).sum();
        assert!((lhs - rhs).abs() < 1e-12, "{size}/{stride}: {lhs} vs {rhs}");
        assert!(
            (delta_prev.sum() - delta.sum()).abs() < 1e-12,
            "{size}/{stride}"
        );
    }
}

/// The strided fallback gives exactly what the slice path gives, for an input stored
/// channels-last or with its axes reversed, an error signal with its axes reversed,
/// and outputs written every other column.
pub fn assert_any_layout_gives_the_same_result<P: PoolKind>() {
    let w = window(3, 2);
    let a = irregular((2, 3, 7, 9), 0.3);
    let shape = (2, 3, 3, 4);
    let delta = irregular(shape, 1.1);
    let mut pa = Array4::zeros(shape);
    P::forward(w, a.view(), pa.view_mut());
    let mut delta_prev = Array4::zeros(a.dim());
    P::adjoint_input(w, a.view(), delta.view(), delta_prev.view_mut());

    // The same values stored channels-last, and with the axes reversed.
    let standard = |a: ArrayView4<'_, f64>| a.as_standard_layout().into_owned();
    let a_nhwc = standard(a.view().permuted_axes([0, 2, 3, 1]));
    let a_t = standard(a.view().reversed_axes());
    let delta_t = standard(delta.view().reversed_axes());
    let layouts = [
        a_nhwc.view().permuted_axes([0, 3, 1, 2]),
        a_t.view().reversed_axes(),
    ];
    for a_strided in layouts {
        assert!(!a_strided.is_standard_layout());
        let mut pa_big = Array4::zeros((2, 3, 3, 8));
        P::forward(w, a_strided, pa_big.slice_mut(s![.., .., .., ..;2]));
        assert_eq!(pa_big.slice(s![.., .., .., ..;2]), pa);

        let mut dp_big = Array4::from_elem((2, 3, 7, 18), 5.0);
        P::adjoint_input(
            w,
            a_strided,
            delta_t.view().reversed_axes(),
            dp_big.slice_mut(s![.., .., .., ..;2]),
        );
        assert_eq!(dp_big.slice(s![.., .., .., ..;2]), delta_prev);
        // The elements between were left alone.
        assert!(dp_big
            .slice(s![.., .., .., 1..;2])
            .iter()
            .all(|&v| v == 5.0));
    }
}

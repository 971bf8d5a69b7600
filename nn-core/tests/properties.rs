//! Property tests of the kernels at sizes drawn at random: each adjoint satisfies the
//! inner-product identity that defines it, and matches central differences, in f64.
//!
//! The identities `⟨B(W, a), δ⟩ = ⟨W, B(·, a)* δ⟩ = ⟨a, B(W, ·)* δ⟩` hold to rounding
//! (1e-10 relative here) for every size, stride and padding, so any indexing mistake in
//! an adjoint shows; the central differences check the forward maps' derivatives
//! against the same adjoints.

use ndarray::{Array, Array1, Array2, Array4, Dimension, ShapeBuilder};
use nn_core::conv2d::{self, Geometry};
use nn_core::shape::Window;
use nn_core::{avg_pool, dense, max_pool};
use proptest::prelude::*;

/// A deterministic array with irregular values from `seed`.
fn filled<Sh: ShapeBuilder>(shape: Sh, seed: u64) -> Array<f64, Sh::Dim> {
    let mut state = seed | 1;
    Array::from_shape_simple_fn(shape, || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    })
}

fn inner<D: Dimension>(a: &Array<f64, D>, b: &Array<f64, D>) -> f64 {
    (a * b).sum()
}

/// `|x − y| ≤ 1e-10 · scale`, with `scale` the size of the terms that were summed.
fn assert_close(x: f64, y: f64, scale: f64, what: &str) {
    assert!(
        (x - y).abs() <= 1e-10 * scale.max(1.0),
        "{what}: {x} vs {y} (scale {scale})"
    );
}

/// A geometry whose kernel fits the padded input.
fn geometry() -> impl Strategy<Value = Geometry> {
    (
        1..4usize,
        1..9usize,
        1..9usize,
        1..5usize,
        1..4usize,
        0..3usize,
    )
        .prop_filter("the kernel fits the padded input", |&(_, h, w, k, _, p)| {
            k <= h + 2 * p && k <= w + 2 * p
        })
        .prop_map(
            |(channels, height, width, size, stride, padding)| Geometry {
                channels,
                height,
                width,
                window: Window {
                    size,
                    stride,
                    padding,
                },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn dense_adjoints(batch in 1..6usize, inputs in 1..20usize, outputs in 1..20usize, seed in any::<u64>()) {
        let (w, a, delta) = (
            filled((outputs, inputs), seed),
            filled((batch, inputs), seed ^ 1),
            filled((batch, outputs), seed ^ 2),
        );
        let mut z = Array2::zeros((batch, outputs));
        dense::forward(w.view(), Array1::zeros(outputs).view(), a.view(), z.view_mut());
        let lhs = inner(&z, &delta);
        let (mut grad_w, mut grad_b) = (Array2::zeros(w.dim()), Array1::zeros(outputs));
        dense::adjoint_weight(delta.view(), a.view(), grad_w.view_mut(), grad_b.view_mut());
        let scale = (batch * inputs) as f64;
        assert_close(lhs, inner(&w, &grad_w), scale, "⟨W, ∇W⟩");
        let mut delta_prev = Array2::from_elem(a.dim(), f64::NAN);
        dense::adjoint_input(w.view(), delta.view(), delta_prev.view_mut());
        assert_close(lhs, inner(&a, &delta_prev), scale, "⟨a, Δ_prev⟩");
        assert_close(grad_b.sum(), delta.sum(), scale, "C* δ");
    }

    #[test]
    fn conv2d_adjoints(g in geometry(), batch in 1..3usize, outputs in 1..4usize, seed in any::<u64>()) {
        let (oh, ow) = (g.out_height(), g.out_width());
        let k = g.window.size;
        let w = filled((outputs, g.channels, k, k), seed);
        let a = filled((batch, g.channels, g.height, g.width), seed ^ 1);
        let delta = filled((batch, outputs, oh, ow), seed ^ 2);
        let mut z = Array4::zeros((batch, outputs, oh, ow));
        conv2d::forward(g, w.view(), Array1::zeros(outputs).view(), a.view(), z.view_mut());
        let lhs = inner(&z, &delta);
        let (mut grad_w, mut grad_b) = (Array4::zeros(w.dim()), Array1::zeros(outputs));
        conv2d::adjoint_weight(g, delta.view(), a.view(), grad_w.view_mut(), grad_b.view_mut());
        let scale = (batch * g.patch_len() * g.positions()) as f64;
        assert_close(lhs, inner(&w, &grad_w), scale, "⟨W, ∇W⟩");
        let mut delta_prev = Array4::from_elem(a.dim(), f64::NAN);
        conv2d::adjoint_input(g, w.view(), delta.view(), delta_prev.view_mut());
        assert_close(lhs, inner(&a, &delta_prev), scale, "⟨a, Δ_prev⟩");
        assert_close(grad_b.sum(), delta.sum(), scale, "C* δ");

        // The forward map's derivative in one weight and one input pixel, by central
        // differences of the linear map ⟨z, δ⟩ (exact up to rounding).
        let h = 1e-3;
        let loss = |w: &Array4<f64>, a: &Array4<f64>| {
            let mut z = Array4::zeros((batch, outputs, oh, ow));
            conv2d::forward(g, w.view(), Array1::zeros(outputs).view(), a.view(), z.view_mut());
            inner(&z, &delta)
        };
        let iw = (seed as usize % outputs, 0, k / 2, k - 1);
        let (mut wp, mut wm) = (w.clone(), w.clone());
        wp[iw] += h;
        wm[iw] -= h;
        assert_close((loss(&wp, &a) - loss(&wm, &a)) / (2.0 * h), grad_w[iw], scale, "∂/∂W");
        let ia = (batch - 1, g.channels - 1, g.height / 2, g.width - 1);
        let (mut ap, mut am) = (a.clone(), a.clone());
        ap[ia] += h;
        am[ia] -= h;
        assert_close((loss(&w, &ap) - loss(&w, &am)) / (2.0 * h), delta_prev[ia], scale, "∂/∂a");
    }

    #[test]
    fn pooling_adjoints(
        (channels, height, width) in (1..4usize, 1..10usize, 1..10usize),
        (size, stride) in (1..5usize, 1..5usize),
        seed in any::<u64>(),
    ) {
        prop_assume!(size <= height && size <= width);
        let window = Window { size, stride, padding: 0 };
        let (oh, ow) = (window.output(height), window.output(width));
        let a = filled((2, channels, height, width), seed);
        let delta = filled((2, channels, oh, ow), seed ^ 1);
        let scale = a.len() as f64;

        // For a fixed input, max pooling is a linear selection P_a.
        let mut z = Array4::zeros(delta.dim());
        max_pool::forward(window, a.view(), z.view_mut());
        let mut delta_prev = Array4::from_elem(a.dim(), f64::NAN);
        max_pool::adjoint_input(window, a.view(), delta.view(), delta_prev.view_mut());
        assert_close(inner(&z, &delta), inner(&a, &delta_prev), scale, "max pool");

        let mut z = Array4::zeros(delta.dim());
        avg_pool::forward(window, a.view(), z.view_mut());
        let mut delta_prev = Array4::from_elem(a.dim(), f64::NAN);
        avg_pool::adjoint_input(window, delta.view(), delta_prev.view_mut());
        assert_close(inner(&z, &delta), inner(&a, &delta_prev), scale, "avg pool");
    }
}

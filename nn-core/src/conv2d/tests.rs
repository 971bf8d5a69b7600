//! The convolution against its definition: the forward map entry by entry, the adjoints by
//! the inner-product identity and central differences, unrolling at the edges, and the
//! `f32` layer against the generic kernels.

use super::unroll::copy_run;
use super::*;
use crate::network::Parameters;
use crate::test_support::assert_central_differences;
use ndarray::{Array, Array2, Array3, Axis};
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

    assert_central_differences("the weight", &w, &grad_w, |w| loss(w, &b, &a));
    assert_central_differences("the bias", &b, &grad_b, |b| loss(&w, b, &a));
    assert_central_differences("the input", &a, &grad_a, |a| loss(&w, &b, a));
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
        let window = Window {
            size,
            stride,
            padding,
        };
        let g = Geometry {
            channels: 2,
            height,
            width,
            window,
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

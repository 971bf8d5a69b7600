//! The pool against worked examples (partial and overlapping windows, ties, NaNs), its
//! adjoint by the inner-product identity and central differences, every layout, and the
//! 2 × 2 path against the general one.

use super::*;
use crate::layer::Layer;
use crate::network::Parameters;
use crate::pool::test_support::{
    assert_any_layout_gives_the_same_result, assert_inner_product_identity, irregular, overlapping,
    partial_windows, pool, unpool, window,
};
use crate::shape::{Image, LayerShape};
use crate::test_support::assert_central_differences;
use ndarray::{array, Array, Array2, Array4};
use typenum::{U12, U2, U24, U3, U6, U7, U9};

/// A batch whose elements are distinct and at least 0.01 apart, in an irregular
/// order: `k ↦ 101 k mod len` permutes the indices, as 101 is prime to the length.
fn distinct(shape: (usize, usize, usize, usize)) -> Array4<f64> {
    let len = shape.0 * shape.1 * shape.2 * shape.3;
    assert!(!len.is_multiple_of(101));
    let values: Vec<f64> = (0..len)
        .map(|k| ((101 * k) % len) as f64 * 0.01 - 1.0)
        .collect();
    Array::from_shape_vec(shape, values).unwrap()
}

#[test]
fn forward_drops_partial_windows() {
    assert_eq!(
        pool::<Max>(window(2, 2), &partial_windows()),
        array![[9.0, 8.0], [5.0, 4.0], [8.0, 9.0]]
    );
}

#[test]
fn overlapping_windows_share_their_maximum_and_add_its_error_signals() {
    let x = overlapping();
    assert_eq!(
        pool::<Max>(window(3, 1), &x),
        array![[9.0, 9.0], [8.0, 8.0]]
    );
    // The 9 is the maximum of both upper windows, the 8 of both lower ones.
    let delta = array![[1.0, 2.0], [3.0, 4.0]];
    assert_eq!(
        unpool::<Max>(window(3, 1), &x, &delta),
        array![
            [0.0, 3.0, 0.0, 0.0],
            [0.0, 0.0, 7.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    );
}

#[test]
fn ties_send_the_whole_error_signal_to_the_first_maximum_in_row_major_order() {
    // Column-major order would pick (1, 0) in the first window.
    let x = array![[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]];
    let delta = array![[5.0, 7.0]];
    assert_eq!(pool::<Max>(window(2, 2), &x), array![[3.0, 2.0]]);
    assert_eq!(
        unpool::<Max>(window(2, 2), &x, &delta),
        array![[0.0, 5.0, 7.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    );
    // All −∞: still one element selected, the first.
    let x = Array2::from_elem((2, 2), f64::NEG_INFINITY);
    assert_eq!(pool::<Max>(window(2, 2), &x), array![[f64::NEG_INFINITY]]);
    assert_eq!(
        unpool::<Max>(window(2, 2), &x, &array![[1.0]]),
        array![[1.0, 0.0], [0.0, 0.0]]
    );
}

#[test]
fn nan_propagates_and_takes_the_error_signal() {
    let nan = f64::NAN;
    // A NaN first, after a larger value, last, and two of them (the later one is
    // selected, as in PyTorch): each window's output is NaN.
    let x = array![
        [nan, 5.0, 1.0, 9.0, 1.0, 2.0, nan, 1.0],
        [1.0, 2.0, nan, 3.0, 3.0, nan, nan, 2.0],
    ];
    let y = pool::<Max>(window(2, 2), &x);
    assert!(y.iter().all(|v| v.is_nan()), "{y}");
    let delta = array![[1.0, 2.0, 3.0, 4.0]];
    assert_eq!(
        unpool::<Max>(window(2, 2), &x, &delta),
        array![
            [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 4.0, 0.0]
        ]
    );
}

/// For a fixed `a` the pool is the linear selection `P_a`, and its adjoint satisfies
/// `⟨P_a a, δ⟩ = ⟨a, P_a* δ⟩`: non-square planes, several channels, a batch of two,
/// overlapping windows (stride < size), gaps between them (stride > size), and
/// window sizes with and without a specialised loop.
#[test]
fn adjoint_satisfies_the_inner_product_identity() {
    assert_inner_product_identity::<Max>();
}

/// Central differences of `L(a) = ⟨pool(a), R⟩` against `P_a* R`. With distinct inputs
/// 0.01 apart no window changes its maximum within `h`, and `L` is linear there, so
/// the difference quotient is exact up to rounding.
#[test]
fn adjoint_matches_central_differences() {
    for (size, stride) in [(2, 2), (3, 1), (2, 1), (4, 2)] {
        let w = window(size, stride);
        let a = distinct((2, 2, 5, 7));
        let shape = (2, 2, w.output(5), w.output(7));
        let r = irregular(shape, 0.9);
        let loss = |a: &Array4<f64>| {
            let mut z = Array4::zeros(shape);
            forward(w, a.view(), z.view_mut());
            (&z * &r).sum()
        };
        let mut grad = Array4::zeros(a.dim());
        adjoint_input(w, a.view(), r.view(), grad.view_mut());
        assert_central_differences(&format!("{size}/{stride}"), &a, &grad, loss);
    }
}

/// The strided fallback gives exactly what the slice path gives.
#[test]
fn any_layout_gives_the_same_result() {
    assert_any_layout_gives_the_same_result::<Max>();
}

#[test]
#[should_panic(
    expected = "max_pool::forward: a 2×2 window at stride 2 pools an input of shape (1, 1, 7, 5) into (1, 1, 3, 2), got (1, 1, 4, 3)"
)]
fn wrong_output_shape_is_reported() {
    forward(
        window(2, 2),
        Array4::<f64>::zeros((1, 1, 7, 5)).view(),
        Array4::zeros((1, 1, 4, 3)).view_mut(),
    );
}

#[test]
#[should_panic(
    expected = "max_pool::adjoint_input: a 3×3 window does not fit in a 7×2 input plane"
)]
fn window_larger_than_the_input_is_reported() {
    adjoint_input(
        window(3, 1),
        Array4::<f64>::zeros((1, 1, 7, 2)).view(),
        Array4::zeros((1, 1, 5, 1)).view(),
        Array4::zeros((1, 1, 7, 2)).view_mut(),
    );
}

#[test]
fn typed_layer_knows_its_shapes_and_has_no_parameters() {
    fn output<L: LayerShape<Output = Out>, Out>() {}
    output::<MaxPool2d<Image<U6, U24, U24>, U2>, Image<U6, U12, U12>>();
    output::<MaxPool2d<Image<U3, U7, U9>, U3, U2>, Image<U3, U3, typenum::U4>>();
    assert_eq!(
        std::any::type_name::<<MaxPool2d<Image<U6, U24, U24>, U2> as LayerShape>::Output>(),
        std::any::type_name::<Image<U6, U12, U12>>()
    );
    type Lenet = MaxPool2d<Image<U6, U24, U24>, U2>;
    assert_eq!((Lenet::OUT_HEIGHT, Lenet::OUT_WIDTH), (12, 12));
    assert_eq!(Lenet::WINDOW, window(2, 2));
    type Odd = MaxPool2d<Image<U3, U7, U9>, U3, U2>;
    assert_eq!((Odd::OUT_HEIGHT, Odd::OUT_WIDTH), (3, 4));
    assert_eq!(Lenet::new().param_names(), [] as [&str; 0]);
    assert_eq!(Lenet::new(), Lenet::default());
    assert_eq!(format!("{:?}", Lenet::new()), "MaxPool2d");

    // The f32 layer computes what the f64 kernel does.
    let a = irregular((2, 3, 7, 9), 0.5);
    let mut expected = Array4::zeros((2, 3, 3, 4));
    forward(Odd::WINDOW, a.view(), expected.view_mut());
    let mut got = Array4::<f32>::zeros((2, 3, 3, 4));
    Odd::new().forward(a.mapv(|v| v as f32).view(), got.view_mut());
    assert_eq!(got, expected.mapv(|v| v as f32));
}

#[test]
#[should_panic(expected = "parameter index 0 is out of range for `MaxPool2d`")]
fn typed_layer_has_no_parameter_zero() {
    MaxPool2d::<Image<U6, U24, U24>, U2>::new().param(0);
}

#[test]
#[should_panic(
    expected = "`MaxPool2d` expects a batch of shape [batch, 3, 7, 9], got [2, 3, 9, 7]"
)]
fn typed_layer_rejects_another_input_shape() {
    MaxPool2d::<Image<U3, U7, U9>, U3, U2>::new().forward(
        Array4::zeros((2, 3, 9, 7)).view(),
        Array4::zeros((2, 3, 4, 3)).view_mut(),
    );
}

/// The restated rule of the 2 × 2 path against the scan of [`displaces`], on every
/// window of five values that tie, order and propagate differently.
#[test]
fn the_2x2_selection_is_the_scan_on_every_window() {
    let values = [f64::NAN, f64::NEG_INFINITY, -0.0, 0.0, 1.0];
    for code in 0..values.len().pow(4) {
        let window: [f64; 4] =
            std::array::from_fn(|i| values[code / values.len().pow(i as u32) % values.len()]);
        let mut scan = (0, window[0]);
        for (place, &v) in window.iter().enumerate().skip(1) {
            if displaces(v, scan.1) {
                scan = (place, v);
            }
        }
        assert_eq!(arg_max_2x2(window), scan.0, "{window:?}");
    }
}

/// The same on windows laid side by side in f32, so that all but the last go
/// through the vector path, which sends δ (−0 included) where the scan selects.
#[test]
fn the_vector_path_selects_as_the_scan_on_every_window() {
    let values = [f32::NAN, f32::NEG_INFINITY, -0.0, 0.0, 1.0];
    let count = values.len().pow(4);
    let mut x = Array4::<f32>::zeros((1, 1, 2, 2 * count));
    let delta = Array4::from_shape_fn((1, 1, 1, count), |(.., j)| {
        if j % 7 == 0 {
            -0.0
        } else {
            j as f32 + 1.0
        }
    });
    for code in 0..count {
        for i in 0..4 {
            x[[0, 0, i / 2, 2 * code + i % 2]] =
                values[code / values.len().pow(i as u32) % values.len()];
        }
    }
    let mut delta_prev = Array4::from_elem(x.dim(), 9.0f32);
    adjoint_input(window(2, 2), x.view(), delta.view(), delta_prev.view_mut());
    for code in 0..count {
        let window: [f32; 4] = std::array::from_fn(|i| x[[0, 0, i / 2, 2 * code + i % 2]]);
        let mut scan = (0, window[0]);
        for (place, &v) in window.iter().enumerate().skip(1) {
            if displaces(v, scan.1) {
                scan = (place, v);
            }
        }
        for i in 0..4 {
            let got = delta_prev[[0, 0, i / 2, 2 * code + i % 2]];
            let want = if i == scan.0 {
                0.0 + delta[[0, 0, 0, code]]
            } else {
                0.0
            };
            assert_eq!(got.to_bits(), want.to_bits(), "{window:?}, element {i}");
        }
    }
}

/// The 2 × 2, stride 2 path (contiguous planes) and the general one (the same numbers
/// read through a strided view) select the same elements, ties, infinities and NaNs
/// included, for even and odd heights and widths.
#[test]
fn the_2x2_path_agrees_with_the_general_one() {
    let w = window(2, 2);
    for (h, wd) in [
        (4, 6),
        (6, 5),
        (5, 7),
        (8, 8),
        (2, 3),
        (3, 2),
        (2, 35),
        (2, 8),
        (6, 24),
        (11, 11),
        (9, 16),
    ] {
        // Few distinct values, so that windows tie often.
        let mut x = Array4::from_shape_fn((2, 3, h, wd), |(n, c, i, j)| {
            f64::from(((n * 7 + c * 5 + i * 3 + j * 11) % 4) as u8)
        });
        x[[0, 0, 0, 1]] = f64::NAN;
        x[[1, 2, 1, 0]] = f64::NAN;
        x[[1, 2, 1, 1]] = f64::NAN;
        x[[0, 1, 0, 0]] = f64::NEG_INFINITY;
        let (oh, ow) = (w.output(h), w.output(wd));
        let mut delta = Array4::from_shape_fn((2, 3, oh, ow), |(n, c, i, j)| {
            1.0 + (n * 100 + c * 10 + i * 3 + j) as f64
        });
        delta[[0, 0, 0, 0]] = -0.0;
        delta[[1, 1, oh - 1, ow - 1]] = -0.0;
        // The same numbers stored with the planes' axes swapped: not packed.
        let mut swapped = Array4::zeros((2, 3, wd, h));
        swapped.assign(&x.view().permuted_axes([0, 1, 3, 2]));
        let strided = swapped.view().permuted_axes([0, 1, 3, 2]);

        let mut fast = Array4::zeros((2, 3, oh, ow));
        let mut general = Array4::zeros((2, 3, oh, ow));
        forward(w, x.view(), fast.view_mut());
        forward(w, strided, general.view_mut());
        let bits = |a: &Array4<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&general), "forward, {h}×{wd}");

        let mut fast = Array4::from_elem((2, 3, h, wd), 9.0);
        let mut general = Array4::from_elem((2, 3, h, wd), 9.0);
        adjoint_input(w, x.view(), delta.view(), fast.view_mut());
        adjoint_input(w, strided, delta.view(), general.view_mut());
        assert_eq!(bits(&fast), bits(&general), "adjoint, {h}×{wd}");

        // In f32, whose rows of four windows or more take the vector path, and for
        // the first sample alone, so that the number of groups of four can be odd.
        let x32 = x.slice(ndarray::s![..1, .., .., ..]).mapv(|v| v as f32);
        let delta32 = delta.slice(ndarray::s![..1, .., .., ..]).mapv(|v| v as f32);
        let general32 = general
            .slice(ndarray::s![..1, .., .., ..])
            .mapv(|v| v as f32);
        let mut fast32 = Array4::from_elem(x32.dim(), 9.0f32);
        adjoint_input(w, x32.view(), delta32.view(), fast32.view_mut());
        let bits32 = |a: &Array4<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits32(&fast32), bits32(&general32), "f32 adjoint, {h}×{wd}");
    }
}

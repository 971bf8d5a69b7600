//! Average pooling: PyTorch's `nn.AvgPool2d(k, stride=s)` (no padding, floor mode).
//!
//! Each channel of each sample is cut into `k × k` windows whose corners lie `s` apart,
//! and each window gives the mean of its `k²` elements. A window that would run past the
//! bottom or right edge is dropped, so an `h × w` plane gives
//! `((h − k)/s + 1) × ((w − k)/s + 1)`.
//!
//! The pool carries no parameters and is a linear map `P`, the same for every input, so
//! the backward pass is its adjoint alone, which needs no input: each window's error
//! signal is shared equally among the elements it averaged, adding where windows overlap
//! (`s < k`):
//!
//! ```text
//! forward          a      = P a_prev        the mean of each window
//! adjoint_input    δ_prev = P* δ            δ/k² added to each element of its window
//! ```
//!
//! Both divide by `k²` after summing, as PyTorch does, rather than multiplying by `1/k²`.

use ndarray::{ArrayView4, ArrayViewMut4};

use crate::parallel::{for_each_sample, VISIT};
use crate::pool::{planes, planes_mut, Avg, Pool2d, PoolKind, Windows};
use crate::scalar::Scalar;
use crate::shape::Window;

/// Average pooling of a batch `a_prev` (N × C × H × W) into `a` (N × C × OH × OW), where
/// `OH = window.output(H)` and `OW = window.output(W)`.
///
/// # Panics
///
/// If `window` has padding, a zero size or stride, or does not fit in an input plane,
/// or if `a` does not have the shape the pool gives.
#[track_caller]
pub fn forward<T: Scalar>(window: Window, a_prev: ArrayView4<'_, T>, a: ArrayViewMut4<'_, T>) {
    let windows = Windows::check("avg_pool::forward", window, a_prev.dim(), a.dim());
    let area = area::<T>(window);
    for_each_sample(VISIT * a_prev.len(), (a_prev, a), &|(a_prev, a)| {
        windows.pool(a_prev, a, |input, square| {
            input.fold(square, T::zero(), |sum, _, v| sum + v) / area
        });
    });
}

/// `δ_prev = P* δ`: the error signal `delta` (N × C × OH × OW) of each window divided by
/// `k²` and added to every element of that window, written into `delta_prev`
/// (N × C × H × W), which is zero wherever no window reaches.
///
/// # Panics
///
/// As [`forward`], with `delta_prev` in place of the input and `delta` of the output.
#[track_caller]
pub fn adjoint_input<T: Scalar>(
    window: Window,
    delta: ArrayView4<'_, T>,
    delta_prev: ArrayViewMut4<'_, T>,
) {
    let windows = Windows::check(
        "avg_pool::adjoint_input",
        window,
        delta_prev.dim(),
        delta.dim(),
    );
    let area = area::<T>(window);
    let work = VISIT * delta_prev.len();
    for_each_sample(work, (delta, delta_prev), &|(delta, mut delta_prev)| {
        delta_prev.fill(T::zero());
        for (delta, mut delta_prev) in planes(delta).zip(planes_mut(delta_prev)) {
            windows.for_each(|i, j, square| {
                let share = delta.at(i, j) / area;
                delta_prev.for_each_in(square, |g| *g += share);
            });
        }
    });
}

/// `k²`, the number of elements a window averages.
fn area<T: Scalar>(window: Window) -> T {
    T::from_usize(window.size * window.size).expect("a window area is representable")
}

/// Average pooling over `K × K` windows at stride `S` (by default `K`, non-overlapping)
/// of images of shape `I`, with the output shape in its type
/// ([`crate::shape::LayerShape`]).
pub type AvgPool2d<I, K, S = K, T = f32> = Pool2d<Avg, I, K, S, T>;

impl PoolKind for Avg {
    const NAME: &'static str = "AvgPool2d";
    const TAKES_AN_IMAGE: &'static str = crate::shape::takes_an_image!("AvgPool2d");

    fn forward<T: Scalar>(window: Window, a_prev: ArrayView4<'_, T>, a: ArrayViewMut4<'_, T>) {
        forward(window, a_prev, a);
    }

    fn adjoint_input<T: Scalar>(
        window: Window,
        _a_prev: ArrayView4<'_, T>,
        delta: ArrayView4<'_, T>,
        delta_prev: ArrayViewMut4<'_, T>,
    ) {
        adjoint_input(window, delta, delta_prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Layer;
    use crate::network::Parameters;
    use crate::pool::test_support::{
        assert_any_layout_gives_the_same_result, assert_inner_product_identity, irregular,
        overlapping, partial_windows, pool, unpool, window,
    };
    use crate::shape::{Image, LayerShape};
    use ndarray::{array, Array2, Array4};
    use typenum::{U12, U2, U24, U3, U4, U6, U7, U9};

    #[test]
    fn forward_drops_partial_windows() {
        assert_eq!(
            pool::<Avg>(window(2, 2), &partial_windows()),
            array![[4.25, 4.5], [2.0, 2.5], [5.0, 5.0]]
        );
    }

    #[test]
    fn overlapping_windows_share_their_elements() {
        let x = overlapping();
        assert_eq!(
            pool::<Avg>(window(3, 1), &x),
            array![[30.0 / 9.0, 4.0], [28.0 / 9.0, 4.0]]
        );
        // Each element receives δ/9 from every window that covers it: the middle four
        // from all of them.
        let delta = array![[1.0, 2.0], [3.0, 4.0]];
        let covered = array![
            [1.0, 3.0, 3.0, 2.0],
            [4.0, 10.0, 10.0, 6.0],
            [4.0, 10.0, 10.0, 6.0],
            [3.0, 7.0, 7.0, 4.0],
        ];
        // Adding 3/9 and 4/9 need not round like 7/9: compare to rounding.
        let error = unpool::<Avg>(window(3, 1), &x, &delta) - covered / 9.0;
        assert!(error.iter().all(|e| e.abs() < 1e-15), "{error}");
        // With gaps between windows (stride > size) and a dropped edge, the elements no
        // window covers get zero. (Of the input, the adjoint reads only the shape.)
        let x = Array2::zeros((2, 4));
        assert_eq!(
            unpool::<Avg>(window(1, 2), &x, &array![[1.0, 2.0]]),
            array![[1.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
        );
    }

    /// `⟨P a, δ⟩ = ⟨a, P* δ⟩`: non-square planes, several channels, a batch of two,
    /// overlapping windows (stride < size), gaps between them (stride > size), and
    /// window sizes with and without a specialised loop.
    #[test]
    fn adjoint_satisfies_the_inner_product_identity() {
        assert_inner_product_identity::<Avg>();
    }

    /// The strided fallback gives exactly what the slice path gives.
    #[test]
    fn any_layout_gives_the_same_result() {
        assert_any_layout_gives_the_same_result::<Avg>();
    }

    #[test]
    #[should_panic(
        expected = "avg_pool::adjoint_input: a 3×3 window at stride 2 pools an input of shape (2, 3, 7, 9) into (2, 3, 3, 4), got (2, 3, 3, 3)"
    )]
    fn wrong_error_signal_shape_is_reported() {
        adjoint_input(
            window(3, 2),
            Array4::<f64>::zeros((2, 3, 3, 3)).view(),
            Array4::zeros((2, 3, 7, 9)).view_mut(),
        );
    }

    #[test]
    fn typed_layer_knows_its_shapes_and_has_no_parameters() {
        fn output<L: LayerShape<Output = Out>, Out>() {}
        output::<AvgPool2d<Image<U6, U24, U24>, U2>, Image<U6, U12, U12>>();
        output::<AvgPool2d<Image<U3, U7, U9>, U3, U2>, Image<U3, U3, U4>>();
        type Odd = AvgPool2d<Image<U3, U7, U9>, U3, U2>;
        assert_eq!((Odd::OUT_HEIGHT, Odd::OUT_WIDTH), (3, 4));
        assert_eq!(Odd::WINDOW, window(3, 2));
        assert_eq!(Odd::new().param_names(), [] as [&str; 0]);
        assert_eq!(format!("{:?}", Odd::default()), "AvgPool2d");

        // The f32 layer computes what the f64 kernels do.
        let a = irregular((2, 3, 7, 9), 0.5);
        let mut expected = Array4::zeros((2, 3, 3, 4));
        forward(Odd::WINDOW, a.view(), expected.view_mut());
        let mut got = Array4::<f32>::zeros((2, 3, 3, 4));
        Odd::new().forward(a.mapv(|v| v as f32).view(), got.view_mut());
        assert!(got
            .iter()
            .zip(&expected)
            .all(|(&g, &e)| (f64::from(g) - e).abs() < 1e-6));

        let delta = irregular((2, 3, 3, 4), 0.2);
        let mut expected = Array4::zeros((2, 3, 7, 9));
        adjoint_input(Odd::WINDOW, delta.view(), expected.view_mut());
        let mut got = Array4::<f32>::zeros((2, 3, 7, 9));
        let a = a.mapv(|v| v as f32);
        Odd::new().adjoint_input(a.view(), delta.mapv(|v| v as f32).view(), got.view_mut());
        assert!(got
            .iter()
            .zip(&expected)
            .all(|(&g, &e)| (f64::from(g) - e).abs() < 1e-6));
    }

    #[test]
    #[should_panic(expected = "parameter index 0 is out of range for `AvgPool2d`")]
    fn typed_layer_has_no_parameter_zero() {
        AvgPool2d::<Image<U6, U24, U24>, U2>::new().param(0);
    }
}

//! Max pooling: PyTorch's `nn.MaxPool2d(k, stride=s)` (no padding, no dilation, floor
//! mode).
//!
//! Each channel of each sample is cut into `k × k` windows whose corners lie `s` apart,
//! and each window gives its largest element. A window that would run past the bottom or
//! right edge is dropped, so an `h × w` plane gives `((h − k)/s + 1) × ((w − k)/s + 1)`.
//!
//! The pool carries no parameters and is not linear, but near a fixed input `a` it agrees
//! with the linear selection `P_a` that takes from each window the element where the
//! maximum lies: its Fréchet derivative at `a` is `P_a`. So the backward pass is one
//! adjoint, which sends the error signal of each window back to the element it was
//! selected from, adding where windows overlap (`s < k`):
//!
//! ```text
//! forward          a      = P_a a_prev      the maximum of each window
//! adjoint_input    δ_prev = P_a* δ          δ of each window added at its arg-max
//! ```
//!
//! The selection is not stored: [`adjoint_input`] recomputes it from `a_prev` by the
//! same rule as [`forward`] (one function says which element displaces which), so the two
//! cannot disagree and no index buffer is kept. 2 × 2 windows at stride 2 over
//! contiguous planes of even height, the pool of nearly every network, take a path of
//! their own, over all the planes of a batch at once and with no branch on the data; a
//! test holds it to the general one bit for bit.
//! Where elements tie the pool is not differentiable; like PyTorch's CPU kernel the first
//! maximum in row-major order is selected, so it receives the window's whole δ. A NaN is
//! selected whenever it is met, and nothing displaces it but a later NaN, so a NaN in a
//! window propagates to the output, again as in PyTorch.
//!
//! The window geometry and the plane access are shared with [`crate::avg_pool`].

use ndarray::{ArrayView4, ArrayViewMut4};

use crate::parallel::{for_each_sample, VISIT};
use crate::pool::{planes, planes_mut, Max, Plane, Pool2d, PoolKind, Square, Windows};
use crate::scalar::Scalar;
use crate::shape::Window;

/// Max pooling of a batch `a_prev` (N × C × H × W) into `a` (N × C × OH × OW), where
/// `OH = window.output(H)` and `OW = window.output(W)`.
///
/// # Panics
///
/// If `window` has padding, a zero size or stride, or does not fit in an input plane,
/// or if `a` does not have the shape the pool gives.
#[track_caller]
pub fn forward<T: Scalar>(window: Window, a_prev: ArrayView4<'_, T>, a: ArrayViewMut4<'_, T>) {
    let windows = Windows::check("max_pool::forward", window, a_prev.dim(), a.dim());
    let tiled = tiles_2x2(window, a_prev.dim());
    for_each_sample(VISIT * a_prev.len(), (a_prev, a), &|(a_prev, mut a)| {
        if let (true, Some(input), Some(output)) = (tiled, a_prev.as_slice(), a.as_slice_mut()) {
            forward_2x2(input, a_prev.dim().3, output, windows.out_width);
            return;
        }
        for (input, mut output) in planes(a_prev).zip(planes_mut(a)) {
            windows.for_each(|i, j, square| {
                *output.at_mut(i, j) = arg_max(&input, square).1;
            });
        }
    });
}

/// `δ_prev = P_a* δ`: the error signal `delta` (N × C × OH × OW) of each window added to
/// the element of `a_prev` (N × C × H × W) that [`forward`] selected from it, written
/// into `delta_prev` (N × C × H × W), which is zero wherever nothing was selected.
///
/// # Panics
///
/// As [`forward`] for `a_prev` and `delta`, and if `delta_prev` is not shaped like
/// `a_prev`.
#[track_caller]
pub fn adjoint_input<T: Scalar>(
    window: Window,
    a_prev: ArrayView4<'_, T>,
    delta: ArrayView4<'_, T>,
    delta_prev: ArrayViewMut4<'_, T>,
) {
    let windows = Windows::check("max_pool::adjoint_input", window, a_prev.dim(), delta.dim());
    assert!(
        delta_prev.dim() == a_prev.dim(),
        "max_pool::adjoint_input: delta_prev must be shaped like a_prev {:?}, got {:?}",
        a_prev.shape(),
        delta_prev.shape()
    );
    let work = VISIT * a_prev.len();
    let tiled = tiles_2x2(window, a_prev.dim());
    for_each_sample(work, (a_prev, delta, delta_prev), &|(
        a_prev,
        delta,
        mut delta_prev,
    )| {
        if let (true, Some(input), Some(d), Some(out)) = (
            tiled,
            a_prev.as_slice(),
            delta.as_slice(),
            delta_prev.as_slice_mut(),
        ) {
            adjoint_2x2(input, a_prev.dim().3, d, windows.out_width, out);
            return;
        }
        let triples = planes(a_prev)
            .zip(planes(delta))
            .zip(planes_mut(delta_prev));
        for ((input, delta), mut delta_prev) in triples {
            delta_prev.fill_zero();
            windows.for_each(|i, j, square| {
                let ((r, c), _) = arg_max(&input, square);
                let target = delta_prev.at_mut(r, c);
                *target += delta.at(i, j);
            });
        }
    });
}

/// Whether `v`, met after `best` in a window, displaces it as the selected element: the
/// single definition of the selection `P_a`, used by both [`forward`] and
/// [`adjoint_input`] whatever the layout.
///
/// The test is PyTorch's CPU kernel, `v > best || isnan(v)` from `best = −∞`: the first
/// of equal maxima wins (`>` is strict), a NaN always wins, and nothing but another NaN
/// beats a NaN (every comparison with it is false). An all `−∞` window selects its first
/// element.
#[inline(always)]
fn displaces<T: Scalar>(v: T, best: T) -> bool {
    // `|`, not `||`: both tests are cheap, and a branch between them is not.
    (v > best) | v.is_nan()
}

/// The selected element of one window of any plane, and its value.
#[inline(always)]
fn arg_max<T: Scalar>(plane: &Plane<'_, T>, square: Square) -> ((usize, usize), T) {
    let first = (square.top, square.left);
    plane.fold(square, (first, T::neg_infinity()), |best, at, v| {
        if displaces(v, best.1) {
            (at, v)
        } else {
            best
        }
    })
}

/// The selection among the four elements of a 2 × 2 window (in row-major order): the
/// selected one's place (0 to 3). The rule of [`displaces`], restated so that nothing
/// branches on the data (a scan with a running maximum compiles to branches, which
/// activations full of ties and zeros mispredict at every other window):
///
/// - an element is selected if it is greater than every element before it and not less
///   than any after it: the first of equal maxima;
/// - every comparison with a NaN is false, so with a NaN in the window no element
///   qualifies, and the last NaN is selected instead, as a scan from the first element
///   would select it.
#[inline(always)]
fn arg_max_2x2<T: Scalar>(window: [T; 4]) -> usize {
    let wins = |i: usize| {
        (0..4).all(|j| match j.cmp(&i) {
            std::cmp::Ordering::Less => window[i] > window[j],
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Greater => window[i] >= window[j],
        })
    };
    let nan = |i: usize| usize::from(window[i].is_nan());
    let maximum = usize::from(wins(1)) + 2 * usize::from(wins(2)) + 3 * usize::from(wins(3));
    let last_nan = (nan(1) | nan(2) | nan(3)) * (1 + (nan(2) | nan(3)) + nan(3));
    if nan(0) | nan(1) | nan(2) | nan(3) == 1 {
        last_nan
    } else {
        maximum
    }
}

/// Whether `window` is 2 × 2 at stride 2, the pool of nearly every network, over planes
/// of even height (of `input`, N × C × H × W): then its windows tile every pair of rows of
/// a plane, and never straddle two planes, so that the planes of a contiguous batch can
/// be pooled as one plane of N·C·H rows, with no work per plane.
fn tiles_2x2(window: Window, input: (usize, usize, usize, usize)) -> bool {
    window.size == 2 && window.stride == 2 && input.2.is_multiple_of(2)
}

/// [`forward`] for packed planes (`width` columns, an even number of rows) and 2 × 2
/// windows at stride 2 ([`tiles_2x2`]), a row of windows at a time.
fn forward_2x2<T: Scalar>(input: &[T], width: usize, output: &mut [T], out_width: usize) {
    let rows = input.chunks_exact(width).step_by(2);
    let pairs = rows.zip(input.chunks_exact(width).skip(1).step_by(2));
    for ((top, bottom), output) in pairs.zip(output.chunks_exact_mut(out_width)) {
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        for ((top, bottom), output) in windows.zip(output) {
            // The selected value alone, by the scan of `displaces`: as value selects it
            // has no branch, and it is cheaper than finding the place.
            *output = [top[1], bottom[0], bottom[1]]
                .into_iter()
                .fold(top[0], |best, v| if displaces(v, best) { v } else { best });
        }
    }
}

/// [`adjoint_input`] for packed planes and 2 × 2 windows at stride 2 ([`tiles_2x2`]):
/// the windows tile the planes, so every element they cover is written (δ at the
/// selected one, zero at the others) and the planes need clearing beforehand only when
/// an odd last column lies outside every window.
fn adjoint_2x2<T: Scalar>(
    input: &[T],
    width: usize,
    delta: &[T],
    out_width: usize,
    delta_prev: &mut [T],
) {
    if width % 2 == 1 {
        delta_prev.fill(T::zero());
    }
    // The first windows of every row in groups of four with AVX2 where the CPU has it,
    // the rest one by one.
    let done = simd::adjoint_2x2(input, width, delta, out_width, delta_prev);
    let rows = input.chunks_exact(2 * width);
    let targets = delta_prev.chunks_exact_mut(2 * width);
    for ((rows, targets), delta) in rows.zip(targets).zip(delta.chunks_exact(out_width)) {
        let (top, bottom) = (&rows[..2 * out_width], &rows[width..width + 2 * out_width]);
        for (j, &d) in delta.iter().enumerate().skip(done) {
            let window = [top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]];
            let at = arg_max_2x2(window);
            targets[2 * j] = T::zero();
            targets[2 * j + 1] = T::zero();
            targets[width + 2 * j] = T::zero();
            targets[width + 2 * j + 1] = T::zero();
            // Then δ onto the selected element, found by arithmetic rather than by a
            // branch on the data, which is mispredicted at every other window. (0 + δ,
            // not δ, as the general path adds to zero: a −0 becomes +0 there.)
            targets[(at >> 1) * width + 2 * j + (at & 1)] = T::zero() + d;
        }
    }
}

mod simd {
    //! The 2 × 2 adjoint eight windows at a time, for `f32` on CPUs with AVX2.

    use crate::scalar::Scalar;

    /// [`super::adjoint_2x2`] for the first windows of every row of windows, in groups
    /// of four; returns how many windows of each row it did (a multiple of four), or
    /// none if the elements are not `f32` or the CPU lacks AVX2.
    pub(super) fn adjoint_2x2<T: Scalar>(
        input: &[T],
        width: usize,
        delta: &[T],
        out_width: usize,
        delta_prev: &mut [T],
    ) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            let arrays = (
                T::as_f32(input),
                T::as_f32(delta),
                T::as_f32_mut(delta_prev),
            );
            let groups = out_width / 4;
            let pairs = delta.len() / out_width.max(1);
            if let ((Some(input), Some(delta), Some(delta_prev)), true) =
                (arrays, groups > 0 && std::is_x86_feature_detected!("avx2"))
            {
                assert!(2 * out_width <= width && delta.len() == pairs * out_width);
                assert!(input.len() >= 2 * pairs * width && delta_prev.len() >= 2 * pairs * width);
                // SAFETY: the CPU has AVX2; every group read or written lies in the first
                // `2 · out_width` elements of a pair of rows, inside the lengths checked
                // above.
                unsafe {
                    avx2::adjoint_2x2(input, width, delta, out_width, delta_prev, pairs * groups)
                };
                return 4 * groups;
            }
        }
        let _ = (input, width, delta, out_width, delta_prev);
        0
    }

    #[cfg(target_arch = "x86_64")]
    mod avx2 {
        use std::arch::x86_64::*;

        /// See [`super::adjoint_2x2`]: `groups` groups of four windows, those of every
        /// pair of rows in turn.
        ///
        /// Two groups (eight elements of each row of each) at a time: shuffles gather
        /// each window's elements `[a b; c d]` into the same lane of four vectors
        /// `A B C D` (in the lane order 0 1 4 5 2 3 6 7, in which δ is loaded too), the
        /// selection is made lane by lane as in `arg_max_2x2`, and unpacking puts the
        /// results back in the order of the rows. The two groups may lie in different
        /// pairs of rows, so that rows of four windows (a pool of 8 × 8 planes) fill the
        /// vectors too; an odd last group is done twice, which writes the same values.
        ///
        /// # Safety
        ///
        /// The CPU has AVX2, and the slices hold what [`super::adjoint_2x2`] checks.
        #[target_feature(enable = "avx2")]
        pub(super) unsafe fn adjoint_2x2(
            input: &[f32],
            width: usize,
            delta: &[f32],
            out_width: usize,
            delta_prev: &mut [f32],
            groups: usize,
        ) {
            let per_row = out_width / 4;
            // Where the next group starts: its top row (the bottom one is `width` further,
            // in the input and in the error signal) and its δ.
            let (mut pair, mut group) = (0, 0);
            let mut next = || {
                let at = (2 * pair * width + 8 * group, pair * out_width + 4 * group);
                group += 1;
                if group == per_row {
                    (pair, group) = (pair + 1, 0);
                }
                at
            };
            let zero = _mm256_setzero_ps();
            let (input, delta, targets) = (input.as_ptr(), delta.as_ptr(), delta_prev.as_mut_ptr());
            for n in (0..groups).step_by(2) {
                let first = next();
                let second = if n + 1 < groups { next() } else { first };
                let rows = |row: usize| {
                    let load =
                        |(offset, _): (usize, usize)| _mm256_loadu_ps(input.add(offset + row));
                    (load(first), load(second))
                };
                let ((t0, t1), (b0, b1)) = (rows(0), rows(width));
                let a = _mm256_shuffle_ps::<0x88>(t0, t1);
                let b = _mm256_shuffle_ps::<0xDD>(t0, t1);
                let c = _mm256_shuffle_ps::<0x88>(b0, b1);
                let d = _mm256_shuffle_ps::<0xDD>(b0, b1);
                let ge = |x, y| _mm256_cmp_ps::<_CMP_GE_OQ>(x, y);
                let gt = |x, y| _mm256_cmp_ps::<_CMP_GT_OQ>(x, y);
                let and = |x, y| _mm256_and_ps(x, y);
                let or = |x, y| _mm256_or_ps(x, y);
                // The first of equal maxima: greater than those before, not less than
                // those after. A comparison with NaN is false.
                let wins = [
                    and(and(ge(a, b), ge(a, c)), ge(a, d)),
                    and(and(gt(b, a), ge(b, c)), ge(b, d)),
                    and(and(gt(c, a), gt(c, b)), ge(c, d)),
                    and(and(gt(d, a), gt(d, b)), gt(d, c)),
                ];
                let nan = [a, b, c, d].map(|x| _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
                // With a NaN in the window, the last NaN.
                let after = [
                    or(or(nan[1], nan[2]), nan[3]),
                    or(nan[2], nan[3]),
                    nan[3],
                    zero,
                ];
                let any = or(nan[0], after[0]);
                let pick = |k: usize| {
                    let last_nan = _mm256_andnot_ps(after[k], nan[k]);
                    _mm256_blendv_ps(wins[k], last_nan, any)
                };
                // δ of the two groups, in the lane order of A B C D.
                let halves = _mm256_set_m128(
                    _mm_loadu_ps(delta.add(second.1)),
                    _mm_loadu_ps(delta.add(first.1)),
                );
                let delta = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(
                    _mm256_castps_pd(halves),
                ));
                // 0 + δ, as the general path: a −0 becomes +0.
                let share = |k: usize| _mm256_add_ps(zero, _mm256_and_ps(pick(k), delta));
                let (sa, sb, sc, sd) = (share(0), share(1), share(2), share(3));
                let store =
                    |(offset, _): (usize, usize), v| _mm256_storeu_ps(targets.add(offset), v);
                store(first, _mm256_unpacklo_ps(sa, sb));
                store(second, _mm256_unpackhi_ps(sa, sb));
                store((first.0 + width, 0), _mm256_unpacklo_ps(sc, sd));
                store((second.0 + width, 0), _mm256_unpackhi_ps(sc, sd));
            }
        }
    }
}

/// Max pooling over `K × K` windows at stride `S` (by default `K`, non-overlapping) of
/// images of shape `I`, with the output shape in its type ([`crate::shape::LayerShape`]).
pub type MaxPool2d<I, K, S = K, T = f32> = Pool2d<Max, I, K, S, T>;

impl PoolKind for Max {
    const NAME: &'static str = "MaxPool2d";
    const TAKES_AN_IMAGE: &'static str = crate::shape::takes_an_image!("MaxPool2d");

    fn forward<T: Scalar>(window: Window, a_prev: ArrayView4<'_, T>, a: ArrayViewMut4<'_, T>) {
        forward(window, a_prev, a);
    }

    fn adjoint_input<T: Scalar>(
        window: Window,
        a_prev: ArrayView4<'_, T>,
        delta: ArrayView4<'_, T>,
        delta_prev: ArrayViewMut4<'_, T>,
    ) {
        adjoint_input(window, a_prev, delta, delta_prev);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Layer;
    use crate::network::Parameters;
    use crate::pool::test_support::{as_batch, first_plane, irregular, window};
    use crate::shape::{Image, LayerShape};
    use ndarray::{array, s, Array, Array2, Array4};
    use typenum::{U12, U2, U24, U3, U6, U7, U9};

    /// Pools one plane.
    fn pool(window: Window, plane: &Array2<f64>) -> Array2<f64> {
        let (h, w) = plane.dim();
        let mut out = Array4::zeros((1, 1, window.output(h), window.output(w)));
        forward(window, as_batch(plane), out.view_mut());
        first_plane(out)
    }

    /// `P_a* δ` for one plane.
    fn unpool(window: Window, plane: &Array2<f64>, delta: &Array2<f64>) -> Array2<f64> {
        let (h, w) = plane.dim();
        // Garbage in the output buffer: the adjoint must overwrite it, not add to it.
        let mut out = Array4::from_elem((1, 1, h, w), 7.0);
        adjoint_input(window, as_batch(plane), as_batch(delta), out.view_mut());
        first_plane(out)
    }

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
        // 7 × 5 with a 2 × 2 window: 3 × 2 outputs; the last row (all 9) and column must
        // not be read.
        let x = array![
            [1.0, 9.0, 2.0, 1.0, 5.0],
            [3.0, 4.0, 8.0, 7.0, 6.0],
            [0.0, 2.0, 1.0, 3.0, 9.0],
            [5.0, 1.0, 4.0, 2.0, 0.0],
            [7.0, 3.0, 0.0, 6.0, 1.0],
            [2.0, 8.0, 5.0, 9.0, 4.0],
            [9.0, 9.0, 9.0, 9.0, 9.0],
        ];
        assert_eq!(
            pool(window(2, 2), &x),
            array![[9.0, 8.0], [5.0, 4.0], [8.0, 9.0]]
        );
    }

    #[test]
    fn overlapping_windows_share_their_maximum_and_add_its_error_signals() {
        let x = array![
            [1.0, 9.0, 2.0, 0.0],
            [3.0, 4.0, 8.0, 7.0],
            [0.0, 2.0, 1.0, 3.0],
            [5.0, 1.0, 4.0, 6.0],
        ];
        assert_eq!(pool(window(3, 1), &x), array![[9.0, 9.0], [8.0, 8.0]]);
        // The 9 is the maximum of both upper windows, the 8 of both lower ones.
        let delta = array![[1.0, 2.0], [3.0, 4.0]];
        assert_eq!(
            unpool(window(3, 1), &x, &delta),
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
        assert_eq!(pool(window(2, 2), &x), array![[3.0, 2.0]]);
        assert_eq!(
            unpool(window(2, 2), &x, &delta),
            array![[0.0, 5.0, 7.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
        );
        // All −∞: still one element selected, the first.
        let x = Array2::from_elem((2, 2), f64::NEG_INFINITY);
        assert_eq!(pool(window(2, 2), &x), array![[f64::NEG_INFINITY]]);
        assert_eq!(
            unpool(window(2, 2), &x, &array![[1.0]]),
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
        let y = pool(window(2, 2), &x);
        assert!(y.iter().all(|v| v.is_nan()), "{y}");
        let delta = array![[1.0, 2.0, 3.0, 4.0]];
        assert_eq!(
            unpool(window(2, 2), &x, &delta),
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
        for (size, stride) in [(3, 2), (2, 3), (2, 1), (3, 3), (4, 3), (1, 2)] {
            let w = window(size, stride);
            let a = irregular((2, 3, 7, 9), 0.3);
            let shape = (2, 3, w.output(7), w.output(9));
            let delta = irregular(shape, 1.7);
            let mut pa = Array4::zeros(shape);
            forward(w, a.view(), pa.view_mut());
            let mut delta_prev = Array4::zeros(a.dim());
            adjoint_input(w, a.view(), delta.view(), delta_prev.view_mut());
            let lhs = (&pa * &delta).sum();
            let rhs = (&a * &delta_prev).sum();
            assert!((lhs - rhs).abs() < 1e-12, "{size}/{stride}: {lhs} vs {rhs}");
            // Every window sends its δ somewhere.
            assert!((delta_prev.sum() - delta.sum()).abs() < 1e-12);
        }
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
            let h = 1e-6;
            for idx in ndarray::indices_of(&a) {
                let (mut p, mut m) = (a.clone(), a.clone());
                p[idx] += h;
                m[idx] -= h;
                let numeric = (loss(&p) - loss(&m)) / (2.0 * h);
                assert!(
                    (numeric - grad[idx]).abs() < 1e-8,
                    "{size}/{stride} at {idx:?}: {numeric} vs {}",
                    grad[idx]
                );
            }
        }
    }

    /// The strided fallback gives exactly what the slice path gives.
    #[test]
    fn any_layout_gives_the_same_result() {
        let w = window(3, 2);
        let a = irregular((2, 3, 7, 9), 0.3);
        let shape = (2, 3, 3, 4);
        let delta = irregular(shape, 1.1);
        let mut pa = Array4::zeros(shape);
        forward(w, a.view(), pa.view_mut());
        let mut delta_prev = Array4::zeros(a.dim());
        adjoint_input(w, a.view(), delta.view(), delta_prev.view_mut());

        // The same values, stored channels-last, and outputs written every other column.
        let a_nhwc = a
            .view()
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned();
        let a_strided = a_nhwc.view().permuted_axes([0, 3, 1, 2]);
        assert!(!a_strided.is_standard_layout());
        let mut pa_big = Array4::zeros((2, 3, 3, 8));
        forward(w, a_strided, pa_big.slice_mut(s![.., .., .., ..;2]));
        assert_eq!(pa_big.slice(s![.., .., .., ..;2]), pa);

        let delta_t = delta
            .view()
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        let mut dp_big = Array4::from_elem((2, 3, 7, 18), 5.0);
        adjoint_input(
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

    /// The 2 × 2, stride 2 path (contiguous planes of even height) and the general one
    /// (the same numbers read through a strided view) select the same elements, ties,
    /// infinities and NaNs included, for even and odd widths. (Planes of odd height take
    /// the general path either way.)
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
}

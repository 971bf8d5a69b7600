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
//! contiguous planes, the pool of nearly every network, take a path of their own, over
//! rows of windows with no branch on the data (and over all the planes of a sample at
//! once when their height is even); a test holds it to the general one bit for bit.
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

mod simd;
#[cfg(test)]
mod tests;

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
    let tiled = Tiling::of(window, a_prev.dim());
    for_each_sample(VISIT * a_prev.len(), (a_prev, a), &|(a_prev, mut a)| {
        if let (Some(tiling), Some(input), Some(output)) =
            (tiled, a_prev.as_slice(), a.as_slice_mut())
        {
            for (input, output) in tiling.inputs(input).zip(tiling.outputs_mut(output)) {
                forward_2x2(input, tiling.width, output, tiling.out_width);
            }
            return;
        }
        windows.pool(a_prev, a, |input, square| arg_max(input, square).1);
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
    let tiled = Tiling::of(window, a_prev.dim());
    for_each_sample(work, (a_prev, delta, delta_prev), &|(
        a_prev,
        delta,
        mut delta_prev,
    )| {
        if let (Some(tiling), Some(input), Some(d), Some(out)) = (
            tiled,
            a_prev.as_slice(),
            delta.as_slice(),
            delta_prev.as_slice_mut(),
        ) {
            let regions = tiling.inputs(input).zip(tiling.outputs(d));
            for ((input, d), (out, uncovered)) in regions.zip(tiling.inputs_mut(out)) {
                adjoint_2x2(input, tiling.width, d, tiling.out_width, out);
                uncovered.fill(T::zero());
            }
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

/// How 2 × 2 windows at stride 2, the pool of nearly every network, tile the packed
/// planes of a sample: in regions of whole pairs of rows that no window straddles.
///
/// With planes of even height the windows never straddle two planes, so all the planes
/// of a sample are one region of C·H rows, pooled with no work per plane. With an odd
/// height each plane is a region of its first H − 1 rows; its last row lies outside
/// every window.
#[derive(Clone, Copy)]
struct Tiling {
    width: usize,
    out_width: usize,
    /// Rows from the start of one region to the start of the next.
    rows: usize,
    /// Rows of a region that the windows cover: `rows`, or one fewer.
    covered: usize,
}

impl Tiling {
    /// The tiling of samples shaped `input` (N × C × H × W) by `window`, if it is 2 × 2
    /// at stride 2 (it then fits, as [`Windows::check`] has made sure).
    fn of(
        window: Window,
        (_, channels, height, width): (usize, usize, usize, usize),
    ) -> Option<Self> {
        (window.size == 2 && window.stride == 2).then(|| {
            let rows = if height % 2 == 0 {
                channels * height
            } else {
                height
            };
            Tiling {
                width,
                out_width: window.output(width),
                rows,
                covered: rows - rows % 2,
            }
        })
    }

    /// The covered rows of each region of a sample's input.
    fn inputs<T>(self, input: &[T]) -> impl Iterator<Item = &[T]> {
        let covered = self.covered * self.width;
        input
            .chunks_exact(self.rows * self.width)
            .map(move |region| &region[..covered])
    }

    /// The covered rows of each region of a sample's `δ_prev`, and the row below them
    /// that no window covers (empty with planes of even height).
    fn inputs_mut<T>(self, input: &mut [T]) -> impl Iterator<Item = (&mut [T], &mut [T])> {
        let covered = self.covered * self.width;
        input
            .chunks_exact_mut(self.rows * self.width)
            .map(move |region| region.split_at_mut(covered))
    }

    /// What the windows of each region give, in a sample's output or `δ`.
    fn outputs<T>(self, output: &[T]) -> std::slice::ChunksExact<'_, T> {
        output.chunks_exact(self.covered / 2 * self.out_width)
    }

    /// As [`Self::outputs`], to write.
    fn outputs_mut<T>(self, output: &mut [T]) -> std::slice::ChunksExactMut<'_, T> {
        output.chunks_exact_mut(self.covered / 2 * self.out_width)
    }
}

/// [`forward`] for packed planes (`width` columns, an even number of rows) and 2 × 2
/// windows at stride 2 (a region of a [`Tiling`]), a row of windows at a time.
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

/// [`adjoint_input`] for packed planes and 2 × 2 windows at stride 2 (a region of a
/// [`Tiling`]): the windows tile the region, so every element they cover is written (δ
/// at the selected one, zero at the others) and the region needs clearing beforehand
/// only when an odd last column lies outside every window.
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

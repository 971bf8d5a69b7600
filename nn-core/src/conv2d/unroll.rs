//! The im2col form of the general path: `im2col` unrolls a sample into the columns the
//! products read, `col2im` is its adjoint, and the weight and samples are viewed as the
//! matrices of those products.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayView3, ArrayView4, ArrayViewMut2, ArrayViewMut3};

use super::taps::Taps;
use super::Geometry;
use crate::scalar::Scalar;
use crate::scratch::{with_scratch, Space};

/// Unrolls one sample `image` (in × h × w) into `cols` (in·k·k × oh·ow).
///
/// # Panics
///
/// If the shapes do not match `g`, or `cols` is not in standard layout.
pub fn im2col<T: Scalar>(g: Geometry, image: ArrayView3<'_, T>, cols: ArrayViewMut2<'_, T>) {
    im2col_taps(g, image, 0..g.patch_len(), cols);
}

/// The rows `wanted` of [`im2col`]'s `cols`: the unrolled input under those kernel taps
/// alone, for a part of the weight gradient.
pub(super) fn im2col_taps<T: Scalar>(
    g: Geometry,
    image: ArrayView3<'_, T>,
    wanted: Range<usize>,
    mut cols: ArrayViewMut2<'_, T>,
) {
    assert_eq!(
        image.dim(),
        (g.channels, g.height, g.width),
        "im2col: image"
    );
    assert_eq!(cols.dim(), (wanted.len(), g.positions()), "im2col: cols");
    assert!(wanted.end <= g.patch_len(), "im2col: no such taps");
    let image = image.as_standard_layout();
    let image = image.as_slice().expect("standard layout");
    let cols = cols
        .as_slice_mut()
        .expect("im2col: cols must be contiguous");
    let taps = Taps::new(g);
    taps.for_each(|row, plane, rows, columns| {
        if !wanted.contains(&row) {
            return;
        }
        let out = &mut cols[(row - wanted.start) * taps.positions..][..taps.positions];
        let (above, inside, below) = rows.split(out, taps.out_width);
        above.fill(T::zero());
        below.fill(T::zero());
        let plane = &image[plane * taps.plane_len..][..taps.plane_len];
        if taps.stride == 1 && columns.first == 0 && columns.end == taps.out_width {
            // The common case, kept free of everything else so that it runs at the speed
            // of the copies: each output row reads a run of an input row.
            // (Indices rather than `chunks`, whose lengths cost a division per tap.)
            let src = &plane[rows.input_start * g.width + columns.input_start..];
            for y in 0..rows.end - rows.first {
                copy_run(
                    &mut inside[y * taps.out_width..][..taps.out_width],
                    &src[y * g.width..],
                );
            }
            return;
        }
        for (dst, src) in inside
            .chunks_exact_mut(taps.out_width)
            .zip(taps.input_rows(plane, rows))
        {
            let (left, dst, right) = columns.split(dst, 1);
            left.fill(T::zero());
            right.fill(T::zero());
            let src = &src[columns.input_start..];
            if taps.stride == 1 {
                copy_run(dst, src);
            } else {
                let src = src.iter().step_by(taps.stride);
                dst.iter_mut().zip(src).for_each(|(d, &v)| *d = v);
            }
        }
    });
}

/// Copies `src` onto `dst` (as long, or longer), for the short runs of im2col (a row of
/// the output, a few dozen floats) in blocks of eight copied inline: as a call to
/// `memcpy`, each run cost more than the matrix product that reads it.
#[inline(always)]
pub(super) fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    let len = dst.len();
    let src = &src[..len];
    if len < 8 {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = s;
        }
        return;
    }
    let block = |dst: &mut [T], at: usize| {
        let d: &mut [T; 8] = (&mut dst[at..at + 8]).try_into().expect("eight");
        *d = src[at..at + 8].try_into().expect("eight");
    };
    let mut at = 0;
    while at + 8 < len {
        block(dst, at);
        at += 8;
    }
    // The last block ends at the end, overlapping the one before if `len` is not a
    // multiple of eight.
    block(dst, len - 8);
}

/// The adjoint of [`im2col`]: overwrites `image` with the sum, for every pixel, of the
/// column entries that were copied from it.
///
/// # Panics
///
/// If the shapes do not match `g`, or `cols` or `image` is not in standard layout.
pub fn col2im<T: Scalar>(g: Geometry, cols: ArrayView2<'_, T>, mut image: ArrayViewMut3<'_, T>) {
    assert_eq!(
        image.dim(),
        (g.channels, g.height, g.width),
        "col2im: image"
    );
    assert_eq!(cols.dim(), (g.patch_len(), g.positions()), "col2im: cols");
    let cols = cols.as_slice().expect("col2im: cols must be contiguous");
    let image = image
        .as_slice_mut()
        .expect("col2im: the image must be contiguous");
    image.fill(T::zero());
    let taps = Taps::new(g);
    taps.for_each(|row, plane, rows, columns| {
        let src = &cols[row * taps.positions..][..taps.positions];
        let (_, inside, _) = rows.split(src, taps.out_width);
        let plane = &mut image[plane * taps.plane_len..][..taps.plane_len];
        if taps.stride == 1 && columns.first == 0 && columns.end == taps.out_width {
            // As in im2col: the common case alone, with indices rather than `chunks`.
            let dst = &mut plane[rows.input_start * g.width + columns.input_start..];
            for y in 0..rows.end - rows.first {
                let src = &inside[y * taps.out_width..][..taps.out_width];
                let dst = &mut dst[y * g.width..][..taps.out_width];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d += v;
                }
            }
            return;
        }
        let targets = taps.input_rows_mut(plane, rows);
        for (src, dst) in inside.chunks_exact(taps.out_width).zip(targets) {
            let (_, src, _) = columns.split(src, 1);
            let dst = &mut dst[columns.input_start..];
            if taps.stride == 1 {
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in dst.iter_mut().step_by(taps.stride).zip(src) {
                    *d += v;
                }
            }
        }
    });
}

/// Runs `f` on scratch space for `rows` rows of a sample's `cols` (rows × oh·ow).
pub(super) fn with_cols<T: Scalar, R>(
    g: Geometry,
    rows: usize,
    f: impl FnOnce(ArrayViewMut2<'_, T>) -> R,
) -> R {
    let shape = (rows, g.positions());
    with_scratch(Space::Unrolled, rows * g.positions(), |floats| {
        f(ArrayViewMut2::from_shape(shape, floats).expect("scratch of the right length"))
    })
}

/// The weight `[out, in, k, k]` as the matrix `W` (out × in·k·k).
pub(super) fn weight_matrix<T>(weight: ArrayView4<'_, T>) -> ArrayView2<'_, T> {
    let (out, rest) = (weight.dim().0, weight.len() / weight.dim().0.max(1));
    weight
        .into_shape_with_order((out, rest))
        .expect("conv2d: the weight must be in standard layout")
}

/// A sample's `[c, h, w]` as the matrix (c × h·w).
pub(super) fn plane_matrix<T>(sample: ArrayView3<'_, T>) -> ArrayView2<'_, T> {
    let (c, h, w) = sample.dim();
    sample
        .into_shape_with_order((c, h * w))
        .expect("conv2d: the error signal must be in standard layout")
}

pub(super) fn plane_matrix_mut<T>(sample: ArrayViewMut3<'_, T>) -> ArrayViewMut2<'_, T> {
    let (c, h, w) = sample.dim();
    sample
        .into_shape_with_order((c, h * w))
        .expect("conv2d: the output must be in standard layout")
}

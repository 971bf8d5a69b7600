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
            (arrays, groups > 0 && crate::isa::avx2())
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
                let load = |(offset, _): (usize, usize)| _mm256_loadu_ps(input.add(offset + row));
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
            let delta = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                halves,
            )));
            // 0 + δ, as the general path: a −0 becomes +0.
            let share = |k: usize| _mm256_add_ps(zero, _mm256_and_ps(pick(k), delta));
            let (sa, sb, sc, sd) = (share(0), share(1), share(2), share(3));
            let store = |(offset, _): (usize, usize), v| _mm256_storeu_ps(targets.add(offset), v);
            store(first, _mm256_unpacklo_ps(sa, sb));
            store(second, _mm256_unpackhi_ps(sa, sb));
            store((first.0 + width, 0), _mm256_unpacklo_ps(sc, sd));
            store((second.0 + width, 0), _mm256_unpackhi_ps(sc, sd));
        }
    }
}

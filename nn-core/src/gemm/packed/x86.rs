//! The micro-kernels for x86-64: AVX-512 where the CPU has it, else AVX2 and FMA.

use std::arch::x86_64::*;

use super::{Lookahead, MicroKernel, TileJob};
use crate::gemm::tile::{lanes_inside, store_16};

/// [`transpose_rows`] for 8 rows, 8 × 8 blocks at a time with AVX.
///
/// # Safety
///
/// As [`transpose_rows`]; the CPU must have AVX (every caller runs a micro-kernel
/// that needs more).
#[target_feature(enable = "avx")]
#[inline]
pub(super) unsafe fn transpose_rows8(
    src: *const f32,
    row_stride: isize,
    kc: usize,
    dst: *mut f32,
    panel: usize,
) {
    let row = |r: isize| src.offset(r * row_stride);
    let mut p = 0;
    while p + 8 <= kc {
        let load = |r| _mm256_loadu_ps(row(r).add(p));
        let (r0, r1, r2, r3) = (load(0), load(1), load(2), load(3));
        let (r4, r5, r6, r7) = (load(4), load(5), load(6), load(7));
        let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
        let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
        let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
        let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
        let u0 = _mm256_shuffle_ps::<0b01_00_01_00>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0b11_10_11_10>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0b01_00_01_00>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0b11_10_11_10>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0b01_00_01_00>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0b11_10_11_10>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0b01_00_01_00>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0b11_10_11_10>(t5, t7);
        // Depth p + d of the eight rows.
        let depths = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        for (d, &v) in depths.iter().enumerate() {
            _mm256_storeu_ps(dst.add((p + d) * panel), v);
        }
        p += 8;
    }
    for p in p..kc {
        for r in 0..8 {
            *dst.add(p * panel + r as usize) = *row(r).add(p);
        }
    }
}

/// Writes `kc` depths of 4 rows (`row_stride` apart, each contiguous) depth-major:
/// depth `p`'s four elements at `dst + p · panel`. SSE only, which every x86-64 has.
///
/// # Safety
///
/// The rows must hold `kc` elements and `dst` must have room for `kc` depths.
#[inline(always)]
pub(super) unsafe fn transpose_rows(
    src: *const f32,
    row_stride: isize,
    kc: usize,
    dst: *mut f32,
    panel: usize,
) {
    let row = |r: isize| src.offset(r * row_stride);
    let mut p = 0;
    while p + 4 <= kc {
        let (a, b) = (_mm_loadu_ps(row(0).add(p)), _mm_loadu_ps(row(1).add(p)));
        let (c, d) = (_mm_loadu_ps(row(2).add(p)), _mm_loadu_ps(row(3).add(p)));
        let (ab_lo, cd_lo) = (_mm_unpacklo_ps(a, b), _mm_unpacklo_ps(c, d));
        let (ab_hi, cd_hi) = (_mm_unpackhi_ps(a, b), _mm_unpackhi_ps(c, d));
        let out = dst.add(p * panel);
        _mm_storeu_ps(out, _mm_movelh_ps(ab_lo, cd_lo));
        _mm_storeu_ps(out.add(panel), _mm_movehl_ps(cd_lo, ab_lo));
        _mm_storeu_ps(out.add(2 * panel), _mm_movelh_ps(ab_hi, cd_hi));
        _mm_storeu_ps(out.add(3 * panel), _mm_movehl_ps(cd_hi, ab_hi));
        p += 4;
    }
    for p in p..kc {
        for r in 0..4 {
            *dst.add(p * panel + r as usize) = *row(r).add(p);
        }
    }
}

/// 8 × 32 tiles: 16 accumulators of sixteen lanes, two loads of `B` and eight
/// broadcasts of `A` per depth for 16 fused multiply-adds (the fastest of the shapes
/// tried on the products of W1 and W2).
pub(super) struct Avx512;

impl MicroKernel for Avx512 {
    const MR: usize = AVX512_MR;
    const NR: usize = 16 * VECTORS;
    const MC: usize = 96;
    const NC: usize = 1024;

    #[inline(always)]
    unsafe fn tile(job: TileJob, ahead: &mut Lookahead) {
        // A tile at C's right edge with no more than one vector's columns multiplies
        // only that vector: a second vector of zeros would double its work.
        if job.cols <= 16 {
            tile_avx512::<AVX512_MR, 1>(job, ahead);
        } else {
            tile_avx512::<AVX512_MR, VECTORS>(job, ahead);
        }
    }
}

/// Rows and vectors of sixteen lanes in an AVX-512 tile.
const AVX512_MR: usize = 8;
const VECTORS: usize = 2;

/// The tile with the first `V` vectors of each depth of the `B` panel (`VECTORS`
/// wide): all of them, or at C's edge only those that reach into it.
#[target_feature(enable = "avx512f")]
unsafe fn tile_avx512<const MR: usize, const V: usize>(job: TileJob, ahead: &mut Lookahead) {
    let TileJob {
        kc,
        a,
        b,
        c,
        c_row_stride,
        rows,
        cols,
        addend,
        finish,
    } = job;
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    ahead.over_depths(kc, |p| {
        let mut bv = [_mm512_setzero_ps(); V];
        for (v, bv) in bv.iter_mut().enumerate() {
            *bv = _mm512_loadu_ps(b.add((p * VECTORS + v) * 16));
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = _mm512_set1_ps(*a.add(p * MR + r));
            for (acc, &bv) in acc.iter_mut().zip(&bv) {
                *acc = _mm512_fmadd_ps(a, bv, *acc);
            }
        }
    });
    for (r, acc) in acc.iter().enumerate().take(rows) {
        let c = c.offset(r as isize * c_row_stride);
        // Only the vectors that reach into C: a pointer past its end is not to be formed.
        for (v, &acc) in acc.iter().enumerate().take(cols.div_ceil(16)) {
            let (c, mask) = (c.add(16 * v), lanes_inside(cols, v));
            let mut x = acc;
            if let Some(addend) = addend {
                let addend = addend.at(r, 16 * v);
                x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, addend));
            }
            match finish {
                Some(finish) => {
                    let out = finish
                        .out
                        .offset(r as isize * finish.row_stride)
                        .add(16 * v);
                    let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), x);
                    _mm512_mask_storeu_ps(out, mask, sum);
                }
                None => _mm512_mask_storeu_ps(c, mask, x),
            }
        }
    }
}

/// 6 × 16 tiles: 12 accumulators of eight lanes, two loads of `B` and six
/// broadcasts of `A` per depth for 12 fused multiply-adds.
pub(super) struct Avx2;

impl MicroKernel for Avx2 {
    const MR: usize = AVX2_MR;
    const NR: usize = 16;
    const MC: usize = 144;
    const NC: usize = 1024;

    #[inline(always)]
    unsafe fn tile(job: TileJob, ahead: &mut Lookahead) {
        tile_avx2::<AVX2_MR>(job, ahead);
    }
}

/// Rows of an AVX2 tile; its columns are two vectors of eight lanes.
const AVX2_MR: usize = 6;

#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2<const MR: usize>(job: TileJob, ahead: &mut Lookahead) {
    let TileJob {
        kc,
        a,
        b,
        c,
        c_row_stride,
        rows,
        cols,
        addend,
        finish,
    } = job;
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    ahead.over_depths(kc, |p| {
        let b0 = _mm256_loadu_ps(b.add(p * 16));
        let b1 = _mm256_loadu_ps(b.add(p * 16 + 8));
        for (r, acc) in acc.iter_mut().enumerate() {
            let a = _mm256_set1_ps(*a.add(p * MR + r));
            acc[0] = _mm256_fmadd_ps(a, b0, acc[0]);
            acc[1] = _mm256_fmadd_ps(a, b1, acc[1]);
        }
    });
    for (r, acc) in acc.iter().enumerate().take(rows) {
        let c = c.offset(r as isize * c_row_stride);
        if cols == 16 {
            let [mut x0, mut x1] = *acc;
            if let Some(addend) = addend {
                let addend = addend.at(r, 0);
                x0 = _mm256_add_ps(x0, _mm256_loadu_ps(addend));
                x1 = _mm256_add_ps(x1, _mm256_loadu_ps(addend.add(8)));
            }
            match finish {
                Some(finish) => {
                    let out = finish.out.offset(r as isize * finish.row_stride);
                    store_16(out, [x0, x1], true);
                }
                None => store_16(c, [x0, x1], false),
            }
        } else {
            // A ragged edge: through memory, one element at a time.
            let mut row = [0.0f32; 16];
            _mm256_storeu_ps(row.as_mut_ptr(), acc[0]);
            _mm256_storeu_ps(row.as_mut_ptr().add(8), acc[1]);
            for (j, &v) in row.iter().enumerate().take(cols) {
                let c = c.add(j);
                let x = match addend {
                    Some(addend) => *addend.at(r, j) + v,
                    None => v,
                };
                match finish {
                    Some(finish) => {
                        let out = finish.out.offset(r as isize * finish.row_stride).add(j);
                        *out += x;
                    }
                    None => *c = x,
                }
            }
        }
    }
}

//! What every tile of `C` shares on x86-64, whether an unpacked or the packed form
//! computed it: how its rows are stored.

use std::arch::x86_64::*;

/// Writes (or adds) two vectors of a tile's row to the sixteen elements of `C` at `c`:
/// the store of every 16-column AVX2 tile.
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) unsafe fn store_16(c: *mut f32, acc: [__m256; 2], accumulate: bool) {
    let [mut c0, mut c1] = acc;
    if accumulate {
        c0 = _mm256_add_ps(c0, _mm256_loadu_ps(c));
        c1 = _mm256_add_ps(c1, _mm256_loadu_ps(c.add(8)));
    }
    _mm256_storeu_ps(c, c0);
    _mm256_storeu_ps(c.add(8), c1);
}

/// The lanes of vector `v` (sixteen lanes from column `16 v`) of a tile's row that lie
/// within its first `cols` columns, those inside `C`: the mask of every AVX-512 tile's
/// loads and stores at `C`'s edge.
#[inline(always)]
pub(super) fn lanes_inside(cols: usize, v: usize) -> __mmask16 {
    let n = cols.saturating_sub(16 * v).min(16);
    (((1u32 << n) - 1) & 0xffff) as u16
}

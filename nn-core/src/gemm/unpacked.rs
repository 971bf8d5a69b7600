//! The unpacked forms, for products too small in some dimension for packing to pay: they
//! read the operands where they lie.
//!
//! - **broadcast form**, for any `A` and a `B` whose rows are contiguous (`Δ W` and
//!   `Δᵀ A` at small batches, a convolution's `W cols`): each element of `A` is
//!   broadcast and multiplied into a contiguous run of a row of `B`, accumulating a
//!   6 × 16 (AVX2) or 8 × 32 (AVX-512) tile of `C` in registers; products of depth at
//!   most 2 are rank updates of C's rows;
//! - **dot form**, for `A`'s rows and `B`'s columns contiguous (`A Wᵀ` at batch 1): each
//!   element of `C` is a dot product of two contiguous rows, and a 3 × 4 tile of them is
//!   accumulated eight lanes at a time.
//!
//! Both are blocked so that the panel of `B` being reused stays in cache.

use super::Product;

/// A tile of `C` in the broadcast form: `rows × cols` elements from (i, j), summed over
/// `depths`, added to `C` or written over it.
struct Tile {
    i: usize,
    j: usize,
    rows: usize,
    cols: usize,
    depths: std::ops::Range<usize>,
    accumulate: bool,
}

#[derive(Clone, Copy)]
pub(super) enum Form {
    Broadcast,
    Dot,
}

/// Rows of a broadcast tile with AVX2 or without SIMD, and the multiple of rows an unpacked
/// product is cut at among threads.
pub(super) const MR: usize = 6;
/// Columns of such a tile (two vectors of eight lanes), and the multiple of columns an
/// unpacked product is cut at.
pub(super) const NR: usize = 16;
/// Depth of a block: `KC` rows of the `B` panel are reused by every row tile.
const KC: usize = 256;
/// Width of a block: a `KC × NC` panel of `B` (256 KiB) stays in the L2 cache.
const NC: usize = 256;
/// The deepest product done as rank updates of C's rows rather than in tiles: below
/// this, tiles spend more time loading and storing C than multiplying.
const RANK_UPDATE_MAX_K: usize = 2;
/// Rows of `A` and of `Bᵀ` in a dot tile.
const DOT_MR: usize = 3;
const DOT_NR: usize = 4;
/// Rows of `Bᵀ` per block of the dot form: they stay in cache while every row of `A`
/// passes by.
const DOT_NB: usize = 64;

/// `$product.$tile::<rows, $extra>($tile_arg)` for the tile's number of rows, one of those
/// listed: each is compiled on its own, so that a tile's accumulators stay in registers.
#[cfg(target_arch = "x86_64")]
macro_rules! by_rows {
    ($product:ident.$tile:ident::<_, $extra:tt>($t:ident); $($rows:literal),*) => {
        match $t.rows {
            $($rows => $product.$tile::<$rows, $extra>($t),)*
            rows => unreachable!("a broadcast tile of {rows} rows"),
        }
    };
}

impl Product {
    /// The form that suits the layout, if one does.
    pub(super) fn form(&self) -> Option<Form> {
        if self.b.col_stride == 1 || self.n <= 1 {
            Some(Form::Broadcast)
        } else if (self.b.row_stride == 1 && self.a.col_stride == 1) || self.k <= 1 {
            Some(Form::Dot)
        } else {
            None
        }
    }

    /// # Safety
    ///
    /// Every field must describe valid, non-overlapping matrices of the recorded shapes,
    /// `C` with unit column stride unless `n ≤ 1`, and `form` must be [`Product::form`].
    pub(super) unsafe fn run(self, form: Form) {
        if self.m == 0 || self.n == 0 {
            return;
        }
        if self.k == 0 {
            // An empty sum: C ← β C.
            if !self.accumulate {
                for i in 0..self.m {
                    for j in 0..self.n {
                        *self.c_at(i, j) = 0.0;
                    }
                }
            }
            return;
        }
        if self.k <= RANK_UPDATE_MAX_K && self.b.col_stride == 1 {
            // A product of small depth is as cheap as writing C: no tiles, just rows.
            #[cfg(target_arch = "x86_64")]
            {
                if crate::isa::avx2() {
                    return self.rank_update_avx2();
                }
            }
            return self.rank_update();
        }
        #[cfg(target_arch = "x86_64")]
        {
            if matches!(form, Form::Broadcast) && crate::isa::avx512() {
                return self.broadcast_avx512();
            }
            if crate::isa::avx2() {
                match form {
                    Form::Broadcast => return self.broadcast_avx2(),
                    Form::Dot => return self.dot_avx2(),
                }
            }
        }
        self.run_portable(form);
    }

    /// The loops without SIMD, for other CPUs (and tested on every CPU).
    pub(super) unsafe fn run_portable(self, form: Form) {
        match form {
            Form::Broadcast => self.broadcast_scalar(),
            Form::Dot => self.dot_scalar(),
        }
    }

    /// The blocking of the broadcast form: calls `tile` for every tile of at most
    /// `TILE_ROWS × TILE_COLS` and every depth block. The tiles' size does not change
    /// the order in which an element is summed: depth by depth, each block added to C.
    #[inline(always)]
    unsafe fn broadcast_blocks<const TILE_ROWS: usize, const TILE_COLS: usize>(
        self,
        mut tile: impl FnMut(Tile),
    ) {
        for j0 in (0..self.n).step_by(NC) {
            let j1 = (j0 + NC).min(self.n);
            for p0 in (0..self.k).step_by(KC) {
                let p1 = (p0 + KC).min(self.k);
                // The first depth block writes C (or adds to it); later ones add.
                let accumulate = self.accumulate || p0 > 0;
                for i in (0..self.m).step_by(TILE_ROWS) {
                    let rows = TILE_ROWS.min(self.m - i);
                    for j in (j0..j1).step_by(TILE_COLS) {
                        tile(Tile {
                            i,
                            j,
                            rows,
                            cols: TILE_COLS.min(j1 - j),
                            depths: p0..p1,
                            accumulate,
                        });
                    }
                }
            }
        }
    }

    /// `C ← [C +] A B` row by row, for a small depth `k` and `B` with contiguous rows:
    /// each row of C is a sum of `k` scaled rows of B, which the compiler vectorises.
    ///
    /// # Safety
    ///
    /// As [`Product::run`], with `b.col_stride == 1`.
    #[inline(always)]
    pub(super) unsafe fn rank_update(self) {
        for i in 0..self.m {
            let c = std::slice::from_raw_parts_mut(self.c_at(i, 0), self.n);
            for p in 0..self.k {
                let a = *self.a.at(i, p);
                let b = std::slice::from_raw_parts(self.b.at(p, 0), self.n);
                if p == 0 && !self.accumulate {
                    c.iter_mut().zip(b).for_each(|(c, &b)| *c = a * b);
                } else {
                    c.iter_mut().zip(b).for_each(|(c, &b)| *c += a * b);
                }
            }
        }
    }

    unsafe fn broadcast_scalar(self) {
        self.broadcast_blocks::<MR, NR>(|tile| self.tile_scalar(tile));
    }

    /// Any tile, one element at a time: the portable path.
    #[inline(always)]
    unsafe fn tile_scalar(self, tile: Tile) {
        let Tile {
            i,
            j,
            rows,
            cols,
            depths,
            accumulate,
        } = tile;
        let mut acc = [[0.0f32; NR]; MR];
        for p in depths {
            for (r, acc_row) in acc.iter_mut().enumerate().take(rows) {
                let a = *self.a.at(i + r, p);
                for (cc, acc) in acc_row.iter_mut().enumerate().take(cols) {
                    *acc += a * *self.b.at(p, j + cc);
                }
            }
        }
        for (r, acc_row) in acc.iter().enumerate().take(rows) {
            for (cc, &acc) in acc_row.iter().enumerate().take(cols) {
                let c = self.c_at(i + r, j + cc);
                *c = if accumulate { *c + acc } else { acc };
            }
        }
    }

    unsafe fn dot_scalar(self) {
        for i in 0..self.m {
            for j in 0..self.n {
                let mut acc = 0.0f32;
                for p in 0..self.k {
                    acc += *self.a.at(i, p) * *self.b.at(p, j);
                }
                let c = self.c_at(i, j);
                *c = if self.accumulate { *c + acc } else { acc };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2 {
    //! The tiles with AVX2 and FMA: eight `f32` lanes per register, fused multiply-add.

    use std::arch::x86_64::*;

    use super::{Product, Tile, DOT_MR, DOT_NB, DOT_NR, MR, NR};
    use crate::gemm::tile::store_16;

    /// Calls the dot tile of shape `(rows, cols)`, one of those listed.
    macro_rules! dot_tiles {
        ($product:expr, $rows:expr, $cols:expr, $i:expr, $j:expr; $(($r:literal, $c:literal)),*) => {
            match ($rows, $cols) {
                $(($r, $c) => $product.dot_tile_avx2::<$r, $c>($i, $j),)*
                _ => unreachable!("dot tiles are at most {DOT_MR} × {DOT_NR}"),
            }
        };
    }

    impl Product {
        /// [`Product::rank_update`], compiled for AVX2 and FMA.
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn rank_update_avx2(self) {
            self.rank_update();
        }

        #[target_feature(enable = "avx2,fma")]
        pub(in crate::gemm) unsafe fn broadcast_avx2(self) {
            self.broadcast_blocks::<MR, NR>(|tile| {
                if tile.cols == NR {
                    by_rows!(self.tile_avx2::<_, false>(tile); 6, 5, 4, 3, 2, 1)
                } else {
                    by_rows!(self.tile_avx2::<_, true>(tile); 6, 5, 4, 3, 2, 1)
                }
            });
        }

        /// A `ROWS × 16` tile of `C` over its depths: for each depth, two vectors of a row
        /// of `B` and `ROWS` broadcast elements of `A`, `2 · ROWS` FMAs. `MASKED` for a
        /// tile at C's right edge, of fewer columns: the lanes past the edge are neither
        /// loaded nor stored, and the columns inside are summed with the same fused
        /// multiply-adds as everywhere else (and as the AVX-512 tiles), so every element
        /// of the broadcast form has the same bits on either instruction set.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn tile_avx2<const ROWS: usize, const MASKED: bool>(self, tile: Tile) {
            let Tile {
                i,
                j,
                cols,
                accumulate,
                ..
            } = tile;
            debug_assert!(ROWS == tile.rows && ROWS <= MR && (cols == NR) != MASKED);
            // Contiguous columns of B and C, unless there is one (of a product with n = 1).
            debug_assert!(self.b.col_stride == 1 || cols == 1);
            // Past the edge only addresses are formed (`wrapping_add`), under an empty mask.
            let lanes = |v: usize| {
                let inside = cols.saturating_sub(8 * v).min(8) as i32;
                _mm256_cmpgt_epi32(
                    _mm256_set1_epi32(inside),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                )
            };
            let masks = [lanes(0), lanes(1)];
            let load = |at: *const f32, v: usize| match MASKED {
                true => _mm256_maskload_ps(at.wrapping_add(8 * v), masks[v]),
                false => _mm256_loadu_ps(at.add(8 * v)),
            };
            let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
            for p in tile.depths {
                let b = self.b.at(p, j);
                let (b0, b1) = (load(b, 0), load(b, 1));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = _mm256_set1_ps(*self.a.at(i + r, p));
                    acc[0] = _mm256_fmadd_ps(a, b0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(a, b1, acc[1]);
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let c = self.c_at(i + r, j);
                if !MASKED {
                    store_16(c, *acc, accumulate);
                    continue;
                }
                for (v, &x) in acc.iter().enumerate() {
                    let x = match accumulate {
                        true => _mm256_add_ps(x, load(c, v)),
                        false => x,
                    };
                    _mm256_maskstore_ps(c.wrapping_add(8 * v), masks[v], x);
                }
            }
        }

        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn dot_avx2(self) {
            for j0 in (0..self.n).step_by(DOT_NB) {
                let j1 = (j0 + DOT_NB).min(self.n);
                for i in (0..self.m).step_by(DOT_MR) {
                    let rows = DOT_MR.min(self.m - i);
                    for j in (j0..j1).step_by(DOT_NR) {
                        let cols = DOT_NR.min(j1 - j);
                        // Every edge shape gets its own tile: splitting an edge into 1 × 1
                        // tiles would leave one latency-bound FMA chain per element.
                        dot_tiles!(self, rows, cols, i, j;
                            (3, 4), (3, 3), (3, 2), (3, 1),
                            (2, 4), (2, 3), (2, 2), (2, 1),
                            (1, 4), (1, 3), (1, 2), (1, 1));
                    }
                }
            }
        }

        /// A `ROWS × COLS` tile of dot products `C[i, j] = A[i, :] · Bᵀ[j, :]`, eight
        /// depths at a time, then the remaining depths one by one.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn dot_tile_avx2<const ROWS: usize, const COLS: usize>(self, i: usize, j: usize) {
            let mut acc = [[_mm256_setzero_ps(); COLS]; ROWS];
            let k8 = self.k - self.k % 8;
            // Eight contiguous depths of a row of A and of a column of B.
            debug_assert!(k8 == 0 || (self.a.col_stride == 1 && self.b.row_stride == 1));
            for p in (0..k8).step_by(8) {
                let mut a = [_mm256_setzero_ps(); ROWS];
                for (r, a) in a.iter_mut().enumerate() {
                    *a = _mm256_loadu_ps(self.a.at(i + r, p));
                }
                for cc in 0..COLS {
                    let b = _mm256_loadu_ps(self.b.at(p, j + cc));
                    for (acc, &a) in acc.iter_mut().zip(&a) {
                        acc[cc] = _mm256_fmadd_ps(a, b, acc[cc]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (cc, &acc) in acc.iter().enumerate() {
                    let mut sum = horizontal_sum(acc);
                    for p in k8..self.k {
                        sum += *self.a.at(i + r, p) * *self.b.at(p, j + cc);
                    }
                    let c = self.c_at(i + r, j + cc);
                    *c = if self.accumulate { *c + sum } else { sum };
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn horizontal_sum(v: __m256) -> f32 {
        let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
        let single = _mm_add_ss(pairs, _mm_shuffle_ps::<0b01>(pairs, pairs));
        _mm_cvtss_f32(single)
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx512 {
    //! The broadcast tiles with AVX-512: sixteen `f32` lanes per register, masked at C's
    //! right edge as the AVX2 tiles are, so that both give every element the same bits.

    use std::arch::x86_64::*;

    use super::{Product, Tile};
    use crate::gemm::tile::lanes_inside;

    /// Rows and columns of a tile: 16 accumulators of sixteen lanes, two loads of `B`
    /// and eight broadcasts of `A` per depth for 16 fused multiply-adds.
    const AVX512_MR: usize = 8;
    const AVX512_NR: usize = 32;

    impl Product {
        #[target_feature(enable = "avx512f")]
        pub(in crate::gemm) unsafe fn broadcast_avx512(self) {
            // A tile of at most 16 columns (at C's edge, or of a narrow C) multiplies one
            // vector: the second would multiply zeros.
            self.broadcast_blocks::<AVX512_MR, AVX512_NR>(|tile| {
                if tile.cols > 16 {
                    by_rows!(self.tile_avx512::<_, 2>(tile); 8, 7, 6, 5, 4, 3, 2, 1)
                } else {
                    by_rows!(self.tile_avx512::<_, 1>(tile); 8, 7, 6, 5, 4, 3, 2, 1)
                }
            });
        }

        /// A `ROWS × cols` tile of `C` (`cols ≤ 16 V`) over its depths: for each depth,
        /// `V` vectors of a row of `B` and `ROWS` broadcast elements of `A`.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn tile_avx512<const ROWS: usize, const V: usize>(self, tile: Tile) {
            let Tile {
                i,
                j,
                cols,
                accumulate,
                ..
            } = tile;
            debug_assert!(ROWS == tile.rows && cols <= 16 * V && V <= 2);
            // Contiguous columns of B and C, unless there is one (of a product with n = 1).
            debug_assert!(self.b.col_stride == 1 || cols == 1);
            // Loads and stores touch only the lanes inside C. Past the edge only addresses
            // are formed (`wrapping_add`), under an empty mask.
            let masks: [__mmask16; V] = std::array::from_fn(|v| lanes_inside(cols, v));
            let mut acc = [[_mm512_setzero_ps(); V]; ROWS];
            for p in tile.depths {
                let b = self.b.at(p, j);
                let bv: [__m512; V] = std::array::from_fn(|v| {
                    _mm512_maskz_loadu_ps(masks[v], b.wrapping_add(16 * v))
                });
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*self.a.at(i + r, p));
                    for (acc, &bv) in acc.iter_mut().zip(&bv) {
                        *acc = _mm512_fmadd_ps(a, bv, *acc);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let c = self.c_at(i + r, j);
                for (v, (&mask, &x)) in masks.iter().zip(acc).enumerate() {
                    let c = c.wrapping_add(16 * v);
                    let x = if accumulate {
                        _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, c))
                    } else {
                        x
                    };
                    _mm512_mask_storeu_ps(c, mask, x);
                }
            }
        }
    }
}

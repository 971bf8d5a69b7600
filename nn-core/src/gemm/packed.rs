//! The packed form, for products large in all three dimensions.
//!
//! This is the recipe of BLIS and of every fast GEMM since: copy a `KC × NC` block of
//! `B` into panels of `NR` columns and an `MC × KC` block of `A` into panels of `MR`
//! rows, each laid out in the order the micro-kernel reads it and padded with zeros past
//! the edges. The micro-kernel then multiplies one panel of `A` by one panel of `B` into
//! an `MR × NR` tile of `C` held in registers, reading both panels sequentially. A
//! panel of `B` stays in L1 while the panels of `A` stream past it from L2, and the
//! packing is paid once per block, whatever the operands' strides. While the micro-kernel
//! multiplies one block, what the next packing will read is fetched into L2 a line at a
//! time ([`Lookahead`]), so that packing does not wait on memory.
//!
//! The packing buffers belong to the thread: made by its first packed product and
//! reused by every later one, so a warmed-up single-threaded training step allocates
//! nothing (with threads, a thread allocates when it first meets a piece of a product,
//! or a larger one than before).
//!
//! Each element of `C` is summed in the same order by every micro-kernel (depth by
//! depth within a block of `KC`, one fused multiply-add each, the block added to what
//! `C` holds, or for the first block to where the product starts), so AVX2 and AVX-512
//! give the same bits, and so does any split among threads.

use super::{Operand, Product};
use crate::scratch::{Buffer, Lent, Space};

/// Depth of a block: the rows of `B` (columns of `A`) packed at a time.
pub(super) const KC: usize = 256;

/// `(MR, NR, MC, NC)` of every micro-kernel this CPU family may run, for sizing scratch.
#[cfg(target_arch = "x86_64")]
pub(super) const BLOCKINGS: &[(usize, usize, usize, usize)] =
    &[blocking::<x86::Avx512>(), blocking::<x86::Avx2>()];
#[cfg(not(target_arch = "x86_64"))]
pub(super) const BLOCKINGS: &[(usize, usize, usize, usize)] = &[];

#[cfg(target_arch = "x86_64")]
const fn blocking<K: MicroKernel>() -> (usize, usize, usize, usize) {
    (K::MR, K::NR, K::MC, K::NC)
}

/// Rows and columns at which a product is cut between threads: multiples of every
/// micro-kernel's tile, so that no piece has a ragged edge the whole would not have.
pub(super) const SPLIT_ROWS: usize = 24;
pub(super) const SPLIT_COLS: usize = 32;

/// A register tile and the blocking around it.
pub(super) trait MicroKernel {
    /// Rows of a tile (of a panel of `A`).
    const MR: usize;
    /// Columns of a tile (of a panel of `B`).
    const NR: usize;
    /// Rows of `A` packed at a time: `MC × KC` floats stay in L2.
    const MC: usize;
    /// Columns of `B` packed at a time.
    const NC: usize;

    /// `C[..rows, ..cols] ← [addend +] a b` for the tile `job` describes, or with a
    /// [`Finish`], `out[..rows, ..cols] ← out + ([addend +] a b)`; meanwhile asks
    /// `ahead` for lines ([`Lookahead::over_depths`]).
    ///
    /// # Safety
    ///
    /// As [`TileJob`] says; the CPU must have the kernel's instructions.
    unsafe fn tile(job: TileJob, ahead: &mut Lookahead);
}

/// One tile's work: `C[..rows, ..cols] ← [addend +] a b` over `kc` depths, where `a` is
/// a packed panel of `A` (`kc × MR`, depth-major) and `b` one of `B` (`kc × NR`).
///
/// The panels must hold `kc` depths; `c` must have `rows ≤ MR` rows `c_row_stride`
/// apart, each with `cols ≤ NR` contiguous elements. So must `addend` if given (`C`
/// itself, or where the product starts from, whose rows may be 0 apart), with its own
/// row stride, and `finish.out` if given: the tile is then added to it rather than
/// stored in `c`.
#[derive(Clone, Copy)]
pub(super) struct TileJob {
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    c_row_stride: isize,
    rows: usize,
    cols: usize,
    addend: Option<Operand>,
    finish: Option<Finish>,
}

/// Where the last depth block of a packed product adds each finished element of `C`
/// instead of storing it: `out ← out + C`, as [`super::depth_halves`] adds its second
/// half, without writing that half out and reading it back.
#[derive(Clone, Copy)]
pub(super) struct Finish {
    pub(super) out: *mut f32,
    pub(super) row_stride: isize,
}

impl Finish {
    /// The same, from element (i, j) of `out` on: where the tile at (i, j) adds.
    #[inline(always)]
    unsafe fn from(self, i: usize, j: usize) -> Finish {
        Finish {
            out: self.out.offset(i as isize * self.row_stride + j as isize),
            ..self
        }
    }
}

fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

impl Product {
    /// `C ← [C +] A B` through packed panels and the micro-kernel `K`; with `start`,
    /// `C ← start + A B`; with `finish`, the finished `C` is added to `finish.out`
    /// instead (its blocks before the last are still summed in `C`).
    ///
    /// # Safety
    ///
    /// As [`Product::run`]; `C` has unit column stride; the CPU has `K`'s instructions;
    /// `start` and `finish.out`, if given, are `m × n` matrices with unit column stride
    /// (rows may be 0 apart in `start`), and neither overlaps `C` nor `finish.out` an
    /// operand; `start` is not given with `accumulate`.
    #[inline(always)]
    pub(super) unsafe fn packed<K: MicroKernel>(
        self,
        start: Option<Operand>,
        finish: Option<Finish>,
    ) {
        // The thread's buffers are lent out for the product and given back after it (even
        // if it panics), so that the product runs here, compiled with `K`'s instructions
        // by the caller.
        let (mut a, mut b) = (Lent::take(Space::PackedA), Lent::take(Space::PackedB));
        self.packed_with::<K>(&mut a, &mut b, start, finish);
    }

    #[inline(always)]
    unsafe fn packed_with<K: MicroKernel>(
        self,
        a_buffer: &mut Buffer,
        b_buffer: &mut Buffer,
        start: Option<Operand>,
        finish: Option<Finish>,
    ) {
        debug_assert!(start.is_none_or(|start| start.col_stride == 1 && !self.accumulate));
        let c = Operand {
            ptr: self.c,
            row_stride: self.c_row_stride,
            col_stride: 1,
        };
        let b_pack = b_buffer.get(KC.min(self.k) * K::NC.min(round_up(self.n, K::NR)));
        let a_pack = a_buffer.get(KC.min(self.k) * K::MC.min(round_up(self.m, K::MR)));
        let mut ahead = Lookahead::default();
        for j0 in (0..self.n).step_by(K::NC) {
            let nc = K::NC.min(self.n - j0);
            for p0 in (0..self.k).step_by(KC) {
                let kc = KC.min(self.k - p0);
                // The first depth block adds to C or to `start`, or to nothing; later
                // ones add to C.
                let addend = if self.accumulate || p0 > 0 {
                    Some(c)
                } else {
                    start
                };
                let finish = finish.filter(|_| p0 + kc == self.k);
                pack(K::NR, self.b.transposed(), j0, nc, p0, kc, b_pack);
                // What the next depth block packs, once the next blocks of A are fetched.
                let next_p0 = p0 + KC;
                ahead.later = if next_p0 < self.k {
                    let next_kc = KC.min(self.k - next_p0);
                    [
                        Region::of(self.b.transposed(), j0, nc, next_p0, next_kc),
                        Region::of(self.a, 0, K::MC.min(self.m), next_p0, next_kc),
                    ]
                } else {
                    Default::default()
                };
                for i0 in (0..self.m).step_by(K::MC) {
                    let mc = K::MC.min(self.m - i0);
                    pack(K::MR, self.a, i0, mc, p0, kc, a_pack);
                    let next_i0 = i0 + K::MC;
                    ahead.next = if next_i0 < self.m {
                        Region::of(self.a, next_i0, K::MC.min(self.m - next_i0), p0, kc)
                    } else {
                        Region::default()
                    };
                    for jr in (0..nc).step_by(K::NR) {
                        for ir in (0..mc).step_by(K::MR) {
                            K::tile(
                                TileJob {
                                    kc,
                                    a: a_pack.as_ptr().add(ir * kc),
                                    b: b_pack.as_ptr().add(jr * kc),
                                    c: self.c_at(i0 + ir, j0 + jr),
                                    c_row_stride: self.c_row_stride,
                                    rows: K::MR.min(mc - ir),
                                    cols: K::NR.min(nc - jr),
                                    addend: addend.map(|x| x.from(i0 + ir, j0 + jr)),
                                    finish: finish.map(|f| f.from(i0 + ir, j0 + jr)),
                                },
                                &mut ahead,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Depths a micro-kernel computes per line it asks [`Lookahead`] to fetch. W1's forward
/// product at batch 1024 multiplies each block of 96 × 256 floats of `A` in 48 tiles of
/// 256 depths: one line per 8 depths fetches the next block (1,536 lines) in time.
/// W1's batch-1024 step was 2–3% slower with a line per 4 or per 16 depths.
const DEPTHS_PER_LINE: usize = 8;

/// The source of the panels packed next, fetched into L2 one cache line at a time while
/// the micro-kernel computes.
///
/// Packing reads memory the step has not touched lately (a new batch of inputs, a weight
/// updated a whole step ago) and, alone, waits on it: W1's input at batch 1024 was packed
/// at 40% of the speed it reaches from L2. Fetched in a burst before a tile, the lines
/// stall the tile instead; one at a time among its multiply-adds they arrive unnoticed.
/// What a product packs first is not fetched ahead: there is nothing to hide it behind.
#[derive(Default)]
pub(super) struct Lookahead {
    /// The next block of `A` at this depth.
    next: Region,
    /// Then the next depth block's `B` and first block of `A` (none after a column
    /// block's last depth block: the next column block, of a product wider than `NC`,
    /// starts cold).
    later: [Region; 2],
}

impl Lookahead {
    /// Runs `depth(p)` for every `p` in `0..kc`, in order, asking for a line every
    /// [`DEPTHS_PER_LINE`] depths: a micro-kernel's loop over the depths of a tile.
    ///
    /// The depths come in whole groups and then the rest, so that the question is asked
    /// between groups rather than tested at every depth (W1's batch-1024 step was 3%
    /// slower with the test).
    #[inline(always)]
    fn over_depths(&mut self, kc: usize, mut depth: impl FnMut(usize)) {
        let grouped = kc - kc % DEPTHS_PER_LINE;
        for first in (0..grouped).step_by(DEPTHS_PER_LINE) {
            self.step();
            for p in first..first + DEPTHS_PER_LINE {
                depth(p);
            }
        }
        for p in grouped..kc {
            depth(p);
        }
    }

    /// Asks for the next line, if any is left.
    #[inline(always)]
    fn step(&mut self) {
        let line = (self.next.next_line())
            .or_else(|| self.later[0].next_line())
            .or_else(|| self.later[1].next_line());
        if let Some(line) = line {
            prefetch(line);
        }
    }
}

/// Runs of memory read by a coming [`pack`], walked a line at a time: a cursor, so neither
/// it nor [`Lookahead`] is `Copy`, lest a copy walk lines the original then walks again.
struct Region {
    /// The next line to fetch, in the current run.
    line: *const u8,
    /// Where the current run starts.
    start: *const u8,
    /// Bytes in a run.
    run: usize,
    /// Bytes from the start of one run to the start of the next.
    stride: isize,
    /// Runs left, the current one included.
    runs: usize,
}

impl Default for Region {
    fn default() -> Self {
        Region {
            line: std::ptr::null(),
            start: std::ptr::null(),
            run: 0,
            stride: 0,
            runs: 0,
        }
    }
}

impl Region {
    /// What `pack(_, x, i0, rows, p0, kc, _)` reads, where either the rows or the
    /// depths of `x` are contiguous; nothing otherwise.
    fn of(x: Operand, i0: usize, rows: usize, p0: usize, kc: usize) -> Region {
        let size = std::mem::size_of::<f32>();
        let (run, runs, stride) = if x.col_stride == 1 {
            (kc, rows, x.row_stride)
        } else if x.row_stride == 1 {
            (rows, kc, x.col_stride)
        } else {
            return Region::default();
        };
        if run == 0 {
            return Region::default();
        }
        // Only addresses are formed here and in `next_line`, never dereferenced: a
        // prefetch does not fault.
        let start = x
            .ptr
            .wrapping_offset(i0 as isize * x.row_stride + p0 as isize * x.col_stride)
            as *const u8;
        Region {
            line: line_of(start),
            start,
            run: run * size,
            stride: stride * size as isize,
            runs,
        }
    }

    /// The next line to fetch, if any is left.
    #[inline(always)]
    fn next_line(&mut self) -> Option<*const u8> {
        if self.runs == 0 {
            return None;
        }
        let line = self.line;
        self.line = line.wrapping_add(LINE);
        if self.line >= self.start.wrapping_add(self.run) {
            // Each run from the line of its own first byte: runs a stride apart need
            // not start at the same place in a line.
            self.start = self.start.wrapping_offset(self.stride);
            self.line = line_of(self.start);
            self.runs -= 1;
        }
        Some(line)
    }
}

/// The start of the cache line that holds `at`.
#[inline(always)]
fn line_of(at: *const u8) -> *const u8 {
    at.wrapping_sub(at as usize % LINE)
}

/// Bytes in a cache line.
const LINE: usize = 64;

/// Asks for the line at `at` into L2 (a hint: it does not fault, and may be dropped).
#[inline(always)]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and faults on no address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
        _mm_prefetch::<_MM_HINT_T1>(at as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Depths of an operand copied side by side (see [`pack`]): W1's batch-1024 step was 3%
/// faster with 8 than with 1, and no faster with 16.
const COPY_DEPTHS: usize = 8;

/// Packs rows `i0..i0 + rows` and columns `p0..p0 + kc` of `x` into panels of `panel` rows
/// (a constant of the micro-kernel, known once this is inlined):
/// panel `q` holds rows `i0 + q panel ..`, depth-major (`dst[q·kc·panel + p·panel + r]`), with rows
/// past the end as zeros. `A` is packed as it is and `B` as `Bᵀ`.
///
/// # Safety
///
/// The rows and columns must be inside `x`; `dst` must hold `⌈rows / panel⌉ · kc · panel`.
#[inline(always)]
unsafe fn pack(
    panel: usize,
    x: Operand,
    i0: usize,
    rows: usize,
    p0: usize,
    kc: usize,
    dst: &mut [f32],
) {
    debug_assert!(dst.len() >= rows.div_ceil(panel) * kc * panel);
    let dst = dst.as_mut_ptr();
    // Where each depth's elements are contiguous (`B` with contiguous rows, the `Δᵀ` of a
    // weight gradient), packing whole panels is a copy, bound by fetching the source:
    // `COPY_DEPTHS` depths at a time across every panel, as several runs of memory read
    // side by side keep several fetches in flight. Panel by panel, each depth would be
    // a short read from a new page, which the hardware does not prefetch.
    let whole = if x.row_stride == 1 { rows / panel } else { 0 };
    for first in (0..kc).step_by(COPY_DEPTHS) {
        let depths = first..(first + COPY_DEPTHS).min(kc);
        for q in 0..whole {
            for p in depths.clone() {
                let out = dst.add(q * kc * panel + p * panel);
                std::ptr::copy_nonoverlapping(x.at(i0 + q * panel, p0 + p), out, panel);
            }
        }
    }
    for (q, i) in (whole * panel..rows).step_by(panel).enumerate() {
        let out = dst.add((whole + q) * kc * panel);
        let live = panel.min(rows - i);
        let mut r0 = 0;
        #[cfg(target_arch = "x86_64")]
        if x.col_stride == 1 {
            // Rows contiguous along the depth: transpose 4 × 4 blocks in registers, as
            // elements stored one by one `panel` apart would stall on the stores.
            while r0 + 8 <= live {
                x86::transpose_rows8(x.at(i0 + i + r0, p0), x.row_stride, kc, out.add(r0), panel);
                r0 += 8;
            }
            while r0 + 4 <= live {
                x86::transpose_rows(x.at(i0 + i + r0, p0), x.row_stride, kc, out.add(r0), panel);
                r0 += 4;
            }
        }
        for p in 0..kc {
            let src = x.at(i0 + i, p0 + p);
            for r in r0..live {
                *out.add(p * panel + r) = *src.offset(r as isize * x.row_stride);
            }
        }
        if live < panel {
            for p in 0..kc {
                for r in live..panel {
                    *out.add(p * panel + r) = 0.0;
                }
            }
        }
    }
}

impl Operand {
    /// The same matrix from element (i, j) on.
    ///
    /// # Safety
    ///
    /// (i, j) must be inside the matrix.
    #[inline(always)]
    unsafe fn from(self, i: usize, j: usize) -> Operand {
        Operand {
            ptr: self.at(i, j),
            ..self
        }
    }

    /// The same matrix, transposed.
    fn transposed(self) -> Operand {
        Operand {
            ptr: self.ptr,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Product {
    /// [`Product::packed`] with the AVX-512 micro-kernel.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn packed_avx512(self, start: Option<Operand>, finish: Option<Finish>) {
        self.packed::<x86::Avx512>(start, finish);
    }

    /// [`Product::packed`] with the AVX2 micro-kernel.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn packed_avx2(self, start: Option<Operand>, finish: Option<Finish>) {
        self.packed::<x86::Avx2>(start, finish);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The micro-kernels for x86-64: AVX-512 where the CPU has it, else AVX2 and FMA.

    use std::arch::x86_64::*;

    use super::super::direct::avx2::store_16;
    use super::super::lanes_inside;
    use super::{Lookahead, MicroKernel, TileJob};

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
    /// broadcasts of `A` per depth for 16 fused multiply-adds. (12 × 32 and 14 × 32 were
    /// measured 2–10% slower on the products of W1 and W2, as were 8 × 48 and 6 × 64.)
    pub(super) struct Avx512;

    impl MicroKernel for Avx512 {
        const MR: usize = AVX512_MR;
        const NR: usize = 16 * VECTORS;
        const MC: usize = 96;
        const NC: usize = 1024;

        #[inline(always)]
        unsafe fn tile(job: TileJob, ahead: &mut Lookahead) {
            // A tile at C's right edge with no more than one vector's columns multiplies
            // only that vector: half the work of a whole tile, which the second vector
            // of zeros would waste (the last 16 of W1's 784 inputs, in its weight
            // gradient: W1's batch-1024 step was 0.75% faster).
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
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use ndarray::{s, Array, Array2, ArrayView2, ArrayViewMut2};

    use super::super::{Operand, Product};
    use super::{Finish, Region, LINE};

    fn matrix(rows: usize, cols: usize, phase: f32) -> Array2<f32> {
        Array::from_shape_fn((rows, cols), |(i, j)| {
            ((i * 13 + j * 7) as f32 * 0.37 + phase).sin()
        })
    }

    /// `C ← [C +] A B` through one micro-kernel, or `C ← start + A B` with `start`, or
    /// `out ← out + (…)` with `out`.
    fn packed(
        kernel: unsafe fn(Product, Option<Operand>, Option<Finish>),
        a: ArrayView2<'_, f32>,
        b: ArrayView2<'_, f32>,
        c: &mut Array2<f32>,
        accumulate: bool,
        start: Option<ArrayView2<'_, f32>>,
        out: Option<&mut ArrayViewMut2<'_, f32>>,
    ) {
        let product = Product {
            m: a.nrows(),
            n: b.ncols(),
            k: a.ncols(),
            a: Operand::of(&a),
            b: Operand::of(&b),
            c: c.as_mut_ptr(),
            c_row_stride: c.strides()[0],
            accumulate,
        };
        let start = start.map(|start| Operand::of(&start));
        let finish = out.map(|out| Finish {
            out: out.as_mut_ptr(),
            row_stride: out.strides()[0],
        });
        // SAFETY: the operands and `start` are views of the recorded shapes, `c` and
        // `out` are arrays of the product's shape with unit column stride, and the caller
        // checked the CPU.
        unsafe { kernel(product, start, finish) };
    }

    /// What a product is added to in [`micro_kernels_match_the_reference_and_each_other`].
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Added {
        Nothing,
        /// C, holding 1.
        Itself,
        /// A row broadcast over C's rows, as a bias is.
        Row,
    }

    /// Both micro-kernels, at sizes that cross the edges of tiles, panels and blocks
    /// (`MC` = 96 rows for AVX-512 and 144 for AVX2, `KC` = 256 depths, `NC` = 1024 columns), with every operand
    /// layout, added to nothing, to C or to a broadcast row, stored in C or added to
    /// another matrix: they agree with a plain f64 sum and, bit for bit, with each other.
    #[test]
    fn micro_kernels_match_the_reference_and_each_other() {
        if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
            return;
        }
        let avx512 = std::is_x86_feature_detected!("avx512f");
        for (m, n, k) in [
            (1, 1, 1),
            (13, 33, 9),
            (145, 40, 257),
            (30, 1030, 20),
            (30, 1030, 600),
            (12, 32, 600),
        ] {
            let (a, b) = (matrix(m, k, 0.2), matrix(k, n, 0.6));
            let (a_t, b_t) = (a.t().to_owned(), b.t().to_owned());
            let row = Array::from_shape_fn(n, |j| 0.5 + j as f32 * 0.01);
            let expected = Array::from_shape_fn((m, n), |(i, j)| {
                (0..k)
                    .map(|p| f64::from(a[[i, p]]) * f64::from(b[[p, j]]))
                    .sum::<f64>()
            });
            for (a, b) in [(a.view(), b.view()), (a_t.t(), b_t.t())] {
                for added in [Added::Nothing, Added::Itself, Added::Row] {
                    for finish in [false, true] {
                        let c_start = if added == Added::Itself {
                            1.0
                        } else {
                            f32::NAN
                        };
                        // With a finish, the result is what `out` holds, 0.25 more.
                        let (offset, out_start) = if finish {
                            (0.25, 0.25)
                        } else {
                            (0.0, f32::NAN)
                        };
                        let start = (added == Added::Row).then(|| row.broadcast((m, n)).unwrap());
                        let run = |kernel| {
                            let mut c = Array2::from_elem((m, n), c_start);
                            // Rows further apart than C's.
                            let mut wide = Array2::from_elem((m, n + 5), out_start);
                            let mut out = wide.slice_mut(s![.., ..n]);
                            let accumulate = added == Added::Itself;
                            packed(
                                kernel,
                                a,
                                b,
                                &mut c,
                                accumulate,
                                start,
                                finish.then_some(&mut out),
                            );
                            if finish {
                                out.to_owned()
                            } else {
                                c
                            }
                        };
                        let c2 = run(Product::packed_avx2);
                        let tolerance = 1e-6 * k as f64 + 1e-6;
                        for ((i, j), &c) in c2.indexed_iter() {
                            let base = match added {
                                Added::Nothing => 0.0,
                                Added::Itself => 1.0,
                                Added::Row => f64::from(row[j]),
                            };
                            let e = expected[[i, j]] + base + offset;
                            assert!(
                                (f64::from(c) - e).abs() <= tolerance,
                                "{m}×{n}×{k}, {added:?}, finish {finish} at ({i}, {j}): {c} vs {e}"
                            );
                        }
                        if avx512 {
                            let c16 = run(Product::packed_avx512);
                            assert!(
                                c16.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits()),
                                "{m}×{n}×{k}, {added:?}, finish {finish}: AVX-512 and AVX2 differ"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A product that panics (here on a debug assertion: a start given with accumulate)
    /// gives the thread's packing buffers back all the same, so a later product need not
    /// allocate them again.
    #[cfg(debug_assertions)]
    #[test]
    fn a_panicking_product_gives_the_buffers_back() {
        if !std::is_x86_feature_detected!("avx2") || !std::is_x86_feature_detected!("fma") {
            return;
        }
        let (a, b) = (matrix(40, 50, 0.1), matrix(50, 60, 0.2));
        let mut c = Array2::zeros((40, 60));
        packed(
            Product::packed_avx2,
            a.view(),
            b.view(),
            &mut c,
            false,
            None,
            None,
        );
        let warm = crate::scratch::thread_floats();
        assert!(warm > 0);
        let start = Array2::zeros((40, 60));
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            packed(
                Product::packed_avx2,
                a.view(),
                b.view(),
                &mut c,
                true,
                Some(start.view()),
                None,
            );
        }));
        assert!(panicked.is_err());
        assert_eq!(crate::scratch::thread_floats(), warm);
    }

    /// A [`Region`] walks, run after run, exactly the lines holding what [`pack`] reads:
    /// for rows or depths contiguous, runs starting mid-line, and runs a stride apart
    /// that is not a whole number of lines (so that neighbours share a line, walked in
    /// each); and one with neither contiguous walks nothing.
    #[test]
    fn a_region_walks_the_lines_of_a_pack_run_by_run() {
        let x = matrix(40, 50, 0.1);
        let line_of = |p: &f32| p as *const f32 as usize / LINE;
        for (view, i0, rows, p0, kc) in [
            (x.view(), 3, 9, 5, 30),
            (x.t(), 1, 33, 7, 6),
            (x.slice(s![.., 1..]), 0, 40, 0, 49),
        ] {
            let mut expected = Vec::new();
            let rows_contiguous = view.strides()[1] == 1;
            let (runs, run) = if rows_contiguous {
                (rows, kc)
            } else {
                (kc, rows)
            };
            for r in 0..runs {
                let mut lines: Vec<_> = (0..run)
                    .map(|e| match rows_contiguous {
                        true => line_of(&view[(i0 + r, p0 + e)]),
                        false => line_of(&view[(i0 + e, p0 + r)]),
                    })
                    .collect();
                lines.dedup();
                expected.extend(lines);
            }
            let mut region = Region::of(Operand::of(&view), i0, rows, p0, kc);
            let walked: Vec<_> = std::iter::from_fn(|| region.next_line())
                .map(|line| line as usize / LINE)
                .collect();
            assert_eq!(walked, expected);
        }
        let strided = x.slice(s![..;2, ..;2]);
        let mut region = Region::of(Operand::of(&strided), 0, 4, 0, 4);
        assert_eq!(region.next_line(), None);
    }
}

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
    unsafe fn shifted(self, i: usize, j: usize) -> Finish {
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
                                    addend: addend.map(|x| x.shifted(i0 + ir, j0 + jr)),
                                    finish: finish.map(|f| f.shifted(i0 + ir, j0 + jr)),
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

/// Depths a micro-kernel computes per line it asks [`Lookahead`] to fetch: enough lines
/// to bring the next block of `A` in while the tiles of this one are computed (a block
/// of 96 × 256 floats, 1,536 lines, over 48 tiles of 256 depths).
const DEPTHS_PER_LINE: usize = 8;

/// The source of the panels packed next, fetched into L2 one cache line at a time while
/// the micro-kernel computes.
///
/// Packing reads memory the step has not touched lately (a new batch of inputs, a weight
/// updated a whole step ago) and, alone, waits on it. Fetched in a burst before a tile,
/// the lines stall the tile instead; one at a time among its multiply-adds they arrive
/// unnoticed.
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
    /// between groups rather than tested at every depth, which costs the tile's loop.
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

/// Depths of an operand copied side by side (see [`pack`]): more than one keeps several
/// loads in flight; beyond 8, nothing more was gained.
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
    unsafe fn shifted(self, i: usize, j: usize) -> Operand {
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
mod x86;

#[cfg(all(test, target_arch = "x86_64"))]
mod tests;

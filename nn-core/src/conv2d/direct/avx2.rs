//! The kernels with AVX2 and FMA: eight `f32` lanes per register.

use std::arch::x86_64::*;

use super::{tap_offset, vector_base, Geometry, Registers, CHANNELS, LANES};
use crate::scratch::{with_scratch, Space};

/// Calls `$call::<R, C>` for the tile shape `($rows, $cols)`, one of those listed.
macro_rules! tiles {
    ($call:ident($args:expr), $rows:expr, $cols:expr; $(($r:literal, $c:literal)),*) => {
        match ($rows, $cols) {
            $(($r, $c) => $call::<$r, $c>($args),)*
            _ => unreachable!("no tile of {} × {}", $rows, $cols),
        }
    };
}

/// See [`super::forward`]: its checked arguments.
#[derive(Clone, Copy)]
pub(super) struct ForwardJob {
    pub(super) g: Geometry,
    pub(super) outputs: usize,
    pub(super) weight: *const f32,
    pub(super) bias: *const f32,
    pub(super) image: *const f32,
    pub(super) z: *mut f32,
}

impl ForwardJob {
    /// Every tile of at most 6 channels × 2 vectors: twelve accumulators, as the
    /// broadcast form of the matrix products; with AVX-512's 32 registers, 6 × 4 (still
    /// vectors of eight lanes: an output row is a whole number of them), so that each
    /// weight broadcast serves twice the positions.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA; the fields hold what [`super::forward`] checks.
    pub(super) unsafe fn run(self) {
        if avx512() {
            self.run_avx512();
        } else {
            self.run_avx2();
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(self) {
        self.tiles::<2>();
    }

    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    unsafe fn run_avx512(self) {
        self.tiles::<4>();
    }

    /// Every tile of at most 6 channels × `NV` vectors, inlined into the callers above
    /// so that it is compiled for their instructions.
    #[inline(always)]
    unsafe fn tiles<const NV: usize>(self) {
        let vectors = self.g.positions() / LANES;
        for o in (0..self.outputs).step_by(6) {
            let rows = 6.min(self.outputs - o);
            for v in (0..vectors).step_by(NV) {
                let tile = Tile { o, v };
                tiles!(forward_tile((self, tile)), rows, NV.min(vectors - v);
                    (6, 4), (5, 4), (4, 4), (3, 4), (2, 4), (1, 4),
                    (6, 3), (5, 3), (4, 3), (3, 3), (2, 3), (1, 3),
                    (6, 2), (5, 2), (4, 2), (3, 2), (2, 2), (1, 2),
                    (6, 1), (5, 1), (4, 1), (3, 1), (2, 1), (1, 1));
            }
        }
    }
}

/// Whether the CPU has the AVX-512 of the weight adjoint's larger tiles.
fn avx512() -> bool {
    crate::isa::avx512()
}

/// Where a tile starts: its first output channel, and its first vector of output
/// positions (forward) or its first tap (weight gradient).
#[derive(Clone, Copy)]
struct Tile {
    o: usize,
    v: usize,
}

/// `ROWS` output channels × `VECS` vectors of positions of `z`, summed over every tap
/// in order: for each tap, `VECS` loads of the image and `ROWS` broadcast weights.
#[inline(always)]
unsafe fn forward_tile<const ROWS: usize, const VECS: usize>(
    (job, Tile { o, v }): (ForwardJob, Tile),
) {
    let ForwardJob {
        g,
        weight,
        bias,
        image,
        z,
        ..
    } = job;
    let (k, patch, positions) = (g.window.size, g.patch_len(), g.positions());
    let bases: [usize; VECS] = std::array::from_fn(|q| vector_base(g, v + q));
    let mut acc = [[_mm256_setzero_ps(); VECS]; ROWS];
    let mut p = 0;
    for channel in 0..g.channels {
        for i in 0..k {
            let row = image.add(channel * g.height * g.width + i * g.width);
            for j in 0..k {
                let b: [__m256; VECS] =
                    std::array::from_fn(|q| _mm256_loadu_ps(row.add(j + bases[q])));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let a = _mm256_set1_ps(*weight.add((o + r) * patch + p));
                    for (acc, &b) in acc.iter_mut().zip(&b) {
                        *acc = _mm256_fmadd_ps(a, b, *acc);
                    }
                }
                p += 1;
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let b = _mm256_set1_ps(*bias.add(o + r));
        for (q, &acc) in acc.iter().enumerate() {
            let at = z.add((o + r) * positions + LANES * (v + q));
            _mm256_storeu_ps(at, _mm256_add_ps(b, acc));
        }
    }
}

/// See [`super::adjoint_input`]: its checked arguments.
#[derive(Clone, Copy)]
pub(super) struct InputJob {
    pub(super) g: Geometry,
    pub(super) outputs: usize,
    pub(super) weight: *const f32,
    pub(super) delta: *const f32,
    pub(super) delta_prev: *mut f32,
}

/// The taps of an input-adjoint tile: kernel rows `i..i + ROWS` of one input channel
/// and kernel column. Each writes a different row of the previous plane for the same
/// output vector, so that no add into the plane overlaps part of the one before it
/// (which would stall it until that store has left the core).
#[derive(Clone, Copy)]
struct Taps {
    channel: usize,
    i: usize,
    j: usize,
    v: usize,
}

impl InputJob {
    /// With AVX-512's 32 registers if the CPU has them, or else AVX2's 16.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA (it checks for AVX-512 itself); the fields hold what
    /// [`super::adjoint_input`] checks.
    pub(super) unsafe fn run(self, registers: Registers) {
        if registers == Registers::Widest && avx512() {
            self.run_avx512();
        } else {
            self.run_avx2();
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(self) {
        self.tiles::<4, 2>();
    }

    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    unsafe fn run_avx512(self) {
        self.tiles::<5, 4>();
    }

    /// Every tile of at most `MR` taps × `NV` vectors of output positions, inlined
    /// into the callers above so that it is compiled for their instructions. (Taller
    /// tiles of a small kernel's taps, more vectors each, measured slower: their adds
    /// into the previous plane overlap one another.)
    #[inline(always)]
    unsafe fn tiles<const MR: usize, const NV: usize>(self) {
        let (k, vectors) = (self.g.window.size, self.g.positions() / LANES);
        for channel in 0..self.g.channels {
            for j in 0..k {
                for i in (0..k).step_by(MR) {
                    for v in (0..vectors).step_by(NV) {
                        let taps = Taps { channel, i, j, v };
                        tiles!(input_tile((self, taps)), MR.min(k - i), NV.min(vectors - v);
                            (5, 4), (4, 4), (3, 4), (2, 4), (1, 4),
                            (5, 3), (4, 3), (3, 3), (2, 3), (1, 3),
                            (5, 2), (4, 2), (3, 2), (2, 2), (1, 2),
                            (5, 1), (4, 1), (3, 1), (2, 1), (1, 1));
                    }
                }
            }
        }
    }
}

/// `ROWS` taps × `VECS` vectors of `Wᵀ Δ`, summed over the output channels in order,
/// then added onto the pixels of the previous plane under those taps.
#[inline(always)]
unsafe fn input_tile<const ROWS: usize, const VECS: usize>((job, taps): (InputJob, Taps)) {
    let g = job.g;
    let (k, patch, positions) = (g.window.size, g.patch_len(), g.positions());
    let tap = |r: usize| (taps.channel * k + taps.i + r) * k + taps.j;
    let mut acc = [[_mm256_setzero_ps(); VECS]; ROWS];
    for o in 0..job.outputs {
        let delta = job.delta.add(o * positions + LANES * taps.v);
        let d: [__m256; VECS] = std::array::from_fn(|q| _mm256_loadu_ps(delta.add(LANES * q)));
        for (r, acc) in acc.iter_mut().enumerate() {
            let w = _mm256_set1_ps(*job.weight.add(o * patch + tap(r)));
            for (acc, &d) in acc.iter_mut().zip(&d) {
                *acc = _mm256_fmadd_ps(w, d, *acc);
            }
        }
    }
    // (Offsets without the divisions of `tap_offset`, which would cost more than
    // the adds.)
    let first = taps.channel * g.height * g.width + taps.i * g.width + taps.j;
    let bases: [usize; VECS] = std::array::from_fn(|q| vector_base(g, taps.v + q));
    for (r, acc) in acc.iter().enumerate() {
        for (&base, &acc) in bases.iter().zip(acc) {
            let at = job.delta_prev.add(first + r * g.width + base);
            _mm256_storeu_ps(at, _mm256_add_ps(_mm256_loadu_ps(at), acc));
        }
    }
}

/// See [`super::adjoint_weight`]: its checked arguments.
#[derive(Clone, Copy)]
pub(super) struct WeightJob {
    pub(super) g: Geometry,
    pub(super) samples: usize,
    pub(super) outputs: usize,
    pub(super) images: *const f32,
    pub(super) deltas: *const f32,
    pub(super) first_tap: usize,
    pub(super) taps: usize,
    pub(super) grad: *mut f32,
    pub(super) grad_stride: isize,
}

impl WeightJob {
    /// With AVX-512, output channels along the lanes ([`Self::by_channels`]) when
    /// they fill at least three quarters of them, or else dot products of rows of δ
    /// with the image, in tiles as large as the registers allow.
    ///
    /// # Safety
    ///
    /// The CPU has AVX2 and FMA (it checks for AVX-512 itself); the fields hold what
    /// [`super::adjoint_weight`] checks.
    pub(super) unsafe fn run(self, registers: Registers) {
        let widest = registers == Registers::Widest && avx512();
        let vectors = self.outputs.div_ceil(CHANNELS);
        if widest && 4 * self.outputs >= 3 * CHANNELS * vectors {
            let len = self.samples * self.g.positions() * CHANNELS;
            with_scratch(Space::Unrolled, len, |delta_t: &mut [f32]| {
                self.by_channels(delta_t.as_mut_ptr());
            });
        } else if widest {
            self.dots_avx512();
        } else {
            self.dots_avx2();
        }
    }

    /// Tiles of at most 2 channels × 4 taps: eight accumulators, so that with the
    /// vectors of δ and of the image they stay in AVX2's sixteen registers.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dots_avx2(self) {
        self.dots::<2, 4>();
    }

    /// Tiles of at most 4 × 4, in AVX-512's 32 registers (of eight lanes still: the
    /// output rows are whole vectors of eight).
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    unsafe fn dots_avx512(self) {
        self.dots::<4, 4>();
    }

    /// Every tile of at most `MR × NR`, inlined into the callers above so that it is
    /// compiled for their instructions.
    #[inline(always)]
    unsafe fn dots<const MR: usize, const NR: usize>(self) {
        for o in (0..self.outputs).step_by(MR) {
            let rows = MR.min(self.outputs - o);
            for t in (0..self.taps).step_by(NR) {
                let tile = Tile { o, v: t };
                tiles!(weight_tile((self, tile)), rows, NR.min(self.taps - t);
                    (4, 4), (3, 4), (2, 4), (1, 4), (4, 3), (3, 3), (2, 3), (1, 3),
                    (4, 2), (3, 2), (2, 2), (1, 2), (4, 1), (3, 1), (2, 1), (1, 1));
            }
        }
    }

    /// `∇Wᵀ[p, :] += Σ_pos a[off(p) + base(pos)] Δᵀ[pos, :]`: sixteen output channels
    /// in the lanes of a vector, so that each multiply-add takes one element of the
    /// image as a broadcast operand and needs no sum across lanes; eight taps at a
    /// time. `delta_t` has room for δ transposed (samples × positions × 16), one
    /// block of sixteen channels at a time, zero past the last channel.
    #[target_feature(enable = "avx512f")]
    unsafe fn by_channels(self, delta_t: *mut f32) {
        let positions = self.g.positions();
        for first in (0..self.outputs).step_by(CHANNELS) {
            let lanes = CHANNELS.min(self.outputs - first);
            for n in 0..self.samples {
                for position in 0..positions {
                    let to = delta_t.add((n * positions + position) * CHANNELS);
                    for lane in 0..CHANNELS {
                        *to.add(lane) = if lane < lanes {
                            let channel = n * self.outputs + first + lane;
                            *self.deltas.add(channel * positions + position)
                        } else {
                            0.0
                        };
                    }
                }
            }
            for t in (0..self.taps).step_by(8) {
                let tile = (self, delta_t.cast_const(), first, lanes, t);
                match 8.min(self.taps - t) {
                    8 => channel_tile::<8>(tile),
                    7 => channel_tile::<7>(tile),
                    6 => channel_tile::<6>(tile),
                    5 => channel_tile::<5>(tile),
                    4 => channel_tile::<4>(tile),
                    3 => channel_tile::<3>(tile),
                    2 => channel_tile::<2>(tile),
                    _ => channel_tile::<1>(tile),
                }
            }
        }
    }
}

/// `TAPS` columns of the gradient from `t` for the channels `first..first + lanes`,
/// summed over every sample and position in order.
#[inline(always)]
unsafe fn channel_tile<const TAPS: usize>(
    (job, delta_t, first, lanes, t): (WeightJob, *const f32, usize, usize, usize),
) {
    let g = job.g;
    let image_len = g.channels * g.height * g.width;
    let offsets: [usize; TAPS] = std::array::from_fn(|k| tap_offset(g, job.first_tap + t + k));
    let mut acc = [_mm512_setzero_ps(); TAPS];
    let mut d = delta_t;
    for n in 0..job.samples {
        let image = job.images.add(n * image_len);
        for y in 0..g.out_height() {
            let row = image.add(y * g.width);
            for x in 0..g.out_width() {
                let at = row.add(x);
                let delta = _mm512_loadu_ps(d);
                d = d.add(CHANNELS);
                for (acc, &offset) in acc.iter_mut().zip(&offsets) {
                    *acc = _mm512_fmadd_ps(delta, _mm512_set1_ps(*at.add(offset)), *acc);
                }
            }
        }
    }
    for (k, acc) in acc.iter().enumerate() {
        let mut sums = [0.0f32; CHANNELS];
        _mm512_storeu_ps(sums.as_mut_ptr(), *acc);
        for (lane, &sum) in sums.iter().enumerate().take(lanes) {
            let at = (first + lane) as isize * job.grad_stride + (t + k) as isize;
            *job.grad.offset(at) += sum;
        }
    }
}

/// `ROWS` output channels × `COLS` taps of the gradient: dot products of rows of δ
/// with the image under each tap, eight positions at a time, over every sample in
/// order; the lanes are summed once, at the end.
#[inline(always)]
unsafe fn weight_tile<const ROWS: usize, const COLS: usize>((job, tile): (WeightJob, Tile)) {
    let g = job.g;
    let positions = g.positions();
    let image_len = g.channels * g.height * g.width;
    let first = job.first_tap + tile.v;
    let offsets: [usize; COLS] = std::array::from_fn(|t| tap_offset(g, first + t));
    let mut acc = [[_mm256_setzero_ps(); COLS]; ROWS];
    let (out_height, out_width) = (g.out_height(), g.out_width());
    for n in 0..job.samples {
        let image = job.images.add(n * image_len);
        let delta = job.deltas.add((n * job.outputs + tile.o) * positions);
        for y in 0..out_height {
            for x in (0..out_width).step_by(LANES) {
                let base = image.add(y * g.width + x);
                let position = y * out_width + x;
                let d: [__m256; ROWS] =
                    std::array::from_fn(|r| _mm256_loadu_ps(delta.add(r * positions + position)));
                for (t, &offset) in offsets.iter().enumerate() {
                    let b = _mm256_loadu_ps(base.add(offset));
                    for (acc, &d) in acc.iter_mut().zip(&d) {
                        acc[t] = _mm256_fmadd_ps(d, b, acc[t]);
                    }
                }
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (t, &acc) in acc.iter().enumerate() {
            let at = job
                .grad
                .offset((tile.o + r) as isize * job.grad_stride + (tile.v + t) as isize);
            *at += sum_lanes(acc);
        }
    }
}

/// The eight lanes of `v` summed, always in the same order.
#[inline(always)]
unsafe fn sum_lanes(v: __m256) -> f32 {
    let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
}

//! The forward map and the weight adjoint of a convolution of stride 1 without padding,
//! computed from the input where it lies: the products of [`super`]'s im2col form, with
//! the unrolled input read through its definition, `cols[(c, i, j), (y, x)] =
//! a[c, y + i, x + j]`, instead of copied ("implicit GEMM").
//!
//! For the small images of networks like LeNet, unrolling cost as much as the product
//! that read it: a row of `cols` is a run of a few floats of an input row, and LeNet's
//! second convolution unrolls 1,200 of them per sample. Read directly, eight output
//! positions along a row are eight consecutive input floats for every tap, one vector
//! load, so the products keep their shape:
//!
//! ```text
//! forward          Z[o, pos]  = b[o] + Σ_p W[o, p] a[off(p) + base(pos)]     broadcast form
//! adjoint_weight   ∇W[o, p]  += Σ_pos Δ[o, pos] a[off(p) + base(pos)]         dot form
//! ```
//!
//! where tap `p = (c, i, j)` reads from `off(p) = c·H·W + i·W + j` and output position
//! `pos = (y, x)` from `base(pos) = y·W + x`. They apply when output rows are whole
//! vectors (a width that is a multiple of eight) on a CPU with AVX2 and FMA; elsewhere
//! [`super`] unrolls.

use ndarray::ArrayViewMut2;

use super::Geometry;

/// Floats in a vector: output positions computed together, all in one output row.
const LANES: usize = 8;

/// Output channels in the lanes of an AVX-512 vector, for the weight kernel that
/// transposes δ ([`avx2`]'s `by_channels`).
const CHANNELS: usize = 16;

/// The floats of scratch the weight kernel keeps for convolution `g` with `outputs`
/// channels, at most, on any CPU: where it runs and AVX-512 would put the output channels
/// along the lanes (filling at least three quarters of them), the error signals of
/// [`super::adjoints::DIRECT_BLOCK`] samples transposed, sixteen channels at a time.
pub(super) const fn transposed_deltas(g: Geometry, outputs: usize) -> usize {
    let direct = takes_shape(g);
    let by_channels = 4 * outputs >= 3 * CHANNELS * outputs.div_ceil(CHANNELS);
    if direct && by_channels {
        super::adjoints::DIRECT_BLOCK * g.positions() * CHANNELS
    } else {
        0
    }
}

/// Whether the direct kernels take convolution `g` by its shape: stride 1, no padding,
/// output rows a whole number of vectors wide.
const fn takes_shape(g: Geometry) -> bool {
    g.window.stride == 1
        && g.window.padding == 0
        && g.out_height() > 0
        && g.out_width() > 0
        && g.out_width().is_multiple_of(LANES)
}

/// Whether the direct kernels compute convolution `g` here: its shape, and a CPU with
/// AVX2 and FMA.
pub(super) fn applies(g: Geometry) -> bool {
    let shape = takes_shape(g);
    #[cfg(target_arch = "x86_64")]
    {
        shape && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = shape;
        false
    }
}

/// Where tap `p` (a row of `cols`: channel, kernel row, kernel column) reads in a sample.
fn tap_offset(g: Geometry, p: usize) -> usize {
    let k = g.window.size;
    let (channel, tap) = (p / (k * k), p % (k * k));
    channel * g.height * g.width + (tap / k) * g.width + tap % k
}

/// Where vector `v` of the output positions (positions `8v .. 8v + 8`, in one output
/// row) reads in a sample, relative to a tap's offset.
fn vector_base(g: Geometry, v: usize) -> usize {
    let (y, x) = ((LANES * v) / g.out_width(), (LANES * v) % g.out_width());
    y * g.width + x
}

/// `z = W ⋆ a + b` for one sample: `weight` (out × in·k·k), `bias` (out), `image`
/// (in × h × w) and `z` (out × oh × ow), all in standard layout.
///
/// # Panics
///
/// If [`applies`] is false for `g` or the lengths do not match it.
pub(super) fn forward(g: Geometry, weight: &[f32], bias: &[f32], image: &[f32], z: &mut [f32]) {
    let outputs = bias.len();
    assert!(applies(g), "conv2d: no direct kernel for {g:?}");
    assert_eq!(weight.len(), outputs * g.patch_len(), "conv2d: weight");
    assert_eq!(
        image.len(),
        g.channels * g.height * g.width,
        "conv2d: image"
    );
    assert_eq!(z.len(), outputs * g.positions(), "conv2d: output");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (`applies`), and the lengths are checked above.
    // The eight floats under tap (c, i, j) of the vector at output (y, x) are at
    // c·H·W + (y + i)·W + x + j + 0..8, at most C·H·W − 1: with stride 1 and no padding
    // oh + k − 1 = H and ow + k − 1 = W, and `ow` is a multiple of eight, so that no
    // vector runs past the end of its output row.
    unsafe {
        avx2::ForwardJob {
            g,
            outputs,
            weight: weight.as_ptr(),
            bias: bias.as_ptr(),
            image: image.as_ptr(),
            z: z.as_mut_ptr(),
        }
        .run();
    }
}

/// `Δ_prev = B(W, ·)* Δ` for one sample, the transposed convolution: `weight` (out ×
/// in·k·k), `delta` (out × oh × ow) and `delta_prev` (in × h × w), all in standard
/// layout. Each tile of `Wᵀ Δ` (taps × positions), the error signal in columns, is added
/// onto the pixels its taps read, straight from the registers: col2im with no columns.
///
/// # Panics
///
/// If [`applies`] is false for `g` or the lengths do not match it.
pub(super) fn adjoint_input(g: Geometry, weight: &[f32], delta: &[f32], delta_prev: &mut [f32]) {
    adjoint_input_in(g, weight, delta, delta_prev, Registers::Widest);
}

/// [`adjoint_input`] with tiles that fill `registers`.
fn adjoint_input_in(
    g: Geometry,
    weight: &[f32],
    delta: &[f32],
    delta_prev: &mut [f32],
    registers: Registers,
) {
    assert!(applies(g), "conv2d: no direct kernel for {g:?}");
    let outputs = weight.len() / g.patch_len();
    assert_eq!(weight.len(), outputs * g.patch_len(), "conv2d: weight");
    assert_eq!(delta.len(), outputs * g.positions(), "conv2d: error signal");
    assert_eq!(
        delta_prev.len(),
        g.channels * g.height * g.width,
        "conv2d: the previous error signal"
    );
    delta_prev.fill(0.0);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (`applies`), and the lengths are checked above.
    // The stores follow the loads of `forward`: the eight floats under tap (c, i, j) of
    // the vector at output (y, x) are at c·H·W + (y + i)·W + x + j + 0..8, at most
    // (C − 1)·H·W + (oh − 1 + k − 1)·W + (ow − 8 + k − 1) + 7 = C·H·W − 1, since with
    // stride 1 and no padding oh + k − 1 = H and ow + k − 1 = W, and `ow` is a multiple
    // of eight so that no vector runs past the end of its output row.
    unsafe {
        avx2::InputJob {
            g,
            outputs,
            weight: weight.as_ptr(),
            delta: delta.as_ptr(),
            delta_prev: delta_prev.as_mut_ptr(),
        }
        .run(registers);
    }
}

/// `∇W[:, taps] += Σ_n Δ_n colsᵀ` over a block of samples: `images` (n × in × h × w) and
/// `deltas` (n × out × oh × ow) in standard layout, and `grad` the columns `taps` of the
/// weight gradient (out × in·k·k), with contiguous rows (unless it is one column wide).
///
/// # Panics
///
/// If [`applies`] is false for `g` or the shapes do not match it.
pub(super) fn adjoint_weight(
    g: Geometry,
    images: &[f32],
    deltas: &[f32],
    taps: std::ops::Range<usize>,
    grad: ArrayViewMut2<'_, f32>,
) {
    adjoint_weight_in(g, images, deltas, taps, grad, Registers::Widest);
}

/// The registers the weight adjoint's tiles fill: all of the widest instruction set the
/// CPU has, or AVX2's sixteen (to test that path on any CPU).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Registers {
    Widest,
    #[cfg_attr(not(test), allow(dead_code))]
    Avx2,
}

/// [`adjoint_weight`] with tiles that fill `registers`.
fn adjoint_weight_in(
    g: Geometry,
    images: &[f32],
    deltas: &[f32],
    taps: std::ops::Range<usize>,
    mut grad: ArrayViewMut2<'_, f32>,
    registers: Registers,
) {
    assert!(applies(g), "conv2d: no direct kernel for {g:?}");
    let image_len = g.channels * g.height * g.width;
    let samples = images.len() / image_len;
    let outputs = grad.nrows();
    assert_eq!(images.len(), samples * image_len, "conv2d: images");
    assert_eq!(
        deltas.len(),
        samples * outputs * g.positions(),
        "conv2d: deltas"
    );
    assert!(
        taps.end <= g.patch_len() && grad.ncols() == taps.len(),
        "conv2d: taps {taps:?} of a gradient with {} columns",
        grad.ncols()
    );
    assert!(
        grad.strides()[1] == 1 || taps.len() <= 1,
        "conv2d: the gradient's rows must be contiguous"
    );
    if outputs == 0 || taps.is_empty() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the image is read as in `forward`, δ within the lengths checked above. The
    // gradient is a view of the shape checked above, borrowed mutably: the kernel writes
    // its elements alone, each at row · (its row stride) + column, and makes no slice
    // across rows, which may belong to other columns held by other threads.
    unsafe {
        avx2::WeightJob {
            g,
            samples,
            outputs,
            images: images.as_ptr(),
            deltas: deltas.as_ptr(),
            first_tap: taps.start,
            taps: taps.len(),
            grad: grad.as_mut_ptr(),
            grad_stride: grad.strides()[0],
        }
        .run(registers);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
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
        /// broadcast form of the matrix products. (AVX-512's larger register file, which
        /// speeds up the weight adjoint, measured no faster here.)
        ///
        /// # Safety
        ///
        /// The CPU has AVX2 and FMA; the fields hold what [`super::forward`] checks.
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn run(self) {
            let vectors = self.g.positions() / LANES;
            for o in (0..self.outputs).step_by(6) {
                let rows = 6.min(self.outputs - o);
                for v in (0..vectors).step_by(2) {
                    let tile = Tile { o, v };
                    tiles!(forward_tile((self, tile)), rows, 2.min(vectors - v);
                        (6, 2), (5, 2), (4, 2), (3, 2), (2, 2), (1, 2),
                        (6, 1), (5, 1), (4, 1), (3, 1), (2, 1), (1, 1));
                }
            }
        }
    }

    /// Whether the CPU has the AVX-512 of the weight adjoint's larger tiles.
    fn avx512() -> bool {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl")
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
        /// into the callers above so that it is compiled for their instructions.
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
                    let d: [__m256; ROWS] = std::array::from_fn(|r| {
                        _mm256_loadu_ps(delta.add(r * positions + position))
                    });
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Window;

    fn geometry(channels: usize, height: usize, width: usize, size: usize) -> Geometry {
        Geometry {
            channels,
            height,
            width,
            window: Window {
                size,
                stride: 1,
                padding: 0,
            },
        }
    }

    /// Irregular values in [−1, 1), no symmetry a wrong index could hide behind.
    fn filled(len: usize, phase: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.37 + phase).sin()).collect()
    }

    /// `a[c, y + i, x + j]`, the unrolled input by its definition.
    fn unrolled(g: Geometry, image: &[f32], p: usize, pos: usize) -> f64 {
        let k = g.window.size;
        let (c, i, j) = (p / (k * k), p / k % k, p % k);
        let (y, x) = (pos / g.out_width(), pos % g.out_width());
        f64::from(image[(c * g.height + y + i) * g.width + x + j])
    }

    const SHAPES: [(usize, usize, usize, usize); 4] =
        [(1, 28, 28, 5), (6, 12, 12, 5), (3, 9, 18, 3), (2, 8, 8, 1)];

    #[test]
    fn applies_only_to_stride_one_without_padding_and_rows_of_whole_vectors() {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        for (c, h, w, k) in SHAPES {
            assert_eq!(applies(geometry(c, h, w, k)), avx2);
        }
        let strided = Geometry {
            window: Window {
                size: 5,
                stride: 2,
                padding: 0,
            },
            ..geometry(1, 28, 28, 5)
        };
        let padded = Geometry {
            window: Window {
                size: 5,
                stride: 1,
                padding: 2,
            },
            ..geometry(1, 20, 20, 5)
        };
        for g in [
            strided,
            padded,
            geometry(1, 12, 16, 5),
            geometry(2, 9, 9, 3),
        ] {
            assert!(!applies(g), "{g:?}");
        }
    }

    #[test]
    fn forward_is_the_product_with_the_unrolled_input() {
        for (c, h, w, k) in SHAPES {
            let g = geometry(c, h, w, k);
            if !applies(g) {
                continue;
            }
            let outputs = 7;
            let (weight, bias) = (filled(outputs * g.patch_len(), 0.3), filled(outputs, 1.1));
            let image = filled(c * h * w, 2.0);
            let mut z = vec![f32::NAN; outputs * g.positions()];
            forward(g, &weight, &bias, &image, &mut z);
            for o in 0..outputs {
                for pos in 0..g.positions() {
                    let want = f64::from(bias[o])
                        + (0..g.patch_len())
                            .map(|p| {
                                f64::from(weight[o * g.patch_len() + p])
                                    * unrolled(g, &image, p, pos)
                            })
                            .sum::<f64>();
                    let got = f64::from(z[o * g.positions() + pos]);
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{g:?}: z[{o}, {pos}] = {got}, want {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn input_adjoint_scatters_the_error_signal_in_columns() {
        for (c, h, w, k) in SHAPES {
            let g = geometry(c, h, w, k);
            if !applies(g) {
                continue;
            }
            let outputs = 6;
            let weight = filled(outputs * g.patch_len(), 0.9);
            let delta = filled(outputs * g.positions(), 2.6);
            // col2im(Wᵀ Δ) by its definition: each column entry added onto its pixel.
            let mut want = vec![0.0f64; c * h * w];
            for o in 0..outputs {
                for p in 0..g.patch_len() {
                    for pos in 0..g.positions() {
                        let pixel = tap_offset(g, p) + vector_base(g, pos / LANES) + pos % LANES;
                        want[pixel] += f64::from(weight[o * g.patch_len() + p])
                            * f64::from(delta[o * g.positions() + pos]);
                    }
                }
            }
            for registers in [Registers::Widest, Registers::Avx2] {
                let mut got = vec![f32::NAN; c * h * w];
                adjoint_input_in(g, &weight, &delta, &mut got, registers);
                for (pixel, (&got, &want)) in got.iter().zip(&want).enumerate() {
                    let got = f64::from(got);
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{g:?}: δ_prev[{pixel}] = {got}, want {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn weight_adjoint_adds_the_correlation_over_samples_for_any_taps() {
        for (c, h, w, k) in SHAPES {
            let g = geometry(c, h, w, k);
            if !applies(g) {
                continue;
            }
            // Channels too few to fill three quarters of a vector's lanes, and enough to
            // fill them once and a bit more: each way of the widest registers.
            for (outputs, samples) in [(5, 3), (13, 2), (29, 2)] {
                let images = filled(samples * c * h * w, 0.7);
                let deltas = filled(samples * outputs * g.positions(), 1.9);
                // The last two thirds of the taps, into columns 1.. of a gradient one column
                // wider on each side.
                let taps = g.patch_len() / 3..g.patch_len();
                for registers in [Registers::Widest, Registers::Avx2] {
                    let mut grad = ndarray::Array2::from_elem((outputs, taps.len() + 2), 0.5f32);
                    let inner = ndarray::s![.., 1..taps.len() + 1];
                    adjoint_weight_in(
                        g,
                        &images,
                        &deltas,
                        taps.clone(),
                        grad.slice_mut(inner),
                        registers,
                    );
                    let image_len = c * h * w;
                    for o in 0..outputs {
                        let row = grad.row(o);
                        assert_eq!(
                            (row[0], row[taps.len() + 1]),
                            (0.5, 0.5),
                            "{g:?}: written outside"
                        );
                        for (q, p) in taps.clone().enumerate() {
                            let value = row[q + 1];
                            let want = 0.5
                                + (0..samples)
                                    .map(|n| {
                                        let image = &images[n * image_len..][..image_len];
                                        (0..g.positions())
                                            .map(|pos| {
                                                let d =
                                                    deltas[(n * outputs + o) * g.positions() + pos];
                                                f64::from(d) * unrolled(g, image, p, pos)
                                            })
                                            .sum::<f64>()
                                    })
                                    .sum::<f64>();
                            let got = f64::from(value);
                            assert!(
                                (got - want).abs() < 1e-3,
                                "{g:?}: ∇W[{o}, {p}] = {got}, want {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

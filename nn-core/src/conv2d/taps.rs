//! Where each kernel tap reads in the input: for every row of the unrolled input, the
//! output rows and columns at which the tap lies inside the image rather than in the
//! padding. [`super::unroll`] copies and adds along these spans.

use super::Geometry;
use crate::shape::Window;

/// The sizes im2col and col2im loop over, computed once per call.
#[derive(Clone, Copy)]
pub(super) struct Taps {
    geometry: Geometry,
    pub(super) stride: usize,
    out_height: usize,
    pub(super) out_width: usize,
    pub(super) positions: usize,
    pub(super) plane_len: usize,
}

/// The outputs, along one axis, at which a kernel tap reads inside the input rather than
/// the padding: `first..end`, reading input `input_start` at `first` and one stride
/// further at each next one.
#[derive(Clone, Copy)]
pub(super) struct Span {
    pub(super) first: usize,
    pub(super) end: usize,
    pub(super) input_start: usize,
}

impl Span {
    /// The span of the tap at `offset` in the kernel along an axis of `extent` inputs and
    /// `outputs` outputs: output `x` reads input `x·s + offset − p`.
    #[inline(always)]
    fn new(window: Window, offset: usize, extent: usize, outputs: usize) -> Self {
        let (s, p) = (window.stride, window.padding);
        // Divisions, one per tap, cost as much as the copies of a short row: none at
        // stride 1.
        let outputs_below = |limit: usize| if s == 1 { limit } else { limit.div_ceil(s) };
        let first = outputs_below(p.saturating_sub(offset)).min(outputs);
        let end = (extent + p)
            .checked_sub(offset)
            .map_or(0, outputs_below)
            .clamp(first, outputs);
        Span {
            first,
            end,
            // Only read when first < end, and then first·s + offset ≥ p.
            input_start: if first < end {
                first * s + offset - p
            } else {
                0
            },
        }
    }

    /// `run` (outputs in blocks of `block` elements) cut into the blocks before the span,
    /// those in it, and those after.
    pub(super) fn split<R: SplitRun>(self, run: R, block: usize) -> (R, R, R) {
        let (before, rest) = run.split_run(self.first * block);
        let (inside, after) = rest.split_run((self.end - self.first) * block);
        (before, inside, after)
    }
}

/// A slice, shared or not, that [`Span::split`] cuts.
pub(super) trait SplitRun: Sized {
    fn split_run(self, at: usize) -> (Self, Self);
}

impl<T> SplitRun for &[T] {
    fn split_run(self, at: usize) -> (Self, Self) {
        self.split_at(at)
    }
}

impl<T> SplitRun for &mut [T] {
    fn split_run(self, at: usize) -> (Self, Self) {
        self.split_at_mut(at)
    }
}

impl Taps {
    pub(super) fn new(g: Geometry) -> Self {
        Taps {
            geometry: g,
            stride: g.window.stride,
            out_height: g.out_height(),
            out_width: g.out_width(),
            positions: g.positions(),
            plane_len: g.height * g.width,
        }
    }

    /// The input rows a tap reads for the output rows of its span `rows`, in order, from
    /// the input `plane`.
    pub(super) fn input_rows<T>(self, plane: &[T], rows: Span) -> impl Iterator<Item = &[T]> {
        let width = self.geometry.width;
        plane[rows.input_start * width..self.plane_len]
            .chunks_exact(width)
            .step_by(self.stride)
            .take(rows.end - rows.first)
    }

    /// [`Self::input_rows`], to write to.
    pub(super) fn input_rows_mut<T>(
        self,
        plane: &mut [T],
        rows: Span,
    ) -> impl Iterator<Item = &mut [T]> {
        let width = self.geometry.width;
        plane[rows.input_start * width..self.plane_len]
            .chunks_exact_mut(width)
            .step_by(self.stride)
            .take(rows.end - rows.first)
    }

    /// Calls `f(row, channel, rows, columns)` for every row of `cols` (every channel
    /// and kernel tap), in order, with the spans of output rows and columns at which the
    /// tap reads inside the input.
    #[inline(always)]
    pub(super) fn for_each(self, mut f: impl FnMut(usize, usize, Span, Span)) {
        let g = self.geometry;
        let k = g.window.size;
        for channel in 0..g.channels {
            for tap_row in 0..k {
                let rows = Span::new(g.window, tap_row, g.height, self.out_height);
                for tap_col in 0..k {
                    let columns = Span::new(g.window, tap_col, g.width, self.out_width);
                    f(
                        (channel * k + tap_row) * k + tap_col,
                        channel,
                        rows,
                        columns,
                    );
                }
            }
        }
    }
}

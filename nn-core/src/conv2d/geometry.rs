//! The sizes of a convolution at run time, and the check that a batch has them.

use crate::shape::Window;

/// The sizes of a convolution, at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Input channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// The kernel: its size, stride and zero padding.
    pub window: Window,
}

impl Geometry {
    /// The output height.
    ///
    /// # Panics
    ///
    /// If the kernel does not fit in the padded input (in a constant, a compile error).
    pub const fn out_height(self) -> usize {
        self.window.output(self.height)
    }

    /// The output width.
    ///
    /// # Panics
    ///
    /// As [`Geometry::out_height`].
    pub const fn out_width(self) -> usize {
        self.window.output(self.width)
    }

    /// Whether the kernel fits in the padded input, so that the sizes above exist.
    const fn fits(self) -> bool {
        self.window.checked_output(self.height).is_some()
            && self.window.checked_output(self.width).is_some()
    }

    /// `self` if the kernel fits, otherwise a convolution of nothing: for the constants of
    /// a layer whose shape rule refuses its input, which must not fail to evaluate beside
    /// the refusal.
    pub(super) const fn or_empty(self) -> Geometry {
        if self.fits() {
            return self;
        }
        Geometry {
            channels: 0,
            height: 1,
            width: 1,
            window: Window {
                size: 1,
                stride: 1,
                padding: 0,
            },
        }
    }

    /// Why a convolution of this geometry cannot take its input, if it cannot.
    pub(super) const fn refusal(self, rank: usize) -> Option<&'static str> {
        if rank != 3 {
            Some(crate::shape::takes_an_image!("Conv2d"))
        } else if !self.fits() {
            Some("its kernel is larger than the (padded) image")
        } else {
            None
        }
    }

    /// The number of output positions, `oh · ow`: the columns of `cols`.
    pub const fn positions(self) -> usize {
        self.out_height() * self.out_width()
    }

    /// The length of an unrolled patch, `in · k · k`: the rows of `cols`.
    pub const fn patch_len(self) -> usize {
        self.channels * self.window.size * self.window.size
    }
}

/// Checks that `input` (N × in × h × w) and `output` (N × out × oh × ow) are the shapes
/// a convolution `g` with `outputs` channels takes and gives, for the same batch.
#[track_caller]
pub(super) fn check_shapes(
    g: Geometry,
    outputs: usize,
    input: (usize, usize, usize, usize),
    output: (usize, usize, usize, usize),
) {
    let batch = input.0;
    let want_input = (batch, g.channels, g.height, g.width);
    let want_output = (batch, outputs, g.out_height(), g.out_width());
    assert!(
        input == want_input && output == want_output,
        "conv2d: {g:?} with {outputs} output channels takes a batch of shape {want_input:?} \
         and gives {want_output:?}, got {input:?} and {output:?}"
    );
}

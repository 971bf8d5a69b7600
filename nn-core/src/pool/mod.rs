//! What both pools share: the layer type [`Pool2d`] with its sizes, where the windows
//! lie in an image plane, and fast access to the planes of a batch.
//!
//! [`crate::MaxPool2d`] and [`crate::AvgPool2d`] are `Pool2d` with the marker [`Max`] or
//! [`Avg`]; each pool's file adds its forward map and adjoint.
//!
//! A plane in standard layout (what a network's buffers hold) is read through a slice,
//! with one bounds check per window row; any other layout through ndarray's indexing.
//! The layout is matched once per window, not per element.

use std::marker::PhantomData;
use std::ops::Range;

use ndarray::{
    ArrayView2, ArrayView3, ArrayView4, ArrayViewMut2, ArrayViewMut3, ArrayViewMut4, Ix4,
};
use typenum::Unsigned;

use crate::conv2d::Conv2d;
use crate::init::{Init, InitRng};
use crate::layer::Layer;
use crate::network::{batch_size, Parameters};
use crate::scalar::Scalar;
use crate::shape::{Image, ImageShape, LayerShape, Window};

/// Which pool a [`Pool2d`] is: its name and its two maps, in its own file.
pub trait PoolKind {
    /// The layer kind's name, as in `network!`.
    const NAME: &'static str;

    /// What the pool refuses a vector with.
    const TAKES_AN_IMAGE: &'static str;

    /// The pooling of a batch `a_prev` (N × C × H × W) into `a` (N × C × OH × OW).
    fn forward<T: Scalar>(window: Window, a_prev: ArrayView4<'_, T>, a: ArrayViewMut4<'_, T>);

    /// The adjoint of the pool's derivative at `a_prev`, applied to `delta`, into
    /// `delta_prev`.
    fn adjoint_input<T: Scalar>(
        window: Window,
        a_prev: ArrayView4<'_, T>,
        delta: ArrayView4<'_, T>,
        delta_prev: ArrayViewMut4<'_, T>,
    );
}

/// Max pooling: each window gives its largest element.
pub enum Max {}

/// Average pooling: each window gives its mean.
pub enum Avg {}

/// Pooling of kind `P` over `K × K` windows at stride `S` of images of shape `I` of
/// element type `T`, with the output shape in its type ([`LayerShape`]). Use it as
/// [`crate::MaxPool2d`] or [`crate::AvgPool2d`].
///
/// The layer has no parameters: its value only carries the sizes.
pub struct Pool2d<P, I, K, S, T = f32>(Sizes<P, I, K, S, T>);

/// Sizes held in the type only; `fn() -> _` owns none of them, so the layer is `Send`
/// and `Sync` whatever they are.
type Sizes<P, I, K, S, T> = PhantomData<fn() -> (P, I, K, S, T)>;

impl<P: PoolKind, I: ImageShape, K: Unsigned, S: Unsigned, T> Pool2d<P, I, K, S, T> {
    /// The window: size `K`, stride `S`, no padding.
    pub const WINDOW: Window = Window {
        size: K::USIZE,
        stride: S::USIZE,
        padding: 0,
    };
    /// The output height, `(H − K)/S + 1` (0 if the window does not fit, which the layer
    /// refuses).
    pub const OUT_HEIGHT: usize = Self::WINDOW.output_or_zero(I::HEIGHT);
    /// The output width, `(W − K)/S + 1`.
    pub const OUT_WIDTH: usize = Self::WINDOW.output_or_zero(I::WIDTH);

    /// The layer (it has no parameters to initialise).
    pub fn new() -> Self {
        Pool2d(PhantomData)
    }

    /// Checks that `shape` is a batch of `I`.
    #[track_caller]
    fn check_batch(shape: &[usize]) {
        batch_size(P::NAME, shape, &[I::CHANNELS, I::HEIGHT, I::WIDTH]);
    }
}

impl<P: PoolKind, I: ImageShape, K: Unsigned, S: Unsigned, T: Scalar> Layer
    for Pool2d<P, I, K, S, T>
{
    const KIND: &'static str = P::NAME;
    type InputDim = Ix4;
    type OutputDim = Ix4;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = if I::SHAPE.len() != 3 {
        Err(P::TAKES_AN_IMAGE)
    } else if Self::WINDOW.checked_output(I::HEIGHT).is_none()
        || Self::WINDOW.checked_output(I::WIDTH).is_none()
    {
        Err("its window is larger than the image")
    } else {
        Ok(&[I::CHANNELS, Self::OUT_HEIGHT, Self::OUT_WIDTH])
    };
    const NUM_PARAMS: usize = 0;

    fn new(_rng: &mut InitRng, _init: Init) -> Self {
        Pool2d::new()
    }

    fn zeros() -> Self {
        Pool2d::new()
    }

    /// # Panics
    ///
    /// If `a_prev` is not a batch of `I` or `a` is not shaped like the output.
    #[track_caller]
    fn forward(&self, a_prev: ArrayView4<'_, T>, a: ArrayViewMut4<'_, T>) {
        Self::check_batch(a_prev.shape());
        P::forward(Self::WINDOW, a_prev, a);
    }

    /// # Panics
    ///
    /// If `a_prev` is not a batch of `I`, or `delta` and `delta_prev` are not shaped
    /// like the output and the input.
    #[track_caller]
    fn adjoint_input(
        &self,
        a_prev: ArrayView4<'_, T>,
        delta: ArrayView4<'_, T>,
        delta_prev: ArrayViewMut4<'_, T>,
    ) {
        Self::check_batch(delta_prev.shape());
        P::adjoint_input(Self::WINDOW, a_prev, delta, delta_prev);
    }
}

// By hand rather than derived, so that they hold whatever `P`, `I`, `K` and `S` are.
impl<P, I, K, S, T> Clone for Pool2d<P, I, K, S, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P, I, K, S, T> Copy for Pool2d<P, I, K, S, T> {}

impl<P, I, K, S, T> Default for Pool2d<P, I, K, S, T> {
    fn default() -> Self {
        Pool2d(PhantomData)
    }
}

impl<P: PoolKind, I, K, S, T> std::fmt::Debug for Pool2d<P, I, K, S, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(P::NAME)
    }
}

impl<P, I, K, S, T> PartialEq for Pool2d<P, I, K, S, T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

// The output is shaped as a convolution's with as many channels out as in and no padding,
// so that the sizes of sliding windows have one rule.
impl<P, C, H, W, K, S, T> LayerShape for Pool2d<P, Image<C, H, W>, K, S, T>
where
    Conv2d<Image<C, H, W>, C, K, S>: LayerShape,
{
    type Input = Image<C, H, W>;
    type Output = <Conv2d<Image<C, H, W>, C, K, S> as LayerShape>::Output;
}

impl<P: PoolKind, I, K, S, T: Scalar> Parameters for Pool2d<P, I, K, S, T> {
    type Elem = T;

    fn param_names(&self) -> &'static [&'static str] {
        &[]
    }

    fn param_shape(&self, index: usize) -> &[usize] {
        crate::network::no_parameter(P::NAME, index)
    }

    fn param(&self, index: usize) -> &[T] {
        crate::network::no_parameter(P::NAME, index)
    }

    fn param_mut(&mut self, index: usize) -> &mut [T] {
        crate::network::no_parameter(P::NAME, index)
    }
}

/// Where the windows of a pool lie, for shapes that have been checked; shared by both
/// pools so that their bounds are defined once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Windows {
    pub(crate) size: usize,
    pub(crate) stride: usize,
    pub(crate) out_height: usize,
    pub(crate) out_width: usize,
}

impl Windows {
    /// Checks that `window` pools `input` (N × C × H × W) into `output` and returns the
    /// geometry; `kernel` names the caller in the panic messages.
    #[track_caller]
    pub(crate) fn check(
        kernel: &str,
        window: Window,
        input: (usize, usize, usize, usize),
        output: (usize, usize, usize, usize),
    ) -> Self {
        let Window {
            size,
            stride,
            padding,
        } = window;
        let (n, c, h, w) = input;
        assert!(
            padding == 0,
            "{kernel}: pools take no padding, got {window:?}"
        );
        assert!(
            size > 0 && stride > 0,
            "{kernel}: the window size and the stride must be at least 1, got {window:?}"
        );
        assert!(
            size <= h && size <= w,
            "{kernel}: a {size}×{size} window does not fit in a {h}×{w} input plane"
        );
        let expected = (n, c, window.output(h), window.output(w));
        assert!(
            output == expected,
            "{kernel}: a {size}×{size} window at stride {stride} pools an input of shape \
             {input:?} into {expected:?}, got {output:?}"
        );
        Windows {
            size,
            stride,
            out_height: expected.2,
            out_width: expected.3,
        }
    }

    /// Writes into every element of `a` (N × C × OH × OW) what `f` makes of its window of
    /// `a_prev` (N × C × H × W), a plane at a time: the general path of both pools'
    /// forward maps.
    #[inline(always)]
    pub(crate) fn pool<T: Copy>(
        self,
        a_prev: ArrayView4<'_, T>,
        a: ArrayViewMut4<'_, T>,
        f: impl Fn(&Plane<'_, T>, Square) -> T,
    ) {
        for (input, mut output) in planes(a_prev).zip(planes_mut(a)) {
            self.for_each(|i, j, square| {
                *output.at_mut(i, j) = f(&input, square);
            });
        }
    }

    /// Calls `f(i, j, square)` for every output position `(i, j)` in row-major order,
    /// with the part of the input plane its window covers.
    #[inline(always)]
    pub(crate) fn for_each(self, mut f: impl FnMut(usize, usize, Square)) {
        for i in 0..self.out_height {
            for j in 0..self.out_width {
                let square = Square {
                    top: i * self.stride,
                    left: j * self.stride,
                    size: self.size,
                };
                f(i, j, square);
            }
        }
    }
}

/// The part of an input plane one window covers: `size × size` elements from
/// `(top, left)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Square {
    pub(crate) top: usize,
    pub(crate) left: usize,
    pub(crate) size: usize,
}

/// Folds `f(acc, row, range)` over the rows of `square`, with the range of each in a
/// packed plane of `width` columns.
///
/// Always inlined, and called by [`fold_rows_sized`] with the size as a literal for the
/// common windows: the loops over a window then have constant lengths, which the
/// compiler unrolls, and slices of known length, whose bounds it checks once per row.
/// For 2 × 2 windows that halves the time of a pass.
#[inline(always)]
fn fold_rows<A>(
    square: Square,
    size: usize,
    width: usize,
    init: A,
    mut f: impl FnMut(A, usize, Range<usize>) -> A,
) -> A {
    debug_assert_eq!(size, square.size);
    let mut acc = init;
    for row in square.top..square.top + size {
        let start = row * width + square.left;
        acc = f(acc, row, start..start + size);
    }
    acc
}

/// [`fold_rows`], with the size a constant for 2 × 2 and 3 × 3 windows.
#[inline(always)]
fn fold_rows_sized<A>(
    square: Square,
    width: usize,
    init: A,
    f: impl FnMut(A, usize, Range<usize>) -> A,
) -> A {
    match square.size {
        2 => fold_rows(square, 2, width, init, f),
        3 => fold_rows(square, 3, width, init, f),
        size => fold_rows(square, size, width, init, f),
    }
}

/// The planes (one channel of one sample) of a batch, samples then channels.
pub(crate) fn planes<T: Copy>(batch: ArrayView4<'_, T>) -> impl Iterator<Item = Plane<'_, T>> {
    batch
        .into_outer_iter()
        .flat_map(ArrayView3::into_outer_iter)
        .map(Plane::new)
}

/// The planes of a batch, mutably, samples then channels.
pub(crate) fn planes_mut<T>(batch: ArrayViewMut4<'_, T>) -> impl Iterator<Item = PlaneMut<'_, T>> {
    batch
        .into_outer_iter_mut()
        .flat_map(ArrayViewMut3::into_outer_iter_mut)
        .map(PlaneMut::new)
}

/// One plane to read. A plane in standard layout (what the network's buffers hold) is
/// read through a slice, one bounds check per window row; any other layout through
/// ndarray's indexing. The layout is matched once per window, not per element.
pub(crate) enum Plane<'a, T> {
    /// Row-major and contiguous, `width` elements per row.
    Packed { data: &'a [T], width: usize },
    /// Any other layout.
    Strided(ArrayView2<'a, T>),
}

impl<'a, T: Copy> Plane<'a, T> {
    fn new(view: ArrayView2<'a, T>) -> Self {
        match view.to_slice() {
            Some(data) => Plane::Packed {
                data,
                width: view.ncols(),
            },
            None => Plane::Strided(view),
        }
    }

    /// The element at `(row, col)`.
    #[inline]
    pub(crate) fn at(&self, row: usize, col: usize) -> T {
        match self {
            Plane::Packed { data, width } => data[row * width + col],
            Plane::Strided(view) => view[(row, col)],
        }
    }

    /// Folds `f(acc, (row, col), value)` over the elements of `square`, in row-major
    /// order.
    #[inline(always)]
    pub(crate) fn fold<A>(
        &self,
        square: Square,
        init: A,
        mut f: impl FnMut(A, (usize, usize), T) -> A,
    ) -> A {
        match self {
            Plane::Packed { data, width } => {
                fold_rows_sized(square, *width, init, |acc, row, range| {
                    data[range]
                        .iter()
                        .enumerate()
                        .fold(acc, |acc, (dc, &v)| f(acc, (row, square.left + dc), v))
                })
            }
            Plane::Strided(view) => {
                let mut acc = init;
                for row in square.top..square.top + square.size {
                    for col in square.left..square.left + square.size {
                        acc = f(acc, (row, col), view[(row, col)]);
                    }
                }
                acc
            }
        }
    }
}

/// One plane to write, laid out as [`Plane`] says.
pub(crate) enum PlaneMut<'a, T> {
    /// Row-major and contiguous, `width` elements per row.
    Packed { data: &'a mut [T], width: usize },
    /// Any other layout.
    Strided(ArrayViewMut2<'a, T>),
}

impl<'a, T> PlaneMut<'a, T> {
    fn new(view: ArrayViewMut2<'a, T>) -> Self {
        if view.is_standard_layout() {
            let width = view.ncols();
            let data = view.into_slice().expect("a standard layout is contiguous");
            PlaneMut::Packed { data, width }
        } else {
            PlaneMut::Strided(view)
        }
    }

    /// The element at `(row, col)`.
    #[inline]
    pub(crate) fn at_mut(&mut self, row: usize, col: usize) -> &mut T {
        match self {
            PlaneMut::Packed { data, width } => &mut data[row * *width + col],
            PlaneMut::Strided(view) => &mut view[(row, col)],
        }
    }

    /// Sets every element to zero.
    pub(crate) fn fill_zero(&mut self)
    where
        T: num_traits::Zero + Clone,
    {
        match self {
            PlaneMut::Packed { data, .. } => data.fill(T::zero()),
            PlaneMut::Strided(view) => view.fill(T::zero()),
        }
    }

    /// Calls `f` on every element of `square`.
    #[inline(always)]
    pub(crate) fn for_each_in(&mut self, square: Square, mut f: impl FnMut(&mut T)) {
        match self {
            PlaneMut::Packed { data, width } => {
                fold_rows_sized(square, *width, (), |(), _, range| {
                    data[range].iter_mut().for_each(&mut f);
                });
            }
            PlaneMut::Strided(view) => {
                for row in square.top..square.top + square.size {
                    for col in square.left..square.left + square.size {
                        f(&mut view[(row, col)]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support;

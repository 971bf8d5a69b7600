//! Shapes at the type level, so that layers composed by hand are checked by the compiler.
//!
//! Every core layer type names the per-sample shape it takes ([`LayerShape::Input`]) and
//! the one it gives ([`LayerShape::Output`]) as [`Vector`] or [`Image`] of [`typenum`]
//! numbers. Convolutions and pools compute their output size `(H + 2P − K) / S + 1` with
//! typenum's arithmetic ([`WindowOutput`]), and [`Chain`] only exists for two layers
//! whose shapes meet:
//!
//! ```
//! use nn_core::shape::{Chain, Image, LayerShape, Vector};
//! use nn_core::typenum::{U1, U10, U12, U2, U24, U28, U5, U6, U864};
//! use nn_core::{Conv2d, Dense, Flatten, MaxPool2d};
//!
//! type Conv = Conv2d<Image<U1, U28, U28>, U6, U5>; // 1×28×28 → 6×24×24
//! type Pool = MaxPool2d<Image<U6, U24, U24>, U2>; // → 6×12×12
//! type Net = Chain<Chain<Chain<Conv, Pool>, Flatten<Image<U6, U12, U12>>>, Dense<U864, U10>>;
//!
//! fn output_of<L: LayerShape>() -> &'static str {
//!     std::any::type_name::<L::Output>()
//! }
//! assert_eq!(output_of::<Net>(), std::any::type_name::<Vector<U10>>());
//! ```
//!
//! `network!` does not need these types to check a declaration (it infers the shapes of
//! built-in layers itself, to report mistakes in words, and lets const evaluation check
//! the rest with [`Dims`]), but the fields it generates are these types.

use std::marker::PhantomData;
use std::ops::{Add, Div, Mul, Sub};

use typenum::{Diff, Prod, Quot, Sum, Unsigned, U1, U2};

/// Why a layer kind that takes images refuses a vector, as `network!` says it.
macro_rules! takes_an_image {
    ($kind:literal) => {
        concat!(
            "`",
            $kind,
            "` takes an image\nhelp: images are declared as `input: [channels, height, width]`, and only layers before any `Flatten` or `Dense` see them"
        )
    };
}
pub(crate) use takes_an_image;

/// The per-sample shape of `N` features.
pub struct Vector<N>(PhantomData<N>);

/// The per-sample shape of an image: `C` channels of `H` × `W` pixels.
pub struct Image<C, H, W>(PhantomData<(C, H, W)>);

/// A per-sample shape given as a type, read as numbers: [`Vector`] and [`Image`] of
/// typenum numbers, or [`Dims`] of const numbers.
pub trait SampleShape {
    /// The dimensions: `[features]` or `[channels, height, width]`; empty for a shape an
    /// earlier layer could not give (see [`Dims`]).
    const SHAPE: &'static [usize];
}

impl<N: Unsigned> SampleShape for Vector<N> {
    const SHAPE: &'static [usize] = &[N::USIZE];
}

impl<C: Unsigned, H: Unsigned, W: Unsigned> SampleShape for Image<C, H, W> {
    const SHAPE: &'static [usize] = &[C::USIZE, H::USIZE, W::USIZE];
}

/// A per-sample shape of rank `R` whose dimensions are const numbers: `[A]` for `R = 1`,
/// `[A, B, C]` for `R = 3`, and no shape at all for `R = 0`.
///
/// `network!` gives a layer this input type where its shape is known only by const
/// evaluation: a layer written outside the library (whose shape rule the macro cannot
/// run), and every layer after one. `R = 0` stands for the output of a layer that refused
/// its input, so that one mistake is reported once, not again by every layer after it.
pub struct Dims<const R: usize, const A: usize, const B: usize, const C: usize>;

impl<const R: usize, const A: usize, const B: usize, const C: usize> SampleShape
    for Dims<R, A, B, C>
{
    const SHAPE: &'static [usize] = match R {
        1 => &[A],
        3 => &[A, B, C],
        _ => &[],
    };
}

/// A per-sample shape with the dimension of a batch of it: `Ix2` for a [`Vector`], `Ix4`
/// for an [`Image`], and `IxDyn` for a [`Dims`], whose rank only const evaluation knows;
/// for layers that take either (dropout).
pub trait Batched: SampleShape {
    /// The dimension of a batch.
    type Batch: ndarray::Dimension;
}

impl<N: Unsigned> Batched for Vector<N> {
    type Batch = ndarray::Ix2;
}

impl<C: Unsigned, H: Unsigned, W: Unsigned> Batched for Image<C, H, W> {
    type Batch = ndarray::Ix4;
}

impl<const R: usize, const A: usize, const B: usize, const C: usize> Batched for Dims<R, A, B, C> {
    type Batch = ndarray::IxDyn;
}

/// The sizes of an image shape as numbers, for the kernels. A [`Dims`] of another rank
/// gives sizes too, which the layers taking it refuse (`Layer::OUTPUT_SHAPE`).
pub trait ImageShape: SampleShape {
    /// The number of channels.
    const CHANNELS: usize;
    /// The height in pixels.
    const HEIGHT: usize;
    /// The width in pixels.
    const WIDTH: usize;
}

impl<C: Unsigned, H: Unsigned, W: Unsigned> ImageShape for Image<C, H, W> {
    const CHANNELS: usize = C::USIZE;
    const HEIGHT: usize = H::USIZE;
    const WIDTH: usize = W::USIZE;
}

impl<const R: usize, const A: usize, const B: usize, const C: usize> ImageShape
    for Dims<R, A, B, C>
{
    const CHANNELS: usize = A;
    const HEIGHT: usize = B;
    const WIDTH: usize = C;
}

/// The input width of a dense layer: a typenum number, or the shape of [`Dims`] (which
/// the layer refuses unless it is a vector).
pub trait Features {
    /// The input's per-sample shape.
    const SHAPE: &'static [usize];
    /// The number of features.
    const FEATURES: usize;
}

impl<N: Unsigned> Features for N {
    const SHAPE: &'static [usize] = &[N::USIZE];
    const FEATURES: usize = N::USIZE;
}

impl<const R: usize, const A: usize, const B: usize, const C: usize> Features for Dims<R, A, B, C> {
    const SHAPE: &'static [usize] = <Self as SampleShape>::SHAPE;
    const FEATURES: usize = A;
}

/// The shape of one sample going into and out of a layer.
pub trait LayerShape {
    /// The shape the layer takes.
    type Input;
    /// The shape the layer gives.
    type Output;
}

/// Layer `A` followed by layer `B`; a [`LayerShape`] only if `B` takes what `A` gives.
pub struct Chain<A, B>(PhantomData<(A, B)>);

impl<A: LayerShape, B: LayerShape<Input = A::Output>> LayerShape for Chain<A, B> {
    type Input = A::Input;
    type Output = B::Output;
}

/// `(Self + 2P − K) / S + 1`: how many positions a window of size `K` visits along a side
/// of length `Self` padded by `P` on each end, moving by `S`. Not implemented when the
/// window is larger than the padded side, so such a layer does not type-check.
pub trait WindowOutput<K, S, P> {
    /// The number of positions.
    type Output: Unsigned;
}

impl<N, K, S, P> WindowOutput<K, S, P> for N
where
    P: Mul<U2>,
    N: Add<Prod<P, U2>>,
    Sum<N, Prod<P, U2>>: Sub<K>,
    Diff<Sum<N, Prod<P, U2>>, K>: Div<S>,
    Quot<Diff<Sum<N, Prod<P, U2>>, K>, S>: Add<U1>,
    Sum<Quot<Diff<Sum<N, Prod<P, U2>>, K>, S>, U1>: Unsigned,
{
    type Output = Sum<Quot<Diff<Sum<N, Prod<P, U2>>, K>, S>, U1>;
}

/// A square window sliding over an image plane: a convolution's kernel or a pool's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// The side of the window.
    pub size: usize,
    /// How far it moves between positions.
    pub stride: usize,
    /// Zeros added on each end of each side (pools have none).
    pub padding: usize,
}

impl Window {
    /// `(n + 2p − k) / s + 1`: the number of positions along a side of length `n`, the
    /// same count as [`WindowOutput`] for sizes known at run time.
    ///
    /// # Panics
    ///
    /// If the window is larger than the padded side or the stride is 0 (in a constant,
    /// this is a compile error).
    pub const fn output(self, n: usize) -> usize {
        match self.checked_output(n) {
            Some(positions) => positions,
            None => panic!("the window is larger than the padded input, or its stride is 0"),
        }
    }

    /// [`Window::output`], or `None` where it would panic.
    pub const fn checked_output(self, n: usize) -> Option<usize> {
        if self.stride == 0 || self.size > n + 2 * self.padding {
            return None;
        }
        Some((n + 2 * self.padding - self.size) / self.stride + 1)
    }

    /// [`Window::output`], or 0 where it would panic: for the sizes of a layer whose
    /// shape was refused, which are only looked at if it was not.
    pub const fn output_or_zero(self, n: usize) -> usize {
        match self.checked_output(n) {
            Some(positions) => positions,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use typenum::{U0, U12, U24, U28, U3, U5, U7};

    fn count<N: WindowOutput<K, S, P>, K, S, P>() -> usize {
        <N as WindowOutput<K, S, P>>::Output::USIZE
    }

    #[test]
    fn type_level_and_run_time_counts_agree() {
        assert_eq!(count::<U28, U5, U1, U0>(), 24);
        assert_eq!(count::<U24, U2, U2, U0>(), 12);
        let window = |size, stride, padding| Window {
            size,
            stride,
            padding,
        };
        assert_eq!(count::<U7, U3, U2, U1>(), window(3, 2, 1).output(7));
        assert_eq!(count::<U12, U5, U3, U2>(), window(5, 3, 2).output(12));
        // Floor mode: the last partial window is dropped, as in PyTorch.
        assert_eq!(window(2, 2, 0).output(7), 3);
    }
}

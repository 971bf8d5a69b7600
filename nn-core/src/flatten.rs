//! Flattening: PyTorch's `nn.Flatten()`, each `C × H × W` sample laid out as one vector
//! of `C·H·W` features in row-major order, feature `(c·H + i)·W + j` for pixel `(c, i, j)`.
//!
//! Flatten carries no parameters and is a linear map `P` that only renames coordinates;
//! it is an isometry onto the vectors, so its adjoint `P*` is its inverse, the reshape
//! back:
//!
//! ```text
//! forward          a      = P a_prev        N × C × H × W  →  N × C·H·W
//! adjoint_input    δ_prev = P* δ            N × C·H·W      →  N × C × H × W
//! ```
//!
//! Both copy, so they accept views in any layout; when both sides are contiguous the
//! copy is one `memcpy`.

use std::marker::PhantomData;
use std::ops::Mul;

use ndarray::{
    ArrayView, ArrayView2, ArrayView4, ArrayViewMut, ArrayViewMut2, ArrayViewMut4, Dimension, Ix2,
    Ix4,
};
use typenum::Prod;

use crate::init::{Init, InitRng};
use crate::layer::Layer;
use crate::network::batch_size;
use crate::scalar::Scalar;
use crate::shape::{Image, ImageShape, LayerShape, Vector};

/// Flattens a batch `a_prev` (N × C × H × W) into `a` (N × C·H·W).
///
/// # Panics
///
/// If `a` is not N × C·H·W.
#[track_caller]
pub fn forward<T: Copy>(a_prev: ArrayView4<'_, T>, a: ArrayViewMut2<'_, T>) {
    let (n, c, h, w) = a_prev.dim();
    assert!(
        a.dim() == (n, c * h * w),
        "flatten::forward: an input of shape {:?} flattens to {:?}, got {:?}",
        a_prev.shape(),
        [n, c * h * w],
        a.shape()
    );
    copy_in_row_major_order(a_prev, a);
}

/// `δ_prev = P* δ`: the error signal `delta` (N × C·H·W) reshaped back into `delta_prev`
/// (N × C × H × W).
///
/// # Panics
///
/// If `delta` is not N × C·H·W.
#[track_caller]
pub fn adjoint_input<T: Copy>(delta: ArrayView2<'_, T>, delta_prev: ArrayViewMut4<'_, T>) {
    let (n, c, h, w) = delta_prev.dim();
    assert!(
        delta.dim() == (n, c * h * w),
        "flatten::adjoint_input: delta_prev of shape {:?} takes an error signal of shape \
         {:?}, got {:?}",
        delta_prev.shape(),
        [n, c * h * w],
        delta.shape()
    );
    copy_in_row_major_order(delta, delta_prev);
}

/// Copies `from` into `to`, element `k` of one to element `k` of the other in row-major
/// order: since flattening preserves that order, this is `P` one way and `P*` the other.
fn copy_in_row_major_order<T: Copy, D: Dimension, E: Dimension>(
    from: ArrayView<'_, T, D>,
    mut to: ArrayViewMut<'_, T, E>,
) {
    debug_assert_eq!(from.len(), to.len());
    if let (Some(from), Some(to)) = (from.as_slice(), to.as_slice_mut()) {
        to.copy_from_slice(from);
        return;
    }
    // ndarray's iterators visit elements in row-major order whatever the strides.
    to.iter_mut()
        .zip(from.iter())
        .for_each(|(to, &from)| *to = from);
}

/// Flattening of images of shape `I` into vectors of `C·H·W` features, with the output
/// shape in its type ([`LayerShape`]).
///
/// The layer has no parameters: its value only carries the sizes.
pub struct Flatten<I, T = f32>(PhantomData<fn() -> (I, T)>);

impl<I: ImageShape, T> Flatten<I, T> {
    /// The number of output features, `C·H·W`.
    pub const OUTPUTS: usize = I::CHANNELS * I::HEIGHT * I::WIDTH;

    /// The layer (it has no parameters to initialise).
    pub fn new() -> Self {
        Flatten(PhantomData)
    }
}

impl<I: ImageShape, T: Scalar> Layer for Flatten<I, T> {
    const KIND: &'static str = "Flatten";
    type InputDim = Ix4;
    type OutputDim = Ix2;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = match I::SHAPE.len() {
        3 => Ok(&[Self::OUTPUTS]),
        _ => Err(crate::shape::takes_an_image!("Flatten")),
    };
    const NUM_PARAMS: usize = 0;

    fn new(_rng: &mut InitRng, _init: Init) -> Self {
        Flatten::new()
    }

    fn zeros() -> Self {
        Flatten::new()
    }

    /// Flattens a batch `a_prev` (N × C × H × W) into `a` (N × C·H·W).
    ///
    /// # Panics
    ///
    /// If `a_prev` is not a batch of `I` or `a` is not N × C·H·W.
    #[track_caller]
    fn forward(&self, a_prev: ArrayView4<'_, T>, a: ArrayViewMut2<'_, T>) {
        batch_size(Self::KIND, a_prev.shape(), I::SHAPE);
        forward(a_prev, a);
    }

    /// `δ_prev = P* δ`: the error signal `delta` (N × C·H·W) reshaped back into
    /// `delta_prev` (N × C × H × W).
    ///
    /// # Panics
    ///
    /// If `delta_prev` is not a batch of `I` or `delta` is not N × C·H·W.
    #[track_caller]
    fn adjoint_input(
        &self,
        _a_prev: ArrayView4<'_, T>,
        delta: ArrayView2<'_, T>,
        delta_prev: ArrayViewMut4<'_, T>,
    ) {
        batch_size(Self::KIND, delta_prev.shape(), I::SHAPE);
        adjoint_input(delta, delta_prev);
    }
}

// By hand rather than derived, so that they hold whatever `I` is.
impl<I, T> Clone for Flatten<I, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<I, T> Copy for Flatten<I, T> {}

impl<I, T> Default for Flatten<I, T> {
    fn default() -> Self {
        Flatten(PhantomData)
    }
}

impl<I, T> std::fmt::Debug for Flatten<I, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Flatten")
    }
}

impl<I, T> PartialEq for Flatten<I, T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<C, H, W, T> LayerShape for Flatten<Image<C, H, W>, T>
where
    C: Mul<H>,
    Prod<C, H>: Mul<W>,
{
    type Input = Image<C, H, W>;
    type Output = Vector<Prod<Prod<C, H>, W>>;
}

crate::network::parameterless_layer!("Flatten", impl<I, T: Scalar> for Flatten<I, T>, elem T);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::Parameters;
    use ndarray::{s, Array, Array2, Array4};
    use typenum::{U10, U12, U3, U4, U5, U6, U60, U864};

    /// Pixel `(n, c, i, j)` holds the number `nciij` in decimal, so a value says where it
    /// came from.
    fn labelled(shape: (usize, usize, usize, usize)) -> Array4<f64> {
        Array::from_shape_fn(shape, |(n, c, i, j)| {
            (n * 10_000 + c * 1000 + i * 10 + j) as f64
        })
    }

    #[test]
    fn features_are_in_row_major_channel_height_width_order() {
        let (n, c, h, w) = (2, 3, 4, 5);
        let a = labelled((n, c, h, w));
        let mut flat = Array2::zeros((n, c * h * w));
        forward(a.view(), flat.view_mut());
        for (sample, row) in flat.outer_iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                let (ch, i, j) = (k / (h * w), k / w % h, k % w);
                assert_eq!(v, (sample * 10_000 + ch * 1000 + i * 10 + j) as f64);
            }
        }
        // The first features of a sample are channel 0's first row.
        assert_eq!(
            flat.slice(s![1, ..6]).to_vec(),
            [10_000., 10_001., 10_002., 10_003., 10_004., 10_010.]
        );
    }

    #[test]
    fn adjoint_is_the_inverse_reshape() {
        let a = labelled((2, 3, 4, 5));
        let mut flat = Array2::zeros((2, 60));
        forward(a.view(), flat.view_mut());
        let mut back = Array4::zeros(a.dim());
        adjoint_input(flat.view(), back.view_mut());
        assert_eq!(back, a);

        // ⟨P a, δ⟩ = ⟨a, P* δ⟩ for an unrelated δ.
        let delta = Array::from_shape_fn((2, 60), |(n, k)| ((n * 61 + k * 7) as f64).cos());
        let mut delta_prev = Array4::zeros(a.dim());
        adjoint_input(delta.view(), delta_prev.view_mut());
        assert!(((&flat * &delta).sum() - (&a * &delta_prev).sum()).abs() < 1e-9);
    }

    /// Non-contiguous views go through the element-by-element path and must give the
    /// same order.
    #[test]
    fn any_layout_gives_the_same_order() {
        let a = labelled((2, 3, 4, 5));
        let mut expected = Array2::zeros((2, 60));
        forward(a.view(), expected.view_mut());

        let a_nhwc = a
            .view()
            .permuted_axes([0, 2, 3, 1])
            .as_standard_layout()
            .into_owned();
        let a_nchw = a_nhwc.view().permuted_axes([0, 3, 1, 2]);
        assert!(!a_nchw.is_standard_layout());
        let mut wide = Array2::zeros((2, 120));
        forward(a_nchw, wide.slice_mut(s![.., ..;2]));
        assert_eq!(wide.slice(s![.., ..;2]), expected);

        let mut back = Array4::from_elem((2, 3, 4, 10), -1.0);
        adjoint_input(
            wide.slice(s![.., ..;2]),
            back.slice_mut(s![.., .., .., ..;2]),
        );
        assert_eq!(back.slice(s![.., .., .., ..;2]), a);
        assert!(back.slice(s![.., .., .., 1..;2]).iter().all(|&v| v == -1.0));
    }

    #[test]
    #[should_panic(
        expected = "flatten::forward: an input of shape [2, 3, 4, 5] flattens to [2, 60], got [2, 59]"
    )]
    fn wrong_output_shape_is_reported() {
        forward(
            Array4::<f64>::zeros((2, 3, 4, 5)).view(),
            Array2::zeros((2, 59)).view_mut(),
        );
    }

    #[test]
    fn typed_layer_knows_its_shapes_and_has_no_parameters() {
        fn output<L: LayerShape<Output = Out>, Out>() {}
        output::<Flatten<Image<U6, U12, U12>>, Vector<U864>>();
        output::<Flatten<Image<U3, U4, U5>>, Vector<U60>>();
        assert_eq!(Flatten::<Image<U6, U12, U12>>::OUTPUTS, 864);
        assert_eq!(
            Flatten::<Image<U3, U4, U5>>::new().param_names(),
            [] as [&str; 0]
        );
        assert_eq!(
            format!("{:?}", Flatten::<Image<U3, U4, U5>>::default()),
            "Flatten"
        );

        let a = labelled((2, 3, 4, 5)).mapv(|v| v as f32);
        let mut flat = Array2::zeros((2, 60));
        Flatten::<Image<U3, U4, U5>>::new().forward(a.view(), flat.view_mut());
        let mut back = Array4::zeros((2, 3, 4, 5));
        Flatten::<Image<U3, U4, U5>>::new().adjoint_input(a.view(), flat.view(), back.view_mut());
        assert_eq!(back, a);
    }

    #[test]
    #[should_panic(
        expected = "`Flatten` expects a batch of shape [batch, 3, 4, 5], got [2, 3, 5, 4]"
    )]
    fn typed_layer_rejects_another_input_shape() {
        Flatten::<Image<U3, U4, U5>>::new().forward(
            Array4::zeros((2, 3, 5, 4)).view(),
            Array2::zeros((2, 60)).view_mut(),
        );
    }

    #[test]
    #[should_panic(expected = "parameter index 0 is out of range for `Flatten`")]
    fn typed_layer_has_no_parameter_zero() {
        Flatten::<Image<U10, U10, U10>>::new().param(0);
    }
}

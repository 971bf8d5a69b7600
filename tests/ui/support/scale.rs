//! A layer and an activation written outside the library, for the UI cases: `Scale`
//! multiplies each feature by a weight of its own and adds a bias (`B(w, a) = w ⊙ a`),
//! `Softplus` is `ln(1 + eᶻ)`.

use std::marker::PhantomData;

use frechet::ndarray::{
    Array1, ArrayView, ArrayView2, ArrayViewMut, ArrayViewMut2, Dimension, Ix2, Zip,
};
use frechet::shape::SampleShape;
use frechet::{Activation, Init, InitRng, Layer, Parameters, Scalar};

pub struct Scale<I> {
    weight: Array1<f32>,
    bias: Array1<f32>,
    input: PhantomData<fn() -> I>,
}

impl<I> Clone for Scale<I> {
    fn clone(&self) -> Self {
        Scale {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            input: PhantomData,
        }
    }
}

impl<I: SampleShape> Scale<I> {
    const FEATURES: usize = if I::SHAPE.len() == 1 { I::SHAPE[0] } else { 0 };
}

impl<I: SampleShape> Layer for Scale<I> {
    const KIND: &'static str = "Scale";
    type InputDim = Ix2;
    type OutputDim = Ix2;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = match I::SHAPE.len() {
        1 => Ok(I::SHAPE),
        _ => Err("`Scale` takes a vector of features"),
    };
    const NUM_PARAMS: usize = 2 * Self::FEATURES;

    fn new(_rng: &mut InitRng, _init: Init) -> Self {
        let mut layer = Self::zeros();
        layer.weight.fill(1.0);
        layer
    }

    fn zeros() -> Self {
        Scale {
            weight: Array1::zeros(Self::FEATURES),
            bias: Array1::zeros(Self::FEATURES),
            input: PhantomData,
        }
    }

    fn forward(&self, a_prev: ArrayView2<'_, f32>, mut z: ArrayViewMut2<'_, f32>) {
        z.assign(&(&a_prev * &self.weight + &self.bias));
    }

    fn adjoint_input(
        &self,
        _a_prev: ArrayView2<'_, f32>,
        delta: ArrayView2<'_, f32>,
        mut delta_prev: ArrayViewMut2<'_, f32>,
    ) {
        delta_prev.assign(&(&delta * &self.weight));
    }

    fn assign_adjoint_weight(&mut self, delta: ArrayView2<'_, f32>, a_prev: ArrayView2<'_, f32>) {
        self.weight
            .assign(&(&delta * &a_prev).sum_axis(frechet::ndarray::Axis(0)));
        self.bias.assign(&delta.sum_axis(frechet::ndarray::Axis(0)));
    }
}

impl<I> Parameters for Scale<I> {
    type Elem = f32;

    fn param_names(&self) -> &'static [&'static str] {
        &["weight", "bias"]
    }

    fn param_shape(&self, index: usize) -> &[usize] {
        [&self.weight, &self.bias][index].shape()
    }

    fn param(&self, index: usize) -> &[f32] {
        [&self.weight, &self.bias][index].as_slice().unwrap()
    }

    fn param_mut(&mut self, index: usize) -> &mut [f32] {
        match index {
            0 => self.weight.as_slice_mut().unwrap(),
            _ => self.bias.as_slice_mut().unwrap(),
        }
    }
}

/// `ln(1 + eᶻ)`, whose derivative `1 − e^{−a}` is read off the output `a`.
#[derive(Clone, Copy)]
pub struct Softplus;

impl Activation for Softplus {
    fn apply<T: Scalar, D: Dimension>(&self, mut z: ArrayViewMut<'_, T, D>) {
        z.map_inplace(|z| *z = (T::one() + z.exp()).ln());
    }

    fn backprop<T: Scalar, D: Dimension>(
        &self,
        a: ArrayView<'_, T, D>,
        delta: ArrayViewMut<'_, T, D>,
    ) {
        Zip::from(delta)
            .and(a)
            .for_each(|d, &a| *d *= T::one() - (-a).exp());
    }
}

//! Every layer kind through `frechet::check`: the inner-product identities of its
//! adjoints and central differences, the depthwise convolution of the custom-layer
//! example included; the reference adjoints of Equation (3) against the fast ones; and
//! the checker catching a wrong adjoint.
//!
//! `cargo test --test check -- --nocapture` prints every report.

#[path = "../examples/custom_layer/depthwise.rs"]
#[allow(dead_code)]
mod depthwise;
#[path = "ui/support/scale.rs"]
mod scale;

use depthwise::DepthwiseConv2d;
use frechet::check::{self, reference_adjoint_input, reference_adjoint_weight};
use frechet::layer::{batch_dim, output_shape};
use frechet::ndarray::{Array, ArrayView2, ArrayViewMut2, Dimension, Ix2};
use frechet::shape::{Dims, Image, Vector};
use frechet::typenum::{U0, U1, U2, U3, U4, U5, U6, U7, U8, U9};
use frechet::{
    AvgPool2d, BatchNorm, Conv2d, Dense, Dropout, Flatten, Identity, Init, InitRng, Layer,
    LeakyReLU, MaxPool2d, Parameters, ReLU, Sigmoid, Tanh,
};

fn checked<L: Layer>(batch: usize) {
    let report = check::layer::<L>(batch, 7);
    println!("{report}");
    report.assert_passed();
}

#[test]
fn every_built_in_kind_passes() {
    checked::<Dense<U9, U4>>(3);
    checked::<Conv2d<Image<U2, U7, U7>, U3, U3>>(2);
    // Stride 2, padding 1, a non-square input.
    checked::<Conv2d<Image<U3, U9, U7>, U2, U3, U2, U1>>(2);
    checked::<MaxPool2d<Image<U2, U6, U6>, U2>>(2);
    // Overlapping windows: the adjoint adds where they share an element.
    checked::<MaxPool2d<Image<U2, U7, U7>, U3, U2>>(2);
    checked::<AvgPool2d<Image<U2, U7, U9>, U3, U2>>(2);
    checked::<Flatten<Image<U2, U3, U4>>>(3);
    // After a user's layer, the built-ins take their input as `Dims`.
    checked::<Conv2d<Dims<3, 2, 6, 6>, U4, U3, U1, U0>>(2);
    checked::<Dense<Dims<1, 10, 0, 0>, U3>>(2);
    // The training maps: dropout with its mask, batch normalisation with the batch's
    // statistics (not homogeneous in its input: central differences test its adjoint).
    checked::<Dropout<Vector<U9>, { 0.5f64.to_bits() }>>(3);
    checked::<Dropout<Image<U2, U3, U4>, { 0.25f64.to_bits() }>>(2);
    checked::<BatchNorm<Vector<U9>, false, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }>>(6);
    checked::<BatchNorm<Image<U2, U5, U4>, true, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }>>(3);
}

/// The same kinds in `f64`, to the tighter tolerances of `f64` (central differences to
/// about `1e-8`).
#[test]
fn every_built_in_kind_passes_in_f64() {
    checked::<Dense<U9, U4, f64>>(3);
    checked::<Conv2d<Image<U3, U9, U7>, U2, U3, U2, U1, f64>>(2);
    checked::<MaxPool2d<Image<U2, U7, U7>, U3, U2, f64>>(2);
    checked::<AvgPool2d<Image<U2, U7, U9>, U3, U2, f64>>(2);
    checked::<Flatten<Image<U2, U3, U4>, f64>>(3);
    checked::<Dense<Dims<1, 10, 0, 0>, U3, f64>>(2);
    checked::<Dropout<Image<U2, U3, U4>, { 0.25f64.to_bits() }, f64>>(2);
    checked::<BatchNorm<Vector<U9>, false, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }, f64>>(6);
    checked::<BatchNorm<Image<U2, U5, U4>, true, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }, f64>>(
        3,
    );
    checked::<DepthwiseConv2d<Dims<3, 3, 8, 8>, 3, f64>>(2);
    for report in [
        check::layer::<Dense<U9, U4, f64>>(3, 7),
        check::layer::<
            BatchNorm<Vector<U9>, false, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }, f64>,
        >(6, 7),
    ] {
        let differences = report.equations.last().expect("central differences last");
        assert!(differences.tolerance <= 1e-7, "{report}");
    }
}

#[test]
fn layers_written_outside_the_library_pass() {
    checked::<DepthwiseConv2d<Dims<3, 3, 8, 8>, 3>>(2);
    checked::<DepthwiseConv2d<Dims<3, 16, 12, 12>, 5>>(2);
    // The layer of the chapter "Writing a layer", and its activation.
    checked::<scale::Scale<Dims<1, 6, 0, 0>>>(4);
    let report = check::activation(&scale::Softplus, 200, 6);
    println!("{report}");
    report.assert_passed();
}

#[test]
fn every_activation_passes() {
    for report in [
        check::activation(&ReLU, 200, 1),
        check::activation(&LeakyReLU(0.1), 200, 2),
        check::activation(&Sigmoid, 200, 3),
        check::activation(&Tanh, 200, 4),
        check::activation(&Identity, 200, 5),
    ] {
        println!("{report}");
        report.assert_passed();
    }
}

/// A deterministic, irregular array (no symmetry a bug could hide behind).
fn irregular<D: Dimension>(dim: D, phase: f32) -> Array<f32, D> {
    let mut i = 0.0f32;
    Array::from_shape_simple_fn(dim, || {
        i += 1.0;
        (i * 0.37 + phase).sin()
    })
}

/// A layer of kind `L`, an input batch and an error signal.
type Point<L> = (
    L,
    Array<f32, <L as Layer>::InputDim>,
    Array<f32, <L as Layer>::OutputDim>,
);

/// A layer, input and error signal of kind `L`.
fn random<L: Layer<Elem = f32>>(batch: usize) -> Point<L> {
    let mut layer = L::new(&mut InitRng::new(3), Init::Xavier);
    for tensor in 0..layer.param_names().len() {
        for (i, p) in layer.param_mut(tensor).iter_mut().enumerate() {
            *p += ((i * 7 % 11) as f32 - 5.0) * 0.01;
        }
    }
    let a = irregular(batch_dim(batch, L::INPUT_SHAPE), 0.1);
    let g = irregular(batch_dim(batch, output_shape::<L>()), 0.9);
    (layer, a, g)
}

/// The reference adjoints, from the forward map alone, against the layer's own.
fn references_agree<L: Layer<Elem = f32>>(batch: usize) {
    let (layer, a, g) = random::<L>(batch);
    let mut fast = Array::zeros(a.raw_dim());
    layer.adjoint_input(a.view(), g.view(), fast.view_mut());
    let mut reference = Array::zeros(a.raw_dim());
    reference_adjoint_input(&layer, g.view(), reference.view_mut());
    let close = |x: &[f32], y: &[f32], what: &str| {
        let worst = x
            .iter()
            .zip(y)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{}: {what} differs by {worst}", L::KIND);
    };
    close(
        fast.as_slice().unwrap(),
        reference.as_slice().unwrap(),
        "the input adjoint",
    );

    let (mut fast, mut reference) = (L::zeros(), L::zeros());
    fast.assign_adjoint_weight(g.view(), a.view());
    reference_adjoint_weight(&mut reference, g.view(), a.view());
    for tensor in 0..fast.param_names().len() {
        close(
            fast.param(tensor),
            reference.param(tensor),
            fast.param_names()[tensor],
        );
    }
}

#[test]
fn reference_adjoints_are_the_fast_ones() {
    references_agree::<Dense<U5, U3>>(2);
    references_agree::<Conv2d<Image<U2, U6, U5>, U3, U3, U2, U1>>(2);
    references_agree::<AvgPool2d<Image<U2, U6, U6>, U2>>(2);
    references_agree::<Flatten<Image<U2, U3, U4>>>(2);
    references_agree::<DepthwiseConv2d<Dims<3, 2, 7, 8>, 3>>(2);
}

/// Dense with its input adjoint off by a transpose-like slip: `Δ Wᵀ`-shaped products are
/// impossible here, so the slip sums the wrong row of `W`.
#[derive(Clone)]
struct Slipped(Dense<U8, U8>);

impl Parameters for Slipped {
    type Elem = f32;

    fn param_names(&self) -> &'static [&'static str] {
        self.0.param_names()
    }
    fn param_shape(&self, index: usize) -> &[usize] {
        self.0.param_shape(index)
    }
    fn param(&self, index: usize) -> &[f32] {
        self.0.param(index)
    }
    fn param_mut(&mut self, index: usize) -> &mut [f32] {
        self.0.param_mut(index)
    }
}

impl Layer for Slipped {
    const KIND: &'static str = "Slipped";
    type InputDim = Ix2;
    type OutputDim = Ix2;
    const INPUT_SHAPE: &'static [usize] = &[8];
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = Ok(&[8]);
    const NUM_PARAMS: usize = 72;

    fn new(rng: &mut InitRng, init: Init) -> Self {
        Slipped(Dense::new(rng, init))
    }
    fn zeros() -> Self {
        Slipped(Dense::zeros())
    }
    fn forward(&self, a_prev: ArrayView2<'_, f32>, z: ArrayViewMut2<'_, f32>) {
        self.0.forward(a_prev, z);
    }
    fn adjoint_input(
        &self,
        _a_prev: ArrayView2<'_, f32>,
        delta: ArrayView2<'_, f32>,
        mut delta_prev: ArrayViewMut2<'_, f32>,
    ) {
        // Δ Wᵀ instead of Δ W: the right shape, the wrong map.
        delta_prev.assign(&delta.dot(&self.0.weight().t()));
    }
    fn assign_adjoint_weight(&mut self, delta: ArrayView2<'_, f32>, a_prev: ArrayView2<'_, f32>) {
        self.0.assign_adjoint_weight(delta, a_prev);
        // And the bias gradient doubled.
        self.0.bias_mut().mapv_inplace(|b| 2.0 * b);
    }
}

#[test]
fn a_wrong_adjoint_is_caught() {
    let report = check::layer::<Slipped>(3, 1);
    println!("{report}");
    assert!(!report.passed());
    let holds: Vec<bool> = report
        .equations
        .iter()
        .map(|equation| equation.relative_error() <= equation.tolerance)
        .collect();
    // The parameter count and the weight identity hold; the bias and both input
    // identities do not.
    assert_eq!(holds, [true, true, false, false, false], "{report}");
}

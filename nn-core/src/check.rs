//! Equation (3) as a tool: verify a layer's adjoints, or compute them from its forward
//! map alone.
//!
//! A layer of Section 4 is `z = B(W, a) + C b` with `B` bilinear and `C` linear, and its
//! adjoints are defined by the inner products
//!
//! ```text
//! ⟨B(W, a), g⟩ = ⟨W, B(·, a)* g⟩ = ⟨a, B(W, ·)* g⟩        ⟨C b, g⟩ = ⟨b, C* g⟩
//! ```
//!
//! [`layer`] evaluates both sides of each at random points, and compares the input
//! adjoint with central differences of the forward map along a random direction; a wrong
//! index or a missing sum in an adjoint shows as a relative error far above rounding.
//! [`activation`] compares an activation's `backprop` with central differences, in `f64`.
//!
//! By the same equations each adjoint is determined by `B` alone: its `j`-th coordinate
//! is an inner product with `B` at the `j`-th vector of the standard basis. So
//! [`reference_adjoint_input`] and [`reference_adjoint_weight`] compute the adjoints from
//! [`Layer::forward`] only — one forward pass per coordinate, slow but right — so that a
//! layer can train before its fast adjoints are written, and be checked against them
//! after.
//!
//! ```
//! use nn_core::shape::Image;
//! use nn_core::typenum::{U2, U3, U7};
//! use nn_core::Conv2d;
//!
//! let report = nn_core::check::layer::<Conv2d<Image<U2, U7, U7>, U3, U3>>(2, 0);
//! println!("{report}");
//! report.assert_passed();
//! ```
//!
//! The sums of these checks are taken in `f64`. For a layer of `f32` they agree to the
//! rounding of `f32` (about `1e-6` relative), not to `f64`'s; a layer of `f64` is held to
//! tolerances tighter by the ratio of the two types' precisions (central differences to
//! about `1e-8`). A wrong adjoint is off by far more.

use std::fmt;

use ndarray::{Array, ArrayView, ArrayViewMut, Dimension, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::layer::{batch_dim, output_shape, Layer};
use crate::network::Parameters;
use crate::scalar::Scalar;
use num_traits::{Float, One, Zero};

/// One equation evaluated at a random point: its two sides.
#[derive(Clone, Debug, PartialEq)]
pub struct Equation {
    /// What is compared, such as `⟨B(W, a), g⟩ = ⟨W, B(·, a)* g⟩`.
    pub name: &'static str,
    /// The left side.
    pub left: f64,
    /// The right side.
    pub right: f64,
    /// The relative error up to which the two sides agree for a right implementation:
    /// rounding in the layer's element type for the equations, and the step of central
    /// differences.
    pub tolerance: f64,
}

impl Equation {
    /// `|left − right| / max(|left|, |right|)`, or 0 where both are 0.
    pub fn relative_error(&self) -> f64 {
        let scale = self.left.abs().max(self.right.abs());
        if scale == 0.0 {
            0.0
        } else {
            (self.left - self.right).abs() / scale
        }
    }
}

/// What [`layer`] or [`activation`] measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The layer kind or activation checked.
    pub what: String,
    /// Each equation, with its two sides.
    pub equations: Vec<Equation>,
}

impl Report {
    /// The largest relative error of all equations.
    pub fn worst(&self) -> f64 {
        self.equations
            .iter()
            .map(Equation::relative_error)
            .fold(0.0, f64::max)
    }

    /// Whether every equation holds within its tolerance.
    pub fn passed(&self) -> bool {
        self.equations
            .iter()
            .all(|equation| equation.relative_error() <= equation.tolerance)
    }

    /// Panics, printing the report, unless every equation holds within its tolerance.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "an equation does not hold:\n{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.what)?;
        for equation in &self.equations {
            let error = equation.relative_error();
            let verdict = if error <= equation.tolerance {
                "ok"
            } else {
                "WRONG"
            };
            writeln!(
                f,
                "  {:<46} {:>15.7e} {:>15.7e}   relative error {error:.1e} (at most {:.0e}): {verdict}",
                equation.name,
                equation.left,
                equation.right,
                equation.tolerance,
            )?;
        }
        Ok(())
    }
}

/// The figures of a check of a layer of `T`: those of `f32`, scaled by the ratio `r` of
/// `T`'s machine epsilon to `f32`'s (1, or about `2e-9` for `f64`).
struct Tolerances {
    /// Rounding of sums of some thousand terms, far below what a wrong adjoint gives:
    /// `1e-4` for `f32`, as `√r`.
    rounding: f64,
    /// The step of central differences, relative to the gaps between the input's values:
    /// `0.25` for `f32`, as `∛r`, where truncation and rounding balance.
    step: f64,
    /// The error central differences leave: `1e-2` for `f32`, as `∛r²`.
    differences: f64,
}

impl Tolerances {
    fn of<T: Scalar>() -> Self {
        let r = T::epsilon().widen() / f64::from(f32::EPSILON);
        Tolerances {
            rounding: 1e-4 * r.sqrt(),
            step: 0.25 * r.cbrt(),
            differences: 1e-2 * r.cbrt().powi(2),
        }
    }
}

/// The random points of a check, from a seed.
struct Points(ChaCha8Rng);

impl Points {
    /// A batch of distinct values `2k/len − 1` in a random order: no two closer than
    /// `2/len`, so that a step below half that moves no max pool's selection.
    fn distinct<T: Scalar, D: Dimension>(&mut self, batch: usize, sample: &[usize]) -> Array<T, D> {
        let mut array = Array::zeros(batch_dim::<D>(batch, sample));
        let len = array.len();
        let as_t = |n: usize| T::from_usize(n).expect("a count is representable");
        let mut values: Vec<T> = (0..len)
            .map(|k| as_t(2 * k) / as_t(len) - T::one())
            .collect();
        for i in (1..len).rev() {
            values.swap(i, self.0.random_range(0..=i));
        }
        for (x, value) in array.iter_mut().zip(values) {
            *x = value;
        }
        array
    }

    /// A draw from `U(-1, 1)`, in `f32` whatever `T` is.
    fn draw<T: Scalar>(&mut self) -> T {
        T::of_f32(self.0.random_range(-1.0..1.0))
    }

    fn fill<T: Scalar, D: Dimension>(&mut self, mut array: ArrayViewMut<'_, T, D>) {
        array.map_inplace(|x| *x = self.draw());
    }

    fn batch<T: Scalar, D: Dimension>(&mut self, batch: usize, sample: &[usize]) -> Array<T, D> {
        let mut array = Array::zeros(batch_dim::<D>(batch, sample));
        self.fill(array.view_mut());
        array
    }

    /// A layer with every parameter random.
    fn layer<L: Layer>(&mut self) -> L {
        let mut layer = L::zeros();
        for tensor in 0..layer.param_names().len() {
            for p in layer.param_mut(tensor) {
                *p = self.draw();
            }
        }
        layer
    }
}

/// `⟨x, y⟩`, summed in `f64`.
fn inner<T: Scalar, D: Dimension>(x: ArrayView<'_, T, D>, y: ArrayView<'_, T, D>) -> f64 {
    let mut sum = 0.0;
    Zip::from(x)
        .and(y)
        .for_each(|&x, &y| sum += x.widen() * y.widen());
    sum
}

/// `⟨x, y⟩` over the tensors of `layer` and `other` whose names `take` accepts.
fn inner_params<L: Parameters>(layer: &L, other: &L, take: impl Fn(&str) -> bool) -> f64 {
    let names = layer.param_names();
    (0..names.len())
        .filter(|&tensor| take(names[tensor]))
        .map(|tensor| {
            let x = layer.param(tensor).iter();
            x.zip(other.param(tensor))
                .map(|(&x, &y)| x.widen() * y.widen())
                .sum::<f64>()
        })
        .sum()
}

/// `layer` with the tensors `keep` accepts and the others zero.
fn keeping<L: Layer>(layer: &L, keep: impl Fn(&str) -> bool) -> L {
    let mut kept = layer.clone();
    for (tensor, name) in kept.param_names().iter().enumerate() {
        if !keep(name) {
            kept.param_mut(tensor).fill(L::Elem::zero());
        }
    }
    kept
}

/// `F(θ, a)` for a batch: the training map of a copy of `layer`, so that a layer with a
/// random stream (dropout) draws the same mask at every point, and the copy, which keeps
/// what its adjoints need at `a`.
fn trained<L: Layer>(
    layer: &L,
    a: ArrayView<'_, L::Elem, L::InputDim>,
) -> (Array<L::Elem, L::OutputDim>, L) {
    let batch = a.shape()[0];
    let mut z = Array::zeros(batch_dim::<L::OutputDim>(batch, output_shape::<L>()));
    let mut layer = layer.clone();
    layer.forward_train(a, z.view_mut());
    (z, layer)
}

/// `F(θ, a)` for a batch, as [`trained`] computes it.
fn forward<L: Layer>(
    layer: &L,
    a: ArrayView<'_, L::Elem, L::InputDim>,
) -> Array<L::Elem, L::OutputDim> {
    trained(layer, a).0
}

/// The bias of PyTorch's names is `C b`; every other parameter is part of `W`.
fn is_bias(name: &str) -> bool {
    name == "bias"
}

/// Checks the adjoints of layer kind `L` on a random batch of `batch` samples, with
/// random parameters, input and error signal drawn from `seed`:
///
/// - `⟨B(W, a), g⟩ = ⟨W, B(·, a)* g⟩` and `⟨C b, g⟩ = ⟨b, C* g⟩`, the weight adjoint
///   ([`Layer::assign_adjoint_weight`]), with `b` the tensor named `bias`;
/// - `⟨B(W, a), g⟩ = ⟨a, B(W, ·)* g⟩`, the input adjoint ([`Layer::adjoint_input`]),
///   where `B(W, a) = F(a) − F(0)` (for a parameter-free map such as max pooling, `P_a a`),
///   if that is homogeneous in `a` (a normalisation is not);
/// - central differences of `⟨F(a + h v), g⟩` along a random `v`, against
///   `⟨v, B(W, ·)* g⟩`.
///
/// # Panics
///
/// If `L` refuses its input shape.
pub fn layer<L: Layer>(batch: usize, seed: u64) -> Report {
    let input_shape = L::INPUT_SHAPE;
    if let Err(reason) = L::OUTPUT_SHAPE {
        panic!(
            "`{}` cannot take its input {input_shape:?}: {reason}",
            L::KIND
        );
    }
    let Tolerances {
        rounding: rounding_tolerance,
        step,
        differences,
    } = Tolerances::of::<L::Elem>();
    let mut points = Points(ChaCha8Rng::seed_from_u64(seed));
    let layer: L = points.layer();
    let a: Array<L::Elem, L::InputDim> = points.distinct(batch, input_shape);
    let g: Array<L::Elem, L::OutputDim> = points.batch(batch, output_shape::<L>());
    let v: Array<L::Elem, L::InputDim> = points.batch(batch, input_shape);
    let mut equations = vec![Equation {
        name: "NUM_PARAMS = the parameters' elements",
        left: L::NUM_PARAMS as f64,
        right: (0..layer.param_names().len())
            .map(|tensor| layer.param(tensor).len())
            .sum::<usize>() as f64,
        tolerance: 0.0,
    }];

    if !layer.param_names().is_empty() {
        let mut grad = L::zeros();
        grad.assign_adjoint_weight(g.view(), a.view());

        let weights_only = keeping(&layer, |name| !is_bias(name));
        equations.push(Equation {
            name: "⟨B(W, a), g⟩ = ⟨W, B(·, a)* g⟩",
            left: inner(forward(&weights_only, a.view()).view(), g.view()),
            right: inner_params(&layer, &grad, |name| !is_bias(name)),
            tolerance: rounding_tolerance,
        });
        if layer.param_names().iter().any(|&name| is_bias(name)) {
            let bias_only = keeping(&layer, is_bias);
            equations.push(Equation {
                name: "⟨C b, g⟩ = ⟨b, C* g⟩",
                left: inner(forward(&bias_only, a.view()).view(), g.view()),
                right: inner_params(&layer, &grad, is_bias),
                tolerance: rounding_tolerance,
            });
        }
    }

    let (_, at_a) = trained(&layer, a.view());
    let mut adjoint = Array::zeros(a.raw_dim());
    at_a.adjoint_input(a.view(), g.view(), adjoint.view_mut());
    let at_zero = forward(&layer, Array::zeros(a.raw_dim()).view());
    let b_of_a = forward(&layer, a.view()) - &at_zero;
    // The identity holds where `F(a) − F(0)` is homogeneous in `a` (linear, or piecewise
    // linear like max pooling); a normalisation is not, and only central differences
    // test its adjoint.
    let b_of_2a = forward(&layer, (&a + &a).view()) - &at_zero;
    let homogeneous = Equation {
        name: "",
        left: inner(b_of_2a.view(), g.view()),
        right: 2.0 * inner(b_of_a.view(), g.view()),
        tolerance: rounding_tolerance,
    };
    if homogeneous.relative_error() <= rounding_tolerance {
        equations.push(Equation {
            name: "⟨B(W, a), g⟩ = ⟨a, B(W, ·)* g⟩",
            left: inner(b_of_a.view(), g.view()),
            right: inner(a.view(), adjoint.view()),
            tolerance: rounding_tolerance,
        });
    }

    // A quarter of the gap between the input's values: no max pool's selection moves.
    let h = L::Elem::of_f64(step * 2.0 / a.len().max(1) as f64);
    // Rounding of F, relative to a difference of size h: ε/h.
    let rounding = 4.0 * L::Elem::epsilon().widen() / h.widen();
    let (plus, minus) = (&a + &(&v * h), &a - &(&v * h));
    let difference = forward(&layer, plus.view()) - forward(&layer, minus.view());
    equations.push(Equation {
        name: "central differences along v = ⟨v, B(W, ·)* g⟩",
        left: inner(difference.view(), g.view()) / (2.0 * h.widen()),
        right: inner(v.view(), adjoint.view()),
        tolerance: differences.max(rounding),
    });

    Report {
        what: format!(
            "{} {:?} → {:?}, batch {batch}",
            L::KIND,
            input_shape,
            output_shape::<L>()
        ),
        equations,
    }
}

/// Checks `activation`'s derivative: `⟨σ'(z) ⊙ g, v⟩`, from `backprop` at `a = σ(z)`,
/// against central differences of `⟨σ(z + h v), g⟩`, in `f64` at `len` random points
/// from `seed` (kept a little away from 0, where ReLU has its kink).
pub fn activation<A: Activation>(activation: &A, len: usize, seed: u64) -> Report {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |n: usize| -> ndarray::Array1<f64> {
        (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
    };
    let z = draw(len).mapv(|z: f64| if z.abs() < 0.1 { z + 0.2 } else { z });
    let (g, v) = (draw(len), draw(len));
    let sigma = |z: &ndarray::Array1<f64>| {
        let mut a = z.clone();
        activation.apply(a.view_mut());
        a
    };
    let a = sigma(&z);
    let mut delta = g.clone();
    activation.backprop(a.view(), delta.view_mut());
    let h = 1e-6;
    let (plus, minus) = (sigma(&(&z + &(&v * h))), sigma(&(&z - &(&v * h))));
    Report {
        what: format!("{}, {len} points", std::any::type_name::<A>()),
        equations: vec![Equation {
            name: "central differences along v = ⟨v, σ'(z) ⊙ g⟩",
            left: (&plus - &minus).dot(&g) / (2.0 * h),
            right: delta.dot(&v),
            // f64 central differences: h² from the step, ε/h from rounding.
            tolerance: 1e-7,
        }],
    }
}

/// `δ_prev = B(W, ·)* δ` from the forward map alone (Equation (3)): coordinate `j` of a
/// sample's `δ_prev` is `⟨B(W, e_j), δ⟩`, with `B(W, e_j) = F(e_j) − F(0)`. One forward
/// pass of the batch per input coordinate.
///
/// For a layer of Section 4's form, whose map is affine in its input; a layer like max
/// pooling, whose derivative depends on the input, needs its own.
pub fn reference_adjoint_input<L: Layer>(
    layer: &L,
    delta: ArrayView<'_, L::Elem, L::OutputDim>,
    mut delta_prev: ArrayViewMut<'_, L::Elem, L::InputDim>,
) {
    let batch = delta.shape()[0];
    let delta = delta.as_standard_layout();
    let delta = delta.as_slice().expect("standard layout");
    let mut basis =
        Array::<L::Elem, L::InputDim>::zeros(batch_dim::<L::InputDim>(batch, L::INPUT_SHAPE));
    let at_zero = forward(layer, basis.view());
    let (inputs, outputs) = (basis.len() / batch.max(1), delta.len() / batch.max(1));
    let mut adjoint = Array::<L::Elem, L::InputDim>::zeros(basis.raw_dim());
    for j in 0..inputs {
        // e_j in every sample at once: the samples do not mix.
        set_coordinate(&mut basis, inputs, j, L::Elem::one());
        let b = forward(layer, basis.view()) - &at_zero;
        set_coordinate(&mut basis, inputs, j, L::Elem::zero());
        let b = b.as_slice().expect("a new array");
        let adjoint = adjoint.as_slice_mut().expect("a new array");
        for n in 0..batch {
            let (b, delta) = (
                &b[n * outputs..][..outputs],
                &delta[n * outputs..][..outputs],
            );
            let value: f64 = b
                .iter()
                .zip(delta)
                .map(|(&b, &d)| b.widen() * d.widen())
                .sum();
            adjoint[n * inputs + j] = L::Elem::of_f64(value);
        }
    }
    delta_prev.assign(&adjoint);
}

/// `∇θ = (B(·, a)* δ, C* δ)` from the forward map alone (Equation (3)): coordinate `k` of
/// the parameters is `⟨F(e_k, a) − F(0, a), δ⟩`, summed over the batch, since the map is
/// linear in `θ = (W, b)` jointly. Makes `grad` that gradient. One forward pass of the
/// batch per parameter.
pub fn reference_adjoint_weight<L: Layer>(
    grad: &mut L,
    delta: ArrayView<'_, L::Elem, L::OutputDim>,
    a_prev: ArrayView<'_, L::Elem, L::InputDim>,
) {
    let mut basis = L::zeros();
    let at_zero = forward(&basis, a_prev.view());
    for tensor in 0..grad.param_names().len() {
        for k in 0..grad.param(tensor).len() {
            basis.param_mut(tensor)[k] = L::Elem::one();
            let b = forward(&basis, a_prev.view()) - &at_zero;
            basis.param_mut(tensor)[k] = L::Elem::zero();
            grad.param_mut(tensor)[k] = L::Elem::of_f64(inner(b.view(), delta.view()));
        }
    }
}

/// Coordinate `j` of every sample (of `len` coordinates) of `batch` set to `value`.
fn set_coordinate<T: Scalar, D: Dimension>(
    batch: &mut Array<T, D>,
    len: usize,
    j: usize,
    value: T,
) {
    let batch = batch.as_slice_mut().expect("a new array");
    for sample in batch.chunks_exact_mut(len) {
        sample[j] = value;
    }
}

//! Optimizers with PyTorch's update rules.
//!
//! A generated `train_step` is fused (Remark 8): as soon as the gradient of layer `l` is
//! known — after `δ_{l−1}` has been computed with the old `W_l` — it hands each of the
//! layer's tensors to [`Optimizer::update`], instead of first finishing the backward
//! pass over the whole network. An optimizer keeps its per-tensor state (momentum, moments) keyed by a
//! [`Slot`]; the state is allocated on the first step and reused afterwards.

use crate::network::Parameters;
use crate::scalar::Scalar;

/// Where a parameter tensor sits in a network: the layer's position in declaration order
/// and the tensor's index within the layer (0 = weight, 1 = bias).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Slot {
    /// The layer's position, counting from 0.
    pub layer: usize,
    /// The tensor's index in [`Parameters::param_names`].
    pub tensor: usize,
}

/// An update rule for parameters of element type `T` given their gradient.
///
/// The optimizers here are generic over the element type and keep their state in it:
/// `Sgd::new(0.01)` updates a network of `f32` or one of `f64`, whichever it is given.
pub trait Optimizer<T: Scalar = f32> {
    /// The current learning rate.
    fn learning_rate(&self) -> T;

    /// Changes the learning rate, for instance between epochs by a schedule.
    fn set_learning_rate(&mut self, lr: T);

    /// Updates one tensor in place from its gradient. `slot` names the tensor, so that
    /// state can be kept for it across steps.
    ///
    /// # Panics
    ///
    /// If `param` and `grad` differ in length, or if the state kept for `slot` has
    /// another length (the optimizer was used with a different network).
    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]);

    /// `Some(rate)` if every update is `θ ← θ − rate · g` and keeps no state (plain
    /// SGD). A layer may then fold the update into its weight adjoint and never form
    /// `g` at all, which saves writing and reading a gradient as large as its weights.
    fn plain_rate(&self) -> Option<T> {
        None
    }
}

/// A boxed optimizer is one, so that a loop can be given any: `Box<dyn Optimizer<T>>`.
impl<T: Scalar, O: Optimizer<T> + ?Sized> Optimizer<T> for Box<O> {
    fn learning_rate(&self) -> T {
        (**self).learning_rate()
    }

    fn set_learning_rate(&mut self, lr: T) {
        (**self).set_learning_rate(lr);
    }

    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]) {
        (**self).update(slot, param, grad);
    }

    fn plain_rate(&self) -> Option<T> {
        (**self).plain_rate()
    }
}

/// Hands every tensor of `layer` (the `layer_index`-th of its network) with the matching
/// tensor of `grad` to `optimizer`. Generated training steps call this once per layer
/// (through [`crate::Layer::step`], which [`crate::Dense`] fuses with plain SGD).
pub fn update_layer<L: Parameters + ?Sized>(
    optimizer: &mut impl Optimizer<L::Elem>,
    layer_index: usize,
    layer: &mut L,
    grad: &L,
) {
    for tensor in 0..layer.param_names().len() {
        let slot = Slot {
            layer: layer_index,
            tensor,
        };
        optimizer.update(slot, layer.param_mut(tensor), grad.param(tensor));
    }
}

/// Checks that an update is given matching slices, and state of their length.
#[track_caller]
fn check_lengths<T>(slot: Slot, param: &[T], grad: &[T], state: Option<usize>) {
    assert_eq!(
        param.len(),
        grad.len(),
        "{slot:?}: a parameter of {} elements with a gradient of {}",
        param.len(),
        grad.len()
    );
    if let Some(state) = state {
        assert_eq!(
            state,
            param.len(),
            "{slot:?}: the optimizer's state has {state} elements but the parameter {}; \
             is this optimizer being used with a different network?",
            param.len()
        );
    }
}

/// Per-tensor optimizer state, allocated the first time a slot is seen.
#[derive(Clone, Debug)]
struct SlotStates<S>(Vec<Vec<Option<S>>>);

impl<S> Default for SlotStates<S> {
    fn default() -> Self {
        SlotStates(Vec::new())
    }
}

impl<S> SlotStates<S> {
    fn get_or_insert_with(&mut self, slot: Slot, make: impl FnOnce() -> S) -> &mut S {
        if self.0.len() <= slot.layer {
            self.0.resize_with(slot.layer + 1, Vec::new);
        }
        let layer = &mut self.0[slot.layer];
        if layer.len() <= slot.tensor {
            layer.resize_with(slot.tensor + 1, || None);
        }
        layer[slot.tensor].get_or_insert_with(make)
    }
}

/// Stochastic gradient descent, optionally with momentum and weight decay: PyTorch's
/// `torch.optim.SGD` with `dampening = 0` and `nesterov = False`.
///
/// ```text
/// weight decay: g ← g + λ θ                (PyTorch's coupled form; λ = 0 by default)
/// plain:        θ ← θ − lr · g
/// momentum:     b ← μ b + g   (b = g on the first step),   θ ← θ − lr · b
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T = f32> {
    lr: T,
    momentum: T,
    weight_decay: T,
    velocity: SlotStates<Vec<T>>,
}

/// `g + λ θ`, the gradient of the loss plus `λ/2 ‖θ‖²`: PyTorch's coupled weight decay.
fn decayed<T: Scalar>(weight_decay: T, theta: T, g: T) -> T {
    if weight_decay == T::zero() {
        g
    } else {
        g + weight_decay * theta
    }
}

impl<T: Scalar> Sgd<T> {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: T) -> Self {
        Self::momentum(lr, T::zero())
    }

    /// SGD with momentum `mu` (PyTorch's `momentum=mu`).
    pub fn momentum(lr: T, mu: T) -> Self {
        Sgd {
            lr,
            momentum: mu,
            weight_decay: T::zero(),
            velocity: SlotStates::default(),
        }
    }

    /// The same optimizer with weight decay `λ` (PyTorch's `weight_decay=λ`): the
    /// gradient of `λ/2 ‖θ‖²` added to every parameter's.
    pub fn weight_decay(mut self, lambda: T) -> Self {
        self.weight_decay = lambda;
        self
    }
}

impl<T: Scalar> Optimizer<T> for Sgd<T> {
    fn learning_rate(&self) -> T {
        self.lr
    }

    fn plain_rate(&self) -> Option<T> {
        (self.momentum == T::zero() && self.weight_decay == T::zero()).then_some(self.lr)
    }

    fn set_learning_rate(&mut self, lr: T) {
        self.lr = lr;
    }

    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]) {
        check_lengths(slot, param, grad, None);
        let (lr, mu, wd) = (self.lr, self.momentum, self.weight_decay);
        if mu == T::zero() {
            for (p, &g) in param.iter_mut().zip(grad) {
                *p -= lr * decayed(wd, *p, g);
            }
            return;
        }
        let mut first = false;
        let velocity = self.velocity.get_or_insert_with(slot, || {
            first = true;
            vec![T::zero(); grad.len()]
        });
        check_lengths(slot, param, grad, Some(velocity.len()));
        for ((p, v), &g) in param.iter_mut().zip(velocity.iter_mut()).zip(grad) {
            let g = decayed(wd, *p, g);
            *v = if first { g } else { mu * *v + g };
            *p -= lr * *v;
        }
    }
}

/// Adam, as PyTorch's `torch.optim.Adam` with its defaults `betas = (0.9, 0.999)`,
/// `eps = 1e-8`, and weight decay `λ = 0` unless given:
///
/// ```text
/// g ← g + λ θ                (PyTorch's coupled weight decay; see AdamW for the other)
/// m ← β₁ m + (1 − β₁) g      v ← β₂ v + (1 − β₂) g²
/// θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
///
/// (the last line in exactly PyTorch's order of operations).
#[derive(Clone, Debug)]
pub struct Adam<T = f32> {
    lr: T,
    beta1: T,
    beta2: T,
    eps: T,
    weight_decay: T,
    moments: SlotStates<AdamState<T>>,
}

#[derive(Clone, Debug)]
struct AdamState<T> {
    step: i32,
    m: Vec<T>,
    v: Vec<T>,
}

impl<T: Scalar> Adam<T> {
    /// Adam with learning rate `lr` and PyTorch's default betas and epsilon.
    pub fn new(lr: T) -> Self {
        Self::with_betas(lr, T::of_f64(0.9), T::of_f64(0.999), T::of_f64(1e-8))
    }

    /// Adam with every hyper-parameter given.
    pub fn with_betas(lr: T, beta1: T, beta2: T, eps: T) -> Self {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay: T::zero(),
            moments: SlotStates::default(),
        }
    }

    /// The same optimizer with weight decay `λ` added to the gradient (PyTorch's
    /// `Adam(weight_decay=λ)`, which Adam's moments then scale; [`AdamW`] decays the
    /// weights directly instead).
    pub fn weight_decay(mut self, lambda: T) -> Self {
        self.weight_decay = lambda;
        self
    }
}

impl<T: Scalar> Optimizer<T> for Adam<T> {
    fn learning_rate(&self) -> T {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: T) {
        self.lr = lr;
    }

    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]) {
        let (b1, b2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        let state = self.moments.get_or_insert_with(slot, || AdamState {
            step: 0,
            m: vec![T::zero(); grad.len()],
            v: vec![T::zero(); grad.len()],
        });
        check_lengths(slot, param, grad, Some(state.m.len()));
        state.step += 1;
        let one = T::one();
        let bias_correction1 = one - b1.powi(state.step);
        let bias_correction2_sqrt = (one - b2.powi(state.step)).sqrt();
        let step_size = self.lr / bias_correction1;
        for (((p, m), v), &g) in param
            .iter_mut()
            .zip(state.m.iter_mut())
            .zip(state.v.iter_mut())
            .zip(grad)
        {
            let g = decayed(wd, *p, g);
            *m = b1 * *m + (one - b1) * g;
            *v = b2 * *v + (one - b2) * g * g;
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            *p -= step_size * *m / denom;
        }
    }
}

/// AdamW, as PyTorch's `torch.optim.AdamW`: Adam with decoupled weight decay, whose
/// default `λ` is 0.01. Each step first shrinks the weights, then takes Adam's step
/// with the loss's gradient alone:
///
/// ```text
/// θ ← θ (1 − lr λ),   then Adam (without weight decay)
/// ```
#[derive(Clone, Debug)]
pub struct AdamW<T = f32> {
    adam: Adam<T>,
    weight_decay: T,
}

impl<T: Scalar> AdamW<T> {
    /// AdamW with learning rate `lr` and PyTorch's defaults: betas `(0.9, 0.999)`, `eps`
    /// `1e-8`, weight decay `0.01`.
    pub fn new(lr: T) -> Self {
        AdamW {
            adam: Adam::new(lr),
            weight_decay: T::of_f64(0.01),
        }
    }

    /// The same optimizer with weight decay `λ`.
    pub fn weight_decay(mut self, lambda: T) -> Self {
        self.weight_decay = lambda;
        self
    }

    /// The same optimizer with Adam's other hyper-parameters given.
    pub fn with_betas(mut self, beta1: T, beta2: T, eps: T) -> Self {
        self.adam = Adam::with_betas(self.adam.lr, beta1, beta2, eps);
        self
    }
}

impl<T: Scalar> Optimizer<T> for AdamW<T> {
    fn learning_rate(&self) -> T {
        self.adam.lr
    }

    fn set_learning_rate(&mut self, lr: T) {
        self.adam.lr = lr;
    }

    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]) {
        // PyTorch forms the factor in Python's floats: in f64.
        let shrink = T::of_f64(1.0 - self.adam.lr.widen() * self.weight_decay.widen());
        param.iter_mut().for_each(|p| *p *= shrink);
        self.adam.update(slot, param, grad);
    }
}

/// Adadelta, as PyTorch's `torch.optim.Adadelta` with its defaults `rho = 0.9`,
/// `eps = 1e-6`, no weight decay, in PyTorch's order of operations:
///
/// ```text
/// s ← ρ s + (1 − ρ) g²                       (the running mean of squared gradients)
/// Δ ← √(u + ε) / √(s + ε) · g                (u: of squared updates)
/// u ← ρ u + (1 − ρ) Δ²
/// θ ← θ − lr · Δ
/// ```
#[derive(Clone, Debug)]
pub struct Adadelta<T = f32> {
    lr: T,
    rho: T,
    /// `1 − ρ`, rounded from `f64` as PyTorch rounds its Python float (`0.1`, not the
    /// `0.100000024` of `1 − 0.9f32`).
    one_minus_rho: T,
    eps: T,
    averages: SlotStates<AdadeltaState<T>>,
}

#[derive(Clone, Debug)]
struct AdadeltaState<T> {
    square_avg: Vec<T>,
    acc_delta: Vec<T>,
}

impl<T: Scalar> Adadelta<T> {
    /// Adadelta with learning rate `lr` (PyTorch's default is 1.0) and PyTorch's default
    /// `rho` and `eps`.
    pub fn new(lr: T) -> Self {
        Self::with_rho(lr, 0.9, T::of_f64(1e-6))
    }

    /// Adadelta with every hyper-parameter given, `rho` as PyTorch's Python float.
    pub fn with_rho(lr: T, rho: f64, eps: T) -> Self {
        Adadelta {
            lr,
            rho: T::of_f64(rho),
            one_minus_rho: T::of_f64(1.0 - rho),
            eps,
            averages: SlotStates::default(),
        }
    }
}

impl<T: Scalar> Optimizer<T> for Adadelta<T> {
    fn learning_rate(&self) -> T {
        self.lr
    }

    fn set_learning_rate(&mut self, lr: T) {
        self.lr = lr;
    }

    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]) {
        let (rho, one_minus_rho, eps, lr) = (self.rho, self.one_minus_rho, self.eps, self.lr);
        let state = self.averages.get_or_insert_with(slot, || AdadeltaState {
            square_avg: vec![T::zero(); grad.len()],
            acc_delta: vec![T::zero(); grad.len()],
        });
        check_lengths(slot, param, grad, Some(state.square_avg.len()));
        for (((p, s), u), &g) in param
            .iter_mut()
            .zip(state.square_avg.iter_mut())
            .zip(state.acc_delta.iter_mut())
            .zip(grad)
        {
            *s = *s * rho + one_minus_rho * g * g;
            let std = (*s + eps).sqrt();
            let delta = (*u + eps).sqrt() / std * g;
            *u = *u * rho + one_minus_rho * delta * delta;
            *p -= lr * delta;
        }
    }
}

/// The "optimizer" that replaces every parameter by its gradient: `θ ← ∇θ`.
///
/// `loss_and_grads` runs the fused `train_step` with this on a copy of the network,
/// which leaves the copy holding the gradient. That is sound because the fused step
/// overwrites `W_l` only after the last use of the old `W_l` (computing `δ_{l−1}`).
#[derive(Clone, Copy, Debug, Default)]
pub struct CaptureGradient;

impl<T: Scalar> Optimizer<T> for CaptureGradient {
    fn learning_rate(&self) -> T {
        T::zero()
    }

    fn set_learning_rate(&mut self, _lr: T) {}

    fn update(&mut self, slot: Slot, param: &mut [T], grad: &[T]) {
        check_lengths(slot, param, grad, None);
        param.copy_from_slice(grad);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: Slot = Slot {
        layer: 0,
        tensor: 0,
    };

    /// Runs three updates with the gradients 1, -2, 0.5 from θ = 1.
    fn trajectory(optimizer: &mut impl Optimizer) -> Vec<f32> {
        let mut p = [1.0f32];
        [1.0f32, -2.0, 0.5]
            .iter()
            .map(|&g| {
                optimizer.update(SLOT, &mut p, &[g]);
                p[0]
            })
            .collect()
    }

    fn assert_close(a: &[f32], b: &[f32]) {
        assert!(
            a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6),
            "{a:?} vs {b:?}"
        );
    }

    #[test]
    fn sgd_follows_the_gradient() {
        assert_close(&trajectory(&mut Sgd::new(0.1)), &[0.9, 1.1, 1.05]);
    }

    #[test]
    fn momentum_matches_pytorch_rule() {
        // b1 = 1, b2 = 0.9·1 − 2 = −1.1, b3 = 0.9·(−1.1) + 0.5 = −0.49
        assert_close(
            &trajectory(&mut Sgd::momentum(0.1, 0.9)),
            &[0.9, 1.01, 1.059],
        );
    }

    #[test]
    fn adam_matches_pytorch_rule() {
        // torch.optim.Adam's documented update, written out independently in f64.
        let mut expected = vec![];
        let (mut p, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
        for (t, g) in [1.0f64, -2.0, 0.5].into_iter().enumerate() {
            let t = t as i32 + 1;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            p -= 0.1 / (1.0 - 0.9f64.powi(t)) * m
                / (v.sqrt() / (1.0 - 0.999f64.powi(t)).sqrt() + 1e-8);
            expected.push(p as f32);
        }
        assert_close(&trajectory(&mut Adam::new(0.1)), &expected);
        // The first Adam step moves every parameter by lr, whatever the gradient's size.
        assert!((expected[0] - 0.9).abs() < 1e-6);
    }

    #[test]
    fn adadelta_matches_pytorch_rule() {
        // torch.optim.Adadelta's documented update, written out independently in f64.
        let mut expected = vec![];
        let (mut p, mut s, mut u) = (1.0f64, 0.0f64, 0.0f64);
        for g in [1.0f64, -2.0, 0.5] {
            s = 0.9 * s + 0.1 * g * g;
            let delta = (u + 1e-6).sqrt() / (s + 1e-6).sqrt() * g;
            u = 0.9 * u + 0.1 * delta * delta;
            p -= 0.1 * delta;
            expected.push(p as f32);
        }
        assert_close(&trajectory(&mut Adadelta::new(0.1)), &expected);
        // The first step is tiny: √ε / √(0.1 g² + ε) · g ≈ 0.0032 · sign(g).
        assert!((1.0 - expected[0] - 0.1 * 1e-3 / 0.1f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn state_is_kept_per_slot() {
        let mut sgd = Sgd::momentum(1.0, 0.5);
        let (slot_a, slot_b) = (
            Slot {
                layer: 0,
                tensor: 1,
            },
            Slot {
                layer: 2,
                tensor: 0,
            },
        );
        let (mut a, mut b) = ([0.0f32], [0.0f32]);
        sgd.update(slot_a, &mut a, &[1.0]);
        sgd.update(slot_b, &mut b, &[-1.0]);
        sgd.update(slot_a, &mut a, &[1.0]);
        // a: velocity 1 then 1.5; b untouched by a's history.
        assert_eq!((a[0], b[0]), (-2.5, 1.0));
    }

    #[test]
    #[should_panic(expected = "used with a different network")]
    fn state_of_another_size_is_refused() {
        let mut adam = Adam::new(0.1);
        adam.update(SLOT, &mut [0.0; 3], &[1.0; 3]);
        adam.update(SLOT, &mut [0.0; 2], &[1.0; 2]);
    }

    #[test]
    fn learning_rate_can_be_scheduled() {
        let mut adam = Adam::new(0.01);
        adam.set_learning_rate(adam.learning_rate() * 0.5);
        assert_eq!(adam.learning_rate(), 0.005);
    }
}

//! Batch normalisation: PyTorch's `nn.BatchNorm1d` (after a vector) and `nn.BatchNorm2d`
//! (after an image), with `eps` and `momentum`.
//!
//! Per channel `c` — a feature of a vector, a channel of an image, its statistics taken
//! over the batch and, for an image, its positions: `m` values in all — the layer is the
//! normalisation `N`, a map without parameters, followed by a layer of Section 4's form,
//! `B(γ, x̂) = γ ⊙ x̂` and `C β = β`:
//!
//! ```text
//! training     μ = mean(x),  σ² = mean((x − μ)²),  x̂ = (x − μ)/√(σ² + ε),  z = γ x̂ + β
//! evaluation   x̂ = (x − running_mean)/√(running_var + ε),               z = γ x̂ + β
//! adjoint_input          δ_prev = (γ/√(σ² + ε)) (δ − mean(δ) − x̂ · mean(δ x̂))
//! assign_adjoint_weight  ∇γ = Σ δ x̂,  ∇β = Σ δ
//! ```
//!
//! the adjoint of `N`'s derivative in closed form, composed with `B(γ, ·)* δ = γ δ`. A
//! training step updates the running statistics as PyTorch does: `running ← (1 −
//! momentum) running + momentum · batch`, with the unbiased variance `σ² m/(m − 1)`, and
//! counts the step in `num_batches_tracked`. The statistics of the batch are not kept:
//! the adjoints compute them again from the input they are given, which the training
//! step keeps anyway.

use std::cell::RefCell;
use std::marker::PhantomData;

use ndarray::{Array1, ArrayView, ArrayView2, ArrayViewMut, ArrayViewMut2, Ix1};

use crate::aligned;
use crate::init::{Init, InitRng};
use crate::layer::{contiguous, sample_len, write_contiguous, Layer};
use crate::network::{no_parameter, Buffer, BufferMut, Parameters};
use crate::optim::{update_layer, Optimizer};
use crate::parallel::{for_each_part, for_each_sample, VISIT};
use crate::scalar::Scalar;
use crate::shape::Batched;

/// Batch normalisation of samples of shape `I` — images (`BatchNorm2d`) if `IMAGE`,
/// vectors (`BatchNorm1d`) otherwise — with `ε = f64::from_bits(EPS)` and
/// `momentum = f64::from_bits(MOMENTUM)`, PyTorch's Python floats, as `network!`
/// declares it (`bn1: BatchNorm2d`
/// is `BatchNorm<Image<..>, true, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }>`).
///
/// Parameters `weight` (γ) and `bias` (β), buffers `running_mean`, `running_var` and
/// `num_batches_tracked`: PyTorch's names, so a state dict loads strictly both ways.
pub struct BatchNorm<I, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T = f32> {
    weight: Array1<T>,
    bias: Array1<T>,
    running_mean: Array1<T>,
    running_var: Array1<T>,
    num_batches_tracked: i64,
    /// The statistics of the last training step's batch, for its adjoints.
    batch: Vec<Moments<T>>,
    shape: PhantomData<fn() -> I>,
}

/// The statistics of one channel over a batch.
#[derive(Clone, Copy, Debug, Default)]
struct Moments<T> {
    mean: T,
    /// `1/√(σ² + ε)`.
    inv_std: T,
    /// The biased variance `σ²`.
    var: T,
}

thread_local! {
    /// `Σ δ` and `Σ δ x̂` of every channel of the layer whose adjoint a thread is
    /// computing, kept from step to step so that a warmed-up step allocates nothing.
    static DELTA_SUMS: RefCell<Vec<(f64, f64)>> = const { RefCell::new(Vec::new()) };
}

impl<I: Batched, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T: Scalar>
    BatchNorm<I, IMAGE, EPS, MOMENTUM, T>
{
    /// `ε`, added to the variance.
    pub const EPS: f64 = f64::from_bits(EPS);
    /// The weight of a batch's statistics in the running ones.
    pub const MOMENTUM: f64 = f64::from_bits(MOMENTUM);

    /// [`Self::EPS`] and [`Self::MOMENTUM`] as `T`.
    fn eps_and_momentum() -> (T, T) {
        (T::of_f64(Self::EPS), T::of_f64(Self::MOMENTUM))
    }
    /// Channels: the features of a vector, the channels of an image.
    pub const CHANNELS: usize = if I::SHAPE.is_empty() { 0 } else { I::SHAPE[0] };
    /// Elements of a channel in one sample: 1 for a vector, `H · W` for an image.
    const PER_SAMPLE: usize = match sample_len(I::SHAPE).checked_div(Self::CHANNELS) {
        Some(per_sample) => per_sample,
        None => 0,
    };

    /// γ.
    pub fn weight(&self) -> ndarray::ArrayView1<'_, T> {
        self.weight.view()
    }

    /// β.
    pub fn bias(&self) -> ndarray::ArrayView1<'_, T> {
        self.bias.view()
    }

    /// The running mean, what evaluation normalises with.
    pub fn running_mean(&self) -> ndarray::ArrayView1<'_, T> {
        self.running_mean.view()
    }

    /// The running (unbiased) variance.
    pub fn running_var(&self) -> ndarray::ArrayView1<'_, T> {
        self.running_var.view()
    }

    /// The training steps whose statistics are in the running ones.
    pub fn num_batches_tracked(&self) -> i64 {
        self.num_batches_tracked
    }

    /// The runs of channel `c` in a batch `x` (in row-major order): its `PER_SAMPLE`
    /// consecutive values in each sample.
    fn runs(x: &[T], c: usize) -> impl Iterator<Item = &[T]> {
        let len = sample_len(I::SHAPE).max(1);
        let per_sample = Self::PER_SAMPLE;
        x.chunks_exact(len)
            .map(move |sample| &sample[c * per_sample..][..per_sample])
    }

    /// The values of a channel in a batch of `x.len()` elements.
    fn values_per_channel(x: &[T]) -> usize {
        x.len() / Self::CHANNELS.max(1)
    }

    /// The statistics of channel `c` of the batch `x`, summed in `f64`.
    fn moments_of(x: &[T], c: usize) -> Moments<T> {
        let m = Self::values_per_channel(x).max(1) as f64;
        let sum: f64 = Self::runs(x, c)
            .map(|run| run.iter().map(|&v| v.widen()).sum::<f64>())
            .sum();
        let mean = sum / m;
        let squares: f64 = Self::runs(x, c)
            .map(|run| run.iter().map(|&v| (v.widen() - mean).powi(2)).sum::<f64>())
            .sum();
        let var = squares / m;
        let eps = Self::eps_and_momentum().0.widen();
        Moments {
            mean: T::of_f64(mean),
            var: T::of_f64(var),
            inv_std: T::of_f64(1.0 / (var + eps).sqrt()),
        }
    }

    /// The statistics of every channel of the batch `x`, into `moments`: the channels
    /// shared among threads.
    fn all_moments(x: &[T], moments: &mut [Moments<T>]) {
        for_each_part(VISIT * x.len(), moments, &|first, part| {
            for (c, moment) in (first..).zip(part) {
                *moment = Self::moments_of(x, c);
            }
        });
    }

    /// `Σ δ` and `Σ δ x̂` of every channel of the batch `x` of statistics `moments`,
    /// in `f64`, handed to `f`: the channels shared among threads, the sums kept by the
    /// thread from step to step.
    fn with_delta_sums<R>(
        x: &[T],
        delta: &[T],
        moments: &[Moments<T>],
        f: impl FnOnce(&[(f64, f64)]) -> R,
    ) -> R {
        let sum_into = |sums: &mut Vec<(f64, f64)>| {
            sums.resize(Self::CHANNELS, (0.0, 0.0));
            for_each_part(VISIT * x.len(), &mut sums[..], &|first, part| {
                for (c, sums) in (first..).zip(part) {
                    *sums = Self::delta_sums_of(x, delta, c, moments[c]);
                }
            });
            f(sums)
        };
        DELTA_SUMS.with(|kept| match kept.try_borrow_mut() {
            Ok(mut sums) => sum_into(&mut sums),
            // Taken by a layer this thread left to help another thread's work while
            // waiting for its own helpers (two networks trained side by side on one
            // pool): sums of its own.
            Err(_) => sum_into(&mut Vec::new()),
        })
    }

    /// `Σ δ` and `Σ δ x̂` over channel `c`, in `f64`.
    fn delta_sums_of(x: &[T], delta: &[T], c: usize, moments: Moments<T>) -> (f64, f64) {
        let Moments { mean, inv_std, .. } = moments;
        let (mut sum, mut sum_x_hat) = (0.0f64, 0.0f64);
        for (x, d) in Self::runs(x, c).zip(Self::runs(delta, c)) {
            for (&x, &d) in x.iter().zip(d) {
                sum += d.widen();
                sum_x_hat += d.widen() * ((x - mean) * inv_std).widen();
            }
        }
        (sum, sum_x_hat)
    }

    /// Makes `self` the gradient `∇γ = Σ δ x̂`, `∇β = Σ δ` for the batch `x` of
    /// statistics `moments`.
    fn assign_gradient(&mut self, x: &[T], delta: &[T], moments: &[Moments<T>]) {
        Self::with_delta_sums(x, delta, moments, |sums| {
            for (c, &(sum, sum_x_hat)) in sums.iter().enumerate() {
                self.bias[c] = T::of_f64(sum);
                self.weight[c] = T::of_f64(sum_x_hat);
            }
        });
    }

    /// `out = scale(c) · x + shift(c)` over every channel `c` of the batch `x`: every
    /// map of the layer is affine per channel once its statistics are known. The samples
    /// are shared among threads.
    fn affine(x: &[T], out: &mut [T], coefficients: &(impl Fn(usize) -> (T, T) + Sync)) {
        Self::for_each_run((x, x), out, &|x, _, out, c| {
            let (scale, shift) = coefficients(c);
            for (o, &v) in out.iter_mut().zip(x) {
                *o = scale * v + shift;
            }
        });
    }

    /// Runs `f(x_run, y_run, out_run, c)` on the runs of every channel `c` of every
    /// sample of the batches `x`, `y` and `out`, the samples shared among threads.
    fn for_each_run(
        (x, y): (&[T], &[T]),
        out: &mut [T],
        f: &(impl Fn(&[T], &[T], &mut [T], usize) + Sync),
    ) {
        let len = sample_len(I::SHAPE).max(1);
        let samples = x.len() / len;
        let view = |v| ArrayView2::from_shape((samples, len), v).expect("whole samples");
        let out = ArrayViewMut2::from_shape((samples, len), out).expect("whole samples");
        for_each_sample(VISIT * x.len(), (view(x), view(y), out), &|(
            x,
            y,
            mut out,
        )| {
            for ((x, y), mut out) in x.outer_iter().zip(y.outer_iter()).zip(out.outer_iter_mut()) {
                let (x, y) = (
                    x.to_slice().expect("a sample"),
                    y.to_slice().expect("a sample"),
                );
                let out = out.as_slice_mut().expect("a sample");
                let per = Self::PER_SAMPLE;
                for c in 0..Self::CHANNELS {
                    let run = c * per..(c + 1) * per;
                    f(&x[run.clone()], &y[run.clone()], &mut out[run], c);
                }
            }
        });
    }

    /// The statistics of the batch `x` the last training step saw, or computed again
    /// where there was none (a layer asked for its adjoint without a training step).
    fn batch_moments(&self, x: &[T]) -> std::borrow::Cow<'_, [Moments<T>]> {
        if self.batch.len() == Self::CHANNELS {
            return std::borrow::Cow::Borrowed(&self.batch);
        }
        let mut moments = vec![Moments::default(); Self::CHANNELS];
        Self::all_moments(x, &mut moments);
        std::borrow::Cow::Owned(moments)
    }
}

impl<I, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T: Scalar> Clone
    for BatchNorm<I, IMAGE, EPS, MOMENTUM, T>
{
    fn clone(&self) -> Self {
        BatchNorm {
            weight: aligned::copy(&self.weight),
            bias: aligned::copy(&self.bias),
            running_mean: self.running_mean.clone(),
            running_var: self.running_var.clone(),
            num_batches_tracked: self.num_batches_tracked,
            batch: self.batch.clone(),
            shape: PhantomData,
        }
    }
}

impl<I, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T: Scalar> std::fmt::Debug
    for BatchNorm<I, IMAGE, EPS, MOMENTUM, T>
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchNorm")
            .field("weight", &self.weight)
            .field("bias", &self.bias)
            .field("running_mean", &self.running_mean)
            .field("running_var", &self.running_var)
            .field("num_batches_tracked", &self.num_batches_tracked)
            .finish()
    }
}

impl<I, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T: Scalar> PartialEq
    for BatchNorm<I, IMAGE, EPS, MOMENTUM, T>
{
    fn eq(&self, other: &Self) -> bool {
        self.weight == other.weight
            && self.bias == other.bias
            && self.running_mean == other.running_mean
            && self.running_var == other.running_var
            && self.num_batches_tracked == other.num_batches_tracked
    }
}

impl<I, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T: Scalar> Parameters
    for BatchNorm<I, IMAGE, EPS, MOMENTUM, T>
{
    type Elem = T;

    crate::network::weight_and_bias_methods!("BatchNorm", T);

    fn buffer_names(&self) -> &'static [&'static str] {
        &["running_mean", "running_var", "num_batches_tracked"]
    }

    fn buffer(&self, index: usize) -> Buffer<'_, T> {
        let running = match index {
            0 => &self.running_mean,
            1 => &self.running_var,
            2 => return Buffer::I64(self.num_batches_tracked),
            _ => no_parameter("BatchNorm's buffers", index),
        };
        Buffer::Float {
            shape: running.shape(),
            values: running.as_slice().expect("contiguous"),
        }
    }

    fn buffer_mut(&mut self, index: usize) -> BufferMut<'_, T> {
        match index {
            0 => BufferMut::Float(self.running_mean.as_slice_mut().expect("contiguous")),
            1 => BufferMut::Float(self.running_var.as_slice_mut().expect("contiguous")),
            2 => BufferMut::I64(&mut self.num_batches_tracked),
            _ => no_parameter("BatchNorm's buffers", index),
        }
    }

    fn check_buffer(&self, index: usize, values: &[T]) -> Result<(), String> {
        // NaN is refused too: it would make every output NaN.
        match values
            .iter()
            .position(|&v| index == 1 && (v.is_nan() || v < T::zero()))
        {
            Some(at) => Err(format!(
                "holds a negative or NaN variance ({} at index {at})",
                values[at]
            )),
            None => Ok(()),
        }
    }
}

impl<I: Batched, const IMAGE: bool, const EPS: u64, const MOMENTUM: u64, T: Scalar> Layer
    for BatchNorm<I, IMAGE, EPS, MOMENTUM, T>
{
    const KIND: &'static str = if IMAGE { "BatchNorm2d" } else { "BatchNorm1d" };
    type InputDim = I::Batch;
    type OutputDim = I::Batch;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = if IMAGE && I::SHAPE.len() != 3 {
        Err("`BatchNorm2d` takes an image\nhelp: `BatchNorm1d` normalises the features of a vector")
    } else if !IMAGE && I::SHAPE.len() != 1 {
        Err("`BatchNorm1d` takes a vector of features\nhelp: `BatchNorm2d` normalises the channels of an image")
    } else if Self::EPS.is_nan() || Self::EPS <= 0.0 {
        Err("the eps of batch normalisation must be positive")
    } else if Self::MOMENTUM.is_nan() || Self::MOMENTUM < 0.0 || Self::MOMENTUM > 1.0 {
        Err("the momentum of batch normalisation must be at least 0 and at most 1")
    } else {
        Ok(I::SHAPE)
    };
    const NUM_PARAMS: usize = 2 * Self::CHANNELS;
    /// The mean, `1/σ` and variance of each channel.
    const KEPT_FLOATS_FIXED: usize = 3 * Self::CHANNELS;
    /// The running mean and variance, and the count.
    const BUFFER_FLOATS: usize = 2 * Self::CHANNELS + 2;

    /// γ = 1, β = 0, and running statistics of a standard normal, as PyTorch.
    fn new(_rng: &mut InitRng, _init: Init) -> Self {
        let mut layer = Self::zeros();
        layer.weight.fill(T::one());
        layer.running_var.fill(T::one());
        layer
    }

    fn zeros() -> Self {
        BatchNorm {
            weight: aligned::zeros(Ix1(Self::CHANNELS)),
            bias: aligned::zeros(Ix1(Self::CHANNELS)),
            running_mean: Array1::zeros(Self::CHANNELS),
            running_var: Array1::zeros(Self::CHANNELS),
            num_batches_tracked: 0,
            batch: Vec::new(),
            shape: PhantomData,
        }
    }

    /// Evaluation: normalised by the running statistics.
    fn forward(&self, a_prev: ArrayView<'_, T, I::Batch>, z: ArrayViewMut<'_, T, I::Batch>) {
        let x = contiguous(&a_prev);
        let eps = Self::eps_and_momentum().0;
        // z = γ (x − μ)/σ + β = (γ/σ) x + (β − μ γ/σ), with a square root per channel,
        // not per sample.
        let coefficients: Vec<(T, T)> = (0..Self::CHANNELS)
            .map(|c| {
                let scale = self.weight[c] / (self.running_var[c] + eps).sqrt();
                (scale, self.bias[c] - self.running_mean[c] * scale)
            })
            .collect();
        write_contiguous(z, |z| Self::affine(&x, z, &|c| coefficients[c]));
    }

    /// Training: normalised by the batch's statistics, which it keeps for the adjoints
    /// and which then update the running ones.
    fn forward_train(
        &mut self,
        a_prev: ArrayView<'_, T, I::Batch>,
        z: ArrayViewMut<'_, T, I::Batch>,
    ) {
        let x = contiguous(&a_prev);
        self.batch.resize(Self::CHANNELS, Moments::default());
        Self::all_moments(&x, &mut self.batch);
        let m = Self::values_per_channel(&x);
        let (_, momentum) = Self::eps_and_momentum();
        let one = T::one();
        // PyTorch refuses a channel of one value in training, whose unbiased variance
        // would divide by 0; here it leaves the running statistics as they are.
        if m > 1 {
            for (c, moment) in self.batch.iter().enumerate() {
                let unbiased = moment.var * T::of_f64(m as f64) / T::of_f64((m - 1) as f64);
                self.running_mean[c] =
                    (one - momentum) * self.running_mean[c] + momentum * moment.mean;
                self.running_var[c] = (one - momentum) * self.running_var[c] + momentum * unbiased;
            }
            self.num_batches_tracked += 1;
        }
        write_contiguous(z, |z| {
            Self::affine(&x, z, &|c| {
                let Moments { mean, inv_std, .. } = self.batch[c];
                let scale = self.weight[c] * inv_std;
                (scale, self.bias[c] - mean * scale)
            });
        });
    }

    /// `δ_prev = (γ/√(σ² + ε)) (δ − mean(δ) − x̂ · mean(δ x̂))`, with the statistics of
    /// the batch `a_prev` the training step saw.
    fn adjoint_input(
        &self,
        a_prev: ArrayView<'_, T, I::Batch>,
        delta: ArrayView<'_, T, I::Batch>,
        delta_prev: ArrayViewMut<'_, T, I::Batch>,
    ) {
        let (x, delta) = (contiguous(&a_prev), contiguous(&delta));
        let moments = self.batch_moments(&x);
        let m = T::of_f64(Self::values_per_channel(&x).max(1) as f64);
        Self::with_delta_sums(&x, &delta, &moments, |sums| {
            write_contiguous(delta_prev, |out| {
                Self::for_each_run((&x, &delta), out, &|x, d, out, c| {
                    let Moments { mean, inv_std, .. } = moments[c];
                    let gain = self.weight[c] * inv_std;
                    let (sum, sum_x_hat) = (T::of_f64(sums[c].0), T::of_f64(sums[c].1));
                    let (mean_d, mean_dx) = (sum / m, sum_x_hat / m);
                    for ((o, &x), &d) in out.iter_mut().zip(x).zip(d) {
                        let x_hat = (x - mean) * inv_std;
                        *o = gain * (d - mean_d - x_hat * mean_dx);
                    }
                });
            });
        });
    }

    /// `∇γ = Σ δ x̂` and `∇β = Σ δ`, with the statistics of the batch `a_prev`.
    fn assign_adjoint_weight(
        &mut self,
        delta: ArrayView<'_, T, I::Batch>,
        a_prev: ArrayView<'_, T, I::Batch>,
    ) {
        let x = contiguous(&a_prev);
        let mut moments = vec![Moments::default(); Self::CHANNELS];
        Self::all_moments(&x, &mut moments);
        self.assign_gradient(&x, &contiguous(&delta), &moments);
    }

    /// The gradient with the statistics the training step kept, then the update.
    fn step<O: Optimizer<T>>(
        &mut self,
        optimizer: &mut O,
        index: usize,
        delta: ArrayViewMut<'_, T, I::Batch>,
        a_prev: ArrayView<'_, T, I::Batch>,
        grad: &mut Self,
    ) {
        let delta = delta.view();
        let x = contiguous(&a_prev);
        grad.assign_gradient(&x, &contiguous(&delta), &self.batch_moments(&x));
        update_layer(optimizer, index, self, grad);
    }

    fn kept_floats(&self) -> usize {
        3 * self.batch.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;
    use crate::shape::{Image, Vector};
    use ndarray::Array2;
    use typenum::{U2, U3, U4};

    type Norm1d = BatchNorm<Vector<U3>, false, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }>;
    type Norm2d = BatchNorm<Image<U2, U3, U4>, true, { 1e-5f64.to_bits() }, { 0.1f64.to_bits() }>;

    #[test]
    fn training_normalises_each_channel_and_updates_the_running_statistics() {
        let mut layer = Norm1d::new(&mut InitRng::new(0), Init::Xavier);
        let x = Array2::from_shape_fn((4, 3), |(n, c)| (n * (c + 1)) as f32 + c as f32);
        let mut z = Array2::zeros((4, 3));
        layer.forward_train(x.view(), z.view_mut());
        for c in 0..3 {
            let column = z.column(c);
            let mean = column.sum() / 4.0;
            let var = column.mapv(|v| (v - mean).powi(2)).sum() / 4.0;
            assert!(
                mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4,
                "{c}: {mean} {var}"
            );
        }
        // Channel 1 holds 1, 3, 5, 7: mean 4, unbiased variance 20/3.
        assert!((layer.running_mean()[1] - 0.4).abs() < 1e-6);
        assert!((layer.running_var()[1] - (0.9 + 0.1 * 20.0 / 3.0)).abs() < 1e-5);
        assert_eq!(layer.num_batches_tracked(), 1);
        // Evaluation uses the running statistics.
        layer.forward(x.view(), z.view_mut());
        let expected = (3.0 - 0.4) / (layer.running_var()[1] + 1e-5).sqrt();
        assert!((z[[1, 1]] - expected).abs() < 1e-5);
    }

    #[test]
    fn the_adjoints_pass_the_checker() {
        for report in [check::layer::<Norm1d>(5, 1), check::layer::<Norm2d>(3, 2)] {
            report.assert_passed();
            // The map is not homogeneous in its input: central differences test it.
            assert!(report
                .equations
                .iter()
                .any(|e| e.name.starts_with("central")));
        }
    }

    #[test]
    fn a_negative_running_variance_is_refused() {
        let layer = Norm1d::zeros();
        assert!(layer
            .check_buffer(1, &[1.0, -0.5, 2.0])
            .unwrap_err()
            .contains("-0.5 at index 1"));
        assert!(layer.check_buffer(1, &[f32::NAN]).is_err());
        assert!(layer.check_buffer(0, &[-3.0]).is_ok());
    }
}

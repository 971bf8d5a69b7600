//! Dropout: PyTorch's `nn.Dropout(p)`, inverted.
//!
//! In training each element is kept with probability `1 − p` and scaled by `1/(1 − p)`,
//! or zeroed; in evaluation the layer is the identity. For a fixed mask `m` the training
//! map is linear, `D_m a = a ⊙ m / (1 − p)`, and self-adjoint:
//!
//! ```text
//! forward (training)   a      = D_m a_prev      the mask drawn anew each step
//! adjoint_input        δ_prev = D_m δ           the same mask
//! forward (evaluation) a      = a_prev
//! ```
//!
//! The mask is drawn from a ChaCha8 stream that belongs to the layer, seeded from the
//! network's seed (`Net::new(seed)`), one element after another in row-major order of the
//! batch: a training run is reproducible from its seeds, and the same on any number of
//! threads. It is kept as bits, a whole number of 64-bit words per sample.

use std::marker::PhantomData;

use ndarray::{ArrayView, ArrayViewMut, Dimension};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::init::{Init, InitRng};
use crate::layer::{contiguous, sample_len, write_contiguous, Layer};
use crate::network::{no_parameter, Parameters};
use crate::scalar::Scalar;
use crate::shape::Batched;

/// Dropout with probability `f64::from_bits(RATE)` of samples of shape `I`, as `network!`
/// declares it (`drop1: Dropout(0.25)` is `Dropout<I, { 0.25f64.to_bits() }>`: a float is
/// not a const generic parameter of its own; `f64`, as PyTorch's `p`).
pub struct Dropout<I, const RATE: u64, T = f32> {
    rng: ChaCha8Rng,
    /// The kept elements of the last training step, a bit each, `WORDS` words a sample.
    mask: Vec<u64>,
    /// The mask every training step uses instead of drawing one, if fixed.
    fixed: Option<Vec<bool>>,
    shape: PhantomData<fn() -> (I, T)>,
}

impl<I: Batched, const RATE: u64, T: Scalar> Dropout<I, RATE, T> {
    /// The probability of dropping an element.
    pub const RATE: f64 = f64::from_bits(RATE);
    /// Elements of one sample.
    const LEN: usize = sample_len(I::SHAPE);
    /// Words of mask a sample.
    const WORDS: usize = Self::LEN.div_ceil(64);

    /// A dropout layer drawing its masks from a stream seeded with `seed`.
    pub fn with_seed(seed: u64) -> Self {
        Dropout {
            rng: ChaCha8Rng::seed_from_u64(seed),
            mask: Vec::new(),
            fixed: None,
            shape: PhantomData,
        }
    }

    /// Makes every training step keep exactly the elements where `mask` is true
    /// (`batch × sample` of them, in row-major order) instead of drawing a mask, until
    /// `fix_mask(None)`: to compare with another framework on the same mask.
    ///
    /// A training step then panics if its batch does not have as many elements.
    pub fn fix_mask(&mut self, mask: Option<Vec<bool>>) {
        self.fixed = mask;
    }

    /// What the kept elements are multiplied by: `1/(1 − p)`, rounded as PyTorch rounds
    /// it (`1 − p` in `f64`, then to `T`, then divided).
    pub fn scale() -> T {
        T::one() / T::of_f64(1.0 - Self::RATE)
    }
}

impl<I, const RATE: u64, T> Clone for Dropout<I, RATE, T> {
    fn clone(&self) -> Self {
        Dropout {
            rng: self.rng.clone(),
            mask: self.mask.clone(),
            fixed: self.fixed.clone(),
            shape: PhantomData,
        }
    }
}

impl<I, const RATE: u64, T> std::fmt::Debug for Dropout<I, RATE, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dropout({})", f64::from_bits(RATE))
    }
}

impl<I, const RATE: u64, T> PartialEq for Dropout<I, RATE, T> {
    /// Dropout has no parameters: two layers of the same rate are equal.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<I, const RATE: u64, T: Scalar> Parameters for Dropout<I, RATE, T> {
    type Elem = T;

    fn param_names(&self) -> &'static [&'static str] {
        &[]
    }

    fn param_shape(&self, index: usize) -> &[usize] {
        no_parameter("Dropout", index)
    }

    fn param(&self, index: usize) -> &[T] {
        no_parameter("Dropout", index)
    }

    fn param_mut(&mut self, index: usize) -> &mut [T] {
        no_parameter("Dropout", index)
    }
}

impl<I: Batched, const RATE: u64, T: Scalar> Layer for Dropout<I, RATE, T> {
    const KIND: &'static str = "Dropout";
    type InputDim = I::Batch;
    type OutputDim = I::Batch;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = if I::SHAPE.is_empty() {
        Err("`Dropout` takes a vector or an image")
    } else if !(Self::RATE >= 0.0 && Self::RATE < 1.0) {
        Err("the rate of `Dropout` must be at least 0 and less than 1")
    } else {
        Ok(I::SHAPE)
    };
    const NUM_PARAMS: usize = 0;
    /// The mask: a bit an element, in whole 64-bit words.
    const KEPT_FLOATS_PER_SAMPLE: usize = 2 * Self::WORDS;

    /// Seeds the layer's mask stream from the network's initialisation stream.
    fn new(rng: &mut InitRng, _init: Init) -> Self {
        Self::with_seed(rng.next_seed())
    }

    fn zeros() -> Self {
        Self::with_seed(0)
    }

    fn reseed(&mut self, rng: &mut InitRng) {
        self.rng = ChaCha8Rng::seed_from_u64(rng.next_seed());
    }

    /// Evaluation: the identity.
    fn forward(&self, a_prev: ArrayView<'_, T, I::Batch>, mut z: ArrayViewMut<'_, T, I::Batch>) {
        z.assign(&a_prev);
    }

    /// Training: draws a mask and keeps it for the adjoint.
    fn forward_train(
        &mut self,
        a_prev: ArrayView<'_, T, I::Batch>,
        mut z: ArrayViewMut<'_, T, I::Batch>,
    ) {
        let batch = a_prev.shape()[0];
        self.mask.clear();
        self.mask.resize(batch * Self::WORDS, 0);
        // Keep where a uniform 32-bit draw falls below (1 − p)·2³².
        let keep = ((1.0 - Self::RATE) * 4_294_967_296.0) as u64;
        if let Some(mask) = &self.fixed {
            assert_eq!(
                mask.len(),
                batch * Self::LEN,
                "Dropout: a fixed mask of {} elements for a batch of {}",
                mask.len(),
                batch * Self::LEN
            );
        }
        for n in 0..batch {
            for i in 0..Self::LEN {
                let kept = match &self.fixed {
                    Some(mask) => mask[n * Self::LEN + i],
                    None => u64::from(self.rng.random::<u32>()) < keep,
                };
                self.mask[n * Self::WORDS + i / 64] |= u64::from(kept) << (i % 64);
            }
        }
        self.apply_mask(a_prev, z.view_mut());
    }

    /// `δ_prev = D_m δ`, with the mask of the training step.
    fn adjoint_input(
        &self,
        _a_prev: ArrayView<'_, T, I::Batch>,
        delta: ArrayView<'_, T, I::Batch>,
        delta_prev: ArrayViewMut<'_, T, I::Batch>,
    ) {
        self.apply_mask(delta, delta_prev);
    }

    fn kept_floats(&self) -> usize {
        2 * self.mask.len()
    }
}

impl<I: Batched, const RATE: u64, T: Scalar> Dropout<I, RATE, T> {
    /// `out = x ⊙ m · 1/(1 − p)`, `x` and `out` batches in any layout, read in row-major
    /// order as the mask was drawn: a sample at a time, with its words of mask.
    fn apply_mask<D: Dimension>(&self, x: ArrayView<'_, T, D>, out: ArrayViewMut<'_, T, D>) {
        let scale = Self::scale();
        let x = contiguous(&x);
        write_contiguous(out, |out| {
            let len = Self::LEN.max(1);
            let samples = x.chunks_exact(len).zip(out.chunks_exact_mut(len));
            for ((x, out), words) in samples.zip(self.mask.chunks_exact(Self::WORDS.max(1))) {
                for (i, (o, &v)) in out.iter_mut().zip(x).enumerate() {
                    let kept = words[i / 64] >> (i % 64) & 1 == 1;
                    *o = if kept { v * scale } else { T::zero() };
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check;
    use crate::shape::{Dims, Image, Vector};
    use ndarray::{Array2, Array4};
    use typenum::{U2, U3, U4, U70};

    type Half = Dropout<Vector<U70>, { 0.5f64.to_bits() }>;

    #[test]
    fn training_keeps_about_one_minus_p_and_scales_by_its_inverse() {
        let mut layer = Half::with_seed(3);
        let a = Array2::from_elem((200, 70), 1.5f32);
        let mut z = Array2::zeros((200, 70));
        layer.forward_train(a.view(), z.view_mut());
        let kept = z.iter().filter(|&&z| z != 0.0).count();
        // 14,000 draws of a fair coin: 7,000 ± 59 (one standard deviation).
        assert!((6_700..7_300).contains(&kept), "{kept} kept");
        assert!(z.iter().all(|&z| z == 0.0 || z == 3.0));
        assert_eq!(layer.kept_floats(), 2 * 200 * 2);
        // Evaluation is the identity.
        layer.forward(a.view(), z.view_mut());
        assert_eq!(z, a);
    }

    #[test]
    fn the_scale_is_rounded_as_pytorch_rounds_it() {
        // PyTorch: noise.div_(1 - p), 1 - p a Python float: 1/(1 - 0.33) is 1.4925373 in
        // f32 that way (as numpy says), one ulp below 1/(1 - 0.33f32).
        type Rate = Dropout<Vector<U70>, { 0.33f64.to_bits() }>;
        assert_eq!(Rate::scale(), 1.4925373);
        assert_ne!(Rate::scale(), 1.0 / (1.0 - 0.33f32));
        assert_eq!(Half::scale(), 2.0);
    }

    #[test]
    fn the_adjoint_uses_the_mask_of_the_step() {
        let mut layer = Dropout::<Image<U2, U3, U4>, { 0.25f64.to_bits() }>::with_seed(1);
        let a = Array4::from_shape_fn((3, 2, 3, 4), |(n, c, y, x)| (n + c + y + x) as f32 + 1.0);
        let mut z = Array4::zeros(a.dim());
        layer.forward_train(a.view(), z.view_mut());
        let delta = Array4::from_elem(a.dim(), 2.0f32);
        let mut delta_prev = Array4::zeros(a.dim());
        layer.adjoint_input(a.view(), delta.view(), delta_prev.view_mut());
        ndarray::Zip::from(&z).and(&delta_prev).for_each(|&z, &d| {
            assert_eq!(z == 0.0, d == 0.0);
            if d != 0.0 {
                assert_eq!(d, 2.0 * (1.0 / 0.75f32));
            }
        });
    }

    #[test]
    fn a_fixed_mask_is_used_until_released() {
        let mut layer = Dropout::<Dims<1, 3, 0, 0>, { 0.5f64.to_bits() }>::with_seed(0);
        layer.fix_mask(Some(vec![true, false, true, false, false, true]));
        let a = Array2::from_elem((2, 3), 1.0f32).into_dyn();
        let mut z = a.clone();
        for _ in 0..2 {
            layer.forward_train(a.view(), z.view_mut());
            assert_eq!(z.as_slice().unwrap(), [2.0, 0.0, 2.0, 0.0, 0.0, 2.0]);
        }
        layer.fix_mask(None);
        let kept = (0..20)
            .map(|_| {
                layer.forward_train(a.view(), z.view_mut());
                z.iter().filter(|&&z| z != 0.0).count()
            })
            .collect::<Vec<_>>();
        assert_ne!(kept, vec![3; 20], "drawn masks vary");
    }

    #[test]
    fn the_same_seed_gives_the_same_masks() {
        let (mut first, mut second) = (Half::with_seed(9), Half::with_seed(9));
        let a = Array2::from_elem((4, 70), 1.0f32);
        let (mut z1, mut z2) = (Array2::zeros((4, 70)), Array2::zeros((4, 70)));
        for _ in 0..3 {
            first.forward_train(a.view(), z1.view_mut());
            second.forward_train(a.view(), z2.view_mut());
            assert_eq!(z1, z2);
        }
    }

    #[test]
    fn the_adjoint_passes_the_checker() {
        // The checker runs the training map, with one mask drawn for all its points.
        let report = check::layer::<Half>(2, 0);
        report.assert_passed();
    }
}

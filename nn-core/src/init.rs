//! Seeded initialisation of weights.
//!
//! Weights are drawn uniformly, biases start at zero. The bound is He's for the ReLU
//! family (variance 2 / ((1 + slope²) · fan_in), PyTorch's `kaiming_uniform_`) and
//! Xavier's otherwise (variance 2 / (fan_in + fan_out), `xavier_uniform_`). The random
//! stream is ChaCha8, whose output is fixed by its seed on every platform, so
//! `Net::new(seed)` gives the same weights everywhere for the versions of `rand` and
//! `rand_chacha` in `Cargo.lock` (rand may change how it maps random bits to a range
//! between versions).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scalar::Scalar;

/// How to draw a layer's initial weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// He (Kaiming) uniform, for ReLU (`slope = 0`) and LeakyReLU.
    He {
        /// The negative slope of the activation.
        slope: f32,
    },
    /// Xavier (Glorot) uniform, for every other activation.
    Xavier,
}

impl Init {
    /// The half-width `b` of the uniform distribution `U(-b, b)` for a layer with the
    /// given fan-in and fan-out (for a convolution, both include the kernel area).
    pub fn bound(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::He { slope } => (6.0 / ((1.0 + slope * slope) * fan_in as f32)).sqrt(),
            Init::Xavier => (6.0 / (fan_in + fan_out) as f32).sqrt(),
        }
    }
}

/// The deterministic random stream a network draws its initial weights from, layer by
/// layer in declaration order.
#[derive(Clone, Debug)]
pub struct InitRng(ChaCha8Rng);

impl InitRng {
    /// A stream fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        InitRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A seed drawn from the stream, for a layer's own random stream (dropout's masks).
    pub fn next_seed(&mut self) -> u64 {
        self.0.random()
    }

    /// Fills `weights` with draws from `U(-b, b)`, `b = init.bound(fan_in, fan_out)`.
    ///
    /// The draws are `f32` whatever the element type, so a network of `f64` starts from
    /// exactly the weights of the same network of `f32` with the same seed.
    pub fn fill<T: Scalar>(
        &mut self,
        weights: &mut [T],
        init: Init,
        fan_in: usize,
        fan_out: usize,
    ) {
        let bound = init.bound(fan_in, fan_out);
        for w in weights {
            *w = T::of_f32(self.0.random_range(-bound..bound));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_other_seed_other_weights() {
        let draw = |seed| {
            let mut w = vec![0.0; 64];
            InitRng::new(seed).fill(&mut w, Init::Xavier, 8, 8);
            w
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn draws_stay_within_the_bound_and_fill_it() {
        let mut w = vec![0.0f32; 10_000];
        InitRng::new(1).fill(&mut w, Init::He { slope: 0.0 }, 100, 10);
        let bound = (6.0f32 / 100.0).sqrt();
        assert!(w.iter().all(|&x| x.abs() < bound));
        let max = w.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        assert!(
            max > 0.99 * bound,
            "draws should reach the bound, max was {max}"
        );
        // The variance of U(-b, b) is b²/3 = 2 / fan_in for He.
        let var = w.iter().map(|x| x * x).sum::<f32>() / w.len() as f32;
        assert!((var - 0.02).abs() < 0.002, "variance {var}");
    }
}

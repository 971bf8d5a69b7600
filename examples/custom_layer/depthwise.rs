//! A depthwise convolution written outside the library, against frechet's layer
//! contract alone: PyTorch's `nn.Conv2d(C, C, K, groups=C)` (stride 1, no padding).
//!
//! Each channel is convolved with its own `K × K` kernel. In the paper's terms it is a
//! layer `z = B(W, a) + C b` with `B` bilinear:
//!
//! ```text
//! forward                 z[c, y, x]        = b[c] + Σ_ij W[c, i, j] a[c, y + i, x + j]
//! adjoint_input           δ_prev[c, y+i, x+j] += W[c, i, j] δ[c, y, x]          B(W, ·)* δ
//! assign_adjoint_weight   ∇W[c, i, j]       = Σ_n Σ_yx δ[c, y, x] a[c, y + i, x + j]   B(·, a)* δ
//!                         ∇b[c]             = Σ_n Σ_yx δ[c, y, x]                      C* δ
//! ```
//!
//! The shape rule is `C × H × W → C × (H − K + 1) × (W − K + 1)`, written as a constant
//! so that `network!` checks it at compile time.

use std::marker::PhantomData;

use frechet::layer::dim;
use frechet::ndarray::{Array1, Array4, ArrayView4, ArrayViewMut4, Ix4};
use frechet::shape::SampleShape;
use frechet::{Init, InitRng, Layer, Parameters, Scalar};

/// A depthwise convolution of `I`-shaped images with `K × K` kernels, of element type
/// `T`. Declared in `network!` as `dw: DepthwiseConv2d(K)`; the macro supplies `I`, and
/// `T` in a network of `f64`.
pub struct DepthwiseConv2d<I, const K: usize, T = f32> {
    /// `[C, 1, K, K]`, PyTorch's layout for `groups = C`.
    weight: Array4<T>,
    /// `[C]`.
    bias: Array1<T>,
    input: PhantomData<fn() -> I>,
}

impl<I: SampleShape, const K: usize, T: Scalar> DepthwiseConv2d<I, K, T> {
    /// The channels, and the output's height and width (meaningful where the shape rule
    /// accepts `I`).
    const CHANNELS: usize = dim(I::SHAPE, 0);
    const OUT_HEIGHT: usize = (dim(I::SHAPE, 1) + 1).saturating_sub(K);
    const OUT_WIDTH: usize = (dim(I::SHAPE, 2) + 1).saturating_sub(K);

    /// The weight, `[C, 1, K, K]`.
    pub fn weight(&self) -> ArrayView4<'_, T> {
        self.weight.view()
    }
}

impl<I, const K: usize, T: Scalar> Clone for DepthwiseConv2d<I, K, T> {
    fn clone(&self) -> Self {
        DepthwiseConv2d {
            weight: self.weight.clone(),
            bias: self.bias.clone(),
            input: PhantomData,
        }
    }
}

impl<I: SampleShape, const K: usize, T: Scalar> Layer for DepthwiseConv2d<I, K, T> {
    const KIND: &'static str = "DepthwiseConv2d";
    type InputDim = Ix4;
    type OutputDim = Ix4;
    const INPUT_SHAPE: &'static [usize] = I::SHAPE;
    const OUTPUT_SHAPE: Result<&'static [usize], &'static str> = match *I::SHAPE {
        [channels, height, width] if K >= 1 && K <= height && K <= width => {
            Ok(&[channels, height - K + 1, width - K + 1])
        }
        [_, _, _] => Err("its kernel is larger than the image"),
        _ => Err("`DepthwiseConv2d` takes an image"),
    };
    const NUM_PARAMS: usize = Self::CHANNELS * K * K + Self::CHANNELS;

    fn new(rng: &mut InitRng, init: Init) -> Self {
        let mut layer = Self::zeros();
        // PyTorch's fans for groups = C: one input channel and one output channel per
        // kernel.
        let weights = layer.weight.as_slice_mut().expect("contiguous");
        rng.fill(weights, init, K * K, K * K);
        layer
    }

    fn zeros() -> Self {
        DepthwiseConv2d {
            weight: Array4::zeros((Self::CHANNELS, 1, K, K)),
            bias: Array1::zeros(Self::CHANNELS),
            input: PhantomData,
        }
    }

    fn forward(&self, a_prev: ArrayView4<'_, T>, mut z: ArrayViewMut4<'_, T>) {
        let (oh, ow) = (Self::OUT_HEIGHT, Self::OUT_WIDTH);
        for (a, mut z) in a_prev.outer_iter().zip(z.outer_iter_mut()) {
            for c in 0..Self::CHANNELS {
                for y in 0..oh {
                    for x in 0..ow {
                        let mut sum = self.bias[c];
                        for i in 0..K {
                            for j in 0..K {
                                sum += self.weight[[c, 0, i, j]] * a[[c, y + i, x + j]];
                            }
                        }
                        z[[c, y, x]] = sum;
                    }
                }
            }
        }
    }

    fn adjoint_input(
        &self,
        _a_prev: ArrayView4<'_, T>,
        delta: ArrayView4<'_, T>,
        mut delta_prev: ArrayViewMut4<'_, T>,
    ) {
        delta_prev.fill(T::zero());
        let (oh, ow) = (Self::OUT_HEIGHT, Self::OUT_WIDTH);
        for (d, mut d_prev) in delta.outer_iter().zip(delta_prev.outer_iter_mut()) {
            for c in 0..Self::CHANNELS {
                for y in 0..oh {
                    for x in 0..ow {
                        let g = d[[c, y, x]];
                        for i in 0..K {
                            for j in 0..K {
                                d_prev[[c, y + i, x + j]] += self.weight[[c, 0, i, j]] * g;
                            }
                        }
                    }
                }
            }
        }
    }

    fn assign_adjoint_weight(&mut self, delta: ArrayView4<'_, T>, a_prev: ArrayView4<'_, T>) {
        self.weight.fill(T::zero());
        self.bias.fill(T::zero());
        let (oh, ow) = (Self::OUT_HEIGHT, Self::OUT_WIDTH);
        for (d, a) in delta.outer_iter().zip(a_prev.outer_iter()) {
            for c in 0..Self::CHANNELS {
                for y in 0..oh {
                    for x in 0..ow {
                        let g = d[[c, y, x]];
                        self.bias[c] += g;
                        for i in 0..K {
                            for j in 0..K {
                                self.weight[[c, 0, i, j]] += g * a[[c, y + i, x + j]];
                            }
                        }
                    }
                }
            }
        }
    }
}

impl<I, const K: usize, T: Scalar> Parameters for DepthwiseConv2d<I, K, T> {
    type Elem = T;

    fn param_names(&self) -> &'static [&'static str] {
        &["weight", "bias"]
    }

    fn param_shape(&self, index: usize) -> &[usize] {
        match index {
            0 => self.weight.shape(),
            _ => self.bias.shape(),
        }
    }

    fn param(&self, index: usize) -> &[T] {
        let data = match index {
            0 => self.weight.as_slice(),
            _ => self.bias.as_slice(),
        };
        data.expect("contiguous")
    }

    fn param_mut(&mut self, index: usize) -> &mut [T] {
        let data = match index {
            0 => self.weight.as_slice_mut(),
            _ => self.bias.as_slice_mut(),
        };
        data.expect("contiguous")
    }
}

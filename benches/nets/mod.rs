//! The workloads of the design's "Performance" section, shared by the criterion benches
//! (`benches/workloads.rs`) and the binary that `tools/bench.sh` runs
//! (`examples/bench_workloads.rs`), so that both measure the same networks on the same
//! data.
//!
//! | name | network | batches |
//! |---|---|---|
//! | W1 | 784 → Dense 128 → ReLU → Dense 10 | 1, 32, 128, 1024 |
//! | W2 | 784 → Dense 512 → ReLU → Dense 512 → ReLU → Dense 10 | 256 |
//! | W3 | LeNet-5 exactly as in `examples/mnist_lenet.rs` | 1, 32, 128 |
//! | W4 | PyTorch's MNIST example net without its dropout | 64 |
//! | W5 | Keras' simple MNIST convnet without its dropout | 128 |
//! | W6 | LeNet-5 with batch normalisation, as `examples/mnist_batchnorm_lenet.rs` without its dropout | 128 |
//!
//! A step is `train_step` with [`SoftmaxCrossEntropy`] and plain [`Sgd::new`]`(LR)`.

use frechet::ndarray::{Array, ArrayView, Axis, IxDyn, Slice};
use frechet::prelude::*;
use frechet::train::Model;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

network! {
    /// W1: the MNIST perceptron.
    pub struct W1 {
        input: [784],
        fc1: Dense(128) -> ReLU,
        fc2: Dense(10),
    }
}

network! {
    /// W2: a wider and deeper perceptron.
    pub struct W2 {
        input: [784],
        fc1: Dense(512) -> ReLU,
        fc2: Dense(512) -> ReLU,
        fc3: Dense(10),
    }
}

network! {
    /// W3: LeNet-5 for 28×28 digits, as in `examples/mnist_lenet.rs`.
    pub struct W3 {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5) -> ReLU,
        pool2: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(120) -> ReLU,
        fc2:   Dense(84) -> ReLU,
        fc3:   Dense(10),
    }
}

network! {
    /// W4: the network of PyTorch's MNIST example, without its dropout.
    pub struct W4 {
        input: [1, 28, 28],
        conv1: Conv2d(32, kernel = 3) -> ReLU,
        conv2: Conv2d(64, kernel = 3) -> ReLU,
        pool:  MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(128) -> ReLU,
        fc2:   Dense(10),
    }
}

network! {
    /// W5: Keras' simple MNIST convnet, without its dropout.
    pub struct W5 {
        input: [1, 28, 28],
        conv1: Conv2d(32, kernel = 3) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(64, kernel = 3) -> ReLU,
        pool2: MaxPool2d(2),
        flat:  Flatten,
        fc:    Dense(10),
    }
}

network! {
    /// W6: LeNet-5 with batch normalisation, without its dropout.
    pub struct W6 {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5),
        bn1:   BatchNorm2d -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5),
        bn2:   BatchNorm2d -> ReLU,
        pool2: MaxPool2d(2),
        flat:  Flatten,
        fc1:   Dense(120),
        bn3:   BatchNorm1d -> ReLU,
        fc2:   Dense(84) -> ReLU,
        fc3:   Dense(10),
    }
}

/// The learning rate of the plain SGD every step uses (small enough that thousands of
/// steps on the synthetic data stay finite).
pub const LR: f32 = 0.01;

/// Samples in the synthetic data set of the speed measurements; every batch size
/// divides it. The steps walk through it batch by batch, so that no single batch is
/// memorised.
pub const POOL: usize = 4096;

/// Fixed synthetic data for a network: inputs uniform in [0, 1) like pixel
/// intensities and labels uniform over the 10 classes, from a seeded stream.
pub struct Data<N: Model<Elem = f32>> {
    /// The inputs, samples of `N`'s input shape.
    pub x: Array<f32, N::Batch>,
    /// The class of each sample.
    pub labels: Vec<usize>,
}

impl<N: Model<Elem = f32>> Data<N> {
    /// `len` samples drawn from seed `seed`.
    pub fn new(seed: u64, len: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut shape = vec![len];
        shape.extend_from_slice(N::input_shape());
        let x = Array::from_shape_simple_fn(IxDyn(&shape), || rng.random::<f32>())
            .into_dimensionality::<N::Batch>()
            .expect("the input shape has the batch's rank");
        let labels = (0..len).map(|_| rng.random_range(0..10)).collect();
        Data { x, labels }
    }

    /// The `index`-th batch of `batch` samples, wrapping around the data (whose length
    /// `batch` must divide).
    pub fn batch(&self, index: usize, batch: usize) -> (ArrayView<'_, f32, N::Batch>, &[usize]) {
        let start = (index * batch) % self.labels.len();
        let x = self
            .x
            .slice_axis(Axis(0), Slice::from(start..start + batch));
        (x, &self.labels[start..start + batch])
    }
}

/// One training step of `net` on the `index`-th batch; returns the loss.
pub fn step<N: Model<Elem = f32>>(
    net: &mut N,
    sgd: &mut Sgd,
    data: &Data<N>,
    index: usize,
    batch: usize,
) -> f32 {
    let (x, labels) = data.batch(index, batch);
    net.train_step(x, labels, &SoftmaxCrossEntropy, sgd)
}

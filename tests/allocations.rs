//! A warmed-up training step allocates nothing: every buffer it needs is sized from the
//! static shapes on the first step of a batch size and reused afterwards, and the
//! kernels' scratch space (packed panels, a sample's unrolled input, partial sums) is
//! made on a thread's first step and kept by the thread.
//!
//! Single-threaded, as with `RAYON_NUM_THREADS=1`: with more threads the kernels hand
//! work to rayon's pool, whose job queue allocates a block now and then.

use frechet::ndarray::{Array2, Array4};
use frechet::prelude::*;

// Counts per thread, so that tests running in parallel on other threads do not disturb
// the count.
#[path = "support/counting.rs"]
mod counting;
/// The design's workloads, as the benchmarks declare them.
#[path = "../benches/nets/mod.rs"]
#[allow(dead_code)]
mod nets;

use nets::{W1, W3};

/// Runs the kernels on one thread (the first call decides for the whole test binary).
fn single_threaded() {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global();
    assert_eq!(rayon::current_num_threads(), 1);
}

/// How many allocations (and reallocations) `f` makes on this thread.
fn allocations_during(f: impl FnOnce()) -> usize {
    counting::measure(f).1.allocations
}

network! {
    /// Every activation, and widths that are not multiples of any tile.
    struct Odd {
        input: [37],
        fc1: Dense(19) -> LeakyReLU(0.01),
        fc2: Dense(23) -> Sigmoid,
        fc3: Dense(5) -> Tanh,
        fc4: Dense(3),
    }
}

#[test]
fn warmed_up_train_step_allocates_nothing() {
    single_threaded();
    let mut w1 = W1::new(0);
    let mut odd = Odd::new(0);
    for batch in [1, 7, 32, 128] {
        let x = Array2::from_shape_fn((batch, 784), |(i, j)| ((i * 31 + j) % 17) as f32 / 17.0);
        let x_odd = Array2::from_shape_fn((batch, 37), |(i, j)| ((i + j) % 5) as f32 / 5.0);
        let y_odd = Array2::from_elem((batch, 3), 0.5f32);
        let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        let mut sgd = Sgd::momentum(0.01, 0.9);
        let mut adam = Adam::new(1e-3);
        let mut adam_odd = Adam::new(1e-3);
        let mut steps = || {
            w1.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut sgd);
            w1.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut adam);
            odd.train_step(x_odd.view(), y_odd.view(), &MeanSquaredError, &mut adam_odd);
        };
        steps(); // warm-up: buffers and optimizer state are allocated here
        let count = allocations_during(|| {
            for _ in 0..3 {
                steps();
            }
        });
        assert_eq!(
            count, 0,
            "{count} allocations in warmed-up steps at batch {batch}"
        );
    }
}

network! {
    /// Padding, strides and average pooling, with a first layer without parameters.
    struct OddConv {
        input: [3, 11, 9],
        pool0: AvgPool2d(2, stride = 1),
        conv1: Conv2d(4, kernel = 3, stride = 2, padding = 1) -> Tanh,
        pool1: AvgPool2d(2),
        flat: Flatten,
        fc1: Dense(3),
    }
}

network! {
    /// Batch normalisation of both kinds, and dropout on an image and on a vector.
    struct Normalised {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5),
        bn1: BatchNorm2d -> ReLU,
        pool1: MaxPool2d(2),
        drop1: Dropout(0.25),
        flat: Flatten,
        fc1: Dense(32),
        bn2: BatchNorm1d -> ReLU,
        drop2: Dropout(0.5),
        fc2: Dense(10),
    }
}

#[test]
fn warmed_up_conv_train_step_allocates_nothing() {
    single_threaded();
    let mut lenet = W3::new(0);
    let mut normalised = Normalised::new(0);
    let mut odd = OddConv::new(0);
    for batch in [1, 7, 32] {
        let x = Array4::from_shape_fn((batch, 1, 28, 28), |(n, _, i, j)| {
            ((n * 31 + i * 7 + j) % 17) as f32 / 17.0
        });
        let x_odd = Array4::from_shape_fn((batch, 3, 11, 9), |(n, c, i, j)| {
            ((n + c + i * j) % 5) as f32 / 5.0
        });
        let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        let labels_odd: Vec<usize> = (0..batch).map(|i| i % 3).collect();
        let mut sgd = Sgd::momentum(0.01, 0.9);
        let mut adam = Adam::new(1e-3);
        let mut adam_normalised = Adam::new(1e-3);
        let mut steps = || {
            lenet.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut sgd);
            normalised.train_step(
                x.view(),
                &labels[..],
                &SoftmaxCrossEntropy,
                &mut adam_normalised,
            );
            odd.train_step(
                x_odd.view(),
                &labels_odd[..],
                &SoftmaxCrossEntropy,
                &mut adam,
            );
        };
        steps(); // warm-up
        let count = allocations_during(|| {
            for _ in 0..2 {
                steps();
            }
        });
        assert_eq!(
            count, 0,
            "{count} allocations in warmed-up steps at batch {batch}"
        );
    }
}

#[test]
fn the_counter_sees_allocations() {
    // The test above must be able to fail.
    let count = allocations_during(|| drop(std::hint::black_box(vec![1u8; 16])));
    assert_eq!(count, 1);
}

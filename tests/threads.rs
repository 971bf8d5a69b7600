//! Threads change nothing: kernels share work among threads only in ways that compute
//! every number exactly as one thread would (rows or columns of a product, decided
//! once for the whole product; samples of a batch; taps of a convolution's gradient, and
//! the two halves of the batch it sums, which one thread sums apart too), so a training
//! step gives bit-identical weights with 1 and with several threads.

mod common;

use common::params;
use frechet::ndarray::{Array2, Array4};
use frechet::prelude::*;

network! {
    /// LeNet-shaped, with a `conv2` whose weight gradient takes the packed form (32 × 50
    /// taps × 100 positions) and is cut among threads by taps into pieces too narrow
    /// for it: the pieces must keep the form of the whole; and dropout, whose masks
    /// are drawn in the same order on any number of threads.
    struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(2, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(32, kernel = 5, padding = 1) -> ReLU,
        pool2: AvgPool2d(2),
        drop1: Dropout(0.25),
        flat: Flatten,
        fc1: Dense(120) -> ReLU,
        drop2: Dropout(0.5),
        fc2: Dense(10),
    }
}

network! {
    /// Workload W2: products large enough to be split several times.
    struct W2 {
        input: [784],
        fc1: Dense(512) -> ReLU,
        fc2: Dense(512) -> ReLU,
        fc3: Dense(10),
    }
}

network! {
    /// Keras' convnet with PyTorch's second convolution: at batch 1 the second (24 × 24
    /// outputs, the direct kernels) and the third (11 × 11, unrolled) are cut between
    /// threads by output channels.
    struct WideConvs {
        input: [1, 28, 28],
        conv1: Conv2d(32, kernel = 3) -> ReLU,
        conv2: Conv2d(64, kernel = 3) -> ReLU,
        pool1: MaxPool2d(2),
        conv3: Conv2d(64, kernel = 2) -> ReLU,
        pool2: MaxPool2d(2),
        flat: Flatten,
        fc: Dense(10),
    }
}

network! {
    /// Batch normalisation of images and of vectors, whose channels are shared among
    /// threads.
    struct Normalised {
        input: [1, 12, 12],
        conv: Conv2d(24, kernel = 3),
        bn1: BatchNorm2d -> ReLU,
        pool: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(40),
        bn2: BatchNorm1d -> ReLU,
        fc2: Dense(10),
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

fn bits(values: Vec<f32>) -> Vec<u32> {
    values.into_iter().map(f32::to_bits).collect()
}

#[test]
fn lenet_steps_are_bit_identical_with_any_number_of_threads() {
    let batch = 96;
    let x = Array4::from_shape_fn((batch, 1, 28, 28), |(n, _, i, j)| {
        ((n * 31 + i * 7 + j * 3) % 23) as f32 / 23.0 - 0.3
    });
    let labels: Vec<usize> = (0..batch).map(|i| (i * 7) % 10).collect();
    let run = |threads: usize| {
        pool(threads).install(|| {
            let mut net = LeNet::new(1);
            let mut sgd = Sgd::momentum(0.05, 0.9);
            let mut losses = Vec::new();
            for _ in 0..3 {
                losses.push(net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut sgd));
            }
            (
                bits(losses),
                bits(params(&net)),
                bits(net.forward(x.view()).into_raw_vec_and_offset().0),
            )
        })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

#[test]
fn dense_steps_are_bit_identical_with_any_number_of_threads() {
    let batch = 256;
    let x = Array2::from_shape_fn((batch, 784), |(n, j)| ((n * 13 + j) % 29) as f32 / 29.0);
    let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
    let run = |threads: usize| {
        pool(threads).install(|| {
            let mut net = W2::new(2);
            let mut adam = Adam::new(1e-3);
            for _ in 0..2 {
                net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut adam);
            }
            bits(params(&net))
        })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(4), one);
}

#[test]
fn batch_norm_steps_are_bit_identical_with_any_number_of_threads() {
    let batch = 128;
    let x = Array4::from_shape_fn((batch, 1, 12, 12), |(n, _, i, j)| {
        ((n * 17 + i * 5 + j * 3) % 19) as f32 / 19.0 - 0.4
    });
    let labels: Vec<usize> = (0..batch).map(|i| (i * 3) % 10).collect();
    let run = |threads: usize| {
        pool(threads).install(|| {
            let mut net = Normalised::new(5);
            let mut adam = Adam::new(1e-2);
            for _ in 0..3 {
                net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut adam);
            }
            let snapshot = frechet::Snapshot::of(&net);
            (
                bits(params(&net)),
                format!("{snapshot:?}"),
                bits(net.forward(x.view()).into_raw_vec_and_offset().0),
            )
        })
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

#[test]
fn one_sample_shared_among_threads_gives_the_same_bits() {
    let x = Array4::from_shape_fn((1, 1, 28, 28), |(_, _, i, j)| {
        ((i * 5 + j * 3) % 11) as f32 / 11.0
    });
    let net = WideConvs::new(4);
    let run = |threads: usize| {
        pool(threads).install(|| bits(net.forward(x.view()).into_raw_vec_and_offset().0))
    };
    let one = run(1);
    assert_eq!(run(2), one);
    assert_eq!(run(3), one);
}

/// The threads of this process now (Linux).
#[cfg(target_os = "linux")]
fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |tasks| tasks.count())
}

/// Training steps under `RAYON_NUM_THREADS=1` start no thread: not rayon's global pool,
/// which asking rayon for its number of threads would start. Run in a child process with
/// that variable set (rayon reads it once), which compares its own threads before and
/// after the steps.
#[cfg(target_os = "linux")]
#[test]
fn one_thread_asked_for_starts_no_thread() {
    let child = "FRECHET_THREADS_CHILD";
    if let Some(threads) = std::env::var_os(child) {
        let before = os_threads();
        let mut net = LeNet::new(3);
        let x = Array4::from_elem((16, 1, 28, 28), 0.5f32);
        let labels = [1usize; 16];
        for _ in 0..3 {
            net.train_step(
                x.view(),
                &labels[..],
                &SoftmaxCrossEntropy,
                &mut Sgd::new(0.01),
            );
        }
        let started = os_threads() - before;
        println!("RAYON_NUM_THREADS={threads:?}: {started} threads started");
        assert!(
            (threads == "1") == (started == 0),
            "{started} threads started"
        );
        return;
    }
    for threads in ["1", "2"] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "one_thread_asked_for_starts_no_thread",
                "--nocapture",
            ])
            .env("RAYON_NUM_THREADS", threads)
            .env(child, threads)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "RAYON_NUM_THREADS={threads}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

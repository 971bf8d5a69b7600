//! Criterion benches of the design's workloads W1, W2 and W3 (issue 7).
//!
//! ```text
//! cargo bench --bench workloads                  # everything, about a minute
//! cargo bench --bench workloads -- 'W1 train'    # one group
//! RAYON_NUM_THREADS=1 cargo bench --bench workloads -- --save-baseline before
//! ```
//!
//! The library runs on rayon's global pool, so without `RAYON_NUM_THREADS=1` these use
//! every core.
//!
//! Training rows time one `train_step` (softmax cross-entropy, plain SGD) on fixed
//! seeded synthetic data and report samples per second; inference rows time `forward`
//! at batch 1. `tools/bench.sh` measures the same workloads side by side with PyTorch
//! and writes `BENCHMARKS.md`.

mod nets;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode,
    Throughput,
};
use frechet::prelude::*;
use frechet::train::Model;
use nets::{Data, LR, POOL, W1, W2, W3};

/// The training steps of `N` at each of `batches`, in one group named `name`.
fn train<N: Model<Elem = f32>>(
    c: &mut Criterion,
    name: &str,
    batches: &[usize],
    make: fn(u64) -> N,
) {
    let data = Data::<N>::new(1, POOL);
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    for &batch in batches {
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            let mut net = make(0);
            let mut sgd = Sgd::new(LR);
            let mut index = 0;
            b.iter(|| {
                index += 1;
                black_box(nets::step(&mut net, &mut sgd, &data, index, batch))
            });
        });
    }
    group.finish();
}

/// `forward` of `N` at batch 1, in a group named `name`.
fn infer<N: Model<Elem = f32>>(c: &mut Criterion, name: &str, make: fn(u64) -> N) {
    let data = Data::<N>::new(2, POOL);
    let net = make(0);
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::from_parameter(1), |b| {
        let mut index = 0;
        b.iter(|| {
            index += 1;
            let (x, _) = data.batch(index, 1);
            black_box(net.forward(black_box(x)))
        });
    });
    group.finish();
}

/// Short runs: 10 benchmarks × (1 s warm-up + 3 s measurement + analysis) keep the
/// whole suite near a minute. Flat sampling (the same number of steps in every sample)
/// fits the steps of several milliseconds in that time.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .sampling_mode(SamplingMode::Flat);
}

fn workloads(c: &mut Criterion) {
    train(c, "W1 train", &[1, 32, 128, 1024], W1::new);
    train(c, "W2 train", &[256], W2::new);
    train(c, "W3 train", &[1, 32, 128], W3::new);
    infer(c, "W1 inference", W1::new);
    infer(c, "W3 inference", W3::new);
}

criterion_group!(benches, workloads);
criterion_main!(benches);

//! Measures the design's workloads W1 to W6 for `tools/bench.sh`, printing one
//! JSON object per line.
//!
//! ```text
//! cargo run --release --example bench_workloads -- speed [--seconds 1.5] [--warmup 0.5] [--only w1_train_b1]
//! cargo run --release --example bench_workloads -- rss       # W1, batch 128, 500 steps
//! cargo run --release --example bench_workloads -- cores     # does a second thread double the work done?
//! ```
//!
//! `speed` uses the estimator of `tools/bench_torch.py`: after a warm-up, the steps are
//! timed in blocks of about 2 ms (at least one step) until the time is up, and the
//! median over blocks of the time per step is reported, as samples per second for
//! training and as microseconds per call for inference at batch 1. The thread count is
//! rayon's (`RAYON_NUM_THREADS`). Every row names the instruction set the kernels ran
//! with (`"isa"`, from [`frechet::Isa::current`]), so that a run meant to be held to
//! AVX2 by `FRECHET_ISA=avx2` shows whether it was.

#[path = "../benches/nets/mod.rs"]
mod nets;

use std::hint::black_box;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use frechet::prelude::*;
use frechet::train::Model;
use frechet::Isa;
use nets::{Data, LR, POOL, W1, W2, W3, W4, W5, W6};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Samples per second of each training row and latency of each inference row.
    Speed {
        /// Seconds of timed steps per row.
        #[arg(long, default_value_t = 1.5)]
        seconds: f64,
        /// Seconds of untimed steps per row before timing.
        #[arg(long, default_value_t = 0.5)]
        warmup: f64,
        /// Only the rows whose id contains this (such as `w1_train` or `w3_infer_b1`).
        #[arg(long)]
        only: Option<String>,
    },
    /// Peak resident memory of training W1 at batch 128 for 500 steps.
    Rss {
        /// Steps to train.
        #[arg(long, default_value_t = 500)]
        steps: usize,
    },
    /// The work a busy loop does on two threads against one, in the same wall time.
    Cores,
}

fn main() {
    match Args::parse().command {
        Command::Speed {
            seconds,
            warmup,
            only,
        } => {
            let timing = Timing {
                seconds,
                warmup,
                only,
            };
            for batch in [1, 32, 128, 1024] {
                timing.train("w1_train", batch, W1::new);
            }
            timing.train("w2_train", 256, W2::new);
            for batch in [1, 32, 128] {
                timing.train("w3_train", batch, W3::new);
            }
            timing.train("w4_train", 64, W4::new);
            timing.train("w5_train", 128, W5::new);
            timing.train("w6_train", 128, W6::new);
            timing.infer("w1_infer", W1::new);
            timing.infer("w3_infer", W3::new);
            timing.infer("w4_infer", W4::new);
            timing.infer("w5_infer", W5::new);
        }
        Command::Rss { steps } => rss(steps),
        Command::Cores => cores(),
    }
}

struct Timing {
    seconds: f64,
    warmup: f64,
    only: Option<String>,
}

/// The median, quartiles and count of the per-call times of the blocks, in seconds.
struct Stats {
    median: f64,
    q1: f64,
    q3: f64,
    blocks: usize,
    calls: usize,
}

impl Timing {
    fn wanted(&self, id: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| id.contains(only.as_str()))
    }

    fn train<N: Model<Elem = f32>>(&self, name: &str, batch: usize, make: fn(u64) -> N) {
        let id = format!("{name}_b{batch}");
        if !self.wanted(&id) {
            return;
        }
        let data = Data::<N>::new(1, POOL);
        let mut net = make(0);
        let mut sgd = Sgd::new(LR);
        let mut index = 0;
        let mut loss = 0.0;
        let stats = self.time(|| {
            index += 1;
            loss = nets::step(&mut net, &mut sgd, &data, index, batch);
        });
        assert!(loss.is_finite(), "{id}: the loss became {loss}");
        println!(
            "{{\"id\": \"{id}\", \"batch\": {batch}, \"samples_per_s\": {:.1}, \
             \"samples_per_s_q1\": {:.1}, \"samples_per_s_q3\": {:.1}, \"step_us\": {:.3}, \
             \"blocks\": {}, \"steps\": {}, \"last_loss\": {loss:.4}, \"threads\": {}, \
             \"isa\": \"{}\"}}",
            batch as f64 / stats.median,
            batch as f64 / stats.q3,
            batch as f64 / stats.q1,
            stats.median * 1e6,
            stats.blocks,
            stats.calls,
            threads(),
            Isa::current().name(),
        );
    }

    fn infer<N: Model<Elem = f32>>(&self, name: &str, make: fn(u64) -> N) {
        let id = format!("{name}_b1");
        if !self.wanted(&id) {
            return;
        }
        let data = Data::<N>::new(2, POOL);
        let net = make(0);
        let mut index = 0;
        let stats = self.time(|| {
            index += 1;
            let (x, _) = data.batch(index, 1);
            black_box(net.forward(black_box(x)));
        });
        println!(
            "{{\"id\": \"{id}\", \"batch\": 1, \"latency_us\": {:.3}, \"latency_us_q1\": {:.3}, \
             \"latency_us_q3\": {:.3}, \"samples_per_s\": {:.1}, \"blocks\": {}, \"calls\": {}, \
             \"threads\": {}, \"isa\": \"{}\"}}",
            stats.median * 1e6,
            stats.q1 * 1e6,
            stats.q3 * 1e6,
            1.0 / stats.median,
            stats.blocks,
            stats.calls,
            threads(),
            Isa::current().name(),
        );
    }

    /// Runs `call` untimed for the warm-up, then in timed blocks of about 2 ms.
    fn time(&self, mut call: impl FnMut()) -> Stats {
        let start = Instant::now();
        let mut warm = 0usize;
        while warm < 3 || start.elapsed().as_secs_f64() < self.warmup {
            call();
            warm += 1;
        }
        let per_call = start.elapsed().as_secs_f64() / warm as f64;
        let block = ((2e-3 / per_call).round() as usize).max(1);
        let mut times = Vec::new();
        let end = Instant::now() + Duration::from_secs_f64(self.seconds);
        while times.len() < 10 || Instant::now() < end {
            let t = Instant::now();
            for _ in 0..block {
                call();
            }
            times.push(t.elapsed().as_secs_f64() / block as f64);
        }
        times.sort_by(f64::total_cmp);
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        Stats {
            median: at(0.5),
            q1: at(0.25),
            q3: at(0.75),
            blocks: times.len(),
            calls: times.len() * block,
        }
    }
}

/// Rayon's thread count as the library will see it: `RAYON_NUM_THREADS`, or every core.
fn threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A field of `/proc/self/status` in KiB, such as `VmRSS` or `VmHWM` (the peak).
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Trains W1 at batch 128 on one fixed batch for `steps` steps and prints the peak
/// resident memory of the whole process (`VmHWM`), with the resident memory at start.
fn rss(steps: usize) {
    let start = status_kib("VmRSS");
    // One batch of 128 samples, as a training loop holding only the current batch would.
    let data = Data::<W1>::new(1, 128);
    let mut net = W1::new(0);
    let mut sgd = Sgd::new(LR);
    let mut loss = 0.0;
    for _ in 0..steps {
        loss = nets::step(&mut net, &mut sgd, &data, 0, 128);
    }
    assert!(loss.is_finite());
    let kib = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    println!(
        "{{\"id\": \"w1_rss_b128\", \"steps\": {steps}, \"peak_rss_kib\": {}, \
         \"start_rss_kib\": {}, \"last_loss\": {loss:.4}, \"threads\": {}}}",
        kib(status_kib("VmHWM")),
        kib(start),
        threads(),
    );
}

/// A dependent floating-point loop of fixed length: pure ALU work, no memory traffic.
fn spin(iterations: u64) -> f64 {
    let mut acc = [1.0f64, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = black_box(*a * 0.999_999_9 + 1e-7);
        }
    }
    acc.iter().sum()
}

/// Times the same loop on one thread and then on two at once, three times, and prints
/// how much more work two threads did per second than one (2.0 when both cores run).
fn cores() {
    let iterations = {
        let t = Instant::now();
        black_box(spin(1_000_000));
        (2e5 / t.elapsed().as_secs_f64()) as u64 // about 0.2 s
    };
    let mut speedups = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        black_box(spin(iterations));
        let one = t.elapsed().as_secs_f64();
        let t = Instant::now();
        std::thread::scope(|s| {
            let a = s.spawn(|| black_box(spin(iterations)));
            let b = s.spawn(|| black_box(spin(iterations)));
            black_box(a.join().unwrap() + b.join().unwrap());
        });
        let two = t.elapsed().as_secs_f64();
        speedups.push(2.0 * one / two);
    }
    speedups.sort_by(f64::total_cmp);
    println!(
        "{{\"id\": \"cores\", \"cpus\": {}, \"speedup_2_threads\": {:.3}, \"runs\": [{}]}}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        speedups[1],
        speedups
            .iter()
            .map(|s| format!("{s:.3}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
}

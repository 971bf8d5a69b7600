//! Data-parallel training under `mpirun` (feature `mpi`; `tools/mpi.sh` installs Open MPI
//! and runs these). Each test starts `mpirun -np N` on this test binary, whose
//! [`mpi_rank`] test then plays one rank of the scenario named by `FRECHET_MPI_SCENARIO`,
//! and checks what the job printed and how it ended, within a deadline: a job that hangs
//! fails the test rather than the test run.
//!
//! - N ranks with a batch of B train the weights one process trains with B, to rounding
//!   (‖a − b‖ ≤ 1e-6 ‖b‖ for each tensor in f32, 1e-12 in f64), bit for bit the same on every
//!   rank, with momentum SGD, Adam and through `Trainer`, with batches whose last
//!   share is empty on some ranks.
//! - A loss that is not finite on one rank leaves every rank's weights as they were.
//! - A rank that panics, or is killed, ends the whole job with an error.

#![cfg(feature = "mpi")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{params, Stream};
use frechet::data_parallel::DataParallel;
use frechet::ndarray::{Array4, Axis, Slice};
use frechet::prelude::*;
use frechet::train::Trainer;

/// Declares one network twice: `$name` of `f32` and `$name64` of `f64`.
macro_rules! in_f32_and_f64 {
    ($(#[doc = $doc:literal])* struct $name:ident, $name64:ident { $($body:tt)* }) => {
        network! { $(#[doc = $doc])* #[derive(Clone)] struct $name { $($body)* } }
        network! { $(#[doc = $doc])* #[derive(Clone)] struct $name64<f64> { $($body)* } }
    };
}

in_f32_and_f64! {
    /// Convolution, pooling and dense layers: every kind of gradient.
    struct Small, Small64 {
        input: [1, 12, 12],
        conv: Conv2d(4, kernel = 3) -> ReLU,
        pool: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(16) -> Tanh,
        fc2: Dense(10),
    }
}

const SCENARIO: &str = "FRECHET_MPI_SCENARIO";

/// Batches of 12 of 98 samples: eight of 12, then one of 2, of which 3 ranks take 0, 1
/// and 1.
const SAMPLES: usize = 98;
const BATCH: usize = 12;

fn data() -> (Array4<f32>, Vec<usize>) {
    let mut stream = Stream(11);
    let x = Array4::from_shape_fn((SAMPLES, 1, 12, 12), |_| stream.next());
    let labels = (0..SAMPLES).map(|i| (i * 7 + i / 3) % 10).collect();
    (x, labels)
}

/// The worst relative difference between two networks' tensors: `‖a − b‖ / ‖b‖` of
/// each tensor.
fn worst<T: frechet::Scalar>(a: &[T], b: &[T], sizes: &[usize]) -> f64 {
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|x| x * x).sum::<f64>().sqrt();
    let mut at = 0;
    let mut worst = 0f64;
    for &size in sizes {
        let (a, b) = (&a[at..at + size], &b[at..at + size]);
        let difference = norm(&mut a.iter().zip(b).map(|(x, y)| x.widen() - y.widen()));
        let scale = norm(&mut b.iter().map(|y| y.widen())).max(1e-30);
        worst = worst.max(difference / scale);
        at += size;
    }
    worst
}

fn sizes<N: frechet::Network>(net: &N) -> Vec<usize> {
    net.layers()
        .iter()
        .flat_map(|(_, layer)| (0..layer.param_names().len()).map(|i| layer.param(i).len()))
        .collect()
}

/// One rank of the equivalence scenario: trains copies of the same network for an epoch
/// three ways (a loop of `DataParallel::train_step` with plain SGD, `Trainer` with Adam,
/// and the f64 network with momentum SGD), each against one process training alone on
/// whole batches.
fn equivalence(group: &mut DataParallel) {
    let (x, labels) = data();
    let rank = group.rank();

    // Each rank starts from other weights; the broadcast makes them rank 0's.
    let mut net = Small::new(rank as u64 + 1);
    group.broadcast(&mut net);
    let mut alone = Small::new(1);
    assert_eq!(
        params(&net),
        params(&alone),
        "the broadcast gave rank 0's weights"
    );

    // An epoch of steps in order, with plain SGD, which one process alone folds into its
    // weight adjoints and the ranks cannot (they sum the gradient first).
    let (mut sgd, mut sgd_alone) = (Sgd::new(0.1), Sgd::new(0.1));
    for start in (0..SAMPLES).step_by(BATCH) {
        let end = (start + BATCH).min(SAMPLES);
        let share = group.share(end - start);
        let (mine, whole) = (
            start + share.start..start + share.end,
            x.slice_axis(Axis(0), Slice::from(start..end)),
        );
        let loss = group.train_step(
            &mut net,
            x.slice_axis(Axis(0), Slice::from(mine.clone())),
            &labels[mine],
            end - start,
            &SoftmaxCrossEntropy,
            &mut sgd,
        );
        let expected = alone.train_step(
            whole,
            &labels[start..end],
            &SoftmaxCrossEntropy,
            &mut sgd_alone,
        );
        assert!(
            (loss - expected).abs() <= 1e-5 * expected.abs(),
            "{loss} vs {expected}"
        );
    }
    let sgd_worst = worst(&params(&net), &params(&alone), &sizes(&net));

    // `Trainer`, shuffled, with Adam.
    let mut net = Small::new(5);
    group.broadcast(&mut net);
    let mut alone = net.clone();
    let trainer = || Trainer::new(1, BATCH).seed(3).progress(false);
    let history = trainer()
        .data_parallel(group)
        .fit(&mut net, &mut Adam::new(1e-2), x.view(), &labels)
        .expect("finite losses");
    let history_alone = trainer()
        .fit(&mut alone, &mut Adam::new(1e-2), x.view(), &labels)
        .expect("finite losses");
    for (a, b) in history.epochs.iter().zip(&history_alone.epochs) {
        assert!((a.train_loss - b.train_loss).abs() <= 1e-5 * b.train_loss.abs());
    }
    let adam_worst = worst(&params(&net), &params(&alone), &sizes(&net));

    // f64, with momentum SGD.
    let x64 = x.mapv(f64::from);
    let mut net64 = Small64::new(7);
    group.broadcast(&mut net64);
    let mut alone64 = net64.clone();
    Trainer::new(1, BATCH)
        .seed(4)
        .progress(false)
        .data_parallel(group)
        .fit(
            &mut net64,
            &mut Sgd::momentum(0.05, 0.9),
            x64.view(),
            &labels,
        )
        .expect("finite losses");
    Trainer::new(1, BATCH)
        .seed(4)
        .progress(false)
        .fit(
            &mut alone64,
            &mut Sgd::momentum(0.05, 0.9),
            x64.view(),
            &labels,
        )
        .expect("finite losses");
    let f64_worst = worst(&params(&net64), &params(&alone64), &sizes(&net64));

    let agree = group.weights_agree(&net) && group.weights_agree(&net64);
    println!(
        "rank {rank} of {}: sgd {sgd_worst:.2e} adam {adam_worst:.2e} f64 {f64_worst:.2e} agree {agree}",
        group.ranks()
    );
    assert!(sgd_worst <= 1e-6 && adam_worst <= 1e-6, "f32 beyond 1e-6");
    assert!(f64_worst <= 1e-12, "f64 beyond 1e-12");
    assert!(agree, "the ranks' weights differ");
}

/// One rank of the scenario where one rank's share of a batch gives a loss that is not
/// finite: every rank gets that loss back and leaves its weights, and the next steps go
/// on together.
fn one_loss_not_finite(group: &mut DataParallel) {
    let (mut x, labels) = data();
    let mut net = Small::new(1);
    let mut sgd = Sgd::momentum(0.05, 0.9);
    let share = group.share(BATCH);
    let rank = group.rank();
    {
        let mut step = |net: &mut Small, x: &Array4<f32>| {
            group.train_step(
                net,
                x.slice_axis(Axis(0), Slice::from(share.clone())),
                &labels[share.clone()],
                BATCH,
                &SoftmaxCrossEntropy,
                &mut sgd,
            )
        };
        assert!(step(&mut net, &x).is_finite());
        let before = params(&net);
        let mut poisoned = x.clone();
        if rank == 1 {
            poisoned[[share.start, 0, 0, 0]] = f32::NAN;
        }
        let loss = step(&mut net, &poisoned);
        assert!(loss.is_nan(), "the loss of the whole batch is {loss}");
        assert_eq!(
            params(&net),
            before,
            "a rank updated after a loss that is not finite"
        );
        x[[0, 0, 1, 1]] += 0.5;
        assert!(step(&mut net, &x).is_finite());
        assert_ne!(params(&net), before);
    }
    let agree = group.weights_agree(&net);
    println!(
        "rank {} of {}: not finite, agree {agree}",
        group.rank(),
        group.ranks()
    );
    assert!(agree);
}

/// One rank of the failure scenarios: rank 1 fails in its fourth step, by a panic or
/// by `SIGKILL`; the others go on stepping, and would wait for it forever.
fn failure(group: &mut DataParallel, how: &str) {
    let (x, labels) = data();
    let mut net = Small::new(1);
    let mut sgd = Sgd::new(0.01);
    for step in 0..1000 {
        if group.rank() == 1 && step == 3 {
            match how {
                "panic" => panic!("rank 1 fails on purpose"),
                _ => {
                    // SAFETY: sending a signal to this process touches no memory.
                    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
                    unreachable!("SIGKILL ends the process");
                }
            }
        }
        let share = group.share(BATCH);
        group.train_step(
            &mut net,
            x.slice_axis(Axis(0), Slice::from(share.clone())),
            &labels[share],
            BATCH,
            &SoftmaxCrossEntropy,
            &mut sgd,
        );
    }
    println!("rank {} finished all its steps", group.rank());
}

/// A rank of the scenario `FRECHET_MPI_SCENARIO` names, when `mpirun` starts this
/// binary; nothing in an ordinary test run.
#[test]
fn mpi_rank() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let mut group = DataParallel::init().expect("MPI starts");
    match scenario.as_str() {
        "equivalence" => equivalence(&mut group),
        "not finite" => one_loss_not_finite(&mut group),
        how => failure(&mut group, how),
    }
}

/// What `mpirun -np ranks` running `scenario` printed, and whether it succeeded; fails
/// if the job is not over within `deadline`. (The output goes to files, which a job
/// that prints much cannot fill up and block on, as it could a pipe.)
fn mpirun(ranks: usize, scenario: &str, deadline: Duration) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let (stdout, stderr) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let mut child = Command::new("mpirun")
        .args(["--oversubscribe", "-np", &ranks.to_string()])
        .arg(exe)
        .args(["--exact", "mpi_rank", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env("RAYON_NUM_THREADS", "1")
        // As root, as in CI: Open MPI refuses to start ranks unless told to.
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .expect("mpirun runs (tools/mpi.sh installs Open MPI)");
    let read = |mut file: std::fs::File| {
        use std::io::{Read, Seek};
        let mut text = String::new();
        file.rewind().unwrap();
        file.read_to_string(&mut text).unwrap();
        text
    };
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.success(), read(stdout) + &read(stderr));
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "mpirun -np {ranks} ({scenario}) still ran after {deadline:?}: a rank hangs\n{}{}",
                read(stdout),
                read(stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ranks_train_the_weights_one_process_trains_and_agree_bit_for_bit() {
    for ranks in [2, 3] {
        let (ok, output) = mpirun(ranks, "equivalence", Duration::from_secs(300));
        assert!(ok, "mpirun -np {ranks}:\n{output}");
        for rank in 0..ranks {
            let line = format!("rank {rank} of {ranks}: ");
            // (The test harness may print its own words before the report, on its line.)
            let report = output
                .lines()
                .find_map(|l| l.find(&line).map(|at| &l[at..]))
                .unwrap_or_else(|| panic!("no report from rank {rank}:\n{output}"));
            println!("{report}");
            assert!(report.ends_with("agree true"), "{report}");
        }
    }
}

#[test]
fn a_loss_that_is_not_finite_on_one_rank_leaves_every_rank_as_it_was() {
    let (ok, output) = mpirun(2, "not finite", Duration::from_secs(120));
    assert!(ok, "{output}");
    for rank in 0..2 {
        assert!(
            output.contains(&format!("rank {rank} of 2: not finite, agree true")),
            "{output}"
        );
    }
}

/// What a job of 2 ranks printed when rank 1 fails as `scenario` says, having checked
/// that the job failed, within the deadline, before any rank finished its steps.
fn failed_job(scenario: &str) -> String {
    let (ok, output) = mpirun(2, scenario, Duration::from_secs(120));
    assert!(!ok, "the job succeeded:\n{output}");
    assert!(!output.contains("finished all its steps"), "{output}");
    output
}

#[test]
fn a_rank_that_panics_ends_the_job_with_an_error() {
    let output = failed_job("panic");
    assert!(
        output.contains("rank 1 fails on purpose") && output.contains("rank 1 of 2 panicked"),
        "{output}"
    );
}

#[test]
fn a_rank_that_is_killed_ends_the_job_with_an_error() {
    // Open MPI names the rank and the signal.
    let output = failed_job("kill");
    assert!(
        output.contains("rank 1") && output.contains("signal 9"),
        "{output}"
    );
}

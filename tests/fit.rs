//! `frechet::train`: the fit loop learns, follows its schedule, is reproducible, stops
//! early, writes checkpoints, and reports a non-finite loss as an error naming the step;
//! and the memory `SUMMARY` promises is what a step keeps.

mod common;
/// The design's workloads, as the benchmarks declare them: `W1` the perceptron, `W3`
/// LeNet-5.
#[path = "../benches/nets/mod.rs"]
#[allow(dead_code)]
mod nets;

use common::{params, Stream};
use frechet::ndarray::{Array2, Array4, ArrayD};
use frechet::prelude::*;
use frechet::train::{EarlyStopping, Model, Monitor, Schedule, Trainer};
use frechet::BinaryCrossEntropyWithLogits;
use frechet::Error;
use nets::{W1, W3};

network! {
    /// A small classifier: 8 features, 3 classes.
    #[derive(Clone, Debug, PartialEq)]
    struct Classifier {
        input: [8],
        fc1: Dense(16) -> ReLU,
        fc2: Dense(3),
    }
}

network! {
    /// Convolutions the direct kernels do not take (padding), with 32 channels, so that
    /// their products with the unrolled input are packed.
    struct WideConv {
        input: [6, 12, 12],
        conv1: Conv2d(32, kernel = 5, padding = 1) -> ReLU,
        conv2: Conv2d(32, kernel = 3, padding = 1) -> ReLU,
        flat: Flatten,
        fc1: Dense(10),
    }
}

network! {
    /// A convolution the direct kernels take, with channels enough to fill AVX-512's
    /// lanes in its weight gradient, on a single input channel: the transposed error
    /// signals it keeps outgrow the unrolled input.
    struct ByChannels {
        input: [1, 28, 28],
        conv1: Conv2d(16, kernel = 5) -> ReLU,
        pool1: MaxPool2d(2),
        flat: Flatten,
        fc1: Dense(10),
    }
}

network! {
    /// Padding, stride, average pooling.
    struct OddConv {
        input: [3, 11, 9],
        conv1: Conv2d(4, kernel = 3, stride = 2, padding = 1) -> Tanh,
        pool1: AvgPool2d(2),
        flat: Flatten,
        fc1: Dense(3),
    }
}

/// `n` samples of 8 features, their classes shifting two of the features.
fn classification(n: usize, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut data = Stream(seed);
    let labels: Vec<usize> = (0..n).map(|i| (i * 7 + 1) % 3).collect();
    let mut x = data.matrix(n, 8);
    for (mut row, &label) in x.outer_iter_mut().zip(&labels) {
        row[label] += 1.5;
        row[label + 3] -= 1.0;
    }
    (x, labels)
}

network! {
    /// [`Classifier`] in `f64`.
    #[derive(Clone, Debug, PartialEq)]
    struct ClassifierF64<f64> {
        input: [8],
        fc1: Dense(16) -> ReLU,
        fc2: Dense(3),
    }
}

fn quiet<'a>(epochs: usize, batch: usize) -> Trainer<'a, frechet::ndarray::Ix2> {
    Trainer::new(epochs, batch).progress(false)
}

#[test]
fn fit_learns_and_records_every_epoch_with_its_learning_rate() {
    let (x, labels) = classification(120, 1);
    let (vx, vlabels) = classification(60, 2);
    let mut net = Classifier::new(0);
    let mut seen = Vec::new();
    let history = Trainer::new(6, 16)
        .progress(false)
        .schedule(Schedule::Exponential { gamma: 0.5 })
        .validation(vx.view(), &vlabels)
        .on_epoch(|epoch| seen.push(epoch.epoch))
        .fit(&mut net, &mut Sgd::momentum(0.1, 0.9), x.view(), &labels)
        .unwrap();
    assert_eq!(seen, [1, 2, 3, 4, 5, 6]);
    assert_eq!(history.epochs.len(), 6);
    assert!(!history.stopped_early);
    let rates: Vec<f32> = history.epochs.iter().map(|e| e.learning_rate).collect();
    assert_eq!(rates, [0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]);
    let first = &history.epochs[0];
    let last = &history.epochs[5];
    assert!(
        last.train_loss < first.train_loss / 2.0,
        "{first:?} → {last:?}"
    );
    assert!(last.validation_accuracy.unwrap() > 0.9, "{last:?}");
    // The recorded validation figures are the network's.
    let (loss, accuracy) = frechet::train::evaluate(&net, vx.view(), &vlabels);
    assert_eq!(
        (Some(loss), Some(accuracy)),
        (last.validation_loss, last.validation_accuracy)
    );
    assert!(last.to_string().starts_with("epoch 6/6  lr 0.0031  loss "));
}

#[test]
fn the_same_seed_gives_bit_identical_weights() {
    let (x, labels) = classification(100, 3);
    let run = |seed| {
        let mut net = Classifier::new(5);
        quiet(3, 7)
            .seed(seed)
            .fit(&mut net, &mut Adam::new(0.01), x.view(), &labels)
            .unwrap();
        params(&net).iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    assert_eq!(run(9), run(9));
    assert_ne!(
        run(9),
        run(10),
        "another shuffling seed should give other weights"
    );
}

#[test]
fn early_stopping_stops_when_the_validation_loss_stalls() {
    let (x, labels) = classification(60, 4);
    let mut net = Classifier::new(1);
    // A learning rate of 0 never changes the weights, so the validation loss never
    // improves after the first epoch.
    let history = quiet(10, 10)
        .validation(x.view(), &labels)
        .early_stopping(EarlyStopping::new(Monitor::ValidationLoss, 2))
        .fit(&mut net, &mut Sgd::new(0.0), x.view(), &labels)
        .unwrap();
    assert!(history.stopped_early);
    assert_eq!(history.epochs.len(), 3);
}

/// The trainer and every optimizer train a network of `f64`, with its schedule in
/// `f64`, a validation set and a checkpoint of `F64` tensors; from the same seed it
/// starts from exactly the weights of the network of `f32`.
#[test]
fn a_network_of_f64_trains_with_every_optimizer() {
    let dir = tempfile::tempdir().unwrap();
    let (x, labels) = classification(120, 1);
    let (vx, vlabels) = classification(60, 2);
    let (x, vx) = (x.mapv(f64::from), vx.mapv(f64::from));
    let widened: Vec<f64> = params(&Classifier::new(0))
        .into_iter()
        .map(f64::from)
        .collect();
    assert_eq!(params(&ClassifierF64::new(0)), widened);
    let optimizers: [(&str, Box<dyn Optimizer<f64>>); 3] = [
        ("sgd", Box::new(Sgd::momentum(0.1, 0.9))),
        ("adam", Box::new(Adam::new(0.01))),
        ("adadelta", Box::new(Adadelta::new(1.0))),
    ];
    for (name, mut optimizer) in optimizers {
        let path = dir.path().join(format!("{name}.safetensors"));
        let mut net = ClassifierF64::new(0);
        let history = Trainer::new(6, 16)
            .progress(false)
            .schedule(Schedule::Step {
                step_size: 2,
                gamma: 0.7,
            })
            .validation(vx.view(), &vlabels)
            .checkpoint(&path)
            .fit(&mut net, &mut optimizer, x.view(), &labels)
            .unwrap();
        let (first, last) = (&history.epochs[0], &history.epochs[5]);
        assert!(
            last.train_loss < 0.6 * first.train_loss,
            "{name}: {first:?} → {last:?}"
        );
        assert!(last.validation_accuracy.unwrap() > 0.9, "{name}: {last:?}");
        // Two decays by 0.7.
        let decay = last.learning_rate / first.learning_rate;
        assert!((decay - 0.49).abs() < 1e-6, "{name}: {decay}");
        assert!(ClassifierF64::load_safetensors(&path).is_ok(), "{name}");
    }
}

#[test]
fn the_checkpoint_holds_the_best_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("best.safetensors");
    let (x, labels) = classification(90, 6);
    let (vx, vlabels) = classification(30, 7);
    let mut net = Classifier::new(2);
    let mut best = None;
    let history = quiet(4, 15)
        .validation(vx.view(), &vlabels)
        .checkpoint(&path)
        .on_epoch(|epoch| {
            if epoch.checkpointed {
                best = epoch.validation_loss;
            }
        })
        .fit(&mut net, &mut Sgd::momentum(0.05, 0.9), x.view(), &labels)
        .unwrap();
    assert!(
        history.epochs[0].checkpointed,
        "the first epoch is the best so far"
    );
    let saved = Classifier::load_safetensors(&path).unwrap();
    let (loss, _) = frechet::train::evaluate(&saved, vx.view(), &vlabels);
    assert_eq!(Some(loss), best);
}

#[test]
fn a_non_finite_loss_is_an_error_naming_the_step_and_changes_nothing() {
    let (mut x, labels) = classification(40, 8);
    x[[25, 3]] = f32::NAN;
    let mut net = Classifier::new(3);
    let before = params(&net);
    // The whole set in one step, so the NaN is met at step 1.
    let error = quiet(1, 40)
        .fit(&mut net, &mut Sgd::new(0.1), x.view(), &labels)
        .unwrap_err();
    match &error {
        Error::NonFiniteLoss {
            epoch: 1,
            step: 1,
            loss,
        } => assert!(loss.is_nan()),
        other => panic!("expected NonFiniteLoss at step 1, got {other:?}"),
    }
    assert!(error.to_string().contains("step 1 of epoch 1"), "{error}");
    assert_eq!(
        params(&net),
        before,
        "the step must leave the weights as they were"
    );
}

network! {
    /// Dropout keeps its mask between the passes of a step: a bit an element.
    struct Dropped {
        input: [8],
        fc1: Dense(70) -> ReLU,
        drop: Dropout(0.5),
        fc2: Dense(3),
    }
}

network! {
    /// Batch normalisation keeps its batch's statistics, and its gradient its buffers.
    struct Normalised {
        input: [8],
        fc1: Dense(16),
        bn: BatchNorm1d -> ReLU,
        fc2: Dense(3),
    }
}

/// Trains a `$net` one step on 9 samples and checks that its buffers hold what its
/// `STEP_FLOATS_PER_SAMPLE` and `STEP_FLOATS_FIXED` promise.
macro_rules! assert_step_memory {
    ($net:ident) => {{
        let mut net = $net::new(0);
        let (x, labels) = classification(9, 3);
        net.train_step(
            x.view(),
            &labels[..],
            &SoftmaxCrossEntropy,
            &mut Sgd::new(0.1),
        );
        assert_eq!(
            net.__step_floats(),
            Some($net::STEP_FLOATS_PER_SAMPLE * 9 + $net::STEP_FLOATS_FIXED)
        );
    }};
}

#[test]
fn batch_statistics_and_buffers_are_counted_in_the_step_memory() {
    // The gradient, the statistics of 16 channels (3 each) and the gradient's copy of
    // the running mean and variance and the count (an int64: two floats).
    assert_eq!(
        Normalised::STEP_FLOATS_FIXED,
        Normalised::NUM_PARAMS + 3 * 16 + 2 * 16 + 2
    );
    assert_step_memory!(Normalised);
}

#[test]
fn a_dropout_mask_is_counted_in_the_step_memory() {
    // Activations and error signals of 70 + 70 + 3 units, and a mask of 70 bits: two
    // 64-bit words, as much as 4 floats.
    assert_eq!(Dropped::STEP_FLOATS_PER_SAMPLE, 2 * (70 + 70 + 3) + 4);
    assert_step_memory!(Dropped);
}

network! {
    /// Two dropout layers of the same width: their masks must differ.
    struct TwoDrops {
        input: [8],
        fc1: Dense(64) -> ReLU,
        drop1: Dropout(0.5),
        fc2: Dense(64) -> ReLU,
        drop2: Dropout(0.5),
        fc3: Dense(2),
    }
}

#[test]
fn dropout_layers_draw_masks_of_their_own_after_zeros_and_loading() {
    use frechet::Layer;
    let x = frechet::ndarray::Array2::from_elem((4, 64), 1.0f32);
    for net in [TwoDrops::new(3), TwoDrops::zeros()] {
        let (mut drop1, mut drop2) = (net.drop1.clone(), net.drop2.clone());
        let (mut z1, mut z2) = (x.clone(), x.clone());
        drop1.forward_train(x.view(), z1.view_mut());
        drop2.forward_train(x.view(), z2.view_mut());
        assert_ne!(z1, z2, "two layers drew the same mask");
    }
}

#[test]
fn a_step_schedule_decays_every_step_size_epochs() {
    let (x, labels) = classification(40, 1);
    let history = Trainer::new(5, 20)
        .progress(false)
        .schedule(Schedule::Step {
            step_size: 2,
            gamma: 0.5,
        })
        .fit(
            &mut Classifier::new(0),
            &mut Adadelta::new(1.0),
            x.view(),
            &labels,
        )
        .unwrap();
    let rates: Vec<f32> = history.epochs.iter().map(|e| e.learning_rate).collect();
    // PyTorch's StepLR(step_size=2, gamma=0.5), stepped after each epoch.
    assert_eq!(rates, [1.0, 1.0, 0.5, 0.5, 0.25]);
}

#[test]
fn step_memory_is_what_summary_promises() {
    let mut lenet = W3::new(0);
    let mut odd = OddConv::new(0);
    let mut mlp = Classifier::new(0);
    assert_eq!(lenet.__step_floats(), None);
    for batch in [1, 5] {
        let x = Array4::from_elem((batch, 1, 28, 28), 0.5f32);
        let labels = vec![1usize; batch];
        lenet.train_step(
            x.view(),
            &labels[..],
            &SoftmaxCrossEntropy,
            &mut Sgd::new(0.1),
        );
        assert_eq!(
            lenet.__step_floats(),
            Some(W3::STEP_FLOATS_PER_SAMPLE * batch + W3::STEP_FLOATS_FIXED)
        );
        let x = Array4::from_elem((batch, 3, 11, 9), 0.5f32);
        let labels = vec![2usize; batch];
        odd.train_step(
            x.view(),
            &labels[..],
            &SoftmaxCrossEntropy,
            &mut Sgd::new(0.1),
        );
        assert_eq!(
            odd.__step_floats(),
            Some(OddConv::STEP_FLOATS_PER_SAMPLE * batch + OddConv::STEP_FLOATS_FIXED)
        );
        let x = Array2::from_elem((batch, 8), 0.5f32);
        mlp.train_step(
            x.view(),
            &labels[..],
            &SoftmaxCrossEntropy,
            &mut Sgd::new(0.1),
        );
        assert_eq!(
            mlp.__step_floats(),
            Some(Classifier::STEP_FLOATS_PER_SAMPLE * batch + Classifier::STEP_FLOATS_FIXED)
        );
    }
    // Activations and error signals of 16 + 3 units per sample; the gradient.
    assert_eq!(Classifier::STEP_FLOATS_PER_SAMPLE, 2 * (16 + 3));
    assert_eq!(Classifier::STEP_FLOATS_FIXED, Classifier::NUM_PARAMS);
    // 2 · (6·24·24 + 6·12·12 + 16·8·8 + 16·4·4 + 256 + 120 + 84 + 10) per sample; per
    // thread, conv1's unrolled input, 1·5·5 × 24·24, the larger of the two, conv2's
    // gradient, 16·6·5·5 + 16, the larger of the two, and the packed panels of fc1's
    // products: 256 depths of 144 rows (AVX2's panels of `a_prev`, any batch) and of
    // 256 columns (`a_prev` in the weight gradient, a batch of 256 or more), and the
    // weight gradient's sum over the second half of a batch of 512 or more, 120 × 256:
    // 14,400 + 2,416 + 36,864 + 65,536 + 30,720.
    assert_eq!(W3::SCRATCH_FLOATS_PER_THREAD, 149_936);
    for figure in ["12,140 floats", "at most 149,936 floats"] {
        assert!(
            W3::SUMMARY.contains(figure),
            "{figure} is not in\n{}",
            W3::SUMMARY
        );
    }
}

/// Trains `net` a step at each of `batches` and runs its forward pass, on a thread of its
/// own, then returns the floats that thread keeps for the kernels: a pool of one thread
/// is a fresh thread whose buffers nothing else fills.
fn scratch_after<N: Model<Elem = f32> + Send>(
    mut net: N,
    batches: &[usize],
    optimizer: &mut (impl Optimizer + Send),
) -> usize {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a thread pool")
        .install(|| {
            for &batch in batches {
                let shape: Vec<usize> = std::iter::once(batch)
                    .chain(N::input_shape().iter().copied())
                    .collect();
                let x = ArrayD::from_elem(shape, 0.5f32)
                    .into_dimensionality::<N::Batch>()
                    .expect("a batch of the network's input shape");
                let labels = vec![3usize; batch];
                net.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, optimizer);
                net.forward(x.view());
            }
            frechet::__thread_scratch_floats()
        })
}

#[test]
fn kernels_keep_no_more_per_thread_than_promised() {
    let batches = [1, 40, 300, 600];
    let perceptron = scratch_after(W1::new(0), &batches, &mut Sgd::new(0.1));
    // Adam, so that the weight gradients are formed, not folded into the update.
    let lenet = scratch_after(W3::new(0), &batches, &mut Adam::new(1e-3));
    let wide = scratch_after(WideConv::new(0), &[1, 7], &mut Sgd::new(0.1));
    let by_channels = scratch_after(ByChannels::new(0), &[1, 16, 64], &mut Sgd::new(0.1));
    let avx512 = cpu_has(&["avx512f"]);
    for (name, kept, promised, tight) in [
        (
            "Perceptron",
            perceptron,
            W1::SCRATCH_FLOATS_PER_THREAD,
            true,
        ),
        ("LeNet", lenet, W3::SCRATCH_FLOATS_PER_THREAD, true),
        ("WideConv", wide, WideConv::SCRATCH_FLOATS_PER_THREAD, true),
        (
            "ByChannels",
            by_channels,
            ByChannels::SCRATCH_FLOATS_PER_THREAD,
            avx512,
        ),
    ] {
        assert!(
            kept <= promised,
            "{name}: a thread keeps {kept} floats, more than the {promised} promised"
        );
        // The promise is the largest of the micro-kernels' needs; the one this CPU runs
        // needs nearly as much (ByChannels' need is AVX-512's alone), so a promise that
        // had forgotten a buffer would show here.
        if tight && cpu_has(&["avx2", "fma"]) {
            assert!(
                kept * 10 >= promised * 8,
                "{name}: a thread keeps {kept} floats, far below the {promised} promised"
            );
        }
    }
    // No product of Classifier (8 → 16 → 3) is packed, and it has no convolution.
    assert_eq!(Classifier::SCRATCH_FLOATS_PER_THREAD, 0);
}

/// Whether the CPU has every one of `features` (x86-64 names; none elsewhere).
fn cpu_has(features: &[&str]) -> bool {
    #[cfg(target_arch = "x86_64")]
    return features.iter().all(|&feature| match feature {
        "avx2" => std::is_x86_feature_detected!("avx2"),
        "fma" => std::is_x86_feature_detected!("fma"),
        "avx512f" => std::is_x86_feature_detected!("avx512f"),
        other => panic!("no check for {other}"),
    });
    #[cfg(not(target_arch = "x86_64"))]
    return features.is_empty();
}

network! {
    /// An autoencoder of 8 features through 3.
    #[derive(Clone, Debug, PartialEq)]
    struct Autoencoder {
        input: [8],
        encode: Dense(3) -> Tanh,
        decode: Dense(8),
    }
}

/// Rows of 8 features that lie near one 2-dimensional subspace, so that 3 codes suffice.
fn low_rank(n: usize, seed: u64) -> Array2<f32> {
    let basis = Stream(99).matrix(2, 8);
    let mut data = Stream(seed);
    let codes = data.matrix(n, 2);
    codes.dot(&basis) + data.matrix(n, 8) * 0.01
}

#[test]
fn an_autoencoder_trains_on_its_own_input_and_reports_its_loss_alone() {
    let (x, vx) = (low_rank(200, 1), low_rank(50, 2));
    let mut net = Autoencoder::new(0);
    let history = Trainer::with_loss(30, 20, MeanSquaredError)
        .progress(false)
        .validation(vx.view(), vx.view())
        .fit(&mut net, &mut Adam::new(0.01), x.view(), x.view())
        .unwrap();
    let (first, last) = (&history.epochs[0], &history.epochs[29]);
    assert!(
        last.validation_loss.unwrap() < first.validation_loss.unwrap() / 5.0,
        "{first:?} → {last:?}"
    );
    // Regression counts no right answers.
    assert!(history
        .epochs
        .iter()
        .all(|e| e.validation_accuracy.is_none()));
    let (loss, accuracy) =
        frechet::train::evaluate_with(&net, &MeanSquaredError, vx.view(), vx.view());
    assert_eq!((Some(loss), accuracy), (last.validation_loss, None));
}

network! {
    /// One logit: is feature 0 plus feature 1 positive?
    struct Binary {
        input: [8],
        fc1: Dense(8) -> Tanh,
        fc2: Dense(1),
    }
}

#[test]
fn a_binary_classifier_trains_with_logits_and_reports_its_accuracy() {
    let (x, vx) = (Stream(3).matrix(300, 8), Stream(4).matrix(100, 8));
    let truth = |x: &Array2<f32>| {
        x.map_axis(frechet::ndarray::Axis(1), |r| f32::from(r[0] + r[1] > 0.0))
            .insert_axis(frechet::ndarray::Axis(1))
    };
    let (y, vy) = (truth(&x), truth(&vx));
    let mut net = Binary::new(0);
    let history = Trainer::with_loss(20, 25, BinaryCrossEntropyWithLogits)
        .progress(false)
        .validation(vx.view(), vy.view())
        .early_stopping(EarlyStopping::new(Monitor::ValidationAccuracy, 5))
        .fit(&mut net, &mut Adam::new(0.02), x.view(), y.view())
        .unwrap();
    let last = history.epochs.last().unwrap();
    assert!(last.validation_accuracy.unwrap() > 0.9, "{last:?}");
    let logits = net.forward(vx.view());
    let right = logits
        .iter()
        .zip(&vy)
        .filter(|&(&z, &y)| (z > 0.0) == (y > 0.5))
        .count();
    assert_eq!(last.validation_accuracy, Some(right as f32 / 100.0));
}

#[test]
#[should_panic(expected = "counts no right answers")]
fn monitoring_an_accuracy_a_regression_does_not_count_panics() {
    let x = low_rank(40, 5);
    Trainer::with_loss(3, 10, MeanSquaredError)
        .progress(false)
        .validation(x.view(), x.view())
        .early_stopping(EarlyStopping::new(Monitor::ValidationAccuracy, 1))
        .fit(
            &mut Autoencoder::new(0),
            &mut Sgd::new(0.01),
            x.view(),
            x.view(),
        )
        .unwrap();
}

#[test]
fn restore_best_puts_back_the_weights_of_the_best_epoch() {
    // A learning rate far too large: the validation loss gets worse after a while.
    let (x, labels) = classification(90, 8);
    let (vx, vlabels) = classification(30, 9);
    let mut net = Classifier::new(4);
    let history = quiet(7, 10)
        .validation(vx.view(), &vlabels)
        .restore_best(true)
        .fit(&mut net, &mut Sgd::momentum(0.8, 0.9), x.view(), &labels)
        .unwrap();
    let best = history
        .epochs
        .iter()
        .min_by(|a, b| a.validation_loss.partial_cmp(&b.validation_loss).unwrap())
        .unwrap();
    assert_eq!(history.restored, Some(best.epoch));
    assert!(
        best.epoch < 7,
        "the last epoch should not be the best: {history:?}"
    );
    let (loss, _) = frechet::train::evaluate(&net, vx.view(), &vlabels);
    assert_eq!(Some(loss), best.validation_loss);
}

#[test]
fn a_plateau_schedule_lowers_the_rate_when_the_loss_stalls() {
    let (x, labels) = classification(60, 10);
    let mut net = Classifier::new(5);
    // A rate so small the loss barely moves: every epoch is a plateau.
    let history = quiet(6, 20)
        .schedule(Schedule::Plateau {
            factor: 0.5,
            patience: 0,
            threshold: 0.5,
            min_lr: 0.0,
        })
        .fit(&mut net, &mut Sgd::new(1e-6), x.view(), &labels)
        .unwrap();
    let rates: Vec<f32> = history.epochs.iter().map(|e| e.learning_rate).collect();
    // The first epoch sets the best; each one after it is no 50% better.
    assert_eq!(rates, [1e-6, 1e-6, 5e-7, 2.5e-7, 1.25e-7, 6.25e-8]);
}

#[test]
fn predict_gives_the_largest_output_and_predict_proba_its_softmax() {
    let (x, _) = classification(7, 11);
    let net = Classifier::new(6);
    let logits = net.forward(x.view());
    let probabilities = net.predict_proba(x.view());
    assert_eq!(probabilities, frechet::softmax(logits.view()));
    for (row, class) in probabilities.rows().into_iter().zip(net.predict(x.view())) {
        assert!((row.sum() - 1.0).abs() < 1e-6);
        let largest = row.iter().cloned().fold(f32::MIN, f32::max);
        assert_eq!(row[class], largest);
    }
}

//! Properties of generated networks over random data and batch sizes: a save → load
//! round trip is bit-exact for any parameter values, a batch's outputs are its rows'
//! outputs, and a batch's gradient is the mean of its samples' gradients. (The kernels'
//! properties at random sizes are in nn-core/tests/properties.rs.)

mod common;

use common::{params, set_params};
use frechet::ndarray::{Array, Array2, Array4, Axis};
use frechet::prelude::*;
use proptest::prelude::*;

network! {
    /// Every layer kind, with strides, padding and a window that does not divide.
    #[derive(Clone, Debug, PartialEq)]
    struct Small {
        input: [2, 9, 7],
        conv1: Conv2d(3, kernel = 3, stride = 2, padding = 1) -> ReLU, // 3×5×4
        pool1: MaxPool2d(2, stride = 1),                             // 3×4×3
        conv2: Conv2d(4, kernel = 2) -> Tanh,                        // 4×3×2
        pool2: AvgPool2d(2),                                         // 4×1×1
        flat: Flatten,
        fc1: Dense(5) -> LeakyReLU(0.1),
        fc2: Dense(3) -> Sigmoid,
    }
}

network! {
    #[derive(Clone)]
    struct Mlp {
        input: [13],
        fc1: Dense(17) -> ReLU,
        fc2: Dense(4),
    }
}

/// Batches of `n` images with values in [-1, 1).
fn images(n: usize) -> impl Strategy<Value = Array4<f32>> {
    prop::collection::vec(-1.0f32..1.0, n * 2 * 9 * 7)
        .prop_map(move |v| Array::from_shape_vec((n, 2, 9, 7), v).unwrap())
}

/// `|x − y| ≤ 1e-5 · (1 + |y|)` for every pair of elements.
fn assert_close<'a>(x: impl IntoIterator<Item = &'a f32>, y: impl IntoIterator<Item = &'a f32>) {
    for (i, (&x, &y)) in x.into_iter().zip(y).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn save_then_load_is_bit_exact(bits in prop::collection::vec(any::<u32>(), Small::NUM_PARAMS)) {
        // Any bits at all: NaNs with payloads, infinities, subnormals, −0.
        let mut net = Small::zeros();
        let values: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
        set_params(&mut net, &values);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small.safetensors");
        net.save_safetensors(&path).unwrap();
        let loaded = Small::load_safetensors(&path).unwrap();
        let loaded_bits: Vec<u32> = params(&loaded).iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(loaded_bits, bits);
    }

    #[test]
    fn a_batch_gives_its_rows_outputs(x in (1..12usize).prop_flat_map(images), seed in any::<u64>()) {
        let net = Small::new(seed);
        let batch = net.forward(x.view());
        for (i, sample) in x.axis_chunks_iter(Axis(0), 1).enumerate() {
            let row = net.forward(sample);
            assert_close(batch.row(i), row.row(0));
        }
    }

    #[test]
    fn a_batch_gradient_is_the_mean_of_its_samples(
        (x, labels) in (1..8usize).prop_flat_map(|n| (images(n), prop::collection::vec(0..3usize, n))),
        seed in any::<u64>(),
    ) {
        let net = Small::new(seed);
        let (loss, grad) = net.loss_and_grads(x.view(), &labels[..], &SoftmaxCrossEntropy);
        let n = labels.len() as f32;
        let mut mean_loss = 0.0;
        let mut mean_grad = vec![0.0f32; Small::NUM_PARAMS];
        for (sample, label) in x.axis_chunks_iter(Axis(0), 1).zip(&labels) {
            let (l, g) = net.loss_and_grads(sample, &[*label][..], &SoftmaxCrossEntropy);
            mean_loss += l / n;
            for (m, g) in mean_grad.iter_mut().zip(params(&g)) {
                *m += g / n;
            }
        }
        assert_close([&loss], [&mean_loss]);
        assert_close(&params(&grad), &mean_grad);
    }

    #[test]
    fn dense_batches_of_any_size_agree_with_their_rows(n in 1..70usize, seed in any::<u64>()) {
        let net = Mlp::new(seed);
        let x = Array2::from_shape_fn((n, 13), |(i, j)| ((i * 13 + j) as f32 * 0.37 + seed as f32).sin());
        let batch = net.forward(x.view());
        for (i, row) in x.axis_chunks_iter(Axis(0), 1).enumerate() {
            assert_close(batch.row(i), net.forward(row).row(0));
        }
    }
}

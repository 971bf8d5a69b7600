//! Every instruction-set path trains the same network: `FRECHET_ISA=generic`, `avx2` and
//! `avx512` (as far as the CPU goes) differ in speed, and in the bits only where a path
//! sums in another order. This is what lets an AVX-512 machine run with
//! `FRECHET_ISA=avx2` stand in for an AVX2-only machine in the benchmarks.
//!
//! - The products (dense layers, unrolled convolutions) and the pools give the same
//!   bits on AVX2 and AVX-512: their micro-kernels sum each element in one order.
//! - The direct kernels of wide 3 × 3 convolutions tile the input adjoint by more taps
//!   on AVX-512's 32 registers, which changes the order in which a pixel's taps are
//!   added: they agree to rounding.
//! - The portable path multiplies and adds apart where the SIMD paths fuse them: it
//!   agrees to rounding.
//!
//! The variable is read once per process, so each path runs in a child process of this
//! test binary, which prints the bits of its weights for the parent to compare.

mod common;

use common::{params, Stream};
use frechet::ndarray::{Array2, Array4};
use frechet::prelude::*;
use frechet::Isa;

network! {
    /// Wide 3 × 3 convolutions (the direct kernels) and max pooling, as PyTorch's MNIST
    /// example, at a smaller width.
    struct WideConv {
        input: [1, 20, 20],
        conv1: Conv2d(16, kernel = 3) -> ReLU,
        conv2: Conv2d(32, kernel = 3) -> ReLU,
        pool:  MaxPool2d(2),
        flat:  Flatten,
        fc:    Dense(10),
    }
}

network! {
    /// LeNet-shaped: convolutions through unrolled products, and both pools.
    struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5, padding = 2) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5) -> ReLU,
        pool2: AvgPool2d(2),
        flat:  Flatten,
        fc1:   Dense(84) -> ReLU,
        fc2:   Dense(10),
    }
}

network! {
    /// Products large enough for the packed micro-kernels.
    struct Wide {
        input: [300],
        fc1: Dense(260) -> ReLU,
        fc2: Dense(10),
    }
}

/// The bits of every weight after a few Adam steps of each network, as hexadecimal:
/// the wide convnet's, then the others'.
fn trained_bits() -> [String; 2] {
    let mut data = Stream(7);
    let labels: Vec<usize> = (0..48).map(|i| (i * 7) % 10).collect();
    let mut words = Vec::new();

    let x = Array4::from_shape_fn((48, 1, 20, 20), |_| data.next());
    let mut wide_conv = WideConv::new(1);
    let mut adam = Adam::new(1e-3);
    for _ in 0..2 {
        wide_conv.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut adam);
    }
    let wide_conv = hex(&params(&wide_conv));

    let x = Array4::from_shape_fn((48, 1, 28, 28), |_| data.next());
    let mut lenet = LeNet::new(2);
    let mut adam = Adam::new(1e-3);
    for _ in 0..2 {
        lenet.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut adam);
    }
    words.extend(params(&lenet));

    let x: Array2<f32> = data.matrix(48, 300);
    let mut wide = Wide::new(3);
    let mut adam = Adam::new(1e-3);
    for _ in 0..2 {
        wide.train_step(x.view(), &labels[..], &SoftmaxCrossEntropy, &mut adam);
    }
    words.extend(params(&wide));
    [wide_conv, hex(&words)]
}

fn hex(words: &[f32]) -> String {
    words
        .iter()
        .map(|w| format!("{:08x}", w.to_bits()))
        .collect()
}

#[test]
fn every_instruction_set_path_trains_the_same_network() {
    const CHILD: &str = "FRECHET_ISA_CHILD";
    if std::env::var_os(CHILD).is_some() {
        println!("path: {}", Isa::current());
        let [wide_conv, others] = trained_bits();
        println!("wide conv: {wide_conv}");
        println!("others: {others}");
        return;
    }
    let run = |isa: Isa| {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "every_instruction_set_path_trains_the_same_network",
                "--nocapture",
            ])
            .env("FRECHET_ISA", isa.name())
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "FRECHET_ISA={isa}:\n{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let field = |name: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap_or_else(|| panic!("FRECHET_ISA={isa}: no `{name}` line in\n{stdout}"))
                .to_string()
        };
        assert_eq!(field("path: "), isa.name(), "the child took another path");
        [field("wide conv: "), field("others: ")]
    };
    let paths: Vec<Isa> = [Isa::Generic, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter(|&isa| isa <= Isa::detected())
        .collect();
    let widest = *paths.last().unwrap();
    let expected = run(widest);
    for &isa in &paths[..paths.len() - 1] {
        let got = run(isa);
        for (network, got, expected) in [
            ("wide conv", &got[0], &expected[0]),
            ("others", &got[1], &expected[1]),
        ] {
            if isa == Isa::Generic || network == "wide conv" {
                let (got, expected) = (floats(got), floats(expected));
                let scale = expected.iter().fold(0f32, |m, w| m.max(w.abs()));
                let worst = got
                    .iter()
                    .zip(&expected)
                    .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    got.len() == expected.len() && worst <= 1e-5 * scale,
                    "{network}: FRECHET_ISA={isa} is {worst} from {widest}'s weights (scale {scale})"
                );
            } else {
                assert!(
                    got == expected,
                    "{network}: FRECHET_ISA={isa} trains other bits than {widest}"
                );
            }
        }
    }
}

/// The weights a child printed.
fn floats(bits: &str) -> Vec<f32> {
    (0..bits.len())
        .step_by(8)
        .map(|i| f32::from_bits(u32::from_str_radix(&bits[i..i + 8], 16).unwrap()))
        .collect()
}

#[test]
fn the_environment_narrows_the_path_and_never_widens_it() {
    assert!(Isa::current() <= Isa::detected());
    if let Some(wanted) = std::env::var("FRECHET_ISA")
        .ok()
        .and_then(|v| Isa::from_name(&v))
    {
        assert_eq!(Isa::current(), wanted.min(Isa::detected()));
    }
}

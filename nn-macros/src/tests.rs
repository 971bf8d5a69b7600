//! The pipeline never panics: on random token streams and on mutations of valid
//! declarations it answers with an expansion or with `compile_error!`s.

use std::str::FromStr;

use proc_macro2::TokenStream;
use proptest::prelude::*;

use crate::network_tokens;

const LENET: &str = "
    /// LeNet.
    #[derive(Clone)]
    pub struct LeNet {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel = 5, stride = 1, padding = 2) -> ReLU,
        pool1: MaxPool2d(2),
        conv2: Conv2d(16, kernel = 5) -> LeakyReLU(0.01),
        pool2: AvgPool2d(2, stride = 2),
        flat: Flatten,
        fc1: Dense(120) -> Sigmoid,
        fc2: Dense(84) -> Tanh,
        fc3: Dense(10) -> Identity,
    }
";

/// Pieces declarations are made of, valid and not.
const PIECES: &[&str] = &[
    "struct",
    "pub",
    "Net",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    ":",
    "->",
    "=",
    "-",
    "#",
    "input",
    "fc",
    "conv",
    "Dense",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Identity",
    "kernel",
    "stride",
    "padding",
    "0",
    "1",
    "2",
    "5",
    "28",
    "784",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "99999999999999999999999",
    "1.5",
    "-3",
    "0.01",
    "1e40",
    "NaN",
    "\"text\"",
    "'c'",
    "_",
    "///doc\n",
    "/// doc\n",
];

fn expand(source: &str) -> Option<TokenStream> {
    TokenStream::from_str(source).ok().map(network_tokens)
}

#[test]
fn a_valid_declaration_expands_without_errors() {
    let out = expand(LENET).unwrap().to_string();
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("struct LeNet"));
}

/// Not a test but a measurement, run by `tools/compile_time.sh`: the time the pipeline
/// takes to expand LeNet, which is the macro's share of rebuilding a crate that declares
/// it.
#[test]
#[ignore = "a measurement: tools/compile_time.sh runs it"]
fn time_lenet_expansion() {
    let input = TokenStream::from_str(LENET).unwrap();
    let runs = 200;
    let start = std::time::Instant::now();
    let mut chars = 0;
    for _ in 0..runs {
        chars = network_tokens(input.clone()).to_string().len();
    }
    let each = start.elapsed() / runs;
    let build = if cfg!(debug_assertions) {
        "unoptimised, as cargo builds proc macros by default"
    } else {
        "optimised"
    };
    eprintln!("network! expands LeNet in {each:.2?} ({build}) into {chars} characters");
}

#[test]
fn a_mistake_gives_errors_and_a_stand_in() {
    let out = expand(&LENET.replace("kernel = 5)", "kernel = 50)"))
        .unwrap()
        .to_string();
    // The stand-in is the expansion of a network of one `Rejected` layer.
    let stand_in = "pub __rejected : :: frechet :: layer :: Rejected";
    assert!(out.contains("compile_error"));
    assert!(out.contains(stand_in), "{out}");
    let out = expand(&LENET.replace("pool1: MaxPool2d(2),", "pool1: MaxPool2d(2)"))
        .unwrap()
        .to_string();
    assert!(out.contains("compile_error"));
    assert!(out.contains(stand_in), "{out}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_pieces_never_panic(pieces in prop::collection::vec(prop::sample::select(PIECES), 0..40)) {
        let source = format!("struct Net {{ {} }}", pieces.join(" "));
        expand(&source);
        expand(&pieces.join(" "));
    }

    #[test]
    fn mutated_declarations_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(PIECES)), 1..4)
    ) {
        // Edit LeNet's tokens: delete one, replace one, or insert one.
        let mut words: Vec<String> = LENET.split_whitespace().map(str::to_string).collect();
        for (index, kind, piece) in edits {
            let i = index.index(words.len() + 1);
            match kind {
                0 if i < words.len() => { words.remove(i); }
                1 if i < words.len() => words[i] = piece.to_string(),
                _ => words.insert(i, piece.to_string()),
            }
        }
        expand(&words.join(" "));
    }

    /// Numbers of every size in every float argument: none may reach a `Literal` that
    /// refuses it (an infinite `f32`).
    #[test]
    fn any_float_arguments_never_panic(
        eps in prop::sample::select(vec!["1e40", "1e-50", "0.0", "-1.0", "3", "1e308", "0.5"]),
        rate in prop::sample::select(vec!["1e40", "0.99999999", "0", "-0.0", "1"]),
    ) {
        let source = format!(
            "struct Net {{ input: [4], fc: Dense(3) -> LeakyReLU({rate}), bn: BatchNorm1d(eps = {eps}, momentum = {rate}), drop: Dropout({rate}), out: Dense(2) }}"
        );
        expand(&source);
    }

    /// Small sizes, so that many of these are valid and go through expansion too.
    #[test]
    fn any_sizes_never_panic(
        c in 0..6u64, h in 0..30u64, out in 0..6u64,
        k in 0..8u64, s in 0..4u64, p in 0..4u64, slope in -1.0..2.0f64,
    ) {
        let source = format!(
            "struct Net {{ input: [{c}, {h}, {h}], conv: Conv2d({out}, kernel = {k}, stride = {s}, padding = {p}) -> LeakyReLU({slope:?}), pool: MaxPool2d({k}, stride = {s}), flat: Flatten, fc: Dense({out}) }}"
        );
        expand(&source);
    }
}

//! The safetensors loader on arbitrary bytes: the input is written to a file and loaded
//! with `frechet::safetensors::load_into` into two networks declared with `network!`
//! (Dense layers; a convolution with pooling and flatten). A panic, a failed load that
//! changed the network, or a load that held more memory than the file justifies is a
//! crash.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use frechet::safetensors::load_into;
use frechet_fuzz::{assert_within, measure, safetensors_bound, Cnn, Mlp};
use libfuzzer_sys::fuzz_target;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| frechet_fuzz::scratch_dir("safetensors").join("input.st"))
}

fuzz_target!(|data: &[u8]| {
    let path = path();
    std::fs::write(path, data).expect("cannot write the input");

    let mut mlp = Mlp::new(1);
    let before = mlp.clone();
    let (result, peak) = measure(|| load_into(&mut mlp, path));
    assert_within("Mlp", data.len(), peak, safetensors_bound(data.len()));
    if result.is_err() {
        assert_eq!(mlp, before, "a failed load changed the network");
    }

    let mut cnn = Cnn::new(2);
    let before = cnn.clone();
    let (result, peak) = measure(|| load_into(&mut cnn, path));
    assert_within("Cnn", data.len(), peak, safetensors_bound(data.len()));
    if result.is_err() {
        assert_eq!(cnn, before, "a failed load changed the network");
    }
});

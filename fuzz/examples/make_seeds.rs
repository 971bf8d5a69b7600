//! Writes the seed corpora under `fuzz/seeds/`: valid files for each target, from which
//! the fuzzer mutates. Run from the repository root:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example make_seeds
//! ```
//!
//! The seeds are deterministic: running this again rewrites the same bytes.

use std::path::Path;

use flate2::Compression;
use frechet::Network;
use frechet_fuzz::{gzip, idx_bytes, mnist_files, Cnn, Mlp};

/// `net`'s tensors as PyTorch writes them: `__metadata__` `{"format":"pt"}`, and the
/// tensors in an order and at offsets of the writer's choosing (here: reversed, and the
/// data unaligned).
fn pytorch_style(net: &impl Network<Elem = f32>) -> Vec<u8> {
    let mut header = String::from(r#"{"__metadata__":{"format":"pt"}"#);
    let mut data = Vec::new();
    let mut tensors = Vec::new();
    for (layer_name, layer) in net.layers() {
        for (i, param) in layer.param_names().iter().enumerate() {
            tensors.push((
                format!("{layer_name}.{param}"),
                layer.param_shape(i),
                layer.param(i),
            ));
        }
    }
    for (name, shape, values) in tensors.iter().rev() {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        header += &format!(
            r#","{name}":{{"dtype":"F32","shape":{shape:?},"data_offsets":[{start},{}]}}"#,
            data.len()
        );
    }
    header += "}";
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    bytes
}

fn saved(save: impl FnOnce(&Path) -> Result<(), frechet::Error>) -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("make-seeds-{}.st", std::process::id()));
    save(&path).expect("cannot save");
    let bytes = std::fs::read(&path).expect("cannot read back");
    std::fs::remove_file(&path).expect("cannot remove");
    bytes
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("cannot create the seed directory");
    std::fs::write(dir.join(name), bytes).expect("cannot write a seed");
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");

    // safetensors_load: each network as frechet saves it and as PyTorch would.
    let dir = root.join("safetensors_load");
    let (mlp, cnn) = (Mlp::new(1), Cnn::new(2));
    write(
        &dir,
        "mlp-frechet",
        &saved(|path| mlp.save_safetensors(path)),
    );
    write(
        &dir,
        "cnn-frechet",
        &saved(|path| cnn.save_safetensors(path)),
    );
    write(&dir, "mlp-pytorch", &pytorch_style(&mlp));
    write(&dir, "cnn-pytorch", &pytorch_style(&cnn));

    // idx_load: a mode byte (hostile file in bits 0–1, encoding in bits 2–3), then the
    // file. Each of the four files of the harness's valid dataset, plain, to be gzipped
    // by the harness, and gzipped here (a real deflate stream to mutate); and the first
    // bytes of the bundled MNIST test labels, as distributed (a `.gz` from elsewhere).
    let dir = root.join("idx_load");
    for (target, file) in mnist_files().iter().enumerate() {
        for (encoding, name, bytes) in [
            (0u8, "plain", file.clone()),
            (1, "gzip-by-harness", file.clone()),
            (2, "gz", gzip(file, Compression::best())),
        ] {
            let mut seed = vec![target as u8 | encoding << 2];
            seed.extend_from_slice(&bytes);
            write(&dir, &format!("file{target}-{name}"), &seed);
        }
    }
    let bundled =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/mnist-10k/t10k-labels-idx1-ubyte.gz");
    let mut seed = vec![3 | 2 << 2];
    seed.extend_from_slice(&std::fs::read(bundled).expect("the bundled MNIST labels"));
    write(&dir, "file3-gz-bundled-mnist", &seed);
    // Two labels in a file whose header declares three: to be extended by the fuzzer.
    let mut seed = vec![1];
    seed.extend_from_slice(&idx_bytes(1, &[3], &[5, 0]));
    write(&dir, "file1-plain-truncated", &seed);
}

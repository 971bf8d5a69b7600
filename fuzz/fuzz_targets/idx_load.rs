//! The IDX reader on arbitrary bytes, through `frechet::data::Mnist::load`.
//!
//! The first byte of the input chooses which of the four MNIST files is hostile (bits 0
//! and 1, in the order the loader reads them) and how it is written (bits 2 and 3):
//!
//! - 0 and 3: the rest of the input as a plain file;
//! - 1: the rest of the input gzipped by the harness (hostile IDX behind valid gzip);
//! - 2: the rest of the input as a `.gz` file (a hostile gzip stream).
//!
//! The other three files are small and valid. A panic, a successful load whose arrays
//! disagree with each other, or a load that held more memory than the IDX data it was
//! given (for a `.gz` file, what the file really decompresses to) justifies is a crash.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use flate2::Compression;
use frechet::data::Mnist;
use frechet_fuzz::{assert_within, gunzipped_len, gzip, measure, mnist_bound, MNIST_NAMES};
use libfuzzer_sys::fuzz_target;

/// One directory per hostile file, holding the other three valid files, and the bytes
/// of those three.
fn dirs() -> &'static [(PathBuf, usize); 4] {
    static DIRS: OnceLock<[(PathBuf, usize); 4]> = OnceLock::new();
    DIRS.get_or_init(|| {
        let files = frechet_fuzz::mnist_files();
        std::array::from_fn(|target| {
            let dir = frechet_fuzz::scratch_dir(&format!("idx-{target}"));
            let mut valid_bytes = 0;
            for (i, (name, bytes)) in MNIST_NAMES.iter().zip(&files).enumerate() {
                if i != target {
                    std::fs::write(dir.join(name), bytes).expect("cannot write a valid file");
                    valid_bytes += bytes.len();
                }
            }
            (dir, valid_bytes)
        })
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, content)) = data.split_first() else {
        return;
    };
    let target = usize::from(mode & 3);
    let (dir, valid_idx_bytes) = &dirs()[target];
    let name = MNIST_NAMES[target];
    let (plain, gz) = (dir.join(name), dir.join(format!("{name}.gz")));

    let (bytes, is_gz, hostile_idx_bytes) = match (mode >> 2) & 3 {
        1 => (gzip(content, Compression::fast()), true, content.len()),
        2 => (content.to_vec(), true, gunzipped_len(content)),
        _ => (content.to_vec(), false, content.len()),
    };
    let (write, remove) = if is_gz { (&gz, &plain) } else { (&plain, &gz) };
    let _ = std::fs::remove_file(remove);
    std::fs::write(write, &bytes).expect("cannot write the input");

    let idx_bytes = valid_idx_bytes + hostile_idx_bytes;

    let (result, peak) = measure(|| Mnist::load(dir));
    assert_within("Mnist::load", idx_bytes, peak, mnist_bound(idx_bytes));
    if let Ok(mnist) = result {
        for (images, labels) in [
            (&mnist.train_images, &mnist.train_labels),
            (&mnist.test_images, &mnist.test_labels),
        ] {
            let (count, channels, rows, cols) = images.dim();
            assert_eq!((channels, rows, cols), (1, 28, 28));
            assert_eq!(count, labels.len());
            assert!(labels.iter().all(|&label| label < 10));
            assert!(images.iter().all(|&v| (0.0..=1.0).contains(&v)));
        }
    }
});

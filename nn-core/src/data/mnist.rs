//! The MNIST handwritten digits, read from the four original IDX files.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use ndarray::{Array4, CowArray, Ix2};

use super::idx;
use crate::Error;

/// Side length of an MNIST image in pixels.
const SIDE: usize = 28;

/// The number of classes (digits 0–9).
const CLASSES: usize = 10;

/// The largest image or label count accepted: well above the full MNIST's 60,000 + 10,000
/// and EMNIST's 814,255, so that anything beyond it is taken for a corrupt header. It also
/// bounds what a small gzip file can make the reader hold: 784 MB of pixels at most.
const MAX_COUNT: usize = 1_000_000;

/// The MNIST handwritten digits: 28×28 grey images of the digits 0–9, with their labels.
///
/// # Layout
///
/// - `train_images` and `test_images` have shape `(N, 1, 28, 28)`: image, channel (one,
///   grey), row (top to bottom), column (left to right) — the NCHW layout PyTorch uses, so
///   `images.slice(s![i, 0, .., ..])` is image `i`. Pixel values are the file's bytes
///   divided by 255, so they lie in `[0, 1]`, with 0.0 the background and 1.0 full ink.
/// - `train_labels` and `test_labels` hold the digit (`0..=9`) of the image with the same
///   index: `train_labels.len() == train_images.dim().0`.
///
/// [`Mnist::train_vectors`] and [`Mnist::test_vectors`] give the same images as
/// `(N, 784)` rows, the input of a multilayer perceptron (`input: [784]`).
///
/// The standard split is 60,000 training and 10,000 test images; the subset bundled in
/// `data/mnist-10k` has 8,000 and 2,000.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// Training images, shape `(N, 1, 28, 28)`, values in `[0, 1]`.
    pub train_images: Array4<f32>,
    /// Training labels, one digit `0..=9` per training image.
    pub train_labels: Vec<usize>,
    /// Test images, shape `(M, 1, 28, 28)`, values in `[0, 1]`.
    pub test_images: Array4<f32>,
    /// Test labels, one digit `0..=9` per test image.
    pub test_labels: Vec<usize>,
}

impl Mnist {
    /// Loads MNIST from the directory `dir`, which must hold the four files of the original
    /// distribution:
    ///
    /// | file | contents |
    /// |---|---|
    /// | `train-images-idx3-ubyte` | training images, N × 28 × 28 bytes |
    /// | `train-labels-idx1-ubyte` | training labels, N bytes |
    /// | `t10k-images-idx3-ubyte` | test images, M × 28 × 28 bytes |
    /// | `t10k-labels-idx1-ubyte` | test labels, M bytes |
    ///
    /// Each file may instead be gzip-compressed with a `.gz` suffix added to its name, as
    /// distributed. When both spellings exist the plain (uncompressed) file is read.
    ///
    /// # Errors
    ///
    /// - [`Error::Io`] if a file cannot be opened or read; when neither spelling of a
    ///   file exists, the error names the plain path and mentions both.
    /// - [`Error::Malformed`] if a file is not a valid IDX file of the expected kind:
    ///   wrong magic number or number of dimensions, truncated header or data, bytes after
    ///   the data, images that are not 28×28, an absurd count (over 1,000,000), corrupt
    ///   gzip data, a label above 9, or an image file and label file whose counts differ.
    ///
    /// Every error names the file involved. A malformed header never causes a large
    /// allocation: memory grows only with the bytes actually in the file (for a `.gz`
    /// file, the bytes it really decompresses to, at most 1,000,000 images).
    ///
    /// # Example
    ///
    /// ```no_run
    /// let mnist = nn_core::data::Mnist::load("data/mnist-10k")?;
    /// assert_eq!(mnist.train_images.dim().1, 1);
    /// assert_eq!(mnist.train_labels.len(), mnist.train_images.dim().0);
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, Error> {
        let dir = dir.as_ref();
        let (train_images, train_labels) =
            load_split(dir, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")?;
        let (test_images, test_labels) =
            load_split(dir, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")?;
        Ok(Mnist {
            train_images,
            train_labels,
            test_images,
            test_labels,
        })
    }

    /// The training images as vectors: shape `(N, 784)`, row `i` holding image `i`'s
    /// pixels row by row (top to bottom, each left to right), which is PyTorch's
    /// `images.view(N, -1)` and the order `Flatten` gives.
    ///
    /// A view of [`Mnist::train_images`] without a copy, as the loader makes contiguous
    /// arrays; a copy only if the field has been replaced by an array in another
    /// layout. (Replaced by images of another size, `(N, C, H, W)` gives
    /// `(N, C × H × W)`.)
    ///
    /// ```no_run
    /// let mnist = nn_core::data::Mnist::load("data/mnist-10k")?;
    /// let x = mnist.train_vectors();
    /// assert_eq!(x.dim(), (8000, 784));
    /// // x.view() is the ArrayView2<f32> that `Trainer::fit` and `forward` take.
    /// # Ok::<(), nn_core::Error>(())
    /// ```
    pub fn train_vectors(&self) -> CowArray<'_, f32, Ix2> {
        vectors(&self.train_images)
    }

    /// The test images as vectors, shape `(M, 784)`: see [`Mnist::train_vectors`].
    pub fn test_vectors(&self) -> CowArray<'_, f32, Ix2> {
        vectors(&self.test_images)
    }
}

/// `(N, C, H, W)` images as `(N, C × H × W)` rows in row-major order: a view when the
/// images are in standard layout, a copy otherwise.
fn vectors(images: &Array4<f32>) -> CowArray<'_, f32, Ix2> {
    let (n, c, h, w) = images.dim();
    images
        .to_shape((n, c * h * w))
        .expect("the same number of elements in either shape")
}

/// Loads one split (training or test): an image file and a label file of equal count.
fn load_split(
    dir: &Path,
    images_name: &str,
    labels_name: &str,
) -> Result<(Array4<f32>, Vec<usize>), Error> {
    let (images_path, images_file) = open(dir, images_name)?;
    let images = read_images(images_file, &images_path)?;
    let (labels_path, labels_file) = open(dir, labels_name)?;
    let labels = read_labels(labels_file, &labels_path)?;
    let count = images.dim().0;
    if labels.len() != count {
        return Err(Error::malformed(
            &labels_path,
            format!(
                "holds {} labels, but {} holds {count} images",
                labels.len(),
                images_path.display()
            ),
        ));
    }
    Ok((images, labels))
}

/// Opens `dir/name`, or `dir/name.gz` if the plain file does not exist.
fn open(dir: &Path, name: &str) -> Result<(PathBuf, File), Error> {
    let plain = dir.join(name);
    match File::open(&plain) {
        Ok(file) => return Ok((plain, file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(plain, e)),
    }
    let gz = dir.join(format!("{name}.gz"));
    match File::open(&gz) {
        Ok(file) => Ok((gz, file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let source = io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "MNIST file not found: neither `{name}` nor `{name}.gz` exists in {}",
                    dir.display()
                ),
            );
            Err(Error::io(plain, source))
        }
        Err(e) => Err(Error::io(gz, e)),
    }
}

/// Reads an image file: `N × 28 × 28` bytes, scaled to `[0, 1]`.
fn read_images(file: File, path: &Path) -> Result<Array4<f32>, Error> {
    let idx = idx::read(file, path, 3, |dims| {
        let (count, rows, cols) = (dims[0], dims[1], dims[2]);
        if (rows, cols) != (SIDE, SIDE) {
            return Err(format!(
                "expected {SIDE}×{SIDE} images, found {rows}×{cols}"
            ));
        }
        check_count(count, "images")
    })?;
    let count = idx.dims[0];
    let pixels: Vec<f32> = idx.data.iter().map(|&b| f32::from(b) / 255.0).collect();
    Array4::from_shape_vec((count, 1, SIDE, SIDE), pixels).map_err(|e| {
        // Unreachable: the reader returns exactly `count × 28 × 28` bytes.
        Error::malformed(path, format!("image data does not fit its header: {e}"))
    })
}

/// Reads a label file: `N` bytes, each a digit `0..=9`.
fn read_labels(file: File, path: &Path) -> Result<Vec<usize>, Error> {
    let idx = idx::read(file, path, 1, |dims| check_count(dims[0], "labels"))?;
    idx.data
        .iter()
        .enumerate()
        .map(|(i, &label)| {
            if usize::from(label) < CLASSES {
                Ok(usize::from(label))
            } else {
                Err(Error::malformed(
                    path,
                    format!(
                        "label {label} at index {i} is out of range: expected a digit 0–{}",
                        CLASSES - 1
                    ),
                ))
            }
        })
        .collect()
}

fn check_count(count: usize, what: &str) -> Result<(), String> {
    if count > MAX_COUNT {
        Err(format!(
            "absurd count: the header declares {count} {what}, more than the limit of {MAX_COUNT}"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ndarray::ShapeBuilder;
    use tempfile::{tempdir, TempDir};

    use super::idx::test_files::{assert_malformed, gzip, idx_bytes};
    use super::*;

    const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
    const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
    const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
    const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
    const NAMES: [&str; 4] = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS];

    /// Pixel `(r, c)` of synthetic image `i`.
    fn pixel(i: usize, r: usize, c: usize) -> u8 {
        ((i * 7 + r * 28 + c) % 256) as u8
    }

    fn images_bytes(count: usize) -> Vec<u8> {
        let mut data = Vec::new();
        for i in 0..count {
            for r in 0..SIDE {
                for c in 0..SIDE {
                    data.push(pixel(i, r, c));
                }
            }
        }
        idx_bytes(0x0000_0803, &[count as u32, 28, 28], &data)
    }

    fn labels_bytes(labels: &[u8]) -> Vec<u8> {
        idx_bytes(0x0000_0801, &[labels.len() as u32], labels)
    }

    /// The four files of a small valid dataset: 3 training images, 2 test images.
    fn synthetic() -> [(&'static str, Vec<u8>); 4] {
        [
            (TRAIN_IMAGES, images_bytes(3)),
            (TRAIN_LABELS, labels_bytes(&[5, 0, 9])),
            (TEST_IMAGES, images_bytes(2)),
            (TEST_LABELS, labels_bytes(&[1, 7])),
        ]
    }

    /// Writes `files` into a new temporary directory, each gzipped (with `.gz` added to its
    /// name) if `gz`.
    fn write_dir(files: &[(&str, Vec<u8>)], gz: bool) -> TempDir {
        let dir = tempdir().unwrap();
        for (name, bytes) in files {
            if gz {
                std::fs::write(dir.path().join(format!("{name}.gz")), gzip(bytes)).unwrap();
            } else {
                std::fs::write(dir.path().join(name), bytes).unwrap();
            }
        }
        dir
    }

    /// Loads the synthetic dataset with file `name` replaced by `bytes`, written plain, and
    /// returns the error.
    fn load_with(name: &str, bytes: Vec<u8>) -> Error {
        let mut files = synthetic();
        files.iter_mut().find(|(n, _)| *n == name).unwrap().1 = bytes;
        let dir = write_dir(&files, false);
        Mnist::load(dir.path()).unwrap_err()
    }

    #[test]
    fn data_mnist_loads_bundled_subset() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/mnist-10k");
        let mnist = Mnist::load(dir).unwrap();
        assert_eq!(mnist.train_images.dim(), (8000, 1, 28, 28));
        assert_eq!(mnist.test_images.dim(), (2000, 1, 28, 28));
        assert_eq!(mnist.train_labels.len(), 8000);
        assert_eq!(mnist.test_labels.len(), 2000);
        for images in [&mnist.train_images, &mnist.test_images] {
            assert!(images.iter().all(|&v| (0.0..=1.0).contains(&v)));
            assert!(images.iter().any(|&v| v == 1.0));
            let zeros = images.iter().filter(|&&v| v == 0.0).count();
            assert!(zeros * 2 > images.len(), "{zeros} of {}", images.len());
        }
        let mut counts = [0usize; 10];
        for &label in &mnist.test_labels {
            counts[label] += 1;
        }
        assert_eq!(counts, [196, 237, 209, 199, 211, 160, 168, 219, 205, 196]);
        let mut train_counts = [0usize; 10];
        for &label in &mnist.train_labels {
            train_counts[label] += 1;
        }
        assert!(train_counts.iter().all(|&n| n > 500), "{train_counts:?}");
    }

    fn check_synthetic(mnist: &Mnist) {
        assert_eq!(mnist.train_images.dim(), (3, 1, 28, 28));
        assert_eq!(mnist.test_images.dim(), (2, 1, 28, 28));
        assert_eq!(mnist.train_labels, [5, 0, 9]);
        assert_eq!(mnist.test_labels, [1, 7]);
        for images in [&mnist.train_images, &mnist.test_images] {
            for ((i, ch, r, c), &v) in images.indexed_iter() {
                assert_eq!(ch, 0);
                assert_eq!(v, f32::from(pixel(i, r, c)) / 255.0, "({i}, {r}, {c})");
            }
        }
        // Pixel 255 exists (i = 0, r = 9, c = 3) and maps to exactly 1.0.
        assert_eq!(mnist.train_images[[0, 0, 9, 3]], 1.0);
        assert_eq!(mnist.train_images[[0, 0, 0, 0]], 0.0);
    }

    #[test]
    fn data_mnist_vectors_are_the_images_row_by_row_without_a_copy() {
        let dir = write_dir(&synthetic(), false);
        let mnist = Mnist::load(dir.path()).unwrap();
        for (images, vectors) in [
            (&mnist.train_images, mnist.train_vectors()),
            (&mnist.test_images, mnist.test_vectors()),
        ] {
            assert_eq!(vectors.dim(), (images.dim().0, 784));
            assert!(vectors.is_view(), "the loader's images are contiguous");
            assert_eq!(vectors.as_ptr(), images.as_ptr());
            for ((i, k), &v) in vectors.indexed_iter() {
                assert_eq!(v, f32::from(pixel(i, k / 28, k % 28)) / 255.0, "({i}, {k})");
            }
        }
    }

    #[test]
    fn data_mnist_vectors_of_images_in_another_layout_or_size() {
        let mut mnist = Mnist::load(write_dir(&synthetic(), false).path()).unwrap();
        // Images stored column-major: the vectors are a copy, still row by row.
        let standard = mnist.train_images.clone();
        let mut fortran = Array4::zeros(standard.raw_dim().f());
        fortran.assign(&standard);
        mnist.train_images = fortran;
        let vectors = mnist.train_vectors();
        assert!(!vectors.is_view());
        assert_eq!(
            vectors,
            standard.to_shape((3, 784)).unwrap(),
            "the same rows as from the standard layout"
        );
        // Other sizes, and none.
        mnist.test_images = Array4::zeros((2, 3, 4, 5));
        assert_eq!(mnist.test_vectors().dim(), (2, 60));
        mnist.test_images = Array4::zeros((0, 1, 28, 28));
        assert_eq!(mnist.test_vectors().dim(), (0, 784));
    }

    #[test]
    fn data_mnist_loads_synthetic_plain_and_gzip() {
        let plain = write_dir(&synthetic(), false);
        check_synthetic(&Mnist::load(plain.path()).unwrap());
        let gz = write_dir(&synthetic(), true);
        check_synthetic(&Mnist::load(gz.path()).unwrap());
    }

    #[test]
    fn data_mnist_prefers_plain_file_and_mixes_spellings() {
        let files = synthetic();
        // Train files plain, test files gzipped.
        let dir = write_dir(&files[..2], false);
        for (name, bytes) in &files[2..] {
            std::fs::write(dir.path().join(format!("{name}.gz")), gzip(bytes)).unwrap();
        }
        check_synthetic(&Mnist::load(dir.path()).unwrap());
        // A broken `.gz` next to a good plain file is ignored.
        std::fs::write(dir.path().join(format!("{TRAIN_LABELS}.gz")), b"junk").unwrap();
        check_synthetic(&Mnist::load(dir.path()).unwrap());
    }

    #[test]
    fn data_mnist_missing_file_is_io_error_naming_both_spellings() {
        for missing in NAMES {
            let files: Vec<_> = synthetic()
                .into_iter()
                .filter(|(n, _)| *n != missing)
                .collect();
            let dir = write_dir(&files, false);
            let err = Mnist::load(dir.path()).unwrap_err();
            let Error::Io { path, source } = &err else {
                panic!("{err:?}")
            };
            assert_eq!(path, &dir.path().join(missing));
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
            let message = err.to_string();
            assert!(message.contains(missing), "{message}");
            assert!(message.contains(&format!("{missing}.gz")), "{message}");
        }
        // A missing directory too.
        let dir = tempdir().unwrap();
        let err = Mnist::load(dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(TRAIN_IMAGES), "{err}");
    }

    #[test]
    fn data_mnist_rejects_wrong_magic() {
        let mut bytes = images_bytes(3);
        bytes[..4].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
        let err = load_with(TRAIN_IMAGES, bytes);
        assert_malformed(&err, TRAIN_IMAGES, &["0x00000803", "0xdeadbeef"]);
    }

    #[test]
    fn data_mnist_rejects_wrong_rank() {
        // A label file where an image file belongs, and vice versa.
        let err = load_with(TEST_IMAGES, labels_bytes(&[1, 7]));
        assert_malformed(&err, TEST_IMAGES, &["0x00000803", "0x00000801"]);
        let err = load_with(TEST_LABELS, images_bytes(2));
        assert_malformed(&err, TEST_LABELS, &["0x00000801", "0x00000803"]);
    }

    #[test]
    fn data_mnist_rejects_truncated_header() {
        let err = load_with(TRAIN_IMAGES, images_bytes(3)[..10].to_vec());
        assert_malformed(
            &err,
            TRAIN_IMAGES,
            &["truncated header: expected 16 bytes, found 10"],
        );
        let err = load_with(TRAIN_LABELS, vec![0, 0, 8]);
        assert_malformed(
            &err,
            TRAIN_LABELS,
            &["truncated header: expected 8 bytes, found 3"],
        );
    }

    #[test]
    fn data_mnist_rejects_truncated_data() {
        let bytes = images_bytes(3);
        let err = load_with(TRAIN_IMAGES, bytes[..bytes.len() - 1].to_vec());
        assert_malformed(
            &err,
            TRAIN_IMAGES,
            &["truncated data", "3×28×28 = 2352 bytes of data, found 2351"],
        );
        let err = load_with(TEST_LABELS, idx_bytes(0x0000_0801, &[2], &[1]));
        assert_malformed(
            &err,
            TEST_LABELS,
            &["truncated data", "2 bytes of data, found 1"],
        );
    }

    #[test]
    fn data_mnist_rejects_trailing_bytes() {
        let mut bytes = images_bytes(2);
        bytes.push(0);
        let err = load_with(TEST_IMAGES, bytes);
        assert_malformed(
            &err,
            TEST_IMAGES,
            &["1 trailing byte after the 1568 bytes of data"],
        );
    }

    #[test]
    fn data_mnist_rejects_wrong_image_size() {
        let bytes = idx_bytes(0x0000_0803, &[1, 30, 2], &[0; 60]);
        let err = load_with(TRAIN_IMAGES, bytes);
        assert_malformed(&err, TRAIN_IMAGES, &["expected 28×28 images, found 30×2"]);
    }

    #[test]
    fn data_mnist_rejects_absurd_counts() {
        // Too many images or labels: rejected before reading any data.
        let bytes = idx_bytes(0x0000_0803, &[1_000_001, 28, 28], &[]);
        let err = load_with(TRAIN_IMAGES, bytes);
        assert_malformed(&err, TRAIN_IMAGES, &["1000001", "1000000"]);
        let bytes = idx_bytes(0x0000_0801, &[u32::MAX], &[]);
        let err = load_with(TRAIN_LABELS, bytes);
        assert_malformed(&err, TRAIN_LABELS, &["4294967295"]);
        // Overflowing product (checked before the 28×28 rule).
        if usize::BITS == 32 {
            let bytes = idx_bytes(0x0000_0803, &[u32::MAX, u32::MAX, u32::MAX], &[]);
            let err = load_with(TRAIN_IMAGES, bytes);
            assert_malformed(&err, TRAIN_IMAGES, &["overflows"]);
        }
    }

    #[test]
    fn data_mnist_rejects_corrupt_gzip() {
        let good = gzip(&labels_bytes(&[1, 7]));
        // Bad gzip header, then a reserved deflate block type.
        let mut bad_header = good.clone();
        bad_header[0] = b'X';
        let mut bad_deflate = good.clone();
        bad_deflate[10] = 0xff;
        for bad in [bad_header, bad_deflate] {
            let dir = write_dir(&synthetic(), false);
            std::fs::remove_file(dir.path().join(TEST_LABELS)).unwrap();
            let gz_name = format!("{TEST_LABELS}.gz");
            std::fs::write(dir.path().join(&gz_name), bad).unwrap();
            let err = Mnist::load(dir.path()).unwrap_err();
            assert_malformed(&err, &gz_name, &["corrupt gzip data"]);
        }
    }

    #[test]
    fn data_mnist_rejects_count_mismatch() {
        let err = load_with(TRAIN_LABELS, labels_bytes(&[5, 0]));
        assert_malformed(&err, TRAIN_LABELS, &[TRAIN_IMAGES, "2 labels", "3 images"]);
    }

    #[test]
    fn data_mnist_rejects_label_out_of_range() {
        let err = load_with(TEST_LABELS, labels_bytes(&[1, 10]));
        assert_malformed(&err, TEST_LABELS, &["label 10", "index 1"]);
    }
}

//! Hostile bytes for the safetensors loader: random bytes and mutations of valid files
//! (bit flips, byte edits, truncations, insertions, deletions, splices, edits of the
//! numbers in the header and of the header's length, floods of small JSON values) must
//! make `load_into` and `load_safetensors` return `Ok` or `Err`, never panic or hang,
//! leave the network untouched on `Err`, and never allocate more than the file can
//! justify: a few times its length plus a small constant.
//!
//! Memory is measured with a counting global allocator whose counters are per thread
//! (`tests/support/counting.rs`); each load runs on a thread of its own, which also lets
//! a hang fail the test instead of stalling it. The networks and the bounds are shared
//! with the fuzz target (`tests/support/safetensors_nets.rs`). The same checks for the
//! IDX reader behind `Mnist::load` are in `nn-core/tests/hostile_idx.rs` (they need
//! `flate2`, a dependency of nn-core only). Longer runs of the same loaders live in
//! `fuzz/` (cargo-fuzz).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use frechet::Network;
use proptest::prelude::*;
use proptest::sample::Index;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

#[path = "support/counting.rs"]
mod counting;
#[path = "support/edits.rs"]
mod edits;
#[path = "support/safetensors_nets.rs"]
mod safetensors_nets;

use counting::{measured, Usage};
use edits::{run, Edit};
use safetensors_nets::{peak_bound, requested_bound, Cnn, Mlp};

/// Fails unless a load of a file of `file_len` bytes stayed within the bounds.
fn check_usage(file_len: usize, usage: Usage) -> Result<(), String> {
    let file = format!("a {file_len}-byte file");
    usage.within(&file, peak_bound(file_len), requested_bound(file_len))
}

// ---------------------------------------------------------------------------------------
// Valid files of the networks.

/// The bytes `save` writes, given a path.
fn saved(save: impl FnOnce(&Path) -> Result<(), frechet::Error>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.st");
    save(&path).unwrap();
    std::fs::read(&path).unwrap()
}

/// `net`'s tensors written by the safetensors crate with PyTorch's `__metadata__`.
fn with_metadata(net: &impl Network<Elem = f32>) -> Vec<u8> {
    let mut tensors = Vec::new();
    for (layer_name, layer) in net.layers() {
        for (i, param) in layer.param_names().iter().enumerate() {
            let data: Vec<u8> = layer
                .param(i)
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            tensors.push((
                format!("{layer_name}.{param}"),
                layer.param_shape(i).to_vec(),
                data,
            ));
        }
    }
    let views = tensors.iter().map(|(name, shape, data)| {
        let view = TensorView::new(Dtype::F32, shape.clone(), data).unwrap();
        (name.clone(), view)
    });
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize(views, Some(metadata)).unwrap()
}

/// Valid files to mutate: each network saved by frechet, and with PyTorch's metadata.
fn seeds() -> Vec<Vec<u8>> {
    let (mlp, cnn) = (Mlp::new(1), Cnn::new(2));
    vec![
        saved(|path| mlp.save_safetensors(path)),
        saved(|path| cnn.save_safetensors(path)),
        with_metadata(&mlp),
        with_metadata(&cnn),
    ]
}

// ---------------------------------------------------------------------------------------
// Loading hostile bytes.

/// Loads the `file_len`-byte file at `path` with `load_into` into the network `make`
/// builds, all on a thread of its own. Fails if the load panics, hangs, allocates more
/// than the bounds allow, or fails and leaves the network changed; returns whether it
/// succeeded.
fn load_into<N>(
    make: impl FnOnce() -> N + Send + 'static,
    path: &Path,
    file_len: usize,
) -> Result<bool, String>
where
    N: Network + Clone + PartialEq,
{
    let path = path.to_path_buf();
    let (result, usage) = measured(move || {
        let mut net = make();
        let before = net.clone();
        let result = frechet::safetensors::load_into(&mut net, &path);
        (result.is_ok(), result.is_ok() || net == before)
    });
    check_usage(file_len, usage)?;
    let (ok, untouched) = result;
    if !untouched {
        return Err("a failed load changed the network".into());
    }
    Ok(ok)
}

/// Writes `bytes` to a file and loads it into an `Mlp` and a `Cnn` (with `load_into`,
/// checking that a failed load leaves the network as it was) and with
/// `Mlp::load_safetensors`. Fails if a load panics, hangs or allocates more than the
/// bounds allow; returns how many of the loads succeeded.
fn load_all(dir: &Path, bytes: &[u8]) -> Result<usize, String> {
    let path = dir.join("hostile.st");
    std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
    let mut successes = 0;

    successes += usize::from(load_into(|| Mlp::new(7), &path, bytes.len())?);
    successes += usize::from(load_into(|| Cnn::new(8), &path, bytes.len())?);

    // Through the API `network!` generates (it builds the network first: not counted).
    let zeros = Mlp::zeros();
    let bound = peak_bound(bytes.len()) + std::mem::size_of_val(&zeros) + 4 * zeros.num_params();
    let (ok, usage) = measured(move || Mlp::load_safetensors(&path).is_ok());
    if usage.peak > bound {
        return Err(format!(
            "load_safetensors of a {}-byte file held {} bytes (bound {bound})",
            bytes.len(),
            usage.peak
        ));
    }
    successes += usize::from(ok);
    Ok(successes)
}

// ---------------------------------------------------------------------------------------
// Mutations.

/// Numbers worth putting where the header has one: the edges of u32, u64 and the
/// crate's overflow checks, offsets just past the data, and text that is not a usize.
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "4",
    "5",
    "24",
    "100",
    "4096",
    "65536",
    "2147483648",
    "4294967295",
    "4294967296",
    "2305843009213693951",
    "4611686018427387904",
    "9223372036854775807",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999",
    "-1",
    "1.5",
    "1e3",
    "00",
];

/// Lengths for the 8-byte prefix: empty, small, around the crate's 100 MB limit, huge.
const HEADER_LENGTHS: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    100_000_000,
    100_000_001,
    1 << 32,
    (1 << 63) - 1,
    1 << 63,
    u64::MAX - 8,
    u64::MAX,
];

/// One edit of a file. Positions are resolved against the file's length when applied.
#[derive(Clone, Debug)]
enum Mutation {
    /// An edit that knows nothing of the format.
    Edit(Edit),
    /// Replaces one of the numbers in the header (where the loader's scan finds them),
    /// and moves the header length with it.
    EditNumber(Index, String),
    /// Sets the 8-byte header length.
    SetHeaderLength(u64),
    /// Makes the header length match the header again after edits that moved its end
    /// (the header is taken to end at its last `}`).
    FixHeaderLength,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting_byte = prop::sample::select(b"0123456789{}[]\",:-.e \\\x00\xff".to_vec());
    prop_oneof![
        2 => (any::<Index>(), 0..8u8).prop_map(|(at, bit)| Mutation::Edit(Edit::FlipBit(at, bit))),
        1 => (any::<Index>(), prop_oneof![any::<u8>(), interesting_byte.clone()])
            .prop_map(|(at, byte)| Mutation::Edit(Edit::SetByte(at, byte))),
        1 => any::<Index>().prop_map(|at| Mutation::Edit(Edit::Truncate(at))),
        1 => (
            any::<Index>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..16),
                prop::collection::vec(interesting_byte, 1..8),
            ]
        )
            .prop_map(|(at, bytes)| Mutation::Edit(Edit::Insert(at, bytes))),
        1 => (any::<Index>(), 1..64usize).prop_map(|(at, len)| Mutation::Edit(Edit::Delete(at, len))),
        1 => Edit::splice(200).prop_map(Mutation::Edit),
        4 => (
            any::<Index>(),
            prop_oneof![
                prop::sample::select(NUMBERS).prop_map(str::to_owned),
                any::<u64>().prop_map(|n| n.to_string()),
            ]
        )
            .prop_map(|(at, number)| Mutation::EditNumber(at, number)),
        1 => prop_oneof![
            prop::sample::select(HEADER_LENGTHS),
            any::<u64>(),
            0..2000u64
        ]
        .prop_map(Mutation::SetHeaderLength),
        2 => Just(Mutation::FixHeaderLength),
    ]
}

/// The header length a file's first 8 bytes claim, if it has 8 bytes.
fn claimed_length(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Where the header's bytes are, as far as the prefix and the file agree.
fn header_range(bytes: &[u8]) -> std::ops::Range<usize> {
    let claimed = claimed_length(bytes).unwrap_or(0);
    let end = usize::try_from(claimed)
        .unwrap_or(usize::MAX)
        .saturating_add(8)
        .min(bytes.len());
    8.min(end)..end
}

/// Where the header's numbers are in the file: the runs of digits outside strings, found
/// by the loader's own header scan.
fn header_numbers(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let header = header_range(bytes);
    let numbers = frechet::safetensors::json_numbers(&bytes[header.clone()]);
    let in_file = |run: std::ops::Range<usize>| header.start + run.start..header.start + run.end;
    numbers.into_iter().map(in_file).collect()
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation, seeds: &[Vec<u8>]) {
    let len = bytes.len();
    match mutation {
        Mutation::Edit(edit) => edit.apply(bytes, seeds),
        Mutation::EditNumber(which, number) => {
            let runs = header_numbers(bytes);
            if !runs.is_empty() {
                let run = which.get(&runs).clone();
                let old_length = run.len() as u64;
                bytes.splice(run, number.bytes());
                let claimed = claimed_length(bytes).expect("a header holds the number");
                let new_length = claimed
                    .wrapping_add(number.len() as u64)
                    .wrapping_sub(old_length);
                bytes[..8].copy_from_slice(&new_length.to_le_bytes());
            }
        }
        Mutation::SetHeaderLength(n) if len >= 8 => bytes[..8].copy_from_slice(&n.to_le_bytes()),
        Mutation::FixHeaderLength => {
            if let Some(end) = bytes.iter().rposition(|&b| b == b'}') {
                if end >= 8 {
                    let length = (end + 1 - 8) as u64;
                    bytes[..8].copy_from_slice(&length.to_le_bytes());
                }
            }
        }
        _ => {} // an edit at a position an empty (or too short) file does not have
    }
}

fn mutated() -> impl Strategy<Value = (usize, Vec<Mutation>)> {
    (0..4usize, prop::collection::vec(mutation(), 1..6))
}

// ---------------------------------------------------------------------------------------
// Floods: headers full of small JSON values, each of which a JSON parser may keep as a
// node of several words. The file stays short; only the number of values grows.

/// A flood of `count` copies of a small JSON value, put where a parser will read them.
#[derive(Clone, Debug)]
enum Flood {
    /// `"flood":[0,0,…]` as an extra top-level entry.
    Zeros,
    /// `"flood":[[],[],…]`.
    EmptyArrays,
    /// `"flood":["","",…]`.
    EmptyStrings,
    /// `"flood":{"":0,"":0,…}`: the same key over and over.
    DuplicateKeys,
    /// `"t0":{…},"t1":{…},…`: tensors of no elements.
    Tensors,
    /// A first tensor whose shape is `[1,1,…,1,0]`.
    LongShape,
    /// `__metadata__` with many short entries.
    Metadata,
}

fn flood_entry(flood: &Flood, count: usize) -> String {
    let repeat = |item: &str, last: &str| format!("{}{last}", item.repeat(count));
    match flood {
        Flood::Zeros => format!(r#""flood":[{}],"#, repeat("0,", "0")),
        Flood::EmptyArrays => format!(r#""flood":[{}],"#, repeat("[],", "[]")),
        Flood::EmptyStrings => format!(r#""flood":[{}],"#, repeat(r#""","#, r#""""#)),
        Flood::DuplicateKeys => format!(r#""flood":{{{}}},"#, repeat(r#""":0,"#, r#""":0"#)),
        Flood::Tensors => (0..count)
            .map(|i| format!(r#""t{i}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}},"#))
            .collect(),
        Flood::LongShape => format!(
            r#""a":{{"dtype":"F32","shape":[{}],"data_offsets":[0,0]}},"#,
            repeat("1,", "0")
        ),
        Flood::Metadata => format!(
            r#""__metadata__":{{{}}},"#,
            (0..=count)
                .map(|i| format!(r#""{i}":"""#))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// `seed` with `entry` added at the start of its header, and the header length fixed.
fn flooded(seed: &[u8], entry: &str) -> Vec<u8> {
    let header = &seed[8..8 + claimed_length(seed).unwrap() as usize];
    let data = &seed[8 + header.len()..];
    let mut new_header = b"{".to_vec();
    new_header.extend_from_slice(entry.as_bytes());
    new_header.extend_from_slice(&header[1..]);
    let mut bytes = (new_header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(&new_header);
    bytes.extend_from_slice(data);
    bytes
}

fn flood() -> impl Strategy<Value = Flood> {
    prop_oneof![
        Just(Flood::Zeros),
        Just(Flood::EmptyArrays),
        Just(Flood::EmptyStrings),
        Just(Flood::DuplicateKeys),
        Just(Flood::Tensors),
        Just(Flood::LongShape),
        Just(Flood::Metadata),
    ]
}

// ---------------------------------------------------------------------------------------
// The properties.

#[test]
fn the_seeds_are_valid_and_load_within_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds();
    // Each seed loads into its own network and no other one, and all through `load_all`.
    for (i, seed) in seeds.iter().enumerate() {
        let successes = load_all(dir.path(), seed).unwrap();
        let expected = if i % 2 == 0 { 2 } else { 1 }; // Mlp: load_into and load_safetensors
        assert_eq!(successes, expected, "seed {i}");
    }
    let path = dir.path().join("seed.st");
    std::fs::write(&path, &seeds[2]).unwrap();
    assert_eq!(Mlp::load_safetensors(&path).unwrap(), Mlp::new(1));
}

#[test]
fn random_bytes_never_panic_hang_or_overallocate() {
    // Half of the files start with a header length that fits in the file.
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..2048),
        any::<Index>(),
        any::<bool>(),
    );
    run(200, strategy, |dir, (mut bytes, length, fits)| {
        if fits && bytes.len() >= 8 {
            let length = length.index(bytes.len() - 7) as u64;
            bytes[..8].copy_from_slice(&length.to_le_bytes());
        }
        load_all(dir, &bytes).map(drop)
    });
}

/// Tokens of a safetensors header, for random headers that get past the JSON syntax
/// more often than random bytes do.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    " ",
    "0",
    "4",
    "24",
    "4294967296",
    "\"dtype\"",
    "\"shape\"",
    "\"data_offsets\"",
    "\"F32\"",
    "\"F64\"",
    "\"U8\"",
    "\"fc1.weight\"",
    "\"fc1.bias\"",
    "\"conv1.weight\"",
    "\"__metadata__\"",
    "\"format\"",
    "\"pt\"",
    "\"\\u0000\"",
    "null",
    "true",
    "-1",
];

#[test]
fn random_headers_never_panic_hang_or_overallocate() {
    // Tokens joined by spaces, so that numbers stay apart.
    let header = prop::collection::vec(prop::sample::select(TOKENS), 0..120)
        .prop_map(|tokens| tokens.join(" "));
    let data = prop::collection::vec(any::<u8>(), 0..256);
    run(
        300,
        (header, data, any::<bool>()),
        |dir, (header, data, exact_length)| {
            let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
            if !exact_length {
                bytes = ((header.len() + data.len()) as u64).to_le_bytes().to_vec();
            }
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(&data);
            load_all(dir, &bytes).map(drop)
        },
    );
}

#[test]
fn mutated_files_never_panic_hang_or_overallocate() {
    let seeds = seeds();
    run(600, mutated(), |dir, (seed, mutations)| {
        let mut bytes = seeds[seed].clone();
        for mutation in &mutations {
            apply(&mut bytes, mutation, &seeds);
        }
        load_all(dir, &bytes).map(drop)
    });
}

#[test]
fn floods_of_small_values_cost_a_few_times_the_file() {
    let seeds = seeds();
    run(
        40,
        (
            0..4usize,
            flood(),
            prop_oneof![1..300usize, 300..3_000usize, 3_000..40_000usize],
        ),
        |dir, (seed, flood, count)| {
            let bytes = flooded(&seeds[seed], &flood_entry(&flood, count));
            load_all(dir, &bytes).map(drop)
        },
    );
}

// ---------------------------------------------------------------------------------------
// The checks can fail.

/// The flood in the smallest file that shows the amplification: 100,000 zeros in a list
/// are 200 kB of header, and a JSON parser that keeps a node of a few words per value
/// needs megabytes for them.
fn zero_flood() -> Vec<u8> {
    flooded(&seeds()[0], &flood_entry(&Flood::Zeros, 100_000))
}

#[test]
fn a_flood_of_zeros_is_refused_before_parsing() {
    let bytes = zero_flood();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flood.st");
    std::fs::write(&path, &bytes).unwrap();
    let (message, usage) = measured(move || {
        let mut net = Mlp::new(0);
        frechet::safetensors::load_into(&mut net, &path)
            .unwrap_err()
            .to_string()
    });
    check_usage(bytes.len(), usage).unwrap();
    assert!(message.contains("values"), "{message}");
}

#[test]
fn the_bounds_catch_a_parser_that_amplifies_the_header() {
    // The safetensors crate on its own, given the flood: it parses the whole header
    // into nodes of several words per value before it finds anything wrong.
    let bytes = zero_flood();
    let len = bytes.len();
    let (is_err, usage) = measured(move || SafeTensors::deserialize(&bytes).is_err());
    assert!(is_err);
    let error = check_usage(len, usage).expect_err("the bounds should catch this");
    assert!(error.contains("at once"), "{error}");
}

/// A loader that trusts the header's length: it reserves the bytes the header claims
/// before reading them, as `Vec::with_capacity(claimed)` would.
fn trusting_load(path: &Path) -> Result<(), String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut prefix = [0; 8];
    file.read_exact(&mut prefix).map_err(|e| e.to_string())?;
    let claimed = u64::from_le_bytes(prefix);
    if claimed > 100_000_000 {
        return Err("header too large".into()); // the crate's limit, even so
    }
    let mut header = Vec::with_capacity(claimed as usize);
    file.take(claimed)
        .read_to_end(&mut header)
        .map_err(|e| e.to_string())?;
    if (header.len() as u64) < claimed {
        return Err("truncated".into());
    }
    Ok(())
}

#[test]
fn the_bounds_catch_a_loader_that_trusts_the_header_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("liar.st");
    // Claims a 50 MB header; holds 2 bytes of it.
    let mut bytes = 50_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    std::fs::write(&path, &bytes).unwrap();

    let trusting = path.clone();
    let (result, usage) = measured(move || trusting_load(&trusting));
    assert!(result.is_err());
    assert!(check_usage(bytes.len(), usage).is_err(), "{usage:?}");

    // The real loader, on the same file.
    let (result, usage) = measured(move || Mlp::load_safetensors(&path).is_err());
    assert!(result);
    check_usage(bytes.len(), usage).unwrap();
}

//! What the hostile-bytes tests of the readers (`tests/hostile_bytes.rs`,
//! `nn-core/tests/hostile_idx.rs`, `tests/data.rs`, which include this file by path) share besides
//! counting allocations: the edits of a file that know nothing of its format, and a
//! runner of property tests with a scratch directory. Each test adds the edits of its own
//! format and chooses how often each edit is drawn.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

/// One edit of a file's bytes. Positions are resolved against the file's length when
/// applied; an edit at a position an empty file does not have does nothing.
#[derive(Clone, Debug)]
pub enum Edit {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Truncate(Index),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    /// Copies a piece of one of the `sources` over (or into) the file.
    Splice {
        at: Index,
        source: Index,
        from: Index,
        len: usize,
        overwrite: bool,
    },
}

impl Edit {
    /// Splices of pieces of `1..max_len` bytes.
    pub fn splice(max_len: usize) -> impl Strategy<Value = Edit> {
        let parts = (any::<Index>(), any::<Index>(), any::<Index>(), 1..max_len);
        (parts, any::<bool>()).prop_map(|((at, source, from, len), overwrite)| Edit::Splice {
            at,
            source,
            from,
            len,
            overwrite,
        })
    }

    /// `bytes` with this edit made, pieces for a splice taken from `sources`.
    pub fn apply(&self, bytes: &mut Vec<u8>, sources: &[Vec<u8>]) {
        let len = bytes.len();
        match self {
            Edit::FlipBit(at, bit) if len > 0 => bytes[at.index(len)] ^= 1 << bit,
            Edit::SetByte(at, byte) if len > 0 => bytes[at.index(len)] = *byte,
            Edit::Truncate(at) => bytes.truncate(at.index(len + 1)),
            Edit::Insert(at, new) => {
                let at = at.index(len + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Delete(at, n) if len > 0 => {
                let at = at.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Edit::Splice {
                at,
                source,
                from,
                len: n,
                overwrite,
            } => {
                let source = source.get(sources);
                let from = from.index(source.len());
                let piece = &source[from..(from + n).min(source.len())];
                let at = at.index(len + 1);
                let end = if *overwrite {
                    (at + piece.len()).min(len)
                } else {
                    at
                };
                bytes.splice(at..end, piece.iter().copied());
            }
            _ => {} // a position an empty file does not have
        }
    }
}

/// Runs `test` on `cases` inputs from `strategy`, each with a scratch directory.
pub fn run<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(&Path, S::Value) -> Result<(), String>,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        test(dir.path(), value).map_err(TestCaseError::fail)
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

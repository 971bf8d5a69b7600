//! Every diagnostic of `network!`, pinned by trybuild: `tests/ui/pass` must compile and
//! run, each case in `tests/ui/fail` must fail with exactly the errors in its `.stderr`.
//!
//! After an intended change of a message, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test --test compiletest` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}

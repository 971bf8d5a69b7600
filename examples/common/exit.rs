//! How every example ends: an error is one line on standard error and a failing exit
//! code, not a panic's backtrace.

use std::process::ExitCode;

/// What an example's `run` returns.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The exit code of an example whose `run` gave `result`, reporting an error on the way.
pub fn exit_code(result: Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

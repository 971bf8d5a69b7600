//! Saving and loading a network's parameters as safetensors (stub, being written).

use std::path::Path;

use crate::{Error, Network};

/// Writes every parameter of `network` to `path`.
pub fn save<N: Network + ?Sized>(network: &N, path: &Path) -> Result<(), Error> {
    let _ = (network, path);
    unimplemented!()
}

/// Reads every parameter of `network` from `path`.
pub fn load_into<N: Network + ?Sized>(network: &mut N, path: &Path) -> Result<(), Error> {
    let _ = (network, path);
    unimplemented!()
}

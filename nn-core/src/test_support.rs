//! Helpers the tests of several kernels share (the pools' own are in
//! [`crate::pool::test_support`]).

use std::fmt::Debug;

use ndarray::{Array, Dimension, NdIndex};

/// Asserts that `grad`, an adjoint's gradient of `loss` at `x`, matches central
/// differences entry by entry; `what` names `x` in the message.
///
/// The callers' losses are linear in `x` (or, for max pooling, linear near it), so the
/// differences are exact up to rounding, `ε · |L| / h ≈ 1e-10`, far inside the `1e-8`
/// allowed.
#[track_caller]
pub(crate) fn assert_central_differences<D>(
    what: &str,
    x: &Array<f64, D>,
    grad: &Array<f64, D>,
    loss: impl Fn(&Array<f64, D>) -> f64,
) where
    D: Dimension,
    D::Pattern: NdIndex<D> + Copy + Debug,
{
    let h = 1e-6;
    for idx in ndarray::indices_of(x) {
        let (mut p, mut m) = (x.clone(), x.clone());
        p[idx] += h;
        m[idx] -= h;
        let numeric = (loss(&p) - loss(&m)) / (2.0 * h);
        assert!(
            (numeric - grad[idx]).abs() < 1e-8,
            "{what} at {idx:?}: {numeric} by central differences, {} by the adjoint",
            grad[idx]
        );
    }
}

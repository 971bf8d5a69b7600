//! The comparison with PyTorch's fixtures: reading them ([`Fixture`]), measuring how far a
//! tensor is from PyTorch's ([`deviation`], at the tolerances of the module above), the
//! [`Report`] of every comparison, and one network's [`Case`].

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use frechet::ndarray::{Array, Array2, ArrayD, Dimension, IxDyn};
use frechet::prelude::*;
use frechet::{Buffer, Network, Scalar};
use safetensors::{Dtype, SafeTensors};

use super::{ATOL, RTOL, SNAPSHOTS};

/// One tensor of a fixture; an `F32` one widened to `f64`, exactly.
pub(crate) enum Tensor {
    Float(ArrayD<f64>),
    I64(ArrayD<i64>),
}

/// A fixture file: its tensors by name and its metadata.
pub(crate) struct Fixture {
    pub(crate) path: PathBuf,
    pub(crate) tensors: HashMap<String, Tensor>,
    pub(crate) metadata: HashMap<String, String>,
}

pub(crate) fn fixture_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference")
        .join(file)
}

impl Fixture {
    pub(crate) fn open(file: &str) -> Fixture {
        let path = fixture_path(file);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; see tools/README.md", path.display()));
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let metadata = header.metadata().clone().unwrap_or_default();
        let file =
            SafeTensors::deserialize(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let tensors = file
            .iter()
            .map(|(name, view)| {
                let shape = IxDyn(view.shape());
                let bytes = view.data();
                let tensor = match view.dtype() {
                    Dtype::F32 => Tensor::Float(
                        Array::from_shape_vec(
                            shape,
                            bytes
                                .chunks_exact(4)
                                .map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap())))
                                .collect(),
                        )
                        .unwrap(),
                    ),
                    Dtype::F64 => Tensor::Float(
                        Array::from_shape_vec(
                            shape,
                            bytes
                                .chunks_exact(8)
                                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                                .collect(),
                        )
                        .unwrap(),
                    ),
                    Dtype::I64 => Tensor::I64(
                        Array::from_shape_vec(
                            shape,
                            bytes
                                .chunks_exact(8)
                                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                                .collect(),
                        )
                        .unwrap(),
                    ),
                    other => panic!("{}: `{name}` is {other:?}", path.display()),
                };
                (name.to_string(), tensor)
            })
            .collect();
        Fixture {
            path,
            tensors,
            metadata,
        }
    }

    pub(crate) fn i64(&self, name: &str) -> i64 {
        match self.tensors.get(name) {
            Some(Tensor::I64(array)) => *array.first().expect("a scalar"),
            Some(Tensor::Float(_)) => panic!("{}: `{name}` is not I64", self.path.display()),
            None => panic!("{}: no tensor `{name}`", self.path.display()),
        }
    }

    /// Floating-point tensor `name` as `T`: exact for the type the fixture stores.
    pub(crate) fn floats<T: Scalar>(&self, name: &str) -> ArrayD<T> {
        match self.tensors.get(name) {
            Some(Tensor::Float(array)) => array.mapv(T::of_f64),
            Some(Tensor::I64(_)) => panic!("{}: `{name}` is not a float", self.path.display()),
            None => panic!("{}: no tensor `{name}`", self.path.display()),
        }
    }

    /// The dropout mask `name`: where it is 1.
    pub(crate) fn mask(&self, name: &str) -> Vec<bool> {
        self.floats::<f64>(name).iter().map(|&m| m == 1.0).collect()
    }

    pub(crate) fn input<T: Scalar, D: Dimension>(&self) -> Array<T, D> {
        self.floats("input")
            .into_dimensionality()
            .expect("an input of the network's rank")
    }

    pub(crate) fn meta(&self, key: &str) -> &str {
        self.metadata
            .get(key)
            .unwrap_or_else(|| panic!("{}: no metadata `{key}`", self.path.display()))
    }
}

/// How a loss reads its targets of `T` from a fixture.
pub(crate) trait ReferenceLoss<T: Scalar>: Loss<T> + Default {
    const NAME: &'static str;
    type Owned;
    fn read(fixture: &Fixture) -> Self::Owned;
    fn view(owned: &Self::Owned) -> Self::Targets<'_>;
}

impl<T: Scalar> ReferenceLoss<T> for SoftmaxCrossEntropy {
    const NAME: &'static str = "SoftmaxCrossEntropy";
    type Owned = Vec<usize>;

    fn read(fixture: &Fixture) -> Vec<usize> {
        match fixture.tensors.get("target") {
            Some(Tensor::I64(labels)) => labels.iter().map(|&l| l as usize).collect(),
            _ => panic!("{}: `target` is not I64", fixture.path.display()),
        }
    }

    fn view(owned: &Vec<usize>) -> &[usize] {
        owned
    }
}

impl<T: Scalar> ReferenceLoss<T> for BinaryCrossEntropyWithLogits {
    const NAME: &'static str = "BinaryCrossEntropyWithLogits";
    type Owned = Array2<T>;

    fn read(fixture: &Fixture) -> Array2<T> {
        fixture.floats("target").into_dimensionality().unwrap()
    }

    fn view(owned: &Array2<T>) -> frechet::ndarray::ArrayView2<'_, T> {
        owned.view()
    }
}

impl<T: Scalar> ReferenceLoss<T> for MeanSquaredError {
    const NAME: &'static str = "MeanSquaredError";
    type Owned = Array2<T>;

    fn read(fixture: &Fixture) -> Array2<T> {
        fixture.floats("target").into_dimensionality().unwrap()
    }

    fn view(owned: &Array2<T>) -> frechet::ndarray::ArrayView2<'_, T> {
        owned.view()
    }
}

/// Trajectories of `f32` networks that cross a kink, where rounding decides which side
/// they take: `medium`'s with AdamW. At its step 3 the loss still agrees with the exact
/// one to 1e-7 but the gradient of `conv1` jumps by 4e-4 (frechet's `f32` against its own
/// `f64` from the same weights; with plain Adam they stay 3e-7 apart): the step crosses
/// a kink of ReLU or max pooling, on the other side than the exact trajectory and
/// PyTorch's `f32`. Not compared; the same trajectory in `f64` (`medium.f64`) agrees with
/// PyTorch's to 1e-12.
pub(crate) const KINKED: &[(&str, &str)] = &[("medium", "adamw")];

/// How far a tensor is from PyTorch's.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Deviation {
    /// `max |a − b| / S`, `S` the scale of the comparison (see the module docs).
    pub(crate) relative: f64,
    /// `max |a − b| / (RTOL·|b| + ATOL·S + slack)`: at most 1 passes.
    pub(crate) ratio: f64,
}

impl Deviation {
    pub(crate) fn max(self, other: Deviation) -> Deviation {
        Deviation {
            relative: self.relative.max(other.relative),
            ratio: self.ratio.max(other.ratio),
        }
    }
}

/// The largest magnitude in `values`.
pub(crate) fn scale<T: Scalar>(values: &[T]) -> f64 {
    values.iter().fold(0f64, |m, &v| m.max(v.widen().abs()))
}

/// What the tolerances are multiplied by for `T`: 1 for `f32`, and for `f64` the ratio of
/// the two types' machine epsilons to the power 3/4 (3.3e-7: a tolerance of 3.3e-12,
/// where `f64` results agree to 1e-13).
pub(crate) fn precision<T: Scalar>() -> f64 {
    (T::epsilon().widen() / f64::from(f32::EPSILON)).powf(0.75)
}

/// Compares `actual` with `expected` elementwise: `|a − b| ≤ (RTOL·|b| + ATOL·scale) ·
/// precision + slack`. A NaN anywhere is infinitely far.
pub(crate) fn deviation<T: Scalar>(
    actual: &[T],
    expected: &[T],
    scale: f64,
    slack: f64,
) -> Deviation {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let mut result = Deviation::default();
    for (&a, &b) in actual.iter().zip(expected) {
        let (a, b) = (a.widen(), b.widen());
        let diff = (a - b).abs();
        let allowed = (RTOL * b.abs() + ATOL * scale) * precision::<T>() + slack;
        let (relative, ratio) = if diff == 0.0 {
            (0.0, 0.0)
        } else if diff.is_nan() || allowed == 0.0 {
            (f64::INFINITY, f64::INFINITY)
        } else {
            (
                if scale > 0.0 { diff / scale } else { diff },
                diff / allowed,
            )
        };
        result = result.max(Deviation { relative, ratio });
    }
    result
}

/// Every comparison made, and what it tells about each layer kind and optimizer.
#[derive(Default)]
pub(crate) struct Report {
    /// (case, quantity) → error.
    pub(crate) rows: Vec<(String, String, Deviation)>,
    /// group (a layer kind, an activation, an optimizer, ...) → largest error.
    pub(crate) groups: BTreeMap<String, Deviation>,
}

impl Report {
    pub(crate) fn record(
        &mut self,
        case: &str,
        quantity: &str,
        groups: &[String],
        deviation: Deviation,
    ) {
        self.rows
            .push((case.to_string(), quantity.to_string(), deviation));
        for group in groups {
            let entry = self.groups.entry(group.clone()).or_default();
            *entry = entry.max(deviation);
        }
    }

    /// Every comparison beyond its tolerance.
    pub(crate) fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|(_, _, d)| d.ratio > 1.0)
            .map(|(case, quantity, d)| {
                format!(
                    "{case} {quantity}: {:.2} × the tolerance (relative error {:.2e})",
                    d.ratio, d.relative
                )
            })
            .collect()
    }

    /// Prints `heading` and the report, then fails the test if a comparison is beyond its
    /// tolerance, listing those.
    pub(crate) fn finish(&self, heading: &str) {
        eprintln!("{heading}\n{}", self.render());
        let failures = self.failures();
        assert!(
            failures.is_empty(),
            "beyond the tolerance:\n{}",
            failures.join("\n")
        );
    }

    /// The largest deviation per group, then the closest calls.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<36} {:>14} {:>12}",
            "largest deviation in", "relative error", "/ tolerance"
        );
        for (group, d) in &self.groups {
            let _ = writeln!(out, "{group:<36} {:>14.2e} {:>12.3}", d.relative, d.ratio);
        }
        let mut closest: Vec<_> = self.rows.iter().collect();
        closest.sort_by(|a, b| b.2.ratio.total_cmp(&a.2.ratio));
        let _ = writeln!(out, "closest to the tolerance:");
        for (case, quantity, d) in closest.iter().take(8) {
            let _ = writeln!(
                out,
                "    {case:<16} {quantity:<26} {:>10.2e} {:>12.3}",
                d.relative, d.ratio
            );
        }
        out
    }
}

/// A layer of a declaration: its name, its kind and its activation (`None` for none).
pub(crate) struct Declared {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) activation: Option<String>,
}

/// The layers of a `network!` body, from its text with every space removed.
pub(crate) fn parse_declaration(text: &str) -> Vec<Declared> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut items = vec![String::new()];
    let mut depth = 0;
    for c in compact.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                items.push(String::new());
                continue;
            }
            _ => {}
        }
        items.last_mut().unwrap().push(c);
    }
    items
        .into_iter()
        .filter(|item| !item.is_empty() && !item.starts_with("input:"))
        .map(|item| {
            let (name, rest) = item.split_once(':').expect("`name: kind`");
            let (call, activation) = match rest.split_once("->") {
                Some((call, activation)) => (call, Some(activation.to_string())),
                None => (rest, None),
            };
            let kind = call.split('(').next().unwrap().to_string();
            Declared {
                name: name.to_string(),
                kind,
                activation,
            }
        })
        .collect()
}

/// One network with one batch, and the PyTorch results for it.
pub(crate) struct Case {
    pub(crate) label: String,
    pub(crate) net: String,
    pub(crate) fixture: Fixture,
    pub(crate) layers: Vec<Declared>,
}

impl Case {
    /// Opens `<net>.batch<batch>.safetensors` and checks that it was made for this
    /// declaration and loss.
    pub(crate) fn open(net: &str, batch: usize, declaration: &str, loss: &str) -> Case {
        let fixture = Fixture::open(&format!("{net}.batch{batch}.safetensors"));
        let compact = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(
            compact(fixture.meta("network")),
            compact(declaration),
            "{}: made for another network; regenerate the fixtures or update the test",
            fixture.path.display()
        );
        assert_eq!(fixture.meta("loss"), loss, "{}", fixture.path.display());
        assert!(
            fixture
                .meta("torch")
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit()),
            "the fixtures name the torch version that made them"
        );
        Case {
            label: format!("{net}/batch{batch}"),
            net: net.to_string(),
            fixture,
            layers: parse_declaration(declaration),
        }
    }

    /// The weights file of the case's network.
    pub(crate) fn weights(&self) -> PathBuf {
        fixture_path(&format!("{}.weights.safetensors", self.net))
    }

    /// The groups a gradient of `layer` reports to: its layer kind and activation, and
    /// the kind of every parameterless layer its error signal has come back through.
    pub(crate) fn groups_of(&self, layer: &str) -> Vec<String> {
        let index = self
            .layers
            .iter()
            .position(|l| l.name == layer)
            .unwrap_or_else(|| panic!("no layer `{layer}` in the declaration"));
        let declared = &self.layers[index];
        let mut groups = vec![
            format!("gradient of {}", declared.kind),
            format!(
                "gradient after {}",
                declared.activation.as_deref().unwrap_or("no arrow")
            ),
        ];
        for later in &self.layers[index + 1..] {
            if matches!(later.kind.as_str(), "MaxPool2d" | "AvgPool2d" | "Flatten") {
                groups.push(format!("gradient through {}", later.kind));
            }
        }
        groups.sort();
        groups.dedup();
        groups
    }

    /// Compares `actual` with the fixture's tensor `name`, at the scale of the tensor.
    pub(crate) fn compare<T: Scalar>(
        &self,
        report: &mut Report,
        name: &str,
        groups: &[String],
        actual: &[T],
    ) {
        let expected = self.fixture.floats::<T>(name);
        let expected = expected.as_slice().expect("contiguous");
        assert_eq!(
            actual.len(),
            expected.len(),
            "{} {name}: {} values, PyTorch has {}",
            self.label,
            actual.len(),
            expected.len()
        );
        let d = deviation(actual, expected, scale(expected), 0.0);
        report.record(&self.label, name, groups, d);
    }

    /// Compares every parameter of `net` with `<prefix>.<layer>.<param>` in the fixture,
    /// at the scale of the layer's tensors, and every buffer (running statistics, at its
    /// own scale; counts exactly) where the fixture has them: after optimizer steps, not
    /// in a gradient.
    pub(crate) fn compare_params(
        &self,
        report: &mut Report,
        prefix: &str,
        net: &impl Network,
        slack: f64,
        groups: impl Fn(&str) -> Vec<String>,
    ) {
        let mut count = 0;
        for (layer_name, layer) in net.layers() {
            let names: Vec<String> = layer
                .param_names()
                .iter()
                .map(|param| format!("{prefix}.{layer_name}.{param}"))
                .collect();
            let layer_scale = names
                .iter()
                .map(|name| scale(self.fixture.floats::<f64>(name).as_slice().unwrap()))
                .fold(0.0, f64::max);
            for (index, name) in names.iter().enumerate() {
                let expected = self.fixture.floats(name);
                assert_eq!(expected.shape(), layer.param_shape(index), "{name}");
                let expected = expected.as_slice().expect("contiguous");
                let d = deviation(layer.param(index), expected, layer_scale, slack);
                report.record(&self.label, name, &groups(layer_name), d);
                count += 1;
            }
            for (index, buffer) in layer.buffer_names().iter().enumerate() {
                let name = format!("{prefix}.{layer_name}.{buffer}");
                if !self.fixture.tensors.contains_key(&name) {
                    continue;
                }
                match layer.buffer(index) {
                    Buffer::Float { values, .. } => {
                        let expected = self.fixture.floats(&name);
                        let expected = expected.as_slice().expect("contiguous");
                        let d = deviation(values, expected, scale(expected), 0.0);
                        let group = vec!["running statistics".to_string()];
                        report.record(&self.label, &name, &group, d);
                    }
                    Buffer::I64(value) => assert_eq!(value, self.fixture.i64(&name), "{name}"),
                }
                count += 1;
            }
        }
        let in_fixture = self
            .fixture
            .tensors
            .keys()
            .filter(|k| k.starts_with(&format!("{prefix}.")))
            .count();
        assert_eq!(
            count, in_fixture,
            "{} {prefix}: tensors left unchecked",
            self.label
        );
    }

    /// Runs `step` ten times from `net`, comparing the losses it returns and the
    /// parameters after the steps of [`SNAPSHOTS`] with `<optimizer>.…` in the fixture.
    pub(crate) fn compare_trajectory<N: Network>(
        &self,
        report: &mut Report,
        optimizer: &str,
        slack: f64,
        mut net: N,
        mut step: impl FnMut(&mut N) -> N::Elem,
    ) {
        if precision::<N::Elem>() == 1.0 && KINKED.contains(&(self.net.as_str(), optimizer)) {
            return;
        }
        let mut losses = vec![];
        for k in 1..=SNAPSHOTS[SNAPSHOTS.len() - 1] {
            losses.push(step(&mut net));
            if SNAPSHOTS.contains(&k) {
                let group = format!("{optimizer}, parameters after step {k}");
                let prefix = format!("{optimizer}.step{k}");
                self.compare_params(report, &prefix, &net, slack, |_| vec![group.clone()]);
            }
        }
        let name = format!("{optimizer}.losses");
        self.compare(report, &name, &[format!("{optimizer}, losses")], &losses);
    }
}

//! Stage 2: what the declaration means. Each layer kind and activation is understood
//! with its arguments (`args.rs`), and every layer's input and output shape is inferred
//! from the input shape, so that a shape mistake is a compile error on the layer that
//! makes it, in words, before any type checking runs.

use std::collections::HashSet;
use std::fmt;

use syn::{Attribute, Ident, Visibility};

use crate::args::{activation, layer_kind, MAX_SIZE};
use crate::ctxt::Ctxt;
use crate::parse::{LayerDecl, NetworkDecl};

/// The checked network.
pub struct Model {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub input: Shape,
    pub layers: Vec<Layer>,
    /// The number of scalar parameters of all layers.
    pub num_params: usize,
}

/// One checked layer, with the shapes it receives and produces (per sample).
pub struct Layer {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Kind,
    pub activation: Activation,
    pub input: Shape,
    pub output: Shape,
    /// The number of scalar parameters.
    pub num_params: usize,
}

/// A per-sample shape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Vector(usize),
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
}

/// A layer kind with its checked arguments.
pub enum Kind {
    Dense {
        outputs: usize,
    },
    Conv2d {
        outputs: usize,
        window: Window,
    },
    /// `MaxPool2d` or `AvgPool2d`: a window without padding.
    Pool {
        op: PoolOp,
        window: Window,
    },
    Flatten,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PoolOp {
    Max,
    Avg,
}

/// A square window sliding over an image: a kernel or a pooling window.
#[derive(Clone, Copy)]
pub struct Window {
    pub size: usize,
    pub stride: usize,
    pub padding: usize,
}

/// A pointwise activation with its checked arguments.
#[derive(Clone, Copy)]
pub enum Activation {
    Identity,
    ReLU,
    LeakyReLU(f32),
    Sigmoid,
    Tanh,
}

pub const LAYER_KINDS: &[&str] = &["Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten"];

/// The most `f32` parameters that one allocation can hold (`isize::MAX` bytes).
const MAX_PARAMS: usize = isize::MAX as usize / 4;
pub const ACTIVATIONS: &[&str] = &["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity"];

impl Shape {
    /// The shape as written in `input: [...]` and in the generated constants.
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Vector(n) => vec![n],
            Shape::Image {
                channels,
                height,
                width,
            } => vec![channels, height, width],
        }
    }

    /// The number of scalars in one sample, if it fits in a `usize`.
    pub fn len(self) -> Option<usize> {
        self.dims()
            .into_iter()
            .try_fold(1usize, |len, d| len.checked_mul(d))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims().iter().map(ToString::to_string).collect();
        f.write_str(&dims.join("×"))
    }
}

impl Kind {
    /// The name used in the summary table.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Dense { .. } => "Dense",
            Kind::Conv2d { .. } => "Conv2d",
            Kind::Pool {
                op: PoolOp::Max, ..
            } => "MaxPool2d",
            Kind::Pool {
                op: PoolOp::Avg, ..
            } => "AvgPool2d",
            Kind::Flatten => "Flatten",
        }
    }

    /// Whether the layer has weights and a bias (and so a gradient and an update).
    pub fn has_params(&self) -> bool {
        matches!(self, Kind::Dense { .. } | Kind::Conv2d { .. })
    }

    /// The number of scalar parameters for the given input shape, if it fits in a
    /// `usize`.
    fn num_params(&self, input: Shape) -> Option<usize> {
        match self {
            Kind::Dense { outputs } => input.len()?.checked_add(1)?.checked_mul(*outputs),
            Kind::Conv2d { outputs, window } => {
                let Shape::Image { channels, .. } = input else {
                    return Some(0);
                };
                let patch = channels
                    .checked_mul(window.size)?
                    .checked_mul(window.size)?;
                patch.checked_add(1)?.checked_mul(*outputs)
            }
            Kind::Pool { .. } | Kind::Flatten => Some(0),
        }
    }
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "Identity",
            Activation::ReLU => "ReLU",
            Activation::LeakyReLU(_) => "LeakyReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
        }
    }
}

/// Checks the declaration and infers every shape. Returns `None` after recording at
/// least one error in `cx`.
pub fn infer(decl: &NetworkDecl, cx: &mut Ctxt) -> Option<Model> {
    let input = input_shape(decl, cx);
    if decl.layers.is_empty() {
        cx.error_spanned_by(
            &decl.name,
            "a network needs at least one layer after `input`, such as `fc: Dense(10)`",
        );
    }
    let mut names = HashSet::new();
    let mut layers = Vec::new();
    let mut shape = input;
    for layer in &decl.layers {
        check_name(layer, &mut names, cx);
        let kind = layer_kind(&layer.kind, cx);
        let activation = match (&layer.activation, &kind) {
            (Some(call), Some(kind)) if !kind.has_params() => {
                cx.error_spanned_by(
                    &call.name,
                    format!(
                        "`{}` takes no activation: a `{}` layer has no weights and gives its input's values\nhelp: put the activation on the layer before it",
                        layer.name,
                        kind.name()
                    ),
                );
                None
            }
            (Some(call), _) => activation(call, cx),
            (None, _) => Some(Activation::Identity),
        };
        // Shapes can only be followed while every layer so far is understood; after a
        // mistake the rest of the chain is still checked for its own, independent errors.
        let (Some(kind), Some(activation), Some(input)) = (kind, activation, shape) else {
            shape = None;
            continue;
        };
        let Some(output) = output_shape(layer, &kind, input, cx) else {
            shape = None;
            continue;
        };
        let Some(num_params) = kind.num_params(input).filter(|&n| n <= MAX_PARAMS) else {
            cx.error_spanned_by(
                &layer.kind.name,
                format!(
                    "`{}` would have more parameters than fit in memory ({} → {output})",
                    layer.name, input
                ),
            );
            shape = None;
            continue;
        };
        layers.push(Layer {
            attrs: layer.attrs.clone(),
            name: layer.name.clone(),
            kind,
            activation,
            input,
            output,
            num_params,
        });
        shape = Some(output);
    }

    let input = input?;
    if layers.len() != decl.layers.len() || layers.is_empty() {
        return None;
    }
    let last = &layers[layers.len() - 1];
    if let Shape::Image { .. } = last.output {
        cx.error_spanned_by(
            &last.name,
            format!(
                "the network ends with `{}`, which gives {} per sample, but the losses take a vector\nhelp: add `flat: Flatten` at the end, or a `Dense` layer after one",
                last.name, last.output
            ),
        );
        return None;
    }
    let num_params = layers
        .iter()
        .try_fold(0usize, |total, layer| total.checked_add(layer.num_params))
        .filter(|&n| n <= MAX_PARAMS);
    let Some(num_params) = num_params else {
        cx.error_spanned_by(
            &decl.name,
            "the network has more parameters than fit in memory",
        );
        return None;
    };
    Some(Model {
        attrs: decl.attrs.clone(),
        vis: decl.vis.clone(),
        name: decl.name.clone(),
        input,
        layers,
        num_params,
    })
}

/// The shape `layer` gives for `input`, or `None` after reporting why it cannot take it.
fn output_shape(layer: &LayerDecl, kind: &Kind, input: Shape, cx: &mut Ctxt) -> Option<Shape> {
    let name = &layer.name;
    let kind_name = kind.name();
    match (kind, input) {
        (Kind::Dense { outputs }, Shape::Vector(_)) => Some(Shape::Vector(*outputs)),
        (Kind::Dense { .. }, Shape::Image { .. }) => {
            cx.error_spanned_by(
                &layer.kind.name,
                format!("`{name}` receives {input}, but `Dense` takes a vector of features\nhelp: insert `Flatten` before `{name}`, as in `flat: Flatten,`"),
            );
            None
        }
        (Kind::Flatten, Shape::Image { .. }) => match input.len() {
            Some(n) => Some(Shape::Vector(n)),
            None => {
                cx.error_spanned_by(
                    &layer.kind.name,
                    format!("`{name}` would give more features than fit in memory ({input})"),
                );
                None
            }
        },
        (Kind::Conv2d { .. } | Kind::Pool { .. } | Kind::Flatten, Shape::Vector(n)) => {
            cx.error_spanned_by(
                &layer.kind.name,
                format!("`{name}` receives a vector of {n} features, but `{kind_name}` takes an image\nhelp: images are declared as `input: [channels, height, width]`, and only layers before any `Flatten` or `Dense` see them"),
            );
            None
        }
        (
            Kind::Conv2d { window, .. } | Kind::Pool { window, .. },
            Shape::Image {
                channels,
                height,
                width,
            },
        ) => {
            // Every size is below 2³², so this cannot overflow.
            let (padded_h, padded_w) = (height + 2 * window.padding, width + 2 * window.padding);
            if window.size > padded_h || window.size > padded_w {
                let what = match kind {
                    Kind::Conv2d { .. } => "kernel",
                    _ => "window",
                };
                let padded = if window.padding > 0 {
                    format!(" (padded to {padded_h}×{padded_w})")
                } else {
                    String::new()
                };
                let k = window.size;
                cx.error_spanned_by(
                    &layer.kind.name,
                    format!("`{name}` receives {input}{padded}, but its {k}×{k} {what} needs at least {k}×{k}"),
                );
                return None;
            }
            let channels = match kind {
                Kind::Conv2d { outputs, .. } => *outputs,
                _ => channels,
            };
            Some(Shape::Image {
                channels,
                height: (padded_h - window.size) / window.stride + 1,
                width: (padded_w - window.size) / window.stride + 1,
            })
        }
    }
}

fn input_shape(decl: &NetworkDecl, cx: &mut Ctxt) -> Option<Shape> {
    let mut dims = Vec::new();
    for dim in &decl.input.dims {
        match dim.base10_parse::<usize>() {
            Ok(0) => cx.error_spanned_by(dim, "input dimensions must be at least 1"),
            Ok(n) if n > MAX_SIZE => {
                cx.error_spanned_by(dim, "input dimensions must be at most 4294967295")
            }
            Ok(n) => dims.push(n),
            Err(e) => cx.syn_error(e),
        }
    }
    if dims.len() != decl.input.dims.len() {
        return None;
    }
    match dims[..] {
        [n] => Some(Shape::Vector(n)),
        [channels, height, width] => Some(Shape::Image {
            channels,
            height,
            width,
        }),
        _ => {
            cx.syn_error(syn::Error::new(
                decl.input.bracket_span,
                format!(
                    "`input` must have one dimension (features, such as `input: [784]`) or three (an image, such as `input: [1, 28, 28]`); found {}",
                    dims.len()
                ),
            ));
            None
        }
    }
}

/// Layer names become field and tensor names, so they must be unique and not `input`.
fn check_name(layer: &LayerDecl, seen: &mut HashSet<String>, cx: &mut Ctxt) {
    let name = layer.name.to_string();
    if name == "input" {
        cx.error_spanned_by(
            &layer.name,
            "a layer cannot be named `input`: that name declares the input shape",
        );
    } else if !seen.insert(name.clone()) {
        cx.error_spanned_by(
            &layer.name,
            format!("duplicate layer name `{name}`: an earlier layer already has it\nhelp: give each layer its own name; it becomes a field and the tensor names `{name}.weight`, `{name}.bias`"),
        );
    }
}

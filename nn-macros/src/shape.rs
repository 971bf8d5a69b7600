//! Stage 2: what the declaration means. Each layer kind and activation is looked up in
//! the tables below, its arguments are checked, and every layer's input and output shape
//! is inferred from the input shape, so that a shape mistake is a compile error on the
//! layer that makes it, in words, before any type checking runs.

use std::collections::HashSet;
use std::fmt;

use quote::ToTokens;
use syn::{Attribute, Expr, Ident, Lit, Visibility};

use crate::ctxt::Ctxt;
use crate::parse::{Arg, Call, LayerDecl, NetworkDecl};
use crate::suggest::with_suggestion;

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

fn layer_kind(call: &Call, cx: &mut Ctxt) -> Option<Kind> {
    match call.name.to_string().as_str() {
        "Dense" => {
            let mut args = Args::new(call, cx);
            let outputs = args.positional("the number of outputs", "Dense(128)");
            args.finish();
            Some(Kind::Dense { outputs: outputs? })
        }
        "Conv2d" => {
            let mut args = Args::new(call, cx);
            let outputs = args.positional("the number of output channels", "Conv2d(6, kernel = 5)");
            let size = args.required_keyword("kernel", "Conv2d(6, kernel = 5)");
            let stride = args.keyword("stride", 1, 1);
            let padding = args.keyword("padding", 0, 0);
            args.finish();
            Some(Kind::Conv2d {
                outputs: outputs?,
                window: Window {
                    size: size?,
                    stride: stride?,
                    padding: padding?,
                },
            })
        }
        kind @ ("MaxPool2d" | "AvgPool2d") => {
            let op = if kind == "MaxPool2d" {
                PoolOp::Max
            } else {
                PoolOp::Avg
            };
            let mut args = Args::new(call, cx);
            let size = args.positional("the window size", &format!("{kind}(2)"));
            let stride = size.and_then(|size| args.keyword("stride", size, 1));
            args.finish();
            Some(Kind::Pool {
                op,
                window: Window {
                    size: size?,
                    stride: stride?,
                    padding: 0,
                },
            })
        }
        "Flatten" => {
            Args::new(call, cx).finish();
            Some(Kind::Flatten)
        }
        other => {
            let message = format!("unknown layer kind `{other}`");
            cx.error_spanned_by(&call.name, with_suggestion(message, other, LAYER_KINDS));
            None
        }
    }
}

fn activation(call: &Call, cx: &mut Ctxt) -> Option<Activation> {
    let name = call.name.to_string();
    let mut simple = |activation| {
        Args::new(call, cx).finish();
        Some(activation)
    };
    match name.as_str() {
        "Identity" => simple(Activation::Identity),
        "ReLU" => simple(Activation::ReLU),
        "Sigmoid" => simple(Activation::Sigmoid),
        "Tanh" => simple(Activation::Tanh),
        "LeakyReLU" => {
            let mut args = Args::new(call, cx);
            let slope = args.slope();
            args.finish();
            Some(Activation::LeakyReLU(slope?))
        }
        other => {
            let message = format!("unknown activation `{other}`");
            cx.error_spanned_by(&call.name, with_suggestion(message, other, ACTIVATIONS));
            None
        }
    }
}

/// Hands out a call's arguments one by one and reports what is left over.
struct Args<'a> {
    call: &'a Call,
    cx: &'a mut Ctxt,
    /// The positional arguments handed out so far.
    next: usize,
    /// The keyword arguments handed out so far.
    taken: Vec<&'static str>,
}

impl<'a> Args<'a> {
    fn new(call: &'a Call, cx: &'a mut Ctxt) -> Self {
        Args {
            call,
            cx,
            next: 0,
            taken: Vec::new(),
        }
    }

    /// The next positional argument, if there is one.
    fn next_positional(&mut self) -> Option<&'a Expr> {
        let expr = self
            .call
            .args
            .iter()
            .filter_map(|arg| match arg {
                Arg::Positional(expr) => Some(expr),
                Arg::Keyword { .. } => None,
            })
            .nth(self.next)?;
        self.next += 1;
        Some(expr)
    }

    /// The value of keyword argument `key`, if given once (a second one is reported).
    fn find(&mut self, key: &'static str) -> Option<&'a Expr> {
        self.taken.push(key);
        let mut found = None;
        for arg in &self.call.args {
            if let Arg::Keyword { key: k, value } = arg {
                if k == key {
                    if found.is_some() {
                        self.cx
                            .error_spanned_by(k, format!("`{key}` is given more than once"));
                    } else {
                        found = Some(value);
                    }
                }
            }
        }
        found
    }

    /// Keyword argument `key`: a whole number ≥ `min`, `default` when absent.
    fn keyword(&mut self, key: &'static str, default: usize, min: usize) -> Option<usize> {
        let kind = &self.call.name;
        match self.find(key) {
            Some(expr) => whole_number(expr, &format!("the {key} of `{kind}`"), min, self.cx),
            None => Some(default),
        }
    }

    /// Keyword argument `key`: a whole number ≥ 1 that must be given.
    fn required_keyword(&mut self, key: &'static str, example: &str) -> Option<usize> {
        let kind = &self.call.name;
        match self.find(key) {
            Some(expr) => whole_number(expr, &format!("the {key} of `{kind}`"), 1, self.cx),
            None => {
                self.cx.error_spanned_by(
                    kind,
                    format!("`{kind}` needs its {key} size, as in `{example}`"),
                );
                None
            }
        }
    }

    /// The next positional argument as a whole number ≥ 1.
    fn positional(&mut self, what: &str, example: &str) -> Option<usize> {
        let kind = &self.call.name;
        match self.next_positional() {
            Some(expr) => whole_number(expr, &format!("{what} of `{kind}`"), 1, self.cx),
            None => {
                self.cx
                    .error_spanned_by(kind, format!("`{kind}` needs {what}, as in `{example}`"));
                None
            }
        }
    }

    /// The slope of LeakyReLU: a number in [0, 1).
    fn slope(&mut self) -> Option<f32> {
        let kind = &self.call.name;
        let Some(expr) = self.next_positional() else {
            self.cx.error_spanned_by(
                kind,
                "`LeakyReLU` needs its negative slope, as in `LeakyReLU(0.01)`",
            );
            return None;
        };
        let value = match expr {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Float(f) => f.base10_parse::<f32>().ok(),
                Lit::Int(i) => i.base10_parse::<f32>().ok(),
                _ => None,
            },
            Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => Some(-1.0),
            _ => None,
        };
        match value {
            Some(slope) if (0.0..1.0).contains(&slope) => Some(slope),
            Some(_) => {
                self.cx.error_spanned_by(
                    expr,
                    "the slope of `LeakyReLU` must be at least 0 and less than 1",
                );
                None
            }
            None => {
                self.cx.error_spanned_by(
                    expr,
                    "the slope of `LeakyReLU` must be a number literal, such as `0.01`",
                );
                None
            }
        }
    }

    /// Reports every argument that was not handed out.
    fn finish(self) {
        let kind = &self.call.name;
        let positional = self
            .call
            .args
            .iter()
            .filter(|arg| matches!(arg, Arg::Positional(_)));
        for arg in positional.skip(self.next) {
            self.cx
                .error_spanned_by(arg, format!("unexpected argument to `{kind}`"));
        }
        for arg in &self.call.args {
            if let Arg::Keyword { key, .. } = arg {
                if !self.taken.iter().any(|taken| key == taken) {
                    self.cx
                        .error_spanned_by(arg, format!("`{kind}` has no argument named `{key}`"));
                }
            }
        }
    }
}

/// The largest size accepted anywhere: far beyond any real layer, and small enough that
/// sums and products of two sizes cannot overflow.
const MAX_SIZE: usize = u32::MAX as usize;

/// `expr` as a whole number ≥ `min` (0 or 1); `what` says what it is, such as "the
/// number of outputs of `Dense`".
fn whole_number(expr: &Expr, what: &str, min: usize, cx: &mut Ctxt) -> Option<usize> {
    let error = |cx: &mut Ctxt, tokens: &dyn ToTokens, detail: &str| {
        cx.error_spanned_by(tokens.to_token_stream(), format!("{what} must be {detail}"));
        None
    };
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => match int.base10_parse::<usize>() {
                Ok(n) if n < min => error(cx, int, "at least 1"),
                Ok(n) if n > MAX_SIZE => error(cx, int, "at most 4294967295"),
                Ok(n) => Some(n),
                Err(e) => {
                    cx.syn_error(e);
                    None
                }
            },
            other => error(cx, other, "a whole number, such as `128`"),
        },
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
            error(cx, expr, "a positive whole number")
        }
        other => error(cx, other, "an integer literal, such as `128`"),
    }
}

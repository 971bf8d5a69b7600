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
}

/// A layer kind with its checked arguments.
pub enum Kind {
    Dense { outputs: usize },
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

pub const LAYER_KINDS: &[&str] = &["Dense"];

/// The most `f32` parameters that one allocation can hold (`isize::MAX` bytes).
const MAX_PARAMS: usize = isize::MAX as usize / 4;
pub const ACTIVATIONS: &[&str] = &["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity"];

impl Shape {
    /// The shape as written in `input: [...]` and in the generated constants.
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Vector(n) => vec![n],
        }
    }

    pub fn len(self) -> usize {
        self.dims().iter().product()
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
        }
    }

    /// The number of scalar parameters for the given input shape, if it fits in a
    /// `usize`.
    fn num_params(&self, input: Shape) -> Option<usize> {
        match self {
            Kind::Dense { outputs } => input.len().checked_add(1)?.checked_mul(*outputs),
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
        let activation = match &layer.activation {
            Some(call) => activation(call, cx),
            None => Some(Activation::Identity),
        };
        // Shapes can only be followed while every layer so far is understood; after a
        // mistake the rest of the chain is still checked for its own, independent errors.
        let (Some(kind), Some(activation), Some(input)) = (kind, activation, shape) else {
            shape = None;
            continue;
        };
        let output = match kind {
            Kind::Dense { outputs } => Shape::Vector(outputs),
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

fn input_shape(decl: &NetworkDecl, cx: &mut Ctxt) -> Option<Shape> {
    let mut dims = Vec::new();
    for dim in &decl.input.dims {
        match dim.base10_parse::<usize>() {
            Ok(0) => cx.error_spanned_by(dim, "input dimensions must be at least 1"),
            Ok(n) => dims.push(n),
            Err(e) => cx.syn_error(e),
        }
    }
    if dims.len() != decl.input.dims.len() {
        return None;
    }
    match dims[..] {
        [n] => Some(Shape::Vector(n)),
        _ => {
            cx.syn_error(syn::Error::new(
                decl.input.bracket_span,
                format!(
                    "`input` must have one dimension, such as `input: [784]`; found {}",
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
    next: usize,
}

impl<'a> Args<'a> {
    fn new(call: &'a Call, cx: &'a mut Ctxt) -> Self {
        Args { call, cx, next: 0 }
    }

    /// The next positional argument as a whole number ≥ 1.
    fn positional(&mut self, what: &str, example: &str) -> Option<usize> {
        let kind = &self.call.name;
        match self.call.args.get(self.next) {
            Some(Arg::Positional(expr)) => {
                self.next += 1;
                positive_integer(expr, &format!("{what} of `{kind}`"), self.cx)
            }
            _ => {
                self.cx
                    .error_spanned_by(kind, format!("`{kind}` needs {what}, as in `{example}`"));
                None
            }
        }
    }

    /// The slope of LeakyReLU: a number in [0, 1).
    fn slope(&mut self) -> Option<f32> {
        let kind = &self.call.name;
        let Some(Arg::Positional(expr)) = self.call.args.get(self.next) else {
            self.cx.error_spanned_by(
                kind,
                "`LeakyReLU` needs its negative slope, as in `LeakyReLU(0.01)`",
            );
            return None;
        };
        self.next += 1;
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

    /// Reports every argument that was not consumed.
    fn finish(self) {
        for arg in &self.call.args[self.next.min(self.call.args.len())..] {
            let kind = &self.call.name;
            match arg {
                Arg::Positional(expr) => self
                    .cx
                    .error_spanned_by(expr, format!("unexpected argument to `{kind}`")),
                Arg::Keyword { key, value } => self.cx.error_spanned_by(
                    quote::quote!(#key = #value),
                    format!("`{kind}` has no argument named `{key}`"),
                ),
            }
        }
    }
}

/// `expr` as a whole number ≥ 1; `what` says what it is, such as "the number of
/// outputs of `Dense`".
fn positive_integer(expr: &Expr, what: &str, cx: &mut Ctxt) -> Option<usize> {
    let error = |cx: &mut Ctxt, tokens: &dyn ToTokens, detail: &str| {
        cx.error_spanned_by(tokens.to_token_stream(), format!("{what} must be {detail}"));
        None
    };
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => match int.base10_parse::<usize>() {
                Ok(0) => error(cx, int, "at least 1"),
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

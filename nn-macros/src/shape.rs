//! Stage 2: what the declaration means. Each layer kind and activation is understood
//! with its arguments (`kinds.rs`, `activations.rs`), and every layer's input and output
//! shape is inferred from the input shape, so that a shape mistake is a compile error on
//! the layer that makes it, in words, before any type checking runs.

use std::collections::HashSet;

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Attribute, Ident, Visibility};

use crate::activations::Activation;
use crate::args::MAX_SIZE;
use crate::ctxt::Ctxt;
use crate::kinds::Kind;
use crate::parse::{LayerDecl, NetworkDecl};
use crate::sample::{Elem, Shape};

/// The most `f32` parameters that one allocation can hold (`isize::MAX` bytes).
const MAX_PARAMS: usize = isize::MAX as usize / 4;

/// The checked network.
pub struct Model {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub elem: Elem,
    pub input: Shape,
    pub layers: Vec<Layer>,
}

/// One checked layer, with the shapes it receives and produces (per sample) where the
/// macro knows them: up to the first layer of the user's, whose shape rule only const
/// evaluation can run (`None` from there on).
pub struct Layer {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Kind,
    pub activation: Activation,
    pub input: Option<Shape>,
    pub output: Option<Shape>,
    /// The number of scalar parameters, where the macro knows it.
    pub num_params: usize,
    /// Where the layer's kind is written, for the errors of const evaluation.
    pub kind_span: Span,
}

/// What is known of the shape flowing into the next layer.
#[derive(Clone, Copy)]
enum Flow {
    /// Inferred here.
    Known(Shape),
    /// Given by a user's layer: known to const evaluation only, which checks it.
    Computed,
    /// Not followed any further after a mistake.
    Broken,
}

/// Checks the declaration and infers every shape. Returns `None` after recording at
/// least one error in `cx`.
pub fn infer(decl: &NetworkDecl, cx: &mut Ctxt) -> Option<Model> {
    let elem = elem(decl, cx);
    let input = input_shape(decl, cx);
    if decl.layers.is_empty() {
        cx.error_spanned_by(
            &decl.name,
            "a network needs at least one layer after `input`, such as `fc: Dense(10)`",
        );
    }
    let mut names = HashSet::new();
    let mut layers = Vec::new();
    let mut flow = input.map_or(Flow::Broken, Flow::Known);
    for layer in &decl.layers {
        check_name(layer, &mut names, cx);
        let kind = Kind::parse(layer, cx);
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
            (Some(call), _) => Activation::parse(layer, call, cx),
            (None, _) => Some(Activation::Identity),
        };
        // Shapes can only be followed while every layer so far is understood; after a
        // mistake the rest of the chain is still checked for its own, independent errors.
        let (Some(kind), Some(activation)) = (kind, activation) else {
            flow = Flow::Broken;
            continue;
        };
        let input = match flow {
            Flow::Broken => continue,
            Flow::Computed => None,
            Flow::Known(input) => Some(input),
        };
        let (Some(input), true) = (input, kind.is_built_in()) else {
            // A user's layer, or a layer after one: its rule runs in const evaluation.
            layers.push(Layer {
                attrs: layer.attrs.clone(),
                name: layer.name.clone(),
                kind,
                activation,
                input,
                output: None,
                num_params: 0,
                kind_span: layer.kind.path.span(),
            });
            flow = Flow::Computed;
            continue;
        };
        let Some(output) = kind.output(layer, input, cx) else {
            flow = Flow::Broken;
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
            flow = Flow::Broken;
            continue;
        };
        layers.push(Layer {
            attrs: layer.attrs.clone(),
            name: layer.name.clone(),
            kind,
            activation,
            input: Some(input),
            output: Some(output),
            num_params,
            kind_span: layer.kind.path.span(),
        });
        flow = Flow::Known(output);
    }

    let input = input?;
    if layers.len() != decl.layers.len() || layers.is_empty() {
        return None;
    }
    let last = &layers[layers.len() - 1];
    if let Some(output @ Shape::Image { .. }) = last.output {
        cx.error_spanned_by(
            &last.name,
            format!(
                "the network ends with `{}`, which gives {output} per sample, but the losses take a vector\nhelp: add `flat: Flatten` at the end, or a `Dense` layer after one",
                last.name
            ),
        );
        return None;
    }
    let num_params = layers
        .iter()
        .try_fold(0usize, |total, layer| total.checked_add(layer.num_params))
        .filter(|&n| n <= MAX_PARAMS);
    if num_params.is_none() {
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
        elem: elem?,
        input,
        layers,
    })
}

/// The element type in `struct Net<f64>`: `f32` unless given, and only `f32` or `f64`.
fn elem(decl: &NetworkDecl, cx: &mut Ctxt) -> Option<Elem> {
    let Some(ty) = &decl.elem else {
        return Some(Elem::F32);
    };
    match elem_of(ty) {
        Some(elem) => Some(elem),
        None => {
            cx.error_spanned_by(
                ty,
                format!(
                    "the element type of `{}` must be `f32` or `f64`, not `{}`\nhelp: `struct {}<f64>` declares a network of `f64`; without `<…>` it is `f32`",
                    decl.name,
                    quote::ToTokens::to_token_stream(ty),
                    decl.name
                ),
            );
            None
        }
    }
}

/// `f32` or `f64`, if `ty` names one.
pub fn elem_of(ty: &syn::Type) -> Option<Elem> {
    let path = match ty {
        syn::Type::Path(path) => path,
        // A `$elem:ty` of the user's `macro_rules!` arrives in an invisible group.
        syn::Type::Group(group) => return elem_of(&group.elem),
        _ => return None,
    };
    let ident = path.path.get_ident().filter(|_| path.qself.is_none())?;
    match ident.to_string().as_str() {
        "f32" => Some(Elem::F32),
        "f64" => Some(Elem::F64),
        _ => None,
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

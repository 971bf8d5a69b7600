//! The table of activations: each with its arguments, its name and the core value that
//! applies it.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use syn::Expr;

use crate::args::{positional_only, Args};
use crate::ctxt::Ctxt;
use crate::parse::{Call, LayerDecl};
use crate::suggest::{misspelt, unknown};

/// The names `network!` knows, for suggestions.
pub const ACTIVATIONS: &[&str] = &["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity"];

/// A pointwise activation with its checked arguments.
#[derive(Clone)]
pub enum Activation {
    Identity,
    ReLU,
    LeakyReLU(f64),
    Sigmoid,
    Tanh,
    /// A value of the user's whose type implements the core's `Activation` trait: a unit
    /// struct `Softplus`, or a tuple struct `Softplus(2.0)` with its fields.
    User {
        path: syn::Path,
        args: Vec<Expr>,
    },
}

impl Activation {
    /// The activation `call` names after the layer `layer`, with its checked arguments.
    pub fn parse(layer: &LayerDecl, call: &Call, cx: &mut Ctxt) -> Option<Activation> {
        let Some(name) = call.single_name().filter(|name| {
            ACTIVATIONS.contains(&name.as_str()) || name == "Softmax" || misspelt(name, ACTIVATIONS)
        }) else {
            return user_activation(layer, call, cx);
        };
        let mut args = Args::new(&layer.name, call, cx);
        let activation = match name.as_str() {
            "Identity" => Activation::Identity,
            "ReLU" => Activation::ReLU,
            "Sigmoid" => Activation::Sigmoid,
            "Tanh" => Activation::Tanh,
            "LeakyReLU" => {
                let slope = args.fraction("slope", "negative slope", "0.01");
                args.finish();
                return Some(Activation::LeakyReLU(slope?));
            }
            "Softmax" => {
                args.forget();
                cx.error_spanned_by(
                    &call.name,
                    "`Softmax` is not an activation: it is not pointwise\nhelp: end with a layer of logits and train with the loss `SoftmaxCrossEntropy`, which applies it",
                );
                return None;
            }
            other => {
                args.forget();
                cx.error_spanned_by(&call.name, unknown("activation", other, ACTIVATIONS));
                return None;
            }
        };
        args.finish();
        Some(activation)
    }

    pub fn name(&self) -> String {
        let name = match self {
            Activation::Identity => "Identity",
            Activation::ReLU => "ReLU",
            Activation::LeakyReLU(_) => "LeakyReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::User { path, .. } => return quote!(#path).to_string().replace(' ', ""),
        };
        name.to_string()
    }

    /// The core value that applies the activation, or `None` for the identity, which
    /// the passes skip.
    pub fn value(&self) -> Option<TokenStream> {
        Some(match self {
            Activation::Identity => return None,
            Activation::ReLU => quote!(::frechet::ReLU),
            Activation::LeakyReLU(slope) => {
                let slope = Literal::f64_suffixed(*slope);
                quote!(::frechet::LeakyReLU(#slope))
            }
            Activation::Sigmoid => quote!(::frechet::Sigmoid),
            Activation::Tanh => quote!(::frechet::Tanh),
            Activation::User { path, args } if args.is_empty() => quote!(#path),
            Activation::User { path, args } => quote!(#path(#(#args),*)),
        })
    }

    /// The value, the identity included, for choosing an initialisation.
    pub fn init_value(&self) -> TokenStream {
        self.value().unwrap_or_else(|| quote!(::frechet::Identity))
    }
}

/// A user's activation: `path` or `path(args)`, its value's constructor.
fn user_activation(layer: &LayerDecl, call: &Call, cx: &mut Ctxt) -> Option<Activation> {
    let help = "they are the fields of its tuple struct, in order";
    let args = positional_only("activation", &layer.name, call, help, cx)?;
    Some(Activation::User {
        path: call.path.clone(),
        args,
    })
}

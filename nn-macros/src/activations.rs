//! The table of activations: each with its arguments, its name and the core value that
//! applies it.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::args::Args;
use crate::ctxt::Ctxt;
use crate::parse::{Call, LayerDecl};
use crate::suggest::with_suggestion;

/// The names `network!` knows, for suggestions.
pub const ACTIVATIONS: &[&str] = &["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity"];

/// A pointwise activation with its checked arguments.
#[derive(Clone, Copy)]
pub enum Activation {
    Identity,
    ReLU,
    LeakyReLU(f32),
    Sigmoid,
    Tanh,
}

impl Activation {
    /// The activation `call` names after the layer `layer`, with its checked arguments.
    pub fn parse(layer: &LayerDecl, call: &Call, cx: &mut Ctxt) -> Option<Activation> {
        let mut args = Args::new(&layer.name, call, cx);
        let activation = match call.name.to_string().as_str() {
            "Identity" => Activation::Identity,
            "ReLU" => Activation::ReLU,
            "Sigmoid" => Activation::Sigmoid,
            "Tanh" => Activation::Tanh,
            "LeakyReLU" => {
                let slope = args.slope();
                args.finish();
                return Some(Activation::LeakyReLU(slope?));
            }
            other => {
                args.forget();
                let message = format!("unknown activation `{other}`");
                cx.error_spanned_by(&call.name, with_suggestion(message, other, ACTIVATIONS));
                return None;
            }
        };
        args.finish();
        Some(activation)
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "Identity",
            Activation::ReLU => "ReLU",
            Activation::LeakyReLU(_) => "LeakyReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
        }
    }

    /// The core value that applies the activation, or `None` for the identity, which
    /// the passes skip.
    pub fn value(self) -> Option<TokenStream> {
        Some(match self {
            Activation::Identity => return None,
            Activation::ReLU => quote!(::frechet::ReLU),
            Activation::LeakyReLU(slope) => {
                let slope = Literal::f32_suffixed(slope);
                quote!(::frechet::LeakyReLU(#slope))
            }
            Activation::Sigmoid => quote!(::frechet::Sigmoid),
            Activation::Tanh => quote!(::frechet::Tanh),
        })
    }

    /// The value, the identity included, for choosing an initialisation.
    pub fn init_value(self) -> TokenStream {
        self.value().unwrap_or_else(|| quote!(::frechet::Identity))
    }
}

//! The `network!` procedural macro of frechet.
//!
//! The macro is a three-stage pipeline, one file per stage:
//!
//! 1. `parse.rs`: tokens → the declaration as written (`NetworkDecl`), syntax only;
//! 2. `shape.rs`: the declaration → a checked model with every layer's input and output
//!    shape inferred (`Model`), or errors spanned on the offending tokens; the tables of
//!    built-in layer kinds (`kinds.rs`) and activations (`activations.rs`) say what
//!    each name means, `args.rs` checks what each is given, and `sample.rs` holds the
//!    shapes they speak of;
//! 3. `expand.rs`: the model → the struct, its forward pass and its backward pass, the
//!    same statement for every layer through the core's `Layer` contract; where a layer
//!    of the user's hides shapes from the macro, const evaluation checks them.
//!
//! Errors from every stage are gathered in a `Ctxt` (`ctxt.rs`) so that every
//! independent mistake is reported at once, beside a stand-in for the network
//! (`fallback.rs`) so that they do not cascade into errors where it is used.

#![deny(missing_docs)]

mod activations;
mod args;
mod ctxt;
mod expand;
mod fallback;
mod kinds;
mod parse;
mod sample;
mod shape;
mod suggest;
#[cfg(test)]
mod tests;

use proc_macro2::TokenStream;

use crate::fallback::{fallback, Header};

/// Declares a feedforward network with compile-time shapes.
///
/// ```text
/// network! {
///     /// Doc comments and attributes pass through.
///     #[derive(Clone)]
///     pub struct Mlp {
///         input: [784],               // the shape of one sample
///         fc1: Dense(128) -> ReLU,    // name: Kind(args) -> Activation
///         fc2: Dense(10),             // no arrow: Identity
///     }
/// }
/// ```
///
/// The `frechet` crate documents the generated struct and methods.
#[proc_macro]
pub fn network(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    network_tokens(input.into()).into()
}

/// The pipeline on `proc_macro2` tokens, where tests can run it. A mistake becomes
/// `compile_error!`s beside a stand-in for the network (`fallback.rs`); it never panics.
fn network_tokens(tokens: TokenStream) -> TokenStream {
    let decl = match syn::parse2::<parse::NetworkDecl>(tokens.clone()) {
        Ok(decl) => decl,
        Err(error) => {
            let stand_in = Header::read(tokens).map(|header| fallback(&header));
            let error = error.to_compile_error();
            return quote::quote!(#error #stand_in);
        }
    };
    let mut cx = ctxt::Ctxt::new();
    let model = shape::infer(&decl, &mut cx);
    let checked = cx.check().and_then(|()| {
        model.ok_or_else(|| {
            syn::Error::new(
                decl.name.span(),
                "the network could not be checked (an internal error of `network!`; please report it)",
            )
        })
    });
    match checked {
        Ok(model) => expand::expand(&model),
        Err(errors) => {
            let errors = errors.to_compile_error();
            let stand_in = fallback(&Header::of(&decl));
            quote::quote!(#errors #stand_in)
        }
    }
}

//! The `network!` procedural macro of frechet.
//!
//! The macro is a three-stage pipeline, one file per stage:
//!
//! 1. [`parse`]: tokens → the declaration as written ([`parse::NetworkDecl`]), syntax only;
//! 2. [`shape`]: the declaration → a checked model with every layer's input and output
//!    shape inferred ([`shape::Model`]), or errors spanned on the offending tokens;
//! 3. [`expand`]: the model → the struct, its forward pass and its backward pass.
//!
//! Errors from every stage are gathered in a [`ctxt::Ctxt`] so that every independent
//! mistake is reported at once.

mod ctxt;
mod expand;
mod parse;
mod shape;

use proc_macro::TokenStream;

/// Declares a feedforward network with compile-time shapes; see the `frechet` crate
/// for the syntax and the generated API.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    let decl = syn::parse_macro_input!(input as parse::NetworkDecl);
    let mut cx = ctxt::Ctxt::new();
    let model = shape::infer(&decl, &mut cx);
    match (cx.check(), model) {
        (Ok(()), Some(model)) => expand::expand(&model).into(),
        (Err(errors), _) => errors.to_compile_error().into(),
        (Ok(()), None) => unreachable!("shape inference fails only with an error"),
    }
}

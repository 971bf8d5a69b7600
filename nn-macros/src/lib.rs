//! The `network!` procedural macro of frechet.
//!
//! The macro is a three-stage pipeline, one file per stage:
//!
//! 1. `parse.rs`: tokens → the declaration as written (`NetworkDecl`), syntax only;
//! 2. `shape.rs`: the declaration → a checked model with every layer's input and output
//!    shape inferred (`Model`), or errors spanned on the offending tokens;
//! 3. `expand.rs`: the model → the struct, its forward pass and its backward pass
//!    (with `summary.rs` rendering the layer table it embeds).
//!
//! Errors from every stage are gathered in a `Ctxt` (`ctxt.rs`) so that every
//! independent mistake is reported at once.

mod ctxt;
mod expand;
mod parse;
mod shape;
mod suggest;
mod summary;

use proc_macro::TokenStream;

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
pub fn network(input: TokenStream) -> TokenStream {
    let decl = syn::parse_macro_input!(input as parse::NetworkDecl);
    let mut cx = ctxt::Ctxt::new();
    let model = shape::infer(&decl, &mut cx);
    let expanded = cx.check().and_then(|()| {
        model.ok_or_else(|| {
            syn::Error::new(decl.name.span(), "the network could not be checked (an internal error of `network!`; please report it)")
        })
    });
    match expanded {
        Ok(model) => expand::expand(&model).into(),
        Err(errors) => errors.to_compile_error().into(),
    }
}

//! After a mistake: a stand-in for the network, so that one mistake is one error.
//!
//! Without it, every use of the network in the rest of the crate would add an error of
//! its own (`cannot find type `Net``, `no function named `new``) under the one that
//! matters. The stand-in is the struct, empty, with every generated method and constant
//! under the same name and a signature loose enough to accept what a correct network
//! would; it is never run, since the `compile_error!` beside it stops the build.

use proc_macro2::{Group, Literal, TokenStream};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{bracketed, Attribute, Ident, LitInt, Token, Visibility};

use crate::parse::NetworkDecl;

/// What a stand-in needs to know of a declaration.
pub struct Header {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    /// The number of input dimensions, if they could be read.
    input_rank: Option<usize>,
}

impl Header {
    /// The header of a declaration that parsed.
    pub fn of(decl: &NetworkDecl) -> Self {
        Header {
            attrs: decl.attrs.clone(),
            vis: decl.vis.clone(),
            name: decl.name.clone(),
            input_rank: Some(decl.input.dims.len()),
        }
    }

    /// The header of a declaration that did not parse, if it gets as far as its name.
    pub fn read(tokens: TokenStream) -> Option<Self> {
        let parser = |input: ParseStream| {
            let attrs = input.call(Attribute::parse_outer)?;
            let vis = input.parse()?;
            input.parse::<Token![struct]>()?;
            let name = input.parse()?;
            let body: Option<Group> = input.parse().ok();
            input.parse::<TokenStream>()?;
            let input_rank = body.and_then(|body| input_rank.parse2(body.stream()).ok());
            Ok(Header {
                attrs,
                vis,
                name,
                input_rank,
            })
        };
        parser.parse2(tokens).ok()
    }
}

/// The number of dimensions in `input: [d, ...], ...`, when they are integer literals.
fn input_rank(body: ParseStream) -> syn::Result<usize> {
    body.parse::<Ident>()?;
    body.parse::<Token![:]>()?;
    let dims;
    bracketed!(dims in body);
    let rank = Punctuated::<LitInt, Token![,]>::parse_terminated(&dims)?.len();
    body.parse::<TokenStream>()?;
    Ok(rank)
}

/// The stand-in for the network `header` declares.
pub fn fallback(header: &Header) -> TokenStream {
    let Header {
        attrs,
        vis,
        name,
        input_rank,
    } = header;
    let rank = Literal::usize_unsuffixed(input_rank.unwrap_or(1));
    let never = quote!(::std::unreachable!("`network!` rejected this declaration"));
    quote! {
        #(#attrs)*
        #vis struct #name {}

        impl #name {
            #[doc(hidden)]
            pub const INPUT_SHAPE: [usize; #rank] = [0; #rank];
            #[doc(hidden)]
            pub const OUTPUT_SHAPE: [usize; 1] = [0];
            #[doc(hidden)]
            pub const NUM_PARAMS: usize = 0;
            #[doc(hidden)]
            pub const SUMMARY: &'static str = "";

            #[doc(hidden)]
            pub fn new(_seed: u64) -> Self {
                #never
            }

            #[doc(hidden)]
            pub fn zeros() -> Self {
                #never
            }

            #[doc(hidden)]
            pub fn forward<X>(&self, _x: X) -> ::frechet::ndarray::Array2<f32> {
                #never
            }

            #[doc(hidden)]
            pub fn loss_and_grads<X, L: ::frechet::Loss>(
                &self,
                _x: X,
                _targets: L::Targets<'_>,
                _loss: &L,
            ) -> (f32, Self) {
                #never
            }

            #[doc(hidden)]
            pub fn train_step<X, L: ::frechet::Loss, O: ::frechet::Optimizer>(
                &mut self,
                _x: X,
                _targets: L::Targets<'_>,
                _loss: &L,
                _optimizer: &mut O,
            ) -> f32 {
                #never
            }

            #[doc(hidden)]
            pub fn save_safetensors(&self, _path: impl ::std::convert::AsRef<::std::path::Path>) -> ::std::result::Result<(), ::frechet::Error> {
                #never
            }

            #[doc(hidden)]
            pub fn load_safetensors(_path: impl ::std::convert::AsRef<::std::path::Path>) -> ::std::result::Result<Self, ::frechet::Error> {
                #never
            }
        }

        impl ::frechet::Network for #name {
            fn layers(&self) -> ::std::vec::Vec<(&'static str, &dyn ::frechet::Layer)> {
                ::std::vec::Vec::new()
            }

            fn layers_mut(&mut self) -> ::std::vec::Vec<(&'static str, &mut dyn ::frechet::Layer)> {
                ::std::vec::Vec::new()
            }
        }
    }
}

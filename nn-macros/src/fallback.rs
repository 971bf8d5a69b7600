//! After a mistake: a stand-in for the network, so that one mistake is one error.
//!
//! Without it, every use of the network in the rest of the crate would add an error of
//! its own (`cannot find type `Net``, `no function named `new``) under the one that
//! matters. The stand-in is the expansion of a network with the declared name, attributes
//! and input rank and one layer of the core's `Rejected` kind, so it has every generated
//! item under the same name and signature by construction; it is never run, since the
//! `compile_error!` beside it stops the build.

use proc_macro2::{Group, TokenStream};
use quote::format_ident;
use syn::parse::{ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{bracketed, Attribute, Ident, LitInt, Token, Visibility};

use crate::activations::Activation;
use crate::expand::expand;
use crate::kinds::Kind;
use crate::parse::{parse_elem, NetworkDecl};
use crate::sample::{Elem, Shape};
use crate::shape::{elem_of, Layer, Model};

/// What a stand-in needs to know of a declaration.
pub struct Header {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    /// The element type, `f32` where it is not one of the two.
    elem: Elem,
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
            elem: decl.elem.as_ref().and_then(elem_of).unwrap_or(Elem::F32),
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
            let elem = parse_elem(input).ok().flatten();
            let body: Option<Group> = input.parse().ok();
            input.parse::<TokenStream>()?;
            let input_rank = body.and_then(|body| input_rank.parse2(body.stream()).ok());
            Ok(Header {
                attrs,
                vis,
                name,
                elem: elem.as_ref().and_then(elem_of).unwrap_or(Elem::F32),
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
    let input = match header.input_rank {
        Some(3) => Shape::Image {
            channels: 0,
            height: 0,
            width: 0,
        },
        _ => Shape::Vector(0),
    };
    let rejected = Layer {
        attrs: Vec::new(),
        name: format_ident!("__rejected"),
        kind: Kind::Rejected,
        activation: Activation::Identity,
        input: Some(input),
        output: Some(Shape::Vector(0)),
        num_params: 0,
        kind_span: proc_macro2::Span::call_site(),
    };
    expand(&Model {
        attrs: header.attrs.clone(),
        vis: header.vis.clone(),
        name: header.name.clone(),
        elem: header.elem,
        input,
        layers: vec![rejected],
    })
}

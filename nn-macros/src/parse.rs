//! Stage 1: the declaration as written, syntax only.
//!
//! ```text
//! network! {
//!     /// doc comments and attributes pass through
//!     #[derive(Clone)]
//!     pub struct Mlp {                      // or `Mlp<f64>`, a network of f64
//!         input: [784],
//!         fc1: Dense(128) -> ReLU,
//!         fc2: Dense(10),
//!     }
//! }
//! ```
//!
//! Layer kinds, activations and their arguments are kept as written (identifiers and
//! expressions); what they mean and whether they are valid is decided in `shape`, so
//! that mistakes there can be reported together and with suggestions.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{braced, bracketed, parenthesized, Attribute, Expr, Ident, LitInt, Token, Visibility};

/// `[attrs] vis struct Name[<elem>] { input: [...], layers... }`
pub struct NetworkDecl {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// The element type in `struct Name<f64>`, as written.
    pub elem: Option<syn::Type>,
    pub input: InputDecl,
    pub layers: Vec<LayerDecl>,
}

/// `input: [d1, d2, ...]`
pub struct InputDecl {
    pub dims: Vec<LitInt>,
    pub bracket_span: Span,
}

/// `[attrs] name: Kind(args) -> Activation(args)`
pub struct LayerDecl {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Call,
    pub activation: Option<Call>,
}

/// `Name` or `Name(arg, key = arg, ...)`, where `Name` may be a path (`my::Scale`): a
/// type of the user's.
pub struct Call {
    pub path: syn::Path,
    /// The path's last name, for messages.
    pub name: Ident,
    pub args: Vec<Arg>,
}

impl Call {
    /// The name, if the call names a single identifier, as every built-in is named.
    pub fn single_name(&self) -> Option<String> {
        self.path.get_ident().map(ToString::to_string)
    }
}

/// A positional argument `expr` or a keyword argument `key = expr`.
pub enum Arg {
    Positional(Expr),
    Keyword { key: Ident, value: Expr },
}

impl Parse for NetworkDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        input.parse::<Token![struct]>()?;
        let name = input.parse()?;
        let elem = parse_elem(input)?;
        let body;
        braced!(body in input);
        let input_decl = body.parse::<InputDecl>()?;
        let mut layers = Vec::<LayerDecl>::new();
        while !body.is_empty() {
            if !body.peek(Token![,]) {
                let after = match layers.last() {
                    Some(layer) => format!("the layer `{}`", layer.name),
                    None => "`input: [...]`".to_string(),
                };
                return Err(body.error(format!(
                    "expected `,` after {after}\nhelp: separate the input and the layers with commas"
                )));
            }
            body.parse::<Token![,]>()?;
            if body.is_empty() {
                break;
            }
            layers.push(body.parse()?);
        }
        Ok(NetworkDecl {
            attrs,
            vis,
            name,
            elem,
            input: input_decl,
            layers,
        })
    }
}

/// The `<elem>` after a network's name, if there is one.
pub fn parse_elem(input: ParseStream) -> syn::Result<Option<syn::Type>> {
    if !input.peek(Token![<]) {
        return Ok(None);
    }
    input.parse::<Token![<]>()?;
    let elem = input.parse()?;
    input.parse::<Token![>]>()?;
    Ok(Some(elem))
}

impl Parse for InputDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let keyword: Ident = input.parse()?;
        if keyword != "input" {
            return Err(syn::Error::new(
                keyword.span(),
                "missing `input`: a network starts with the shape of one sample, such as `input: [784]`",
            ));
        }
        input.parse::<Token![:]>()?;
        let shape_help = "help: write the shape of one sample in brackets: `input: [784]` for features, `input: [1, 28, 28]` for an image";
        if !input.peek(syn::token::Bracket) {
            return Err(input.error(format!(
                "expected the input shape in brackets\n{shape_help}"
            )));
        }
        let content;
        let bracket = bracketed!(content in input);
        let dims = Punctuated::<LitInt, Token![,]>::parse_terminated(&content).map_err(|e| {
            syn::Error::new(
                e.span(),
                format!("input dimensions must be integer literals\n{shape_help}"),
            )
        })?;
        Ok(InputDecl {
            dims: dims.into_iter().collect(),
            bracket_span: bracket.span.join(),
        })
    }
}

impl Parse for LayerDecl {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        let kind = input.parse()?;
        let activation = if input.peek(Token![->]) {
            input.parse::<Token![->]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        Ok(LayerDecl {
            attrs,
            name,
            kind,
            activation,
        })
    }
}

impl Parse for Call {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let path = input.call(syn::Path::parse_mod_style)?;
        let name = path
            .segments
            .last()
            .map(|segment| segment.ident.clone())
            .ok_or_else(|| input.error("expected a layer kind, such as `Dense(128)`"))?;
        let mut args = Vec::new();
        if input.peek(syn::token::Paren) {
            let content;
            parenthesized!(content in input);
            args = Punctuated::<Arg, Token![,]>::parse_terminated(&content)?
                .into_iter()
                .collect();
        }
        Ok(Call { path, name, args })
    }
}

impl ToTokens for Arg {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Arg::Positional(expr) => expr.to_tokens(tokens),
            Arg::Keyword { key, value } => tokens.extend(quote!(#key = #value)),
        }
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) {
            let key = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg::Keyword {
                key,
                value: input.parse()?,
            })
        } else {
            Ok(Arg::Positional(input.parse()?))
        }
    }
}

//! The table of built-in layer kinds: for each, its arguments, its shape rule with the
//! messages that explain a shape it cannot take, its parameter count and its core type.
//! Everything else about a layer — its maps, its scratch, its parameter names — the
//! expansion asks of the core type through the `Layer` contract, the same for every
//! kind; adding a kind is a core type and an entry here.

use proc_macro2::{Group, Literal, Span, TokenStream, TokenTree};
use quote::{format_ident, quote};
use syn::Expr;

use crate::args::{positional_only, Args};
use crate::ctxt::Ctxt;
use crate::parse::LayerDecl;
use crate::sample::{Elem, Shape, Window};
use crate::suggest::{misspelt, unknown};

/// The names `network!` knows, for suggestions.
pub const LAYER_KINDS: &[&str] = &[
    "Dense",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
];

/// A layer kind with its checked arguments.
pub enum Kind {
    Dense {
        outputs: usize,
    },
    Conv2d {
        outputs: usize,
        window: Window,
    },
    /// `MaxPool2d` or `AvgPool2d`: a window without padding.
    Pool {
        op: PoolOp,
        window: Window,
    },
    Flatten,
    /// Inverted dropout of elements with probability `rate`, in training only.
    /// (`rate` in `f64`, as PyTorch's Python float: it scales by `1/(1 − rate)` rounded
    /// from there.)
    Dropout {
        rate: f64,
    },
    /// Batch normalisation of a vector's features (`BatchNorm1d`) or an image's channels
    /// (`BatchNorm2d`).
    BatchNorm {
        image: bool,
        eps: f64,
        momentum: f64,
    },
    /// A type of the user's that implements the core's `Layer` contract, given its input
    /// shape and then `args` as its generic parameters: `dw: DepthwiseConv2d(3)` is a
    /// `DepthwiseConv2d<Dims<..>, 3>`.
    User {
        path: syn::Path,
        args: Vec<Expr>,
    },
    /// The one layer of the stand-in `network!` emits after a mistake (`fallback.rs`),
    /// taking input of the declared rank.
    Rejected,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PoolOp {
    Max,
    Avg,
}

impl Kind {
    /// The layer kind `call` names for the layer `layer`, with its checked arguments.
    pub fn parse(layer: &LayerDecl, cx: &mut Ctxt) -> Option<Kind> {
        let call = &layer.kind;
        let Some(name) = call
            .single_name()
            .filter(|name| LAYER_KINDS.contains(&name.as_str()) || misspelt(name, LAYER_KINDS))
        else {
            return user_layer(layer, cx);
        };
        let mut args = Args::new(&layer.name, call, cx);
        match name.as_str() {
            "Dense" => {
                let outputs = args.positional("the number of outputs", "Dense(128)");
                args.finish();
                Some(Kind::Dense { outputs: outputs? })
            }
            "Conv2d" => {
                let example = "Conv2d(6, kernel = 5)";
                let outputs = args.positional("the number of output channels", example);
                let size = args.required_keyword("kernel", example);
                let stride = args.keyword("stride", 1, 1);
                let padding = args.keyword("padding", 0, 0);
                args.finish();
                Some(Kind::Conv2d {
                    outputs: outputs?,
                    window: Window {
                        size: size?,
                        stride: stride?,
                        padding: padding?,
                    },
                })
            }
            kind @ ("MaxPool2d" | "AvgPool2d") => {
                let op = if kind == "MaxPool2d" {
                    PoolOp::Max
                } else {
                    PoolOp::Avg
                };
                let size = args.positional("the window size", &format!("{kind}(2)"));
                let stride = size.and_then(|size| args.keyword("stride", size, 1));
                args.finish();
                Some(Kind::Pool {
                    op,
                    window: Window {
                        size: size?,
                        stride: stride?,
                        padding: 0,
                    },
                })
            }
            "Flatten" => {
                args.finish();
                Some(Kind::Flatten)
            }
            "Dropout" => {
                let rate = args.fraction("rate", "rate", "0.25");
                args.finish();
                Some(Kind::Dropout { rate: rate? })
            }
            kind @ ("BatchNorm1d" | "BatchNorm2d") => {
                let eps = args.keyword_number("eps", (1e-5, "1e-5"), |eps| eps > 0.0, "positive");
                let momentum = args.keyword_number(
                    "momentum",
                    (0.1, "0.1"),
                    |momentum| (0.0..=1.0).contains(&momentum),
                    "at least 0 and at most 1",
                );
                args.finish();
                Some(Kind::BatchNorm {
                    image: kind == "BatchNorm2d",
                    eps: eps?,
                    momentum: momentum?,
                })
            }
            other => {
                args.forget();
                cx.error_spanned_by(&call.name, unknown("layer kind", other, LAYER_KINDS));
                None
            }
        }
    }

    /// The name used in the summary table and in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Dense { .. } => "Dense",
            Kind::Conv2d { .. } => "Conv2d",
            Kind::Pool {
                op: PoolOp::Max, ..
            } => "MaxPool2d",
            Kind::Pool {
                op: PoolOp::Avg, ..
            } => "AvgPool2d",
            Kind::Flatten => "Flatten",
            Kind::Dropout { .. } => "Dropout",
            Kind::BatchNorm { image: false, .. } => "BatchNorm1d",
            Kind::BatchNorm { image: true, .. } => "BatchNorm2d",
            Kind::User { .. } => "a layer of your own",
            Kind::Rejected => "Rejected",
        }
    }

    /// Whether the layer may have weights (and so takes an activation, and a layer
    /// after it must pass its error signal back); a user's layer may.
    pub fn has_params(&self) -> bool {
        matches!(
            self,
            Kind::Dense { .. } | Kind::Conv2d { .. } | Kind::BatchNorm { .. } | Kind::User { .. }
        )
    }

    /// Whether the macro knows the layer's shape rule; a user's layer has its own, which
    /// only const evaluation can run.
    pub fn is_built_in(&self) -> bool {
        !matches!(self, Kind::User { .. })
    }

    /// The number of scalar parameters for the given input shape, if it fits in a
    /// `usize`.
    pub fn num_params(&self, input: Shape) -> Option<usize> {
        match self {
            Kind::Dense { outputs } => input.len()?.checked_add(1)?.checked_mul(*outputs),
            Kind::Conv2d { outputs, window } => {
                let Shape::Image { channels, .. } = input else {
                    return Some(0);
                };
                let patch = channels
                    .checked_mul(window.size)?
                    .checked_mul(window.size)?;
                patch.checked_add(1)?.checked_mul(*outputs)
            }
            Kind::Pool { .. } | Kind::Flatten | Kind::Dropout { .. } | Kind::Rejected => Some(0),
            // γ and β, a value per channel.
            Kind::BatchNorm { .. } => input.dims()[0].checked_mul(2),
            // Counted by const evaluation, from the layer's type.
            Kind::User { .. } => Some(0),
        }
    }

    /// The shape `layer` gives for `input`, or `None` after reporting why it cannot take
    /// it, naming the layer and the shape it received.
    pub fn output(&self, layer: &LayerDecl, input: Shape, cx: &mut Ctxt) -> Option<Shape> {
        let name = &layer.name;
        let kind_name = self.name();
        let mut refuse = |message: String| {
            cx.error_spanned_by(&layer.kind.name, message);
            None
        };
        match (self, input) {
            (Kind::Rejected | Kind::User { .. }, _) => Some(Shape::Vector(0)),
            (Kind::Dropout { .. }, _) => Some(input),
            (Kind::BatchNorm { image: false, .. }, Shape::Vector(_))
            | (Kind::BatchNorm { image: true, .. }, Shape::Image { .. }) => Some(input),
            (Kind::BatchNorm { image: false, .. }, Shape::Image { .. }) => refuse(format!(
                "`{name}` receives {input}, but `BatchNorm1d` takes a vector of features\nhelp: `BatchNorm2d` normalises the channels of an image"
            )),
            (Kind::BatchNorm { image: true, .. }, Shape::Vector(n)) => refuse(format!(
                "`{name}` receives a vector of {n} features, but `BatchNorm2d` takes an image\nhelp: `BatchNorm1d` normalises the features of a vector"
            )),
            (Kind::Dense { outputs }, Shape::Vector(_)) => Some(Shape::Vector(*outputs)),
            (Kind::Dense { .. }, Shape::Image { .. }) => refuse(format!(
                "`{name}` receives {input}, but `Dense` takes a vector of features\nhelp: insert `Flatten` before `{name}`, as in `flat: Flatten,`"
            )),
            (Kind::Flatten, Shape::Image { .. }) => match input.len() {
                Some(n) => Some(Shape::Vector(n)),
                None => refuse(format!(
                    "`{name}` would give more features than fit in memory ({input})"
                )),
            },
            (Kind::Conv2d { .. } | Kind::Pool { .. } | Kind::Flatten, Shape::Vector(n)) => refuse(
                format!("`{name}` receives a vector of {n} features, but `{kind_name}` takes an image\nhelp: images are declared as `input: [channels, height, width]`, and only layers before any `Flatten` or `Dense` see them"),
            ),
            (
                Kind::Conv2d { window, .. } | Kind::Pool { window, .. },
                Shape::Image {
                    channels,
                    height,
                    width,
                },
            ) => {
                // Every size is below 2³², so this cannot overflow.
                let (padded_h, padded_w) =
                    (height + 2 * window.padding, width + 2 * window.padding);
                if window.size > padded_h || window.size > padded_w {
                    let what = match self {
                        Kind::Conv2d { .. } => "kernel",
                        _ => "window",
                    };
                    let padded = if window.padding > 0 {
                        format!(" (padded to {padded_h}×{padded_w})")
                    } else {
                        String::new()
                    };
                    let k = window.size;
                    return refuse(format!(
                        "`{name}` receives {input}{padded}, but its {k}×{k} {what} needs at least {k}×{k}"
                    ));
                }
                let channels = match self {
                    Kind::Conv2d { outputs, .. } => *outputs,
                    _ => channels,
                };
                Some(Shape::Image {
                    channels,
                    height: (padded_h - window.size) / window.stride + 1,
                    width: (padded_w - window.size) / window.stride + 1,
                })
            }
        }
    }

    /// The core type of the layer for `input`: with its shapes as typenum numbers where
    /// the macro knows them, and as a `Dims` of const numbers where only const
    /// evaluation does (a user's layer, and every layer after one).
    ///
    /// A network of another element type than `f32` gives it as every layer type's last
    /// generic argument (`Dense<…, f64>`); `f32` is every layer type's default.
    pub fn ty(&self, input: &Input, elem: Elem) -> TokenStream {
        let elem = elem.trailing_arg();
        // The input as a number of features (for `Dense`) and as a shape type.
        let (features, image) = match input {
            Input::Known(Shape::Vector(n)) if self.is_built_in() => {
                let n = type_number(*n);
                (n.clone(), quote!(::frechet::shape::Vector<#n>))
            }
            Input::Known(
                shape @ Shape::Image {
                    channels,
                    height,
                    width,
                },
            ) if self.is_built_in() => {
                let [c, h, w] = [*channels, *height, *width].map(type_number);
                let image = quote!(::frechet::shape::Image<#c, #h, #w>);
                (type_number(shape.len().unwrap_or(0)), image)
            }
            Input::Known(shape) => {
                let dims = known_dims(*shape);
                (dims.clone(), dims)
            }
            Input::Computed(dims) => ((*dims).clone(), (*dims).clone()),
        };
        match self {
            Kind::Dense { outputs } => {
                let outputs = type_number(*outputs);
                quote!(::frechet::Dense<#features, #outputs #elem>)
            }
            Kind::Conv2d { outputs, window } => {
                let outputs = type_number(*outputs);
                let [k, s, p] = [window.size, window.stride, window.padding].map(type_number);
                quote!(::frechet::Conv2d<#image, #outputs, #k, #s, #p #elem>)
            }
            Kind::Pool { op, window } => {
                let [k, s] = [window.size, window.stride].map(type_number);
                match op {
                    PoolOp::Max => quote!(::frechet::MaxPool2d<#image, #k, #s #elem>),
                    PoolOp::Avg => quote!(::frechet::AvgPool2d<#image, #k, #s #elem>),
                }
            }
            Kind::Flatten => quote!(::frechet::Flatten<#image #elem>),
            Kind::Dropout { rate } => {
                let rate = Literal::f64_suffixed(*rate);
                quote!(::frechet::Dropout<#image, { #rate.to_bits() } #elem>)
            }
            Kind::BatchNorm {
                image: is_image,
                eps,
                momentum,
            } => {
                let [eps, momentum] = [*eps, *momentum].map(Literal::f64_suffixed);
                quote!(::frechet::BatchNorm<#image, #is_image, { #eps.to_bits() }, { #momentum.to_bits() } #elem>)
            }
            Kind::User { path, args } => {
                let args = args.iter().map(|arg| match arg {
                    Expr::Lit(_) => quote!(#arg),
                    other => quote!({ #other }),
                });
                // On the user's line, so that a type without the contract is reported
                // there.
                respan(quote!(#path<#image #(, #args)* #elem>), path_span(path))
            }
            Kind::Rejected => match input {
                Input::Known(Shape::Image { .. }) => {
                    quote!(::frechet::layer::Rejected<::frechet::ndarray::Ix4 #elem>)
                }
                _ => quote!(::frechet::layer::Rejected<::frechet::ndarray::Ix2 #elem>),
            },
        }
    }
}

/// A layer's input as its type needs it.
pub enum Input {
    /// A shape the macro inferred.
    Known(Shape),
    /// A `Dims` type whose numbers const evaluation computes.
    Computed(TokenStream),
}

/// The `Dims` type of a shape the macro knows.
fn known_dims(shape: Shape) -> TokenStream {
    let dims = shape.dims();
    let [rank, a, b, c] = [
        dims.len(),
        dims[0],
        dims.get(1).copied().unwrap_or(0),
        dims.get(2).copied().unwrap_or(0),
    ]
    .map(Literal::usize_unsuffixed);
    quote!(::frechet::shape::Dims<#rank, #a, #b, #c>)
}

/// A user's layer: `path(args)`, positional arguments only, since they become generic
/// parameters of its type in order.
fn user_layer(layer: &LayerDecl, cx: &mut Ctxt) -> Option<Kind> {
    let call = &layer.kind;
    let kind = &call.name;
    let help = format!("they become the generic parameters of `{kind}` after its input shape, in order, as in `{kind}(3)` for `{kind}<Input, 3>`");
    let args = positional_only("layer", &layer.name, call, &help, cx)?;
    Some(Kind::User {
        path: call.path.clone(),
        args,
    })
}

/// A typenum type for `n`: its named alias where typenum has one, its bits otherwise.
fn type_number(n: usize) -> TokenStream {
    if n <= 1024 {
        let alias = format_ident!("U{n}");
        return quote!(::frechet::typenum::#alias);
    }
    let mut ty = quote!(::frechet::typenum::UTerm);
    for bit in (0..usize::BITS - n.leading_zeros()).rev() {
        let b = if n >> bit & 1 == 1 {
            quote!(::frechet::typenum::B1)
        } else {
            quote!(::frechet::typenum::B0)
        };
        ty = quote!(::frechet::typenum::UInt<#ty, #b>);
    }
    ty
}

/// Where a path is written (its first name, as `Span::join` is unstable).
fn path_span(path: &syn::Path) -> Span {
    path.segments
        .first()
        .map_or_else(Span::call_site, |segment| segment.ident.span())
}

/// `tokens` with every span set to `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

//! The shape of one sample, its element type, and the window of a convolution or a
//! pool: the vocabulary every stage after parsing speaks.

use std::fmt;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

/// The element type of a network: `struct Net { … }` is `f32`, `struct Net<f64> { … }`
/// `f64`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    F32,
    F64,
}

impl Elem {
    /// The generic argument a layer's type gets for this element type: none for `f32`,
    /// every layer type's default, so that an `f32` network's types read as written.
    pub fn trailing_arg(self) -> TokenStream {
        match self {
            Elem::F32 => TokenStream::new(),
            Elem::F64 => quote!(, f64),
        }
    }
}

impl ToTokens for Elem {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(match self {
            Elem::F32 => quote!(f32),
            Elem::F64 => quote!(f64),
        });
    }
}

/// A per-sample shape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Vector(usize),
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
}

/// A square window sliding over an image: a kernel or a pooling window.
#[derive(Clone, Copy)]
pub struct Window {
    pub size: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Shape {
    /// The shape as written in `input: [...]` and in the generated constants.
    pub fn dims(self) -> Vec<usize> {
        match self {
            Shape::Vector(n) => vec![n],
            Shape::Image {
                channels,
                height,
                width,
            } => vec![channels, height, width],
        }
    }

    /// The number of scalars in one sample, if it fits in a `usize`.
    pub fn len(self) -> Option<usize> {
        self.dims()
            .into_iter()
            .try_fold(1usize, |len, d| len.checked_mul(d))
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims().iter().map(ToString::to_string).collect();
        f.write_str(&dims.join("×"))
    }
}

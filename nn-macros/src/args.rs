//! Stage 2a: the arguments of a layer kind or an activation, handed out one by one:
//! positional ones in order, keyword ones by name, each a literal of the right kind and
//! range; whatever is left over is reported. Every message names the layer.

use quote::ToTokens;
use syn::{Expr, Ident, Lit};

use crate::ctxt::Ctxt;
use crate::parse::{Arg, Call};
use crate::suggest::{closest, with_suggestion};

/// Hands out a call's arguments one by one and reports what is left over.
pub struct Args<'a> {
    /// The layer the arguments belong to.
    layer: &'a Ident,
    call: &'a Call,
    cx: &'a mut Ctxt,
    /// The positional arguments handed out so far.
    next: usize,
    /// The keyword arguments handed out so far.
    taken: Vec<&'static str>,
}

impl<'a> Args<'a> {
    pub fn new(layer: &'a Ident, call: &'a Call, cx: &'a mut Ctxt) -> Self {
        Args {
            layer,
            call,
            cx,
            next: 0,
            taken: Vec::new(),
        }
    }

    /// The next positional argument, if there is one.
    fn next_positional(&mut self) -> Option<&'a Expr> {
        let expr = self
            .call
            .args
            .iter()
            .filter_map(|arg| match arg {
                Arg::Positional(expr) => Some(expr),
                Arg::Keyword { .. } => None,
            })
            .nth(self.next)?;
        self.next += 1;
        Some(expr)
    }

    /// The value of keyword argument `key`, if given once (a second one is reported).
    fn find(&mut self, key: &'static str) -> Option<&'a Expr> {
        self.taken.push(key);
        let mut found = None;
        for arg in &self.call.args {
            if let Arg::Keyword { key: k, value } = arg {
                if k == key {
                    if found.is_some() {
                        self.cx.error_spanned_by(
                            k,
                            format!("`{}`: `{key}` is given more than once", self.layer),
                        );
                    } else {
                        found = Some(value);
                    }
                }
            }
        }
        found
    }

    /// Keyword argument `key`: a whole number ≥ `min`, `default` when absent.
    pub fn keyword(&mut self, key: &'static str, default: usize, min: usize) -> Option<usize> {
        let what = format!("`{}`: the {key} of `{}`", self.layer, self.call.name);
        match self.find(key) {
            Some(expr) => whole_number(expr, &what, min, self.cx),
            None => Some(default),
        }
    }

    /// Keyword argument `key`: a whole number ≥ 1 that must be given.
    pub fn required_keyword(&mut self, key: &'static str, example: &str) -> Option<usize> {
        let (layer, kind) = (self.layer, &self.call.name);
        match self.find(key) {
            Some(expr) => whole_number(
                expr,
                &format!("`{layer}`: the {key} of `{kind}`"),
                1,
                self.cx,
            ),
            // A misspelt `key` is one mistake, reported by `finish` with a suggestion.
            None if self.misspelt(key) => None,
            None => {
                self.cx.error_spanned_by(
                    kind,
                    format!("`{layer}`: `{kind}` needs its {key} size, as in `{example}`"),
                );
                None
            }
        }
    }

    /// Whether a keyword argument that is not `key` looks like a misspelling of it.
    fn misspelt(&self, key: &'static str) -> bool {
        self.call.args.iter().any(|arg| {
            matches!(arg, Arg::Keyword { key: k, .. } if k != key && closest(&k.to_string(), &[key]).is_some())
        })
    }

    /// The next positional argument as a whole number ≥ 1.
    pub fn positional(&mut self, what: &str, example: &str) -> Option<usize> {
        let (layer, kind) = (self.layer, &self.call.name);
        match self.next_positional() {
            Some(expr) => whole_number(expr, &format!("`{layer}`: {what} of `{kind}`"), 1, self.cx),
            None => {
                self.cx.error_spanned_by(
                    kind,
                    format!("`{layer}`: `{kind}` needs {what}, as in `{example}`"),
                );
                None
            }
        }
    }

    /// The next positional argument as a number in [0, 1): `what` it is (LeakyReLU's
    /// "slope", Dropout's "rate"), the `full` name if it has one ("negative slope"), and
    /// an `example` of the number.
    pub fn fraction(&mut self, what: &str, full: &str, example: &str) -> Option<f64> {
        let (layer, kind) = (self.layer, &self.call.name);
        let Some(expr) = self.next_positional() else {
            self.cx.error_spanned_by(
                kind,
                format!("`{layer}`: `{kind}` needs its {full}, as in `{kind}({example})`"),
            );
            return None;
        };
        match number(expr) {
            Some(value) if (0.0..1.0).contains(&value) => Some(value),
            Some(_) => {
                self.cx.error_spanned_by(
                    expr,
                    format!("`{layer}`: the {what} of `{kind}` must be at least 0 and less than 1, not `{}`", as_written(expr)),
                );
                None
            }
            None => {
                self.cx.error_spanned_by(
                    expr,
                    format!("`{layer}`: the {what} of `{kind}` must be a finite number literal, such as `{example}`"),
                );
                None
            }
        }
    }

    /// Keyword argument `key`: a number literal that `accepts` (described by `range`, such
    /// as "positive"), `default` when absent.
    pub fn keyword_number(
        &mut self,
        key: &'static str,
        (default, example): (f64, &str),
        accepts: fn(f64) -> bool,
        range: &str,
    ) -> Option<f64> {
        let (layer, kind) = (self.layer, &self.call.name);
        let Some(expr) = self.find(key) else {
            return Some(default);
        };
        match number(expr) {
            Some(value) if accepts(value) => Some(value),
            Some(_) => {
                self.cx.error_spanned_by(
                    expr,
                    format!(
                        "`{layer}`: the {key} of `{kind}` must be {range}, not `{}`",
                        as_written(expr)
                    ),
                );
                None
            }
            None => {
                self.cx.error_spanned_by(
                    expr,
                    format!("`{layer}`: the {key} of `{kind}` must be a finite number literal, such as `{example}`"),
                );
                None
            }
        }
    }

    /// Gives the arguments up unread: the kind they belong to is unknown.
    pub fn forget(self) {}

    /// Reports every argument that was not handed out.
    pub fn finish(self) {
        let (layer, kind) = (self.layer, &self.call.name);
        let positional = self
            .call
            .args
            .iter()
            .filter(|arg| matches!(arg, Arg::Positional(_)));
        for arg in positional.skip(self.next) {
            self.cx
                .error_spanned_by(arg, format!("`{layer}`: unexpected argument to `{kind}`"));
        }
        for arg in &self.call.args {
            if let Arg::Keyword { key, .. } = arg {
                if !self.taken.iter().any(|taken| key == taken) {
                    let message = format!("`{layer}`: `{kind}` has no argument named `{key}`");
                    let message = if self.taken.is_empty() {
                        format!("{message}\nhelp: `{kind}` takes no keyword arguments")
                    } else {
                        with_suggestion(message, &key.to_string(), &self.taken)
                    };
                    self.cx.error_spanned_by(arg, message);
                }
            }
        }
    }
}

/// The largest size accepted anywhere: far beyond any real layer, and small enough that
/// sums and products of two sizes cannot overflow.
pub const MAX_SIZE: usize = u32::MAX as usize;

/// `expr` as a whole number ≥ `min` (0 or 1); `what` says what it is, such as "the
/// number of outputs of `Dense`".
fn whole_number(expr: &Expr, what: &str, min: usize, cx: &mut Ctxt) -> Option<usize> {
    let error = |cx: &mut Ctxt, tokens: &dyn ToTokens, detail: &str| {
        cx.error_spanned_by(tokens.to_token_stream(), format!("{what} must be {detail}"));
        None
    };
    match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Int(int) => match int.base10_parse::<usize>() {
                Ok(n) if n < min => error(cx, int, &format!("at least 1, not {n}")),
                Ok(n) if n > MAX_SIZE => error(cx, int, &format!("at most 4294967295, not {n}")),
                Ok(n) => Some(n),
                Err(e) => {
                    cx.syn_error(e);
                    None
                }
            },
            other => error(cx, other, "a whole number, such as `128`"),
        },
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
            let detail = if min == 0 {
                "at least 0"
            } else {
                "a positive whole number"
            };
            let detail = format!("{detail}, not `{}`", as_written(expr));
            error(cx, expr, &detail)
        }
        other => error(cx, other, "an integer literal, such as `128`"),
    }
}

/// A literal argument as the user wrote it: `-1`, where tokens would print `- 1`.
fn as_written(expr: &Expr) -> String {
    match expr {
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
            format!("-{}", as_written(&unary.expr))
        }
        other => other.to_token_stream().to_string(),
    }
}

/// A number literal's value, negative ones included, as PyTorch's Python floats are
/// `f64`; `None` for anything else, and for a number too large for an `f32` (which a
/// network of `f32` could not hold).
fn number(expr: &Expr) -> Option<f64> {
    let value = match expr {
        Expr::Lit(lit) => match &lit.lit {
            Lit::Float(f) => f.base10_parse::<f64>().ok(),
            Lit::Int(i) => i.base10_parse::<f64>().ok(),
            _ => None,
        },
        Expr::Unary(unary) if matches!(unary.op, syn::UnOp::Neg(_)) => {
            number(&unary.expr).map(|value| -value)
        }
        _ => None,
    };
    value.filter(|&value| (value as f32).is_finite())
}

/// The arguments of a type of the user's (`what`: a "layer" or an "activation"), which
/// are positional only: they become its generic parameters or its fields, in order. A
/// keyword argument is reported with `help`; `None` if there was one.
pub fn positional_only(
    what: &str,
    layer: &Ident,
    call: &Call,
    help: &str,
    cx: &mut Ctxt,
) -> Option<Vec<Expr>> {
    let mut args = Vec::new();
    let mut ok = true;
    for arg in &call.args {
        match arg {
            Arg::Positional(expr) => args.push(expr.clone()),
            Arg::Keyword { key, .. } => {
                cx.error_spanned_by(
                    arg,
                    format!("`{layer}`: a {what} of your own takes positional arguments, not `{key} = ...`\nhelp: {help}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(args)
}

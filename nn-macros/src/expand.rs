//! Stage 3: the checked model → Rust.
//!
//! The expansion holds only what is specific to one network: the struct, its buffers,
//! the forward pass and the fused backward pass (Algorithm 2 of the paper: the layers in
//! reverse, with no input adjoint for the first layer). Every layer is reached through
//! the core's `Layer` contract, so each pass is the same statement for every layer,
//! whatever its kind; only its type comes from the table of kinds. Everything generic is
//! core code reached through `::frechet`.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;

use crate::activations::Activation;
use crate::kinds::Input;
use crate::sample::{Elem, Shape};
use crate::shape::Model;

pub fn expand(model: &Model) -> TokenStream {
    let Model {
        attrs,
        vis,
        name,
        elem,
        input,
        layers,
    } = model;
    let buffers = format_ident!("{name}Buffers");
    let step = format_ident!("{name}Step");
    let names: Vec<_> = layers.iter().map(|l| &l.name).collect();
    let name_strings: Vec<_> = names.iter().map(|n| n.to_string()).collect();
    let layer_attrs: Vec<_> = layers.iter().map(|l| &l.attrs).collect();
    let layer_docs: Vec<_> = layers.iter().map(layer_doc).collect();
    let types: Vec<_> = (0..layers.len()).map(|i| layer_type(model, i)).collect();
    let last = names[names.len() - 1];
    let last_type = &types[types.len() - 1];

    let input_dims = dims(*input);
    let input_rank = Literal::usize_unsuffixed(input.dims().len());
    // The network ends with a vector: the macro checked it, or `ends` below does.
    let output_len = match layers[layers.len() - 1].output {
        Some(output) => {
            let len = Literal::usize_unsuffixed(output.len().expect("checked in shape"));
            quote!(#len)
        }
        None => quote!(::frechet::layer::dim(::frechet::layer::output_shape::<#last_type>(), 0)),
    };
    let name_string = name.to_string();
    let inits = layers.iter().map(|layer| layer.activation.init_value());
    // The scratch of every pass that runs: the input adjoints only where a step computes
    // them.
    let scratch = types.iter().enumerate().map(|(i, ty)| {
        let input_adjoint = needs_input_adjoint(model, i)
            .then(|| quote!(.max(<#ty as ::frechet::Layer>::SCRATCH_INPUT_ADJOINT)));
        quote!(.max(<#ty as ::frechet::Layer>::SCRATCH) #input_adjoint)
    });
    let rows = layers.iter().zip(&types).map(|(layer, ty)| {
        let name = layer.name.to_string();
        let activation = match layer.activation.value() {
            Some(_) => {
                let activation = layer.activation.name();
                quote!(::std::option::Option::Some(#activation))
            }
            None => quote!(::std::option::Option::None),
        };
        quote! {
            ::frechet::summary::Row {
                name: #name,
                kind: <#ty as ::frechet::Layer>::KIND,
                activation: #activation,
                output: ::frechet::layer::output_shape::<#ty>(),
                params: <#ty as ::frechet::Layer>::NUM_PARAMS,
            }
        }
    });
    let shape_consts = shape_consts(model, &types);
    let checks = checks(model, &types);
    let forward = (0..layers.len()).map(|i| forward_statements(model, i, Mode::Evaluation));
    let forward_train = (0..layers.len()).map(|i| forward_statements(model, i, Mode::Training));
    let backward = (0..layers.len())
        .rev()
        .map(|i| backward_statements(model, i));
    let last_activation = activation_backprop(
        &layers[layers.len() - 1].activation,
        quote!(s.a.#last),
        quote!(s.delta.#last),
    );
    // Where the macro could not see the last layer's dimension, the loss and `forward`
    // see its output through an adaptor (the check `ends` makes a mismatch a compile
    // error).
    let computed_end = layers[layers.len() - 1].output.is_none();
    let (output_view, delta_view, output) = if computed_end {
        (
            quote!(::frechet::layer::view_as(s.a.#last.view())),
            quote!(::frechet::layer::view_mut_as(s.delta.#last.view_mut())),
            quote!(::frechet::layer::array_as(a.#last)),
        )
    } else {
        (
            quote!(s.a.#last.view()),
            quote!(s.delta.#last.view_mut()),
            quote!(a.#last),
        )
    };
    let input_array = batch_view(*input, *elem);
    // The same in the inherent method and in the `Model` impl that forwards to it.
    let train_step_signature = quote! {
        fn train_step<L: ::frechet::Loss<#elem>, O: ::frechet::Optimizer<#elem>>(
            &mut self,
            x: #input_array,
            targets: L::Targets<'_>,
            loss: &L,
            optimizer: &mut O,
        ) -> #elem
    };
    let batch_dim = match input {
        Shape::Vector(_) => quote!(::frechet::ndarray::Ix2),
        Shape::Image { .. } => quote!(::frechet::ndarray::Ix4),
    };

    quote! {
        #shape_consts
        #checks

        #(#attrs)*
        #vis struct #name {
            #(
                #layer_docs
                #(#layer_attrs)*
                pub #names: #types,
            )*
            #[doc(hidden)]
            pub __step: ::frechet::StepBuffers<#step>,
        }

        /// One buffer per layer, for a batch: the activations `a_l` or the error signals `δ_l`.
        #[doc(hidden)]
        #vis struct #buffers {
            #(#names: ::frechet::ndarray::Array<#elem, <#types as ::frechet::Layer>::OutputDim>,)*
        }

        /// What a training step of the network keeps between steps of the same batch size.
        #[doc(hidden)]
        #vis struct #step {
            a: #buffers,
            delta: #buffers,
            grad: ::std::boxed::Box<#name>,
        }

        impl #buffers {
            fn zeros(batch: usize) -> Self {
                #buffers { #(#names: ::frechet::layer::output_batch::<#types>(batch),)* }
            }
        }

        impl #name {
            /// The shape of one input sample.
            pub const INPUT_SHAPE: [usize; #input_rank] = [#(#input_dims),*];
            /// The shape of one output sample: a vector of this many outputs.
            pub const OUTPUT_SHAPE: [usize; 1] = [#output_len];
            /// The number of scalar parameters.
            pub const NUM_PARAMS: usize = 0 #(+ <#types as ::frechet::Layer>::NUM_PARAMS)*;
            /// A table of the layers, their output shapes and their parameter counts, with
            /// the totals and the memory a training step keeps.
            pub const SUMMARY: &'static str = {
                // Names no argument of a user's layer type can mean.
                const __FRECHET_MEMORY: ::frechet::summary::Memory = ::frechet::summary::Memory {
                    params: #name::NUM_PARAMS,
                    step_per_sample: #name::STEP_FLOATS_PER_SAMPLE,
                    step_fixed: #name::STEP_FLOATS_FIXED,
                    scratch: #name::__SCRATCH,
                    element_bytes: ::std::mem::size_of::<#elem>(),
                };
                const __FRECHET_ROWS: &[::frechet::summary::Row] = &[#(#rows),*];
                const __FRECHET_LEN: usize = ::frechet::summary::render::<0>(
                    #name_string, &#name::INPUT_SHAPE, __FRECHET_ROWS, __FRECHET_MEMORY,
                ).len();
                const __FRECHET_TEXT: ::frechet::text::Text<__FRECHET_LEN> = ::frechet::summary::render(
                    #name_string, &#name::INPUT_SHAPE, __FRECHET_ROWS, __FRECHET_MEMORY,
                );
                __FRECHET_TEXT.as_str()
            };
            /// The floats a training step keeps per sample of its batch: every layer's
            /// activation and error signal, and what layers keep for their adjoints (a
            /// dropout mask).
            pub const STEP_FLOATS_PER_SAMPLE: usize = 0 #(
                + 2 * ::frechet::layer::sample_len(::frechet::layer::output_shape::<#types>())
                + <#types as ::frechet::Layer>::KEPT_FLOATS_PER_SAMPLE
            )*;
            /// The floats a training step keeps whatever the batch size: the gradient (with
            /// its copy of the layers' buffers), and what layers keep for their adjoints
            /// (batch normalisation's statistics).
            /// (Besides these, the parameters, the optimizer's state, and the scratch space
            /// each thread keeps for the kernels, [`Self::SCRATCH_FLOATS_PER_THREAD`].)
            pub const STEP_FLOATS_FIXED: usize = Self::NUM_PARAMS #(
                + <#types as ::frechet::Layer>::KEPT_FLOATS_FIXED
                + <#types as ::frechet::Layer>::BUFFER_FLOATS
            )*;
            /// The floats each thread keeps for the kernels, at most, whatever the batch
            /// size and the CPU: a convolution's unrolled input and partial gradient, and
            /// the matrix products' packed panels and partial sums. Made on a thread's
            /// first step and kept.
            pub const SCRATCH_FLOATS_PER_THREAD: usize = Self::__SCRATCH.total();
            /// The scratch of every layer's passes, buffer by buffer.
            #[doc(hidden)]
            pub const __SCRATCH: ::frechet::ThreadScratch = ::frechet::ThreadScratch::NONE #(#scratch)*;

            /// A network initialised from `seed`: He-uniform weights for layers followed by
            /// ReLU or LeakyReLU, Xavier-uniform otherwise, zero biases. The same seed gives
            /// the same weights on every platform.
            pub fn new(seed: u64) -> Self {
                let mut rng = ::frechet::InitRng::new(seed);
                #name {
                    #(#names: ::frechet::Layer::new(&mut rng, ::frechet::Activation::init(&#inits)),)*
                    __step: ::std::default::Default::default(),
                }
            }

            /// A network whose parameters are all zero (a starting point for loading, or
            /// for summing gradients); its dropout layers draw their masks from streams of
            /// seed 0, each its own.
            pub fn zeros() -> Self {
                let mut network = #name {
                    #(#names: ::frechet::Layer::zeros(),)*
                    __step: ::std::default::Default::default(),
                };
                // Each dropout layer its own mask stream, the same for every network.
                let mut rng = ::frechet::InitRng::new(0);
                #(::frechet::Layer::reseed(&mut network.#names, &mut rng);)*
                network
            }

            /// The outputs for a batch of inputs (batch first), in evaluation mode, like
            /// PyTorch's `model.eval()`: dropout is off.
            ///
            /// # Panics
            ///
            /// If the trailing shape of `x` is not [`Self::INPUT_SHAPE`].
            #[track_caller]
            pub fn forward(&self, x: #input_array) -> ::frechet::ndarray::Array2<#elem> {
                let batch = ::frechet::batch_size(#name_string, x.shape(), &Self::INPUT_SHAPE);
                let mut a = #buffers::zeros(batch);
                self.forward_into(x, &mut a);
                #output
            }

            /// The probability of each class for a batch of inputs: the softmax of the
            /// logits [`Self::forward`] gives, in evaluation mode, as PyTorch's
            /// `model(x).softmax(dim=1)`.
            ///
            /// # Panics
            ///
            /// As [`Self::forward`].
            #[track_caller]
            pub fn predict_proba(&self, x: #input_array) -> ::frechet::ndarray::Array2<#elem> {
                ::frechet::softmax(self.forward(x).view())
            }

            /// The class of each input of a batch: the index of its largest output (the
            /// first on ties), in evaluation mode.
            ///
            /// # Panics
            ///
            /// As [`Self::forward`].
            #[track_caller]
            pub fn predict(&self, x: #input_array) -> ::std::vec::Vec<usize> {
                ::frechet::metrics::predictions(self.forward(x).view()).collect()
            }

            /// The mean loss over the batch and its gradient, a value of the network's own
            /// type (Remark 3): the gradient of `fc1.weight` is the returned `fc1.weight`.
            /// In training mode, like PyTorch's `model.train()`, on a copy of the network:
            /// dropout draws its mask from the copy's stream, so the network's own does not
            /// advance (every call draws the same masks), and batch normalisation's running
            /// statistics are not updated; `train_step` does both.
            ///
            /// # Panics
            ///
            /// If the trailing shape of `x` is not [`Self::INPUT_SHAPE`] or the targets do
            /// not match the batch.
            #[track_caller]
            pub fn loss_and_grads<L: ::frechet::Loss<#elem>>(
                &self,
                x: #input_array,
                targets: L::Targets<'_>,
                loss: &L,
            ) -> (#elem, Self) {
                // The fused step replaces each parameter by its gradient, after its last use.
                let mut grad = #name {
                    #(#names: ::std::clone::Clone::clone(&self.#names),)*
                    __step: ::std::default::Default::default(),
                };
                let value = grad.train_step(x, targets, loss, &mut ::frechet::CaptureGradient);
                // A gradient is a value: it does not carry the step's buffers around.
                grad.__step = ::std::default::Default::default();
                (value, grad)
            }

            /// One training step on a batch: forward, backward, and an update of every layer
            /// by `optimizer` as soon as its gradient is known. Returns the mean loss before
            /// the update; if that loss is not finite, nothing is updated. The activation,
            /// error-signal and gradient buffers are sized on the first step of a batch
            /// size and reused by the steps that follow, so a warmed-up step allocates
            /// nothing. In training mode, like PyTorch's `model.train()`: dropout draws its
            /// masks from the network's own seeded stream.
            ///
            /// # Panics
            ///
            /// If the trailing shape of `x` is not [`Self::INPUT_SHAPE`] or the targets do
            /// not match the batch.
            #[track_caller]
            pub #train_step_signature {
                use ::frechet::Activation as _;
                let batch = ::frechet::batch_size(#name_string, x.shape(), &Self::INPUT_SHAPE);
                let mut s = self.__step.take_or(
                    |s| s.a.#last.len_of(::frechet::ndarray::Axis(0)) == batch,
                    || #step {
                        a: #buffers::zeros(batch),
                        delta: #buffers::zeros(batch),
                        grad: ::std::boxed::Box::new(#name::zeros()),
                    },
                );
                self.forward_train_into(x, &mut s.a);
                // δ_L = σ_L'(z_L) ⊙ ∇ℓ(a_L, y)
                let value = loss.loss_and_delta(#output_view, targets, #delta_view);
                if !value.is_finite() {
                    // Every gradient would be meaningless: leave the weights as they are.
                    self.__step.put(s);
                    return value;
                }
                #last_activation
                #(#backward)*
                self.__step.put(s);
                value
            }

            /// The floats the buffers of the last training step hold, if there was one: what
            /// [`Self::STEP_FLOATS_PER_SAMPLE`] and [`Self::STEP_FLOATS_FIXED`] promise.
            #[doc(hidden)]
            pub fn __step_floats(&self) -> ::std::option::Option<usize> {
                self.__step.get().map(|s| {
                    0 #(+ s.a.#names.len() + s.delta.#names.len())*
                        #(+ ::frechet::Layer::kept_floats(&self.#names))*
                        + ::frechet::Network::num_params(&*s.grad)
                        #(+ ::frechet::layer::buffer_floats(&s.grad.#names))*
                })
            }

            /// `a_l = σ_l(B_l(W_l, a_{l−1}) + C_l b_l)` for every layer, keeping each `a_l`:
            /// evaluation, as PyTorch's `model.eval()` (no dropout).
            fn forward_into(&self, x: #input_array, a: &mut #buffers) {
                use ::frechet::Activation as _;
                #(#forward)*
            }

            /// The same in training, as PyTorch's `model.train()` (dropout draws its masks),
            /// each layer keeping what its adjoints need.
            fn forward_train_into(&mut self, x: #input_array, a: &mut #buffers) {
                use ::frechet::Activation as _;
                #(#forward_train)*
            }

            /// Writes every parameter and buffer to `path` as safetensors
            /// (`"<layer>.weight"`, `"<layer>.bias"`, `"<layer>.running_mean"`, …: PyTorch's
            /// names and layouts).
            pub fn save_safetensors(&self, path: impl ::std::convert::AsRef<::std::path::Path>) -> ::std::result::Result<(), ::frechet::Error> {
                ::frechet::safetensors::save(self, path.as_ref())
            }

            /// Reads a network from a safetensors file written by [`Self::save_safetensors`]
            /// or by PyTorch. Every name, shape and dtype is checked, tensors the network does
            /// not have are refused, and the first mismatch is returned as an error.
            pub fn load_safetensors(path: impl ::std::convert::AsRef<::std::path::Path>) -> ::std::result::Result<Self, ::frechet::Error> {
                let mut network = Self::zeros();
                ::frechet::safetensors::load_into(&mut network, path.as_ref())?;
                ::std::result::Result::Ok(network)
            }
        }

        impl ::frechet::train::Model for #name {
            type Batch = #batch_dim;

            fn input_shape() -> &'static [usize] {
                &Self::INPUT_SHAPE
            }

            fn forward(&self, x: #input_array) -> ::frechet::ndarray::Array2<#elem> {
                #name::forward(self, x)
            }

            #train_step_signature {
                #name::train_step(self, x, targets, loss, optimizer)
            }
        }

        impl ::frechet::Network for #name {
            type Elem = #elem;

            fn layers(&self) -> ::std::vec::Vec<(&'static str, &dyn ::frechet::Parameters<Elem = #elem>)> {
                ::std::vec![#((#name_strings, &self.#names as &dyn ::frechet::Parameters<Elem = #elem>)),*]
            }

            fn layers_mut(&mut self) -> ::std::vec::Vec<(&'static str, &mut dyn ::frechet::Parameters<Elem = #elem>)> {
                ::std::vec![#((#name_strings, &mut self.#names as &mut dyn ::frechet::Parameters<Elem = #elem>)),*]
            }
        }
    }
}

/// The type of layer `i`: from the table of kinds, given its input as the macro knows it
/// or as const evaluation computes it from the layer before.
fn layer_type(model: &Model, i: usize) -> TokenStream {
    let layer = &model.layers[i];
    let input = match layer.input {
        Some(shape) => Input::Known(shape),
        None => {
            let shape = shape_const(model, i - 1);
            Input::Computed(quote! {
                ::frechet::shape::Dims<
                    { #shape.len() },
                    { ::frechet::layer::dim(#shape, 0) },
                    { ::frechet::layer::dim(#shape, 1) },
                    { ::frechet::layer::dim(#shape, 2) },
                >
            })
        }
    };
    layer.kind.ty(&input, model.elem)
}

/// The name of the constant that holds layer `i`'s output shape, for the layers whose
/// output only const evaluation knows.
fn shape_const(model: &Model, i: usize) -> syn::Ident {
    // By position, not by name: names may be raw (`r#type`) or differ only in case.
    format_ident!("__FRECHET_{}_OUTPUT_{i}", model.name.unraw())
}

/// The output shapes that only const evaluation knows, each a constant the next layer's
/// type reads.
fn shape_consts(model: &Model, types: &[TokenStream]) -> TokenStream {
    let consts = model
        .layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.output.is_none());
    let consts = consts.map(|(i, _)| {
        let name = shape_const(model, i);
        let ty = &types[i];
        quote! {
            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            const #name: &[usize] = ::frechet::layer::output_shape::<#ty>();
        }
    });
    quote!(#(#consts)*)
}

/// Where the macro could not check a shape, const evaluation does, with the same words:
/// a compile error on the layer's line if it refuses its input (the layer's own rule,
/// `Layer::OUTPUT_SHAPE`), and at the end if the network gives no vector.
fn checks(model: &Model, types: &[TokenStream]) -> TokenStream {
    let layers = model.layers.iter().zip(types);
    let refusals = layers
        .filter(|(l, _)| l.output.is_none())
        .map(|(layer, ty)| {
            let name = layer.name.to_string();
            let message = quote!(::frechet::layer::refusal::<__FRECHET_LEN, #ty>(#name));
            let len = quote!(::frechet::layer::refusal::<0, #ty>(#name).len());
            refuse(layer.kind_span, len, message)
        });
    let last = &model.layers[model.layers.len() - 1];
    let ends = last.output.is_none().then(|| {
        let (name, ty) = (last.name.to_string(), &types[types.len() - 1]);
        let message = quote!(::frechet::layer::ends_with_a_vector::<__FRECHET_LEN, #ty>(#name));
        let len = quote!(::frechet::layer::ends_with_a_vector::<0, #ty>(#name).len());
        refuse(last.name.span(), len, message)
    });
    quote!(#(#refusals)* #ends)
}

/// A constant that fails to compile, at `span`, with the message const evaluation writes
/// (of length `len`, through `message`, generic in `LEN`), unless the message is empty.
fn refuse(span: Span, len: TokenStream, message: TokenStream) -> TokenStream {
    // The panic carries the layer's span, so that the error is on its line; the constants
    // are named so that no argument of a user's layer type (inside `message`) can mean
    // them.
    quote_spanned! {span=>
        const _: () = {
            const __FRECHET_LEN: usize = #len;
            const __FRECHET_MESSAGE: ::frechet::text::Text<__FRECHET_LEN> = #message;
            if !__FRECHET_MESSAGE.is_empty() {
                ::std::panic!("{}", __FRECHET_MESSAGE.as_str())
            }
        };
    }
}

/// Whether the macro could not see that layer `i` takes what the layer before gives, so
/// that the pass joins the two through an adaptor, leaving a mismatch to the shape checks.
fn joined_blindly(model: &Model, i: usize) -> bool {
    let layer = &model.layers[i];
    layer.input.is_none() || !layer.kind.is_built_in()
}

/// `a_{l−1}` as layer `i` takes it, from `x` or from the buffers `a` (`s.a`).
fn a_prev(model: &Model, i: usize, buffers: TokenStream) -> TokenStream {
    let view = match i {
        0 => quote!(x),
        _ => {
            let prev = &model.layers[i - 1].name;
            quote!(#buffers.#prev.view())
        }
    };
    if joined_blindly(model, i) {
        quote!(::frechet::layer::view_as(#view))
    } else {
        view
    }
}

/// Which forward map a pass runs.
#[derive(Clone, Copy)]
enum Mode {
    Evaluation,
    Training,
}

/// The statements of layer `i` in the forward pass: its map, then its activation.
fn forward_statements(model: &Model, i: usize, mode: Mode) -> TokenStream {
    let name = &model.layers[i].name;
    let a_prev = a_prev(model, i, quote!(a));
    let activation = model.layers[i]
        .activation
        .value()
        .map(|value| quote!(#value.apply(a.#name.view_mut());));
    let (forward, layer) = match mode {
        Mode::Evaluation => (contract(model, i, "forward"), quote!(&self.#name)),
        Mode::Training => (contract(model, i, "forward_train"), quote!(&mut self.#name)),
    };
    quote! {
        #forward(#layer, #a_prev, a.#name.view_mut());
        #activation
    }
}

/// The contract's `method`, spanned on layer `i`'s kind so that a type without the
/// contract is reported on its line (only the path: the arguments keep the hygiene of the
/// generated code).
fn contract(model: &Model, i: usize, method: &str) -> TokenStream {
    let method = format_ident!("{method}");
    quote_spanned!(model.layers[i].kind_span=> ::frechet::Layer::#method)
}

/// Whether a step computes layer `i`'s input adjoint: only if a layer before it may have
/// weights (the first layer's, in particular, would be the gradient in the data).
fn needs_input_adjoint(model: &Model, i: usize) -> bool {
    model.layers[..i].iter().any(|l| l.kind.has_params())
}

/// The statements of layer `i` in the backward pass, where `δ_l` is final: `δ_{l−1}`
/// with the old weights, then the layer's gradient and update.
fn backward_statements(model: &Model, i: usize) -> TokenStream {
    let name = &model.layers[i].name;
    let index = Literal::usize_unsuffixed(i);
    let a_prev = a_prev(model, i, quote!(s.a));
    let input_adjoint = needs_input_adjoint(model, i).then(|| {
        let prev = &model.layers[i - 1];
        let prev_name = &prev.name;
        let sigma_prime = activation_backprop(
            &prev.activation,
            quote!(s.a.#prev_name),
            quote!(s.delta.#prev_name),
        );
        let delta_prev = if joined_blindly(model, i) {
            quote!(::frechet::layer::view_mut_as(s.delta.#prev_name.view_mut()))
        } else {
            quote!(s.delta.#prev_name.view_mut())
        };
        let adjoint_input = contract(model, i, "adjoint_input");
        quote! {
            #adjoint_input(&self.#name, #a_prev, s.delta.#name.view(), #delta_prev);
            #sigma_prime
        }
    });
    let step = contract(model, i, "step");
    quote! {
        #input_adjoint
        #step(&mut self.#name, optimizer, #index, s.delta.#name.view_mut(), #a_prev, &mut s.grad.#name);
    }
}

/// `δ ← σ'(a) ⊙ δ`, or nothing for the identity.
fn activation_backprop(activation: &Activation, a: TokenStream, delta: TokenStream) -> TokenStream {
    match activation.value() {
        Some(value) => quote!(#value.backprop(#a.view(), #delta.view_mut());),
        None => quote!(),
    }
}

/// A doc line for a layer field, unless the user wrote their own.
fn layer_doc(layer: &crate::shape::Layer) -> TokenStream {
    if layer.attrs.iter().any(|attr| attr.path().is_ident("doc")) {
        return quote!();
    }
    let shapes = match (layer.input, layer.output) {
        (Some(input), Some(output)) => format!(" {input} → {output}"),
        _ => String::new(),
    };
    let doc = format!(
        " `{}`: {}{shapes}, then {}.",
        layer.name,
        layer.kind.name(),
        layer.activation.name()
    );
    quote!(#[doc = #doc])
}

fn dims(shape: Shape) -> Vec<Literal> {
    shape
        .dims()
        .into_iter()
        .map(Literal::usize_unsuffixed)
        .collect()
}

/// The borrowed batch array for a per-sample shape (batch first) of `elem`.
fn batch_view(shape: Shape, elem: Elem) -> TokenStream {
    match shape {
        Shape::Vector(_) => quote!(::frechet::ndarray::ArrayView2<'_, #elem>),
        Shape::Image { .. } => quote!(::frechet::ndarray::ArrayView4<'_, #elem>),
    }
}

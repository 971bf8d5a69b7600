//! The small interface between the code `network!` generates and the rest of the core.
//!
//! A generated network implements [`Network`], which lists its layers by name; each
//! layer implements [`Parameters`], which lists its parameter tensors by name and shape.
//! Everything that treats a network as a whole — safetensors I/O, optimizers, counting
//! parameters — is ordinary core code over these two traits, so the macro writes only
//! what is specific to one network: its struct, its forward pass and its backward pass.

use crate::scalar::Scalar;

/// A layer's parameters, seen as a list of named, C-contiguous tensors of its element
/// type, `f32` or `f64`.
///
/// The names and layouts are PyTorch's (`"weight"` then `"bias"`, Dense weight
/// `[out, in]`), so a state dict moves between frechet and PyTorch unchanged. By
/// Remark 3 of the paper a gradient is a point of the same space, so the gradient of a
/// layer is a value of the layer's own type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not list its parameters: it does not implement `frechet::Parameters`",
    label = "declared as a layer here",
    note = "a layer of your own implements `frechet::Layer`, `frechet::Parameters` and `Clone`; the crate documentation's chapter \"Writing a layer\" walks through one"
)]
pub trait Parameters {
    /// The element type of the parameters, and of the batches the layer takes: `f32`,
    /// or `f64` in a network of `f64`.
    type Elem: Scalar;

    /// The names of the parameter tensors, in order (empty for layers without parameters).
    fn param_names(&self) -> &'static [&'static str];

    /// The shape of parameter `index` (an index into [`Parameters::param_names`]).
    ///
    /// # Panics
    ///
    /// This and the two methods below panic if `index` is not below
    /// `param_names().len()`.
    fn param_shape(&self, index: usize) -> &[usize];

    /// The elements of parameter `index`, in row-major order.
    fn param(&self, index: usize) -> &[Self::Elem];

    /// The elements of parameter `index`, in row-major order, for updating in place.
    fn param_mut(&mut self, index: usize) -> &mut [Self::Elem];

    /// The names of the layer's buffers, PyTorch's `named_buffers`: state saved and
    /// loaded with the parameters but not trained and not part of a gradient, such as
    /// batch normalisation's running statistics. None by default.
    fn buffer_names(&self) -> &'static [&'static str] {
        &[]
    }

    /// Buffer `index` (an index into [`Parameters::buffer_names`]).
    ///
    /// # Panics
    ///
    /// This and [`Parameters::buffer_mut`] panic if `index` is not below
    /// `buffer_names().len()`.
    fn buffer(&self, index: usize) -> Buffer<'_, Self::Elem> {
        no_parameter("a layer without buffers", index)
    }

    /// Buffer `index`, for loading in place.
    fn buffer_mut(&mut self, index: usize) -> BufferMut<'_, Self::Elem> {
        no_parameter("a layer without buffers", index)
    }

    /// Why `values` cannot be loaded into the floating-point buffer `index` (a running
    /// variance may not be negative), if they cannot.
    fn check_buffer(&self, index: usize, values: &[Self::Elem]) -> Result<(), String> {
        let _ = (index, values);
        Ok(())
    }
}

/// A buffer of a layer ([`Parameters::buffer`]), as safetensors stores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Buffer<'a, T> {
    /// A tensor of the layer's element type (`F32` or `F64`) of this shape, its elements
    /// in row-major order.
    Float {
        /// The shape.
        shape: &'a [usize],
        /// The elements.
        values: &'a [T],
    },
    /// An `I64` scalar, such as `num_batches_tracked`.
    I64(i64),
}

/// A buffer of a layer, for loading in place ([`Parameters::buffer_mut`]).
#[derive(Debug)]
pub enum BufferMut<'a, T> {
    /// The elements of a tensor of the layer's element type.
    Float(&'a mut [T]),
    /// An `I64` scalar.
    I64(&'a mut i64),
}

/// A network as a list of named layers, in declaration order.
///
/// `network!` implements this trait; it is what [`crate::safetensors`] and the
/// optimizers need to see a network whole.
pub trait Network {
    /// The element type of every layer: `f32`, or `f64` in a `network!` declared
    /// `struct Net<f64>`.
    type Elem: Scalar;

    /// Every layer with its name (the field name in the `network!` declaration).
    fn layers(&self) -> Vec<(&'static str, &dyn Parameters<Elem = Self::Elem>)>;

    /// Every layer with its name, mutably.
    fn layers_mut(&mut self) -> Vec<(&'static str, &mut dyn Parameters<Elem = Self::Elem>)>;

    /// The total number of scalar parameters.
    fn num_params(&self) -> usize {
        self.layers()
            .iter()
            .map(|(_, layer)| {
                (0..layer.param_names().len())
                    .map(|i| layer.param(i).len())
                    .sum::<usize>()
            })
            .sum()
    }
}

/// A copy of every parameter and buffer of a network, to put back later: what
/// `Trainer::restore_best` keeps of the best epoch (Keras' `restore_best_weights`).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot<T> {
    /// Every parameter tensor's elements, then every floating-point buffer's, in the
    /// network's order, one after the other.
    floats: Vec<T>,
    /// Every `I64` buffer, in the network's order.
    counts: Vec<i64>,
}

impl<T: Scalar> Snapshot<T> {
    /// The parameters and buffers of `network` now.
    pub fn of<N: Network<Elem = T> + ?Sized>(network: &N) -> Self {
        let (mut floats, mut counts) = (Vec::new(), Vec::new());
        for (_, layer) in network.layers() {
            for index in 0..layer.param_names().len() {
                floats.extend_from_slice(layer.param(index));
            }
            for index in 0..layer.buffer_names().len() {
                match layer.buffer(index) {
                    Buffer::Float { values, .. } => floats.extend_from_slice(values),
                    Buffer::I64(count) => counts.push(count),
                }
            }
        }
        Snapshot { floats, counts }
    }

    /// Puts the snapshot's values back into `network`, in place.
    ///
    /// # Panics
    ///
    /// If `network` is not the network the snapshot was taken of (its tensors differ).
    pub fn restore<N: Network<Elem = T> + ?Sized>(&self, network: &mut N) {
        let (mut floats, mut counts) = (&self.floats[..], self.counts.iter());
        let mut take = |into: &mut [T]| {
            assert!(into.len() <= floats.len(), "a snapshot of another network");
            let (head, rest) = floats.split_at(into.len());
            into.copy_from_slice(head);
            floats = rest;
        };
        for (_, layer) in network.layers_mut() {
            for index in 0..layer.param_names().len() {
                take(layer.param_mut(index));
            }
            for index in 0..layer.buffer_names().len() {
                match layer.buffer_mut(index) {
                    BufferMut::Float(values) => take(values),
                    BufferMut::I64(count) => {
                        *count = *counts.next().expect("a snapshot of another network");
                    }
                }
            }
        }
        assert!(
            floats.is_empty() && counts.next().is_none(),
            "a snapshot of another network"
        );
    }
}

/// Buffers a training step reuses, kept inside a network but not part of its value.
///
/// Cloning gives an empty scratch, comparing always succeeds and the debug output is
/// just `StepBuffers`: two networks with the same parameters are equal whatever buffers
/// they happen to hold, and a clone does not copy them.
pub struct StepBuffers<T>(Option<T>);

impl<T> StepBuffers<T> {
    /// Takes the buffers out if `fits` accepts them (typically: sized for this batch),
    /// or builds new ones with `make`. Put them back with [`StepBuffers::put`].
    pub fn take_or(&mut self, fits: impl FnOnce(&T) -> bool, make: impl FnOnce() -> T) -> T {
        match self.0.take() {
            Some(buffers) if fits(&buffers) => buffers,
            _ => make(),
        }
    }

    /// The buffers, if there are any, without taking them.
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }

    /// Stores the buffers for the next step.
    pub fn put(&mut self, buffers: T) {
        self.0 = Some(buffers);
    }
}

impl<T> Default for StepBuffers<T> {
    fn default() -> Self {
        StepBuffers(None)
    }
}

impl<T> Clone for StepBuffers<T> {
    fn clone(&self) -> Self {
        StepBuffers(None)
    }
}

impl<T> std::fmt::Debug for StepBuffers<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepBuffers")
    }
}

impl<T> PartialEq for StepBuffers<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Checks that a batch has the per-sample shape a network expects and returns the batch
/// size.
///
/// # Panics
///
/// If the trailing dimensions differ from `expected`, with a message that gives both
/// shapes. A wrong input shape is a programming error, like an index out of bounds.
#[track_caller]
pub fn batch_size(network: &str, shape: &[usize], expected: &[usize]) -> usize {
    if shape.len() != expected.len() + 1 || shape[1..] != *expected {
        panic!(
            "`{network}` expects a batch of shape [batch, {}], got {shape:?}",
            expected
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    shape[0]
}

/// The [`Parameters`] methods of a layer without parameters (pools, flatten): it lists no
/// tensors, so asking for one is an index out of range.
macro_rules! parameterless_layer {
    ($kind:literal, impl<$($generic:ident $(: $bound:path)?),*> for $ty:ty, elem $elem:ty) => {
        impl<$($generic $(: $bound)?),*> $crate::network::Parameters for $ty {
            type Elem = $elem;

            fn param_names(&self) -> &'static [&'static str] {
                &[]
            }

            fn param_shape(&self, index: usize) -> &[usize] {
                $crate::network::no_parameter($kind, index)
            }

            fn param(&self, index: usize) -> &[$elem] {
                $crate::network::no_parameter($kind, index)
            }

            fn param_mut(&mut self, index: usize) -> &mut [$elem] {
                $crate::network::no_parameter($kind, index)
            }
        }
    };
}
pub(crate) use parameterless_layer;

/// The [`Parameters`] methods of a layer with a `weight` and a `bias` array (dense,
/// convolution): PyTorch's names, in that order.
macro_rules! weight_and_bias_layer {
    ($kind:literal, impl<$($generic:ident $(: $bound:path)?),*> for $ty:ty, elem $elem:ty) => {
        impl<$($generic $(: $bound)?),*> $crate::network::Parameters for $ty {
            type Elem = $elem;

            $crate::network::weight_and_bias_methods!($kind, $elem);
        }
    };
}

/// The four parameter methods of [`weight_and_bias_layer!`], for an impl that adds its
/// own (batch normalisation's buffers).
macro_rules! weight_and_bias_methods {
    ($kind:literal, $elem:ty) => {
        fn param_names(&self) -> &'static [&'static str] {
            &["weight", "bias"]
        }

        fn param_shape(&self, index: usize) -> &[usize] {
            match index {
                0 => self.weight.shape(),
                1 => self.bias.shape(),
                _ => $crate::network::no_parameter($kind, index),
            }
        }

        fn param(&self, index: usize) -> &[$elem] {
            let data = match index {
                0 => self.weight.as_slice(),
                1 => self.bias.as_slice(),
                _ => $crate::network::no_parameter($kind, index),
            };
            data.expect("parameters are always contiguous")
        }

        fn param_mut(&mut self, index: usize) -> &mut [$elem] {
            let data = match index {
                0 => self.weight.as_slice_mut(),
                1 => self.bias.as_slice_mut(),
                _ => $crate::network::no_parameter($kind, index),
            };
            data.expect("parameters are always contiguous")
        }
    };
}
pub(crate) use weight_and_bias_layer;
pub(crate) use weight_and_bias_methods;

/// Panics for a parameter index a layer of `kind` does not have.
#[track_caller]
pub(crate) fn no_parameter(kind: &str, index: usize) -> ! {
    panic!("parameter index {index} is out of range for `{kind}`")
}

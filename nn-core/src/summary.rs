//! A network's `SUMMARY`, written at compile time: a table like Keras'
//! `model.summary()` (layer, kind, output shape, parameters) and the memory a training
//! step keeps.
//!
//! `network!` cannot know the shape of a layer written outside the library, nor the
//! scratch of the core's kernels, while it expands: both are constants of the layers'
//! types ([`crate::Layer`]). So the generated `SUMMARY` lists the rows and lets const
//! evaluation write the table, in two passes (the first measures, [`Text`]):
//!
//! ```
//! use nn_core::summary::{render, Memory, Row};
//! use nn_core::text::Text;
//! use nn_core::ThreadScratch;
//!
//! const ROWS: &[Row] = &[
//!     Row { name: "fc1", kind: "Dense", activation: Some("ReLU"), output: &[128], params: 100_480 },
//!     Row { name: "fc2", kind: "Dense", activation: None, output: &[10], params: 1_290 },
//! ];
//! const MEMORY: Memory = Memory {
//!     params: 101_770,
//!     step_per_sample: 276,
//!     step_fixed: 101_770,
//!     scratch: ThreadScratch::NONE,
//!     element_bytes: 4,
//! };
//! const LEN: usize = render::<0>("Mlp", &[784], ROWS, MEMORY).len();
//! const SUMMARY: Text<LEN> = render("Mlp", &[784], ROWS, MEMORY);
//! assert!(SUMMARY.as_str().contains("fc1    Dense → ReLU  128           100,480"));
//! ```

use crate::scratch::ThreadScratch;
use crate::text::{chars, dims_chars, thousands_chars, Text};

/// What a network keeps, in floats (elements of its type).
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// The parameters (and the gradient a step keeps, as many).
    pub params: usize,
    /// Per sample of a step's batch: every layer's activation and error signal.
    pub step_per_sample: usize,
    /// Whatever the batch: the gradient, and what layers keep for their adjoints.
    pub step_fixed: usize,
    /// Per thread, at most: the kernels' scratch.
    pub scratch: ThreadScratch,
    /// The bytes of one float: 4 for `f32`, 8 for `f64`.
    pub element_bytes: usize,
}

/// A layer's row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Row {
    /// The layer's name.
    pub name: &'static str,
    /// Its kind ([`crate::Layer::KIND`]).
    pub kind: &'static str,
    /// The activation after it, unless the identity.
    pub activation: Option<&'static str>,
    /// The shape of one output sample.
    pub output: &'static [usize],
    /// The number of scalar parameters.
    pub params: usize,
}

/// The width of the kind column for `row`: `Dense` or `Dense → ReLU`.
const fn kind_chars(row: &Row) -> usize {
    match row.activation {
        Some(activation) => chars(row.kind) + chars(" → ") + chars(activation),
        None => chars(row.kind),
    }
}

const fn larger(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The table of `network`'s layers under its name, then the memory lines.
pub const fn render<const N: usize>(
    network: &str,
    input: &[usize],
    rows: &[Row],
    memory: Memory,
) -> Text<N> {
    let mut widths = [
        larger(chars("layer"), chars("input")),
        larger(chars("kind"), chars("Input")),
        larger(chars("output shape"), dims_chars(input)),
        chars("params"),
    ];
    let mut i = 0;
    while i < rows.len() {
        let row = &rows[i];
        widths[0] = larger(widths[0], chars(row.name));
        widths[1] = larger(widths[1], kind_chars(row));
        widths[2] = larger(widths[2], dims_chars(row.output));
        widths[3] = larger(widths[3], thousands_chars(row.params));
        i += 1;
    }
    let rule = widths[0] + widths[1] + widths[2] + widths[3] + 6;
    let mut text = Text::new().push(network).push("\n");
    text = push_rule(text, rule);
    text = text
        .push_padded("layer", widths[0] + 2)
        .push_padded("kind", widths[1] + 2)
        .push_padded("output shape", widths[2] + 2)
        .push_spaces(widths[3] - chars("params"))
        .push("params\n");
    text = push_rule(text, rule);
    text = text
        .push_padded("input", widths[0] + 2)
        .push_padded("Input", widths[1] + 2)
        .push_dims(input)
        .push_spaces(widths[2] + 2 - dims_chars(input))
        .push_spaces(widths[3] - 1)
        .push("0\n");
    let mut i = 0;
    while i < rows.len() {
        let row = &rows[i];
        text = text.push_padded(row.name, widths[0] + 2).push(row.kind);
        if let Some(activation) = row.activation {
            text = text.push(" → ").push(activation);
        }
        text = text
            .push_spaces(widths[1] + 2 - kind_chars(row))
            .push_dims(row.output)
            .push_spaces(widths[2] + 2 - dims_chars(row.output))
            .push_spaces(widths[3] - thousands_chars(row.params))
            .push_thousands(row.params)
            .push("\n");
        i += 1;
    }
    text = push_rule(text, rule);
    push_memory(text, memory)
}

const fn push_rule<const N: usize>(mut text: Text<N>, width: usize) -> Text<N> {
    let mut i = 0;
    while i < width {
        text = text.push("─");
        i += 1;
    }
    text.push("\n")
}

/// The memory lines.
const fn push_memory<const N: usize>(text: Text<N>, memory: Memory) -> Text<N> {
    let Memory {
        params,
        step_per_sample,
        step_fixed,
        scratch,
        element_bytes: size,
    } = memory;
    let text = push_floats(text.push("parameters        "), params, size);
    let text = push_floats(text.push("\nstep, per sample  "), step_per_sample, size);
    let text = push_floats(
        text.push(": activations, error signals\nstep, fixed       "),
        step_fixed,
        size,
    );
    let text = push_bytes(
        text.push(": the gradient\noptimizer state   none (Sgd::new), "),
        params,
        size,
    );
    let text = push_bytes(text.push(" (momentum), "), 2 * params, size).push(" (Adam)\n");
    let per_thread = scratch.total();
    if per_thread == 0 {
        return text;
    }
    let convolutions = per_thread > scratch.products();
    let what = match (convolutions, scratch.products() > 0) {
        (true, true) => "an unrolled conv input, a partial conv gradient, packed panels",
        (true, false) => "an unrolled conv input, a partial conv gradient",
        (false, _) => "packed matrix panels",
    };
    push_floats(text.push("scratch, thread   at most "), per_thread, size)
        .push(": ")
        .push(what)
        .push("\n")
}

/// The size of `floats` values of `size` bytes, to a tenth of a KiB or MiB.
const fn push_bytes<const N: usize>(text: Text<N>, floats: usize, size: usize) -> Text<N> {
    // In u128: ten times the bytes of the largest network the macro accepts overflow
    // a 64-bit usize.
    let bytes = floats as u128 * size as u128;
    let (unit, name) = if bytes < 1024 * 1024 {
        (1024, " KiB")
    } else {
        (1024 * 1024, " MiB")
    };
    let tenths = (bytes * 10 + unit / 2) / unit;
    text.push_thousands((tenths / 10) as usize)
        .push(".")
        .push_number((tenths % 10) as usize)
        .push(name)
}

/// `44,426 floats (173.5 KiB)`.
const fn push_floats<const N: usize>(text: Text<N>, floats: usize, size: usize) -> Text<N> {
    push_bytes(text.push_thousands(floats).push(" floats ("), floats, size).push(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_in_kib_or_mib_to_a_tenth() {
        let text: Text<64> = push_floats(Text::new(), 44_426, 4).push(" ");
        let text = push_bytes(text, 1 << 20, 4);
        assert_eq!(text.as_str(), "44,426 floats (173.5 KiB) 4.0 MiB");
    }

    #[test]
    fn the_table_lines_up_and_a_first_pass_measures_the_second() {
        const ROWS: &[Row] = &[
            Row {
                name: "conv1",
                kind: "Conv2d",
                activation: Some("ReLU"),
                output: &[6, 24, 24],
                params: 156,
            },
            Row {
                name: "flat",
                kind: "Flatten",
                activation: None,
                output: &[3456],
                params: 0,
            },
        ];
        let memory = Memory {
            params: 156,
            step_per_sample: 2 * (3456 + 3456),
            step_fixed: 156,
            scratch: ThreadScratch {
                packed_a: 10,
                ..ThreadScratch::NONE
            },
            element_bytes: 4,
        };
        let len = render::<0>("Net", &[1, 28, 28], ROWS, memory).len();
        let text = render::<1024>("Net", &[1, 28, 28], ROWS, memory);
        assert_eq!(text.len(), len);
        let expected = "\
Net
──────────────────────────────────────────
layer  kind           output shape  params
──────────────────────────────────────────
input  Input          1×28×28            0
conv1  Conv2d → ReLU  6×24×24          156
flat   Flatten        3456               0
──────────────────────────────────────────
parameters        156 floats (0.6 KiB)
step, per sample  13,824 floats (54.0 KiB): activations, error signals
step, fixed       156 floats (0.6 KiB): the gradient
optimizer state   none (Sgd::new), 0.6 KiB (momentum), 1.2 KiB (Adam)
scratch, thread   at most 10 floats (0.0 KiB): packed matrix panels
";
        assert_eq!(text.as_str(), expected);
    }
}

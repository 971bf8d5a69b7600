//! The `SUMMARY` constant and the memory a training step keeps, computed at expansion
//! time from the inferred shapes.

use crate::shape::{Activation, Kind, Model, Shape, Window};

/// The floats a training step keeps between steps: `per_sample · batch + fixed`, besides
/// the parameters themselves and the optimizer's state.
pub struct StepFloats {
    /// Per sample: every layer's activation `a_l` and error signal `δ_l`.
    pub per_sample: usize,
    /// Whatever the batch: the gradient, one float per parameter.
    pub fixed: usize,
    /// Per thread, whatever the batch, at most: the largest of the convolutions' unrolled
    /// inputs of one sample and the largest convolution's partial gradient, which the
    /// kernels form in scratch space each thread keeps, and the matrix products' packing
    /// buffers.
    pub per_thread: usize,
    /// The packing buffers' part of `per_thread`.
    pub panels: usize,
}

/// What one training step keeps, from the shapes. `expand.rs` writes the same buffers, and
/// a test compares the two.
pub fn step_floats(model: &Model) -> StepFloats {
    let (mut per_sample, mut unrolled_max, mut gradient_max) = (0, 0, 0);
    let panels = panels(model);
    for layer in &model.layers {
        // Both the activation and the error signal of every layer, per sample.
        per_sample += 2 * layer.output.len().expect("checked in shape");
        if let (Kind::Conv2d { window, outputs }, Shape::Image { channels, .. }) =
            (&layer.kind, layer.input)
        {
            let unrolled = unrolled(channels, *window, layer.output).max(transposed_deltas(
                *outputs,
                *window,
                layer.output,
            ));
            unrolled_max = unrolled_max.max(unrolled);
            gradient_max = gradient_max.max(layer.num_params);
        }
    }
    StepFloats {
        per_sample,
        fixed: model.num_params,
        per_thread: unrolled_max + gradient_max + panels,
        panels,
    }
}

/// The packed form's constants, as in `nn-core/src/gemm/` (`tests/fit.rs` checks that the
/// buffers a step fills stay within what they give): products with every dimension at
/// least `PACKED_MIN` are packed, `KC` depths at a time, into a panel buffer for `A` of at
/// most `MC` rows and one for `B` of at most `NC` columns, rounded up to the
/// micro-kernel's tile of `MR × NR`; those at least `DEPTH_HALVES_MIN` deep with at most
/// `PARTIAL_MAX` results sum the second half of their depth into a buffer of their own.
const PACKED_MIN: usize = 32;
const KC: usize = 256;
const DEPTH_HALVES_MIN: usize = 512;
const PARTIAL_MAX: usize = 1 << 17;
/// `(MR, NR, MC, NC)` of each micro-kernel: AVX-512, AVX2.
const KERNELS: [(usize, usize, usize, usize); 2] = [(8, 32, 96, 1024), (6, 16, 144, 1024)];

/// The floats of the buffers a thread fills for the matrix products of a step, at most,
/// whatever the batch and the CPU: the largest panel of `A`, the largest of `B` and the
/// largest partial sum over every product of the forward and backward passes (each
/// buffer grows to the largest asked of it).
fn panels(model: &Model) -> usize {
    let (mut a_max, mut b_max, mut partial_max) = (0, 0, 0);
    for (i, layer) in model.layers.iter().enumerate() {
        // `None` is the batch, which may be as large as the user likes.
        let mut products: Vec<[Option<usize>; 3]> = Vec::new();
        let backward_input = model.layers[..i].iter().any(|l| l.kind.has_params());
        match (&layer.kind, layer.input) {
            (Kind::Dense { outputs }, Shape::Vector(inputs)) => {
                let (o, i) = (Some(*outputs), Some(inputs));
                // a Wᵀ, Δᵀ a, Δ W: (m, n, k).
                products.push([None, o, i]);
                products.push([o, i, None]);
                if backward_input {
                    products.push([None, i, o]);
                }
            }
            (Kind::Conv2d { outputs, window }, Shape::Image { channels, .. }) => {
                // Per sample, through unrolled columns: W cols, Δ colsᵀ, Wᵀ Δ.
                let patch = Some(channels * window.size * window.size);
                let positions = Some(layer.output.dims()[1..].iter().product());
                let out = Some(*outputs);
                products.push([out, positions, patch]);
                products.push([out, patch, positions]);
                if backward_input {
                    products.push([patch, positions, out]);
                }
            }
            _ => {}
        }
        for [m, n, k] in products {
            if [m, n, k].iter().flatten().any(|&d| d < PACKED_MIN) {
                continue;
            }
            if k.is_none_or(|k| k >= DEPTH_HALVES_MIN) {
                let results = match (m, n) {
                    (Some(m), Some(n)) => m * n,
                    // As many samples as fit.
                    _ => PARTIAL_MAX,
                };
                if results <= PARTIAL_MAX {
                    partial_max = partial_max.max(results);
                }
            }
            let depth = k.map_or(KC, |k| k.min(KC));
            for (mr, nr, mc, nc) in KERNELS {
                let rows = m.map_or(mc, |m| m.next_multiple_of(mr).min(mc));
                let cols = n.map_or(nc, |n| n.next_multiple_of(nr).min(nc));
                a_max = a_max.max(depth * rows);
                b_max = b_max.max(depth * cols);
            }
        }
    }
    a_max + b_max + partial_max
}

/// What the direct weight-gradient kernel of `nn-core/src/conv2d/direct.rs` keeps in the
/// same space, where it may run (stride 1, no padding, rows of outputs in whole vectors
/// of 8) and the CPU has AVX-512: with the output channels filling at least three
/// quarters of vectors of 16 lanes, the error signals of up to 8 samples, transposed so
/// that channels run along the lanes.
fn transposed_deltas(outputs: usize, window: Window, output: Shape) -> usize {
    const SAMPLES: usize = 8;
    const LANES: usize = 16;
    let Shape::Image { height, width, .. } = output else {
        return 0;
    };
    let direct = window.stride == 1 && window.padding == 0 && width % 8 == 0;
    let by_channels = 4 * outputs >= 3 * LANES * outputs.div_ceil(LANES);
    if direct && by_channels {
        SAMPLES * height * width * LANES
    } else {
        0
    }
}

/// The length of one sample's unrolled input to a convolution: `in·k·k × oh·ow`.
fn unrolled(channels: usize, window: Window, output: Shape) -> usize {
    let positions = match output {
        Shape::Image { height, width, .. } => height * width,
        Shape::Vector(n) => n,
    };
    channels * window.size * window.size * positions
}

/// The `SUMMARY` table, like Keras' `model.summary()`: layer, kind, output shape,
/// parameters; the totals; and the memory of a training step.
pub fn summary(model: &Model) -> String {
    let mut rows = vec![[
        "layer".to_string(),
        "kind".to_string(),
        "output shape".to_string(),
        "params".to_string(),
    ]];
    rows.push([
        "input".into(),
        "Input".into(),
        model.input.to_string(),
        "0".into(),
    ]);
    for layer in &model.layers {
        let kind = match layer.activation {
            Activation::Identity => layer.kind.name().to_string(),
            other => format!("{} → {}", layer.kind.name(), other.name()),
        };
        rows.push([
            layer.name.to_string(),
            kind,
            layer.output.to_string(),
            thousands(layer.num_params),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let rule = "─".repeat(widths.iter().sum::<usize>() + 6);
    let mut out = format!("{}\n{rule}\n", model.name);
    for (i, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c == 3 {
                out.push_str(&format!("{pad}{cell}"));
            } else {
                out.push_str(&format!("{cell}{pad}  "));
            }
        }
        out.push('\n');
        if i == 0 {
            out.push_str(&format!("{rule}\n"));
        }
    }
    let params = model.num_params;
    let step = step_floats(model);
    out.push_str(&format!("{rule}\n"));
    let lines = [
        (
            "parameters",
            format!("{} floats ({})", thousands(params), bytes(params)),
        ),
        (
            "step, per sample",
            format!(
                "{} floats ({}): activations, error signals",
                thousands(step.per_sample),
                bytes(step.per_sample)
            ),
        ),
        (
            "step, fixed",
            format!(
                "{} floats ({}): the gradient",
                thousands(step.fixed),
                bytes(step.fixed)
            ),
        ),
        (
            "optimizer state",
            format!(
                "none (Sgd::new), {} (momentum), {} (Adam)",
                bytes(params),
                bytes(2 * params)
            ),
        ),
    ];
    let scratch = (step.per_thread > 0).then(|| {
        let convolutions = step.per_thread > step.panels;
        let what = match (convolutions, step.panels > 0) {
            (true, true) => "an unrolled conv input, a partial conv gradient, packed panels",
            (true, false) => "an unrolled conv input, a partial conv gradient",
            (false, _) => "packed matrix panels",
        };
        (
            "scratch, thread",
            format!(
                "at most {} floats ({}): {what}",
                thousands(step.per_thread),
                bytes(step.per_thread)
            ),
        )
    });
    for (what, value) in lines.into_iter().chain(scratch) {
        out.push_str(&format!("{what:<17} {value}\n"));
    }
    out
}

/// `44426` as `44,426`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The size of `floats` f32 values, in KiB or MiB.
fn bytes(floats: usize) -> String {
    let bytes = floats as f64 * 4.0;
    if bytes < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
    }
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(44426), "44,426");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}

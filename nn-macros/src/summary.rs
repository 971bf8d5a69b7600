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
    /// kernels form in scratch space each thread keeps.
    pub per_thread: usize,
}

/// What one training step keeps, from the shapes. `expand.rs` writes the same buffers, and
/// a test compares the two.
pub fn step_floats(model: &Model) -> StepFloats {
    let (mut per_sample, mut unrolled_max, mut gradient_max) = (0, 0, 0);
    for layer in &model.layers {
        // Both the activation and the error signal of every layer, per sample.
        per_sample += 2 * layer.output.len().expect("checked in shape");
        if let (Kind::Conv2d { window, .. }, Shape::Image { channels, .. }) =
            (&layer.kind, layer.input)
        {
            unrolled_max = unrolled_max.max(unrolled(channels, *window, layer.output));
            gradient_max = gradient_max.max(layer.num_params);
        }
    }
    StepFloats {
        per_sample,
        fixed: model.num_params,
        per_thread: unrolled_max + gradient_max,
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
        (
            "scratch, thread",
            format!(
                "at most {} floats ({}): an unrolled conv input, a partial conv gradient",
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

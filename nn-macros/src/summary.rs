//! The `SUMMARY` constant: the layers as a table, rendered at expansion time.

use crate::shape::{Activation, Model};

/// The `SUMMARY` table: layer, kind, output shape, parameters, and the total.
pub fn summary(model: &Model) -> String {
    let mut rows = vec![[
        "layer".to_string(),
        "kind".to_string(),
        "output".to_string(),
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
            layer.num_params.to_string(),
        ]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 3 {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    }
    out.push_str(&format!("total params: {}\n", model.num_params));
    out
}

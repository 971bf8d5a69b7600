//! The table of layers that starts the `SUMMARY` constant, from the inferred shapes.

use crate::shape::Model;

/// The table that starts `SUMMARY`, like Keras' `model.summary()`: layer, kind, output
/// shape, parameters, under the network's name and closed by a rule. The core appends
/// the memory a step keeps (`nn_core::summary`), which depends on the kernels.
pub fn table(model: &Model) -> String {
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
        let kind = match layer.activation.value() {
            None => layer.kind.name().to_string(),
            Some(_) => format!("{} → {}", layer.kind.name(), layer.activation.name()),
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
    out.push_str(&format!("{rule}\n"));
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

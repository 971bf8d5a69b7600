//! "Did you mean …?" for misspelt layer kinds and activations.

/// Appends "help: did you mean `X`?" when a known name is close to `found`.
pub fn with_suggestion(message: String, found: &str, known: &[&str]) -> String {
    match closest(found, known) {
        Some(name) => format!("{message}\nhelp: did you mean `{name}`?"),
        None => {
            let options = known.join("`, `");
            format!("{message}\nhelp: the known ones are `{options}`")
        }
    }
}

/// "unknown layer kind `Dens`", with the closest known name, and how to name a type of the
/// user's that is this close to a built-in one (otherwise it would have been taken for
/// the user's own): `what` is "layer kind" or "activation".
pub fn unknown(what: &str, found: &str, known: &[&str]) -> String {
    let message = with_suggestion(format!("unknown {what} `{found}`"), found, known);
    format!("{message}\nhelp: a type of your own with a name this close to a built-in one is written as a path, such as `self::{found}`")
}

/// Whether `found`, a name `network!` does not know, is a misspelling of one it knows,
/// rather than a type of the user's: as close as [`closest`] asks, with the same first
/// letter and no other digits (`Dens`, `Relu`, `Maxpool` are misspellings; `GELU`,
/// `PReLU`, `Conv1d` are other layers).
pub fn misspelt(found: &str, known: &[&str]) -> bool {
    let first = |name: &str| name.chars().next().map(|c| c.to_ascii_lowercase());
    let digits = |name: &str| {
        name.chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
    };
    closest(found, known).is_some_and(|name| {
        name.eq_ignore_ascii_case(found)
            || (first(name) == first(found)
                && (digits(found).is_empty() || digits(found) == digits(name)))
    })
}

/// The known name closest to `found`, if it is close enough to be what was meant.
pub fn closest<'a>(found: &str, known: &[&'a str]) -> Option<&'a str> {
    let lower = found.to_lowercase();
    known
        .iter()
        .map(|name| (edit_distance(&lower, &name.to_lowercase()), *name))
        .min()
        .filter(|&(distance, _)| distance <= 2.max(found.len() / 3))
        .map(|(_, name)| name)
}

/// Levenshtein distance, for suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::activations::ACTIVATIONS;
    use crate::kinds::LAYER_KINDS;

    #[test]
    fn suggestions_pick_the_closest_name() {
        assert!(with_suggestion("x".into(), "Relu", ACTIVATIONS).contains("did you mean `ReLU`?"));
        assert!(with_suggestion("x".into(), "Dens", LAYER_KINDS).contains("did you mean `Dense`?"));
        assert!(!with_suggestion("x".into(), "Softmax", ACTIVATIONS).contains("did you mean"));
    }

    #[test]
    fn other_layers_are_not_misspellings() {
        for typo in [
            "Dens", "Relu", "RELU", "Maxpool", "Flaten", "Sigmod", "Tahn", "Conv2D",
        ] {
            assert!(
                misspelt(typo, LAYER_KINDS) || misspelt(typo, ACTIVATIONS),
                "{typo}"
            );
        }
        for other in [
            "GELU", "ELU", "SELU", "SiLU", "PReLU", "Mish", "Conv1d", "Conv3d", "Scale",
        ] {
            assert!(
                !misspelt(other, LAYER_KINDS) && !misspelt(other, ACTIVATIONS),
                "{other}"
            );
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}

//! The memory lines of a network's `SUMMARY`, written at compile time.
//!
//! `network!` knows each layer's shape and parameter count while it expands, and writes
//! the table of layers itself; the memory a step keeps depends on the layers' scratch,
//! which only the core knows ([`crate::Layer::SCRATCH`]), so the generated `SUMMARY`
//! constant appends these lines by const evaluation:
//!
//! ```
//! use nn_core::summary::{render, Memory};
//! use nn_core::ThreadScratch;
//!
//! const MEMORY: Memory = Memory {
//!     params: 44_426,
//!     step_per_sample: 12_140,
//!     scratch: ThreadScratch::NONE,
//! };
//! const LEN: usize = render::<0>("LeNet\n", MEMORY).len();
//! const TEXT: nn_core::summary::Text<LEN> = render("LeNet\n", MEMORY);
//! assert!(TEXT.as_str().contains("12,140 floats (47.4 KiB)"));
//! ```

use crate::scratch::ThreadScratch;

/// What a network keeps, in floats.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// The parameters (and the gradient a step keeps, as many).
    pub params: usize,
    /// Per sample of a step's batch: every layer's activation and error signal.
    pub step_per_sample: usize,
    /// Per thread, at most: the kernels' scratch.
    pub scratch: ThreadScratch,
}

/// Text of at most `N` bytes built in a const context. Writing past `N` bytes only counts
/// them, so that a first pass with `N = 0` gives the length a second pass needs.
#[derive(Clone, Copy, Debug)]
pub struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The number of bytes written, including those beyond `N`.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text.
    ///
    /// # Panics
    ///
    /// If more than `N` bytes were written.
    pub const fn as_str(&self) -> &str {
        assert!(self.len <= N, "the text is longer than its buffer");
        match core::str::from_utf8(self.bytes.split_at(self.len).0) {
            Ok(text) => text,
            Err(_) => panic!("only whole strings are written"),
        }
    }

    const fn push(mut self, text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if self.len < N {
                self.bytes[self.len] = bytes[i];
            }
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn push_digit(self, digit: usize) -> Self {
        const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        self.push(DIGITS[digit])
    }

    /// `n` with its thousands separated: `44,426`.
    const fn push_thousands(mut self, n: usize) -> Self {
        let mut power = 1;
        let mut digits = 1;
        while n / power >= 10 {
            power *= 10;
            digits += 1;
        }
        while power > 0 {
            self = self.push_digit(n / power % 10);
            digits -= 1;
            if digits > 0 && digits % 3 == 0 {
                self = self.push(",");
            }
            power /= 10;
        }
        self
    }

    /// The size of `floats` `f32` values, to a tenth of a KiB or MiB.
    const fn push_bytes(self, floats: usize) -> Self {
        let bytes = floats * 4;
        let (unit, name) = if bytes < 1024 * 1024 {
            (1024, " KiB")
        } else {
            (1024 * 1024, " MiB")
        };
        let tenths = (bytes * 10 + unit / 2) / unit;
        self.push_thousands(tenths / 10)
            .push(".")
            .push_digit(tenths % 10)
            .push(name)
    }

    /// `44,426 floats (173.5 KiB)`.
    const fn push_floats(self, floats: usize) -> Self {
        self.push_thousands(floats)
            .push(" floats (")
            .push_bytes(floats)
            .push(")")
    }
}

/// `table`, then the memory lines under a rule as wide as the table's first rule.
pub const fn render<const N: usize>(table: &str, memory: Memory) -> Text<N> {
    let Memory {
        params,
        step_per_sample,
        scratch,
    } = memory;
    let mut text = Text::new().push(table);
    text = text
        .push("parameters        ")
        .push_floats(params)
        .push("\nstep, per sample  ")
        .push_floats(step_per_sample)
        .push(": activations, error signals\nstep, fixed       ")
        .push_floats(params)
        .push(": the gradient\noptimizer state   none (Sgd::new), ")
        .push_bytes(params)
        .push(" (momentum), ")
        .push_bytes(2 * params)
        .push(" (Adam)\n");
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
    text.push("scratch, thread   at most ")
        .push_floats(per_thread)
        .push(": ")
        .push(what)
        .push("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn thousands<const N: usize>(n: usize) -> Text<N> {
        Text::new().push_thousands(n)
    }

    #[test]
    fn thousands_are_separated() {
        const CASES: [(Text<16>, &str); 6] = [
            (thousands(0), "0"),
            (thousands(999), "999"),
            (thousands(1000), "1,000"),
            (thousands(44426), "44,426"),
            (thousands(1234567), "1,234,567"),
            (thousands(100000), "100,000"),
        ];
        for (text, expected) in CASES {
            assert_eq!(text.as_str(), expected);
        }
    }

    #[test]
    fn sizes_are_in_kib_or_mib_to_a_tenth() {
        let text: Text<64> = Text::new()
            .push_floats(44_426)
            .push(" ")
            .push_bytes(1 << 20);
        assert_eq!(text.as_str(), "44,426 floats (173.5 KiB) 4.0 MiB");
    }

    #[test]
    fn a_first_pass_measures_the_second() {
        let memory = Memory {
            params: 387,
            step_per_sample: 38,
            scratch: ThreadScratch {
                packed_a: 10,
                ..ThreadScratch::NONE
            },
        };
        let len = render::<0>("table\n", memory).len();
        let text = render::<512>("table\n", memory);
        assert_eq!(text.len(), len);
        assert!(text
            .as_str()
            .starts_with("table\nparameters        387 floats"));
        assert!(text
            .as_str()
            .ends_with("at most 10 floats (0.0 KiB): packed matrix panels\n"));
    }
}

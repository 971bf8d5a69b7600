//! Text built at compile time, for what `network!` can only write by const evaluation:
//! its `SUMMARY` and the messages that refuse a shape.
//!
//! A [`Text`] has a fixed capacity; writing past it only counts, so that a first pass with
//! capacity 0 gives the length a second pass needs:
//!
//! ```
//! use nn_core::text::Text;
//!
//! const fn greeting<const N: usize>() -> Text<N> {
//!     Text::new().push("conv1 gives ").push_dims(&[6, 24, 24])
//! }
//! const LEN: usize = greeting::<0>().len();
//! const GREETING: Text<LEN> = greeting();
//! assert_eq!(GREETING.as_str(), "conv1 gives 6×24×24");
//! ```

/// Text of at most `N` bytes built in a const context.
#[derive(Clone, Copy, Debug)]
pub struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for Text<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Text<N> {
    /// No text.
    pub const fn new() -> Self {
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

    /// `text` appended.
    pub const fn push(mut self, text: &str) -> Self {
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

    /// `text` appended, then spaces up to `width` characters.
    pub const fn push_padded(self, text: &str, width: usize) -> Self {
        self.push(text)
            .push_spaces(width.saturating_sub(chars(text)))
    }

    /// `count` spaces appended.
    pub const fn push_spaces(mut self, count: usize) -> Self {
        let mut i = 0;
        while i < count {
            self = self.push(" ");
            i += 1;
        }
        self
    }

    /// `n` in decimal.
    pub const fn push_number(self, n: usize) -> Self {
        self.push_digits(n, false)
    }

    /// `n` with its thousands separated: `44,426`.
    pub const fn push_thousands(self, n: usize) -> Self {
        self.push_digits(n, true)
    }

    const fn push_digits(mut self, n: usize, separated: bool) -> Self {
        const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        let mut power = 1;
        let mut digits = 1;
        while n / power >= 10 {
            power *= 10;
            digits += 1;
        }
        while power > 0 {
            self = self.push(DIGITS[n / power % 10]);
            digits -= 1;
            if separated && digits > 0 && digits % 3 == 0 {
                self = self.push(",");
            }
            power /= 10;
        }
        self
    }

    /// A per-sample shape as `6×24×24`.
    pub const fn push_dims(mut self, dims: &[usize]) -> Self {
        let mut i = 0;
        while i < dims.len() {
            if i > 0 {
                self = self.push("×");
            }
            self = self.push_number(dims[i]);
            i += 1;
        }
        self
    }
}

/// The characters of `text` (not its bytes): what a column of a table is as wide as.
pub const fn chars(text: &str) -> usize {
    let bytes = text.as_bytes();
    let (mut count, mut i) = (0, 0);
    while i < bytes.len() {
        // Continuation bytes of UTF-8 are 0b10xx_xxxx.
        if bytes[i] & 0xC0 != 0x80 {
            count += 1;
        }
        i += 1;
    }
    count
}

/// The characters of `n` with its thousands separated.
pub const fn thousands_chars(n: usize) -> usize {
    Text::<0>::new().push_thousands(n).len()
}

/// The characters of a shape written by [`Text::push_dims`].
pub const fn dims_chars(dims: &[usize]) -> usize {
    let text = Text::<0>::new().push_dims(dims);
    // Each `×` is two bytes and one character.
    text.len() - dims.len().saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        for (n, expected) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (44426, "44,426"),
            (1234567, "1,234,567"),
            (100000, "100,000"),
        ] {
            assert_eq!(Text::<16>::new().push_thousands(n).as_str(), expected);
            assert_eq!(thousands_chars(n), expected.len());
        }
    }

    #[test]
    fn widths_count_characters() {
        assert_eq!(chars("Dense → ReLU"), 12);
        assert_eq!(dims_chars(&[6, 24, 24]), chars("6×24×24"));
        assert_eq!(dims_chars(&[]), 0);
        let padded = Text::<32>::new().push_padded("6×24", 6).push("|");
        assert_eq!(padded.as_str(), "6×24  |");
    }

    #[test]
    fn a_first_pass_measures_the_second() {
        let text = |n| Text::<64>::new().push("a ").push_thousands(n);
        assert_eq!(Text::<0>::new().push("a ").push_thousands(12345).len(), 8);
        assert_eq!(text(12345).as_str(), "a 12,345");
    }
}

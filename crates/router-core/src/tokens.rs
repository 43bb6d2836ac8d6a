//! The router's input-token estimate of a request: cheap (one pass over the bytes, no
//! tokenizer, no model files) and conservative (above what common tokenizers count for
//! prose, code and most non-Latin text), so a context-window check on it errs towards a
//! larger window.
//!
//! Counted per UTF-8 byte: ASCII counts a third of a token (BPE tokenizers average about
//! four characters of English and three to four of code per token); each non-ASCII
//! character counts one token, and one outside the Basic Multilingual Plane (4 bytes:
//! emoji, rare CJK) two. The sum is rounded up.

/// Estimated input tokens of `task` (≥ 0, an integer).
pub fn estimate_input_tokens(task: &str) -> f64 {
    let bytes = task.as_bytes();
    // Most prompts are ASCII: one word-at-a-time check, then arithmetic.
    if bytes.is_ascii() {
        return (bytes.len() as u64).div_ceil(3) as f64;
    }
    // Per byte: ASCII, a lead byte (≥ 0xC0: one character) and a 4-byte lead (≥ 0xF0: one
    // more token); continuation bytes count nothing. Counted branch-free in blocks of 128
    // bytes whose u8 sums cannot overflow, so the loop vectorizes.
    let (mut ascii, mut lead, mut lead4) = (0u64, 0u64, 0u64);
    let mut blocks = bytes.chunks_exact(128);
    for block in &mut blocks {
        let (mut a, mut l, mut l4) = (0u8, 0u8, 0u8);
        for &b in block {
            a += (b < 0x80) as u8;
            l += (b >= 0xC0) as u8;
            l4 += (b >= 0xF0) as u8;
        }
        ascii += a as u64;
        lead += l as u64;
        lead4 += l4 as u64;
    }
    for &b in blocks.remainder() {
        ascii += (b < 0x80) as u64;
        lead += (b >= 0xC0) as u64;
        lead4 += (b >= 0xF0) as u64;
    }
    (ascii.div_ceil(3) + lead + lead4) as f64
}

/// [`estimate_input_tokens`] of a task given as UTF-16 code units, equal to it on the UTF-8
/// form: a non-ASCII unit of the BMP is one character of 2–3 bytes (one token); each unit
/// of a surrogate pair is half of a 4-byte character (two tokens), and a lone surrogate
/// becomes U+FFFD (3 bytes, one token). So every non-ASCII unit counts one token.
pub fn estimate_input_tokens_utf16(units: &[u16]) -> f64 {
    // counted in u8 lanes over blocks that cannot overflow: the inner loop vectorizes
    let ascii: u64 = units
        .chunks(255)
        .map(|block| block.iter().fold(0u8, |n, &u| n + u8::from(u < 0x80)) as u64)
        .sum();
    (ascii.div_ceil(3) + (units.len() as u64 - ascii)) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zero() {
        assert_eq!(estimate_input_tokens(""), 0.0);
    }

    #[test]
    fn ascii_counts_a_third_rounded_up() {
        assert_eq!(estimate_input_tokens("a"), 1.0);
        assert_eq!(estimate_input_tokens("abc"), 1.0);
        assert_eq!(estimate_input_tokens("abcd"), 2.0);
        assert_eq!(estimate_input_tokens(&"x".repeat(3000)), 1000.0);
    }

    #[test]
    fn non_ascii_counts_per_character() {
        // é (2 bytes), 中 (3 bytes): one each; 😀 (4 bytes): two
        assert_eq!(estimate_input_tokens("é"), 1.0);
        assert_eq!(estimate_input_tokens("中文"), 2.0);
        assert_eq!(estimate_input_tokens("😀"), 2.0);
        assert_eq!(estimate_input_tokens("abc中😀"), 1.0 + 1.0 + 2.0);
    }

    #[test]
    fn english_prose_is_estimated_above_four_characters_a_token() {
        let text = "Summarize the following quarterly report and list the three largest risks.";
        assert!(estimate_input_tokens(text) >= (text.len() as f64 / 4.0).ceil());
    }

    /// The blocked count equals a per-character count on mixed text of every length around
    /// the block size.
    #[test]
    fn blocked_count_equals_per_character_count() {
        let unit = "aé中😀 b\n";
        for n in 0..300 {
            let text: String = unit.chars().cycle().take(n).collect();
            let naive: u64 = text.chars().filter(|c| c.is_ascii()).count() as u64;
            let other: u64 = text
                .chars()
                .filter(|c| !c.is_ascii())
                .map(|c| if c.len_utf8() == 4 { 2 } else { 1 })
                .sum();
            assert_eq!(
                estimate_input_tokens(&text),
                (naive.div_ceil(3) + other) as f64,
                "n={n}"
            );
        }
    }

    #[test]
    fn utf16_equals_utf8() {
        let unit = "aé中😀 b\nİ\u{3000}";
        for n in 0..600 {
            let text: String = unit.chars().cycle().take(n).collect();
            let units: Vec<u16> = text.encode_utf16().collect();
            assert_eq!(
                estimate_input_tokens_utf16(&units),
                estimate_input_tokens(&text),
                "n={n}"
            );
        }
        // a lone surrogate counts as the U+FFFD it becomes in UTF-8
        assert_eq!(
            estimate_input_tokens_utf16(&[0x61, 0xD800, 0x62, 0xDC00]),
            estimate_input_tokens("a\u{FFFD}b\u{FFFD}")
        );
    }

    proptest::proptest! {
        #[test]
        fn utf16_equals_utf8_on_arbitrary_text(text in ".{0,300}") {
            let units: Vec<u16> = text.encode_utf16().collect();
            proptest::prop_assert_eq!(
                estimate_input_tokens_utf16(&units),
                estimate_input_tokens(&text)
            );
        }
    }
}

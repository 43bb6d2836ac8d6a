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
    let mut ascii: u64 = 0;
    let mut other: u64 = 0;
    for &b in task.as_bytes() {
        if b < 0x80 {
            ascii += 1;
        } else if b >= 0xF0 {
            other += 2; // lead byte of a 4-byte character
        } else if b >= 0xC0 {
            other += 1; // lead byte of a 2- or 3-byte character
        }
        // continuation bytes (0x80..0xC0) count nothing: their lead byte counted them
    }
    (ascii.div_ceil(3) + other) as f64
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
}

//! Task complexity analysis, with JavaScript string semantics (the legacy ran in JS):
//! lengths in UTF-16 code units, words split on the JS `\s` class, `toLowerCase()`.
//!
//! The analysis is the cost of a routing-cache miss, so the common ASCII case is done
//! with SIMD substring search (`memchr::memmem`) over the text instead of a word-by-word
//! scan; text with any non-ASCII byte takes the plain, obviously-correct path.

use std::sync::LazyLock;

use memchr::memmem::Finder;

/// Any word containing one of these makes the task "keyword complex".
pub const COMPLEXITY_KEYWORDS: [&str; 6] = [
    "analyze",
    "implement",
    "optimize",
    "algorithm",
    "architecture",
    "debug",
];
/// Case-sensitive plain substring tests ("for" matches "format", as in the legacy).
pub const STRUCTURAL_PATTERNS: [&str; 11] = [
    "{", "}", "(", ")", "[", "]", "=>", "function", "class", "if", "for",
];
/// Searched in the lower-cased task when the context has `capabilities`.
pub const DOMAIN_KEYWORDS: [&str; 6] = [
    "code",
    "api",
    "database",
    "security",
    "machine learning",
    "data science",
];

/// Searchers built once: building a SIMD searcher costs more than running it on a short task.
struct Finders {
    keywords: Vec<Finder<'static>>,
    structural: Vec<Finder<'static>>,
    domain: Vec<Finder<'static>>,
}

static FINDERS: LazyLock<Finders> = LazyLock::new(|| {
    let build = |words: &[&'static str]| words.iter().map(|w| Finder::new(w.as_bytes())).collect();
    Finders {
        keywords: build(&COMPLEXITY_KEYWORDS),
        structural: build(&STRUCTURAL_PATTERNS),
        domain: build(&DOMAIN_KEYWORDS),
    }
});

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Complexity {
    pub token_count: f64,
    pub keyword_complexity: f64,
    pub structural_complexity: f64,
    pub domain_specific: bool,
    pub score: f64,
}

/// Analyses `task`; `has_capabilities` is whether the context carried a `capabilities`
/// array (an empty one counts, as in the legacy).
pub fn analyze(task: &str, has_capabilities: bool) -> Complexity {
    let ascii = task.is_ascii();
    let utf16_len = if ascii {
        task.len()
    } else {
        task.chars().map(char::len_utf16).sum()
    };
    let token_count = (utf16_len as f64 / 4.0).ceil();

    if ascii && task.bytes().any(|b| b.is_ascii_uppercase()) {
        // lower-case into a reused buffer: a fresh allocation per call of a large task
        // costs page faults, not just a copy
        LOWER.with(|buf| {
            let mut buf = buf.borrow_mut();
            // sized first, then filled over zipped slices: the loop vectorizes
            buf.clear();
            buf.resize(task.len(), 0);
            for (d, s) in buf.iter_mut().zip(task.as_bytes()) {
                *d = s.to_ascii_lowercase();
            }
            // SAFETY: ASCII bytes lower-cased are ASCII, hence UTF-8.
            let lower = unsafe { std::str::from_utf8_unchecked(&buf) };
            let c = scores(task, lower, true, token_count, has_capabilities);
            if buf.capacity() > LOWER_KEEP {
                *buf = Vec::new();
            }
            c
        })
    } else if ascii {
        scores(task, task, true, token_count, has_capabilities)
    } else {
        scores(
            task,
            &task.to_lowercase(),
            false,
            token_count,
            has_capabilities,
        )
    }
}

thread_local! {
    static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// The lower-casing buffer kept between calls; a larger one is released after use.
const LOWER_KEEP: usize = 1 << 20;

/// `ascii`: whether `lower` is known to be ASCII (saves a pass over a long text; the
/// Unicode path gives the same count on ASCII text, only slower).
fn scores(
    task: &str,
    lower: &str,
    ascii: bool,
    token_count: f64,
    has_capabilities: bool,
) -> Complexity {
    let k = if ascii {
        keyword_words_ascii(lower.as_bytes())
    } else {
        keyword_words_unicode(lower)
    };
    let keyword_complexity = (k as f64 / 10.0).min(1.0);

    let finders = &*FINDERS;
    let s = finders
        .structural
        .iter()
        .filter(|f| f.find(task.as_bytes()).is_some())
        .count();
    let structural_complexity = (s as f64 / 15.0).min(1.0);

    let domain_specific = has_capabilities
        && finders
            .domain
            .iter()
            .any(|f| f.find(lower.as_bytes()).is_some());

    let score = ((token_count / 1000.0).min(1.0) * 0.3
        + keyword_complexity * 0.3
        + structural_complexity * 0.3
        + if domain_specific { 0.1 } else { 0.0 })
    .min(1.0);
    Complexity {
        token_count,
        keyword_complexity,
        structural_complexity,
        domain_specific,
        score,
    }
}

/// JavaScript's `\s`: WhiteSpace and LineTerminator code points.
pub fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

fn is_ascii_js_whitespace(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// Only the first 10 matching words matter (`min(1, k / 10)`).
const KEYWORD_WORDS_CAP: usize = 10;

/// Number of whitespace-separated words of lower-cased ASCII `text` that contain a
/// keyword (capped at 10). No keyword contains whitespace, so every match lies inside
/// one word: the word is identified by the start of the whitespace-free run around it.
fn keyword_words_ascii(text: &[u8]) -> usize {
    let mut word_starts: Vec<usize> = Vec::new();
    for finder in &FINDERS.keywords {
        let mut from = 0;
        while let Some(pos) = finder.find(&text[from..]) {
            let at = from + pos;
            let start = text[..at]
                .iter()
                .rposition(|&b| is_ascii_js_whitespace(b))
                .map_or(0, |i| i + 1);
            if !word_starts.contains(&start) {
                word_starts.push(start);
                if word_starts.len() >= KEYWORD_WORDS_CAP {
                    return KEYWORD_WORDS_CAP;
                }
            }
            // continue after this word: later matches in it add nothing
            let end = text[at..]
                .iter()
                .position(|&b| is_ascii_js_whitespace(b))
                .map_or(text.len(), |i| at + i);
            from = end;
            if from >= text.len() {
                break;
            }
        }
    }
    word_starts.len()
}

fn keyword_words_unicode(lower: &str) -> usize {
    lower
        .split(is_js_whitespace)
        .filter(|w| COMPLEXITY_KEYWORDS.iter().any(|kw| w.contains(kw)))
        .take(KEYWORD_WORDS_CAP)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The legacy algorithm written the obvious way, as the reference.
    fn naive(task: &str, has_caps: bool) -> Complexity {
        let len16: usize = task.encode_utf16().count();
        let token_count = (len16 as f64 / 4.0).ceil();
        let lower = task.to_lowercase();
        let k = lower
            .split(is_js_whitespace)
            .filter(|w| COMPLEXITY_KEYWORDS.iter().any(|kw| w.contains(kw)))
            .count();
        let keyword = (k as f64 / 10.0).min(1.0);
        let s = STRUCTURAL_PATTERNS
            .iter()
            .filter(|p| task.contains(*p))
            .count();
        let structural = (s as f64 / 15.0).min(1.0);
        let domain = has_caps && DOMAIN_KEYWORDS.iter().any(|d| lower.contains(d));
        let score = ((token_count / 1000.0).min(1.0) * 0.3
            + keyword * 0.3
            + structural * 0.3
            + if domain { 0.1 } else { 0.0 })
        .min(1.0);
        Complexity {
            token_count,
            keyword_complexity: keyword,
            structural_complexity: structural,
            domain_specific: domain,
            score,
        }
    }

    #[test]
    fn counts_words_not_matches() {
        let c = analyze("analyze analyzeanalyze optimize-debug x", false);
        assert_eq!(c.keyword_complexity, 0.3);
    }

    #[test]
    fn structural_is_case_sensitive_substring() {
        let c = analyze("format IF", false);
        assert_eq!(c.structural_complexity, 1.0 / 15.0); // "for" in "format"; "IF" ≠ "if"
    }

    #[test]
    fn domain_needs_capabilities_and_is_case_insensitive() {
        assert!(!analyze("Machine Learning", false).domain_specific);
        assert!(analyze("Machine Learning", true).domain_specific);
    }

    #[test]
    fn token_count_uses_utf16_units() {
        assert_eq!(analyze("😀😀", false).token_count, 1.0); // 4 UTF-16 units
        assert_eq!(analyze("abcde", false).token_count, 2.0);
    }

    #[test]
    fn js_whitespace_splits_words() {
        // U+FEFF is JS whitespace (not Rust's), U+0085 is Rust's (not JS's)
        assert_eq!(analyze("debug\u{FEFF}debug", false).keyword_complexity, 0.2);
        assert_eq!(analyze("debug\u{85}debug", false).keyword_complexity, 0.1);
    }

    fn task_strategy() -> impl Strategy<Value = String> {
        let atoms = prop::sample::select(vec![
            "analyze",
            "Implement",
            "OPTIMIZE",
            "algorithm",
            "debug",
            "code",
            "API",
            "database",
            "machine learning",
            "data science",
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            "=>",
            "function",
            "class",
            "if",
            "for",
            "format",
            " ",
            "\n",
            "\t",
            "\u{A0}",
            "\u{FEFF}",
            "\u{85}",
            "é",
            "İ",
            "😀",
            "x",
            "security",
            "ANALYZE",
            "-",
        ]);
        prop::collection::vec(atoms, 0..80).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn equals_naive_recomputation(task in task_strategy(), caps in any::<bool>()) {
            prop_assert_eq!(analyze(&task, caps), naive(&task, caps));
        }

        #[test]
        fn equals_naive_on_arbitrary_text(task in ".{0,200}", caps in any::<bool>()) {
            prop_assert_eq!(analyze(&task, caps), naive(&task, caps));
        }
    }
}

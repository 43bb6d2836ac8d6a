//! Task complexity analysis, with JavaScript string semantics (the legacy ran in JS):
//! lengths in UTF-16 code units, words split on the JS `\s` class, `toLowerCase()`.
//!
//! The analysis is the cost of a routing-cache miss, so it must not depend on which words
//! a task holds or which script it is written in. The patterns are searched with
//! multi-pattern matchers (Aho-Corasick with its SIMD prefilter): the keywords and domain
//! keywords in one pass over a lower-cased image of the text, the case-sensitive
//! structural patterns in one pass over the text and one byte-set pass. A pattern once
//! found is not searched again, so a pass stops at a bounded number of matches whatever
//! the text, and each pass ends as soon as nothing left can change the result. A short
//! text (up to 256 bytes) is instead scanned once, position by position, for all the
//! patterns: there a search's set-up, paid at each restart, costs more than the scan.
//!
//! The lower-cased image keeps every byte in place: ASCII bytes are lower-cased, other
//! bytes are kept. All patterns are ASCII, so a non-ASCII character can only separate
//! them, as its lower-case form does — except a character whose lower-case form holds an
//! ASCII letter of a pattern: 'İ' (U+0130) lower-cases to "i̇" (U+0069 U+0307), whose "i"
//! ends "api"; its first byte becomes `i` (the second, a lone continuation byte, still
//! separates). KELVIN SIGN lower-cases to "k", which no pattern holds. A test checks over
//! all of Unicode that no other character lower-cases to ASCII.

use std::sync::{LazyLock, OnceLock};

use aho_corasick::{packed, AhoCorasick, AhoCorasickKind, Input, MatchKind, Span};

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
/// Words the default rules look for in the lower-cased task (`code-tasks`,
/// `deep-reasoning`).
pub const RULE_WORDS: [&str; 3] = ["code", "complex", "analyze"];

/// Patterns searched together, each in a group; a search looks only for the groups still
/// needed, with one matcher per set of groups, built on first use.
struct PatternSets {
    patterns: &'static [&'static str],
    /// Group of each pattern (a bit index).
    groups: &'static [u8],
    /// Matcher of each set of groups (indexed by its bit mask).
    matchers: Vec<OnceLock<Matcher>>,
}

struct Matcher {
    /// The SIMD searcher (Teddy) where the CPU has it; the automaton's own choice of
    /// prefilter is sometimes a scan for common start bytes, far slower on English text.
    packed: Option<packed::Searcher>,
    ac: AhoCorasick,
    /// Index in `PatternSets::patterns` of each pattern of the searchers.
    ids: Vec<usize>,
}

impl PatternSets {
    fn new(patterns: &'static [&'static str], groups: &'static [u8]) -> PatternSets {
        let n_groups = groups.iter().max().map_or(0, |g| g + 1);
        PatternSets {
            patterns,
            groups,
            matchers: (0..1usize << n_groups).map(|_| OnceLock::new()).collect(),
        }
    }

    fn matcher(&self, group_mask: usize) -> &Matcher {
        self.matchers[group_mask].get_or_init(|| {
            let ids: Vec<usize> = (0..self.patterns.len())
                .filter(|&i| group_mask & (1 << self.groups[i]) != 0)
                .collect();
            let ac = AhoCorasick::builder()
                // leftmost-first has the SIMD (Teddy) prefilter; searches restart one byte
                // after each match's start, so a match hides none that overlaps it
                // ("codebug" holds "code" and "debug")
                .match_kind(MatchKind::LeftmostFirst)
                .kind(Some(AhoCorasickKind::DFA))
                .build(ids.iter().map(|&i| self.patterns[i]))
                .expect("a few short literal patterns always build");
            let packed = packed::Config::new()
                .match_kind(packed::MatchKind::LeftmostFirst)
                .builder()
                .extend(ids.iter().map(|&i| self.patterns[i]))
                .build();
            Matcher { packed, ac, ids }
        })
    }

    /// The first match at or after `from` of a pattern of the groups in `group_mask`:
    /// (its start, its end, its index in `patterns`). Two patterns that match at one
    /// position are never of different groups (a test checks that none is a prefix of
    /// another group's), so the one reported stands for its group.
    fn find(&self, group_mask: usize, hay: &[u8], from: usize) -> Option<(usize, usize, usize)> {
        let m = self.matcher(group_mask);
        let found = match &m.packed {
            Some(packed) => packed.find_in(hay, Span::from(from..hay.len())),
            None => m.ac.find(Input::new(hay).span(from..hay.len())),
        };
        found.map(|f| (f.start(), f.end(), m.ids[f.pattern().as_usize()]))
    }
}

/// Searched in the lower-cased image: keywords (group 0), domain keywords (group 1).
static LOWER_SETS: LazyLock<PatternSets> =
    LazyLock::new(|| PatternSets::new(&LOWER_PATTERNS, &[0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]));
const LOWER_PATTERNS: [&str; 12] = [
    "analyze",
    "implement",
    "optimize",
    "algorithm",
    "architecture",
    "debug",
    "code",
    "api",
    "database",
    "security",
    "machine learning",
    "data science",
];
const KEYWORDS: usize = 1 << 0;
const LONGEST_DOMAIN_KEYWORD: usize = 16;
const DOMAIN: usize = 1 << 1;

/// Searched in the lower-cased image for the default rules: each word its own group.
static RULE_SETS: LazyLock<PatternSets> =
    LazyLock::new(|| PatternSets::new(&RULE_WORDS, &[0, 1, 2]));

/// The multi-byte structural patterns, each its own group, searched in the task as it is.
static STRUCTURAL_SETS: LazyLock<PatternSets> =
    LazyLock::new(|| PatternSets::new(&STRUCTURAL_WORDS, &[0, 1, 2, 3, 4]));
const STRUCTURAL_WORDS: [&str; 5] = ["=>", "function", "class", "if", "for"];
/// The single-byte structural patterns, searched as a byte set.
const STRUCTURAL_BYTES: [u8; 6] = *b"{}()[]";

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
    let bytes = task.as_bytes();
    let ascii = task.is_ascii();
    let utf16_len = if ascii { task.len() } else { utf16_len(bytes) };
    let utf8 = (!ascii).then_some(task);
    let (terms, structural) = if bytes.len() <= SHORT_TEXT {
        let n = bytes.len();
        let (mut lower, mut cased) = ([0u8; SHORT_IMAGE], [0u8; SHORT_IMAGE]);
        lower_image_into(bytes, ascii, &mut lower[..n]);
        cased[..n].copy_from_slice(bytes);
        let word_end = |at| word_end(&lower[..n], at, utf8);
        scan_short(&lower, &cased, n, has_capabilities, word_end)
    } else {
        with_lower_image(task, ascii, |lower| {
            (
                lower_terms(lower, has_capabilities, |at| word_end(lower, at, utf8)),
                structural_count(bytes),
            )
        })
    };
    complexity(utf16_len, terms, structural, has_capabilities)
}

/// [`analyze`] of a task given as UTF-16 code units, as V8 holds a non-ASCII string, without
/// transcoding it: the result equals `analyze` of its UTF-8 form (a lone surrogate counts
/// as the U+FFFD it becomes there). The images are one byte per unit: ASCII units as they
/// are (lower-cased in the lower-cased image), any other unit a byte no pattern holds, so
/// a non-ASCII space separates patterns as it does in the text ("machine\u{3000}learning"
/// is not "machine learning"); word ends are found in the units. 'İ' lower-cases to "i̇",
/// whose "i" can only end a pattern: "api", checked on its own.
pub fn analyze_utf16(units: &[u16], has_capabilities: bool) -> Complexity {
    let word_end = |at| word_end_utf16(units, at);
    let dotted_i = |terms: &mut LowerTerms, lower: &[u8]| {
        if has_capabilities && !terms.domain {
            terms.domain = dotted_i_ends_api(units, lower);
        }
    };
    let (terms, structural) = if units.len() <= SHORT_TEXT {
        let n = units.len();
        let (mut lower, mut cased) = ([0u8; SHORT_IMAGE], [0u8; SHORT_IMAGE]);
        images16_into(units, &mut lower[..n], &mut cased[..n]);
        let (mut terms, structural) = scan_short(&lower, &cased, n, has_capabilities, word_end);
        dotted_i(&mut terms, &lower[..n]);
        (terms, structural)
    } else {
        with_images16(units, |lower, cased| {
            let mut terms = lower_terms(lower, has_capabilities, word_end);
            dotted_i(&mut terms, lower);
            (terms, structural_count(cased))
        })
    };
    complexity(units.len(), terms, structural, has_capabilities)
}

/// [`rule_words`] of a task given as UTF-16 code units (see [`analyze_utf16`]): no rule word
/// ends in "i", so 'İ' needs no check.
pub fn rule_words_utf16(units: &[u16]) -> RuleWords {
    with_images16(units, |lower, _| rule_words_in(lower))
}

/// Whether an 'İ' (whose lower-case form starts with "i") follows "ap" in the lower-cased
/// image. A vectorized test first: 'İ' is rare.
fn dotted_i_ends_api(units: &[u16], lower: &[u8]) -> bool {
    units.iter().fold(false, |any, &u| any | (u == 0x130))
        && units
            .iter()
            .enumerate()
            .any(|(at, &u)| u == 0x130 && at >= 2 && &lower[at - 2..at] == b"ap")
}

/// A byte of no pattern, standing for a non-ASCII character in the images.
const NOT_ASCII: u8 = 0x80;

/// Runs `f` on the lower-cased and the case-kept images of `units`, built in reused buffers
/// by two vectorized passes.
fn with_images16<R>(units: &[u16], f: impl FnOnce(&[u8], &[u8]) -> R) -> R {
    IMAGES16.with(|cell| {
        let (lower, cased) = &mut *cell.borrow_mut();
        cased.clear();
        // from slice iterators of known length: the loops vectorize (and write each byte
        // once, where filling the buffer first would write it twice)
        cased.extend(units.iter().map(|&u| case_kept(u)));
        lower.clear();
        lower.extend(cased.iter().map(u8::to_ascii_lowercase));
        let r = f(lower, cased);
        if lower.capacity() > LOWER_KEEP {
            *lower = Vec::new();
            *cased = Vec::new();
        }
        r
    })
}

/// A UTF-16 unit in the case-kept image: itself if ASCII, else a byte of no pattern.
fn case_kept(u: u16) -> u8 {
    u.min(u16::from(NOT_ASCII)) as u8
}

/// Writes the lower-cased and the case-kept images of `units` into `lower` and `cased`, of
/// its length (vectorized loops).
fn images16_into(units: &[u16], lower: &mut [u8], cased: &mut [u8]) {
    for (c, &u) in cased.iter_mut().zip(units) {
        *c = case_kept(u);
    }
    for (l, &c) in lower.iter_mut().zip(cased.iter()) {
        *l = c.to_ascii_lowercase();
    }
}

/// JavaScript's `\s` on a UTF-16 code unit (no whitespace lies outside the BMP), written
/// with bit operations so that a block of units is tested without branches.
fn is_js_whitespace_unit(u: u16) -> bool {
    (u.wrapping_sub(0x09) <= 0x04)
        | (u == 0x20)
        | (u == 0xA0)
        | (u == 0x1680)
        | (u.wrapping_sub(0x2000) <= 0x0A)
        | (u & 0xFFFE == 0x2028)
        | (u == 0x202F)
        | (u == 0x205F)
        | (u == 0x3000)
        | (u == 0xFEFF)
}

/// Index of the first JS whitespace unit of `units` at or after `from`, or the length of
/// `units`. Blocks are first tested as a whole (vectorized).
fn word_end_utf16(units: &[u16], from: usize) -> usize {
    // most words are short: their first units one by one, then blocks
    let head_end = (from + WORD_HEAD).min(units.len());
    if let Some(i) = units[from.min(head_end)..head_end]
        .iter()
        .position(|&u| is_js_whitespace_unit(u))
    {
        return from + i;
    }
    const BLOCK: usize = 32;
    let mut at = head_end;
    while at < units.len() {
        let block = &units[at..(at + BLOCK).min(units.len())];
        if block
            .iter()
            .fold(false, |any, &u| any | is_js_whitespace_unit(u))
        {
            if let Some(i) = block.iter().position(|&u| is_js_whitespace_unit(u)) {
                return at + i;
            }
        }
        at += block.len();
    }
    units.len()
}

fn complexity(
    utf16_len: usize,
    terms: LowerTerms,
    structural: usize,
    has_capabilities: bool,
) -> Complexity {
    let token_count = (utf16_len as f64 / 4.0).ceil();
    let keyword_complexity = (terms.keyword_words as f64 / 10.0).min(1.0);
    let structural_complexity = (structural as f64 / 15.0).min(1.0);
    let domain_specific = has_capabilities && terms.domain;
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

/// Which of [`RULE_WORDS`] the lower-cased task contains (`task.toLowerCase().includes`),
/// found in one pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleWords {
    pub code: bool,
    pub complex: bool,
    pub analyze: bool,
}

pub fn rule_words(task: &str) -> RuleWords {
    with_lower_image(task, task.is_ascii(), rule_words_in)
}

/// [`RuleWords`] of a lower-cased image.
fn rule_words_in(lower: &[u8]) -> RuleWords {
    let mut missing = (1usize << RULE_WORDS.len()) - 1;
    let mut from = 0;
    while missing != 0 {
        let Some((start, _, id)) = RULE_SETS.find(missing, lower, from) else {
            break;
        };
        missing &= !(1 << id);
        from = start + 1;
    }
    RuleWords {
        code: missing & 1 == 0,
        complex: missing & 2 == 0,
        analyze: missing & 4 == 0,
    }
}

thread_local! {
    static LOWER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The lower-cased and the case-kept images of a UTF-16 task.
    static IMAGES16: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}
/// The lower-casing buffer kept between calls; a larger one is released after use.
const LOWER_KEEP: usize = 1 << 20;

/// Runs `f` on the lower-cased image of `task` (see the module's documentation; `ascii`:
/// whether `task` is ASCII), built in
/// a reused buffer: a fresh allocation per call of a large task costs page faults, not just
/// a copy.
fn with_lower_image<R>(task: &str, ascii: bool, f: impl FnOnce(&[u8]) -> R) -> R {
    let bytes = task.as_bytes();
    LOWER.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        // from a slice iterator of known length: the loop vectorizes (and writes each byte
        // once, where filling the buffer first would write it twice)
        buf.extend(bytes.iter().map(u8::to_ascii_lowercase));
        if !ascii {
            dotted_i_to_i(bytes, &mut buf);
        }
        let r = f(&buf);
        if buf.capacity() > LOWER_KEEP {
            *buf = Vec::new();
        }
        r
    })
}

/// Writes the lower-cased image of UTF-8 `bytes` into `lower`, of its length, in one
/// vectorized pass (and, in non-`ascii` text, a search for 'İ').
fn lower_image_into(bytes: &[u8], ascii: bool, lower: &mut [u8]) {
    for (l, b) in lower.iter_mut().zip(bytes) {
        *l = b.to_ascii_lowercase();
    }
    if !ascii {
        dotted_i_to_i(bytes, lower);
    }
}

/// In the lower-cased image `lower` of non-ASCII UTF-8 `bytes`: the first byte of each 'İ'
/// becomes the "i" of its lower-case form.
fn dotted_i_to_i(bytes: &[u8], lower: &mut [u8]) {
    for at in memchr::memmem::find_iter(bytes, "İ".as_bytes()) {
        lower[at] = b'i';
    }
}

/// Length in UTF-16 code units of UTF-8 `bytes`: one per character (bytes that are not
/// continuation bytes), two for a four-byte character.
fn utf16_len(bytes: &[u8]) -> usize {
    // summed in u8 lanes over blocks short enough not to overflow (2 per byte at most):
    // the inner loop vectorizes
    bytes
        .chunks(127)
        .map(|block| {
            block.iter().fold(0u8, |n, &b| {
                n + u8::from((b as i8) >= -0x40) + u8::from(b >= 0xF0)
            }) as usize
        })
        .sum()
}

#[derive(Default)]
struct LowerTerms {
    /// Words holding a keyword, up to [`KEYWORD_WORDS_CAP`].
    keyword_words: usize,
    domain: bool,
}

/// Only the first 10 matching words matter (`min(1, k / 10)`).
const KEYWORD_WORDS_CAP: usize = 10;

/// One pass over `lower`, the image of `task`, for keywords and (when `want_domain`)
/// domain keywords. After a keyword's word is counted, the rest of that word is searched
/// for domain keywords only (no keyword pattern holds whitespace, so a keyword found
/// there lies in that word); the pass ends once nothing left can change the result.
fn lower_terms(lower: &[u8], want_domain: bool, word_end: impl Fn(usize) -> usize) -> LowerTerms {
    let mut t = LowerTerms::default();
    let mut from = 0;
    // end of the last counted word: keywords before it add nothing
    let mut counted_word_end = 0;
    loop {
        let keywords_needed = t.keyword_words < KEYWORD_WORDS_CAP;
        let in_counted_word = keywords_needed && from < counted_word_end;
        let mut groups = 0;
        if keywords_needed && !in_counted_word {
            groups |= KEYWORDS;
        }
        if want_domain && !t.domain {
            groups |= DOMAIN;
        }
        // in a counted word only domain keywords are searched, and only those starting
        // in it (which end within the longest one's length of its end)
        let until = if in_counted_word {
            (counted_word_end + LONGEST_DOMAIN_KEYWORD - 1).min(lower.len())
        } else {
            lower.len()
        };
        let found = if groups == 0 {
            None
        } else {
            LOWER_SETS.find(groups, &lower[..until], from)
        };
        match found {
            Some((start, _, _)) if in_counted_word && start >= counted_word_end => {
                // past the counted word: search again from its end, keywords included
                from = counted_word_end;
            }
            Some((start, end, id)) => {
                if LOWER_SETS.groups[id] == 0 {
                    t.keyword_words += 1;
                    counted_word_end = word_end(end);
                } else {
                    t.domain = true;
                }
                from = start + 1;
            }
            None if in_counted_word => from = counted_word_end,
            None => break,
        }
    }
    t
}

/// Texts of at most this many bytes (UTF-16 units) are analysed by [`scan_short`]: the
/// searchers' set-up, paid per search (a keyword-dense text restarts a search at each
/// match), costs more than a short text's whole scan.
const SHORT_TEXT: usize = 256;
/// A short text's image, then zeros (a byte of no pattern) as far as a block of positions
/// and a 16-byte comparison at its last position reach.
const SHORT_IMAGE: usize = SHORT_TEXT + 16;

/// Every pattern of the analysis, for [`scan_short`]: those of the lower-cased image
/// (bits 0–11, in the order of `LOWER_PATTERNS`), then the structural words (12–16) and
/// bytes (17–22).
const SCAN_PATTERNS: [&[u8]; 23] = [
    b"analyze",
    b"implement",
    b"optimize",
    b"algorithm",
    b"architecture",
    b"debug",
    b"code",
    b"api",
    b"database",
    b"security",
    b"machine learning",
    b"data science",
    b"=>",
    b"function",
    b"class",
    b"if",
    b"for",
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
];
const SCAN_KEYWORDS: u32 = 0x3F;
const SCAN_DOMAIN: u32 = 0x3F << 6;
const SCAN_STRUCTURAL: u32 = 0x7FF << 12;
/// By byte: the patterns whose first byte it is ...
static SCAN_FIRST: [u32; 256] = scan_byte_masks(0);
/// ... and those whose second byte it is, with every one-byte pattern (a position is a
/// candidate for a pattern when both its byte and the next one are).
static SCAN_SECOND: [u32; 256] = scan_byte_masks(1);

/// Each of `SCAN_PATTERNS` as a little-endian 16-byte word and the mask of its bytes.
static SCAN_WORDS: [(u128, u128); 23] = scan_words();

const fn scan_words() -> [(u128, u128); 23] {
    let mut words = [(0u128, 0u128); 23];
    let mut p = 0;
    while p < SCAN_PATTERNS.len() {
        let pattern = SCAN_PATTERNS[p];
        let mut i = 0;
        while i < pattern.len() {
            words[p].0 |= (pattern[i] as u128) << (8 * i);
            words[p].1 |= 0xFF << (8 * i);
            i += 1;
        }
        p += 1;
    }
    words
}

const fn scan_byte_masks(at: usize) -> [u32; 256] {
    let mut masks = [0u32; 256];
    let mut p = 0;
    while p < SCAN_PATTERNS.len() {
        let pattern = SCAN_PATTERNS[p];
        if at < pattern.len() {
            masks[pattern[at] as usize] |= 1 << p;
        } else {
            let mut b = 0;
            while b < 256 {
                masks[b] |= 1 << p;
                b += 1;
            }
        }
        p += 1;
    }
    masks
}

/// [`lower_terms`] and [`structural_count`] of a short text in one scan of its positions:
/// `lower` is its lower-cased image, `cased` its bytes (or the case-kept image of its
/// UTF-16 units), of one length. Those searches visit the positions in order too (a search
/// restarts one byte after a match's start) and seek a pattern only while it can change
/// the result; so does this scan. A position is a candidate for a pattern when its byte and
/// the next one in `lower` are the pattern's first two (a structural pattern found in
/// `cased` is there in `lower` too: lower-casing keeps its bytes); a candidate is then
/// compared in full.
fn scan_short(
    lower: &[u8; SHORT_IMAGE],
    cased: &[u8; SHORT_IMAGE],
    len: usize,
    want_domain: bool,
    word_end: impl Fn(usize) -> usize,
) -> (LowerTerms, usize) {
    let mut scan = ShortScan {
        lower,
        cased,
        word_end,
        needed: SCAN_KEYWORDS | SCAN_STRUCTURAL | if want_domain { SCAN_DOMAIN } else { 0 },
        terms: LowerTerms::default(),
        structural: 0,
        counted_word_end: 0,
    };
    // blocks of positions, tested together: candidates are rare; past `len` the image
    // is zeros, a byte no pattern starts with
    let len = len.min(SHORT_TEXT);
    let mut at = 0;
    'scan: while at < len {
        let mut block = [0u32; BLOCK];
        for (k, candidates) in block.iter_mut().enumerate() {
            let (byte, next) = (lower[at + k], lower[at + k + 1]);
            *candidates = SCAN_FIRST[byte as usize] & SCAN_SECOND[next as usize];
        }
        if block.iter().fold(0, |any, c| any | c) & scan.needed != 0 {
            for (k, candidates) in block.into_iter().enumerate() {
                let candidates = candidates & scan.needed;
                if candidates != 0 && scan.candidates_at(at + k, candidates) {
                    break 'scan;
                }
            }
        }
        at += BLOCK;
    }
    (scan.terms, scan.structural)
}

struct ShortScan<'a, F> {
    lower: &'a [u8; SHORT_IMAGE],
    cased: &'a [u8; SHORT_IMAGE],
    word_end: F,
    /// The patterns that can still change the result (bits of `SCAN_PATTERNS`).
    needed: u32,
    terms: LowerTerms,
    structural: usize,
    /// End of the last counted word: keywords before it add nothing.
    counted_word_end: usize,
}

/// Positions of a short text whose candidates are tested together.
const BLOCK: usize = 4;

impl<F: Fn(usize) -> usize> ShortScan<'_, F> {
    /// Compares the `candidates` at `at` (a position of the text) in full and records the
    /// matches; whether nothing left can change the result.
    #[inline(always)]
    fn candidates_at(&mut self, at: usize, mut candidates: u32) -> bool {
        let word = |image: &[u8; SHORT_IMAGE]| {
            // `at` < SHORT_TEXT: the 16 bytes lie in the image
            let bytes: [u8; 16] = image[at..at + 16].try_into().unwrap_or([0; 16]);
            u128::from_le_bytes(bytes)
        };
        let (lower, cased) = (word(self.lower), word(self.cased));
        while candidates != 0 {
            let p = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            let bit = 1u32 << p;
            let (pattern, mask) = SCAN_WORDS[p];
            if bit & SCAN_STRUCTURAL != 0 {
                if (cased ^ pattern) & mask == 0 {
                    self.structural += 1;
                    self.needed &= !bit;
                }
            } else if (lower ^ pattern) & mask == 0 {
                if bit & SCAN_DOMAIN != 0 {
                    self.terms.domain = true;
                    self.needed &= !SCAN_DOMAIN;
                } else if at >= self.counted_word_end {
                    self.terms.keyword_words += 1;
                    self.counted_word_end = (self.word_end)(at + SCAN_PATTERNS[p].len());
                    if self.terms.keyword_words == KEYWORD_WORDS_CAP {
                        self.needed &= !SCAN_KEYWORDS;
                    }
                }
            }
        }
        self.needed == 0
    }
}

fn is_ascii_js_whitespace(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0B | 0x0C | b'\r' | b' ')
}

/// First bytes of the UTF-8 forms of the non-ASCII JS whitespace characters.
fn may_start_js_whitespace(b: u8) -> bool {
    matches!(b, 0xC2 | 0xE1 | 0xE2 | 0xE3 | 0xEF)
}

/// Offset of the first JS whitespace character in `bytes` at or after `from`, or the length
/// of `bytes`. `utf8`: the text `bytes` is the image of, when it is non-ASCII UTF-8 (its
/// whitespace may be non-ASCII; UTF-16 text has [`word_end_utf16`]). Scanned in
/// blocks that are first tested as a whole (vectorized); a candidate lead byte is decoded.
fn word_end(bytes: &[u8], from: usize, utf8: Option<&str>) -> usize {
    // most words are short: their first bytes one by one, then blocks
    let head_end = (from + WORD_HEAD).min(bytes.len());
    if let Some(i) = bytes[from.min(head_end)..head_end]
        .iter()
        .position(|&b| is_ascii_js_whitespace(b) || (utf8.is_some() && may_start_js_whitespace(b)))
    {
        let at = from + i;
        if is_ascii_js_whitespace(bytes[at]) {
            return at;
        }
        // a possible non-ASCII space: decoded by the block scan from here
        return word_end_blocks(bytes, at, utf8);
    }
    word_end_blocks(bytes, head_end, utf8)
}

/// Bytes of a word scanned one by one before the block scan.
const WORD_HEAD: usize = 16;

fn word_end_blocks(bytes: &[u8], from: usize, utf8: Option<&str>) -> usize {
    let candidate =
        |b: u8| is_ascii_js_whitespace(b) || (utf8.is_some() && may_start_js_whitespace(b));
    const BLOCK: usize = 64;
    let mut at = from;
    while at < bytes.len() {
        let block = &bytes[at..(at + BLOCK).min(bytes.len())];
        if block.iter().fold(false, |any, &b| any | candidate(b)) {
            for (i, &b) in block.iter().enumerate() {
                if is_ascii_js_whitespace(b) {
                    return at + i;
                }
                // a lead byte, so a character boundary of the text
                if let Some(text) = utf8 {
                    if may_start_js_whitespace(b)
                        && text[at + i..].chars().next().is_some_and(is_js_whitespace)
                    {
                        return at + i;
                    }
                }
            }
        }
        at += block.len();
    }
    bytes.len()
}

/// How many of [`STRUCTURAL_PATTERNS`] occur in `text`, case-sensitively.
fn structural_count(text: &[u8]) -> usize {
    let mut missing = (1usize << STRUCTURAL_WORDS.len()) - 1;
    let mut from = 0;
    while missing != 0 {
        let Some((start, _, id)) = STRUCTURAL_SETS.find(missing, text, from) else {
            break;
        };
        missing &= !(1 << id);
        from = start + 1;
    }
    STRUCTURAL_WORDS.len() - missing.count_ones() as usize + structural_bytes_count(text)
}

/// How many of [`STRUCTURAL_BYTES`] occur in `text`: two `memchr3` scans (SIMD), each
/// narrowed to the bytes not yet seen and ended once all of its three were seen.
fn structural_bytes_count(text: &[u8]) -> usize {
    STRUCTURAL_BYTES
        .chunks(3)
        .map(|set| {
            // the bytes of `set` not seen yet: `missing[..left]`
            let mut missing = [0u8; 3];
            missing[..set.len()].copy_from_slice(set);
            let mut left = set.len();
            let mut from = 0;
            while left > 0 {
                let rest = &text[from..];
                let at = match missing[..left] {
                    [a] => memchr::memchr(a, rest),
                    [a, b] => memchr::memchr2(a, b, rest),
                    [a, b, c] => memchr::memchr3(a, b, c, rest),
                    _ => None,
                };
                let Some(at) = at else { break };
                let seen = missing[..left].iter().position(|&m| m == rest[at]);
                if let Some(i) = seen {
                    missing.swap(i, left - 1);
                    left -= 1;
                }
                from += at + 1;
            }
            set.len() - left
        })
        .sum()
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
            "complex",
            "COMPLEX",
            "apİ",
            "\u{212A}",
            "\u{3000}",
            "\u{2028}",
            "machine",
            " learning",
            "learning",
            "science",
            "data",
            "base",
            "ap",
            "implement",
            "arch",
            "itecture",
            "請",
            "ß",
        ]);
        prop::collection::vec(atoms, 0..80).prop_map(|v| v.concat())
    }

    #[test]
    fn a_match_hides_no_overlapping_match() {
        // each text holds two patterns that share bytes
        assert!(analyze("apimplement", true).domain_specific);
        assert_eq!(analyze("apimplement", true).keyword_complexity, 0.1);
        assert!(analyze("codebug", true).domain_specific);
        assert_eq!(analyze("codebug", true).keyword_complexity, 0.1);
        assert!(analyze("databasecurity", true).domain_specific);
        assert!(analyze("algorithmachine learning", true).domain_specific);
        // "classif": "class" and "if"; "forfunction": "for" and "function"
        assert_eq!(analyze("classif", false).structural_complexity, 2.0 / 15.0);
        assert_eq!(
            analyze("forfunction", false).structural_complexity,
            2.0 / 15.0
        );
    }

    #[test]
    fn domain_keywords_inside_and_across_a_counted_word() {
        assert!(analyze("analyzecode", true).domain_specific);
        // starts in the keyword's word, ends in the next one
        assert!(analyze("x analyzemachine learning", true).domain_specific);
        // after the tenth keyword word
        let dense = "debug ".repeat(12) + "api";
        assert_eq!(analyze(&dense, true).keyword_complexity, 1.0);
        assert!(analyze(&dense, true).domain_specific);
    }

    #[test]
    fn keywords_late_in_a_long_text_count() {
        let filler = "lorem ipsum dolor sit amet ".repeat(4000);
        let late = format!("{filler}analyze and optimize it");
        assert_eq!(analyze(&late, false).keyword_complexity, 0.2);
        assert_eq!(analyze(&late, false), naive(&late, false));
        let one_word = format!("{}analyze{}debug", "x".repeat(50_000), "y".repeat(50_000));
        assert_eq!(analyze(&one_word, true).keyword_complexity, 0.1);
        assert_eq!(analyze(&one_word, true), naive(&one_word, true));
    }

    #[test]
    fn dense_keywords_count_words_up_to_the_cap() {
        let one_word = "analyze".repeat(20_000);
        assert_eq!(analyze(&one_word, false).keyword_complexity, 0.1);
        for n in [9, 10, 11] {
            let words = "optimize ".repeat(n);
            assert_eq!(analyze(&words, false), naive(&words, false));
        }
    }

    #[test]
    fn unicode_lower_casing_and_whitespace() {
        // 'İ' lower-cases to "i̇": its "i" ends "api" but does not start "implement"
        assert!(analyze("apİ", true).domain_specific);
        assert!(!analyze("ap\u{307}", true).domain_specific);
        assert_eq!(analyze("İmplement", false).keyword_complexity, 0.0);
        assert_eq!(
            analyze("İMPLEMENT İmplement", false),
            naive("İMPLEMENT İmplement", false)
        );
        // KELVIN SIGN lower-cases to ASCII "k", in no pattern
        assert_eq!(
            analyze("\u{212A}ey debug", true),
            naive("\u{212A}ey debug", true)
        );
        // non-ASCII JS whitespace splits words
        for ws in [
            '\u{A0}', '\u{1680}', '\u{2000}', '\u{200A}', '\u{2028}', '\u{3000}',
        ] {
            let t = format!("debug{ws}debug analyze");
            assert_eq!(analyze(&t, false).keyword_complexity, 0.3, "{ws:?}");
        }
        let german_chinese =
            "Bitte prüfe die Übersetzung. 请检查这个翻译。 DEBUG größe ÄNALYZE Analyze";
        assert_eq!(analyze(german_chinese, true), naive(german_chinese, true));
    }

    #[test]
    fn word_ends_past_a_non_ascii_letter_and_after_the_first_bytes() {
        // '€' starts with 0xE2, as U+2028 and U+3000's neighbours do: decoded, not a space
        for (t, k) in [
            ("debug€x debug", 0.2),
            ("debug€\u{3000}debug", 0.2),
            ("debug€debug", 0.1),
            ("debugxxxxxxxxxxxxxxxxxxxxxxxxxxxxx debug", 0.2),
            ("debugxxxxxxxxxxxxxxxxxxxxxxxxxxxxxdebug", 0.1),
            ("debugxxxxxxxxxxxxxxxxxxxxxxxxxx€\u{2028}debug", 0.2),
        ] {
            assert_eq!(analyze(t, false).keyword_complexity, k, "{t:?}");
            assert_eq!(analyze_utf16(&utf16(t), false), analyze(t, false), "{t:?}");
        }
    }

    /// The lower-cased image relies on this: outside ASCII only 'İ' and KELVIN SIGN
    /// lower-case to strings holding ASCII, and lower-casing neither makes nor removes
    /// whitespace. Checked over every character, then the analysis against the naive one
    /// next to each character.
    #[test]
    fn every_character_lower_cases_as_the_image_assumes() {
        let mut to_ascii = Vec::new();
        for c in (0x80..=0x10FFFF).filter_map(char::from_u32) {
            let lower: String = c.to_lowercase().collect();
            if lower.chars().any(|l| l.is_ascii()) {
                to_ascii.push(c);
            }
            assert_eq!(
                lower.chars().any(is_js_whitespace),
                is_js_whitespace(c),
                "{c:?}"
            );
            for t in [
                format!("ap{c}"),
                format!("debug{c}debug"),
                format!("{c}mplement"),
            ] {
                assert_eq!(analyze(&t, true), naive(&t, true), "{t:?}");
            }
        }
        assert_eq!(to_ascii, ['\u{130}', '\u{212A}']);
    }

    #[test]
    fn the_pattern_sets_hold_the_contract_patterns() {
        let lower: Vec<&str> = COMPLEXITY_KEYWORDS
            .iter()
            .chain(DOMAIN_KEYWORDS.iter())
            .copied()
            .collect();
        assert_eq!(LOWER_SETS.patterns, &lower[..]);
        assert!(LOWER_SETS.groups[..6].iter().all(|&g| g == 0));
        assert!(LOWER_SETS.groups[6..].iter().all(|&g| g == 1));
        let structural: Vec<&str> = STRUCTURAL_BYTES
            .iter()
            .map(|b| std::str::from_utf8(std::slice::from_ref(b)).unwrap())
            .chain(STRUCTURAL_WORDS.iter().copied())
            .collect();
        assert_eq!(structural, STRUCTURAL_PATTERNS);
    }

    /// The position scan of short texts holds the patterns of the searches, in the bit order
    /// its masks assume, and relies on the zeros after an image matching nothing.
    #[test]
    fn the_short_scan_holds_the_patterns_of_the_searches() {
        let searched: Vec<&[u8]> = LOWER_PATTERNS
            .iter()
            .chain(STRUCTURAL_WORDS.iter())
            .map(|p| p.as_bytes())
            .chain(STRUCTURAL_BYTES.chunks(1))
            .collect();
        assert_eq!(&SCAN_PATTERNS[..], &searched[..]);
        let bits = |range: std::ops::Range<usize>| range.fold(0u32, |m, p| m | 1 << p);
        assert_eq!(SCAN_KEYWORDS, bits(0..6));
        assert_eq!(SCAN_DOMAIN, bits(6..12));
        assert_eq!(SCAN_STRUCTURAL, bits(12..23));
        assert!(SCAN_PATTERNS
            .iter()
            .all(|p| !p.contains(&0) && p.len() <= 16));
        assert_eq!(SCAN_FIRST[0], 0);
    }

    /// The short scan against the searches long texts use, on one text: the same terms and
    /// structural count.
    fn short_scan_and_searches(
        task: &str,
        caps: bool,
    ) -> ((usize, bool, usize), (usize, bool, usize)) {
        let bytes = task.as_bytes();
        assert!(bytes.len() <= SHORT_TEXT);
        let utf8 = (!task.is_ascii()).then_some(task);
        let (mut lower, mut cased) = ([0u8; SHORT_IMAGE], [0u8; SHORT_IMAGE]);
        lower_image_into(bytes, task.is_ascii(), &mut lower[..bytes.len()]);
        cased[..bytes.len()].copy_from_slice(bytes);
        let image = &lower[..bytes.len()];
        let (t, s) = scan_short(&lower, &cased, bytes.len(), caps, |at| {
            word_end(image, at, utf8)
        });
        let searched = lower_terms(image, caps, |at| word_end(image, at, utf8));
        (
            (t.keyword_words, t.domain, s),
            (
                searched.keyword_words,
                searched.domain,
                structural_count(bytes),
            ),
        )
    }

    #[test]
    fn short_texts_at_the_length_limit() {
        for n in [SHORT_TEXT - 9, SHORT_TEXT - 1, SHORT_TEXT, SHORT_TEXT + 1] {
            // patterns at the very end, cut at the end, and a word running to the end
            for tail in [
                "if",
                "for",
                "}",
                "analyze",
                "analyz",
                "debug]",
                "machine learning",
            ] {
                let task = format!(
                    "{}{tail}",
                    "x ".repeat(n).get(..n - tail.len()).unwrap_or("")
                );
                for caps in [false, true] {
                    assert_eq!(analyze(&task, caps), naive(&task, caps), "{task:?}");
                    assert_eq!(analyze_utf16(&utf16(&task), caps), naive(&task, caps));
                }
            }
        }
        // eleven keyword words, ten counted, then a domain keyword and a bracket
        let dense = "debug ".repeat(11) + "api [";
        assert_eq!(
            short_scan_and_searches(&dense, true),
            ((10, true, 1), (10, true, 1))
        );
    }

    /// Two patterns that match at one position must be of one group (see
    /// `PatternSets::find`): no pattern is a prefix of another group's.
    #[test]
    fn no_pattern_is_a_prefix_of_another_groups() {
        for sets in [&*LOWER_SETS, &*RULE_SETS, &*STRUCTURAL_SETS] {
            for (i, p) in sets.patterns.iter().enumerate() {
                for (j, q) in sets.patterns.iter().enumerate() {
                    if i != j && sets.groups[i] != sets.groups[j] {
                        assert!(!q.starts_with(p), "{p:?} starts {q:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn rule_words_are_lower_cased_substrings() {
        let w = rule_words("A COMPLEX codebase to Analyze");
        assert_eq!(
            w,
            RuleWords {
                code: true,
                complex: true,
                analyze: true
            }
        );
        assert_eq!(rule_words("nothing here"), RuleWords::default());
    }

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn utf16_lone_surrogates_count_as_replacement_characters() {
        let mut units = utf16("ap");
        units.push(0xD800);
        units.extend(utf16(" debug"));
        units.push(0xDC00);
        assert_eq!(
            analyze_utf16(&units, true),
            analyze("ap\u{FFFD} debug\u{FFFD}", true)
        );
    }

    #[test]
    fn utf16_non_ascii_whitespace_separates_words_but_is_no_space() {
        // JS `includes("machine learning")` needs U+0020; `split(/\s+/)` splits on U+3000
        for t in [
            "machine\u{3000}learning",
            "data\u{A0}science",
            "debug\u{3000}debug analyze\u{2028}x",
            "debug\u{FEFF}debug\u{85}debug",
        ] {
            for caps in [false, true] {
                assert_eq!(analyze_utf16(&utf16(t), caps), naive(t, caps), "{t:?}");
            }
        }
        assert!(!analyze_utf16(&utf16("machine\u{3000}learning"), true).domain_specific);
        assert_eq!(
            analyze_utf16(&utf16("debug\u{3000}debug"), false).keyword_complexity,
            0.2
        );
    }

    #[test]
    fn utf16_dotted_capital_i_ends_api_only() {
        assert!(analyze_utf16(&utf16("apİ"), true).domain_specific);
        assert!(analyze_utf16(&utf16("x APİ"), true).domain_specific);
        assert!(!analyze_utf16(&utf16("aİ"), true).domain_specific);
        assert!(!analyze_utf16(&utf16("apİ"), false).domain_specific);
        assert_eq!(
            analyze_utf16(&utf16("İmplement"), false).keyword_complexity,
            0.0
        );
    }

    /// Fillers without any pattern, to place patterns late in long texts.
    fn filler_strategy() -> impl Strategy<Value = String> {
        let unit = prop::sample::select(vec![
            "word ",
            "lorem ipsum dolor sit amet ",
            "x",
            "Übergrößenträger ",
            "请检查这个翻译",
            "\u{3000}",
        ]);
        (unit, 0..3000usize).prop_map(|(u, n)| u.repeat(n))
    }

    fn naive_rule_words(task: &str) -> RuleWords {
        let lower = task.to_lowercase();
        RuleWords {
            code: lower.contains("code"),
            complex: lower.contains("complex"),
            analyze: lower.contains("analyze"),
        }
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

        #[test]
        fn equals_naive_with_patterns_late_or_absent(
            head in filler_strategy(),
            tail in task_strategy(),
            caps in any::<bool>(),
        ) {
            let task = head + &tail;
            prop_assert_eq!(analyze(&task, caps), naive(&task, caps));
        }

        #[test]
        fn short_scan_equals_the_searches(task in task_strategy(), caps in any::<bool>()) {
            // cut to the short scan's limit, between characters
            let cut = (0..=task.len().min(SHORT_TEXT))
                .rev()
                .find(|&i| task.is_char_boundary(i))
                .unwrap_or(0);
            let (scanned, searched) = short_scan_and_searches(&task[..cut], caps);
            prop_assert_eq!(scanned, searched);
        }

        #[test]
        fn utf16_equals_utf8(task in task_strategy(), caps in any::<bool>()) {
            prop_assert_eq!(analyze_utf16(&utf16(&task), caps), naive(&task, caps));
        }

        #[test]
        fn utf16_equals_utf8_on_arbitrary_text(task in ".{0,200}", caps in any::<bool>()) {
            prop_assert_eq!(analyze_utf16(&utf16(&task), caps), naive(&task, caps));
        }

        #[test]
        fn utf16_equals_utf8_with_patterns_late_or_absent(
            head in filler_strategy(),
            tail in task_strategy(),
            caps in any::<bool>(),
        ) {
            let task = head + &tail;
            prop_assert_eq!(analyze_utf16(&utf16(&task), caps), naive(&task, caps));
        }

        #[test]
        fn rule_words_equal_naive(task in task_strategy()) {
            prop_assert_eq!(rule_words(&task), naive_rule_words(&task));
        }

        #[test]
        fn utf16_rule_words_equal_naive(task in task_strategy()) {
            prop_assert_eq!(rule_words_utf16(&utf16(&task)), naive_rule_words(&task));
        }

        #[test]
        fn utf16_equals_utf8_on_mixed_scripts(
            task in "[a-zA-Z {}()\\[\\]=>\\n\\t\u{A0}\u{3000}\u{2028}\u{FEFF}äöüßÄÖÜİ\u{212A}中文请检😀🎉-]{0,120}",
            caps in any::<bool>(),
        ) {
            let units = utf16(&task);
            prop_assert_eq!(analyze_utf16(&units, caps), analyze(&task, caps));
            prop_assert_eq!(rule_words_utf16(&units), rule_words(&task));
        }
    }
}

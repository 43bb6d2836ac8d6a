//! Task texts of each kind the miss cost is measured on (shared by the examples).

/// Complexity keywords in the first 200 bytes, then code and domain words: the benchmark's
/// original paragraph.
pub const DENSE: &str = "Please analyze this function and optimize the algorithm: function f(x) { if (x) { for (const y of x) g(y) } } The database layer and the API need a security review before release. ";
pub const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ";
/// German and Chinese: non-ASCII, no keyword.
pub const NON_ASCII: &str = "Bitte prüfe die Übersetzung für die Größenänderung der Straße. 请检查这个翻译并给出简短的总结。 ";
/// Appended to a keyword-free text: the keywords come last.
pub const LATE_TAIL: &str = " then analyze and optimize the algorithm, debug it";

#[allow(dead_code)] // not every example walks every kind
pub const KINDS: [&str; 6] = ["dense", "word", "lorem", "letter", "late", "non-ascii"];

/// A text of `kind` of about `bytes` bytes (never cut inside a character).
pub fn text(kind: &str, bytes: usize) -> String {
    let fill = |unit: &str, n: usize| -> String {
        let mut s = String::with_capacity(n + unit.len());
        while s.len() + unit.len() <= n {
            s.push_str(unit);
        }
        for c in unit.chars() {
            if s.len() + c.len_utf8() > n {
                break;
            }
            s.push(c);
        }
        s
    };
    match kind {
        "dense" => fill(DENSE, bytes),
        "word" => fill("word ", bytes),
        "lorem" => fill(LOREM, bytes),
        "letter" => fill("x", bytes),
        "late" => {
            let mut s = fill(LOREM, bytes.saturating_sub(LATE_TAIL.len()));
            s.push_str(LATE_TAIL);
            s
        }
        "non-ascii" => fill(NON_ASCII, bytes),
        _ => panic!("unknown text kind {kind}"),
    }
}

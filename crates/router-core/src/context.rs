//! A routing request, borrowed from the caller for the duration of one decision.

use crate::complexity::{self, Complexity, RuleWords};
use crate::model::{Priority, Tier};
use crate::tokens;

#[derive(Clone, Copy, Debug)]
pub struct RoutingContext<'a> {
    pub task: TaskText<'a>,
    pub user_tier: Tier,
    pub priority: Priority,
    /// Milliseconds; finite and ≥ 0 (the binding checks).
    pub latency_requirement: f64,
    pub token_budget: Option<f64>,
    /// `None` when the caller gave no `capabilities`; `Some(&[])` for an empty array
    /// (the legacy treats an empty array as present).
    pub capabilities: Option<&'a [String]>,
    /// Ids of caller-defined rules (JS conditions) that matched this context, in any order.
    pub matched_custom_rules: &'a [String],
}

impl RoutingContext<'_> {
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities
            .is_some_and(|caps| caps.iter().any(|c| c == cap))
    }
}

/// The task's text in the form the caller holds it: UTF-8, or UTF-16 code units (V8 holds
/// a non-ASCII string so, and writing it as UTF-8 costs more than analysing it). Every use
/// of the text gives the same result on either form of one string (a lone surrogate counts
/// as the U+FFFD it becomes in UTF-8).
#[derive(Clone, Copy, Debug)]
pub enum TaskText<'a> {
    Utf8(&'a str),
    Utf16(&'a [u16]),
}

impl<'a> From<&'a str> for TaskText<'a> {
    fn from(task: &'a str) -> TaskText<'a> {
        TaskText::Utf8(task)
    }
}

impl TaskText<'_> {
    pub fn analyze(self, has_capabilities: bool) -> Complexity {
        match self {
            TaskText::Utf8(t) => complexity::analyze(t, has_capabilities),
            TaskText::Utf16(u) => complexity::analyze_utf16(u, has_capabilities),
        }
    }

    pub fn rule_words(self) -> RuleWords {
        match self {
            TaskText::Utf8(t) => complexity::rule_words(t),
            TaskText::Utf16(u) => complexity::rule_words_utf16(u),
        }
    }

    pub fn estimate_input_tokens(self) -> f64 {
        match self {
            TaskText::Utf8(t) => tokens::estimate_input_tokens(t),
            TaskText::Utf16(u) => tokens::estimate_input_tokens_utf16(u),
        }
    }
}

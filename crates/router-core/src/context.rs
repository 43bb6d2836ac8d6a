//! A routing request, borrowed from the caller for the duration of one decision.

use crate::model::{Priority, Tier};

#[derive(Clone, Copy, Debug)]
pub struct RoutingContext<'a> {
    pub task: &'a str,
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

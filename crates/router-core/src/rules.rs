//! Routing rules and the roadmap's "rules" pipeline: matching rules → five-factor score →
//! load-balanced pick among the top three.

use crate::context::RoutingContext;
use crate::model::{ModelConfig, Priority, Tier};

/// The seven default rules, evaluated natively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuiltinRule {
    CriticalTasks,
    EnterpriseTier,
    LowLatency,
    CodeTasks,
    LargeContext,
    FreeTier,
    DeepReasoning,
}

const TOP_MODELS: [&str; 4] = [
    "gemini-2.5-deep-think",
    "gemini-2.5-pro",
    "gemini-pro-vertex",
    "gemini-2.0-flash-thinking",
];

impl BuiltinRule {
    pub const ALL: [BuiltinRule; 7] = [
        BuiltinRule::CriticalTasks,
        BuiltinRule::EnterpriseTier,
        BuiltinRule::LowLatency,
        BuiltinRule::CodeTasks,
        BuiltinRule::LargeContext,
        BuiltinRule::FreeTier,
        BuiltinRule::DeepReasoning,
    ];

    pub fn id(self) -> &'static str {
        match self {
            BuiltinRule::CriticalTasks => "critical-tasks",
            BuiltinRule::EnterpriseTier => "enterprise-tier",
            BuiltinRule::LowLatency => "low-latency",
            BuiltinRule::CodeTasks => "code-tasks",
            BuiltinRule::LargeContext => "large-context",
            BuiltinRule::FreeTier => "free-tier",
            BuiltinRule::DeepReasoning => "deep-reasoning",
        }
    }

    pub fn from_id(id: &str) -> Option<BuiltinRule> {
        BuiltinRule::ALL.into_iter().find(|r| r.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            BuiltinRule::CriticalTasks => "Critical Tasks",
            BuiltinRule::EnterpriseTier => "Enterprise Tier",
            BuiltinRule::LowLatency => "Low Latency",
            BuiltinRule::CodeTasks => "Code Tasks",
            BuiltinRule::LargeContext => "Large Context",
            BuiltinRule::FreeTier => "Free Tier",
            BuiltinRule::DeepReasoning => "Deep Reasoning",
        }
    }

    pub fn weight(self) -> f64 {
        match self {
            BuiltinRule::CriticalTasks => 10.0,
            BuiltinRule::EnterpriseTier => 8.0,
            BuiltinRule::LowLatency => 7.0,
            BuiltinRule::CodeTasks => 6.0,
            BuiltinRule::LargeContext => 5.0,
            BuiltinRule::FreeTier => 3.0,
            BuiltinRule::DeepReasoning => 9.0,
        }
    }

    pub fn model_preference(self) -> Vec<String> {
        let list: &[&str] = match self {
            BuiltinRule::CriticalTasks | BuiltinRule::EnterpriseTier => &TOP_MODELS,
            BuiltinRule::LowLatency => &[
                "gemini-2.5-flash",
                "gemini-2.0-flash",
                "gemini-2.0-flash-thinking",
            ],
            BuiltinRule::CodeTasks => &[
                "gemini-2.5-pro",
                "gemini-2.5-flash",
                "gemini-2.0-flash-thinking",
                "gemini-2.0-flash",
            ],
            BuiltinRule::LargeContext => &TOP_MODELS[..3],
            BuiltinRule::FreeTier => &["gemini-2.0-flash", "gemini-2.5-flash"],
            BuiltinRule::DeepReasoning => &["gemini-2.5-deep-think", "gemini-2.5-pro"],
        };
        list.iter().map(|s| s.to_string()).collect()
    }

    pub fn matches(self, c: &RoutingContext) -> bool {
        match self {
            BuiltinRule::CriticalTasks => c.priority == Priority::Critical,
            BuiltinRule::EnterpriseTier => c.user_tier == Tier::Enterprise,
            BuiltinRule::LowLatency => c.latency_requirement < 1000.0,
            BuiltinRule::CodeTasks => c.task.rule_words().code || c.has_capability("code"),
            BuiltinRule::LargeContext => c.token_budget.unwrap_or(0.0) > 100_000.0,
            BuiltinRule::FreeTier => c.user_tier == Tier::Free,
            BuiltinRule::DeepReasoning => {
                let words = c.task.rule_words();
                words.complex || words.analyze || c.has_capability("deep-reasoning")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Builtin(BuiltinRule),
    /// A JS function: the binding evaluates it and passes the ids that matched.
    Custom,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub condition: Condition,
    pub model_preference: Vec<String>,
    pub weight: f64,
    pub active: bool,
}

impl Rule {
    pub fn builtin(r: BuiltinRule) -> Rule {
        Rule {
            id: r.id().to_string(),
            name: r.name().to_string(),
            condition: Condition::Builtin(r),
            model_preference: r.model_preference(),
            weight: r.weight(),
            active: true,
        }
    }

    fn matches(&self, c: &RoutingContext) -> bool {
        match &self.condition {
            Condition::Builtin(b) => b.matches(c),
            Condition::Custom => c.matched_custom_rules.contains(&self.id),
        }
    }
}

/// Rules in insertion order; an added rule with an existing id replaces it in place.
pub const MAX_RULES: usize = 1024;

#[derive(Clone, Debug)]
pub struct RuleBook {
    rules: Vec<Rule>,
}

impl Default for RuleBook {
    fn default() -> Self {
        RuleBook {
            rules: BuiltinRule::ALL.into_iter().map(Rule::builtin).collect(),
        }
    }
}

impl RuleBook {
    /// Returns false when the book is full (`MAX_RULES`) and the id is new.
    pub fn add(&mut self, rule: Rule) -> bool {
        if let Some(slot) = self.rules.iter_mut().find(|r| r.id == rule.id) {
            *slot = rule;
            return true;
        }
        if self.rules.len() >= MAX_RULES {
            return false;
        }
        self.rules.push(rule);
        true
    }
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
    pub fn has_custom(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.active && r.condition == Condition::Custom)
    }

    /// Indexes of the preferred models: the union of the preferences of the active rules
    /// that match (highest weight first, ties in insertion order), restricted to names in
    /// `models`; empty when no rule contributes (the caller then uses every model).
    pub fn preferred(&self, c: &RoutingContext, models: &crate::model::ModelSet) -> Vec<usize> {
        let mut matching: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.active && r.matches(c))
            .collect();
        matching.sort_by(|a, b| b.weight.total_cmp(&a.weight)); // stable
        let mut out: Vec<usize> = Vec::new();
        for r in matching {
            for name in &r.model_preference {
                if let Some(i) = models.index_of(name) {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
            }
        }
        out
    }
}

/// The five-factor score of the roadmap pipeline, in [0, 1].
pub fn five_factor_score(
    model: &ModelConfig,
    model_latency_ms: f64,
    reliability: f64,
    c: &RoutingContext,
) -> f64 {
    let required = if c.latency_requirement > 0.0 {
        c.latency_requirement
    } else {
        2000.0
    };
    let latency = if model_latency_ms <= required {
        1.0
    } else {
        (1.0 - (model_latency_ms - required) / required).max(0.0)
    };
    let cost = match c.user_tier {
        Tier::Enterprise => 0.8,
        t => {
            let limit = if t == Tier::Pro { 3e-6 } else { 1e-6 };
            if model.cost_per_token <= limit {
                1.0
            } else {
                (1.0 - (model.cost_per_token - limit) / limit).max(0.0)
            }
        }
    };
    let tier = if model.tier <= c.user_tier { 1.0 } else { 0.1 };
    let capability = match c.capabilities {
        Some(req) if !req.is_empty() => {
            req.iter().filter(|r| model.has_capability(r)).count() as f64 / req.len() as f64
        }
        _ => 1.0,
    };
    0.35 * latency + 0.15 * cost + 0.25 * reliability + 0.15 * tier + 0.1 * capability
}

/// Among the top three by score, each score times 1 + 0.2·max(0, 1 − usage/100), then a
/// pick in proportion, with `r` uniform in [0, 1). `scored` holds (index, score, usage).
pub fn load_balanced_pick(scored: &[(usize, f64, u64)], r: f64) -> Option<(usize, f64)> {
    let mut top: Vec<(usize, f64, u64)> = scored.to_vec();
    top.sort_by(|a, b| b.1.total_cmp(&a.1)); // stable: ties keep model order
    top.truncate(3);
    let weights: Vec<f64> = top
        .iter()
        .map(|(_, s, usage)| s * (1.0 + 0.2 * (1.0 - *usage as f64 / 100.0).max(0.0)))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut left = r * total;
    for (i, w) in weights.iter().enumerate() {
        left -= w;
        if left <= 0.0 {
            return Some((top[i].0, top[i].1));
        }
    }
    top.last().map(|t| (t.0, t.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelSet;

    fn ctx<'a>(task: &'a str, caps: Option<&'a [String]>) -> RoutingContext<'a> {
        RoutingContext {
            task: task.into(),
            user_tier: Tier::Pro,
            priority: Priority::Medium,
            latency_requirement: 5000.0,
            token_budget: None,
            capabilities: caps,
            matched_custom_rules: &[],
        }
    }

    fn model(name: &str) -> ModelConfig {
        ModelConfig {
            name: name.into(),
            tier: Tier::Free,
            capabilities: vec![],
            latency_target: 100.0,
            cost_per_token: 1e-7,
            max_tokens: 1000.0,
        }
    }

    #[test]
    fn default_rules_are_the_seven_of_the_contract() {
        let book = RuleBook::default();
        let ids: Vec<&str> = book.rules().iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "critical-tasks",
                "enterprise-tier",
                "low-latency",
                "code-tasks",
                "large-context",
                "free-tier",
                "deep-reasoning"
            ]
        );
    }

    #[test]
    fn preferences_follow_weight_order() {
        let book = RuleBook::default();
        let models = ModelSet::new(
            [
                "gemini-2.5-deep-think",
                "gemini-2.5-pro",
                "gemini-2.5-flash",
                "x",
            ]
            .iter()
            .map(|n| model(n))
            .collect(),
        );
        // "Analyze the code": deep-reasoning (9) before code-tasks (6)
        let p = book.preferred(&ctx("Analyze the CODE", None), &models);
        assert_eq!(p, vec![0, 1, 2]);
        assert!(book.preferred(&ctx("hello", None), &models).is_empty());
    }

    #[test]
    fn replacing_a_rule_keeps_its_place() {
        let mut book = RuleBook::default();
        let mut r = Rule::builtin(BuiltinRule::LowLatency);
        r.weight = 1.0;
        assert!(book.add(r));
        assert_eq!(book.rules()[2].weight, 1.0);
        assert_eq!(book.rules().len(), 7);
        assert!(book.remove("low-latency"));
        assert!(!book.remove("low-latency"));
    }

    #[test]
    fn load_balancing_prefers_less_used_models() {
        let scored = [(0, 0.8, 100), (1, 0.8, 0), (2, 0.1, 0), (3, 0.05, 0)];
        // weights 0.8, 0.96, 0.12 → r just above 0.8/1.88 picks model 1
        assert_eq!(load_balanced_pick(&scored, 0.43).unwrap().0, 1);
        assert_eq!(load_balanced_pick(&scored, 0.0).unwrap().0, 0);
        assert_eq!(load_balanced_pick(&scored, 0.99).unwrap().0, 2);
        assert!(load_balanced_pick(&[], 0.5).is_none());
    }

    #[test]
    fn five_factor_score_weights_sum_to_one() {
        let caps = vec!["code".to_string()];
        let mut m = model("m");
        m.capabilities = caps.clone();
        let s = five_factor_score(&m, 100.0, 1.0, &ctx("t", Some(&caps)));
        assert!((s - 1.0).abs() < 1e-12);
    }
}

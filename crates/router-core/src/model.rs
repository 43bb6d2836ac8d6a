//! Model configs, tiers and priorities as the router sees them. Secrets (`apiKey`,
//! `endpoint`, …) never enter this crate: the binding drops them before conversion.

use serde::{Deserialize, Serialize};

/// Access tier of a user or a model. Level order: free < pro < enterprise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Free = 0,
    Pro = 1,
    Enterprise = 2,
}

impl Tier {
    pub fn parse(s: &str) -> Option<Tier> {
        match s {
            "free" => Some(Tier::Free),
            "pro" => Some(Tier::Pro),
            "enterprise" => Some(Tier::Enterprise),
            _ => None,
        }
    }
    pub fn from_code(code: u32) -> Option<Tier> {
        [Tier::Free, Tier::Pro, Tier::Enterprise]
            .get(code as usize)
            .copied()
    }
    pub fn level(self) -> u8 {
        self as u8
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Enterprise => "enterprise",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Priority {
    Low = 0,
    Medium = 1,
    High = 2,
    Critical = 3,
}

impl Priority {
    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            "critical" => Some(Priority::Critical),
            _ => None,
        }
    }
    pub fn from_code(code: u32) -> Option<Priority> {
        [
            Priority::Low,
            Priority::Medium,
            Priority::High,
            Priority::Critical,
        ]
        .get(code as usize)
        .copied()
    }
}

/// The routing-relevant part of a model config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelConfig {
    pub name: String,
    pub tier: Tier,
    pub capabilities: Vec<String>,
    pub latency_target: f64,
    pub cost_per_token: f64,
    pub max_tokens: f64,
}

impl ModelConfig {
    pub fn has_capability(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }
}

/// The models of one `availableModels` Map, in its insertion order.
#[derive(Clone, Debug, Default)]
pub struct ModelSet {
    models: Vec<ModelConfig>,
    by_name: ahash::AHashMap<String, usize>,
    /// The names again, shared: a routing-cache entry holds one without an allocation.
    shared_names: Vec<std::rc::Rc<str>>,
}

impl ModelSet {
    /// Later duplicates of a name cannot occur (a JS Map has unique keys); if they do,
    /// the first one wins.
    pub fn new(models: Vec<ModelConfig>) -> ModelSet {
        let mut by_name = ahash::AHashMap::with_capacity(models.len());
        for (i, m) in models.iter().enumerate() {
            by_name.entry(m.name.clone()).or_insert(i);
        }
        let shared_names = models
            .iter()
            .map(|m| std::rc::Rc::from(m.name.as_str()))
            .collect();
        ModelSet {
            models,
            by_name,
            shared_names,
        }
    }
    pub fn len(&self) -> usize {
        self.models.len()
    }
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
    pub fn get(&self, index: usize) -> Option<&ModelConfig> {
        self.models.get(index)
    }
    pub fn shared_name(&self, index: usize) -> Option<&std::rc::Rc<str>> {
        self.shared_names.get(index)
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }
    pub fn iter(&self) -> impl Iterator<Item = (usize, &ModelConfig)> {
        self.models.iter().enumerate()
    }
}

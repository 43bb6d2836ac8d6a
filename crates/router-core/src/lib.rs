//! Router core of model-router-native: pure Rust, knows nothing of N-API.
//!
//! [`Router`] picks a model for a [`RoutingContext`] from a [`ModelSet`], with the legacy
//! algorithm (`Strategy::Legacy`, decision for decision, minus the documented defects) or
//! the roadmap's rules pipeline (`Strategy::Rules`), or the adaptive strategy
//! (`Strategy::Adaptive`: the legacy's candidates, then a live pick on health, latency and
//! calls in flight, fed by reported outcomes).

pub mod adaptive;
pub mod affinity;
pub mod budget;
pub mod complexity;
pub mod context;
pub mod health;
pub mod latency;
pub mod model;
pub mod outcome;
pub mod performance;
pub mod quota;
pub mod routing_cache;
pub mod rules;
pub mod tokens;
pub mod window;

mod router;

pub use context::{RoutingContext, TaskText};
pub use model::{ModelConfig, ModelSet, Priority, Tier};
pub use router::*;

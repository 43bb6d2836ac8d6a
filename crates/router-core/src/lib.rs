//! Router core of model-router-native: pure Rust, knows nothing of N-API.
//!
//! [`Router`] picks a model for a [`RoutingContext`] from a [`ModelSet`], with the legacy
//! algorithm (`Strategy::Legacy`, decision for decision, minus the documented defects) or
//! the roadmap's rules pipeline (`Strategy::Rules`).

pub mod complexity;
pub mod context;
pub mod model;
pub mod performance;
pub mod routing_cache;
pub mod rules;
pub mod window;

mod router;

pub use context::RoutingContext;
pub use model::{ModelConfig, ModelSet, Priority, Tier};
pub use router::*;

//! The fleet level of model-router-native: state shared by every process of an application
//! through one Redis (or Redis Cluster). Pure Rust, no N-API: the binding (`src/fleet.rs`)
//! owns the runtime and converts values.
//!
//! - [`keys`]: every key and channel under the prefix, with hash tags for Cluster.
//! - [`codec`]: the value record on the wire (kind, namespace, expiry, lz4).
//! - [`health`]: the degraded/restored state machine and its backoff (injectable clock).
//! - [`bus`]: the one pub/sub channel; the cache's invalidations are one topic of it, and
//!   other subsystems (the router's shared state) add their own topics.
//! - [`client`]: the connection, the shared cache operations, the fleet-wide lock.
//! - [`health_topic`]: the router's model health on the bus and under the prefix.
//! - [`quota_lease`]: the router's fleet-wide quotas, leased from one script.
//! - [`budget_lease`]: the router's fleet-wide spending budgets, leased the same way.

pub mod budget_lease;
pub mod bus;
pub mod client;
pub mod codec;
pub mod health;
pub mod health_topic;
pub mod keys;
pub mod quota_lease;

pub use bus::{BusMessage, TOPIC_CACHE};
pub use client::{Acquire, Fleet, FleetConfig, FleetEvent, Lookup, Stats, Write};
pub use codec::{Entry, KIND_MAX};
pub use health::{Backoff, Clock, Health, SystemClock, Transition};
pub use keys::Keys;

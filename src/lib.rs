//! The Node addon of model-router-native: a thin N-API binding over the pure core crates
//! (`router-core`, `cache-core`, `monitor-core`). This crate only converts JS values to core
//! types and maps core errors to JS errors; every export catches panics (`catch_unwind`).

// `cargo test` builds this crate without N-API registration, so the exports look unused.
#![cfg_attr(test, allow(dead_code))]

mod cache;
mod errors;
mod fleet;
mod monitor;
mod router;
mod router_fleet;
mod router_layout;

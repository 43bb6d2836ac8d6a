//! monitor core of model-router-native: pure Rust, knows nothing of N-API.
//!
//! A drop-in core for the legacy `PerformanceMonitor`: per metric the last 1000 values
//! (`window`) with the legacy statistics (`stats`), an all-time HDR distribution
//! (`alltime`, counted in `loghist`), targets with a direction (`targets`), bottleneck analysis and health score
//! (`analysis`), and the Prometheus text format (`prometheus`). `monitor` ties them together.

pub mod alltime;
pub mod analysis;
pub mod loghist;
pub mod monitor;
pub mod prometheus;
pub mod stats;
pub mod targets;
pub mod window;

pub use analysis::{analyze_bottlenecks, health_score, Bottleneck, Finding};
pub use monitor::{Monitor, MonitorError};
pub use stats::Stats;
pub use targets::{Direction, Severity, Target};

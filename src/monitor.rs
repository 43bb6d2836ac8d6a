//! N-API binding of `monitor-core`.

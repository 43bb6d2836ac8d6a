//! N-API binding of `cache-core`.

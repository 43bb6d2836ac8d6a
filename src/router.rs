//! N-API binding of `router-core`.

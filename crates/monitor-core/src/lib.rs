//! monitor core of model-router-native: pure Rust, knows nothing of N-API.

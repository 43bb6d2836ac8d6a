//! cache core of model-router-native: pure Rust, knows nothing of N-API.
//!
//! - `memory`: the memory level (L1), byte-bounded, O(1), LRU / LFU / W-TinyLFU.
//! - `sketch`: the frequency sketch behind TinyLFU admission.
//! - `disk`: the SQLite level (L2): WAL, a reader pool, one writer with group commit.
//! - `writer`: the disk level seen from the JS thread: queued sets, a writer thread.
//! - `tiered`: the two levels together, as the `CacheManager` sees them.
//! - `wal_vfs`: a VFS shim that writes a commit's WAL frames in one call. Crate-private,
//!   Linux-only and opt-in (`Config::wal_coalescing`): it depends on SQLite internals.
//! - `kind`: the type tags stored with each value.

pub mod disk;
pub mod memory;
pub mod sketch;
pub mod tiered;
#[cfg(target_os = "linux")]
pub(crate) mod wal_vfs;
pub mod writer;

pub use memory::Policy;
pub use tiered::{CacheError, Config, Source, TieredCache};
pub use writer::{Committed, Notify};

/// Type tags of stored values. The core stores them; the drop-in layer (JS) serializes
/// and parses by them.
pub mod kind {
    /// JSON text of an object, array, number, boolean or null.
    pub const JSON: u8 = 0;
    /// A string, as UTF-8.
    pub const STRING: u8 = 1;
    /// A Node `Buffer`, raw bytes.
    pub const BUFFER: u8 = 2;
    /// A `Uint8Array` (not a `Buffer`), raw bytes.
    pub const BYTES: u8 = 3;
    /// A row written by the legacy code with `compressed` 0: JSON text, or a raw string.
    pub const LEGACY_JSON: u8 = 4;
    /// A row written by the legacy code with `compressed` 1: the JSON of the stored text.
    pub const LEGACY_QUOTED: u8 = 5;
}

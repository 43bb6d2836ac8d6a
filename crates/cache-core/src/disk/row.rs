//! The stored form of a value: the row `put` writes and `read_row` decodes.
//!
//! One column beyond the legacy schema is added when missing (see `schema`): `kind`, the
//! value's type tag, NULL on rows the legacy code wrote. `compressed` is 1 for an lz4 block
//! on rows with a `kind`; on legacy rows it keeps its legacy meaning (the JSON of the JSON
//! text).

use crate::kind;
use rusqlite::{Connection, OptionalExtension};
use std::borrow::Cow;

/// Values at least this long are compressed (when it saves space).
pub const COMPRESS_THRESHOLD: usize = 256;

/// A row as read back: the value decoded (decompressed), its kind, its expiry.
pub struct DiskRow {
    pub kind: u8,
    pub value: Vec<u8>,
    pub expires_at: i64,
    pub namespace: String,
}

/// The bytes to store for `value` and the row's `compressed` flag: an lz4 block when
/// `compression` is on, the value reaches `COMPRESS_THRESHOLD` and the block is smaller;
/// else the value itself (borrowed: no copy).
pub(super) fn pack(value: &[u8], compression: bool) -> (Cow<'_, [u8]>, i64) {
    if compression && value.len() >= COMPRESS_THRESHOLD {
        let packed = lz4_flex::compress_prepend_size(value);
        if packed.len() < value.len() {
            return (Cow::Owned(packed), 1);
        }
    }
    (Cow::Borrowed(value), 0)
}

/// The live row under `key` as read through `conn`; an expired row reads as none.
pub(super) fn read_row(
    conn: &Connection,
    key: &str,
    now: i64,
) -> rusqlite::Result<Option<DiskRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT value, kind, compressed, ttl, namespace FROM cache_entries WHERE key = ?1",
    )?;
    let row = stmt
        .query_row([key], |r| {
            let ttl: Option<i64> = r.get(3)?;
            if ttl.is_some_and(|t| t < now) {
                return Ok(None);
            }
            let kind: Option<i64> = r.get(1)?;
            let compressed: Option<i64> = r.get(2)?;
            let namespace: Option<String> = r.get(4)?;
            let stored = r.get_ref(0)?;
            let (kind, value) = match (kind, compressed.unwrap_or(0), stored) {
                // Decompressed straight from SQLite's buffer: no intermediate copy.
                (
                    Some(k),
                    1,
                    rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b),
                ) => (
                    k as u8,
                    lz4_flex::decompress_size_prepended(b).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            0,
                            rusqlite::types::Type::Blob,
                            Box::new(e),
                        )
                    })?,
                ),
                (kind, compressed, stored) => {
                    let value = match stored {
                        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => {
                            b.to_vec()
                        }
                        rusqlite::types::ValueRef::Null => b"null".to_vec(),
                        other => other
                            .as_i64()
                            .map(|n| n.to_string().into_bytes())
                            .unwrap_or_default(),
                    };
                    match (kind, compressed) {
                        (Some(k), _) => (k as u8, value),
                        (None, 0) => (kind::LEGACY_JSON, value),
                        (None, _) => (kind::LEGACY_QUOTED, value),
                    }
                }
            };
            Ok(Some(DiskRow {
                kind,
                value,
                expires_at: ttl.unwrap_or(i64::MAX),
                namespace: namespace.unwrap_or_default(),
            }))
        })
        .optional()?;
    Ok(row.flatten())
}

//! The value record stored in Redis. It keeps what the local levels keep: the value's kind
//! (JSON, string, Buffer, bytes…, as `ts/cache-manager.ts` numbers them), its namespace
//! (so a process that fills its memory level from Redis can clear it by namespace) and its
//! expiry (so the local copy expires with the shared one). Values of 256 bytes or more are
//! lz4-compressed when compression is on.
//!
//! ```text
//! [0xF1][version 1][kind][flags: bit 0 = lz4][expires_at_ms: u64 LE][ns_len: u16 LE][ns][payload]
//! ```
//! Anything else found under the prefix (another program's value, a truncated write) is
//! refused with a [`DecodeError`], never trusted.

const MAGIC: u8 = 0xF1;
const VERSION: u8 = 1;
const FLAG_LZ4: u8 = 1;
const HEADER: usize = 14;
/// Same threshold as the local levels: below it lz4 saves too little to pay its cost.
pub const COMPRESS_MIN: usize = 256;
/// The highest kind number the drop-in layer uses.
pub const KIND_MAX: u8 = 5;

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: u8,
    pub namespace: Option<String>,
    /// Wall-clock milliseconds (0: no expiry known).
    pub expires_at_ms: u64,
    /// The value, uncompressed.
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    NotOurs,
    Truncated,
    BadKind(u8),
    TooLarge(usize),
    Corrupt,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotOurs => write!(f, "not a model-router-native record"),
            Self::Truncated => write!(f, "truncated record"),
            Self::BadKind(k) => write!(f, "unknown value kind {k}"),
            Self::TooLarge(n) => write!(f, "value of {n} bytes exceeds maxValueSize"),
            Self::Corrupt => write!(f, "corrupt compressed value or text"),
        }
    }
}

/// Text kinds must be UTF-8 (they cross into JS strings); 2 and 3 are raw bytes.
fn is_text(kind: u8) -> bool {
    !matches!(kind, 2 | 3)
}

pub fn encode(
    kind: u8,
    namespace: Option<&str>,
    expires_at_ms: u64,
    payload: &[u8],
    compress: bool,
) -> Vec<u8> {
    let ns = namespace.unwrap_or("").as_bytes();
    let ns = &ns[..ns.len().min(u16::MAX as usize)];
    let lz4 = compress && payload.len() >= COMPRESS_MIN;
    let body = if lz4 {
        let c = lz4_flex::compress_prepend_size(payload);
        // incompressible: store as is
        if c.len() < payload.len() {
            Some(c)
        } else {
            None
        }
    } else {
        None
    };
    let body_len = body.as_ref().map_or(payload.len(), Vec::len);
    let mut out = Vec::with_capacity(HEADER + ns.len() + body_len);
    out.push(MAGIC);
    out.push(VERSION);
    out.push(kind);
    out.push(if body.is_some() { FLAG_LZ4 } else { 0 });
    out.extend_from_slice(&expires_at_ms.to_le_bytes());
    out.extend_from_slice(&(ns.len() as u16).to_le_bytes());
    out.extend_from_slice(ns);
    out.extend_from_slice(body.as_deref().unwrap_or(payload));
    out
}

pub fn decode(bytes: &[u8], max_value_bytes: usize) -> Result<Entry, DecodeError> {
    if bytes.len() < 2 || bytes[0] != MAGIC || bytes[1] != VERSION {
        return Err(DecodeError::NotOurs);
    }
    if bytes.len() < HEADER {
        return Err(DecodeError::Truncated);
    }
    let kind = bytes[2];
    if kind > KIND_MAX {
        return Err(DecodeError::BadKind(kind));
    }
    let flags = bytes[3];
    let expires_at_ms = u64::from_le_bytes(bytes[4..12].try_into().expect("8 bytes"));
    let ns_len = u16::from_le_bytes([bytes[12], bytes[13]]) as usize;
    let ns = bytes
        .get(HEADER..HEADER + ns_len)
        .ok_or(DecodeError::Truncated)?;
    let namespace = if ns_len == 0 {
        None
    } else {
        Some(
            std::str::from_utf8(ns)
                .map_err(|_| DecodeError::Corrupt)?
                .to_owned(),
        )
    };
    let body = &bytes[HEADER + ns_len..];
    let payload = if flags & FLAG_LZ4 != 0 {
        let size = body
            .get(..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .ok_or(DecodeError::Truncated)?;
        if size > max_value_bytes {
            return Err(DecodeError::TooLarge(size));
        }
        lz4_flex::decompress_size_prepended(body).map_err(|_| DecodeError::Corrupt)?
    } else {
        if body.len() > max_value_bytes {
            return Err(DecodeError::TooLarge(body.len()));
        }
        body.to_vec()
    };
    if is_text(kind) && std::str::from_utf8(&payload).is_err() {
        return Err(DecodeError::Corrupt);
    }
    Ok(Entry {
        kind,
        namespace,
        expires_at_ms,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_kind_namespace_expiry_and_compresses_large_values() {
        let big = "abc".repeat(1000);
        let rec = encode(0, Some("ns"), 1234, big.as_bytes(), true);
        assert!(rec.len() < big.len() / 4, "compressed to {}", rec.len());
        let e = decode(&rec, 1 << 20).unwrap();
        assert_eq!(e.kind, 0);
        assert_eq!(e.namespace.as_deref(), Some("ns"));
        assert_eq!(e.expires_at_ms, 1234);
        assert_eq!(e.payload, big.as_bytes());
        let raw = encode(2, None, 0, &[0xff, 0, 1], true);
        let e = decode(&raw, 10).unwrap();
        assert_eq!(
            (e.kind, e.namespace, e.payload),
            (2, None, vec![0xff, 0, 1])
        );
        // compression off: stored as is
        let plain = encode(1, None, 0, big.as_bytes(), false);
        assert_eq!(plain.len(), HEADER + big.len());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(decode(b"{\"json\":1}", 100), Err(DecodeError::NotOurs));
        assert_eq!(decode(&[], 100), Err(DecodeError::NotOurs));
        assert_eq!(
            decode(&[MAGIC, VERSION, 0], 100),
            Err(DecodeError::Truncated)
        );
        let mut rec = encode(9, None, 0, b"x", false);
        assert_eq!(decode(&rec, 100), Err(DecodeError::BadKind(9)));
        rec = encode(1, Some("namespace"), 0, b"x", false);
        rec.truncate(HEADER + 3);
        assert_eq!(decode(&rec, 100), Err(DecodeError::Truncated));
        // a text kind with bytes that are not UTF-8
        assert_eq!(
            decode(&encode(1, None, 0, &[0xff, 0xfe], false), 100),
            Err(DecodeError::Corrupt)
        );
        // corrupt lz4 body
        let mut lz = encode(1, None, 0, "abc".repeat(200).as_bytes(), true);
        let n = lz.len();
        lz[n - 5..].fill(0xff);
        assert!(decode(&lz, 1 << 20).is_err());
        // a record claiming a huge size is refused before decompressing
        let mut huge = encode(1, None, 0, "abc".repeat(200).as_bytes(), true);
        huge[HEADER..HEADER + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode(&huge, 1000),
            Err(DecodeError::TooLarge(u32::MAX as usize))
        );
        assert_eq!(
            decode(&encode(1, None, 0, &[b'a'; 50], false), 10),
            Err(DecodeError::TooLarge(50))
        );
    }
}

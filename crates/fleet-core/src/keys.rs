//! The key schema. Every key starts with the prefix (default `mrn:`); the part in braces is
//! a Redis Cluster hash tag derived from the caller's key, so an entry and its lock share a
//! slot while different keys spread over all slots, and no caller key (braces included) can
//! choose the slot.
//!
//! | key | holds |
//! |---|---|
//! | `{prefix}c:{tag}:{key}` | an entry (a [`crate::codec`] record, Redis expiry = TTL) |
//! | `{prefix}l:{tag}:{key}` | the `getOrSet` lock of that entry (a token, expiry = lease) |
//! | `{prefix}n:{tag}` | the set of entry keys stored with one namespace |
//! | `{prefix}h:{tag}:{model}` | a model's health as one process last published it (expiry = its end) |
//! | `{prefix}hi` | the set of model names with a stored health |
//! | `{prefix}p:{tag}:{model}` | the lock of the process that takes over a model's probe |
//! | `{prefix}q:{tag}:{model}` | a model's fleet-wide quota window (a hash of per-second counts) |
//! | `{prefix}b:{scope}:{name}` | a budget's fleet-wide spend in its current period (a hash: period start, spend granted; expires two periods after its last use; one key per script call, so no hash tag is needed) |
//! | `{prefix}hb` | the live processes (a sorted set: origin → when its heartbeat expires) |
//! | `{prefix}bus` | the pub/sub channel (not a key) |

/// FNV-1a, 64 bits: stable across processes and versions (the tag must be).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Eight hex digits: 2^32 tags spread evenly over Cluster's 16,384 slots.
fn tag(bytes: &[u8]) -> String {
    format!("{:08x}", (fnv1a(bytes) >> 32) as u32)
}

#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn entry(&self, key: &str) -> String {
        format!("{}c:{{{}}}:{key}", self.prefix, tag(key.as_bytes()))
    }

    pub fn lock(&self, key: &str) -> String {
        format!("{}l:{{{}}}:{key}", self.prefix, tag(key.as_bytes()))
    }

    pub fn namespace(&self, namespace: &str) -> String {
        format!("{}n:{{{}}}", self.prefix, tag(namespace.as_bytes()))
    }

    pub fn health(&self, model: &str) -> String {
        format!("{}h:{{{}}}:{model}", self.prefix, tag(model.as_bytes()))
    }

    pub fn health_index(&self) -> String {
        format!("{}hi", self.prefix)
    }

    pub fn probe_lock(&self, model: &str) -> String {
        format!("{}p:{{{}}}:{model}", self.prefix, tag(model.as_bytes()))
    }

    pub fn quota(&self, model: &str) -> String {
        format!("{}q:{{{}}}:{model}", self.prefix, tag(model.as_bytes()))
    }

    pub fn heartbeats(&self) -> String {
        format!("{}hb", self.prefix)
    }

    pub fn channel(&self) -> String {
        format!("{}bus", self.prefix)
    }

    /// The SCAN pattern of every entry: the prefix with glob characters escaped.
    pub fn entry_pattern(&self) -> String {
        let mut p = String::with_capacity(self.prefix.len() + 4);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push_str("c:*");
        p
    }

    /// The caller's key of an entry key (None: not one of ours).
    pub fn key_of<'a>(&self, entry: &'a str) -> Option<&'a str> {
        let rest = entry.strip_prefix(&self.prefix)?.strip_prefix("c:{")?;
        // "{8 hex}:" then the key
        rest.get(10..)
            .filter(|_| rest.as_bytes().get(8) == Some(&b'}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_and_lock_share_a_hash_tag_and_the_key_cannot_pick_it() {
        let k = Keys::new("mrn:");
        let e = k.entry("{user}:1");
        let l = k.lock("{user}:1");
        assert!(e.starts_with("mrn:c:{"));
        let te = &e[e.find('{').unwrap()..=e.find('}').unwrap()];
        let tl = &l[l.find('{').unwrap()..=l.find('}').unwrap()];
        assert_eq!(te, tl);
        assert_ne!(te, "{user}");
        assert_eq!(k.key_of(&e), Some("{user}:1"));
        assert_eq!(k.key_of("other:c:{00000000}:x"), None);
    }

    #[test]
    fn tags_spread_over_slots() {
        let k = Keys::new("p:");
        let mut tags = std::collections::HashSet::new();
        for i in 0..1000 {
            let e = k.entry(&format!("key-{i}"));
            tags.insert(e[e.find('{').unwrap()..=e.find('}').unwrap()].to_owned());
        }
        assert!(tags.len() > 990, "{} distinct tags", tags.len());
    }

    #[test]
    fn the_scan_pattern_escapes_glob_characters_of_the_prefix() {
        assert_eq!(Keys::new("a*[b]:").entry_pattern(), "a\\*\\[b\\]:c:*");
        assert_eq!(Keys::new("mrn:").channel(), "mrn:bus");
    }
}

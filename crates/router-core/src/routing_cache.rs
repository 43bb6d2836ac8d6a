//! The routing-decision cache: LRU by access, TTL from the write, bounded by entry count
//! and by key bytes. The key holds every field that changes a decision, so two contexts
//! never share an entry by accident (the legacy keyed on a 32-character base64 prefix).
//!
//! A task of up to `TEXT_KEY_MAX_BYTES` is kept in the key and compared in full. A longer
//! task (they reach 100 KB) is keyed by a 128-bit xxh3 digest seeded per cache: copying,
//! comparing and freeing 100 KB per miss cost more than the rest of the miss (page
//! faults on these VMs), and the random seed keeps crafted collisions out of reach.
//!
//! Lookups borrow the caller's context (`KeyRef`); only an insert builds an owned key.
//!
//! One map, keyed by the entry id: a 52-bit hash of the whole key (it survives the trip
//! through a JS number). The entry keeps its full key and a lookup compares it, so two
//! keys that share an id only displace each other (a miss), never share a decision. The
//! id also lets the JS layer remember "this key string is entry 42" and revisit it
//! without sending the task text across the boundary again.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use lru::LruCache;

use crate::context::{RoutingContext, TaskText};
use crate::model::{Priority, Tier};

/// Tasks up to this many bytes are keyed by their text, longer ones by a digest.
pub const TEXT_KEY_MAX_BYTES: usize = 1024;

/// Mixed into the digest seed of UTF-16 tasks.
const UTF16_SEED: u64 = 0x5554_4631_365f_4b45;

/// The bytes of `units` in memory order (hashed, never stored or compared across processes).
fn utf16_bytes(units: &[u16]) -> &[u8] {
    // SAFETY: any u16 slice is readable as twice as many bytes (u8 has alignment 1 and no
    // invalid values); the view borrows `units`.
    unsafe { std::slice::from_raw_parts(units.as_ptr().cast::<u8>(), std::mem::size_of_val(units)) }
}

/// The task part of an owned key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TaskKey {
    Text(Box<str>),
    Digest(u128),
}

/// The task part of a borrowed key.
#[derive(Clone, Copy, Debug)]
enum TaskRef<'a> {
    Text(&'a str),
    Digest(u128),
}

/// Ids fit in a JS number exactly.
const ID_MASK: u64 = (1 << 52) - 1;

/// Every input that can change a decision (owned; held by the cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteKey {
    /// Hash of the task, computed once: the map then hashes 8 bytes instead of the task.
    task_hash: u64,
    task: TaskKey,
    user_tier: Tier,
    priority: Priority,
    latency_bits: u64,
    token_budget_bits: Option<u64>,
    /// `None`: no `capabilities` given; the list otherwise, as given.
    capabilities: Option<Box<[String]>>,
    /// Sorted ids of custom rules that matched (the "rules" strategy only).
    custom_rules: Box<[String]>,
}

/// The key of a request, borrowing its context (see `RoutingCache::key`).
#[derive(Clone, Debug)]
pub struct KeyRef<'a> {
    /// The entry id this key maps to.
    id: u64,
    task_hash: u64,
    task: TaskRef<'a>,
    user_tier: Tier,
    priority: Priority,
    latency_bits: u64,
    token_budget_bits: Option<u64>,
    capabilities: Option<&'a [String]>,
    custom_rules: Cow<'a, [String]>,
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.task_hash.hash(state);
        self.user_tier.hash(state);
        self.priority.hash(state);
        self.latency_bits.hash(state);
        self.token_budget_bits.hash(state);
        self.capabilities.hash(state);
        self.custom_rules.hash(state);
    }
}

impl KeyRef<'_> {
    /// Whether `k` is this key (every field; the task text in full or by digest).
    fn matches(&self, k: &RouteKey) -> bool {
        let same_task = match (&self.task, &k.task) {
            (TaskRef::Text(a), TaskKey::Text(b)) => *a == &**b,
            (TaskRef::Digest(a), TaskKey::Digest(b)) => a == b,
            _ => false,
        };
        self.task_hash == k.task_hash
            && same_task
            && self.user_tier == k.user_tier
            && self.priority == k.priority
            && self.latency_bits == k.latency_bits
            && self.token_budget_bits == k.token_budget_bits
            && self.capabilities == k.capabilities.as_deref()
            && *self.custom_rules == *k.custom_rules
    }

    fn to_owned_key(&self) -> RouteKey {
        RouteKey {
            task_hash: self.task_hash,
            task: match self.task {
                TaskRef::Text(t) => TaskKey::Text(t.into()),
                TaskRef::Digest(d) => TaskKey::Digest(d),
            },
            user_tier: self.user_tier,
            priority: self.priority,
            latency_bits: self.latency_bits,
            token_budget_bits: self.token_budget_bits,
            capabilities: self.capabilities.map(|c| c.to_vec().into_boxed_slice()),
            custom_rules: self.custom_rules.to_vec().into_boxed_slice(),
        }
    }
}

impl RouteKey {
    /// Bytes charged against the key bound: the task text (or digest) and the lists.
    fn bytes(&self) -> usize {
        let task = match &self.task {
            TaskKey::Text(t) => t.len(),
            TaskKey::Digest(_) => 16,
        };
        task + self
            .capabilities
            .as_ref()
            .map_or(0, |c| c.iter().map(|s| s.len() + 8).sum())
            + self.custom_rules.iter().map(|s| s.len() + 8).sum::<usize>()
            + 64
    }
}

#[derive(Clone, Debug)]
pub struct CachedDecision {
    /// Shared with the model set (see `ModelSet::shared_name`).
    pub model_name: std::rc::Rc<str>,
    /// The adaptive strategy caches the expensive part, not a model: the candidates.
    pub adaptive: Option<std::rc::Rc<AdaptiveEntry>>,
}

/// The adaptive strategy's cached part of a decision: the legacy's candidates for the key,
/// best score first, and what the live pick needs of the request.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveEntry {
    /// Model indices into the model set of `generation`.
    pub ranked: Box<[u32]>,
    /// The router's model-set/availability generation the list was made for.
    pub generation: u64,
    pub user_tier: Tier,
    pub latency_requirement: f64,
    /// Estimated input tokens plus the request's `token_budget`: a model whose `max_tokens`
    /// is below it is never a candidate (none in `ranked`).
    pub required_tokens: f64,
    /// Tokens a decision reserves against a model's `tpm`: estimated input plus the token
    /// budget (or the router's default output).
    pub reserve_tokens: f64,
}

struct Entry {
    key: RouteKey,
    decision: CachedDecision,
    written_at_ms: f64,
    access_count: u64,
}

/// What a lookup found.
pub enum Lookup {
    /// Fresh entry: its id.
    Fresh(u64),
    /// Nothing usable (absent or expired; an expired entry stays until it is replaced,
    /// evicted or purged, as in the legacy).
    Miss,
}

pub struct RoutingCache {
    entries: LruCache<u64, Entry>,
    /// Hashes keys into ids (random per cache).
    id_hasher: ahash::RandomState,
    /// Seeds the digests of long tasks (random per cache).
    digest_seed: u64,
    capacity: usize,
    max_key_bytes: usize,
    key_bytes: usize,
    ttl_ms: f64,
    hits: u64,
    misses: u64,
    /// Entries dropped by the bounds (not by expiry or replacement).
    evictions: u64,
}

impl RoutingCache {
    pub fn new(capacity: usize, ttl_ms: f64, max_key_bytes: usize) -> RoutingCache {
        RoutingCache {
            entries: LruCache::unbounded(),
            id_hasher: ahash::RandomState::new(),
            digest_seed: ahash::RandomState::new().hash_one(0u64),
            capacity: capacity.max(1),
            max_key_bytes,
            key_bytes: 0,
            ttl_ms,
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// hits / (hits + misses) over every lookup; 0 before the first.
    pub fn hit_rate(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
    pub fn hits(&self) -> u64 {
        self.hits
    }
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// The key of `ctx`, borrowing it (a long task is digested here, once per request).
    pub fn key<'a>(&self, ctx: &RoutingContext<'a>) -> KeyRef<'a> {
        let digest = |seed: u64, bytes: &[u8]| {
            let d = twox_hash::XxHash3_128::oneshot_with_seed(seed, bytes);
            (d as u64, TaskRef::Digest(d))
        };
        let (task_hash, task) = match ctx.task {
            TaskText::Utf8(t) if t.len() <= TEXT_KEY_MAX_BYTES => {
                let h = twox_hash::XxHash3_64::oneshot(t.as_bytes());
                (h, TaskRef::Text(t))
            }
            TaskText::Utf8(t) => digest(self.digest_seed, t.as_bytes()),
            // a UTF-16 task (a non-ASCII JS string; a given string always arrives in the
            // same form) is digested under a seed of its own, apart from UTF-8 bytes
            TaskText::Utf16(units) => digest(self.digest_seed ^ UTF16_SEED, utf16_bytes(units)),
        };
        let rules = ctx.matched_custom_rules;
        let mut key = KeyRef {
            id: 0,
            task_hash,
            task,
            user_tier: ctx.user_tier,
            priority: ctx.priority,
            latency_bits: ctx.latency_requirement.to_bits(),
            token_budget_bits: ctx.token_budget.map(f64::to_bits),
            capabilities: ctx.capabilities,
            custom_rules: if rules.is_sorted() {
                Cow::Borrowed(rules)
            } else {
                let mut sorted = rules.to_vec();
                sorted.sort();
                Cow::Owned(sorted)
            },
        };
        key.id = self.id_hasher.hash_one(&key) & ID_MASK;
        key
    }

    /// Looks `key` up; the entry, fresh or expired, becomes most recently used (`lookup_id`).
    pub fn lookup(&mut self, key: &KeyRef<'_>, now_ms: f64) -> Lookup {
        if self
            .entries
            .peek(&key.id)
            .is_some_and(|e| key.matches(&e.key))
        {
            self.lookup_id(key.id, now_ms)
        } else {
            self.misses += 1;
            Lookup::Miss
        }
    }

    /// Looks an entry up by the id a previous lookup or insert returned. As in the legacy,
    /// a lookup, fresh or not, makes the entry most recently used and counts an access; an
    /// expired entry is a miss but stays (the caller's new decision replaces it, or the
    /// purge drops it).
    pub fn lookup_id(&mut self, id: u64, now_ms: f64) -> Lookup {
        let expired = match self.entries.get_mut(&id) {
            None => {
                self.misses += 1;
                return Lookup::Miss;
            }
            Some(e) => {
                e.access_count += 1;
                now_ms - e.written_at_ms >= self.ttl_ms
            }
        };
        if expired {
            self.misses += 1;
            return Lookup::Miss;
        }
        self.hits += 1;
        Lookup::Fresh(id)
    }

    /// The id of `key`'s entry when it is held and fresh at `now_ms`, without counting a
    /// lookup or touching its recency (a routing explanation changes nothing).
    pub fn peek_fresh(&self, key: &KeyRef<'_>, now_ms: f64) -> Option<u64> {
        self.entries
            .peek(&key.id)
            .filter(|e| key.matches(&e.key) && now_ms - e.written_at_ms < self.ttl_ms)
            .map(|_| key.id)
    }

    /// The decision held by entry `id`, without touching its recency.
    pub fn peek(&self, id: u64) -> Option<&CachedDecision> {
        self.entries.peek(&id).map(|e| &e.decision)
    }

    /// Replays a hit that the caller served from its own memo of this entry: the entry
    /// becomes most recently used and the hit is counted. False when the entry is gone.
    pub fn replay_hit(&mut self, id: u64) -> bool {
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.access_count += 1;
                self.hits += 1;
                true
            }
            None => false,
        }
    }

    /// Milliseconds entry `id` stays fresh at `now_ms` (≤ 0: expired or gone).
    pub fn remaining_ms(&self, id: u64, now_ms: f64) -> f64 {
        self.entries
            .peek(&id)
            .map_or(0.0, |e| e.written_at_ms + self.ttl_ms - now_ms)
    }

    /// Counts a served lookup as a miss after all (the cached model is no longer eligible).
    pub fn reject_hit(&mut self, id: u64) {
        self.hits -= 1;
        self.misses += 1;
        self.remove_id(id);
    }

    /// Stores a decision (replacing any entry of the same key) and returns its id.
    /// Stores a decision under `key`'s id, replacing the entry there (the same key, or a
    /// rare other key with the same id), and returns the id.
    pub fn insert(&mut self, key: &KeyRef<'_>, decision: CachedDecision, now_ms: f64) -> u64 {
        let id = key.id;
        let key = key.to_owned_key();
        self.key_bytes += key.bytes();
        let replaced = self.entries.push(
            id,
            Entry {
                key,
                decision,
                written_at_ms: now_ms,
                access_count: 0,
            },
        );
        if let Some((_, old)) = replaced {
            self.forget(&old);
        }
        while self.entries.len() > self.capacity
            || (self.key_bytes > self.max_key_bytes && self.entries.len() > 1)
        {
            match self.entries.pop_lru() {
                Some((_, e)) => {
                    self.forget(&e);
                    self.evictions += 1;
                }
                None => break,
            }
        }
        id
    }

    /// Drops every expired entry (run from an unref'd timer every 5 minutes, as the legacy).
    pub fn purge_expired(&mut self, now_ms: f64) -> usize {
        let expired: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| now_ms - e.written_at_ms >= self.ttl_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.remove_id(*id);
        }
        expired.len()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.key_bytes = 0;
    }

    /// Σ access counts of the current entries (the legacy's hit-rate numerator).
    pub fn total_access_count(&self) -> u64 {
        self.entries.iter().map(|(_, e)| e.access_count).sum()
    }

    fn remove_id(&mut self, id: u64) {
        if let Some(e) = self.entries.pop(&id) {
            self.forget(&e);
        }
    }

    fn forget(&mut self, e: &Entry) {
        self.key_bytes -= e.key.bytes();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(task: &str, tier: Tier) -> RoutingContext<'_> {
        RoutingContext {
            task: task.into(),
            user_tier: tier,
            priority: Priority::Medium,
            latency_requirement: 500.0,
            token_budget: None,
            capabilities: None,
            matched_custom_rules: &[],
        }
    }
    fn d(m: &str) -> CachedDecision {
        CachedDecision {
            model_name: std::rc::Rc::from(m),
            adaptive: None,
        }
    }

    #[test]
    fn same_prefix_different_tier_does_not_collide() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        let task = "Summarize the quarterly report for the board";
        c.insert(&c.key(&ctx(task, Tier::Enterprise)), d("big"), 0.0);
        assert!(matches!(
            c.lookup(&c.key(&ctx(task, Tier::Free)), 1.0),
            Lookup::Miss
        ));
        assert!(matches!(
            c.lookup(&c.key(&ctx(task, Tier::Enterprise)), 1.0),
            Lookup::Fresh(_)
        ));
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut c = RoutingCache::new(2, 1000.0, 1 << 20);
        let a = c.insert(&c.key(&ctx("a", Tier::Free)), d("m"), 0.0);
        c.insert(&c.key(&ctx("b", Tier::Free)), d("m"), 0.0);
        assert!(matches!(c.lookup_id(a, 1.0), Lookup::Fresh(_))); // a is now MRU
        c.insert(&c.key(&ctx("c", Tier::Free)), d("m"), 0.0); // evicts b
        assert!(matches!(
            c.lookup(&c.key(&ctx("b", Tier::Free)), 1.0),
            Lookup::Miss
        ));
        assert!(matches!(
            c.lookup(&c.key(&ctx("a", Tier::Free)), 1.0),
            Lookup::Fresh(_)
        ));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn expired_entries_never_come_back_and_hits_do_not_refresh() {
        let mut c = RoutingCache::new(10, 100.0, 1 << 20);
        let id = c.insert(&c.key(&ctx("a", Tier::Free)), d("m"), 0.0);
        assert!(matches!(c.lookup_id(id, 99.0), Lookup::Fresh(_)));
        assert!(matches!(c.lookup_id(id, 100.0), Lookup::Miss));
        assert!(matches!(
            c.lookup(&c.key(&ctx("a", Tier::Free)), 150.0),
            Lookup::Miss
        ));
        // an expired entry stays until replaced, evicted or purged (the legacy's purge)
        assert_eq!(c.len(), 1);
        assert_eq!(c.purge_expired(150.0), 1);
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn key_bytes_are_bounded() {
        let mut c = RoutingCache::new(1000, 1000.0, 10_000);
        for i in 0..100 {
            c.insert(
                &c.key(&ctx(&format!("{i}{}", "x".repeat(1000)), Tier::Free)),
                d("m"),
                0.0,
            );
        }
        assert!(c.key_bytes <= 10_000);
        assert!(c.len() < 10);
    }

    #[test]
    fn hit_rate_is_hits_over_lookups() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        c.lookup(&c.key(&ctx("a", Tier::Free)), 0.0);
        c.insert(&c.key(&ctx("a", Tier::Free)), d("m"), 0.0);
        c.lookup(&c.key(&ctx("a", Tier::Free)), 0.0);
        c.lookup(&c.key(&ctx("a", Tier::Free)), 0.0);
        c.lookup(&c.key(&ctx("zz", Tier::Free)), 0.0);
        assert_eq!(c.hit_rate(), 0.5);
    }

    #[test]
    fn long_tasks_are_keyed_by_a_seeded_digest_of_the_whole_text() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        let base = "y".repeat(100_000);
        let a = format!("{base}a");
        let b = format!("{base}b"); // same length, differs in the last byte only
        c.insert(&c.key(&ctx(&a, Tier::Free)), d("m"), 0.0);
        assert!(matches!(
            c.lookup(&c.key(&ctx(&a, Tier::Free)), 1.0),
            Lookup::Fresh(_)
        ));
        assert!(matches!(
            c.lookup(&c.key(&ctx(&b, Tier::Free)), 1.0),
            Lookup::Miss
        ));
        assert!(matches!(
            c.lookup(&c.key(&ctx(&a, Tier::Pro)), 1.0),
            Lookup::Miss
        ));
        // a digest is charged, not the text: 100 KB tasks do not push entries out
        assert!(c.key_bytes < 200);
        // another cache digests with another seed
        let other = RoutingCache::new(10, 1000.0, 1 << 20);
        assert_ne!(
            other.key(&ctx(&a, Tier::Free)).task_hash,
            c.key(&ctx(&a, Tier::Free)).task_hash
        );
    }

    #[test]
    fn text_and_digest_keys_meet_at_the_threshold() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        let at = "z".repeat(TEXT_KEY_MAX_BYTES);
        let over = "z".repeat(TEXT_KEY_MAX_BYTES + 1);
        assert!(matches!(
            c.key(&ctx(&at, Tier::Free)).task,
            TaskRef::Text(_)
        ));
        assert!(matches!(
            c.key(&ctx(&over, Tier::Free)).task,
            TaskRef::Digest(_)
        ));
        c.insert(&c.key(&ctx(&at, Tier::Free)), d("m"), 0.0);
        assert!(matches!(
            c.lookup(&c.key(&ctx(&over, Tier::Free)), 1.0),
            Lookup::Miss
        ));
        assert!(matches!(
            c.lookup(&c.key(&ctx(&at, Tier::Free)), 1.0),
            Lookup::Fresh(_)
        ));
    }

    #[test]
    fn custom_rule_order_does_not_change_the_key() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        let ab = ["a".to_string(), "b".to_string()];
        let ba = ["b".to_string(), "a".to_string()];
        let with = |rules| RoutingContext {
            matched_custom_rules: rules,
            ..ctx("t", Tier::Free)
        };
        c.insert(&c.key(&with(&ab)), d("m"), 0.0);
        assert!(matches!(
            c.lookup(&c.key(&with(&ba)), 1.0),
            Lookup::Fresh(_)
        ));
        assert!(matches!(
            c.lookup(&c.key(&with(&ab[..1])), 1.0),
            Lookup::Miss
        ));
    }

    #[test]
    fn keys_that_share_an_id_displace_each_other_but_never_share_a_decision() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        let a = c.key(&ctx("task a", Tier::Free));
        let mut b = c.key(&ctx("task b", Tier::Free));
        b.id = a.id; // force the (2^-52) collision
        c.insert(&a, d("model-a"), 0.0);
        assert!(matches!(c.lookup(&b, 1.0), Lookup::Miss));
        c.insert(&b, d("model-b"), 0.0);
        assert_eq!(c.len(), 1);
        assert!(matches!(c.lookup(&a, 1.0), Lookup::Miss));
        assert!(
            matches!(c.lookup(&b, 1.0), Lookup::Fresh(id) if &*c.peek(id).unwrap().model_name == "model-b")
        );
        assert_eq!(c.key_bytes, b.to_owned_key().bytes());
    }
}

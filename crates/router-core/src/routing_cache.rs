//! The routing-decision cache: LRU by access, TTL from the write, bounded by entry count
//! and by key bytes (tasks can be large). The key holds every field that changes a
//! decision, compared in full, so two contexts never share an entry by accident (the
//! legacy keyed on a 32-character base64 prefix).
//!
//! Each entry also has a numeric id, so the JS layer can remember "this key string is
//! entry 42" and revisit it without sending the task text across the boundary again.

use std::hash::{Hash, Hasher};
use std::rc::Rc;

use ahash::AHashMap;
use lru::LruCache;

use crate::model::{Priority, Tier};

/// Every input that can change a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteKey {
    /// xxh3 of the task, computed once: the map then hashes 8 bytes instead of the whole
    /// task on every probe (tasks reach 100 KB). Equality still compares the full text.
    pub task_hash: u64,
    pub task: Box<str>,
    pub user_tier: Tier,
    pub priority: Priority,
    pub latency_bits: u64,
    pub token_budget_bits: Option<u64>,
    /// `None`: no `capabilities` given; the list otherwise, as given.
    pub capabilities: Option<Box<[String]>>,
    /// Sorted ids of custom rules that matched (the "rules" strategy only).
    pub custom_rules: Box<[String]>,
}

impl Hash for RouteKey {
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

impl RouteKey {
    pub fn task_hash(task: &str) -> u64 {
        twox_hash::XxHash3_64::oneshot(task.as_bytes())
    }

    fn bytes(&self) -> usize {
        self.task.len()
            + self
                .capabilities
                .as_ref()
                .map_or(0, |c| c.iter().map(|s| s.len() + 8).sum())
            + self.custom_rules.iter().map(|s| s.len() + 8).sum::<usize>()
            + 64
    }
}

#[derive(Clone, Debug)]
pub struct CachedDecision {
    pub model_name: String,
}

struct Entry {
    key: Rc<RouteKey>,
    decision: CachedDecision,
    written_at_ms: f64,
    access_count: u64,
}

/// What a lookup found.
pub enum Lookup {
    /// Fresh entry: its id.
    Fresh(u64),
    /// Nothing usable (absent or expired; an expired entry is dropped).
    Miss,
}

pub struct RoutingCache {
    entries: LruCache<u64, Entry>,
    ids: AHashMap<Rc<RouteKey>, u64>,
    next_id: u64,
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
            ids: AHashMap::new(),
            next_id: 1,
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

    /// Looks `key` up; a fresh entry becomes most recently used.
    pub fn lookup(&mut self, key: &RouteKey, now_ms: f64) -> Lookup {
        match self.ids.get(key).copied() {
            Some(id) => self.lookup_id(id, now_ms),
            None => {
                self.misses += 1;
                Lookup::Miss
            }
        }
    }

    /// Looks an entry up by the id a previous lookup or insert returned.
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
            self.remove_id(id);
            self.misses += 1;
            return Lookup::Miss;
        }
        self.hits += 1;
        Lookup::Fresh(id)
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
    pub fn insert(&mut self, key: RouteKey, decision: CachedDecision, now_ms: f64) -> u64 {
        if let Some(old) = self.ids.get(&key).copied() {
            self.remove_id(old);
        }
        let key = Rc::new(key);
        let id = self.next_id;
        self.next_id += 1;
        self.key_bytes += key.bytes();
        self.ids.insert(Rc::clone(&key), id);
        self.entries.push(
            id,
            Entry {
                key,
                decision,
                written_at_ms: now_ms,
                access_count: 0,
            },
        );
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

    /// Drops every expired entry (run from an unref'd timer; lookups drop them too).
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
        self.ids.clear();
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
        self.ids.remove(&*e.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(task: &str, tier: Tier) -> RouteKey {
        RouteKey {
            task_hash: RouteKey::task_hash(task),
            task: task.into(),
            user_tier: tier,
            priority: Priority::Medium,
            latency_bits: 500f64.to_bits(),
            token_budget_bits: None,
            capabilities: None,
            custom_rules: Box::new([]),
        }
    }
    fn d(m: &str) -> CachedDecision {
        CachedDecision {
            model_name: m.into(),
        }
    }

    #[test]
    fn same_prefix_different_tier_does_not_collide() {
        let mut c = RoutingCache::new(10, 1000.0, 1 << 20);
        let task = "Summarize the quarterly report for the board";
        c.insert(key(task, Tier::Enterprise), d("big"), 0.0);
        assert!(matches!(
            c.lookup(&key(task, Tier::Free), 1.0),
            Lookup::Miss
        ));
        assert!(matches!(
            c.lookup(&key(task, Tier::Enterprise), 1.0),
            Lookup::Fresh(_)
        ));
    }

    #[test]
    fn evicts_least_recently_used() {
        let mut c = RoutingCache::new(2, 1000.0, 1 << 20);
        let a = c.insert(key("a", Tier::Free), d("m"), 0.0);
        c.insert(key("b", Tier::Free), d("m"), 0.0);
        assert!(matches!(c.lookup_id(a, 1.0), Lookup::Fresh(_))); // a is now MRU
        c.insert(key("c", Tier::Free), d("m"), 0.0); // evicts b
        assert!(matches!(c.lookup(&key("b", Tier::Free), 1.0), Lookup::Miss));
        assert!(matches!(
            c.lookup(&key("a", Tier::Free), 1.0),
            Lookup::Fresh(_)
        ));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn expired_entries_never_come_back_and_hits_do_not_refresh() {
        let mut c = RoutingCache::new(10, 100.0, 1 << 20);
        let id = c.insert(key("a", Tier::Free), d("m"), 0.0);
        assert!(matches!(c.lookup_id(id, 99.0), Lookup::Fresh(_)));
        assert!(matches!(c.lookup_id(id, 100.0), Lookup::Miss));
        assert!(matches!(c.lookup(&key("a", Tier::Free), 1.0), Lookup::Miss));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn key_bytes_are_bounded() {
        let mut c = RoutingCache::new(1000, 1000.0, 10_000);
        for i in 0..100 {
            c.insert(
                key(&format!("{i}{}", "x".repeat(1000)), Tier::Free),
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
        c.lookup(&key("a", Tier::Free), 0.0);
        c.insert(key("a", Tier::Free), d("m"), 0.0);
        c.lookup(&key("a", Tier::Free), 0.0);
        c.lookup(&key("a", Tier::Free), 0.0);
        c.lookup(&key("zz", Tier::Free), 0.0);
        assert_eq!(c.hit_rate(), 0.5);
    }
}

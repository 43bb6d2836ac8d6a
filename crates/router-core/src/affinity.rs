//! Session affinity: per session id, the model that served its last request and its home
//! model (the one it was first routed to), so its follow-ups go to the model that holds
//! their prompt cache, and a session diverted for a moment (an outage, a passing slowness)
//! returns home rather than staying on the model it was diverted to. Bounded (least
//! recently used sessions drop first) and forgetful (a session idle for `idle_ms` is gone).

use std::num::NonZeroUsize;

use lru::LruCache;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AffinityConfig {
    /// Sessions remembered at most; 0 turns affinity off.
    pub max_sessions: usize,
    /// A session not routed for this long is forgotten.
    pub idle_ms: f64,
}

impl Default for AffinityConfig {
    fn default() -> Self {
        AffinityConfig {
            max_sessions: 10_000,
            idle_ms: 10.0 * 60.0 * 1000.0,
        }
    }
}

/// A session's models: `current` served its last request; `home` is the one it was first
/// routed to (`None`: the home left the model set, so the next pick becomes the home).
/// Affinity pins the home while it is a healthy candidate, else the current model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionModels<T> {
    pub current: T,
    pub home: Option<T>,
}

/// One session's entry.
struct Entry {
    current: String,
    home: String,
    at: f64,
}

/// Session id → its models and when it was last routed.
pub struct SessionTable {
    idle_ms: f64,
    sessions: Option<LruCache<String, Entry>>,
}

impl SessionTable {
    pub fn new(config: AffinityConfig) -> SessionTable {
        SessionTable {
            idle_ms: config.idle_ms,
            sessions: NonZeroUsize::new(config.max_sessions).map(LruCache::new),
        }
    }

    pub fn enabled(&self) -> bool {
        self.sessions.is_some()
    }

    /// The models of `session` at `now_ms`, unless the session is unknown or idle too long
    /// (then it is forgotten). Does not refresh it: `record` does, once routed.
    pub fn model_of(&mut self, session: &str, now_ms: f64) -> Option<SessionModels<&str>> {
        let table = self.sessions.as_mut()?;
        let idle = table
            .peek(session)
            .is_some_and(|e| now_ms - e.at >= self.idle_ms);
        if idle {
            table.pop(session);
            return None;
        }
        table.peek(session).map(Entry::models)
    }

    /// The models of `session` without forgetting or refreshing anything (for `explain`).
    pub fn peek(&self, session: &str, now_ms: f64) -> Option<SessionModels<&str>> {
        self.sessions
            .as_ref()?
            .peek(session)
            .filter(|e| now_ms - e.at < self.idle_ms)
            .map(Entry::models)
    }

    /// `session` was routed to `model` at `now_ms` (the least recently used session drops
    /// when the table is full). A new session's home is `model`; a known one keeps its home
    /// unless `rehome` (its home left the model set).
    pub fn record(&mut self, session: &str, model: &str, rehome: bool, now_ms: f64) {
        let Some(table) = self.sessions.as_mut() else {
            return;
        };
        match table.get_mut(session) {
            Some(e) => {
                set(&mut e.current, model);
                if rehome {
                    set(&mut e.home, model);
                }
                e.at = now_ms;
            }
            None => {
                let e = Entry {
                    current: model.to_string(),
                    home: model.to_string(),
                    at: now_ms,
                };
                table.put(session.to_string(), e);
            }
        }
    }

    /// Forgets sessions idle at `now_ms`; returns how many.
    pub fn purge_idle(&mut self, now_ms: f64) -> usize {
        let Some(table) = self.sessions.as_mut() else {
            return 0;
        };
        let idle: Vec<String> = table
            .iter()
            .filter(|(_, e)| now_ms - e.at >= self.idle_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &idle {
            table.pop(k);
        }
        idle.len()
    }

    pub fn len(&self) -> usize {
        self.sessions.as_ref().map_or(0, |t| t.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn clear(&mut self) {
        if let Some(t) = self.sessions.as_mut() {
            t.clear();
        }
    }
}

impl Entry {
    fn models(&self) -> SessionModels<&str> {
        SessionModels {
            current: &self.current,
            home: Some(&self.home),
        }
    }
}

/// Overwrites `s` with `v`, reusing its allocation.
fn set(s: &mut String, v: &str) {
    if s != v {
        s.clear();
        s.push_str(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (current, home) of `session`.
    fn models(t: &mut SessionTable, session: &str, now: f64) -> Option<(String, String)> {
        t.model_of(session, now)
            .map(|m| (m.current.to_string(), m.home.unwrap_or("-").to_string()))
    }

    fn table(max: usize, idle: f64) -> SessionTable {
        SessionTable::new(AffinityConfig {
            max_sessions: max,
            idle_ms: idle,
        })
    }

    #[test]
    fn remembers_the_last_model_of_a_session() {
        let mut t = table(10, 1000.0);
        assert_eq!(models(&mut t, "s", 0.0), None);
        t.record("s", "a", false, 0.0);
        assert_eq!(t.model_of("s", 10.0).map(|m| m.current), Some("a"));
        t.record("s", "b", false, 20.0);
        assert_eq!(t.model_of("s", 30.0).map(|m| m.current), Some("b"));
    }

    #[test]
    fn a_session_keeps_its_home_until_rehomed() {
        let mut t = table(10, 1000.0);
        t.record("s", "a", false, 0.0);
        t.record("s", "b", false, 1.0); // diverted: home stays "a"
        let pair = |c: &str, h: &str| Some((c.to_string(), h.to_string()));
        assert_eq!(models(&mut t, "s", 2.0), pair("b", "a"));
        t.record("s", "a", false, 3.0);
        assert_eq!(models(&mut t, "s", 4.0), pair("a", "a"));
        t.record("s", "c", true, 5.0); // the home left the model set
        assert_eq!(models(&mut t, "s", 6.0), pair("c", "c"));
    }

    #[test]
    fn an_idle_session_is_forgotten_and_routing_keeps_it_alive() {
        let mut t = table(10, 1000.0);
        t.record("s", "a", false, 0.0);
        t.record("s", "a", false, 900.0); // routed again: idle from here
        assert_eq!(t.model_of("s", 1899.0).map(|m| m.current), Some("a"));
        assert_eq!(t.peek("s", 1900.0), None);
        assert_eq!(models(&mut t, "s", 1900.0), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn bounded_the_least_recently_used_session_drops() {
        let mut t = table(2, 1e9);
        t.record("s1", "a", false, 0.0);
        t.record("s2", "a", false, 1.0);
        t.record("s1", "a", false, 2.0);
        t.record("s3", "b", false, 3.0);
        assert_eq!(t.len(), 2);
        assert_eq!(models(&mut t, "s2", 4.0), None);
        assert_eq!(t.model_of("s1", 4.0).map(|m| m.current), Some("a"));
        assert_eq!(t.model_of("s3", 4.0).map(|m| m.current), Some("b"));
    }

    #[test]
    fn purge_drops_only_idle_sessions() {
        let mut t = table(10, 100.0);
        t.record("old", "a", false, 0.0);
        t.record("new", "a", false, 150.0);
        assert_eq!(t.purge_idle(200.0), 1);
        assert_eq!(t.peek("new", 200.0).map(|m| m.current), Some("a"));
    }

    #[test]
    fn zero_sessions_turns_it_off() {
        let mut t = table(0, 100.0);
        t.record("s", "a", false, 0.0);
        assert!(!t.enabled());
        assert_eq!(models(&mut t, "s", 1.0), None);
    }
}

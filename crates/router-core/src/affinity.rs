//! Session affinity: the model that served a session's last request, per session id, so
//! its follow-ups go to the model that holds their prompt cache. Bounded (least recently
//! used sessions drop first) and forgetful (a session idle for `idle_ms` is gone).

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

/// Session id → (model name, when the session was last routed).
pub struct SessionTable {
    idle_ms: f64,
    sessions: Option<LruCache<String, (String, f64)>>,
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

    /// The model of `session` at `now_ms`, unless the session is unknown or idle too long
    /// (then it is forgotten). Does not refresh it: `record` does, once routed.
    pub fn model_of(&mut self, session: &str, now_ms: f64) -> Option<&str> {
        let table = self.sessions.as_mut()?;
        let idle = table
            .peek(session)
            .is_some_and(|(_, at)| now_ms - at >= self.idle_ms);
        if idle {
            table.pop(session);
            return None;
        }
        table.peek(session).map(|(m, _)| m.as_str())
    }

    /// The model of `session` without forgetting or refreshing anything (for `explain`).
    pub fn peek(&self, session: &str, now_ms: f64) -> Option<&str> {
        self.sessions
            .as_ref()?
            .peek(session)
            .filter(|(_, at)| now_ms - at < self.idle_ms)
            .map(|(m, _)| m.as_str())
    }

    /// `session` was routed to `model` at `now_ms` (the least recently used session drops
    /// when the table is full).
    pub fn record(&mut self, session: &str, model: &str, now_ms: f64) {
        let Some(table) = self.sessions.as_mut() else {
            return;
        };
        match table.get_mut(session) {
            Some(e) => {
                if e.0 != model {
                    e.0.clear();
                    e.0.push_str(model);
                }
                e.1 = now_ms;
            }
            None => {
                table.put(session.to_string(), (model.to_string(), now_ms));
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
            .filter(|(_, (_, at))| now_ms - at >= self.idle_ms)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max: usize, idle: f64) -> SessionTable {
        SessionTable::new(AffinityConfig {
            max_sessions: max,
            idle_ms: idle,
        })
    }

    #[test]
    fn remembers_the_last_model_of_a_session() {
        let mut t = table(10, 1000.0);
        assert_eq!(t.model_of("s", 0.0), None);
        t.record("s", "a", 0.0);
        assert_eq!(t.model_of("s", 10.0), Some("a"));
        t.record("s", "b", 20.0);
        assert_eq!(t.model_of("s", 30.0), Some("b"));
    }

    #[test]
    fn an_idle_session_is_forgotten_and_routing_keeps_it_alive() {
        let mut t = table(10, 1000.0);
        t.record("s", "a", 0.0);
        t.record("s", "a", 900.0); // routed again: idle from here
        assert_eq!(t.model_of("s", 1899.0), Some("a"));
        assert_eq!(t.peek("s", 1900.0), None);
        assert_eq!(t.model_of("s", 1900.0), None);
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn bounded_the_least_recently_used_session_drops() {
        let mut t = table(2, 1e9);
        t.record("s1", "a", 0.0);
        t.record("s2", "a", 1.0);
        t.record("s1", "a", 2.0);
        t.record("s3", "b", 3.0);
        assert_eq!(t.len(), 2);
        assert_eq!(t.model_of("s2", 4.0), None);
        assert_eq!(t.model_of("s1", 4.0), Some("a"));
        assert_eq!(t.model_of("s3", 4.0), Some("b"));
    }

    #[test]
    fn purge_drops_only_idle_sessions() {
        let mut t = table(10, 100.0);
        t.record("old", "a", 0.0);
        t.record("new", "a", 150.0);
        assert_eq!(t.purge_idle(200.0), 1);
        assert_eq!(t.peek("new", 200.0), Some("a"));
    }

    #[test]
    fn zero_sessions_turns_it_off() {
        let mut t = table(0, 100.0);
        t.record("s", "a", 0.0);
        assert!(!t.enabled());
        assert_eq!(t.model_of("s", 1.0), None);
    }
}

//! The one pub/sub channel of a fleet (`{prefix}bus`). A message names its topic, so one
//! subscription serves every subsystem: the cache's invalidations are [`TOPIC_CACHE`]; the
//! router's shared state can add its own topic on the same connection.
//!
//! ```text
//! {topic}\n{origin}\n{sent_us}\n{op}\n{payload}
//! ```
//! `origin` is the publishing process's random id (it ignores its own messages);
//! `sent_us` its wall clock in microseconds, from which the receiver reports the lag.

pub const TOPIC_CACHE: &str = "cache";
/// Cache ops: delete one key, clear one namespace, clear everything.
pub const OP_DELETE: &str = "d";
pub const OP_CLEAR_NAMESPACE: &str = "n";
pub const OP_CLEAR_ALL: &str = "a";
/// A `getOrSet` holder stored its value: wakes the waiters of that key.
pub const OP_FILLED: &str = "f";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusMessage {
    pub topic: String,
    pub origin: u64,
    pub sent_us: u64,
    pub op: String,
    pub payload: String,
}

impl BusMessage {
    pub fn encode(&self) -> String {
        format!(
            "{}\n{:016x}\n{}\n{}\n{}",
            self.topic, self.origin, self.sent_us, self.op, self.payload
        )
    }

    /// None for a message not in this format (another publisher on the channel).
    pub fn decode(text: &str) -> Option<Self> {
        let mut it = text.splitn(5, '\n');
        let topic = it.next()?.to_owned();
        let origin = u64::from_str_radix(it.next()?, 16).ok()?;
        let sent_us = it.next()?.parse().ok()?;
        let op = it.next()?.to_owned();
        let payload = it.next()?.to_owned();
        Some(Self {
            topic,
            origin,
            sent_us,
            op,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_payload_with_newlines_and_refuses_others() {
        let m = BusMessage {
            topic: TOPIC_CACHE.into(),
            origin: 0xdead_beef,
            sent_us: 42,
            op: OP_DELETE.into(),
            payload: "a\nkey\n".into(),
        };
        assert_eq!(BusMessage::decode(&m.encode()), Some(m));
        assert_eq!(BusMessage::decode("hello"), None);
        assert_eq!(BusMessage::decode("t\nzz\n1\nd\nk"), None);
    }
}

//! The router's model health, shared by the fleet: the bus topic [`TOPIC_HEALTH`] and the
//! stored states under the prefix.
//!
//! A process publishes each change of its own state machine: a cooldown (`rate_limited` or
//! `ejected` until a wall-clock instant; a probe out counts as `ejected` for
//! `probe_timeout`), or the end of one (`restored`). The cooldown is also stored, expiring
//! with it, so a process that starts later reads the current cooldowns on connect. Each
//! process applies the others' messages to its local mirror (the router core's peer
//! state): decisions never wait for Redis.
//!
//! One prober per ejected model: the process whose ejection it is probes it; the others keep
//! the model out until its restored (or new ejected) message. When an ejection's time is
//! over and no word came, one of them takes the probe with [`Fleet::take_probe_lock`]
//! (`SET NX PX`), off the decision path.
//!
//! ```text
//! op "s": {model}\n{state}\n{until_wall_ms}     op "r": {model}
//! stored: {state}\n{until_wall_ms}
//! ```

use redis::Cmd;

use crate::client::{Failure, Fleet};

pub const TOPIC_HEALTH: &str = "health";
pub const OP_STATE: &str = "s";
pub const OP_RESTORED: &str = "r";
/// Model names longer than this are not shared (a model name is short; a bound on what a
/// message may make a process store).
pub const MAX_MODEL_LEN: usize = 256;
/// Stored states read on connect, at most.
pub const MAX_STORED: usize = 4096;

/// A cooldown as it travels: which, and until when (wall clock, ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cooldown {
    RateLimited { until_wall_ms: u64 },
    Ejected { until_wall_ms: u64 },
}

impl Cooldown {
    pub fn until_wall_ms(&self) -> u64 {
        match *self {
            Cooldown::RateLimited { until_wall_ms } | Cooldown::Ejected { until_wall_ms } => {
                until_wall_ms
            }
        }
    }

    pub fn state(&self) -> &'static str {
        match self {
            Cooldown::RateLimited { .. } => "rate_limited",
            Cooldown::Ejected { .. } => "ejected",
        }
    }

    fn encode(&self) -> String {
        format!("{}\n{}", self.state(), self.until_wall_ms())
    }

    /// None for anything that is not a cooldown record (garbage under the prefix).
    pub fn decode(text: &str) -> Option<Cooldown> {
        let (state, until) = text.split_once('\n')?;
        let until_wall_ms: u64 = until.parse().ok()?;
        match state {
            "rate_limited" => Some(Cooldown::RateLimited { until_wall_ms }),
            "ejected" => Some(Cooldown::Ejected { until_wall_ms }),
            _ => None,
        }
    }
}

/// A health message of another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthMessage {
    Cooldown { model: String, cooldown: Cooldown },
    Restored { model: String },
}

impl HealthMessage {
    /// Decodes a message of [`TOPIC_HEALTH`] (None: not one of ours).
    pub fn decode(op: &str, payload: &str) -> Option<HealthMessage> {
        match op {
            OP_STATE => {
                let (model, rest) = payload.split_once('\n')?;
                valid_model(model)?;
                Some(HealthMessage::Cooldown {
                    model: model.to_owned(),
                    cooldown: Cooldown::decode(rest)?,
                })
            }
            OP_RESTORED => {
                valid_model(payload)?;
                Some(HealthMessage::Restored {
                    model: payload.to_owned(),
                })
            }
            _ => None,
        }
    }
}

fn valid_model(model: &str) -> Option<()> {
    (!model.is_empty() && model.len() <= MAX_MODEL_LEN && !model.contains('\n')).then_some(())
}

/// What [`Fleet::load_health`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stored {
    pub cooldowns: Vec<(String, Cooldown)>,
    /// Values under the prefix that are not records of ours (ignored).
    pub garbage: usize,
}

impl Fleet {
    /// Publishes a cooldown of `model` and stores it until `until_wall_ms` (+ `keep_ms`, so a
    /// late joiner still sees an ejection whose probe is out). False: Redis unavailable.
    pub async fn publish_cooldown(
        &self,
        model: &str,
        cooldown: Cooldown,
        now_wall_ms: u64,
        keep_ms: u64,
    ) -> bool {
        if valid_model(model).is_none() {
            return false;
        }
        let px = cooldown
            .until_wall_ms()
            .saturating_sub(now_wall_ms)
            .saturating_add(keep_ms)
            .max(1);
        let key = self.keys().health(model);
        let cmds = [
            redis::cmd("SET")
                .arg(&key)
                .arg(cooldown.encode())
                .arg("PX")
                .arg(px)
                .to_owned(),
            redis::cmd("SADD")
                .arg(self.keys().health_index())
                .arg(model)
                .to_owned(),
            self.publish_cmd(
                TOPIC_HEALTH,
                OP_STATE,
                &format!("{model}\n{}", cooldown.encode()),
            ),
        ];
        self.run(&cmds).await
    }

    /// Publishes that `model` is healthy again and deletes its stored cooldown.
    pub async fn publish_restored(&self, model: &str) -> bool {
        if valid_model(model).is_none() {
            return false;
        }
        let cmds = [
            redis::cmd("DEL").arg(self.keys().health(model)).to_owned(),
            self.publish_cmd(TOPIC_HEALTH, OP_RESTORED, model),
        ];
        self.run(&cmds).await
    }

    /// Runs commands in one round trip (a pipeline on one server; side by side on a
    /// cluster, where each goes to its node).
    async fn run(&self, cmds: &[Cmd]) -> bool {
        self.call(|conn| async move { conn.batch::<redis::Value>(cmds).await })
            .await
            .is_ok()
    }

    /// The cooldowns stored now (a process that starts reads them on connect). None:
    /// Redis unavailable. Expired names are dropped from the index.
    pub async fn load_health(&self) -> Option<Stored> {
        let index = self.keys().health_index();
        let r = self
            .call(|mut conn| async move {
                let names: Vec<String> = conn
                    .query(
                        &redis::cmd("SRANDMEMBER")
                            .arg(&index)
                            .arg(MAX_STORED)
                            .to_owned(),
                    )
                    .await?;
                let names: Vec<String> = names
                    .into_iter()
                    .filter(|n| valid_model(n).is_some())
                    .collect();
                let cmds: Vec<Cmd> = names
                    .iter()
                    .map(|n| redis::cmd("GET").arg(self.keys().health(n)).to_owned())
                    .collect();
                let values = conn.batch::<Option<Vec<u8>>>(&cmds).await?;
                let mut out = Stored::default();
                let mut gone = Vec::new();
                for (name, v) in names.into_iter().zip(values) {
                    match v {
                        Ok(Some(bytes)) => {
                            match std::str::from_utf8(&bytes).ok().and_then(Cooldown::decode) {
                                Some(c) => out.cooldowns.push((name, c)),
                                None => out.garbage += 1,
                            }
                        }
                        Ok(None) => gone.push(name),
                        // a hash where a string should be
                        Err(_) => out.garbage += 1,
                    }
                }
                if !gone.is_empty() {
                    let _: redis::RedisResult<i64> =
                        conn.query(redis::cmd("SREM").arg(&index).arg(gone)).await;
                }
                Ok::<_, redis::RedisError>(out)
            })
            .await;
        match r {
            Ok(s) => Some(s),
            // the index is not a set (garbage): nothing stored we can read
            Err(Failure::Server) => Some(Stored {
                cooldowns: vec![],
                garbage: 1,
            }),
            Err(Failure::Unavailable) => None,
        }
    }

    /// Tries to become the process that probes `model` (a lease of `lease_ms`). Some(true):
    /// this process probes; Some(false): another does; None: Redis unavailable.
    pub async fn take_probe_lock(&self, model: &str, lease_ms: u64) -> Option<bool> {
        let cmd = redis::cmd("SET")
            .arg(self.keys().probe_lock(model))
            .arg(format!("{:016x}", self.origin()))
            .arg("NX")
            .arg("PX")
            .arg(lease_ms.max(1))
            .to_owned();
        match self
            .call(|mut conn| async move { conn.query::<Option<String>>(&cmd).await })
            .await
        {
            Ok(r) => Some(r.is_some()),
            Err(Failure::Server) => Some(false),
            Err(Failure::Unavailable) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let c = Cooldown::Ejected {
            until_wall_ms: 1_700_000_000_000,
        };
        assert_eq!(Cooldown::decode(&c.encode()), Some(c));
        let m = HealthMessage::decode(OP_STATE, &format!("gpt-4\n{}", c.encode()));
        assert_eq!(
            m,
            Some(HealthMessage::Cooldown {
                model: "gpt-4".into(),
                cooldown: c
            })
        );
        assert_eq!(
            HealthMessage::decode(OP_RESTORED, "gpt-4"),
            Some(HealthMessage::Restored {
                model: "gpt-4".into()
            })
        );
        for (op, p) in [
            (OP_STATE, "m\nhealthy\n1"),
            (OP_STATE, "m\nejected\n-1"),
            (OP_STATE, "m\nejected"),
            (OP_STATE, "\nejected\n1"),
            (OP_RESTORED, ""),
            ("x", "m"),
        ] {
            assert_eq!(HealthMessage::decode(op, p), None, "{op} {p:?}");
        }
        let long = "m".repeat(MAX_MODEL_LEN + 1);
        assert_eq!(HealthMessage::decode(OP_RESTORED, &long), None);
        assert_eq!(Cooldown::decode("\u{0}garbage"), None);
    }
}

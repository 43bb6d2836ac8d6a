//! The connection to Redis and the operations of the shared cache level.
//!
//! Every call is bounded by `timeout_ms`; a call that fails or times out makes the level
//! degraded ([`crate::health`]): later calls skip Redis at once (a miss, a write kept local)
//! until a background probe, retried with backoff, gets an answer. Deletes and clears made
//! while degraded are queued (bounded) and replayed, with their invalidations, on restore.
//! The connection is multiplexed: calls issued together share round trips.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, FromRedisValue, RedisError, RedisResult, Value};
use tokio::runtime::Handle;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::bus::{self, BusMessage, TOPIC_CACHE};
use crate::codec::{self, Entry};
use crate::health::{Backoff, Clock, Health, Transition};
use crate::keys::Keys;

/// Deletes and clears kept while degraded; past this the restore clears the shared level.
const MAX_PENDING: usize = 1024;
/// Keys deleted per batch of `clear` (one pipelined burst on the multiplexed connection).
const CLEAR_BATCH: usize = 256;
/// A waiter of the fleet-wide lock re-checks at least this often (a missed wake-up, a
/// holder that died).
const MAX_POLL_MS: u64 = 50;

pub struct FleetConfig {
    /// `redis://` or `rediss://` URLs: one server, or seed nodes when `cluster`.
    pub urls: Vec<String>,
    pub cluster: bool,
    pub prefix: String,
    pub timeout_ms: u64,
    /// Lease of the `getOrSet` lock: a holder that dies is replaced after this.
    pub lock_ms: u64,
    pub compression: bool,
    pub max_value_bytes: usize,
    pub backoff: Backoff,
}

#[derive(Debug, Clone)]
pub enum FleetEvent {
    Degraded {
        reason: String,
    },
    Restored {
        down_ms: u64,
    },
    /// A message of another process; `lag_us` from its send to now (wall clocks).
    Message {
        message: BusMessage,
        lag_us: i64,
    },
    /// The subscription was (re)established: messages sent before may have been missed.
    Subscribed,
}

pub type Events = Arc<dyn Fn(FleetEvent) + Send + Sync>;

/// What a read of the shared level found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Hit(Entry),
    Miss,
    /// Something under our prefix that is not a record of ours (a miss for the caller).
    Garbage(String),
    /// Redis is degraded or did not answer in time (a miss for the caller).
    Unavailable,
}

/// One entry of [`Fleet::set_many`].
#[derive(Debug, Clone)]
pub struct Write {
    pub key: String,
    pub namespace: Option<String>,
    pub kind: u8,
    pub payload: Vec<u8>,
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// This process computes; release with the token.
    Acquired(String),
    /// Another process stored the value.
    Value(Entry),
    /// Waited the whole lease (or Redis is unavailable): compute locally.
    GiveUp,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub garbage: u64,
    pub writes: u64,
    pub failures: u64,
    pub skipped: u64,
    pub published: u64,
    pub received: u64,
    pub degradations: u64,
    pub degraded: bool,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    garbage: AtomicU64,
    writes: AtomicU64,
    failures: AtomicU64,
    skipped: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
}

#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Conn {
    pub(crate) async fn query<T: FromRedisValue>(&mut self, cmd: &Cmd) -> RedisResult<T> {
        match self {
            Conn::Single(c) => cmd.query_async(c).await,
            Conn::Cluster(c) => cmd.query_async(c).await,
        }
    }

    /// Many commands in one round trip, each with its own result (a server error is per
    /// command; a connection error fails the whole batch). One server: a pipeline; a
    /// cluster: the commands side by side (the cluster client routes each to its node).
    pub(crate) async fn batch<T: FromRedisValue>(
        &self,
        cmds: &[Cmd],
    ) -> RedisResult<Vec<RedisResult<T>>> {
        match self {
            Conn::Single(c) => {
                let mut p = redis::pipe();
                p.ignore_errors();
                for cmd in cmds {
                    p.add_command(cmd.clone());
                }
                let mut c = c.clone();
                p.query_async(&mut c).await
            }
            Conn::Cluster(c) => {
                let futs = cmds.iter().map(|cmd| {
                    let mut c = c.clone();
                    async move { cmd.query_async::<T>(&mut c).await }
                });
                let results = futures_util::future::join_all(futs).await;
                if let Some(Err(e)) = results
                    .iter()
                    .find(|r| matches!(r, Err(e) if is_connection_error(e)))
                {
                    return Err(e.clone());
                }
                Ok(results)
            }
        }
    }

    async fn pipe<T: FromRedisValue>(&mut self, p: &redis::Pipeline) -> RedisResult<T> {
        match self {
            Conn::Single(c) => p.query_async(c).await,
            Conn::Cluster(c) => p.query_async(c).await,
        }
    }
}

enum Pending {
    Delete(String),
    ClearNamespace(String),
    ClearAll,
}

/// A call's failure: the server did not answer (degrades) or answered with an error.
pub(crate) enum Failure {
    Unavailable,
    Server,
}

/// A connection-level failure (as opposed to the server refusing one command).
fn is_connection_error(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::Io | redis::ErrorKind::ClusterConnectionNotFound
        )
}

fn wall_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A random 64-bit id (process origin, lock tokens): hashed from time, pid and a counter.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(wall_us());
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Redact the password of a URL for anything said about it.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

struct Inner {
    cfg: FleetConfig,
    keys: Keys,
    channel: String,
    origin: u64,
    conn: Mutex<Option<Conn>>,
    health: Mutex<Health>,
    probing: AtomicBool,
    closed: AtomicBool,
    pending: Mutex<(VecDeque<Pending>, bool)>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    events: Events,
    counters: Counters,
    rt: Handle,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// The fleet level of one process. Cheap to clone.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl Fleet {
    /// Starts connecting on `rt` (without waiting: calls made before the connection is up
    /// are misses) and subscribes to the bus. Fails only on an invalid URL; the error never
    /// holds the password.
    pub fn connect(
        cfg: FleetConfig,
        clock: Arc<dyn Clock>,
        events: Events,
        rt: Handle,
    ) -> Result<Fleet, String> {
        // rustls needs a process-wide crypto provider for `rediss://`; an application that
        // installed its own keeps it. ring, not aws-lc-rs: it builds with a C compiler alone
        // (aws-lc-rs wants cmake), on every target of the package; it lacks only the
        // post-quantum key exchange, hence the deprecation.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let clients = cfg
            .urls
            .iter()
            .map(|u| {
                redis::Client::open(u.as_str())
                    .map_err(|e| format!("redis.url {} is not valid: {:?}", redact(u), e.kind()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if clients.is_empty() {
            return Err("redis.url is empty".into());
        }
        let keys = Keys::new(&cfg.prefix);
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let conn = if cfg.cluster {
            None
        } else {
            let mcfg = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_min_delay(Duration::from_millis(cfg.backoff.min_ms))
                .set_max_delay(Duration::from_millis(cfg.backoff.max_ms));
            let _guard = rt.enter();
            let m = ConnectionManager::new_lazy_with_config(clients[0].clone(), mcfg)
                .map_err(|e| format!("redis connection failed: {:?}", e.kind()))?;
            Some(Conn::Single(m))
        };
        let inner = Arc::new(Inner {
            channel: keys.channel(),
            keys,
            origin: random_u64(),
            conn: Mutex::new(conn),
            health: Mutex::new(Health::new(clock, cfg.backoff)),
            probing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            pending: Mutex::new((VecDeque::new(), false)),
            waiters: Mutex::new(HashMap::new()),
            events,
            counters: Counters::default(),
            rt: rt.clone(),
            tasks: Mutex::new(Vec::new()),
            cfg,
        });
        let fleet = Fleet { inner };
        if fleet.inner.cfg.cluster {
            let f = fleet.clone();
            let t = rt.spawn(async move { f.connect_cluster().await });
            fleet.inner.tasks.lock().push(t);
        }
        let f = fleet.clone();
        let sub_client = clients[0].clone();
        let t = rt.spawn(async move { f.subscribe_loop(sub_client).await });
        fleet.inner.tasks.lock().push(t);
        Ok(fleet)
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn origin(&self) -> u64 {
        self.inner.origin
    }

    pub fn runtime(&self) -> &Handle {
        &self.inner.rt
    }

    async fn connect_cluster(&self) {
        let cfg = &self.inner.cfg;
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let mut attempt = 0;
        while !self.inner.closed.load(Ordering::Acquire) {
            let built =
                redis::cluster::ClusterClientBuilder::new(cfg.urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .build();
            let client = match built {
                Ok(c) => c,
                Err(_) => return,
            };
            if let Ok(Ok(c)) =
                tokio::time::timeout(timeout * 20, client.get_async_connection()).await
            {
                *self.inner.conn.lock() = Some(Conn::Cluster(c));
                return;
            }
            tokio::time::sleep(Duration::from_millis(cfg.backoff.delay_ms(attempt))).await;
            attempt += 1;
        }
    }

    /// Runs one Redis call under the timeout and the health state machine.
    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, Failure>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.inner.health.lock().is_degraded() {
            self.inner.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Failure::Unavailable);
        }
        let conn = self.inner.conn.lock().clone();
        let Some(conn) = conn else {
            // a cluster still connecting
            self.inner.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return Err(Failure::Unavailable);
        };
        let timeout = Duration::from_millis(self.inner.cfg.timeout_ms.max(1));
        match tokio::time::timeout(timeout, f(conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) if !is_connection_error(&e) => Err(Failure::Server),
            Ok(Err(e)) => {
                self.failed(format!("redis error: {:?}", e.kind()));
                Err(Failure::Unavailable)
            }
            Err(_) => {
                self.failed(format!("no answer within {} ms", self.inner.cfg.timeout_ms));
                Err(Failure::Unavailable)
            }
        }
    }

    fn failed(&self, reason: String) {
        self.inner.counters.failures.fetch_add(1, Ordering::Relaxed);
        let t = self.inner.health.lock().on_failure();
        if t == Some(Transition::Degraded) {
            (self.inner.events)(FleetEvent::Degraded { reason });
            self.start_probe();
        }
    }

    fn start_probe(&self) {
        if self.inner.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let f = self.clone();
        let t = self.inner.rt.spawn(async move { f.probe_loop().await });
        let mut tasks = self.inner.tasks.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(t);
    }

    async fn probe_loop(&self) {
        let timeout = Duration::from_millis(self.inner.cfg.timeout_ms.max(1));
        loop {
            let delay = self.inner.health.lock().next_probe_delay_ms();
            tokio::time::sleep(Duration::from_millis(delay)).await;
            if self.inner.closed.load(Ordering::Acquire) {
                break;
            }
            let conn = self.inner.conn.lock().clone();
            let Some(mut conn) = conn else { continue };
            let ping = redis::cmd("PING");
            let ok = matches!(
                tokio::time::timeout(timeout, conn.query::<String>(&ping)).await,
                Ok(Ok(_))
            );
            if ok {
                // replay first: a process must not serve the shared level's stale entries
                self.replay().await;
                if let Some(Transition::Restored { down_ms }) =
                    self.inner.health.lock().on_success()
                {
                    (self.inner.events)(FleetEvent::Restored { down_ms });
                }
                break;
            }
        }
        self.inner.probing.store(false, Ordering::Release);
        // degraded again between the success and the flag: probe again
        if self.inner.health.lock().is_degraded() && !self.inner.closed.load(Ordering::Acquire) {
            self.start_probe();
        }
    }

    /// Applies the deletes and clears made while degraded, straight to Redis.
    async fn replay(&self) {
        let (queue, overflowed) = {
            let mut p = self.inner.pending.lock();
            (std::mem::take(&mut p.0), std::mem::replace(&mut p.1, false))
        };
        let conn = self.inner.conn.lock().clone();
        let Some(conn) = conn else { return };
        if overflowed {
            let _ = self.clear_all_raw(conn.clone()).await;
            let _ = self
                .publish_raw(conn, TOPIC_CACHE, bus::OP_CLEAR_ALL, "")
                .await;
            return;
        }
        for p in queue {
            let c = conn.clone();
            let _ = match p {
                Pending::Delete(k) => self.delete_raw(c, &k).await.map(|_| ()),
                Pending::ClearNamespace(ns) => self.clear_namespace_raw(c, &ns).await,
                Pending::ClearAll => self.clear_all_raw(c).await,
            };
        }
    }

    fn queue(&self, p: Pending) {
        let mut q = self.inner.pending.lock();
        if q.0.len() >= MAX_PENDING {
            q.0.clear();
            q.1 = true;
        } else if !q.1 {
            q.0.push_back(p);
        }
    }

    pub fn is_degraded(&self) -> bool {
        self.inner.health.lock().is_degraded()
    }

    /// Reads many entries in one burst (one round trip on the multiplexed connection).
    pub async fn get_many(&self, keys: &[String]) -> Vec<Lookup> {
        let ekeys: Vec<String> = keys.iter().map(|k| self.inner.keys.entry(k)).collect();
        let max = self.inner.cfg.max_value_bytes;
        let cmds: Vec<Cmd> = ekeys
            .iter()
            .map(|k| redis::cmd("GET").arg(k).to_owned())
            .collect();
        let r = self
            .call(|conn| async move { conn.batch::<Option<Vec<u8>>>(&cmds).await })
            .await;
        let c = &self.inner.counters;
        match r {
            Err(_) => vec![Lookup::Unavailable; keys.len()],
            Ok(results) => results
                .into_iter()
                .map(|r| match r {
                    Ok(None) => {
                        c.misses.fetch_add(1, Ordering::Relaxed);
                        Lookup::Miss
                    }
                    Ok(Some(bytes)) => match codec::decode(&bytes, max) {
                        Ok(e) => {
                            c.hits.fetch_add(1, Ordering::Relaxed);
                            Lookup::Hit(e)
                        }
                        Err(e) => {
                            c.garbage.fetch_add(1, Ordering::Relaxed);
                            Lookup::Garbage(e.to_string())
                        }
                    },
                    // WRONGTYPE: another program's hash or list under our prefix
                    Err(e) => {
                        c.garbage.fetch_add(1, Ordering::Relaxed);
                        Lookup::Garbage(format!("{:?}", e.kind()))
                    }
                })
                .collect(),
        }
    }

    pub async fn get(&self, key: &str) -> Lookup {
        self.get_many(&[key.to_owned()])
            .await
            .pop()
            .unwrap_or(Lookup::Unavailable)
    }

    fn set_cmds(
        &self,
        key: &str,
        namespace: Option<&str>,
        kind: u8,
        payload: &[u8],
        ttl_ms: u64,
    ) -> Vec<Cmd> {
        let expires_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .saturating_add(ttl_ms);
        let rec = codec::encode(
            kind,
            namespace,
            expires_at,
            payload,
            self.inner.cfg.compression,
        );
        let ekey = self.inner.keys.entry(key);
        let ttl = ttl_ms.max(1);
        let mut cmds = vec![redis::cmd("SET")
            .arg(&ekey)
            .arg(rec)
            .arg("PX")
            .arg(ttl)
            .to_owned()];
        if let Some(ns) = namespace {
            let nkey = self.inner.keys.namespace(ns);
            cmds.push(redis::cmd("SADD").arg(&nkey).arg(&ekey).to_owned());
            // the set lives as long as its longest-lived entry
            cmds.push(
                redis::cmd("PEXPIRE")
                    .arg(&nkey)
                    .arg(ttl)
                    .arg("NX")
                    .to_owned(),
            );
            cmds.push(
                redis::cmd("PEXPIRE")
                    .arg(&nkey)
                    .arg(ttl)
                    .arg("GT")
                    .to_owned(),
            );
        }
        cmds
    }

    /// Stores an entry for `ttl_ms`; false when it stayed local (degraded or refused).
    pub async fn set(
        &self,
        key: &str,
        namespace: Option<&str>,
        kind: u8,
        payload: &[u8],
        ttl_ms: u64,
    ) -> bool {
        let cmds = self.set_cmds(key, namespace, kind, payload, ttl_ms);
        let r = self
            .call(|conn| async move {
                let results = conn.batch::<Value>(&cmds).await?;
                results
                    .into_iter()
                    .next()
                    .unwrap_or(Ok(Value::Nil))
                    .map(|_| ())
            })
            .await;
        if r.is_ok() {
            self.inner.counters.writes.fetch_add(1, Ordering::Relaxed);
        }
        r.is_ok()
    }

    /// Stores many entries in one round trip; per entry, whether Redis holds it.
    pub async fn set_many(&self, writes: &[Write]) -> Vec<bool> {
        let mut cmds = Vec::with_capacity(writes.len());
        let mut firsts = Vec::with_capacity(writes.len());
        for w in writes {
            firsts.push(cmds.len());
            cmds.extend(self.set_cmds(
                &w.key,
                w.namespace.as_deref(),
                w.kind,
                &w.payload,
                w.ttl_ms,
            ));
        }
        match self
            .call(|conn| async move { conn.batch::<Value>(&cmds).await })
            .await
        {
            Err(_) => vec![false; writes.len()],
            Ok(results) => {
                let stored: Vec<bool> = firsts
                    .iter()
                    .map(|&i| matches!(results.get(i), Some(Ok(_))))
                    .collect();
                let n = stored.iter().filter(|&&b| b).count() as u64;
                self.inner.counters.writes.fetch_add(n, Ordering::Relaxed);
                stored
            }
        }
    }

    pub(crate) fn publish_cmd(&self, topic: &str, op: &str, payload: &str) -> Cmd {
        let msg = BusMessage {
            topic: topic.to_owned(),
            origin: self.inner.origin,
            sent_us: wall_us(),
            op: op.to_owned(),
            payload: payload.to_owned(),
        };
        redis::cmd("PUBLISH")
            .arg(&self.inner.channel)
            .arg(msg.encode())
            .to_owned()
    }

    async fn publish_raw(
        &self,
        mut conn: Conn,
        topic: &str,
        op: &str,
        payload: &str,
    ) -> RedisResult<()> {
        let cmd = self.publish_cmd(topic, op, payload);
        conn.query::<i64>(&cmd).await?;
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Publishes on the bus (any topic: the router's state adds its own).
    pub async fn publish(&self, topic: &str, op: &str, payload: &str) -> bool {
        self.call(|conn| async move { self.publish_raw(conn, topic, op, payload).await })
            .await
            .is_ok()
    }

    async fn delete_raw(&self, conn: Conn, key: &str) -> RedisResult<bool> {
        let ekey = self.inner.keys.entry(key);
        let del = redis::cmd("UNLINK").arg(&ekey).to_owned();
        let publish = self.publish_cmd(TOPIC_CACHE, bus::OP_DELETE, key);
        // the delete before the invalidation: a process that drops its copy and reads again
        // must find the key gone
        let n = match &conn {
            Conn::Single(_) => {
                let mut r = conn.batch::<i64>(&[del, publish]).await?.into_iter();
                let n = r.next().unwrap_or(Ok(0))?;
                r.next().unwrap_or(Ok(0))?;
                n
            }
            Conn::Cluster(_) => {
                let mut c = conn.clone();
                let n = c.query::<i64>(&del).await?;
                c.query::<i64>(&publish).await?;
                n
            }
        };
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        Ok(n > 0)
    }

    /// Deletes an entry and tells every process to drop its copy. While degraded the delete
    /// is queued and replayed on restore.
    pub async fn delete(&self, key: &str) -> bool {
        match self.call(|conn| self.delete_raw(conn, key)).await {
            Ok(existed) => existed,
            Err(Failure::Unavailable) => {
                self.queue(Pending::Delete(key.to_owned()));
                false
            }
            Err(Failure::Server) => false,
        }
    }

    async fn unlink_all(&self, conn: &Conn, keys: Vec<String>) -> RedisResult<()> {
        for chunk in keys.chunks(CLEAR_BATCH) {
            let futs = chunk.iter().map(|k| {
                let mut c = conn.clone();
                let cmd = redis::cmd("UNLINK").arg(k).to_owned();
                async move { c.query::<i64>(&cmd).await }
            });
            for r in futures_util::future::join_all(futs).await {
                r?;
            }
        }
        Ok(())
    }

    async fn clear_namespace_raw(&self, conn: Conn, namespace: &str) -> RedisResult<()> {
        let nkey = self.inner.keys.namespace(namespace);
        let mut c = conn.clone();
        let mut cursor: u64 = 0;
        loop {
            let cmd = redis::cmd("SSCAN")
                .arg(&nkey)
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .to_owned();
            let (next, members): (u64, Vec<String>) = c.query(&cmd).await?;
            self.unlink_all(&conn, members).await?;
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        c.query::<i64>(&redis::cmd("UNLINK").arg(&nkey).to_owned())
            .await?;
        self.publish_raw(conn, TOPIC_CACHE, bus::OP_CLEAR_NAMESPACE, namespace)
            .await
    }

    /// Deletes the entries stored with `namespace` (or all of ours) and tells every process.
    pub async fn clear(&self, namespace: Option<&str>) -> bool {
        let r = match namespace {
            Some(ns) => self.call(|conn| self.clear_namespace_raw(conn, ns)).await,
            None => {
                self.call(|conn| async move {
                    self.clear_all_raw(conn.clone()).await?;
                    self.publish_raw(conn, TOPIC_CACHE, bus::OP_CLEAR_ALL, "")
                        .await
                })
                .await
            }
        };
        match r {
            Ok(()) => true,
            Err(Failure::Unavailable) => {
                self.queue(match namespace {
                    Some(ns) => Pending::ClearNamespace(ns.to_owned()),
                    None => Pending::ClearAll,
                });
                false
            }
            Err(Failure::Server) => false,
        }
    }

    /// Every entry and namespace set under the prefix, by SCAN on each master.
    async fn clear_all_raw(&self, conn: Conn) -> RedisResult<()> {
        let pattern = format!(
            "{}[cn]:*",
            &self.inner.keys.entry_pattern()[..self.inner.keys.entry_pattern().len() - 3]
        );
        match conn {
            Conn::Single(_) => {
                let mut c = conn.clone();
                let mut cursor: u64 = 0;
                loop {
                    let cmd = scan_cmd(cursor, &pattern);
                    let (next, keys): (u64, Vec<String>) = c.query(&cmd).await?;
                    self.unlink_all(&conn, keys).await?;
                    cursor = next;
                    if cursor == 0 {
                        return Ok(());
                    }
                }
            }
            Conn::Cluster(ref cc) => {
                let mut c = cc.clone();
                let nodes: String = c
                    .route_command(
                        redis::cmd("CLUSTER").arg("NODES").to_owned(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await
                    .and_then(|v| String::from_redis_value(v).map_err(RedisError::from))?;
                for line in nodes.lines() {
                    let mut f = line.split(' ');
                    let (Some(_id), Some(addr), Some(flags)) = (f.next(), f.next(), f.next())
                    else {
                        continue;
                    };
                    if !flags.split(',').any(|x| x == "master") || flags.contains("fail") {
                        continue;
                    }
                    let hostport = addr.split('@').next().unwrap_or("");
                    let Some((host, port)) = hostport.rsplit_once(':') else {
                        continue;
                    };
                    let Ok(port) = port.parse::<u16>() else {
                        continue;
                    };
                    let mut cursor: u64 = 0;
                    loop {
                        let cmd = scan_cmd(cursor, &pattern);
                        let v = c
                            .route_command(
                                cmd,
                                RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                                    host: host.to_owned(),
                                    port,
                                }),
                            )
                            .await?;
                        let (next, keys): (u64, Vec<String>) =
                            FromRedisValue::from_redis_value(v).map_err(RedisError::from)?;
                        self.unlink_all(&conn, keys).await?;
                        cursor = next;
                        if cursor == 0 {
                            break;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The fleet-wide single flight of `getOrSet`: the entry if some process stored it,
    /// else the lock (a lease of `lock_ms`) for this process, else waits for the holder's
    /// value, at most `wait_ms` and `max_checks` checks, then gives up (the caller computes).
    pub async fn acquire(&self, key: &str, wait_ms: u64, max_checks: u32) -> Acquire {
        let ekey = self.inner.keys.entry(key);
        let lkey = self.inner.keys.lock(key);
        let token = format!("{:016x}", random_u64());
        let lease = self.inner.cfg.lock_ms.max(1);
        let max = self.inner.cfg.max_value_bytes;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(wait_ms);
        let notify = {
            let mut w = self.inner.waiters.lock();
            w.entry(key.to_owned())
                .or_insert_with(|| Arc::new(Notify::new()))
                .clone()
        };
        let mut poll_ms = 2;
        let mut result = Acquire::GiveUp;
        for _ in 0..max_checks.max(1) {
            let notified = notify.notified();
            let p = redis::pipe()
                .cmd("GET")
                .arg(&ekey)
                .cmd("SET")
                .arg(&lkey)
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(lease)
                .to_owned();
            let r =
                self.call(|mut conn| async move {
                    conn.pipe::<(Option<Vec<u8>>, Option<String>)>(&p).await
                })
                .await;
            match r {
                Err(_) => break,
                Ok((Some(bytes), got)) => {
                    if got.is_some() {
                        self.release(key, &token).await;
                    }
                    if let Ok(e) = codec::decode(&bytes, max) {
                        result = Acquire::Value(e);
                        break;
                    }
                    // garbage under the key: compute (and overwrite it)
                    break;
                }
                Ok((None, Some(_))) => {
                    result = Acquire::Acquired(token.clone());
                    break;
                }
                Ok((None, None)) => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                break;
            }
            let wait = Duration::from_millis(poll_ms).min(deadline - now);
            let _ = tokio::time::timeout(wait, notified).await;
            poll_ms = (poll_ms * 2).min(MAX_POLL_MS);
        }
        {
            let mut w = self.inner.waiters.lock();
            if w.get(key).is_some_and(|n| Arc::strong_count(n) <= 2) {
                w.remove(key);
            }
        }
        drop(notify);
        result
    }

    /// Releases the lock if this token still holds it, and wakes the waiters.
    pub async fn release(&self, key: &str, token: &str) {
        let lkey = self.inner.keys.lock(key);
        let script = redis::cmd("EVAL")
            .arg("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end")
            .arg(1)
            .arg(&lkey)
            .arg(token)
            .to_owned();
        let _ = self
            .call(|conn| async move {
                let mut c = conn.clone();
                let (r, p) = tokio::join!(
                    async move { c.query::<i64>(&script).await },
                    self.publish_raw(conn, TOPIC_CACHE, bus::OP_FILLED, key)
                );
                r.and(p)
            })
            .await;
    }

    /// The bus subscription: reconnects with backoff while the fleet lives.
    async fn subscribe_loop(&self, client: redis::Client) {
        let timeout = Duration::from_millis(self.inner.cfg.timeout_ms.max(1));
        let mut attempt = 0;
        while !self.inner.closed.load(Ordering::Acquire) {
            let connected = tokio::time::timeout(timeout * 4, async {
                let mut ps = client.get_async_pubsub().await?;
                ps.subscribe(&self.inner.channel).await?;
                Ok::<_, RedisError>(ps)
            })
            .await;
            if let Ok(Ok(ps)) = connected {
                attempt = 0;
                (self.inner.events)(FleetEvent::Subscribed);
                let mut stream = ps.into_on_message();
                while let Some(msg) = stream.next().await {
                    let Ok(text) = std::str::from_utf8(msg.get_payload_bytes()) else {
                        continue;
                    };
                    let Some(m) = BusMessage::decode(text) else {
                        continue;
                    };
                    if m.origin == self.inner.origin {
                        continue;
                    }
                    self.inner.counters.received.fetch_add(1, Ordering::Relaxed);
                    if m.topic == TOPIC_CACHE && m.op == bus::OP_FILLED {
                        let n = self.inner.waiters.lock().get(&m.payload).cloned();
                        if let Some(n) = n {
                            n.notify_waiters();
                        }
                        continue;
                    }
                    let lag_us = wall_us() as i64 - m.sent_us as i64;
                    (self.inner.events)(FleetEvent::Message { message: m, lag_us });
                }
            }
            if self.inner.closed.load(Ordering::Acquire) {
                break;
            }
            let d = self.inner.cfg.backoff.delay_ms(attempt);
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(Duration::from_millis(d)).await;
        }
    }

    pub fn stats(&self) -> Stats {
        let c = &self.inner.counters;
        let h = self.inner.health.lock();
        Stats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            garbage: c.garbage.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            published: c.published.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            degradations: h.degradations(),
            degraded: h.is_degraded(),
        }
    }

    /// Stops the subscription and the probe, drops the connection.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        for t in self.inner.tasks.lock().drain(..) {
            t.abort();
        }
        *self.inner.conn.lock() = None;
    }
}

/// One step of a `SCAN` over the keys matching `pattern`, from `cursor`.
fn scan_cmd(cursor: u64, pattern: &str) -> redis::Cmd {
    redis::cmd("SCAN")
        .arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(1000)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password() {
        assert_eq!(redact("redis://u:secret@h:1/0"), "redis://***@h:1/0");
        assert_eq!(redact("rediss://:p@host"), "rediss://***@host");
        assert_eq!(redact("redis://h:1"), "redis://h:1");
    }
}

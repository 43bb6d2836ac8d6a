//! The fleet client against a real `redis-server` (started on a free loopback port, no
//! persistence, killed when the test ends, also on failure).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fleet_core::{Acquire, Backoff, Fleet, FleetConfig, FleetEvent, Lookup, SystemClock};

struct Server {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Server {
    fn start(port: Option<u16>) -> Server {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let dir =
            std::env::temp_dir().join(format!("fleet-core-test-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let s = Server { child, port, dir };
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not start");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

type Log = Arc<Mutex<Vec<FleetEvent>>>;

fn fleet(url: &str, rt: &tokio::runtime::Runtime) -> (Fleet, Log) {
    let log: Log = Arc::default();
    let l = log.clone();
    let f = Fleet::connect(
        FleetConfig {
            urls: vec![url.to_owned()],
            cluster: false,
            prefix: "t:".into(),
            timeout_ms: 200,
            lock_ms: 300,
            compression: true,
            max_value_bytes: 1 << 20,
            backoff: Backoff {
                min_ms: 20,
                max_ms: 200,
            },
        },
        SystemClock::shared(),
        Arc::new(move |e| l.lock().unwrap().push(e)),
        rt.handle().clone(),
    )
    .unwrap();
    (f, log)
}

fn count(log: &Log, f: impl Fn(&FleetEvent) -> bool) -> usize {
    log.lock().unwrap().iter().filter(|e| f(e)).count()
}

async fn until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn set_get_delete_publish_lock_and_a_restart() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = Server::start(None);
    let port = server.port;
    let (a, a_log) = fleet(&server.url(), &rt);
    let (b, b_log) = fleet(&server.url(), &rt);
    rt.block_on(async {
        assert!(until(|| count(&b_log, |e| matches!(e, FleetEvent::Subscribed)) == 1).await);
        assert!(a.set("k", Some("ns"), 1, b"hello", 10_000).await);
        match b.get("k").await {
            Lookup::Hit(e) => {
                assert_eq!((e.kind, e.namespace.as_deref(), &e.payload[..]), (1, Some("ns"), &b"hello"[..]))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.get("absent").await, Lookup::Miss);

        // a delete reaches b's subscription, not a's own
        assert!(a.delete("k").await);
        assert!(until(|| count(&b_log, |e| matches!(e, FleetEvent::Message { message, .. } if message.op == "d" && message.payload == "k")) == 1).await);
        assert_eq!(count(&a_log, |e| matches!(e, FleetEvent::Message { .. })), 0);
        assert_eq!(b.get("k").await, Lookup::Miss);

        // the lock: one holder; the other waits, then gets the stored value
        let Acquire::Acquired(token) = a.acquire("job", 1000, 100).await else { panic!("a did not get the lock") };
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.acquire("job", 1000, 1000).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(a.set("job", None, 0, b"42", 10_000).await);
        a.release("job", &token).await;
        match waiter.await.unwrap() {
            Acquire::Value(e) => assert_eq!(&e.payload[..], b"42"),
            other => panic!("{other:?}"),
        }
        // a holder that never releases is replaced after its lease (300 ms)
        let Acquire::Acquired(_) = a.acquire("stuck", 0, 1).await else { panic!() };
        assert!(matches!(b.acquire("stuck", 2000, 10_000).await, Acquire::Acquired(_)));
    });

    // kill the server: calls fail fast, one Degraded; a delete is queued
    drop(server);
    rt.block_on(async {
        assert!(!a.set("down", None, 1, b"x", 10_000).await);
        assert_eq!(a.get("down").await, Lookup::Unavailable);
        assert!(!a.delete("queued").await);
        assert_eq!(
            count(&a_log, |e| matches!(e, FleetEvent::Degraded { .. })),
            1
        );
        assert!(a.stats().skipped >= 1);
    });
    let server = Server::start(Some(port));
    rt.block_on(async {
        assert!(until(|| count(&a_log, |e| matches!(e, FleetEvent::Restored { .. })) == 1).await);
        assert_eq!(
            count(&a_log, |e| matches!(e, FleetEvent::Degraded { .. })),
            1
        );
        // the queued delete was replayed with its invalidation once b resubscribed
        assert!(until(|| count(&b_log, |e| matches!(e, FleetEvent::Subscribed)) == 2).await);
        assert!(a.set("after", None, 1, b"y", 10_000).await);
        // b's connection died with the server: its first call may fail (and degrade it
        // until its probe answers); it shares again within a bounded number of tries
        let mut hit = false;
        for _ in 0..300 {
            if matches!(b.get("after").await, Lookup::Hit(_)) {
                hit = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(hit);
    });
    a.close();
    b.close();
    drop(server);
}

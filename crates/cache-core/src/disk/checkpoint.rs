//! Checkpointing: the WAL is copied into the database on a thread of its own, and bounded
//! by SQLite's automatic checkpoint should that thread fall far behind.

use super::BUSY_TIMEOUT;
use rusqlite::{Connection, OpenFlags};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the background checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages after which a commit checkpoints on the JS thread after all (the background
/// checkpointer has fallen far behind): bounds the WAL at about 64 MiB.
const WAL_SAFETY_PAGES: u32 = 16_384;

/// Sets the writer's automatic checkpoint to the WAL's bound (`WAL_SAFETY_PAGES`).
pub(super) fn bound_wal(writer: &Connection) -> rusqlite::Result<()> {
    writer.execute_batch(&format!("PRAGMA wal_autocheckpoint={WAL_SAFETY_PAGES};"))
}

/// Checkpoints the WAL on its own thread and connection, so the fsyncs of a checkpoint
/// (synchronous=NORMAL syncs there, not at commit) never run on the JS thread. Passive
/// checkpoints wait for nobody: readers and the writer go on meanwhile.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(path: &str) -> rusqlite::Result<Self> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cache-checkpoint".into())
            .spawn(move || {
                // Ends when told to, or when the store is gone (sender dropped).
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_EVERY)
                {
                    // A failed checkpoint (e.g. busy) is retried at the next tick.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

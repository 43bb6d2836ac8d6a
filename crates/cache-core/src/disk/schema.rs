//! The database file and its schema: the file created private, the legacy `cache_entries`
//! table and its indexes, and the `kind` column added to a legacy table. Several
//! connections, threads or processes may open one new file at once: creating it, switching
//! it to WAL and completing the schema each tolerate the others doing the same.

use rusqlite::Connection;

/// The columns the legacy schema indexes (`idx_cache_entries_<column>`).
const INDEXED: [&str; 3] = ["ttl", "last_accessed", "namespace"];

/// Creates the file with mode 0600 before SQLite opens it; SQLite gives the WAL and
/// shared-memory files the database file's permissions.
#[cfg(unix)]
pub(super) fn create_private(path: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.starts_with("file:") || std::path::Path::new(path).exists() {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        // another thread or process created it between the check and the open: fine
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r.map(|_| ()),
    }
}

#[cfg(not(unix))]
pub(super) fn create_private(_path: &str) -> std::io::Result<()> {
    Ok(())
}

/// Runs `f` again while SQLite reports the database busy or locked (several connections,
/// threads or processes opening one new file at once race for the schema and the WAL switch).
pub(super) fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let mut delay_ms = 1;
    // each try already waits up to the connection's busy timeout where SQLite uses it
    for _ in 0..8 {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(delay_ms));
                delay_ms = (delay_ms * 2).min(50);
            }
            r => return r,
        }
    }
    f()
}

fn has_index_on(conn: &Connection, column: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_index_list('cache_entries') il, pragma_index_info(il.name) ii
         WHERE ii.name = ?1",
        [column],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

fn has_kind(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT COUNT(*) FROM pragma_table_info('cache_entries') WHERE name = 'kind'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )
}

/// Whether the table, its `kind` column and its indexes all exist (false when unreadable).
fn is_complete(conn: &Connection) -> bool {
    (|| -> rusqlite::Result<bool> {
        let has_kind = has_kind(conn)?;
        let mut indexed = true;
        for column in INDEXED {
            indexed &= has_index_on(conn, column)?;
        }
        Ok(has_kind && indexed)
    })()
    .unwrap_or(false)
}

/// Creates or completes the schema through `writer`. A complete schema is only read.
/// Otherwise it is checked and completed in one write transaction, so openers of one new
/// file take turns instead of adding the same column or index twice.
pub(super) fn ensure(writer: &Connection) -> rusqlite::Result<()> {
    if is_complete(writer) {
        return Ok(());
    }
    retry_busy(|| {
        writer.execute_batch("BEGIN IMMEDIATE")?;
        let done = (|| {
            writer.execute_batch(
                "CREATE TABLE IF NOT EXISTS cache_entries (
                   key TEXT PRIMARY KEY, value BLOB, size INTEGER, ttl INTEGER, created_at INTEGER,
                   last_accessed INTEGER, hit_count INTEGER DEFAULT 0, namespace TEXT,
                   compressed INTEGER DEFAULT 0);",
            )?;
            if !has_kind(writer)? {
                writer.execute_batch("ALTER TABLE cache_entries ADD COLUMN kind INTEGER")?;
            }
            for column in INDEXED {
                if !has_index_on(writer, column)? {
                    writer.execute_batch(&format!(
                        "CREATE INDEX IF NOT EXISTS idx_cache_entries_{column} ON cache_entries({column})"
                    ))?;
                }
            }
            writer.execute_batch("COMMIT")
        })();
        if done.is_err() {
            let _ = writer.execute_batch("ROLLBACK");
        }
        done
    })
}

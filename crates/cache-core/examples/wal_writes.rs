//! What a WAL commit's writes cost here, by how many calls make them: 15 frames of a 4 KiB
//! page written as SQLite writes them (two `pwrite`s per frame: the 24-byte header, then the
//! page), as one call per frame, and as one call for the whole commit (what `wal_vfs` does).
//! `cargo run --release -p cache-core --example wal_writes`
use std::os::unix::fs::FileExt;
use std::time::Instant;

const FRAMES: usize = 15;
const COMMITS: usize = 4000;
const FRAME: usize = 24 + 4096;

fn main() -> std::io::Result<()> {
    let dir = std::env::temp_dir().join(format!("mrn-wal-writes-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("test.wal");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)?;
    let header = [1u8; 24];
    let page = [7u8; 4096];
    // the file exists at its full size first, as a reused WAL does
    f.write_all_at(&vec![0u8; FRAME * FRAMES * 64], 0)?;
    let offset =
        |commit: usize, frame: usize| ((commit % 64) * FRAMES * FRAME + frame * FRAME) as u64;
    let per_commit = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / COMMITS as f64;
    let mut whole = Vec::with_capacity(FRAMES * FRAME);
    for round in 0..3 {
        let t = Instant::now();
        for c in 0..COMMITS {
            for i in 0..FRAMES {
                f.write_all_at(&header, offset(c, i))?;
                f.write_all_at(&page, offset(c, i) + 24)?;
            }
        }
        let two_per_frame = per_commit(t);
        let t = Instant::now();
        for c in 0..COMMITS {
            for i in 0..FRAMES {
                whole.clear();
                whole.extend_from_slice(&header);
                whole.extend_from_slice(&page);
                f.write_all_at(&whole, offset(c, i))?;
            }
        }
        let one_per_frame = per_commit(t);
        let t = Instant::now();
        for c in 0..COMMITS {
            whole.clear();
            for _ in 0..FRAMES {
                whole.extend_from_slice(&header);
                whole.extend_from_slice(&page);
            }
            f.write_all_at(&whole, offset(c, 0))?;
        }
        let one_per_commit = per_commit(t);
        println!(
            "round {round}: {FRAMES} frames per commit: 2 calls per frame {two_per_frame:.1} µs, \
             1 call per frame {one_per_frame:.1} µs, 1 call per commit {one_per_commit:.1} µs"
        );
    }
    std::fs::remove_dir_all(&dir)
}

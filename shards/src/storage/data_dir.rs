//! The data directory: one process at a time (an advisory lock), and the shard count its
//! logs were written with (SKUs live on the shard their slot maps to, so a different count
//! would look for them on the wrong shard).

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::error::JournalError;

/// Held for the life of the process; the lock goes with the descriptor.
pub struct DataDirLock {
    _file: File,
}

/// Locks `data_dir` and checks (or records) the shard count of its flash-sale logs.
pub fn claim(data_dir: &Path, shard_count: usize) -> Result<DataDirLock, JournalError> {
    let io = |path: &Path, source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let lock_path = data_dir.join("LOCK");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| io(&lock_path, e))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(JournalError::Locked { path: lock_path });
    }
    let seckill = data_dir.join("seckill");
    std::fs::create_dir_all(&seckill).map_err(|e| io(&seckill, e))?;
    let layout = seckill.join("SHARDS");
    match std::fs::read_to_string(&layout) {
        Ok(text) => {
            let found: usize = text.trim().parse().unwrap_or(0);
            if found != shard_count {
                return Err(JournalError::ShardCount {
                    path: layout,
                    found,
                    configured: shard_count,
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut f = File::create(&layout).map_err(|e| io(&layout, e))?;
            writeln!(f, "{shard_count}").map_err(|e| io(&layout, e))?;
            f.sync_all().map_err(|e| io(&layout, e))?;
            File::open(&seckill)
                .and_then(|d| d.sync_all())
                .map_err(|e| io(&seckill, e))?;
        }
        Err(e) => return Err(io(&layout, e)),
    }
    Ok(DataDirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_and_a_different_shard_count_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let held = claim(dir.path(), 2).unwrap();
        assert!(matches!(claim(dir.path(), 2), Err(JournalError::Locked { .. })));
        drop(held);
        let err = claim(dir.path(), 3).err().unwrap();
        assert!(err.to_string().contains("--shards 2"), "{err}");
        claim(dir.path(), 2).unwrap();
    }
}

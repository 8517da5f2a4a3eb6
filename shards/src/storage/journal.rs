//! A shard's append-only log on disk: framed records (`core::journal`) in numbered segment
//! files, written in groups, with snapshots that let old segments go.
//!
//! Layout of a log directory:
//! - `seg-<n>.log`: records, appended in order; `n` grows by one per snapshot.
//! - `snap-<n>.bin`: one frame holding the state as of the end of every segment below `n`.
//!   Written to `snap-<n>.tmp`, fsynced, renamed, and only then are older files deleted, so a
//!   crash at any point leaves a snapshot plus the segments after it.
//!
//! Group commit: records are appended to an in-memory buffer; the owner's flusher task takes
//! the whole buffer, writes it with one io_uring write (and fdatasync in sync mode) while the
//! next group gathers. Acknowledgements go out when the group's write (or fsync) completes.
//!
//! Recovery reads with std::fs on the shard's thread before it serves anything.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardhub_core::journal::{encode_frame, encode_frame_with, good_frame_after, FrameError, FrameReader};

use super::error::JournalError;
use super::outbox_mark::LogPosition;
use crate::config::Durability;
use crate::runtime::signal::Signal;

/// Bound on one log record: a BUY record is a few hundred bytes at most.
pub const RECORD_BYTES_MAX: usize = 1024 * 1024;
/// Logs hold orders, device state and sealed wallet seeds: readable by the server's user
/// only, whatever the umask.
const FILE_MODE: u32 = 0o600;
/// Bound on a snapshot's single frame.
const SNAPSHOT_BYTES_MAX: usize = u32::MAX as usize;

/// What recovery found, in the order to apply it.
pub struct Recovery {
    /// The newest snapshot's state, if any.
    pub snapshot: Option<Vec<u8>>,
    /// Torn bytes cut from the end of the last segment (a crash mid-write).
    pub torn_bytes: u64,
    /// Records replayed.
    pub records: u64,
}

/// Which bad frame at the end of the newest segment is a write a crash interrupted (cut off
/// at open) rather than damage (refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornTail {
    /// Any bad frame with nothing good after it.
    Cut,
    /// Only a frame the file ends inside; a whole frame with a bad checksum stops the start.
    /// For logs whose every record was fsynced before it was acknowledged (the wallet
    /// keystore): damage there must be looked at, not cut away. Their records are small, and
    /// a length above `record_bytes_max` is damage too, so a flipped length field is not
    /// mistaken for a write cut short.
    CutTruncatedOnly { record_bytes_max: usize },
}

impl TornTail {
    fn cuts(self, error: &FrameError) -> bool {
        match self {
            TornTail::Cut => true,
            TornTail::CutTruncatedOnly { .. } => matches!(error, FrameError::Truncated { .. }),
        }
    }

    fn record_bytes_max(self) -> usize {
        match self {
            TornTail::Cut => RECORD_BYTES_MAX,
            TornTail::CutTruncatedOnly { record_bytes_max } => record_bytes_max.min(RECORD_BYTES_MAX),
        }
    }
}

/// Counters and latencies the shard exports.
#[derive(Default, Clone, Copy, Debug)]
pub struct JournalStats {
    pub records: u64,
    pub bytes: u64,
    pub writes: u64,
    pub fsyncs: u64,
    pub snapshots: u64,
}

pub struct Journal {
    dir: PathBuf,
    file: RefCell<Rc<monoio::fs::File>>,
    segment: Cell<u64>,
    /// Bytes written to the current segment.
    offset: Cell<u64>,
    /// Records appended and not yet taken by a write.
    buf: RefCell<Vec<u8>>,
    /// The previous group's buffer, kept for reuse so steady state allocates nothing.
    spare: RefCell<Vec<u8>>,
    buf_records: Cell<u64>,
    /// Log sequence numbers: records appended, written, and fsynced.
    appended: Cell<u64>,
    written: Cell<u64>,
    synced: Cell<u64>,
    /// Bytes of the current segment the last fsync covered.
    synced_offset: Cell<u64>,
    last_sync: Cell<Instant>,
    /// Set when a write or fsync failed: nothing after it can be trusted to be on disk.
    failed: Cell<bool>,
    stats: Cell<JournalStats>,
}

impl Journal {
    /// Opens (creating if needed) the log in `dir`, handing the snapshot and then every
    /// record after it to `apply` in order. A torn tail is cut off; damage anywhere else stops
    /// the start.
    pub fn open<E: std::fmt::Display>(
        dir: &Path,
        apply_snapshot: impl FnMut(&[u8]) -> Result<(), E>,
        apply_record: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(Journal, Recovery), JournalError> {
        Journal::open_with(dir, TornTail::Cut, apply_snapshot, apply_record)
    }

    /// [`Journal::open`] with a choice of what counts as a torn tail.
    pub fn open_with<E: std::fmt::Display>(
        dir: &Path,
        torn_tail: TornTail,
        mut apply_snapshot: impl FnMut(&[u8]) -> Result<(), E>,
        mut apply_record: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(Journal, Recovery), JournalError> {
        let io_err = |path: &Path, source: io::Error| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let (recovery, last, last_len) = read(dir, torn_tail, &mut apply_snapshot, &mut apply_record)?;
        let path = segment_path(dir, last);
        let file = std::fs::OpenOptions::new()
            .mode(FILE_MODE)
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if recovery.torn_bytes > 0 {
            file.set_len(last_len).map_err(|e| io_err(&path, e))?;
            file.sync_all().map_err(|e| io_err(&path, e))?;
        }
        sync_dir(dir).map_err(|e| io_err(dir, e))?;
        let file = monoio::fs::File::from_std(file).map_err(|e| io_err(&path, e))?;
        let journal = Journal {
            dir: dir.to_path_buf(),
            file: RefCell::new(Rc::new(file)),
            segment: Cell::new(last),
            offset: Cell::new(last_len),
            buf: RefCell::new(Vec::with_capacity(64 * 1024)),
            spare: RefCell::new(Vec::with_capacity(64 * 1024)),
            buf_records: Cell::new(0),
            appended: Cell::new(0),
            written: Cell::new(0),
            synced: Cell::new(0),
            synced_offset: Cell::new(last_len),
            last_sync: Cell::new(Instant::now()),
            failed: Cell::new(false),
            stats: Cell::new(JournalStats::default()),
        };
        Ok((journal, recovery))
    }

    /// Appends one record, encoded in place by `write`; returns its sequence number. After a
    /// failure the record is not kept: it will never be written, so its number is never
    /// acknowledged.
    pub fn append(&self, write: impl FnOnce(&mut Vec<u8>)) -> u64 {
        let lsn = self.appended.get() + 1;
        self.appended.set(lsn);
        if !self.failed.get() {
            encode_frame_with(&mut self.buf.borrow_mut(), write);
            self.buf_records.set(self.buf_records.get() + 1);
        }
        lsn
    }

    pub fn appended(&self) -> u64 {
        self.appended.get()
    }

    pub fn written(&self) -> u64 {
        self.written.get()
    }

    pub fn synced(&self) -> u64 {
        self.synced.get()
    }

    pub fn has_unwritten(&self) -> bool {
        self.buf_records.get() > 0
    }

    pub fn has_unsynced(&self) -> bool {
        self.synced.get() < self.written.get()
    }

    pub fn failed(&self) -> bool {
        self.failed.get()
    }

    /// Refuses all further writes: after a failed write or fsync nothing later can be trusted
    /// to reach the disk (the kernel may have dropped the dirty pages). What waits in the
    /// buffer is dropped: it will never be written, and a flusher that kept finding it there
    /// would never sleep again.
    pub fn mark_failed(&self) {
        self.failed.set(true);
        self.buf.borrow_mut().clear();
        self.buf_records.set(0);
    }

    /// After a failure: cuts the current segment back to the end of its last acknowledged
    /// record (fsynced in sync mode, written otherwise), so that what a restart replays is
    /// what clients were told, and nothing of a group that failed half-written.
    pub fn roll_back(&self, durability: Durability) -> io::Result<u64> {
        debug_assert!(self.failed(), "only a failed log rolls back");
        let keep = match durability {
            Durability::Sync => self.synced_offset.get(),
            Durability::Batch | Durability::None => self.offset.get(),
        };
        let path = segment_path(&self.dir, self.segment.get());
        let file = std::fs::OpenOptions::new().write(true).open(&path)?;
        let cut = file.metadata()?.len().saturating_sub(keep);
        file.set_len(keep)?;
        // Made durable, or a crash could bring the refused records back.
        file.sync_all()?;
        Ok(cut)
    }

    /// Reads the log again, as a restart would (after [`Journal::roll_back`]: the state to go
    /// back to).
    pub fn reread<E: std::fmt::Display>(
        &self,
        torn_tail: TornTail,
        mut apply_snapshot: impl FnMut(&[u8]) -> Result<(), E>,
        mut apply_record: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<Recovery, JournalError> {
        read(&self.dir, torn_tail, &mut apply_snapshot, &mut apply_record).map(|(recovery, _, _)| recovery)
    }

    pub fn since_last_sync(&self) -> Duration {
        self.last_sync.get().elapsed()
    }

    /// The last record a reply may count on under `durability`: synced (sync) or written
    /// (batch, none).
    pub fn acknowledged(&self, durability: Durability) -> u64 {
        match durability {
            Durability::Sync => self.synced(),
            Durability::Batch | Durability::None => self.written(),
        }
    }

    /// Where the records appended so far will end once written (a snapshot switches segments
    /// only with nothing buffered, so the buffer always lands in the current segment).
    pub fn appended_position(&self) -> LogPosition {
        LogPosition {
            segment: self.segment.get(),
            offset: self.offset.get() + self.buf.borrow().len() as u64,
        }
    }

    /// Where the records an outbox may publish end: fsynced ones in sync and batch modes
    /// (so that no power loss takes back a record Kafka already has), written ones in none;
    /// with the number of those records this process appended (the relay counts its lag in
    /// events against it).
    pub fn committed(&self, durability: Durability) -> (LogPosition, u64) {
        let (offset, records) = match durability {
            Durability::Sync | Durability::Batch => (self.synced_offset.get(), self.synced()),
            Durability::None => (self.offset.get(), self.written()),
        };
        let at = LogPosition {
            segment: self.segment.get(),
            offset,
        };
        (at, records)
    }

    /// The flusher's wait: until records are appended (`wake` is raised), or, in batch mode
    /// with written records not yet synced, until the batch fsync falls due.
    pub async fn wait_for_work(&self, durability: Durability, batch_fsync: Duration, wake: &Signal) {
        if self.failed() {
            // Nothing will be written any more: wake only to answer new waiters.
            wake.wait().await;
            return;
        }
        if self.has_unwritten() {
            return;
        }
        if durability == Durability::Batch && self.has_unsynced() {
            let left = batch_fsync.saturating_sub(self.since_last_sync());
            monoio::select! {
                _ = wake.wait() => {}
                _ = monoio::time::sleep(left) => {}
            }
        } else {
            wake.wait().await;
        }
    }

    /// Whether the group just written is to be fsynced now: always in sync mode, once
    /// `batch_fsync` has passed in batch mode, never in none.
    pub fn sync_due(&self, durability: Durability, batch_fsync: Duration) -> bool {
        match durability {
            Durability::Sync => self.has_unsynced(),
            Durability::Batch => self.has_unsynced() && self.since_last_sync() >= batch_fsync,
            Durability::None => false,
        }
    }

    pub fn stats(&self) -> JournalStats {
        self.stats.get()
    }

    /// Writes every appended record in one write; returns how many records it wrote.
    pub async fn write_group(&self) -> io::Result<u64> {
        let records = self.buf_records.replace(0);
        if records == 0 {
            return Ok(0);
        }
        let upto = self.appended.get();
        let group = {
            let mut spare = self.spare.borrow_mut();
            std::mem::replace(&mut *self.buf.borrow_mut(), std::mem::take(&mut *spare))
        };
        let len = group.len() as u64;
        let file = self.file.borrow().clone();
        let (result, mut group) = file.write_all_at(group, self.offset.get()).await;
        group.clear();
        *self.spare.borrow_mut() = group;
        if let Err(e) = result {
            self.mark_failed();
            return Err(e);
        }
        self.offset.set(self.offset.get() + len);
        self.written.set(upto);
        let mut s = self.stats.get();
        s.records += records;
        s.bytes += len;
        s.writes += 1;
        self.stats.set(s);
        Ok(records)
    }

    /// fdatasyncs what has been written so far.
    pub async fn sync(&self) -> io::Result<()> {
        let (upto, upto_offset) = (self.written.get(), self.offset.get());
        let file = self.file.borrow().clone();
        if let Err(e) = file.sync_data().await {
            self.mark_failed();
            return Err(e);
        }
        self.synced.set(self.synced.get().max(upto));
        self.synced_offset.set(upto_offset);
        self.last_sync.set(Instant::now());
        let mut s = self.stats.get();
        s.fsyncs += 1;
        self.stats.set(s);
        Ok(())
    }

    /// Whether the current segment is big enough that a snapshot should replace it.
    pub fn wants_snapshot(&self, snapshot_log_bytes: u64) -> bool {
        self.offset.get() >= snapshot_log_bytes
    }

    /// Starts a new segment and writes `state` (which must reflect exactly the records
    /// written so far, none of the unwritten ones) as the snapshot covering all older
    /// segments, then deletes them, all but `keep_from_segment` and later (those an outbox
    /// relay has yet to publish). Call it with nothing unwritten.
    pub async fn snapshot(&self, state: Vec<u8>, keep_from_segment: u64) -> io::Result<()> {
        debug_assert!(!self.has_unwritten(), "a snapshot must line up with a segment end");
        // Everything in the old segment must be on disk before the snapshot replaces it.
        self.sync().await?;
        let next = self.segment.get() + 1;
        let seg_path = segment_path(&self.dir, next);
        let file = monoio::fs::OpenOptions::new()
            .mode(FILE_MODE)
            .create(true)
            .truncate(true)
            .write(true)
            .open(&seg_path)
            .await?;
        // From here on, appends go to the new segment: the snapshot covers the old ones.
        *self.file.borrow_mut() = Rc::new(file);
        self.segment.set(next);
        self.offset.set(0);
        self.synced_offset.set(0);

        let mut framed = Vec::with_capacity(state.len() + 8);
        encode_frame(&state, &mut framed);
        drop(state);
        let tmp = self.dir.join(format!("snap-{next:020}.tmp"));
        let snap = monoio::fs::OpenOptions::new()
            .mode(FILE_MODE)
            .create(true)
            .truncate(true)
            .write(true)
            .open(&tmp)
            .await?;
        let (result, _) = snap.write_all_at(framed, 0).await;
        result?;
        snap.sync_all().await?;
        snap.close().await?;
        std::fs::rename(&tmp, snapshot_path(&self.dir, next))?;
        sync_dir(&self.dir)?;
        let (snapshots, segments) = list(&self.dir)?;
        for n in snapshots.into_iter().filter(|&n| n < next) {
            std::fs::remove_file(snapshot_path(&self.dir, n))?;
        }
        for n in segments.into_iter().filter(|&n| n < next.min(keep_from_segment)) {
            std::fs::remove_file(segment_path(&self.dir, n))?;
        }
        let mut s = self.stats.get();
        s.snapshots += 1;
        self.stats.set(s);
        Ok(())
    }
}

/// Reads the log in `dir`: the newest snapshot, then every record after it, handed to the
/// callbacks in order. Returns what it found, the newest segment's number and the length of
/// its good records (a torn tail past it is not cut here: the caller decides).
fn read<E: std::fmt::Display>(
    dir: &Path,
    torn_tail: TornTail,
    apply_snapshot: &mut impl FnMut(&[u8]) -> Result<(), E>,
    apply_record: &mut impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(Recovery, u64, u64), JournalError> {
    let io_err = |path: &Path, source: io::Error| JournalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let (snapshots, mut segments) = list(dir).map_err(|e| io_err(dir, e))?;
    let mut recovery = Recovery {
        snapshot: None,
        torn_bytes: 0,
        records: 0,
    };
    // The newest snapshot that reads whole; an unreadable one was never renamed into
    // place (rename is atomic), so it is damage, not a crash.
    let base = match snapshots.last() {
        Some(&n) => {
            let path = snapshot_path(dir, n);
            let bytes = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
            let payload = match FrameReader::new(&bytes, SNAPSHOT_BYTES_MAX).next() {
                Some(Ok(payload)) => payload,
                _ => return Err(JournalError::Corrupt { path, offset: 0 }),
            };
            apply_snapshot(payload).map_err(|reason| JournalError::Replay {
                path: path.clone(),
                offset: 0,
                reason: reason.to_string(),
            })?;
            recovery.snapshot = Some(payload.to_vec());
            n
        }
        None => 0,
    };
    segments.retain(|&n| n >= base);
    if segments.is_empty() {
        segments.push(base);
    }
    let last = *segments.last().expect("at least one segment");
    let mut last_len = 0;
    for &n in &segments {
        let path = segment_path(dir, n);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err(&path, e)),
        };
        let mut reader = FrameReader::new(&bytes, torn_tail.record_bytes_max());
        loop {
            let at = reader.offset() as u64;
            let Some(frame) = reader.next() else { break };
            match frame {
                Ok(payload) => {
                    apply_record(payload).map_err(|reason| JournalError::Replay {
                        path: path.clone(),
                        offset: at,
                        reason: reason.to_string(),
                    })?;
                    recovery.records += 1;
                }
                // A crash mid-write leaves a bad frame with nothing good after it, at the
                // end of the newest segment; it was never acknowledged, so it is cut off.
                Err(e)
                    if n == last
                        && torn_tail.cuts(&e)
                        && !good_frame_after(&bytes, e.offset(), torn_tail.record_bytes_max()) =>
                {
                    recovery.torn_bytes = (bytes.len() - e.offset()) as u64;
                    break;
                }
                Err(e) => {
                    return Err(JournalError::Corrupt {
                        path,
                        offset: e.offset() as u64,
                    })
                }
            }
        }
        if n == last {
            last_len = reader.offset() as u64;
        }
    }
    Ok((recovery, last, last_len))
}

pub(super) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:020}.log"))
}

fn snapshot_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("snap-{n:020}.bin"))
}

/// Snapshot and segment numbers in `dir`, each ascending. Leftover `.tmp` files (a crash
/// mid-snapshot) are removed.
fn list(dir: &Path) -> io::Result<(Vec<u64>, Vec<u64>)> {
    let mut snapshots = Vec::new();
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let number = |prefix: &str, suffix: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
                .and_then(|n| n.parse::<u64>().ok())
        };
        if let Some(n) = number("snap-", ".bin") {
            snapshots.push(n);
        } else if let Some(n) = number("seg-", ".log") {
            segments.push(n);
        } else if number("snap-", ".tmp").is_some() {
            std::fs::remove_file(entry.path())?;
        }
    }
    snapshots.sort_unstable();
    segments.sort_unstable();
    Ok((snapshots, segments))
}

/// The length of segment `n` in `dir`; 0 if it is gone.
pub fn segment_len(dir: &Path, n: u64) -> u64 {
    std::fs::metadata(segment_path(dir, n)).map_or(0, |m| m.len())
}

/// The segment numbers in `dir`, ascending, touching nothing (for readers other than the
/// log's owner).
pub(super) fn segment_numbers(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let number = name
            .to_str()
            .and_then(|n| n.strip_prefix("seg-"))
            .and_then(|r| r.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        segments.extend(number);
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Makes a directory's entries (new files, renames) durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> crate::runtime::executor::ShardRuntime {
        crate::runtime::executor::build(64).expect("a runtime").0
    }

    fn reopen(dir: &Path) -> (Journal, Vec<Vec<u8>>, Option<Vec<u8>>, Recovery) {
        let mut records = Vec::new();
        let mut snapshot = None;
        let (journal, recovery) = Journal::open(
            dir,
            |s| {
                snapshot = Some(s.to_vec());
                Ok::<(), String>(())
            },
            |r| {
                records.push(r.to_vec());
                Ok(())
            },
        )
        .unwrap();
        (journal, records, snapshot, recovery)
    }

    #[test]
    fn records_survive_reopen_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let (j, records, _, _) = reopen(dir.path());
            assert!(records.is_empty());
            for i in 0..10u8 {
                j.append(|out| out.extend_from_slice(&[i; 5]));
            }
            assert_eq!(j.write_group().await.unwrap(), 10);
            j.sync().await.unwrap();
            assert_eq!((j.written(), j.synced()), (10, 10));
        });
        // A crash mid-write: half a record at the end.
        let seg = segment_path(dir.path(), 0);
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&seg, &bytes).unwrap();
        runtime().block_on(async {
            let (j, records, _, recovery) = reopen(dir.path());
            assert_eq!(records.len(), 10);
            assert_eq!(records[3], vec![3u8; 5]);
            assert_eq!(recovery.torn_bytes, 6);
            // Appends continue after the cut, not after the garbage.
            j.append(|out| out.extend_from_slice(b"after"));
            j.write_group().await.unwrap();
        });
        runtime().block_on(async {
            let (_, records, _, recovery) = reopen(dir.path());
            assert_eq!(records.len(), 11);
            assert_eq!(records[10], b"after");
            assert_eq!(recovery.torn_bytes, 0);
        });
    }

    #[test]
    fn a_snapshot_replaces_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        runtime().block_on(async {
            let (j, _, _, _) = reopen(dir.path());
            j.append(|out| out.extend_from_slice(b"old"));
            j.write_group().await.unwrap();
            assert!(j.wants_snapshot(8));
            j.snapshot(b"state-after-old".to_vec(), u64::MAX).await.unwrap();
            j.append(|out| out.extend_from_slice(b"new"));
            j.write_group().await.unwrap();
        });
        runtime().block_on(async {
            let (_, records, snapshot, _) = reopen(dir.path());
            assert_eq!(snapshot.as_deref(), Some(&b"state-after-old"[..]));
            assert_eq!(records, vec![b"new".to_vec()]);
            assert!(!segment_path(dir.path(), 0).exists());
        });
    }

    #[test]
    fn damage_before_the_last_segment_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = Vec::new();
        encode_frame(b"good", &mut bytes);
        encode_frame(b"good", &mut bytes);
        bytes[FRAME_HEADER_FOR_TEST + 1] ^= 0xFF;
        std::fs::write(segment_path(dir.path(), 0), &bytes).unwrap();
        std::fs::write(segment_path(dir.path(), 1), b"").unwrap();
        let err = Journal::open(dir.path(), |_| Ok::<(), String>(()), |_| Ok(()))
            .err()
            .unwrap();
        assert!(matches!(err, JournalError::Corrupt { offset: 0, .. }), "{err}");
    }

    const FRAME_HEADER_FOR_TEST: usize = shardhub_core::journal::FRAME_HEADER_BYTES;
}

//! Reads a shard's log from a position forward, on a plain thread (the relay's), with std::fs:
//! the records between where it stands and the shard's acknowledged mark, each with where it
//! starts and ends. The shard keeps writing the same files through io_uring; only bytes it has
//! acknowledged are read, and acknowledged bytes never change.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use shardhub_core::journal::{FrameError, FrameReader, FRAME_HEADER_BYTES};

use super::journal::{segment_numbers, segment_path, RECORD_BYTES_MAX};
use super::outbox_mark::LogPosition;

/// Bytes read from the file at a time: one record of the largest size fits.
const READ_BYTES_MAX: usize = RECORD_BYTES_MAX + FRAME_HEADER_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum LogTailError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: acknowledged record at offset {offset} does not read: {reason}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: FrameError,
    },
}

pub struct LogTail {
    dir: PathBuf,
    at: LogPosition,
    file: Option<File>,
    buf: Vec<u8>,
}

/// What one read found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct TailRead {
    pub records: usize,
    /// Segments that no longer existed when the reader reached them.
    pub skipped_segments: u64,
}

impl LogTail {
    pub fn new(dir: &Path, from: LogPosition) -> LogTail {
        LogTail {
            dir: dir.to_path_buf(),
            at: from,
            file: None,
            buf: Vec::new(),
        }
    }

    /// Where the next record starts.
    pub fn position(&self) -> LogPosition {
        self.at
    }

    /// Goes back (or forward) to `to`, as after a failed publish.
    pub fn seek(&mut self, to: LogPosition) {
        if to.segment != self.at.segment {
            self.file = None;
        }
        self.at = to;
    }

    /// Hands `f` each record from the current position up to `upto` (the acknowledged mark),
    /// at most `records_max`, with its start and end.
    pub fn read(
        &mut self,
        upto: LogPosition,
        records_max: usize,
        mut f: impl FnMut(&[u8], LogPosition, LogPosition),
    ) -> Result<TailRead, LogTailError> {
        let mut done = TailRead::default();
        while done.records < records_max && self.at < upto {
            let path = segment_path(&self.dir, self.at.segment);
            // An older segment is complete: read it to its end, then go on to the next.
            let end = if self.at.segment < upto.segment {
                match self.open(&path)? {
                    Some(len) => len,
                    None => {
                        done.skipped_segments += 1 + self.skip_to_next(upto)?;
                        continue;
                    }
                }
            } else {
                if self.open(&path)?.is_none() {
                    return Ok(done);
                }
                upto.offset
            };
            if self.at.offset >= end {
                done.skipped_segments += self.skip_to_next(upto)?;
                continue;
            }
            let got = self.fill(&path, end)?;
            let mut reader = FrameReader::new(&self.buf[..got], RECORD_BYTES_MAX);
            let start = self.at;
            while done.records < records_max {
                let from = reader.offset() as u64;
                match reader.next() {
                    None => break,
                    Some(Ok(record)) => {
                        let at = LogPosition {
                            segment: start.segment,
                            offset: start.offset + from,
                        };
                        let next = LogPosition {
                            segment: start.segment,
                            offset: start.offset + reader.offset() as u64,
                        };
                        f(record, at, next);
                        done.records += 1;
                    }
                    // The read stopped inside a record: the next read starts at it.
                    Some(Err(FrameError::Truncated { .. })) if start.offset + (got as u64) < end => break,
                    Some(Err(reason)) => {
                        return Err(LogTailError::Corrupt {
                            path,
                            offset: start.offset + from,
                            reason,
                        })
                    }
                }
            }
            self.at.offset = start.offset + reader.offset() as u64;
        }
        Ok(done)
    }

    /// Opens the current segment if it is not open; its length, or `None` if it is gone.
    fn open(&mut self, path: &Path) -> Result<Option<u64>, LogTailError> {
        let io_err = |source| LogTailError::Io {
            path: path.to_path_buf(),
            source,
        };
        if self.file.is_none() {
            match File::open(path) {
                Ok(file) => self.file = Some(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err(e)),
            }
        }
        let file = self.file.as_ref().expect("opened above");
        Ok(Some(file.metadata().map_err(io_err)?.len()))
    }

    /// Reads from the current position up to `end` (at most one buffer); returns the bytes read.
    fn fill(&mut self, path: &Path, end: u64) -> Result<usize, LogTailError> {
        let want = (end - self.at.offset).min(READ_BYTES_MAX as u64) as usize;
        self.buf.resize(want, 0);
        let file = self.file.as_ref().expect("opened before filling");
        file.read_exact_at(&mut self.buf[..want], self.at.offset)
            .map_err(|source| LogTailError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(want)
    }

    /// Moves to the oldest segment after the current one that exists (or the acknowledged
    /// one); returns how many numbers in between had no file.
    fn skip_to_next(&mut self, upto: LogPosition) -> Result<u64, LogTailError> {
        let numbers = segment_numbers(&self.dir).map_err(|source| LogTailError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let next = numbers
            .into_iter()
            .find(|&n| n > self.at.segment)
            .unwrap_or(upto.segment)
            .min(upto.segment);
        let skipped = next - self.at.segment - 1;
        self.seek(LogPosition {
            segment: next,
            offset: 0,
        });
        Ok(skipped)
    }
}

#[cfg(test)]
mod tests {
    use shardhub_core::journal::encode_frame;

    use super::*;

    /// Writes segment `n` holding `records`, returning where each record ends.
    fn segment(dir: &Path, n: u64, records: &[&[u8]]) -> Vec<u64> {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for r in records {
            encode_frame(r, &mut bytes);
            ends.push(bytes.len() as u64);
        }
        std::fs::write(segment_path(dir, n), &bytes).unwrap();
        ends
    }

    fn read_all(tail: &mut LogTail, upto: LogPosition, max: usize) -> (Vec<(Vec<u8>, LogPosition)>, TailRead) {
        let mut got = Vec::new();
        let read = tail.read(upto, max, |r, at, _| got.push((r.to_vec(), at))).unwrap();
        (got, read)
    }

    #[test]
    fn reads_across_segments_up_to_the_mark_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let first = segment(dir.path(), 1, &[b"a", b"bb"]);
        let second = segment(dir.path(), 2, &[b"ccc", b"dddd", b"eeeee"]);
        let mut tail = LogTail::new(dir.path(), LogPosition { segment: 1, offset: 0 });
        // The mark is after "dddd": "eeeee" is written but not committed.
        let upto = LogPosition {
            segment: 2,
            offset: second[1],
        };
        let (got, read) = read_all(&mut tail, upto, 100);
        let texts: Vec<&[u8]> = got.iter().map(|(r, _)| r.as_slice()).collect();
        assert_eq!(texts, [&b"a"[..], b"bb", b"ccc", b"dddd"]);
        assert_eq!(
            got[1].1,
            LogPosition {
                segment: 1,
                offset: first[0]
            }
        );
        assert_eq!(got[2].1, LogPosition { segment: 2, offset: 0 });
        assert_eq!(read.skipped_segments, 0);
        assert_eq!(tail.position(), upto);
        // Going back re-reads the same records at the same positions.
        tail.seek(LogPosition {
            segment: 1,
            offset: first[0],
        });
        let (again, _) = read_all(&mut tail, upto, 2);
        assert_eq!(again, got[1..3].to_vec());
    }

    #[test]
    fn a_segment_gone_before_it_was_read_is_counted_and_passed() {
        let dir = tempfile::tempdir().unwrap();
        segment(dir.path(), 3, &[b"x"]);
        let ends = segment(dir.path(), 5, &[b"y"]);
        let mut tail = LogTail::new(dir.path(), LogPosition { segment: 1, offset: 0 });
        let upto = LogPosition {
            segment: 5,
            offset: ends[0],
        };
        let (got, read) = read_all(&mut tail, upto, 100);
        assert_eq!(got.len(), 2);
        // Segments 1, 2 and 4 were never there to read.
        assert_eq!(read.skipped_segments, 3);
    }

    #[test]
    fn damage_below_the_mark_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let ends = segment(dir.path(), 1, &[b"good", b"soon bad"]);
        let path = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let mut tail = LogTail::new(dir.path(), LogPosition { segment: 1, offset: 0 });
        let upto = LogPosition {
            segment: 1,
            offset: ends[1],
        };
        let result = tail.read(upto, 100, |_, _, _| {});
        assert!(matches!(result, Err(LogTailError::Corrupt { offset, .. }) if offset == ends[0]));
    }
}

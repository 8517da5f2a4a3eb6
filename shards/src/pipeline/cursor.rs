//! The relay's durable position in one shard's log: `relay-position` in the log's directory,
//! `<segment> <offset>` in text, replaced atomically (written aside, fsynced, renamed, the
//! directory fsynced). It only moves after Kafka acknowledged everything before it, so after
//! any crash the relay resumes there: events may be sent twice, never skipped.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::storage::LogPosition;

const FILE: &str = "relay-position";

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The saved position, or `None` if the relay never saved one here.
pub fn load(dir: &Path) -> io::Result<Option<LogPosition>> {
    let text = match std::fs::read_to_string(path(dir)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut parts = text.split_ascii_whitespace().map(str::parse::<u64>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(segment)), Some(Ok(offset)), None) => Ok(Some(LogPosition { segment, offset })),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: expected `<segment> <offset>`, found {text:?}", path(dir).display()),
        )),
    }
}

pub fn save(dir: &Path, at: LogPosition) -> io::Result<()> {
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    writeln!(file, "{} {}", at.segment, at.offset)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path(dir))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_position_loads_back_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let at = LogPosition {
            segment: 3,
            offset: 4096,
        };
        save(dir.path(), at).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(at));
        std::fs::write(path(dir.path()), "3 x\n").unwrap();
        assert!(load(dir.path()).is_err());
    }
}

//! The dead-letter file: writes the store cannot make and the memory buffer
//! cannot hold wait here, in order, until the store recovers. Each record is
//! a 4-byte little-endian length, an 8-byte FNV-1a checksum, and
//! the postcard-encoded write. A torn record at the end (a crash mid-append)
//! is dropped with a warning; anything before it is replayed.

use crate::model::Write;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

pub struct DeadLetter {
    path: PathBuf,
    max_bytes: u64,
    sync: bool,
    file: Option<File>,
    /// Bytes in the file.
    written: u64,
    /// Bytes already handed back for replay.
    read: u64,
    /// A failed append could not be cut back off the file: it takes no
    /// more (a partial record would hide every later one from replay).
    broken: bool,
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const HEADER: u64 = 12;

impl DeadLetter {
    /// Opens the file at `path`; what it holds from an earlier run is
    /// replayed first.
    pub fn open(path: &Path, max_bytes: u64, sync: bool) -> std::io::Result<DeadLetter> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)?;
        let written = file.metadata()?.len();
        Ok(DeadLetter {
            path: path.to_owned(),
            max_bytes,
            sync,
            file: Some(file),
            written,
            read: 0,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Nothing left to replay.
    pub fn is_drained(&self) -> bool {
        self.read >= self.written
    }

    pub fn bytes(&self) -> u64 {
        self.written - self.read
    }

    /// Where replay stands: the next [`DeadLetter::read_chunk`] starts here.
    pub fn read_offset(&self) -> u64 {
        self.read
    }

    /// Replay goes back to `offset` (an earlier [`DeadLetter::read_offset`]):
    /// what was read from there on is read again.
    pub fn rewind(&mut self, offset: u64) {
        self.read = offset.min(self.read);
    }

    pub fn has_room_for(&self, write: &Write) -> bool {
        !self.broken && self.written + HEADER + write.weight() as u64 <= self.max_bytes
    }

    /// The file cannot take a typical write any more.
    pub fn is_full(&self) -> bool {
        self.broken || self.written + 4096 >= self.max_bytes
    }

    pub fn append(&mut self, write: &Write) -> std::io::Result<()> {
        let body = postcard::to_stdvec(write).map_err(std::io::Error::other)?;
        let (sync, written) = (self.sync, self.written);
        let file = self.file()?;
        let mut record = Vec::with_capacity(body.len() + HEADER as usize);
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(&checksum(&body).to_le_bytes());
        record.extend_from_slice(&body);
        let appended = file.write_all(&record).and_then(|()| match sync {
            true => file.sync_data(),
            false => Ok(()),
        });
        if let Err(e) = appended {
            // Part of the record may be in the file (a full disk), or all of
            // it without its sync: cut it off, or the next record would sit
            // behind bytes replay cannot frame, and the caller keeps the
            // write elsewhere.
            if file.set_len(written).is_err() {
                self.broken = true;
            }
            return Err(e);
        }
        self.written += record.len() as u64;
        Ok(())
    }

    fn file(&mut self) -> std::io::Result<&mut File> {
        if self.file.is_none() {
            self.file = Some(
                OpenOptions::new()
                    .create(true)
                    .read(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        self.file
            .as_mut()
            .ok_or_else(|| std::io::Error::other("dead-letter file not open"))
    }

    /// Up to `max` writes from where replay stands, in order.
    pub fn read_chunk(&mut self, max: usize) -> std::io::Result<Vec<Write>> {
        let mut out = Vec::new();
        let (mut at, end) = (self.read, self.written);
        let file = self.file()?;
        file.seek(SeekFrom::Start(at))?;
        while out.len() < max && at < end {
            let mut header = [0u8; HEADER as usize];
            if at + HEADER > end || file.read_exact(&mut header).is_err() {
                tracing::warn!(at, "dead-letter file ends in a torn record; dropping it");
                at = end;
                break;
            }
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as u64;
            let sum = u64::from_le_bytes(header[4..12].try_into().unwrap_or_default());
            let mut body = vec![0u8; len as usize];
            if at + HEADER + len > end || file.read_exact(&mut body).is_err() {
                tracing::warn!(at, "dead-letter file ends in a torn record; dropping it");
                at = end;
                break;
            }
            if checksum(&body) != sum {
                return Err(std::io::Error::other(format!(
                    "record at byte {at} fails its checksum"
                )));
            }
            let write = postcard::from_bytes(&body).map_err(std::io::Error::other)?;
            out.push(write);
            at += HEADER + len;
        }
        self.read = at;
        Ok(out)
    }

    /// Everything was replayed and committed: empty the file.
    pub fn clear(&mut self) -> std::io::Result<()> {
        let file = self.file()?;
        file.set_len(0)?;
        file.sync_all()?;
        self.written = 0;
        self.read = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(n: u32) -> Write {
        Write::Archived {
            room: format!("r{n}"),
            at: u64::from(n),
        }
    }

    #[test]
    fn keeps_order_and_drops_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("tr-dl-{}", std::process::id()));
        let path = dir.join("dead.letter");
        let _ = std::fs::remove_file(&path);
        let mut dl = DeadLetter::open(&path, 1 << 20, false).unwrap();
        for n in 0..5 {
            dl.append(&write(n)).unwrap();
        }
        // A crash in the middle of the sixth append.
        drop(dl);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let mut dl = DeadLetter::open(&path, 1 << 20, false).unwrap();
        let first = dl.read_chunk(3).unwrap();
        let rest = dl.read_chunk(10).unwrap();
        assert_eq!(first, (0..3).map(write).collect::<Vec<_>>());
        assert_eq!(rest, (3..5).map(write).collect::<Vec<_>>());
        assert!(dl.is_drained());
        dl.clear().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        std::fs::remove_dir_all(dir).ok();
    }
}

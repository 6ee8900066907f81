//! One server per data dir. A second `serve` on the same data would recover
//! the same rooms and log beside the first: two histories in one log. The
//! server holds an exclusive lock on `<data_dir>/tickroom.lock` (and on
//! `<database>.lock` when the database lives elsewhere) for as long as it
//! runs; the file says who holds it, so a second server's refusal can name
//! the holder. The kernel drops the lock with the process, kill -9 included,
//! so a stale file never blocks a restart. Readers (`replay`, `export`, the
//! history API) take no lock: they open the database read-only.

use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub struct DataLock {
    files: Vec<(PathBuf, File)>,
}

impl DataLock {
    /// Locks `data_dir` (and `db` when it is not inside it), or says who
    /// holds it.
    pub fn acquire(data_dir: &Path, db: &Path) -> Result<DataLock> {
        let mut paths = vec![data_dir.join("tickroom.lock")];
        if db.parent() != Some(data_dir) {
            let mut name = db.as_os_str().to_owned();
            name.push(".lock");
            paths.push(PathBuf::from(name));
        }
        let mut files = Vec::new();
        for path in paths {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(&path)
                .with_context(|| format!("opening the lock file {}", path.display()))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    bail!(
                        "{} is in use by another tickroom server ({}); stop it first, or give this one another data dir (replay, export and the history API read a live store without stopping it)",
                        path.display(),
                        if holder.is_empty() {
                            "it has not said who it is yet"
                        } else {
                            holder
                        }
                    );
                }
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking {}", path.display()));
                }
            }
            files.push((path, file));
        }
        let lock = DataLock { files };
        lock.describe(&serde_json::json!({"pid": std::process::id(), "state": "starting"}))?;
        Ok(lock)
    }

    /// Writes who holds the lock (pid, addresses) into the lock files.
    pub fn describe(&self, holder: &serde_json::Value) -> Result<()> {
        let text = format!("{holder}\n");
        for (path, file) in &self.files {
            let mut file: &File = file;
            file.set_len(0)
                .and_then(|()| file.seek(SeekFrom::Start(0)))
                .and_then(|_| file.write_all(text.as_bytes()))
                .with_context(|| format!("writing the lock file {}", path.display()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_description() {
        let dir = std::env::temp_dir().join(format!("tickroom-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("tickroom.db");
        let first = DataLock::acquire(&dir, &db).unwrap();
        first
            .describe(&serde_json::json!({"pid": 4242, "http": "127.0.0.1:1"}))
            .unwrap();
        let err = DataLock::acquire(&dir, &db).err().unwrap().to_string();
        assert!(err.contains("in use by another tickroom server"), "{err}");
        assert!(err.contains("4242") && err.contains("127.0.0.1:1"), "{err}");
        drop(first);
        DataLock::acquire(&dir, &db).expect("free again once the holder is gone");
        std::fs::remove_dir_all(&dir).ok();
    }
}

//! The SQLite file under a running store: if it is removed or replaced (a wiped volume, a
//! restore over a live server), writes must stop rather than go to the unlinked file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// The database file as opened: its path and identity (device, inode).
#[derive(Debug)]
pub(super) struct DatabaseFile {
    path: PathBuf,
    identity: (u64, u64),
    lost: AtomicBool,
}

impl DatabaseFile {
    /// The file at `path`, as it is now.
    pub(super) fn open(path: PathBuf) -> anyhow::Result<Self> {
        let identity = identity(&path)
            .map_err(|e| anyhow::anyhow!("inspect the database file {}: {e}", path.display()))?;
        Ok(Self {
            path,
            identity,
            lost: AtomicBool::new(false),
        })
    }

    /// An error when the file is no longer the one opened (logged once, when first seen).
    pub(super) fn check(&self) -> anyhow::Result<()> {
        if !self.lost.load(Ordering::Relaxed) {
            match identity(&self.path) {
                Ok(now) if now == self.identity => return Ok(()),
                found => {
                    if !self.lost.swap(true, Ordering::Relaxed) {
                        let what = match found {
                            Ok(_) => "was replaced by another file".to_owned(),
                            Err(e) => format!("is gone ({e})"),
                        };
                        tracing::error!(
                            path = %self.path.display(),
                            "the SQLite database file {what} while the server ran: writes stop; \
                             restore the file and restart"
                        );
                    }
                }
            }
        }
        anyhow::bail!(
            "the database file {} was removed or replaced while the server ran",
            self.path.display()
        )
    }
}

#[cfg(unix)]
fn identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    // Without inodes, only a removed file is seen.
    std::fs::metadata(path).map(|_| (0, 0))
}

//! The data folder of the embedded default: private to this user, and never mistaken for a
//! fresh install once an earlier run has left its secrets there.

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// What an earlier run leaves in the data folder besides the database.
const EARLIER_RUN: &[&str] = &["jwt_secret", "officialaccount", "sandbox-keys"];

/// Creates the data folder (0700) or tightens an existing one and everything in it: folders
/// to 0700, files to 0600. Says once what it had to tighten.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    create_private_dir(dir)?;
    let mut tightened = Vec::new();
    tighten(dir, &mut tightened)?;
    if !tightened.is_empty() {
        tracing::warn!(
            dir = %dir.display(),
            count = tightened.len(),
            first = %tightened[0].display(),
            "the data folder was readable by others: made it private (0700 folders, 0600 files)"
        );
    }
    Ok(())
}

/// A folder only its owner can enter.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("create data dir {}", dir.display()))
}

#[cfg(unix)]
fn tighten(path: &Path, tightened: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let metadata =
        std::fs::symlink_metadata(path).with_context(|| format!("inspect {}", path.display()))?;
    if metadata.file_type().is_symlink() {
        return Ok(());
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        // The owner keeps what it had; group and others lose everything.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
            .with_context(|| format!("make {} private", path.display()))?;
        tightened.push(path.to_owned());
    }
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("list {}", path.display()))? {
            tighten(&entry?.path(), tightened)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_: &Path, _: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    Ok(())
}

/// What of an earlier run the data folder holds (empty for a fresh install).
pub fn earlier_run(dir: &Path) -> Vec<&'static str> {
    EARLIER_RUN
        .iter()
        .copied()
        .filter(|name| std::fs::symlink_metadata(dir.join(name)).is_ok())
        .collect()
}

//! What the process sets for itself at start: private file modes and the open-file limit.

use std::sync::OnceLock;

/// Files this process creates are its owner's alone (0600, folders 0700): the data folder
/// holds the database, keys and secrets.
pub fn restrict_file_modes() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Raises the soft open-file limit to the hard one (once per process; logged once) and
/// returns the limit in force, or `None` where there is none.
pub fn open_file_limit() -> Option<u64> {
    static LIMIT: OnceLock<Option<u64>> = OnceLock::new();
    *LIMIT.get_or_init(raise_open_file_limit)
}

#[cfg(unix)]
fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else {
        return None;
    };
    // An unlimited hard limit is refused by Linux above nr_open; 1 Mi is what it allows.
    let target = hard.unwrap_or(1 << 20);
    if target <= soft {
        return Some(soft);
    }
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum: hard,
        },
    ) {
        Ok(()) => {
            tracing::info!(from = soft, to = target, "raised the open-file limit");
            Some(target)
        }
        Err(e) => {
            tracing::warn!(soft, hard = ?hard, error = %e, "could not raise the open-file limit");
            Some(soft)
        }
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<u64> {
    None
}

//! Secrets the embedded default makes for itself on first start and keeps in the data dir.

use anyhow::Context;
use rand::Rng;
use rand::distr::Alphanumeric;
use std::path::Path;

/// Reads the secret in `path`, or writes a fresh random one there (mode 0600) first.
pub fn load_or_create(path: &Path) -> anyhow::Result<String> {
    load_or_generate(path, || {
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(48)
            .map(char::from)
            .collect()
    })
}

/// Reads the value kept in `path`, or, only when the file does not exist yet, writes the
/// one `generate` makes (mode 0600). Any other failure stops: a secret that exists but
/// cannot be read must never be replaced (that would end every session, or change an
/// identity others rely on).
pub fn load_or_generate(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!(
                    "{} is not UTF-8 text; restore it or remove it",
                    path.display()
                )
            })?;
            let value = text.trim();
            anyhow::ensure!(
                !value.is_empty(),
                "{} is empty; restore it or remove it",
                path.display()
            );
            Ok(value.to_owned())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = generate();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
            }
            write_private(path, value.as_bytes())?;
            Ok(value)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("read {}", path.display()))),
    }
}

/// Writes a file only its owner can read.
pub fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("write {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_made_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/jwt_secret");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 48);
        assert_eq!(load_or_create(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_secret_that_cannot_be_read_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be: reading fails (also for root).
        let unreadable = dir.path().join("jwt_secret");
        std::fs::create_dir(&unreadable).unwrap();
        let error = format!("{:#}", load_or_create(&unreadable).unwrap_err());
        assert!(error.contains(&unreadable.display().to_string()), "{error}");
        assert!(unreadable.is_dir(), "the directory was replaced");

        for (name, contents) in [("binary", &b"\xff\xfe secret"[..]), ("empty", &b"  \n"[..])] {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            let error = format!("{:#}", load_or_create(&path).unwrap_err());
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                contents,
                "{name} was overwritten"
            );
        }
    }
}

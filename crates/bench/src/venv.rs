//! Python virtual environments for the bench's peers, made under `bench/` on first use
//! with their packages from PyPI.

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// `bench/<name>/bin`, holding a Python for which `check` (a Python statement) runs,
/// installing `packages` first if it does not.
pub fn bin_dir(name: &str, packages: &[&str], check: &str) -> anyhow::Result<PathBuf> {
    let venv = crate::peer::repo_root().join("bench").join(name);
    let bin = venv.join("bin");
    let works = |dir: &Path| {
        Command::new(dir.join("python"))
            .args(["-c", check])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&bin) {
        return Ok(bin);
    }
    println!(
        "    installing {} into {}",
        packages.join(" "),
        venv.display()
    );
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .context("python3 -m venv")?;
    if !made.success() {
        bail!("python3 -m venv failed");
    }
    let installed = Command::new(bin.join("pip"))
        .args(["install", "-q", "--disable-pip-version-check"])
        .args(packages)
        .status()
        .with_context(|| format!("pip install {}", packages.join(" ")))?;
    if !installed.success() || !works(&bin) {
        bail!("pip install {} failed", packages.join(" "));
    }
    Ok(bin)
}

//! The pages in a real headless browser: runs the node tests in `tests/browser/`
//! (playwright-core driving Debian's Chromium) against this build's `chatmall` binary.
//!
//! Skipped, saying `SKIPPED browser tests: <why>`, when Chromium, node or the npm packages
//! are missing, unless `CHATMALL_BROWSER_TESTS=require` (CI sets it) makes that a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Why the browser tests cannot run here, if they cannot.
fn missing(dir: &Path) -> Option<String> {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| CHROMIUM.to_owned());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    if !has("node") {
        return Some("no node on PATH".into());
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        if !has("npm") {
            return Some("tests/browser/node_modules is missing and there is no npm".into());
        }
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return Some("`npm ci` in tests/browser failed (offline?)".into());
        }
    }
    None
}

#[test]
fn pages_work_in_a_headless_browser() {
    let root = repo_root();
    let dir = root.join("tests/browser");
    if let Some(why) = missing(&dir) {
        if std::env::var("CHATMALL_BROWSER_TESTS").as_deref() == Ok("require") {
            panic!("browser tests required but cannot run: {why}");
        }
        // Straight to stderr, past the test harness's capture, so a skip is never silent.
        let _ = writeln!(std::io::stderr(), "SKIPPED browser tests: {why}");
        return;
    }
    let status = Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "--test-concurrency=1",
            "--test-timeout=180000",
            "tests/browser/e2e.test.mjs",
            "tests/browser/chat.test.mjs",
            "tests/browser/security.test.mjs",
            "tests/browser/money.test.mjs",
            "tests/browser/console.test.mjs",
        ])
        .current_dir(&root)
        .env("CHATMALL_BIN", env!("CARGO_BIN_EXE_chatmall"))
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the browser tests failed ({status}); screenshots and server logs are in tests/browser/artifacts/"
    );
}

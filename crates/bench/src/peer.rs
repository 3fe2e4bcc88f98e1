//! Benchmark 6: the same callback verify + decrypt with the Python `wechatpayv3` SDK, on
//! the same inputs, in the same run. The SDK goes into `bench/.venv` (gitignored).

use crate::fixtures::Notice;
use crate::report::Row;
use crate::stats::{fmt_duration, per_op_interleaved};
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use wechatpay::notify::parse_notification;

/// The repository root (this crate is `crates/bench`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `bench/.venv/bin/python` with wechatpayv3 installed (made on first use).
fn python() -> anyhow::Result<PathBuf> {
    let bin = crate::venv::bin_dir(".venv", &["wechatpayv3"], "import wechatpayv3.utils")?;
    Ok(bin.join("python"))
}

/// Runs benchmark 6 on `notice`; `keys_dir` holds WeChat's `pub_key.pem`.
pub fn run(notice: &Notice, keys_dir: &Path, quick: bool) -> anyhow::Result<Vec<Row>> {
    let (n, rounds) = if quick { (200, 5) } else { (1_000, 9) };
    let python = python()?;
    let dir = tempfile::tempdir()?;
    std::fs::copy(keys_dir.join("pub_key.pem"), dir.path().join("pub_key.pem"))?;
    let headers: serde_json::Map<String, serde_json::Value> = notice
        .raw_headers
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    std::fs::write(
        dir.path().join("headers.json"),
        serde_json::to_string(&headers)?,
    )?;
    std::fs::write(dir.path().join("body.json"), &notice.body)?;
    std::fs::write(dir.path().join("apiv3_key"), &notice.apiv3_raw)?;

    let now = notice.headers.timestamp.parse::<i64>()?;
    let mut ours = || {
        parse_notification(
            &notice.verifier,
            &notice.apiv3,
            &notice.headers,
            notice.body.as_bytes(),
            now,
        )
        .expect("the callback parses");
    };
    let ours = per_op_interleaved(n, rounds, &mut [&mut ours])[0];

    let script = repo_root().join("bench/peer_verify.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(dir.path())
        .arg(n.to_string())
        .arg(rounds.to_string())
        .output()
        .context("run bench/peer_verify.py")?;
    if !out.status.success() {
        bail!(
            "peer_verify.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let peer = Duration::from_secs_f64(answer["per_op_s"].as_f64().context("per_op_s")?);
    let version = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('wechatpayv3'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    Ok(vec![
        Row::info(
            "6 peer",
            "callback verify + decrypt + parse, per callback",
            format!("{}/op", fmt_duration(ours)),
        )
        .vs(
            format!("Python wechatpayv3 {version} {}/op", fmt_duration(peer)),
            ours.as_secs_f64() / peer.as_secs_f64(),
        ),
    ])
}

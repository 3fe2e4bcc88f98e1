//! The real `chatmall` binary as a child process (live mode, pointed at a sandbox in this
//! process), and its memory as the kernel counts it.

use crate::fixtures::World;
use anyhow::{Context as _, bail};
use chatmall::config::{ENV_PREFIX, env_key};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process; killed on drop.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    log: PathBuf,
}

/// The `chatmall` binary next to this one (same profile), built if it is missing or older.
pub fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("the bench binary has a directory")?;
    let path = dir.join("chatmall");
    // Cargo only builds what `-p chatmall-bench` needs, which is the server's library: build
    // its binary too (a no-op when fresh), with the same profile as this one.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-q", "-p", "chatmall", "--bin", "chatmall"]);
    if dir.ends_with("release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .context("run cargo build for the chatmall binary")?;
    if !status.success() || !path.is_file() {
        bail!("could not build {}", path.display());
    }
    Ok(path)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl ServerProcess {
    /// Starts the server on `db_url`, trusting `world`'s keys, with WeChat Pay at
    /// `wechatpay_url` and the settings of the `config` file (if any) under the
    /// environment's, and waits for `/health`.
    pub async fn start(
        bin: &Path,
        dir: &Path,
        world: &World,
        db_url: &str,
        wechatpay_url: &str,
        config: Option<&Path>,
        extra_env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let env: Vec<(String, String)> = [
            ("SERVER__PORT", port.to_string()),
            ("SERVER__DATA_DIR", dir.join("data").display().to_string()),
            ("DATABASE__URL", db_url.to_owned()),
            ("AUTH__JWT_SECRET", crate::JWT_SECRET.to_owned()),
            // The compensation jobs must not query the benchmark's open orders meanwhile.
            ("JOBS__MISSED_PAYMENT_DELAY_SECS", "86400".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("{ENV_PREFIX}{k}"), v))
        .chain([(env_key("wechatpay", "mode"), "live".to_owned())])
        .chain(
            world
                .keys
                .merchant_settings(&world.keys_dir, wechatpay_url)
                .into_iter()
                .map(|(key, value)| (env_key("wechatpay", key), value)),
        )
        .chain(extra_env.iter().cloned())
        .collect();
        let log = dir.join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log)?;
        let config = config.unwrap_or(Path::new("/nonexistent/chatmall.toml"));
        let child = Command::new(bin)
            .arg("--config")
            .arg(config)
            .arg("serve")
            .envs(env)
            // What production would log: requests and errors, not per-query chatter.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("start the chatmall binary")?;
        let server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::builder().no_proxy().build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{}/health", server.base_url)).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&server.log).unwrap_or_default();
                bail!("the server did not come up; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// (VmRSS, VmHWM) in KiB, from /proc/PID/status.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid())
    }
}

/// (VmRSS, VmHWM) of process `pid`, in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Only the child this benchmark started, by its own handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

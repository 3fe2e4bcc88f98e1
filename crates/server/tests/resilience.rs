//! The real binary against a failing environment and hostile clients: a data folder others
//! could read, a lost database, a database removed under a running server or on a read-only
//! volume, secrets that cannot be read, and more half-sent requests than the open-file limit.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a test waits for the server to come up or to notice something.
const DEADLINE: Duration = Duration::from_secs(30);

/// A running `chatmall serve` (or `chatmall sandbox`), its log collected as it goes.
struct Server {
    child: Child,
    base_url: String,
    log: Arc<Mutex<Vec<String>>>,
    http: reqwest::Client,
}

fn command(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chatmall"));
    command
        .args(["--config", "/nonexistent.toml"])
        .args(args)
        .env("CHATMALL__SERVER__DATA_DIR", data_dir)
        .env("CHATMALL__SERVER__PORT", "0")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied());
    command
}

impl Server {
    /// Starts the server and waits until it listens; `Err` with its log if it exits first.
    fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        Server::start_with(data_dir, args, env, |_| {})
    }

    /// [`Server::start`] with the command adjusted first.
    fn start_with(
        data_dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        adjust: impl FnOnce(&mut Command),
    ) -> Result<Server, String> {
        let mut command = command(data_dir, args, env);
        adjust(&mut command);
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // `chatmall listening url=…`, or the sandbox's `… sandbox listening url=…`;
                // kept before the start is reported, so a test reading the log then sees it.
                let url = line
                    .contains(" listening")
                    .then(|| line.split("url=").nth(1))
                    .flatten()
                    .map(|url| url.split_whitespace().next().unwrap_or("").to_owned());
                sink.lock().unwrap().push(line);
                if let Some(url) = url {
                    let _ = url_tx.send(url);
                }
            }
        });
        let started = Instant::now();
        loop {
            if let Ok(url) = url_rx.recv_timeout(Duration::from_millis(50)) {
                return Ok(Server {
                    child,
                    base_url: url,
                    log,
                    http: reqwest::Client::builder().no_proxy().build().unwrap(),
                });
            }
            if let Some(status) = child.try_wait().unwrap() {
                // Let the reader thread drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                return Err(format!(
                    "exited {status}: {}",
                    log.lock().unwrap().join("\n")
                ));
            }
            assert!(started.elapsed() < DEADLINE, "the server did not start");
        }
    }

    fn log_lines_with(&self, text: &str) -> usize {
        self.log_lines_containing(text).len()
    }

    fn log_lines_containing(&self, text: &str) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(text))
            .cloned()
            .collect()
    }

    async fn readyz(&self) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{}/readyz", self.base_url))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn wait_for_readyz(&self, status: u16) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let (now, body) = self.readyz().await;
            if now == status {
                return body;
            }
            assert!(started.elapsed() < DEADLINE, "/readyz stayed {now}: {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks out product 1001 as `user` (a token minted with the data folder's secret).
    async fn place_order(&self, data_dir: &Path, user: &str) -> (u16, serde_json::Value) {
        let secret = std::fs::read_to_string(data_dir.join("jwt_secret")).unwrap();
        let sessions =
            chatmall::session::Sessions::new(secret.trim().as_bytes(), chrono::Duration::days(1));
        let token = sessions.issue(
            &domain::user::UserId::parse(user).unwrap(),
            chrono::Utc::now(),
        );
        let response = self
            .http
            .post(format!("{}/api/v1/sale/place_order", self.base_url))
            .bearer_auth(token)
            .form(&[("productId", "1001")])
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < DEADLINE, "the server did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn all_paths(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_paths(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_everything_in_it_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("notes.txt"), "left by an operator").unwrap();
    std::fs::set_permissions(
        data.join("notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let server = Server::start(&data, &["serve"], &[]).unwrap();
    server.wait_for_readyz(200).await;
    assert_eq!(server.place_order(&data, "oPrivate").await.0, 200);
    server.stop();

    let paths = all_paths(&data);
    for expected in [
        "chatmall.db",
        "jwt_secret",
        "sandbox-keys",
        "officialaccount",
    ] {
        assert!(
            paths.iter().any(|p| p.ends_with(expected)),
            "{expected} in {paths:?}"
        );
    }
    for path in &paths {
        let wanted = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(path), wanted, "{} is {:o}", path.display(), mode(path));
    }
}

#[tokio::test]
async fn a_lost_database_is_not_taken_for_a_fresh_install() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let server = Server::start(&data, &["serve"], &[]).unwrap();
    assert_eq!(server.place_order(&data, "oLost").await.0, 200);
    server.stop();
    for file in ["chatmall.db", "chatmall.db-wal", "chatmall.db-shm"] {
        let _ = std::fs::remove_file(data.join(file));
    }

    let refused = Server::start(&data, &["serve"], &[])
        .err()
        .expect("refused");
    assert!(refused.contains("lost or moved"), "{refused}");
    assert!(refused.contains("--new-database"), "{refused}");
    assert!(
        !data.join("chatmall.db").exists(),
        "no empty database was made"
    );

    let server = Server::start(&data, &["serve", "--new-database"], &[]).unwrap();
    server.wait_for_readyz(200).await;
    server.stop();
}

#[tokio::test]
async fn a_database_removed_under_a_running_server_stops_writes_and_readiness() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let server = Server::start(&data, &["serve"], &[]).unwrap();
    let ready = server.wait_for_readyz(200).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(server.place_order(&data, "oBefore").await.0, 200);

    for file in ["chatmall.db", "chatmall.db-wal", "chatmall.db-shm"] {
        let _ = std::fs::remove_file(data.join(file));
    }
    let body = server.wait_for_readyz(503).await;
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("removed or replaced"),
        "{body}"
    );
    for user in ["oAfter1", "oAfter2", "oAfter3"] {
        let (status, body) = server.place_order(&data, user).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(body["code"], "0001");
    }
    assert!(
        !data.join("chatmall.db").exists(),
        "nothing made a new file"
    );
    assert_eq!(
        server.log_lines_with("while the server ran: writes stop"),
        1,
        "said once"
    );
    server.stop();
    assert!(Server::start(&data, &["serve"], &[]).is_err());
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_stops_the_start_and_is_kept() {
    for (name, path) in [
        ("jwt_secret", "jwt_secret"),
        ("official-account token", "officialaccount/token"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        // A directory where the file should be: unreadable for root too.
        std::fs::create_dir_all(data.join(path)).unwrap();
        let refused = Server::start(&data, &["serve"], &[]).err().expect(name);
        assert!(refused.contains(path), "{name}: {refused}");
        assert!(data.join(path).is_dir(), "{name} was replaced");
    }
    // Part of a sandbox key set, without its configuration: never regenerated over.
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(data.join("sandbox-keys")).unwrap();
    std::fs::write(data.join("sandbox-keys/apiclient_key.pem"), "kept").unwrap();
    let refused = Server::start(&data, &["serve"], &[])
        .err()
        .expect("refused");
    assert!(refused.contains("part of a sandbox key set"), "{refused}");
    assert_eq!(
        std::fs::read_to_string(data.join("sandbox-keys/apiclient_key.pem")).unwrap(),
        "kept"
    );
}

/// A tmpfs mounted at `dir` (root only), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_owned()))
    }

    fn read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_read_only_data_folder_refuses_the_start() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let Some(volume) = Tmpfs::mount(&data) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the read-only volume test (it mounts a tmpfs as root)"
        );
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED read-only data folder test: cannot mount a tmpfs (not root?)"
        );
        return;
    };
    let server = Server::start(&data, &["serve"], &[]).unwrap();
    server.wait_for_readyz(200).await;
    assert_eq!(server.place_order(&data, "oWritable").await.0, 200);
    server.stop();

    // The volume comes back read-only (a full or failing disk remounted by the kernel):
    // the server must not start and call itself healthy while no write can succeed.
    volume.read_only();
    let refused = Server::start(&data, &["serve"], &[])
        .err()
        .expect("refused");
    assert!(
        refused.contains("cannot be written") || refused.contains("open the database"),
        "{refused}"
    );
}

/// The server's command limited to soft 200, hard 256 open files, as on a small host.
#[cfg(target_os = "linux")]
fn low_file_limit(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    // SAFETY: setrlimit is a plain system call, safe between fork and exec.
    unsafe {
        command.pre_exec(|| {
            use rustix::process::{Resource, Rlimit, setrlimit};
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(200),
                    maximum: Some(256),
                },
            )
            .map_err(std::io::Error::from)
        });
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn half_sent_requests_beyond_the_file_limit_starve_nobody_and_time_out() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let server = Server::start_with(
        &data,
        &["serve"],
        &[("CHATMALL__SERVER__HEADER_TIMEOUT_SECS", "2")],
        low_file_limit,
    )
    .unwrap();
    assert_eq!(server.log_lines_with("raised the open-file limit"), 1);
    assert_eq!(
        server.log_lines_with("max_connections=96"),
        1,
        "half of 256 − 64"
    );

    // 300 requests whose headers never finish: more sockets than the server may open.
    let addr = server.base_url.trim_start_matches("http://").to_owned();
    let mut half_sent = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: chatmall\r\nX-Slow: 1")
            .await
            .unwrap();
        half_sent.push(stream);
    }
    // An honest request is answered at once all the same.
    let started = Instant::now();
    let response = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
        .get(format!("{}/healthz", server.base_url))
        .send()
        .await
        .expect("answered within 2 s");
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Every half-sent request is closed: by the header timeout, or to make room.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for (i, mut stream) in half_sent.into_iter().enumerate() {
        let mut buf = [0u8; 256];
        let closed = loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Err(_) => break false,
                Ok(Ok(0) | Err(_)) => break true,
                // A 408 or similar before the close is fine.
                Ok(Ok(_)) => continue,
            }
        };
        assert!(
            closed,
            "half-sent request {i} still open after the header timeout"
        );
    }
    for text in ["Too many open files", "accept failed"] {
        let lines = server.log_lines_containing(text);
        assert!(
            lines.is_empty(),
            "the server logged {text:?}:\n{}",
            lines.join("\n")
        );
    }
    server.stop();
}

#[tokio::test]
async fn the_standalone_sandbox_signs_the_way_it_is_told() {
    for (signing, platform_certificate) in [("public_key", false), ("platform_certificate", true)] {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let sandbox = Server::start(
            &data,
            &["sandbox", "--port", "0"],
            &[("CHATMALL__SANDBOX__SIGNING", signing)],
        )
        .unwrap();
        // Every answer is signed, a refusal of an unsigned request too.
        let response = sandbox
            .http
            .get(format!(
                "{}/v3/pay/transactions/out-trade-no/ORD1?mchid=1",
                sandbox.base_url
            ))
            .send()
            .await
            .unwrap();
        let serial = response.headers()["Wechatpay-Serial"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            !serial.starts_with("PUB_KEY_ID_"),
            platform_certificate,
            "{signing}: {serial}"
        );
        sandbox.stop();
    }
}

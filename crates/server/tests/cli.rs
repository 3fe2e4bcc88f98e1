//! The binary's commands, run as a user would.

use std::process::{Command, Output};

/// Runs `chatmall` with `args` and no configuration file, in `data_dir`'s environment.
fn chatmall(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chatmall"))
        .args(["--config", "/nonexistent.toml"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn sandbox_keys_writes_a_key_set_any_wechatpay_sdk_can_load() {
    let dir = tempfile::tempdir().unwrap();
    let out = chatmall(
        &["sandbox", "keys", "--dir", dir.path().to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Files named as WeChat's merchant platform names them, loadable on their own.
    let merchant =
        wechatpay::keys::PrivateKey::from_pem_file(dir.path().join("apiclient_key.pem")).unwrap();
    let wechat_public =
        wechatpay::keys::PublicKey::from_pem_file(dir.path().join("pub_key.pem")).unwrap();
    let config: toml::Table = std::fs::read_to_string(dir.path().join("sandbox.toml"))
        .unwrap()
        .parse()
        .unwrap();
    for key in [
        "mchid",
        "appid",
        "merchant_serial_no",
        "public_key_id",
        "apiv3_key",
    ] {
        assert!(
            config
                .get(key)
                .and_then(|v| v.as_str())
                .is_some_and(|v| !v.is_empty()),
            "{key} in sandbox.toml"
        );
    }
    assert!(
        config["public_key_id"]
            .as_str()
            .unwrap()
            .starts_with("PUB_KEY_ID_")
    );
    assert_eq!(config["apiv3_key"].as_str().unwrap().len(), 32);

    // The set is consistent: the sandbox loads it, and its platform key matches pub_key.pem.
    let keys = wechatpay_sandbox::KeySet::load_from(dir.path()).unwrap();
    let signature = keys.platform_key.sign_base64(b"probe");
    wechat_public.verify_base64(b"probe", &signature).unwrap();
    assert_eq!(merchant.public_key(), keys.merchant_key.public_key());
    // The secrets were not printed.
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains(config["apiv3_key"].as_str().unwrap()));
}

#[test]
fn token_prints_a_session_for_the_configured_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatmall"))
        .args([
            "--config",
            "/nonexistent.toml",
            "token",
            "--user",
            "oCliUser",
        ])
        .env(
            "CHATMALL__AUTH__JWT_SECRET",
            "cli-test-secret-0123456789abcdef",
        )
        .env("CHATMALL__SERVER__DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    let sessions = chatmall::session::Sessions::new(
        b"cli-test-secret-0123456789abcdef",
        chrono::Duration::days(1),
    );
    assert_eq!(
        sessions
            .verify(token.trim(), chrono::Utc::now())
            .unwrap()
            .as_str(),
        "oCliUser"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_chatmall"))
        .args([
            "--config",
            "/nonexistent.toml",
            "token",
            "--user",
            "not an openid",
        ])
        .env("CHATMALL__SERVER__DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn serve_refuses_an_order_deadline_longer_than_a_code_url_lives() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let out = chatmall(
        &["serve"],
        &[
            ("CHATMALL__SERVER__DATA_DIR", &data),
            ("CHATMALL__SERVER__PORT", "0"),
            ("CHATMALL__ORDER__TTL_SECS", "86400"),
        ],
    );
    assert!(
        !out.status.success(),
        "a 24 h order deadline must not start"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("order.ttl_secs") && stderr.contains("86400"),
        "the error names the key and the value: {stderr}"
    );
}

/// Runs `chatmall admin create` with `password` on standard input.
fn admin_create(data: &std::path::Path, args: &[&str], password: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_chatmall"))
        .args(["--config", "/nonexistent.toml", "admin", "create"])
        .args(args)
        .env("CHATMALL__SERVER__DATA_DIR", data)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn admin_create_makes_an_operator_who_can_log_in_and_reset_gives_a_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let first = "the first long password";
    let out = admin_create(dir.path(), &["--user", "Alice", "--role", "admin"], first);
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains("operator alice (admin) created"),
        "{printed}"
    );
    assert!(!printed.contains(first), "the password is never printed");

    let again = admin_create(dir.path(), &["--user", "alice"], "another long password");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let short = admin_create(dir.path(), &["--user", "bob"], "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 to 1024"));
    let bad_role = admin_create(dir.path(), &["--user", "bob", "--role", "root"], first);
    assert!(!bad_role.status.success());

    let second = "the second long password";
    let reset = admin_create(
        dir.path(),
        &["--user", "alice", "--role", "viewer", "--reset"],
        second,
    );
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );

    // The store the server would open holds alice, a viewer now, with the new password.
    let mut settings = chatmall::config::Settings::default();
    settings.server.data_dir = dir.path().to_path_buf();
    let store = std::sync::Arc::new(
        infra::store::SeaStore::open(
            &settings.database_url(),
            infra::store::PoolSize::new(2),
            infra::store::IfMissing::Refuse,
        )
        .await
        .unwrap(),
    );
    let clock: std::sync::Arc<dyn domain::ports::Clock> =
        std::sync::Arc::new(domain::clock::SystemClock);
    let console = chatmall::startup::console(&store, &settings.parse(None).unwrap(), &clock);
    let here = domain::login_code::ClientPrefix::of("127.0.0.1".parse().unwrap());
    let wrong = domain::operator::Password::offered(first.into()).unwrap();
    assert!(console.login("alice", &wrong, &here).await.is_err());
    let right = domain::operator::Password::offered(second.into()).unwrap();
    let session = console.login("alice", &right, &here).await.unwrap();
    assert_eq!(session.operator.role, domain::operator::Role::Viewer);
}

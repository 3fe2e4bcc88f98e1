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

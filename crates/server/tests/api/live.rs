//! Live mode against a WeChat Pay on its own port, in both of WeChat's signing modes.

use crate::helpers::TestApp;
use domain::order::OrderStatus;
use wechatpay_sandbox::SignatureMode;

/// Buys a package and checks that the answer and the notification were both trusted.
async fn buy_and_get_delivered(app: &TestApp) {
    let order_no = app.place_order_ok("oLiveBuyer", "1001").await;
    app.sandbox.pay(&order_no, Some("oLiveBuyer")).unwrap();
    app.wait_for_status(&order_no, OrderStatus::Delivered).await;
    assert_eq!(app.quota("oLiveBuyer").await, (10, 10));
}

#[tokio::test]
async fn live_mode_verifies_with_the_wechatpay_public_key() {
    let app = TestApp::spawn_live(SignatureMode::PublicKey, |_| {}).await;
    buy_and_get_delivered(&app).await;
}

#[tokio::test]
async fn live_mode_on_platform_certificates_downloads_them_at_start() {
    // No public key at all: only the certificates from /v3/certificates can vouch.
    let app = TestApp::spawn_live(SignatureMode::PlatformCertificate, |s| {
        s.wechatpay.public_key_id = String::new();
        s.wechatpay.public_key_path = Default::default();
        s.wechatpay.platform_certificates = true;
    })
    .await;
    buy_and_get_delivered(&app).await;
}

#[tokio::test]
async fn live_mode_without_any_way_to_verify_wechat_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = chatmall::config::Settings::default();
    settings.server.port = 0;
    settings.server.data_dir = dir.path().to_path_buf();
    settings.wechatpay.mode = chatmall::config::WechatPayMode::Live;
    let error = chatmall::startup::Application::build(settings)
        .await
        .err()
        .expect("a live server with no public key id and no certificates must not start");
    assert!(
        format!("{error:#}").contains("platform_certificates"),
        "the error says how to fix it: {error:#}"
    );
}

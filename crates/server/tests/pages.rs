//! The pages over real HTTP, without a browser: routes, headers, CORS, the QR endpoint.
//! (What the pages do in a browser is `tests/browser.rs`.)

use chatmall::config::{Secret, Settings};
use chatmall::startup::Application;
use tokio_util::sync::CancellationToken;

async fn spawn(
    adjust: impl FnOnce(&mut Settings),
) -> (String, CancellationToken, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.server.port = 0;
    settings.server.data_dir = dir.path().to_path_buf();
    settings.auth.jwt_secret = Secret::from("pages-test-secret-0123456789abcdef".to_owned());
    adjust(&mut settings);
    let app = Application::build(settings).await.unwrap();
    let base = app.base_url().to_owned();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    (base, stop, dir)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[tokio::test]
async fn pages_assets_and_the_qr_endpoint_answer_as_documented() {
    let (base, stop, _dir) = spawn(|_| {}).await;
    let http = http();

    let mall = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(mall.status(), 200);
    let csp = mall.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = mall.text().await.unwrap();
    assert!(html.contains(r#"data-product-id="1002""#), "{html}");
    assert!(html.contains("9.90"));

    for page in ["/login", "/chat", "/orders", "/pay/20250101000000000001"] {
        let response = http.get(format!("{base}{page}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        let html = response.text().await.unwrap();
        assert!(html.contains("name=\"viewport\""), "{page}");
        assert!(!html.contains("{{"), "{page}: an unfilled placeholder");
    }
    let login = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("/simulator/official-account"),
        "sandbox mode links the simulator"
    );
    let pay = http.get(format!("{base}/pay/short")).send().await.unwrap();
    assert_eq!(pay.status(), 404);

    let css = http
        .get(format!("{base}/assets/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);
    assert!(
        css.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        http.get(format!("{base}/assets/nope.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let qr = http
        .get(format!("{base}/qr.svg"))
        .query(&[("text", "weixin://wxpay/bizpayurl?pr=abc123")])
        .send()
        .await
        .unwrap();
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    let open = http
        .get(format!("{base}/qr.svg"))
        .query(&[("text", "https://phishing.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 400);

    // No CORS configured: no CORS headers.
    let plain = http
        .get(format!("{base}/api/v1/sale/query_product_list"))
        .header("Origin", "https://front.example")
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("access-control-allow-origin").is_none());
    stop.cancel();
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins() {
    let (base, stop, _dir) = spawn(|s| {
        s.server.cors_allowed_origins = vec!["https://front.example".into()];
    })
    .await;
    let http = http();
    let preflight = http
        .request(
            reqwest::Method::OPTIONS,
            format!("{base}/api/v1/sale/place_order"),
        )
        .header("Origin", "https://front.example")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://front.example"
    );
    let headers = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("authorization"), "{headers}");
    let other = http
        .get(format!("{base}/api/v1/sale/query_product_list"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    stop.cancel();
}

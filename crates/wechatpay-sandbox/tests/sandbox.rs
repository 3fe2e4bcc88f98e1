//! End-to-end tests over real HTTP on 127.0.0.1:0: a reqwest "merchant" signs requests with
//! the `wechatpay` signing module, and a tiny axum receiver plays the notify endpoint.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wechatpay::aead::ApiV3Key;
use wechatpay::model::{
    CertificatesResponse, ErrorBody, NativePrepayResponse, NotificationEnvelope, Refund,
    RefundStatus, TradeState, Transaction,
};
use wechatpay::signing::MerchantSigner;
use wechatpay::verify::{SignatureHeaders, VerifyError};
use wechatpay_sandbox::{
    DeliveryOutcome, Faults, KeySet, PayError, Sandbox, SandboxConfig, SandboxHandle,
    SignatureMode, TimeoutMode,
};

/// RSA key generation is slow in debug builds: generate once, clone per test.
fn keys() -> KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(KeySet::generate).clone()
}

struct Env {
    handle: SandboxHandle,
    sandbox: Sandbox,
    client: reqwest::Client,
    signer: MerchantSigner,
}

async fn start(configure: impl FnOnce(&mut SandboxConfig)) -> Env {
    let mut config = SandboxConfig::new(keys());
    config.time_scale = 0.001;
    config.notify_timeout = Duration::from_secs(2);
    configure(&mut config);
    let sandbox = Sandbox::new(config).expect("sandbox builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sandbox.serve(listener);
    Env {
        signer: sandbox.merchant_signer(),
        sandbox,
        handle,
        client: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
    fn code(&self) -> String {
        self.json::<ErrorBody>().code
    }
}

impl Env {
    /// Sends a request signed with `authorization` (or a correct one when `None`).
    async fn send(
        &self,
        method: &str,
        url: &str,
        body: &str,
        authorization: Option<String>,
    ) -> Answer {
        let authorization = authorization
            .unwrap_or_else(|| self.signer.authorization(method, url, body.as_bytes()));
        let request = self
            .client
            .request(
                method.parse().unwrap(),
                format!("{}{url}", self.handle.base_url()),
            )
            .header("Authorization", authorization)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json");
        let request = if body.is_empty() {
            request
        } else {
            request.body(body.to_owned())
        };
        let response = request.send().await.unwrap();
        let answer = Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap(),
        };
        // Every answer, errors and 204 included, is signed by the sandbox.
        self.verify(&answer).expect("the response is signed");
        answer
    }

    async fn call(&self, method: &str, url: &str, body: &str) -> Answer {
        self.send(method, url, body, None).await
    }

    fn verify(&self, answer: &Answer) -> Result<(), VerifyError> {
        let headers = SignatureHeaders::from_headers(&answer.headers)?;
        assert_eq!(headers.serial, self.sandbox.serial());
        assert!(answer.headers.contains_key("Request-ID"));
        self.sandbox
            .verifier()
            .verify(&headers, &answer.body, chrono::Utc::now().timestamp())
    }

    fn prepay_body(
        &self,
        no: &str,
        notify_url: &str,
        total: i64,
        time_expire: Option<&str>,
    ) -> String {
        let keys = self.sandbox.keys();
        let mut body = serde_json::json!({
            "appid": keys.appid,
            "mchid": keys.mchid,
            "description": "chat quota 100 calls",
            "out_trade_no": no,
            "notify_url": notify_url,
            "amount": {"total": total, "currency": "CNY"},
        });
        if let Some(t) = time_expire {
            body["time_expire"] = t.into();
        }
        body.to_string()
    }

    async fn prepay(&self, no: &str, notify_url: &str, total: i64) -> String {
        let answer = self
            .call(
                "POST",
                "/v3/pay/transactions/native",
                &self.prepay_body(no, notify_url, total, None),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        answer.json::<NativePrepayResponse>().code_url
    }

    async fn query(&self, no: &str) -> Answer {
        let url = format!(
            "/v3/pay/transactions/out-trade-no/{no}?mchid={}",
            self.sandbox.keys().mchid
        );
        self.call("GET", &url, "").await
    }
}

/// A notify endpoint that answers the queued statuses in turn (then 204) and records hits.
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    _server: SandboxLikeTask,
}

struct SandboxLikeTask(tokio::task::JoinHandle<()>);

impl Drop for SandboxLikeTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Receiver {
    fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }
}

async fn receiver(statuses: &[u16]) -> Receiver {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let queue = Arc::new(Mutex::new(
        statuses.iter().copied().collect::<VecDeque<u16>>(),
    ));
    let app = {
        let hits = hits.clone();
        axum::Router::new().route(
            "/notify",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let hits = hits.clone();
                let queue = queue.clone();
                async move {
                    hits.lock().unwrap().push((headers, body));
                    let status = queue.lock().unwrap().pop_front().unwrap_or(204);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Receiver {
        url,
        hits,
        _server: SandboxLikeTask(task),
    }
}

/// Polls `condition` until it holds, failing the test after `secs` seconds.
async fn wait_until(secs: u64, what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn unique_no(tag: &str) -> String {
    format!("T{tag}{}", rand::random_range(100_000_000u64..999_999_999))
}

fn decrypt_notification(sandbox: &Sandbox, headers: &HeaderMap, body: &[u8]) -> Transaction {
    let signature = SignatureHeaders::from_headers(headers).expect("all Wechatpay-* headers");
    assert_eq!(signature.signature_type, "WECHATPAY2-SHA256-RSA2048");
    sandbox
        .verifier()
        .verify(&signature, body, chrono::Utc::now().timestamp())
        .expect("the notification signature verifies");
    let envelope: NotificationEnvelope = serde_json::from_slice(body).unwrap();
    assert!(envelope.id.starts_with("EV-"));
    assert_eq!(envelope.event_type, "TRANSACTION.SUCCESS");
    assert_eq!(envelope.resource_type, "encrypt-resource");
    assert_eq!(envelope.summary, "支付成功");
    let resource = &envelope.resource;
    assert_eq!(resource.algorithm, "AEAD_AES_256_GCM");
    assert_eq!(resource.associated_data, "transaction");
    assert_eq!(resource.original_type.as_deref(), Some("transaction"));
    assert_eq!(resource.nonce.len(), 12);
    let key = ApiV3Key::new(&sandbox.keys().apiv3_key).unwrap();
    let plain = key
        .decrypt(
            &resource.nonce,
            &resource.associated_data,
            &resource.ciphertext,
        )
        .expect("the resource decrypts");
    serde_json::from_slice(&plain).unwrap()
}

#[tokio::test]
async fn bad_signatures_are_401_sign_error() {
    let env = start(|_| {}).await;
    let url = format!(
        "/v3/pay/transactions/out-trade-no/NOSUCH1?mchid={}",
        env.sandbox.keys().mchid
    );
    let now = chrono::Utc::now().timestamp();
    // Signed over another URL.
    let wrong_url = env.signer.authorization("GET", "/v3/other", b"");
    // Outside the 300 s window.
    let stale =
        env.signer
            .authorization_with("GET", &url, b"", now - 300, &wechatpay::nonce::generate());
    // Another key.
    let stranger = MerchantSigner::new(
        env.signer.mchid(),
        env.signer.serial_no(),
        wechatpay::keys::PrivateKey::generate(),
    )
    .authorization("GET", &url, b"");
    // Unknown serial.
    let other_serial = MerchantSigner::new(
        env.signer.mchid(),
        "0123456789ABCDEF0123456789ABCDEF01234567",
        env.sandbox.keys().clone().merchant_key,
    )
    .authorization("GET", &url, b"");
    for authorization in [
        wrong_url,
        stale,
        stranger,
        other_serial,
        "garbage".to_owned(),
    ] {
        let answer = env.send("GET", &url, "", Some(authorization)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.code(), "SIGN_ERROR");
    }
    // Parameters in another order are fine (and the order is simply not there).
    let auth: wechatpay::signing::AuthorizationHeader =
        env.signer.authorization("GET", &url, b"").parse().unwrap();
    let reordered = format!(
        "WECHATPAY2-SHA256-RSA2048 signature=\"{}\",serial_no=\"{}\",timestamp=\"{}\",nonce_str=\"{}\",mchid=\"{}\"",
        auth.signature, auth.serial_no, auth.timestamp, auth.nonce_str, auth.mchid
    );
    let answer = env.send("GET", &url, "", Some(reordered)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert_eq!(answer.code(), "ORDER_NOT_EXIST");
}

#[tokio::test]
async fn prepay_retry_is_idempotent_and_conflicts_are_refused() {
    let env = start(|_| {}).await;
    let no = unique_no("idem");
    let url = "http://127.0.0.1:9/notify";
    let first = env.prepay(&no, url, 100).await;
    assert!(first.starts_with("weixin://wxpay/bizpayurl?pr="));
    assert_eq!(env.prepay(&no, url, 100).await, first);
    let different = env
        .call(
            "POST",
            "/v3/pay/transactions/native",
            &env.prepay_body(&no, url, 200, None),
        )
        .await;
    assert_eq!(different.status, StatusCode::FORBIDDEN);
    assert_eq!(different.code(), "OUT_TRADE_NO_USED");
    assert_eq!(env.sandbox.orders().len(), 1);
    let query = env.query(&no).await;
    assert_eq!(query.status, StatusCode::OK);
    let transaction: Transaction = query.json();
    assert_eq!(transaction.trade_state, TradeState::Notpay);
    assert_eq!(transaction.transaction_id, None);
}

#[tokio::test]
async fn prepay_validation() {
    let env = start(|_| {}).await;
    let url = "https://example.com/notify";
    let post = |body: String| {
        let env = &env;
        async move { env.call("POST", "/v3/pay/transactions/native", &body).await }
    };
    let bad_no = post(env.prepay_body("abc", url, 1, None)).await;
    assert_eq!(
        (bad_no.status, bad_no.code().as_str()),
        (StatusCode::BAD_REQUEST, "PARAM_ERROR")
    );
    assert!(bad_no.json::<ErrorBody>().message.contains("out_trade_no"));
    let zero = post(env.prepay_body(&unique_no("v"), url, 0, None)).await;
    assert_eq!(zero.code(), "PARAM_ERROR");
    let query_url = post(env.prepay_body(&unique_no("v"), "https://e.com/n?x=1", 1, None)).await;
    assert_eq!(query_url.code(), "PARAM_ERROR");
    let bad_expire = post(env.prepay_body(&unique_no("v"), url, 1, Some("tomorrow"))).await;
    assert_eq!(bad_expire.code(), "PARAM_ERROR");
    let not_json = post("{".to_owned()).await;
    assert_eq!(not_json.code(), "PARAM_ERROR");
    let mut other_mch: serde_json::Value =
        serde_json::from_str(&env.prepay_body(&unique_no("v"), url, 1, None)).unwrap();
    other_mch["mchid"] = "1234567890".into();
    let answer = post(other_mch.to_string()).await;
    assert_eq!(answer.code(), "MCH_NOT_EXISTS");
    other_mch["mchid"] = env.sandbox.keys().mchid.clone().into();
    other_mch["appid"] = "wx0000000000000000".into();
    let answer = post(other_mch.to_string()).await;
    assert_eq!(answer.code(), "APPID_MCHID_NOT_MATCH");
    assert!(env.sandbox.orders().is_empty());
}

#[tokio::test]
async fn pay_sends_a_verified_decryptable_notification() {
    let env = start(|_| {}).await;
    let receiver = receiver(&[]).await;
    let no = unique_no("pay");
    let code_url = env.prepay(&no, &receiver.url, 990).await;
    // Pay through the HTTP helper, by code_url.
    let paid = env
        .client
        .post(format!("{}/sandbox/pay", env.handle.base_url()))
        .json(&serde_json::json!({"code_url": code_url, "openid": "oUser1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::OK);
    wait_until(5, "the notification", || receiver.count() == 1).await;
    let (headers, body) = receiver.hits.lock().unwrap()[0].clone();
    let transaction = decrypt_notification(&env.sandbox, &headers, &body);
    assert_eq!(transaction.out_trade_no, no);
    assert_eq!(transaction.trade_state, TradeState::Success);
    assert_eq!(transaction.trade_type.as_deref(), Some("NATIVE"));
    assert_eq!(transaction.payer.unwrap().openid.as_deref(), Some("oUser1"));
    let amount = transaction.amount.unwrap();
    assert_eq!((amount.total, amount.payer_total), (Some(990), Some(990)));
    assert!(transaction.success_time.unwrap().ends_with("+08:00"));
    let id = transaction.transaction_id.unwrap();
    // Query by WeChat id, and an unknown id.
    let mchid = &env.sandbox.keys().mchid;
    let by_id = env
        .call(
            "GET",
            &format!("/v3/pay/transactions/id/{id}?mchid={mchid}"),
            "",
        )
        .await;
    assert_eq!(by_id.json::<Transaction>().out_trade_no, no);
    let unknown = env
        .call(
            "GET",
            &format!("/v3/pay/transactions/id/4200000000?mchid={mchid}"),
            "",
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    // Paying twice is refused.
    assert_eq!(
        env.sandbox.pay(&no, None),
        Err(PayError::AlreadyPaid(TradeState::Success))
    );
    wait_until(5, "the delivery task to end", || {
        env.sandbox.pending_deliveries() == 0
    })
    .await;
    let log = env.sandbox.notifications();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, DeliveryOutcome::Delivered { status: 204 });
}

#[tokio::test]
async fn failed_notifications_are_retried_until_accepted() {
    let env = start(|_| {}).await;
    let receiver = receiver(&[500, 500, 404]).await;
    let no = unique_no("retry");
    env.prepay(&no, &receiver.url, 1).await;
    env.sandbox.pay(&no, None).unwrap();
    wait_until(10, "four sends", || receiver.count() == 4).await;
    wait_until(5, "the delivery task to end", || {
        env.sandbox.pending_deliveries() == 0
    })
    .await;
    let outcomes: Vec<_> = env
        .sandbox
        .notifications()
        .into_iter()
        .map(|r| (r.attempt, r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (1, DeliveryOutcome::Rejected { status: 500 }),
            (2, DeliveryOutcome::Rejected { status: 500 }),
            (3, DeliveryOutcome::Rejected { status: 404 }),
            (4, DeliveryOutcome::Delivered { status: 204 }),
        ]
    );
    // All sends carry the same body and id, each freshly signed.
    let hits = receiver.hits.lock().unwrap().clone();
    assert!(hits.iter().all(|(_, body)| body == &hits[0].1));
    for (headers, body) in &hits {
        decrypt_notification(&env.sandbox, headers, body);
    }
}

#[tokio::test]
async fn drop_fault_sends_nothing() {
    let env = start(|c| {
        c.faults = Faults {
            drop_notification: 1.0,
            ..Faults::default()
        }
    })
    .await;
    let receiver = receiver(&[]).await;
    let no = unique_no("drop");
    env.prepay(&no, &receiver.url, 1).await;
    env.sandbox.pay(&no, None).unwrap();
    // Dropping is decided synchronously: no task was ever started.
    assert_eq!(env.sandbox.pending_deliveries(), 0);
    let log = env.sandbox.notifications();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].attempt, &log[0].outcome),
        (0, &DeliveryOutcome::Dropped)
    );
    assert_eq!(receiver.count(), 0);
    // The merchant can still learn of the payment by querying.
    assert_eq!(
        env.query(&no).await.json::<Transaction>().trade_state,
        TradeState::Success
    );
}

#[tokio::test]
async fn duplicate_fault_sends_twice() {
    let env = start(|_| {}).await;
    // Set at runtime through the HTTP endpoint.
    let set = env
        .client
        .post(format!("{}/sandbox/faults", env.handle.base_url()))
        .json(&serde_json::json!({"duplicate_notification": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    assert_eq!(env.sandbox.faults().duplicate_notification, 1.0);
    let receiver = receiver(&[]).await;
    let no = unique_no("dup");
    env.prepay(&no, &receiver.url, 1).await;
    env.sandbox.pay(&no, None).unwrap();
    wait_until(5, "two sends", || receiver.count() == 2).await;
    wait_until(5, "the delivery tasks to end", || {
        env.sandbox.pending_deliveries() == 0
    })
    .await;
    let hits = receiver.hits.lock().unwrap().clone();
    let ids: Vec<String> = hits
        .iter()
        .map(|(_, body)| {
            serde_json::from_slice::<NotificationEnvelope>(body)
                .unwrap()
                .id
        })
        .collect();
    assert_eq!(ids[0], ids[1], "a duplicate is the same notification");
    assert_eq!(receiver.count(), 2);
}

#[tokio::test]
async fn time_expire_in_the_past_refuses_payment() {
    let env = start(|_| {}).await;
    let no = unique_no("exp");
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let body = env.prepay_body(&no, "http://127.0.0.1:9/n", 1, Some(&past));
    let answer = env.call("POST", "/v3/pay/transactions/native", &body).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(matches!(
        env.sandbox.pay(&no, None),
        Err(PayError::Expired(_))
    ));
    assert_eq!(
        env.sandbox.order(&no).unwrap().trade_state,
        TradeState::Notpay
    );
}

#[tokio::test]
async fn closed_orders_cannot_be_paid() {
    let env = start(|_| {}).await;
    let no = unique_no("close");
    env.prepay(&no, "http://127.0.0.1:9/n", 1).await;
    let mchid = env.sandbox.keys().mchid.clone();
    let close_url = format!("/v3/pay/transactions/out-trade-no/{no}/close");
    let body = serde_json::json!({"mchid": mchid}).to_string();
    let closed = env.call("POST", &close_url, &body).await;
    assert_eq!(closed.status, StatusCode::NO_CONTENT);
    assert!(closed.body.is_empty());
    assert_eq!(
        env.query(&no).await.json::<Transaction>().trade_state,
        TradeState::Closed
    );
    assert_eq!(env.sandbox.pay(&no, None), Err(PayError::Closed));
    let page_pay = env
        .client
        .post(format!("{}/sandbox/pay", env.handle.base_url()))
        .json(&serde_json::json!({"out_trade_no": no}))
        .send()
        .await
        .unwrap();
    assert_eq!(page_pay.status(), StatusCode::BAD_REQUEST);
    let error: ErrorBody = page_pay.json().await.unwrap();
    assert_eq!(error.code, "ORDER_CLOSED");
    // Closing a paid order is refused.
    let paid_no = unique_no("paid");
    env.prepay(&paid_no, "http://127.0.0.1:9/n", 1).await;
    env.sandbox.set_faults(Faults {
        drop_notification: 1.0,
        ..Faults::default()
    });
    env.sandbox.pay(&paid_no, None).unwrap();
    let refused = env
        .call(
            "POST",
            &format!("/v3/pay/transactions/out-trade-no/{paid_no}/close"),
            &body,
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn refunds() {
    let env = start(|c| {
        c.faults.drop_notification = 1.0;
    })
    .await;
    let no = unique_no("refund");
    env.prepay(&no, "http://127.0.0.1:9/n", 1000).await;
    let transaction = env.sandbox.pay(&no, None).unwrap();
    let refund_body = |out_refund_no: &str, refund: i64| {
        serde_json::json!({
            "out_trade_no": no,
            "out_refund_no": out_refund_no,
            "reason": "test",
            "amount": {"refund": refund, "total": 1000, "currency": "CNY"},
        })
        .to_string()
    };
    let first = env
        .call(
            "POST",
            "/v3/refund/domestic/refunds",
            &refund_body("R1xxxx", 300),
        )
        .await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let refund: Refund = first.json();
    assert_eq!(refund.amount.refund, 300);
    assert_eq!(refund.status, RefundStatus::Processing);
    assert_eq!(refund.transaction_id, transaction.transaction_id.unwrap());
    // Idempotent retry.
    let again = env
        .call(
            "POST",
            "/v3/refund/domestic/refunds",
            &refund_body("R1xxxx", 300),
        )
        .await;
    assert_eq!(again.json::<Refund>().refund_id, refund.refund_id);
    // More than what remains.
    let too_much = env
        .call(
            "POST",
            "/v3/refund/domestic/refunds",
            &refund_body("R2xxxx", 701),
        )
        .await;
    assert_eq!(too_much.status, StatusCode::BAD_REQUEST);
    let rest = env
        .call(
            "POST",
            "/v3/refund/domestic/refunds",
            &refund_body("R3xxxx", 700),
        )
        .await;
    assert_eq!(rest.status, StatusCode::OK);
    // It ends a moment later: the query says SUCCESS, with the same refund id.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let queried = loop {
        let queried: Refund = env
            .call("GET", "/v3/refund/domestic/refunds/R1xxxx", "")
            .await
            .json();
        if queried.status == RefundStatus::Success || std::time::Instant::now() > deadline {
            break queried;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(
        (queried.status, &queried.refund_id),
        (RefundStatus::Success, &refund.refund_id)
    );
    assert!(queried.success_time.is_some());
    let missing = env
        .call("GET", "/v3/refund/domestic/refunds/NOPE", "")
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(
        env.query(&no).await.json::<Transaction>().trade_state,
        TradeState::Refund
    );
    // An unpaid order cannot be refunded.
    let unpaid = unique_no("unpaid");
    env.prepay(&unpaid, "http://127.0.0.1:9/n", 1000).await;
    let body = serde_json::json!({
        "out_trade_no": unpaid, "out_refund_no": "R4xxxx",
        "amount": {"refund": 1, "total": 1000, "currency": "CNY"},
    });
    let refused = env
        .call("POST", "/v3/refund/domestic/refunds", &body.to_string())
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn certificates_in_certificate_mode() {
    let env = start(|c| c.mode = SignatureMode::PlatformCertificate).await;
    let answer = env.call("GET", "/v3/certificates", "").await;
    assert_eq!(answer.status, StatusCode::OK);
    let serial = answer.headers["Wechatpay-Serial"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!serial.starts_with("PUB_KEY_ID_"));
    assert_eq!(serial.len(), 40);
    let certificates: CertificatesResponse = answer.json();
    let entry = &certificates.data[0];
    assert_eq!(entry.serial_no, serial);
    let resource = &entry.encrypt_certificate;
    assert_eq!(resource.associated_data, "certificate");
    let pem = ApiV3Key::new(&env.sandbox.keys().apiv3_key)
        .unwrap()
        .decrypt(
            &resource.nonce,
            &resource.associated_data,
            &resource.ciphertext,
        )
        .unwrap();
    let pem = String::from_utf8(pem).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    // The certificate's DER carries the serial as a 20-byte INTEGER.
    let der = pem_body(&pem);
    let serial_bytes = hex::decode(&serial).unwrap();
    assert!(
        der.windows(22)
            .any(|w| w[0] == 0x02 && w[1] == 20 && w[2..] == serial_bytes[..])
    );
}

fn pem_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[tokio::test]
async fn corrupted_signature_is_refused_once() {
    let env = start(|_| {}).await;
    env.sandbox.corrupt_next_response_signature();
    let url = format!(
        "/v3/pay/transactions/out-trade-no/NOSUCH1?mchid={}",
        env.sandbox.keys().mchid
    );
    let response = env
        .client
        .get(format!("{}{url}", env.handle.base_url()))
        .header("Authorization", env.signer.authorization("GET", &url, b""))
        .send()
        .await
        .unwrap();
    let answer = Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.unwrap(),
    };
    assert_eq!(env.verify(&answer), Err(VerifyError::BadSignature));
    // One shot: the next one verifies (`call` asserts it).
    env.call("GET", &url, "").await;
}

#[tokio::test]
async fn prepay_faults() {
    let env = start(|_| {}).await;
    let short = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let send = |body: String| {
        let url = "/v3/pay/transactions/native";
        short
            .post(format!("{}{url}", env.handle.base_url()))
            .header(
                "Authorization",
                env.signer.authorization("POST", url, body.as_bytes()),
            )
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let mut faults = Faults {
        prepay_timeout: 1.0,
        prepay_timeout_ms: 5_000,
        prepay_timeout_mode: TimeoutMode::BeforeCreate,
        ..Faults::default()
    };
    env.sandbox.set_faults(faults.clone());
    let lost = unique_no("lost");
    let error = send(env.prepay_body(&lost, "http://127.0.0.1:9/n", 1, None))
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    assert!(env.sandbox.order(&lost).is_none());

    faults.prepay_timeout_mode = TimeoutMode::AfterCreate;
    env.sandbox.set_faults(faults);
    let reached = unique_no("reached");
    let body = env.prepay_body(&reached, "http://127.0.0.1:9/n", 1, None);
    assert!(send(body.clone()).await.unwrap_err().is_timeout());
    assert_eq!(
        env.sandbox.order(&reached).unwrap().trade_state,
        TradeState::Notpay
    );

    env.sandbox.set_faults(Faults {
        prepay_error: 1.0,
        query_error: 1.0,
        ..Faults::default()
    });
    let answer = env.call("POST", "/v3/pay/transactions/native", &body).await;
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "SYSTEM_ERROR")
    );
    assert_eq!(
        env.query(&reached).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );

    // Faults off: the identical retry returns the order created by the lost request.
    env.sandbox.set_faults(Faults::default());
    let code_url = env.prepay(&reached, "http://127.0.0.1:9/n", 1).await;
    assert!(code_url.starts_with("weixin://"));
    assert_eq!(env.sandbox.orders().len(), 1);
}

#[tokio::test]
async fn crafted_notifications_for_tests() {
    let env = start(|_| {}).await;
    let no = unique_no("craft");
    env.prepay(&no, "http://127.0.0.1:9/n", 1).await;
    let transaction = env.sandbox.order(&no).unwrap();
    let (headers, body) = env.sandbox.build_notification(&transaction);
    let map: HeaderMap = headers
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect();
    assert_eq!(
        decrypt_notification(&env.sandbox, &map, body.as_bytes()),
        transaction
    );
    // Tampered body.
    let signature = SignatureHeaders::from_headers(&map).unwrap();
    let now = chrono::Utc::now().timestamp();
    let tampered = body.replacen("EV-", "EV-9", 1);
    assert_eq!(
        env.sandbox
            .verifier()
            .verify(&signature, tampered.as_bytes(), now),
        Err(VerifyError::BadSignature)
    );
    // Expired timestamp, correctly signed.
    let old: HeaderMap = env
        .sandbox
        .sign(body.as_bytes(), now - 600)
        .iter()
        .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
        .collect();
    let old = SignatureHeaders::from_headers(&old).unwrap();
    assert!(matches!(
        env.sandbox.verifier().verify(&old, body.as_bytes(), now),
        Err(VerifyError::Stale { .. })
    ));
}

#[tokio::test]
async fn scan_page_shows_the_order() {
    let env = start(|_| {}).await;
    let no = unique_no("scan");
    let code_url = env.prepay(&no, "http://127.0.0.1:9/n", 12345).await;
    let path = Sandbox::scan_path(&code_url).unwrap();
    let page = env
        .client
        .get(format!("{}{path}", env.handle.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("chat quota 100 calls"));
    assert!(html.contains("123.45"));
    assert!(html.contains(&env.sandbox.keys().mchid));
    assert!(html.contains("/sandbox/pay"));
}

#[test]
fn keyset_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    keys.write_to(dir.path()).unwrap();
    for file in [
        "apiclient_key.pem",
        "apiclient_cert.pem",
        "pub_key.pem",
        "sandbox_platform_key.pem",
        "sandbox.toml",
    ] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in [
            "apiclient_key.pem",
            "sandbox_platform_key.pem",
            "sandbox.toml",
        ] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    let loaded = KeySet::load_from(dir.path()).unwrap();
    assert_eq!(loaded.mchid, keys.mchid);
    assert_eq!(loaded.appid, keys.appid);
    assert_eq!(loaded.merchant_serial_no, keys.merchant_serial_no);
    assert_eq!(loaded.public_key_id, keys.public_key_id);
    assert_eq!(loaded.apiv3_key, keys.apiv3_key);
    assert_eq!(
        loaded.merchant_key.public_key(),
        keys.merchant_key.public_key()
    );
    assert_eq!(
        loaded.platform_key.public_key(),
        keys.platform_key.public_key()
    );
    // What another SDK would load: the merchant key and pub_key.pem.
    let public = wechatpay::keys::PublicKey::from_pem_file(dir.path().join("pub_key.pem")).unwrap();
    assert_eq!(public, keys.wechatpay_public_key());
    let cert = std::fs::read_to_string(dir.path().join("apiclient_cert.pem")).unwrap();
    let serial = hex::decode(&keys.merchant_serial_no).unwrap();
    assert!(
        pem_body(&cert)
            .windows(22)
            .any(|w| w[0] == 0x02 && w[1] == 20 && w[2..] == serial[..])
    );
    let toml = std::fs::read_to_string(dir.path().join("sandbox.toml")).unwrap();
    assert!(toml.contains("merchant_serial_no"));
}

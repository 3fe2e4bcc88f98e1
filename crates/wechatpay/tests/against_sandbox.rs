//! The client against the local sandbox over real HTTP on 127.0.0.1: every call signed,
//! every answer verified, errors classified, callbacks parsed, certificates bootstrapped.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wechatpay::model::{
    Amount, NativePrepayRequest, RefundRequest, RefundRequestAmount, RefundStatus, TradeState,
};
use wechatpay::verify::{Verifier, VerifyError};
use wechatpay::{Client, ClientConfig, Error, NotificationResource};
use wechatpay_sandbox::{
    Faults, KeySet, Sandbox, SandboxConfig, SandboxHandle, SignatureMode, TimeoutMode,
};

/// RSA key generation is slow in debug builds: generate once, clone per test.
fn keys() -> KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(KeySet::generate).clone()
}

struct Env {
    _handle: SandboxHandle,
    sandbox: Sandbox,
    client: Client,
}

/// Callbacks go nowhere in these tests: the client's notification parsing is tested on
/// notifications built by the sandbox.
fn quiet() -> Faults {
    Faults {
        drop_notification: 1.0,
        ..Faults::default()
    }
}

async fn start(mode: SignatureMode, faults: Faults, timeout: Duration) -> Env {
    let mut config = SandboxConfig::new(keys());
    config.mode = mode;
    config.faults = faults;
    let sandbox = Sandbox::new(config).expect("the sandbox builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = sandbox.serve(listener);
    let legacy = mode == SignatureMode::PlatformCertificate;
    Env {
        client: client_of(&sandbox, &handle, legacy, timeout),
        sandbox,
        _handle: handle,
    }
}

/// A merchant's client of the sandbox: in public-key mode (it trusts the public key and
/// names it in `Wechatpay-Serial`), or `legacy`, on platform certificates (it starts
/// trusting nothing and downloads them).
fn client_of(sandbox: &Sandbox, handle: &SandboxHandle, legacy: bool, timeout: Duration) -> Client {
    let keys = sandbox.keys();
    let (verifier, serial) = if legacy {
        (Verifier::new(), None)
    } else {
        (
            Verifier::with_public_key(&keys.public_key_id, sandbox.wechatpay_public_key()),
            Some(keys.public_key_id.clone()),
        )
    };
    let mut config = ClientConfig::new(
        sandbox.merchant_signer(),
        Arc::new(verifier),
        sandbox.apiv3_key().clone(),
    );
    config.base_url = handle.base_url();
    config.wechatpay_serial = serial;
    config.timeout = timeout;
    config.use_env_proxy = false;
    Client::new(config).expect("the client builds")
}

async fn public_key_mode() -> Env {
    start(SignatureMode::PublicKey, quiet(), Duration::from_secs(10)).await
}

fn prepay_request(env: &Env, out_trade_no: &str, total: i64) -> NativePrepayRequest {
    NativePrepayRequest {
        appid: env.sandbox.keys().appid.clone(),
        mchid: env.client.mchid().to_owned(),
        description: "100 chat calls".into(),
        out_trade_no: out_trade_no.into(),
        time_expire: None,
        attach: None,
        notify_url: "http://127.0.0.1:9/notify".into(),
        goods_tag: None,
        amount: Amount {
            total,
            currency: Some("CNY".into()),
        },
        scene_info: None,
    }
}

#[tokio::test]
async fn an_order_is_created_paid_queried_and_refunded() {
    let env = public_key_mode().await;
    let prepay = env
        .client
        .native_prepay(&prepay_request(&env, "ORD_full_cycle_1", 990))
        .await
        .unwrap();
    assert!(prepay.code_url.starts_with("weixin://wxpay/bizpayurl?pr="));

    let unpaid = env
        .client
        .query_by_out_trade_no("ORD_full_cycle_1")
        .await
        .unwrap();
    assert_eq!(unpaid.trade_state, TradeState::Notpay);

    env.sandbox.pay_code_url(&prepay.code_url, None).unwrap();
    let paid = env
        .client
        .query_by_out_trade_no("ORD_full_cycle_1")
        .await
        .unwrap();
    assert_eq!(paid.trade_state, TradeState::Success);
    let transaction_id = paid.transaction_id.clone().unwrap();
    let by_id = env
        .client
        .query_by_transaction_id(&transaction_id)
        .await
        .unwrap();
    assert_eq!(by_id.out_trade_no, "ORD_full_cycle_1");

    let refund = env
        .client
        .refund(&RefundRequest {
            transaction_id: None,
            out_trade_no: Some("ORD_full_cycle_1".into()),
            out_refund_no: "REF_full_cycle_1".into(),
            reason: Some("changed my mind".into()),
            notify_url: None,
            amount: RefundRequestAmount {
                refund: 300,
                total: 990,
                currency: "CNY".into(),
            },
        })
        .await
        .unwrap();
    assert_eq!(refund.amount.refund, 300);
    let again = env.client.query_refund("REF_full_cycle_1").await.unwrap();
    assert_eq!(again.refund_id, refund.refund_id);
    assert!(matches!(
        again.status,
        RefundStatus::Processing | RefundStatus::Success
    ));
}

#[tokio::test]
async fn an_unpaid_order_closes_with_an_empty_signed_answer() {
    let env = public_key_mode().await;
    env.client
        .native_prepay(&prepay_request(&env, "ORD_close_1", 100))
        .await
        .unwrap();
    env.client.close("ORD_close_1").await.unwrap();
    let closed = env
        .client
        .query_by_out_trade_no("ORD_close_1")
        .await
        .unwrap();
    assert_eq!(closed.trade_state, TradeState::Closed);
}

#[tokio::test]
async fn ids_with_reserved_characters_travel_percent_encoded_and_signed() {
    let env = public_key_mode().await;
    env.client
        .native_prepay(&prepay_request(&env, "ORD|star*1", 100))
        .await
        .unwrap();
    let found = env
        .client
        .query_by_out_trade_no("ORD|star*1")
        .await
        .unwrap();
    assert_eq!(found.out_trade_no, "ORD|star*1");
}

#[tokio::test]
async fn a_missing_order_is_a_signed_refusal() {
    let env = public_key_mode().await;
    let error = env
        .client
        .query_by_out_trade_no("ORD_missing_1")
        .await
        .unwrap_err();
    assert!(error.is_order_not_exist(), "{error:?}");
    assert!(!error.outcome_unknown());
    assert_eq!(error.status(), Some(404));
    assert!(error.request_id().is_some(), "{error:?}");
}

#[tokio::test]
async fn a_refusal_keeps_wechats_code() {
    let env = public_key_mode().await;
    let mut request = prepay_request(&env, "ORD_refused_1", 100);
    request.amount.total = 0;
    let error = env.client.native_prepay(&request).await.unwrap_err();
    assert!(
        matches!(error, Error::Refused { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(error.code(), Some("PARAM_ERROR"));
}

#[tokio::test]
async fn a_corrupted_answer_signature_is_untrusted() {
    let env = public_key_mode().await;
    env.client
        .native_prepay(&prepay_request(&env, "ORD_corrupt_1", 100))
        .await
        .unwrap();
    env.sandbox.corrupt_next_response_signature();
    let error = env
        .client
        .query_by_out_trade_no("ORD_corrupt_1")
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::UntrustedResponse { .. }),
        "{error:?}"
    );
    assert!(error.outcome_unknown());
}

#[tokio::test]
async fn an_answer_signed_by_another_key_is_untrusted() {
    let env = public_key_mode().await;
    // The client trusts a different key under the sandbox's key id.
    let impostor = wechatpay::keys::PrivateKey::generate().public_key();
    env.client
        .verifier()
        .add_key(&env.sandbox.keys().public_key_id, impostor);
    let error = env
        .client
        .query_by_out_trade_no("ORD_missing_2")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::UntrustedResponse {
                source: VerifyError::BadSignature,
                ..
            }
        ),
        "a forged 404 must not read as a refusal: {error:?}"
    );
    assert!(!error.is_order_not_exist());
}

#[tokio::test]
async fn a_server_error_leaves_the_outcome_unknown() {
    let faults = Faults {
        prepay_error: 1.0,
        ..quiet()
    };
    let env = start(SignatureMode::PublicKey, faults, Duration::from_secs(10)).await;
    let error = env
        .client
        .native_prepay(&prepay_request(&env, "ORD_500_1", 100))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::ServerError { status: 500, .. }),
        "{error:?}"
    );
    assert!(error.outcome_unknown());
}

#[tokio::test]
async fn a_hanging_prepay_is_a_timeout_and_a_retry_finds_the_same_order() {
    let faults = Faults {
        prepay_timeout: 1.0,
        prepay_timeout_mode: TimeoutMode::AfterCreate,
        prepay_timeout_ms: 3_000,
        ..quiet()
    };
    let env = start(SignatureMode::PublicKey, faults, Duration::from_millis(300)).await;
    let request = prepay_request(&env, "ORD_timeout_1", 100);
    let error = env.client.native_prepay(&request).await.unwrap_err();
    assert!(matches!(error, Error::Timeout), "{error:?}");
    assert!(error.outcome_unknown());

    env.sandbox.set_faults(quiet());
    let retried = env.client.native_prepay(&request).await.unwrap();
    assert!(retried.code_url.starts_with("weixin://"));
}

#[tokio::test]
async fn legacy_mode_bootstraps_trust_from_the_certificates_download() {
    let env = start(
        SignatureMode::PlatformCertificate,
        quiet(),
        Duration::from_secs(10),
    )
    .await;
    // Before the download no answer can be trusted.
    let error = env
        .client
        .query_by_out_trade_no("ORD_legacy_1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::UntrustedResponse {
                source: VerifyError::UnknownSerial(_),
                ..
            }
        ),
        "{error:?}"
    );

    let certificates = env.client.refresh_platform_certificates().await.unwrap();
    let expected = env.sandbox.platform_certificate();
    assert_eq!(certificates.len(), 1);
    assert!(
        certificates[0]
            .serial_no
            .eq_ignore_ascii_case(&expected.serial_no)
    );
    assert_eq!(
        certificates[0].public_key,
        env.sandbox.wechatpay_public_key()
    );
    assert!(env.client.verifier().knows(&expected.serial_no));

    let error = env
        .client
        .query_by_out_trade_no("ORD_legacy_1")
        .await
        .unwrap_err();
    assert!(error.is_order_not_exist(), "{error:?}");
    // A second download is verified with the now-known certificate.
    env.client.platform_certificates().await.unwrap();
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

#[tokio::test]
async fn a_sandbox_callback_parses_into_a_typed_transaction() {
    let env = public_key_mode().await;
    env.client
        .native_prepay(&prepay_request(&env, "ORD_notify_1", 250))
        .await
        .unwrap();
    let paid = env.sandbox.pay("ORD_notify_1", Some("oOpenid1")).unwrap();
    let (headers, body) = env.sandbox.build_notification(&paid);
    let notification = env
        .client
        .parse_notification(&header_map(&headers), body.as_bytes())
        .unwrap();
    assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
    let NotificationResource::Transaction(transaction) = notification.resource else {
        panic!("a transaction event carries a transaction");
    };
    assert_eq!(transaction, paid);

    let mut tampered = body.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] ^= 1;
    assert!(matches!(
        env.client
            .parse_notification(&header_map(&headers), &tampered),
        Err(wechatpay::NotifyError::Verify(VerifyError::BadSignature))
    ));
}

#[tokio::test]
async fn in_the_migration_period_each_client_is_answered_its_way_and_callbacks_take_turns() {
    let env = start(SignatureMode::Both, quiet(), Duration::from_secs(10)).await;
    let legacy = client_of(&env.sandbox, &env._handle, true, Duration::from_secs(10));
    legacy.refresh_platform_certificates().await.unwrap();
    assert!(!legacy.verifier().knows(&env.sandbox.keys().public_key_id));
    // Each client trusts one identity only, so each answer must be signed with its own.
    env.client
        .native_prepay(&prepay_request(&env, "ORD_both_1", 100))
        .await
        .unwrap();
    let by_certificate = legacy.query_by_out_trade_no("ORD_both_1").await.unwrap();
    assert_eq!(by_certificate.out_trade_no, "ORD_both_1");
    let by_public_key = env
        .client
        .query_by_out_trade_no("ORD_both_1")
        .await
        .unwrap();
    assert_eq!(by_public_key, by_certificate);

    // Notifications alternate: a merchant trusting only one identity fails every other one.
    let paid = env.sandbox.pay("ORD_both_1", None).unwrap();
    let serial = |headers: &[(String, String)]| {
        headers
            .iter()
            .find(|(name, _)| name == "Wechatpay-Serial")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let (first, first_body) = env.sandbox.build_notification(&paid);
    let (second, second_body) = env.sandbox.build_notification(&paid);
    assert_ne!(serial(&first), serial(&second));
    let both = env.sandbox.verifier();
    for (headers, body) in [(&first, &first_body), (&second, &second_body)] {
        let headers =
            wechatpay::verify::SignatureHeaders::from_headers(&header_map(headers)).unwrap();
        both.verify(&headers, body.as_bytes(), chrono::Utc::now().timestamp())
            .unwrap();
    }
    let results = [(&first, &first_body), (&second, &second_body)].map(|(h, b)| {
        env.client
            .parse_notification(&header_map(h), b.as_bytes())
            .is_ok()
    });
    assert_eq!(
        results.iter().filter(|ok| **ok).count(),
        1,
        "a public-key-only merchant verifies exactly one of the two"
    );
}

#[tokio::test]
async fn the_trade_bill_downloads_plain_and_gzipped_and_a_wrong_hash_is_refused() {
    let env = public_key_mode().await;
    env.client
        .native_prepay(&prepay_request(&env, "ORD_bill_1", 990))
        .await
        .unwrap();
    env.sandbox.pay("ORD_bill_1", None).unwrap();
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%Y-%m-%d")
        .to_string();

    let plain_answer = env.client.trade_bill(&today, false).await.unwrap();
    assert_eq!(plain_answer.hash_type, "SHA1");
    let plain = env
        .client
        .download_bill(&plain_answer, false)
        .await
        .unwrap();
    let gzip_answer = env.client.trade_bill(&today, true).await.unwrap();
    assert!(gzip_answer.download_url.contains("tartype=gzip"));
    let inflated = env.client.download_bill(&gzip_answer, true).await.unwrap();
    assert_eq!(inflated, plain, "the same file, compressed or not");
    let bill = wechatpay::bill::TradeBill::parse(&plain).unwrap();
    let row = bill
        .rows
        .iter()
        .find(|r| r.out_trade_no == "ORD_bill_1")
        .expect("the payment is on the bill");
    assert_eq!(
        (row.order_total, row.trade_state.as_str()),
        (990, "SUCCESS")
    );

    // The file is not signed: a SHA1 that is not its own refuses it.
    let mut faults = env.sandbox.faults();
    faults.bill_corrupt_hash = true;
    env.sandbox.set_faults(faults);
    let answer = env.client.trade_bill(&today, true).await.unwrap();
    let refused = env.client.download_bill(&answer, true).await.unwrap_err();
    assert!(matches!(refused, Error::BadResponse { .. }), "{refused}");
    assert!(refused.to_string().contains("SHA1"), "{refused}");
    // A token that was never issued: refused, and (unsigned, like every answer of the
    // file endpoint) not trusted as WeChat's word either way.
    let mut unknown = answer.clone();
    unknown.download_url = unknown.download_url.replace("token=", "token=x");
    assert!(matches!(
        env.client.download_bill(&unknown, true).await,
        Err(Error::UntrustedResponse { .. })
    ));
}

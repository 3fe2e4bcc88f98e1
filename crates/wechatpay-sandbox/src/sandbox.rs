//! The sandbox itself: shared state behind an `Arc`, the business rules of orders, payments,
//! closes and refunds, and the Rust API that tests and the chatmall server drive.

use crate::config::{Faults, SandboxConfig, SignatureMode};
use crate::keyset::{KeySet, PlatformCertificate, clone_key, random_serial};
use crate::notifier::{self, DeliveryOutcome, Notification, NotificationRecord};
use crate::respond::{ApiError, signature_headers};
use crate::state::{Order, Store, StoredRefund, rfc3339_cst};
use anyhow::Result;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use wechatpay::aead::ApiV3Key;
use wechatpay::keys::PublicKey;
use wechatpay::model::{
    NativePrepayRequest, Refund, RefundAmount, RefundRequest, RefundStatus, TradeState, Transaction,
};
use wechatpay::signing::MerchantSigner;
use wechatpay::verify::Verifier;

/// How long a code_url stays payable (WeChat: 2 hours).
const CODE_URL_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(2);
/// At most this many refunds per order.
const MAX_REFUNDS: usize = 50;

/// A local WeChat Pay v3 server; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("mchid", &self.inner.keys.mchid)
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

struct Inner {
    keys: KeySet,
    merchant_public: PublicKey,
    mode: SignatureMode,
    time_scale: f64,
    notify_timeout: Duration,
    apiv3: ApiV3Key,
    certificate: PlatformCertificate,
    faults: Mutex<Faults>,
    rng: Mutex<StdRng>,
    store: Mutex<Store>,
    corrupt_next: AtomicBool,
    log: Mutex<Vec<NotificationRecord>>,
    pending: AtomicUsize,
    /// Notifications signed so far (`Both` mode alternates on it).
    notifications_signed: AtomicUsize,
    http: reqwest::Client,
}

/// Why [`Sandbox::pay`] refused to pay an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayError {
    /// No order with that out_trade_no or code_url.
    #[error("order {0} does not exist")]
    NotFound(String),
    /// The order was closed.
    #[error("the order is closed")]
    Closed,
    /// `time_expire` (or the 2-hour code_url lifetime) has passed.
    #[error("the order can no longer be paid: {0}")]
    Expired(String),
    /// The order is not NOTPAY any more.
    #[error("the order is already paid (state {0:?})")]
    AlreadyPaid(TradeState),
}

impl PayError {
    /// A stable code for the JSON error of `POST /sandbox/pay`.
    pub fn code(&self) -> &'static str {
        match self {
            PayError::NotFound(_) => "ORDER_NOT_EXIST",
            PayError::Closed => "ORDER_CLOSED",
            PayError::Expired(_) => "ORDER_EXPIRED",
            PayError::AlreadyPaid(_) => "ORDER_PAID",
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a sandbox lock leaves plain data behind; keep serving.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sandbox {
    /// Builds a sandbox (generates the platform certificate for legacy mode).
    pub fn new(config: SandboxConfig) -> Result<Self> {
        let apiv3 = ApiV3Key::new(&config.keys.apiv3_key)?;
        let mut rng = StdRng::seed_from_u64(config.seed);
        let certificate =
            PlatformCertificate::generate(&config.keys.platform_key, &random_serial(&mut rng))?;
        let http = reqwest::Client::builder()
            // Notify URLs are usually loopback: an environment proxy must not intercept them.
            .no_proxy()
            .user_agent("wechatpay-sandbox")
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                merchant_public: config.keys.merchant_key.public_key(),
                keys: config.keys,
                mode: config.mode,
                time_scale: config.time_scale.max(0.0),
                notify_timeout: config.notify_timeout,
                apiv3,
                certificate,
                faults: Mutex::new(config.faults),
                rng: Mutex::new(rng),
                store: Mutex::new(Store::default()),
                corrupt_next: AtomicBool::new(false),
                log: Mutex::new(Vec::new()),
                pending: AtomicUsize::new(0),
                notifications_signed: AtomicUsize::new(0),
                http,
            }),
        })
    }

    /// All routes (`/v3/*` WeChat protocol, `/sandbox/*` helpers), for `Router::merge`.
    pub fn router(&self) -> axum::Router {
        crate::routes::router(self.clone())
    }

    /// Serves the router on `listener` in a background task.
    pub fn serve(&self, listener: tokio::net::TcpListener) -> SandboxHandle {
        let addr = listener
            .local_addr()
            .expect("a bound listener has a local address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = self.router();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("sandbox server failed: {e}");
            }
        });
        SandboxHandle {
            addr,
            sandbox: self.clone(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The key set.
    pub fn keys(&self) -> &KeySet {
        &self.inner.keys
    }

    /// The signature mode.
    pub fn mode(&self) -> SignatureMode {
        self.inner.mode
    }

    /// The `Wechatpay-Serial` answers carry in the current mode (in `Both`, the public
    /// key's, as for a request that names it).
    pub fn serial(&self) -> &str {
        self.serial_for(Some(&self.inner.keys.public_key_id))
    }

    /// The serial that signs the answer to a request that sent `requested` as its
    /// `Wechatpay-Serial` header.
    pub fn serial_for(&self, requested: Option<&str>) -> &str {
        let public_key = &self.inner.keys.public_key_id;
        let certificate = &self.inner.certificate.serial_no;
        match self.inner.mode {
            SignatureMode::PublicKey => public_key,
            SignatureMode::PlatformCertificate => certificate,
            SignatureMode::Both if requested.is_some_and(|r| r.starts_with("PUB_KEY_ID_")) => {
                public_key
            }
            SignatureMode::Both => certificate,
        }
    }

    /// The serial that signs the next notification: in `Both` mode the two take turns.
    pub(crate) fn notification_serial(&self) -> &str {
        match self.inner.mode {
            SignatureMode::Both
                if self
                    .inner
                    .notifications_signed
                    .fetch_add(1, Ordering::Relaxed)
                    % 2
                    == 1 =>
            {
                &self.inner.certificate.serial_no
            }
            _ => self.serial(),
        }
    }

    /// The platform certificate (served by `/v3/certificates`).
    pub fn platform_certificate(&self) -> &PlatformCertificate {
        &self.inner.certificate
    }

    /// The WeChat Pay public key (`pub_key.pem`).
    pub fn wechatpay_public_key(&self) -> PublicKey {
        self.inner.keys.wechatpay_public_key()
    }

    /// The merchant public key requests are verified with.
    pub fn merchant_public_key(&self) -> &PublicKey {
        &self.inner.merchant_public
    }

    /// The APIv3 key as an AES key.
    pub fn apiv3_key(&self) -> &ApiV3Key {
        &self.inner.apiv3
    }

    /// A verifier trusting both the public key id and the certificate serial.
    pub fn verifier(&self) -> Verifier {
        let verifier =
            Verifier::with_public_key(&self.inner.keys.public_key_id, self.wechatpay_public_key());
        verifier.add_key(
            &self.inner.certificate.serial_no,
            self.wechatpay_public_key(),
        );
        verifier
    }

    /// A request signer for the sandbox's merchant.
    pub fn merchant_signer(&self) -> MerchantSigner {
        let keys = &self.inner.keys;
        MerchantSigner::new(
            &keys.mchid,
            &keys.merchant_serial_no,
            clone_key(&keys.merchant_key),
        )
    }

    /// The retry-delay multiplier.
    pub fn time_scale(&self) -> f64 {
        self.inner.time_scale
    }

    /// How long a merchant may take to answer a notification.
    pub fn notify_timeout(&self) -> Duration {
        self.inner.notify_timeout
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The current faults.
    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    /// Replaces the faults (takes effect for the next request or notification).
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.inner.faults) = faults;
    }

    /// Makes the next signed response carry a garbage signature (one shot).
    pub fn corrupt_next_response_signature(&self) {
        self.inner.corrupt_next.store(true, Ordering::SeqCst);
    }

    pub(crate) fn take_corrupt_flag(&self) -> bool {
        self.inner.corrupt_next.swap(false, Ordering::SeqCst)
    }

    /// A seeded coin flip with probability `p` (no RNG draw when `p <= 0`, so enabling one
    /// fault does not shift the others' sequence more than needed).
    pub(crate) fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        lock(&self.inner.rng).random_bool(p.min(1.0))
    }

    pub(crate) fn random_range(&self, min: u64, max: u64) -> u64 {
        lock(&self.inner.rng).random_range(min..=max)
    }

    fn random_string(&self, alphabet: &[u8], len: usize) -> String {
        let mut rng = lock(&self.inner.rng);
        (0..len)
            .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
            .collect()
    }

    pub(crate) fn record(
        &self,
        notification: &Notification,
        copy: u32,
        attempt: u32,
        outcome: DeliveryOutcome,
    ) {
        tracing::debug!(
            event_id = %notification.event_id,
            attempt,
            ?outcome,
            "sandbox notification"
        );
        lock(&self.inner.log).push(NotificationRecord {
            event_id: notification.event_id.clone(),
            event_type: notification.event_type.clone(),
            out_trade_no: notification.out_trade_no.clone(),
            copy,
            attempt,
            outcome,
            at: rfc3339_cst(Utc::now()),
        });
    }

    pub(crate) fn pending_counter(&self) -> &AtomicUsize {
        &self.inner.pending
    }

    /// The log of notification sends so far (oldest first).
    pub fn notifications(&self) -> Vec<NotificationRecord> {
        lock(&self.inner.log).clone()
    }

    /// How many delivery tasks are still running (waiting, sending or retrying).
    pub fn pending_deliveries(&self) -> usize {
        self.inner.pending.load(Ordering::SeqCst)
    }

    /// A snapshot of one order as WeChat would report it.
    pub fn order(&self, out_trade_no: &str) -> Option<Transaction> {
        lock(&self.inner.store)
            .orders
            .get(out_trade_no)
            .map(Order::transaction)
    }

    /// All orders, oldest first.
    pub fn orders(&self) -> Vec<Transaction> {
        let store = lock(&self.inner.store);
        store
            .order_list
            .iter()
            .filter_map(|no| store.orders.get(no))
            .map(Order::transaction)
            .collect()
    }

    /// The order behind a code_url token, with its description (for the scan page).
    pub(crate) fn order_by_token(&self, token: &str) -> Option<Order> {
        lock(&self.inner.store).by_token(token).cloned()
    }

    /// Signature headers (`Wechatpay-*`, `Request-ID`) for `body` at `timestamp`: for tests
    /// that craft expired or forged messages.
    pub fn sign(&self, body: &[u8], timestamp: i64) -> Vec<(String, String)> {
        signature_headers(self, self.serial(), body, timestamp, false)
    }

    /// A signed `TRANSACTION.SUCCESS` notification for `transaction`, as it would be sent now:
    /// (headers, body). Nothing is sent.
    pub fn build_notification(&self, transaction: &Transaction) -> (Vec<(String, String)>, String) {
        let plaintext = serde_json::to_vec(transaction).expect("a transaction serialises");
        let (_, body) = notifier::build(
            self,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &plaintext,
        );
        let headers = notifier::headers_for(self, &body, Utc::now().timestamp());
        (headers, body)
    }

    /// Pays a NOTPAY order as user `openid` (a made-up one if `None`) and sends the
    /// `TRANSACTION.SUCCESS` notification in the background.
    pub fn pay(&self, out_trade_no: &str, openid: Option<&str>) -> Result<Transaction, PayError> {
        let generated_openid = format!(
            "o{}",
            self.random_string(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-",
                27
            )
        );
        let (transaction, notify_url) = {
            let mut store = lock(&self.inner.store);
            let order = store
                .orders
                .get(out_trade_no)
                .ok_or_else(|| PayError::NotFound(out_trade_no.to_owned()))?;
            match order.state {
                TradeState::Notpay => {}
                TradeState::Closed => return Err(PayError::Closed),
                other => return Err(PayError::AlreadyPaid(other)),
            }
            let now = Utc::now();
            if let Some(deadline) = order.deadline
                && now >= deadline
            {
                return Err(PayError::Expired(format!(
                    "time_expire {} has passed",
                    order.request.time_expire.as_deref().unwrap_or_default()
                )));
            }
            if now - order.created_at >= CODE_URL_LIFETIME {
                return Err(PayError::Expired(
                    "the code_url is older than 2 hours".to_owned(),
                ));
            }
            let transaction_id = loop {
                let id = format!(
                    "42000{}{}",
                    now.with_timezone(&crate::state::cst()).format("%Y%m%d"),
                    self.random_string(b"0123456789", 15)
                );
                if !store.by_transaction.contains_key(&id) {
                    break id;
                }
            };
            store
                .by_transaction
                .insert(transaction_id.clone(), out_trade_no.to_owned());
            let order = store
                .orders
                .get_mut(out_trade_no)
                .expect("the order was found above, under the same lock");
            order.state = TradeState::Success;
            order.transaction_id = Some(transaction_id);
            order.openid = Some(openid.map_or(generated_openid, str::to_owned));
            order.success_time = Some(rfc3339_cst(now));
            (order.transaction(), order.request.notify_url.clone())
        };
        let plaintext = serde_json::to_vec(&transaction).expect("a transaction serialises");
        let (event_id, body) = notifier::build(
            self,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            &plaintext,
        );
        notifier::dispatch(
            self,
            Notification {
                event_id,
                event_type: "TRANSACTION.SUCCESS".to_owned(),
                out_trade_no: out_trade_no.to_owned(),
                notify_url,
                body,
            },
        );
        Ok(transaction)
    }

    /// Pays the order behind a code_url (`weixin://wxpay/bizpayurl?pr=…`) or a bare token.
    pub fn pay_code_url(
        &self,
        code_url: &str,
        openid: Option<&str>,
    ) -> Result<Transaction, PayError> {
        let token = code_url
            .rsplit_once("pr=")
            .map_or(code_url, |(_, token)| token);
        let out_trade_no = lock(&self.inner.store)
            .by_token
            .get(token)
            .cloned()
            .ok_or_else(|| PayError::NotFound(code_url.to_owned()))?;
        self.pay(&out_trade_no, openid)
    }

    /// The sandbox page for a code_url: `/sandbox/scan?pr=…` (relative to the base URL).
    pub fn scan_path(code_url: &str) -> Option<String> {
        code_url
            .split_once("pr=")
            .map(|(_, token)| format!("/sandbox/scan?pr={token}"))
    }

    /// Creates (or, for an identical retry, finds) a Native order; returns its code_url.
    pub(crate) fn prepay(
        &self,
        request: NativePrepayRequest,
        deadline: Option<DateTime<chrono::FixedOffset>>,
    ) -> Result<String, ApiError> {
        let mut store = lock(&self.inner.store);
        if let Some(existing) = store.orders.get(&request.out_trade_no) {
            if existing.request != request {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "OUT_TRADE_NO_USED",
                    "商户订单号重复: the same out_trade_no was used with different parameters",
                ));
            }
            return match existing.state {
                TradeState::Notpay => Ok(existing.code_url()),
                TradeState::Closed => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "ORDER_CLOSED",
                    "订单已关闭",
                )),
                _ => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    "订单已支付",
                )),
            };
        }
        let token = loop {
            let token = self.random_string(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                16,
            );
            if !store.by_token.contains_key(&token) {
                break token;
            }
        };
        let order = Order {
            request,
            token,
            created_at: Utc::now(),
            deadline,
            state: TradeState::Notpay,
            transaction_id: None,
            openid: None,
            success_time: None,
            refunded: 0,
            refund_count: 0,
        };
        let code_url = order.code_url();
        store.insert(order);
        Ok(code_url)
    }

    /// Query by out_trade_no.
    pub(crate) fn query_out_trade_no(&self, out_trade_no: &str) -> Result<Transaction, ApiError> {
        self.order(out_trade_no)
            .ok_or_else(ApiError::order_not_exist)
    }

    /// Query by transaction_id (only paid orders have one).
    pub(crate) fn query_transaction_id(
        &self,
        transaction_id: &str,
    ) -> Result<Transaction, ApiError> {
        let store = lock(&self.inner.store);
        store
            .by_transaction
            .get(transaction_id)
            .and_then(|no| store.orders.get(no))
            .map(Order::transaction)
            .ok_or_else(ApiError::order_not_exist)
    }

    /// Closes a NOTPAY order; closing a closed order again is harmless.
    pub(crate) fn close(&self, out_trade_no: &str) -> Result<(), ApiError> {
        let mut store = lock(&self.inner.store);
        let order = store
            .orders
            .get_mut(out_trade_no)
            .ok_or_else(ApiError::order_not_exist)?;
        match order.state {
            TradeState::Notpay | TradeState::Closed => {
                order.state = TradeState::Closed;
                Ok(())
            }
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "订单已支付，不能关闭 (the order is paid)",
            )),
        }
    }

    /// Closes an order from Rust (what WeChat does to week-old unpaid orders).
    pub fn close_order(&self, out_trade_no: &str) -> bool {
        self.close(out_trade_no).is_ok()
    }

    /// Makes a refund (SUCCESS at once); an identical retry returns the same refund.
    pub(crate) fn refund(&self, request: RefundRequest) -> Result<Refund, ApiError> {
        let invalid = |message: &str| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                message.to_owned(),
            )
        };
        let refund = {
            let mut store = lock(&self.inner.store);
            if let Some(existing) = store.refunds.get(&request.out_refund_no) {
                return if existing.request == request {
                    Ok(existing.refund.clone())
                } else {
                    Err(invalid(
                        "out_refund_no 已用于另一笔退款 (different parameters)",
                    ))
                };
            }
            let out_trade_no = match (&request.out_trade_no, &request.transaction_id) {
                (Some(no), _) => no.clone(),
                (None, Some(id)) => store
                    .by_transaction
                    .get(id)
                    .cloned()
                    .ok_or_else(ApiError::order_not_exist)?,
                (None, None) => {
                    return Err(ApiError::param(
                        "one of out_trade_no and transaction_id is required",
                    ));
                }
            };
            let refund_id = format!("50{}", self.random_string(b"0123456789", 27));
            let order = store
                .orders
                .get_mut(&out_trade_no)
                .ok_or_else(ApiError::order_not_exist)?;
            if let (Some(id), Some(own)) = (&request.transaction_id, &order.transaction_id)
                && id != own
            {
                return Err(invalid("transaction_id does not belong to out_trade_no"));
            }
            if !matches!(order.state, TradeState::Success | TradeState::Refund) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "TRADE_ERROR",
                    format!("订单状态 {:?} 不能退款 (only paid orders)", order.state),
                ));
            }
            let total = order.request.amount.total;
            if request.amount.total != total {
                return Err(ApiError::param(format!(
                    "amount.total {} is not the order total {total}",
                    request.amount.total
                )));
            }
            if request.amount.currency != "CNY" {
                return Err(ApiError::param("amount.currency must be CNY"));
            }
            if request.amount.refund < 1 {
                return Err(ApiError::param("amount.refund must be at least 1 fen"));
            }
            if request.amount.refund > total - order.refunded {
                return Err(invalid(&format!(
                    "申请退款金额超过订单可退金额: refund {} > remaining {}",
                    request.amount.refund,
                    total - order.refunded
                )));
            }
            if order.refund_count >= MAX_REFUNDS {
                return Err(invalid("退款次数超过限制 (at most 50 refunds per order)"));
            }
            order.refunded += request.amount.refund;
            order.refund_count += 1;
            order.state = TradeState::Refund;
            let now = rfc3339_cst(Utc::now());
            let refund = Refund {
                refund_id,
                out_refund_no: request.out_refund_no.clone(),
                transaction_id: order.transaction_id.clone().unwrap_or_default(),
                out_trade_no: out_trade_no.clone(),
                channel: "ORIGINAL".to_owned(),
                user_received_account: "支付用户零钱".to_owned(),
                success_time: Some(now.clone()),
                create_time: now,
                status: RefundStatus::Success,
                amount: RefundAmount {
                    total,
                    refund: request.amount.refund,
                    payer_total: total,
                    payer_refund: request.amount.refund,
                    currency: Some("CNY".to_owned()),
                },
            };
            store.refunds.insert(
                request.out_refund_no.clone(),
                StoredRefund {
                    request: request.clone(),
                    refund: refund.clone(),
                },
            );
            refund
        };
        if let Some(notify_url) = &request.notify_url {
            self.notify_refund(&refund, notify_url);
        }
        Ok(refund)
    }

    fn notify_refund(&self, refund: &Refund, notify_url: &str) {
        // The REFUND.SUCCESS resource has its own shape (refund_status, flat ids).
        let resource = serde_json::json!({
            "mchid": self.inner.keys.mchid,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": refund.transaction_id,
            "out_refund_no": refund.out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": "SUCCESS",
            "success_time": refund.success_time,
            "user_received_account": refund.user_received_account,
            "amount": {
                "total": refund.amount.total,
                "refund": refund.amount.refund,
                "payer_total": refund.amount.payer_total,
                "payer_refund": refund.amount.payer_refund,
            },
        });
        let plaintext = serde_json::to_vec(&resource).expect("JSON serialises");
        let (event_id, body) =
            notifier::build(self, "REFUND.SUCCESS", "退款成功", "refund", &plaintext);
        notifier::dispatch(
            self,
            Notification {
                event_id,
                event_type: "REFUND.SUCCESS".to_owned(),
                out_trade_no: refund.out_trade_no.clone(),
                notify_url: notify_url.to_owned(),
                body,
            },
        );
    }

    /// A refund by out_refund_no.
    pub(crate) fn query_refund(&self, out_refund_no: &str) -> Result<Refund, ApiError> {
        lock(&self.inner.store)
            .refunds
            .get(out_refund_no)
            .map(|stored| stored.refund.clone())
            .ok_or_else(|| {
                ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在")
            })
    }
}

/// A running sandbox server; stops on drop or [`SandboxHandle::shutdown`].
#[derive(Debug)]
pub struct SandboxHandle {
    addr: std::net::SocketAddr,
    sandbox: Sandbox,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The sandbox being served.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Stops accepting connections and waits (up to 5 s) for open ones to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
        {
            tracing::warn!("sandbox server did not stop within 5 s");
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A hanging (timeout-fault) request must not keep the server alive after drop.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

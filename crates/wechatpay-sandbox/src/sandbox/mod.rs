//! The sandbox itself: shared state behind an `Arc`, and its lifecycle (build, mount,
//! serve, stop). Its roles live in the submodules: who it is ([`identity`]), how it
//! misbehaves and what it sent ([`faults`]), the order book ([`payments`]) and refunds
//! ([`refunds`]).

mod bills;
mod faults;
mod identity;
mod payments;
mod refunds;

pub use payments::PayError;

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
use std::collections::HashMap;
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
    /// Trade bill files made so far, by download token.
    bills: Mutex<HashMap<String, Vec<u8>>>,
    corrupt_next: AtomicBool,
    log: Mutex<Vec<NotificationRecord>>,
    pending: AtomicUsize,
    /// Notifications signed so far (`Both` mode alternates on it).
    notifications_signed: AtomicUsize,
    http: reqwest::Client,
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
                bills: Mutex::default(),
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

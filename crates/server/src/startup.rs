//! Builds the application from settings: store, payment channel (live or the built-in
//! sandbox), shop, background jobs, HTTP. Binds first, so tests can use port 0.

use crate::config::{Parsed, Settings, WechatPayMode};
use crate::jobs::relay::DeliveryTrigger;
use crate::session::Sessions;
use crate::state::{AppChat, AppShop, AppState};
use anyhow::{Context, bail};
use domain::clock::SystemClock;
use domain::order::{MerchantIdentity, OrderNoGenerator};
use domain::ports::Clock;
use domain::service::{Shop, ShopSettings};
use infra::store::{IfMissing, PoolSize, SeaStore};
use infra::wechatpay_channel::WechatPayChannel;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wechatpay::aead::ApiV3Key;
use wechatpay::client::{Client, ClientConfig};
use wechatpay::keys::{PrivateKey, PublicKey};
use wechatpay::signing::MerchantSigner;
use wechatpay::verify::Verifier;
use wechatpay_sandbox::{KeySet, Sandbox, SandboxConfig};

/// How long a stopping server lets requests in flight (a streaming answer) finish.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(30);

/// A built, bound, not yet serving application.
pub struct Application {
    listener: TcpListener,
    /// `/metrics` on an address of its own (`metrics.listen`).
    metrics: Option<(TcpListener, axum::Router)>,
    port: u16,
    base_url: String,
    router: axum::Router,
    state: AppState,
    sandbox: Option<Sandbox>,
    settings: Settings,
    limits: crate::serve::ConnectionLimits,
}

/// The WeChat Pay side of the wiring.
struct Payments {
    client: Client,
    merchant: MerchantIdentity,
    notify_url: String,
    sandbox: Option<Sandbox>,
}

impl Application {
    /// Connects, migrates, wires everything and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with the one clock every flow reads (tests move it past
    /// deadlines instead of waiting for them).
    pub async fn build_with_clock(
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let parsed = settings.parse(crate::process::open_file_limit())?;
        crate::process::restrict_file_modes();
        crate::datadir::prepare(&settings.server.data_dir)?;
        // Seen before anything below creates its secrets: a later missing database means
        // a lost one only if an earlier run left these.
        let earlier_run = crate::datadir::earlier_run(&settings.server.data_dir);
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("bind {address}"))?;
        let port = listener.local_addr()?.port();
        let base_url = if settings.server.public_url.is_empty() {
            format!("http://{}:{port}", settings.server.host)
        } else {
            settings.server.public_url.trim_end_matches('/').to_owned()
        };

        // Every secret and key is read (or made) before the database is opened, so one
        // that cannot be read is named as such.
        let jwt_secret = jwt_secret(&settings)?;
        let account = crate::officialaccount::OfficialAccount::from_settings(&settings)?;
        let payments = payments(&settings, &base_url)?;

        let store = open_store(&settings, &earlier_run, clock.as_ref()).await?;
        if store.seed_demo_products_if_empty().await? {
            tracing::info!("empty catalog: inserted the demo products");
        }

        first_certificates(&settings, &payments.client, clock.as_ref()).await?;
        let shop = shop(&settings, &parsed, &store, &payments, &clock).await?;
        let login = Arc::new(crate::login_desk::LoginDesk::new(
            &settings,
            parsed.login,
            store,
            account,
            jwt_secret.as_bytes(),
            clock.clone(),
        )?);
        let simulator = official_account_simulator(&settings, &login, &base_url, &clock)?;
        let chat = Arc::new(chat(&settings, &parsed, &shop, port, &base_url, &clock)?);
        let redemptions = domain::service::Redemptions::new(
            shop.store().clone(),
            Arc::new(crate::redemption_keys::RedemptionKeys::new(
                jwt_secret.as_bytes(),
            )),
            clock.clone(),
            parsed.redeem,
        );
        let console = console(shop.store(), &parsed, &clock);
        let state = AppState {
            login,
            shop,
            sessions: Arc::new(Sessions::new(
                jwt_secret.as_bytes(),
                chrono::Duration::days(settings.auth.token_ttl_days),
            )),
            wechatpay: payments.client.clone(),
            delivery: DeliveryTrigger::default(),
            job_stats: Arc::default(),
            admin_token: Arc::new(settings.admin.token.clone()),
            troubled_after: settings.jobs.troubled_after_attempts,
            chat: chat.clone(),
            redemptions,
            node_id: settings.server.node_id,
            console,
            secure_cookies: base_url.starts_with("https://"),
            clock: clock.clone(),
        };
        let mut router = router(&settings, &parsed, &state, &payments, simulator)?;
        let mut metrics = None;
        if settings.metrics.enabled {
            crate::prometheus::handle();
            let route = crate::prometheus::router().with_state(state.clone());
            if settings.metrics.listen.is_empty() {
                router = router.merge(route);
            } else {
                let address = &settings.metrics.listen;
                let listener = TcpListener::bind(address)
                    .await
                    .with_context(|| format!("bind metrics.listen {address}"))?;
                metrics = Some((listener, route));
            }
        }
        Ok(Self {
            listener,
            metrics,
            port,
            base_url,
            router,
            state,
            sandbox: payments.sandbox,
            settings,
            limits: parsed.limits,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on apart from the shop (`metrics.listen`), if it is.
    pub fn metrics_port(&self) -> Option<u16> {
        let (listener, _) = self.metrics.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    /// The URL this server is reached at.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The built-in sandbox, in sandbox mode.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// The handler state (the shop and its store), for tests and tools.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` is cancelled, then lets the background jobs finish their round.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> anyhow::Result<()> {
        let mut jobs = crate::jobs::spawn_all(&self.state, &self.settings.jobs, &stop);
        if self.settings.wechatpay.uses_platform_certificates() {
            jobs.push(crate::jobs::certificates::spawn(&self.state, &stop));
        }
        if let Some((listener, route)) = self.metrics {
            let stop = stop.clone();
            jobs.push(tokio::spawn(async move {
                let served = axum::serve(listener, route)
                    .with_graceful_shutdown(stop.cancelled_owned())
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = ?e, "the metrics listener stopped");
                }
            }));
        }
        let limits = self.limits;
        tracing::info!(
            url = %self.base_url,
            max_connections = limits.max_connections,
            "chatmall listening"
        );
        let result = crate::serve::serve(
            self.listener,
            self.router,
            limits,
            stop.clone(),
            SHUTDOWN_DRAIN,
        )
        .await;
        stop.cancel();
        for job in jobs {
            let _ = job.await;
        }
        result.context("HTTP server")
    }
}

/// Opens the database, refusing to start on a lost one (a data folder with an earlier run's
/// secrets but no database file is not a fresh install) or on one that cannot be written.
/// The database as `serve` opens it (migrated, checked), for the command line's tools.
pub async fn open_database(settings: &Settings, clock: &dyn Clock) -> anyhow::Result<SeaStore> {
    crate::process::restrict_file_modes();
    crate::datadir::prepare(&settings.server.data_dir)?;
    let earlier_run = crate::datadir::earlier_run(&settings.server.data_dir);
    open_store(settings, &earlier_run, clock).await
}

/// The operators' console over `store`.
pub fn console(
    store: &Arc<SeaStore>,
    parsed: &Parsed,
    clock: &Arc<dyn Clock>,
) -> crate::state::AppConsole {
    domain::service::Console::new(
        store.clone(),
        Arc::new(crate::console::ConsoleKeys::default()),
        clock.clone(),
        parsed.console,
    )
}

async fn open_store(
    settings: &Settings,
    earlier: &[&str],
    clock: &dyn Clock,
) -> anyhow::Result<SeaStore> {
    let url = settings.database_url();
    let mut if_missing = IfMissing::Create;
    if let Some(file) = infra::store::sqlite_file(&url) {
        let lost_is_possible = !earlier.is_empty() && !settings.database.create_new;
        if lost_is_possible && !file.exists() {
            bail!(
                "{} holds an earlier run's {} but there is no database at {}: it was lost or \
                 moved. Restore it, or start with `chatmall serve --new-database` to begin \
                 with an empty one",
                settings.server.data_dir.display(),
                earlier.join(", "),
                file.display()
            );
        }
        if lost_is_possible {
            // Nor if it vanishes between this check and the open.
            if_missing = IfMissing::Refuse;
        }
        if let Some(dir) = file.parent().filter(|d| d.is_dir()) {
            writable(dir).with_context(|| {
                format!(
                    "the database folder {} cannot be written (SQLite keeps its journal there)",
                    dir.display()
                )
            })?;
        }
    }
    let pool = PoolSize::new(settings.database.max_connections);
    let store = SeaStore::open(&url, pool, if_missing)
        .await
        .context("open the database")?;
    store
        .probe(settings.server.node_id, clock.now())
        .await
        .context("the database cannot be written")?;
    Ok(store)
}

/// In live mode on platform certificates, the first download, before anything is served.
async fn first_certificates(
    settings: &Settings,
    client: &Client,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    if !settings.wechatpay.uses_platform_certificates() {
        return Ok(());
    }
    match crate::jobs::certificates::round(client, clock).await {
        Ok(_) => Ok(()),
        // With no public key, nothing could be verified: refuse to start rather than
        // answer every callback 401.
        Err(e) if settings.wechatpay.public_key_id.is_empty() => {
            Err(e.context("download the WeChat Pay platform certificates"))
        }
        Err(e) => {
            tracing::warn!(
                error = %e,
                "no platform certificates yet; verifying with the public key meanwhile"
            );
            Ok(())
        }
    }
}

/// The session-signing secret: configured, or kept in the data directory.
fn jwt_secret(settings: &Settings) -> anyhow::Result<String> {
    if settings.auth.jwt_secret.is_empty() {
        crate::secrets::load_or_create(&settings.server.data_dir.join("jwt_secret"))
    } else {
        Ok(settings.auth.jwt_secret.expose().to_owned())
    }
}

/// The shop over the store and the payment channel, its order numbers resumed after the
/// last this node issued.
async fn shop(
    settings: &Settings,
    parsed: &Parsed,
    store: &SeaStore,
    payments: &Payments,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<AppShop> {
    let order_nos = OrderNoGenerator::new(settings.server.node_id);
    if let Some(last) = store.latest_order_no(settings.server.node_id).await? {
        order_nos.resume_after(&last);
    }
    let channel = WechatPayChannel::new(
        payments.client.clone(),
        payments.merchant.clone(),
        payments.notify_url.clone(),
    );
    let settings = ShopSettings {
        order_ttl: parsed.order_ttl,
        merchant: payments.merchant.clone(),
        buyer_check_gap: parsed.buyer_check_gap,
    };
    Ok(Shop::new(
        Arc::new(store.clone()),
        Arc::new(channel),
        clock.clone(),
        order_nos,
        settings,
    ))
}

/// The metered chat over the shop's store and the model services of `[chat]`.
fn chat(
    settings: &Settings,
    parsed: &Parsed,
    shop: &AppShop,
    port: u16,
    public_url: &str,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<AppChat> {
    let models = crate::chat::Models::from_settings(
        &settings.chat,
        &loopback_url(settings, port),
        public_url,
        settings.wechatpay.mode == WechatPayMode::Live,
    )
    .context("[chat]")?;
    Ok(domain::service::Chat::new(
        shop.store().clone(),
        Arc::new(models),
        parsed.chat.clone(),
        clock.clone(),
        Arc::new(crate::chat::OnRuntime),
    ))
}

/// Every route (the API, the pages, and the built-in sandbox, simulator and offline model
/// when they are on) behind the security headers, the body timeout and the request log.
fn router(
    settings: &Settings,
    parsed: &Parsed,
    state: &AppState,
    payments: &Payments,
    simulator: Option<crate::officialaccount::simulator::Simulator>,
) -> anyhow::Result<axum::Router> {
    let mut router = crate::http::router(state.clone())
        .merge(crate::console::router(state.clone()))
        .merge(crate::pages::router(
            state.clone(),
            crate::pages::PageOptions {
                sandbox_pay: payments.sandbox.is_some(),
                simulator: simulator.is_some(),
                settings: settings.pages.clone(),
            },
        )?);
    if let Some(sandbox) = &payments.sandbox {
        router = router.merge(sandbox.router());
    }
    if let Some(simulator) = simulator {
        router = router.merge(simulator.router());
    }
    if let Some(offline_model) = state.chat.models().offline_router() {
        router = router.merge(offline_model);
    }
    if let Some(cors) = crate::http::cors::layer(&settings.server.cors_allowed_origins)? {
        router = router.layer(cors);
    }
    let router = crate::http::security_headers(router)
        // A body must arrive as promptly as headers (a slow body holds a socket too).
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            parsed.limits.header_timeout,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(crate::telemetry::request_span),
        );
    Ok(crate::telemetry::with_request_ids(router))
}

/// Whether a file can be made in `dir` now.
fn writable(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(".chatmall-write-probe");
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

fn payments(settings: &Settings, base_url: &str) -> anyhow::Result<Payments> {
    let ws = &settings.wechatpay;
    let notify_url = if ws.notify_url.is_empty() {
        format!("{base_url}/api/v1/sale/pay_notify")
    } else {
        ws.notify_url.clone()
    };
    let timeout = Duration::from_millis(ws.timeout_ms);
    match ws.mode {
        WechatPayMode::Sandbox => {
            let keys = sandbox_keys(settings)?;
            let sandbox = Sandbox::new(sandbox_config(settings, keys.clone()))?;
            let base = if ws.base_url.is_empty() {
                base_url.to_owned()
            } else {
                ws.base_url.clone()
            };
            // The sandbox may sign with its certificate as well (`sandbox.signing`): this
            // shop trusts both of its identities, as a merchant in WeChat's migration does.
            let client = client(
                &base,
                MerchantSigner::new(&keys.mchid, &keys.merchant_serial_no, keys.merchant_key),
                &keys.public_key_id,
                sandbox.verifier(),
                &keys.apiv3_key,
                timeout,
            )?;
            Ok(Payments {
                client,
                merchant: MerchantIdentity {
                    mchid: keys.mchid,
                    appid: keys.appid,
                },
                notify_url,
                sandbox: Some(sandbox),
            })
        }
        WechatPayMode::Live => {
            if ws.public_key_id.is_empty() && !ws.platform_certificates {
                bail!(
                    "wechatpay.mode = \"live\" needs wechatpay.public_key_id, or \
                     wechatpay.platform_certificates = true for a merchant on certificates"
                );
            }
            for (name, value) in [
                ("appid", ws.appid.as_str()),
                ("mchid", ws.mchid.as_str()),
                ("merchant_serial_no", ws.merchant_serial_no.as_str()),
                (
                    "apiv3_key",
                    if ws.apiv3_key.is_empty() { "" } else { "set" },
                ),
            ] {
                if value.is_empty() {
                    bail!("wechatpay.mode = \"live\" needs wechatpay.{name}");
                }
            }
            let key = PrivateKey::from_pem_file(&ws.private_key_path)
                .context("wechatpay.private_key_path")?;
            // Without a public key (legacy mode) the platform certificates fill the
            // verifier later.
            let verifier = if ws.public_key_id.is_empty() {
                Verifier::new()
            } else {
                Verifier::with_public_key(
                    &ws.public_key_id,
                    PublicKey::from_pem_file(&ws.public_key_path)
                        .context("wechatpay.public_key_path")?,
                )
            };
            let base = if ws.base_url.is_empty() {
                "https://api.mch.weixin.qq.com"
            } else {
                ws.base_url.as_str()
            };
            let client = client(
                base,
                MerchantSigner::new(&ws.mchid, &ws.merchant_serial_no, key),
                &ws.public_key_id,
                verifier,
                ws.apiv3_key.expose(),
                timeout,
            )?;
            Ok(Payments {
                client,
                merchant: MerchantIdentity {
                    mchid: ws.mchid.clone(),
                    appid: ws.appid.clone(),
                },
                notify_url,
                sandbox: None,
            })
        }
    }
}

/// The sandbox's key set: loaded from its directory, or generated there on first start.
pub fn sandbox_keys(settings: &Settings) -> anyhow::Result<KeySet> {
    let dir = settings.sandbox_keys_dir();
    let (keys, generated) = KeySet::load_or_generate(&dir)
        .with_context(|| format!("the sandbox key set in {}", dir.display()))?;
    if generated {
        tracing::info!(dir = %dir.display(), "generated a sandbox key set");
    }
    Ok(keys)
}

/// The sandbox's configuration from `[sandbox]`, over `keys`.
pub fn sandbox_config(settings: &Settings, keys: KeySet) -> SandboxConfig {
    let mut config = SandboxConfig::new(keys);
    config.time_scale = settings.sandbox.time_scale;
    config.mode = settings.sandbox.signing;
    config
}

/// How this process reaches itself (the offline model): the bound address, with a
/// wildcard host replaced by loopback.
fn loopback_url(settings: &Settings, port: u16) -> String {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        host => host,
    };
    format!("http://{host}:{port}")
}

fn client(
    base_url: &str,
    signer: MerchantSigner,
    public_key_id: &str,
    verifier: Verifier,
    apiv3_key: &str,
    timeout: Duration,
) -> anyhow::Result<Client> {
    let mut config = ClientConfig::new(
        signer,
        Arc::new(verifier),
        ApiV3Key::new(apiv3_key).context("wechatpay.apiv3_key")?,
    );
    config.base_url = base_url.trim_end_matches('/').to_owned();
    config.timeout = timeout;
    config.wechatpay_serial = Some(public_key_id.to_owned()).filter(|id| !id.is_empty());
    // The sandbox is on loopback: an environment proxy must not intercept it.
    config.use_env_proxy = !crate::net::is_loopback(base_url);
    Ok(Client::new(config)?)
}

/// The official-account simulator, when on: by default only in sandbox mode, and never in
/// live mode, since whoever reaches it can log in as any openid.
fn official_account_simulator(
    settings: &Settings,
    login: &crate::login_desk::LoginDesk,
    base_url: &str,
    clock: &Arc<dyn Clock>,
) -> anyhow::Result<Option<crate::officialaccount::simulator::Simulator>> {
    let sandbox = settings.wechatpay.mode == WechatPayMode::Sandbox;
    let on = match settings.officialaccount.simulator {
        Some(true) if !sandbox => bail!(
            "officialaccount.simulator = true needs wechatpay.mode = \"sandbox\": \
             the simulator lets anyone log in as any openid"
        ),
        Some(on) => on,
        None => sandbox,
    };
    if !on {
        return Ok(None);
    }
    tracing::info!(
        url = %format!("{base_url}/simulator/official-account"),
        "official-account simulator on (development only)"
    );
    Ok(Some(crate::officialaccount::simulator::Simulator::new(
        login.account.clone(),
        base_url,
        clock.clone(),
    )?))
}

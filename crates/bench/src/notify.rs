//! Benchmarks 1 and 7: notify ingestion through the real server (a child process) vs the
//! same verify + decrypt + committed transition in-process; and the server's memory.

use crate::fixtures::{Backend, Rows, World, fresh, insert_orders};
use crate::report::Row;
use crate::server::ServerProcess;
use crate::stats::{Samples, ms};
use domain::clock::SystemClock;
use domain::order::{MerchantIdentity, OrderNoGenerator};
use domain::service::{Confirmation, Shop, ShopSettings};
use infra::store::SeaStore;
use infra::wechatpay_channel::confirmation_of;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use wechatpay::notify::{NotificationResource, parse_notification};

/// Concurrent senders.
const SENDERS: [usize; 3] = [1, 16, 64];
/// Target: the server keeps at least half the in-process rate at K = 64.
const TARGET: f64 = 0.5;

/// A batch of callbacks for distinct orders.
type Batch = Arc<Vec<(Vec<(String, String)>, String)>>;

/// What one pass measured.
struct Pass {
    per_sec: f64,
    latency: Samples,
}

impl Pass {
    fn text(&self) -> String {
        format!(
            "{:.0}/s (p50 {}, p99 {})",
            self.per_sec,
            ms(self.latency.p50()),
            ms(self.latency.p99())
        )
    }
}

/// Runs benchmark 1 (and 7's memory figures) on `backend`.
pub async fn run(
    bin: &Path,
    dir: &Path,
    world: &World,
    backend: Backend,
    quick: bool,
) -> anyhow::Result<Vec<Row>> {
    let n: u64 = if quick { 200 } else { 1_000 };
    let served = fresh(backend).await?;
    let inproc = fresh(backend).await?;
    let now = chrono::Utc::now().timestamp_millis();
    for (j, _) in SENDERS.iter().enumerate() {
        let rows = Rows {
            prefix: format!("NTF{j}"),
            first: 0,
            count: n,
            status: Some("PAY_WAIT"),
            created_at: now,
            ttl_ms: 7_200_000,
            paid_after_ms: 0,
            next_check_at: now + 3_600_000,
            prepay_attempts: 1,
        };
        insert_orders(&served, &rows).await?;
        insert_orders(&inproc, &rows).await?;
    }

    // WeChat Pay for the server's jobs to talk to (they have nothing to do meanwhile).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sandbox = world.sandbox.serve(listener);
    let server =
        ServerProcess::start(bin, dir, world, &served.url, &sandbox.base_url(), None, &[]).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (idle_rss, _) = server.memory_kib();

    let shop = Shop::new(
        Arc::new(inproc.store.clone()),
        Arc::new(()),
        Arc::new(SystemClock),
        OrderNoGenerator::new(0),
        ShopSettings {
            order_ttl: domain::order::OrderTtl::from_secs(7_200)?,
            buyer_check_gap: chrono::Duration::seconds(5),
            merchant: MerchantIdentity {
                mchid: world.keys.mchid.clone(),
                appid: world.keys.appid.clone(),
            },
        },
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(128)
        .build()?;
    let url = format!("{}/api/v1/sale/pay_notify", server.base_url);
    let mut rows = Vec::new();
    for (j, &k) in SENDERS.iter().enumerate() {
        // Signed right before use: the 300 s replay window starts at signing.
        let batch: Batch = Arc::new(
            (0..n)
                .map(|i| world.notification(&format!("NTF{j}{i:010}"), (j as u64) << 32 | i))
                .collect(),
        );
        let over_http = over_http(&http, &url, batch.clone(), k).await?;
        let in_process = in_process(&shop, world, batch, k).await?;
        let ratio = over_http.per_sec / in_process.per_sec;
        let mut row = Row::info(
            "1 notify",
            format!(
                "{} K={k}: notifications/s (p50, p99), {n} distinct orders",
                backend.name()
            ),
            over_http.text(),
        )
        .vs(format!("in-process {}", in_process.text()), ratio);
        if k == 64 {
            row = row.target(format!("ratio ≥ {TARGET}"), ratio >= TARGET);
        }
        rows.push(row);
    }
    // Let the delivery relay finish what the callbacks started, then read the peak.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, peak) = server.memory_kib();
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    rows.push(Row::info(
        "7 memory",
        format!("{}: server idle RSS after start (VmRSS)", backend.name()),
        mib(idle_rss),
    ));
    rows.push(
        Row::info(
            "7 memory",
            format!("{}: server peak RSS during run 1 (VmHWM)", backend.name()),
            mib(peak),
        )
        .vs(
            format!("idle {}", mib(idle_rss)),
            peak as f64 / idle_rss.max(1) as f64,
        ),
    );
    drop(server);
    sandbox.shutdown().await;
    Ok(rows)
}

/// Posts every callback of `batch` with `k` concurrent senders; each must answer 204.
async fn over_http(
    http: &reqwest::Client,
    url: &str,
    batch: Batch,
    k: usize,
) -> anyhow::Result<Pass> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..k {
        let (http, url, batch, next) = (http.clone(), url.to_owned(), batch.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((headers, body)) = batch.get(i) else {
                    break;
                };
                let mut request = http.post(&url).body(body.clone());
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                let t = Instant::now();
                let status = request.send().await?.status();
                lat.push(t.elapsed());
                anyhow::ensure!(status.as_u16() == 204, "pay_notify answered {status}");
            }
            anyhow::Ok(lat)
        }));
    }
    collect(tasks, batch.len(), started).await
}

/// The same work without HTTP: verify + decrypt, then the shop's confirm_payment (one
/// committed conditional transition), with `k` concurrent tasks.
async fn in_process(
    shop: &Shop<SeaStore, ()>,
    world: &World,
    batch: Batch,
    k: usize,
) -> anyhow::Result<Pass> {
    let verifier = Arc::new(world.verifier());
    let key = Arc::new(world.apiv3());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..k {
        let (shop, batch, next) = (shop.clone(), batch.clone(), next.clone());
        let (verifier, key) = (verifier.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((headers, body)) = batch.get(i) else {
                    break;
                };
                let t = Instant::now();
                let signature = crate::fixtures::signature_headers(headers)?;
                let now = chrono::Utc::now().timestamp();
                let notification =
                    parse_notification(&verifier, &key, &signature, body.as_bytes(), now)?;
                let NotificationResource::Transaction(tx) = &notification.resource else {
                    anyhow::bail!("not a transaction");
                };
                let payment = confirmation_of(tx)
                    .map_err(anyhow::Error::msg)?
                    .ok_or_else(|| anyhow::anyhow!("not paid"))?;
                let outcome = shop
                    .confirm_payment(
                        &payment,
                        &domain::order::Cause::Notification(notification.id.clone()),
                    )
                    .await?;
                lat.push(t.elapsed());
                anyhow::ensure!(
                    outcome == Confirmation::Paid,
                    "confirm_payment: {outcome:?}"
                );
            }
            anyhow::Ok(lat)
        }));
    }
    collect(tasks, batch.len(), started).await
}

async fn collect(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Duration>>>>,
    n: usize,
    started: Instant,
) -> anyhow::Result<Pass> {
    let mut latency = Samples::default();
    for task in tasks {
        for d in task.await?? {
            latency.push(d);
        }
    }
    let elapsed = started.elapsed();
    anyhow::ensure!(latency.len() == n, "{} of {n} done", latency.len());
    Ok(Pass {
        per_sec: n as f64 / elapsed.as_secs_f64(),
        latency,
    })
}

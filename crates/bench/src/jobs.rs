//! Benchmark 3: the cost of a job round as history grows. 100 due orders among 10⁴ and
//! among 10⁶ final-state (DELIVERED/CLOSED) orders; a round must not scan history.
//!
//! A full round includes WeChat Pay calls (the missed-payment and expiry rounds query each
//! order at the sandbox), which hide the scan; so the bare claim on an idle table (nothing
//! due: pure scan cost) is measured too.

use crate::fixtures::{Backend, Rows, World, fresh, insert_orders};
use crate::report::Row;
use crate::stats::{fmt_duration, median};
use chatmall::jobs::claims::ClaimSettings;
use chatmall::jobs::expiry::{self, ExpirySettings};
use chatmall::jobs::missed_payment::{self, MissedPaymentSettings};
use chatmall::jobs::redelivery::{self, RedeliverySettings};
use chatmall::jobs::relay::DeliveryTrigger;
use chatmall::state::AppShop;
use domain::clock::SystemClock;
use domain::order::{MerchantIdentity, OrderNoGenerator};
use domain::ports::{OrderJobs, OrderScan};
use domain::service::{Shop, ShopSettings};
use infra::wechatpay_channel::WechatPayChannel;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wechatpay::client::{Client, ClientConfig};
use wechatpay::signing::MerchantSigner;

/// Idle claims timed per repetition and kind.
const IDLE_CLAIMS: usize = 20;

/// Due orders per round.
const DUE: u64 = 100;
/// Target: a round over the big history costs at most twice the small one.
const TARGET: f64 = 2.0;
const KINDS: [&str; 3] = ["missed-payment", "expiry", "redelivery"];

/// Per kind: median round time, median empty-claim time.
struct Costs {
    round: [Duration; 3],
    empty: [Duration; 3],
}

/// Runs benchmark 3 on `backend` with histories `small` and `big`.
pub async fn run(
    world: &World,
    backend: Backend,
    small: u64,
    big: u64,
    reps: u32,
) -> anyhow::Result<Vec<Row>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sandbox = world.sandbox.serve(listener);
    let small_costs = costs(world, &sandbox.base_url(), backend, small, reps).await?;
    let big_costs = costs(world, &sandbox.base_url(), backend, big, reps).await?;
    sandbox.shutdown().await;
    let mut rows = Vec::new();
    let (s, b) = (pow10(small), pow10(big));
    for (i, kind) in KINDS.iter().enumerate() {
        for (what, ours, base) in [
            ("round", big_costs.round[i], small_costs.round[i]),
            (
                "claim, nothing due (scan only)",
                big_costs.empty[i],
                small_costs.empty[i],
            ),
        ] {
            let ratio = ours.as_secs_f64() / base.as_secs_f64();
            let due = if what == "round" {
                format!(" ({DUE} due)")
            } else {
                String::new()
            };
            rows.push(
                Row::info(
                    "3 jobs",
                    format!("{}: {kind} {what}{due}, history {b}", backend.name()),
                    fmt_duration(ours),
                )
                .vs(format!("history {s}: {}", fmt_duration(base)), ratio)
                .target(format!("ratio ≤ {TARGET}"), ratio <= TARGET),
            );
        }
    }
    Ok(rows)
}

fn pow10(n: u64) -> String {
    let e = (n as f64).log10().round() as u32;
    if 10u64.pow(e) == n {
        format!("10^{e}")
    } else {
        n.to_string()
    }
}

async fn costs(
    world: &World,
    wechatpay_url: &str,
    backend: Backend,
    history: u64,
    reps: u32,
) -> anyhow::Result<Costs> {
    let db = fresh(backend).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let started = Instant::now();
    insert_orders(
        &db,
        &Rows {
            prefix: "HIS".into(),
            first: 0,
            count: history,
            status: None,
            created_at: now - 86_400_000,
            ttl_ms: 900_000,
            paid_after_ms: 60_000,
            // Long past: only the status keeps these rows out of a job's scan.
            next_check_at: now - 86_400_000,
            prepay_attempts: 1,
        },
    )
    .await?;
    crate::fixtures::analyze(&db).await?;
    println!(
        "    {}: {history} history rows inserted in {:.1} s",
        backend.name(),
        started.elapsed().as_secs_f64()
    );
    let shop = shop(world, wechatpay_url, db.store.clone())?;
    let delivery = DeliveryTrigger::default();
    let claims = ClaimSettings {
        batch: DUE,
        lease: Duration::from_secs(60),
        troubled_after: 5,
    };
    let missed = MissedPaymentSettings {
        delay: Duration::from_secs(60),
        recheck: Duration::from_secs(3600),
        claims,
    };
    let expiry = ExpirySettings {
        retry: Duration::from_secs(3600),
        claims,
    };
    let redelivery = RedeliverySettings {
        delay: Duration::from_secs(0),
        retry: Duration::from_secs(3600),
        claims,
    };
    let mut rounds: [Vec<Duration>; 3] = Default::default();
    let mut empties: [Vec<Duration>; 3] = Default::default();
    // One unmeasured warm-up repetition (connections, statement caches, page cache).
    for rep in 0..=reps {
        for (kind, times) in rounds.iter_mut().enumerate() {
            let now = chrono::Utc::now().timestamp_millis();
            let (status, created_at, ttl_ms) = match kind {
                0 => ("PAY_WAIT", now - 3_600_000, 7_200_000),
                1 => ("PAY_WAIT", now - 7_200_000, 3_600_000),
                _ => ("PAID", now - 3_600_000, 7_200_000),
            };
            insert_orders(
                &db,
                &Rows {
                    prefix: format!("DUE{kind}{rep:02}"),
                    first: 2_000_000_000 + u64::from(rep * 3 + kind as u32) * 1_000,
                    count: DUE,
                    status: Some(status),
                    created_at,
                    ttl_ms,
                    paid_after_ms: 1_000,
                    next_check_at: now - 1_000,
                    prepay_attempts: 1,
                },
            )
            .await?;
            let t = Instant::now();
            let report = match kind {
                0 => missed_payment::round(&shop, &delivery, &missed).await?,
                1 => expiry::round(&shop, &delivery, &expiry).await?,
                _ => redelivery::round(&shop, &redelivery).await?,
            };
            let took = t.elapsed();
            anyhow::ensure!(
                report.scanned == DUE as usize,
                "{} round claimed {} of {DUE}",
                KINDS[kind],
                report.scanned
            );
            if rep > 0 {
                times.push(took);
            }
        }
        // Nothing is due now: what remains is the scan itself. One call takes under a
        // millisecond, so each repetition times IDLE_CLAIMS of them for a steadier median.
        for (kind, times) in empties.iter_mut().enumerate() {
            for _ in 0..IDLE_CLAIMS {
                let now = chrono::Utc::now();
                let scan = match kind {
                    0 => OrderScan::Unpaid {
                        created_before: now - chrono::Duration::seconds(60),
                    },
                    1 => OrderScan::Expired,
                    _ => OrderScan::Undelivered { paid_before: now },
                };
                let t = Instant::now();
                let claimed = db
                    .store
                    .claim_orders(scan, now, now + chrono::Duration::seconds(60), DUE)
                    .await?;
                let took = t.elapsed();
                anyhow::ensure!(
                    claimed.is_empty(),
                    "{} claimed {} idle orders",
                    KINDS[kind],
                    claimed.len()
                );
                if rep > 0 {
                    times.push(took);
                }
            }
        }
    }
    Ok(Costs {
        round: rounds.each_ref().map(|t| median(t)),
        empty: empties.each_ref().map(|t| median(t)),
    })
}

/// The server's shop over `store`, paying through the sandbox at `wechatpay_url`.
fn shop(
    world: &World,
    wechatpay_url: &str,
    store: infra::store::SeaStore,
) -> anyhow::Result<AppShop> {
    let keys = &world.keys;
    let signer = MerchantSigner::new(
        &keys.mchid,
        &keys.merchant_serial_no,
        wechatpay_sandbox::keyset::clone_key(&keys.merchant_key),
    );
    let mut config = ClientConfig::new(signer, Arc::new(world.verifier()), world.apiv3());
    config.base_url = wechatpay_url.to_owned();
    config.wechatpay_serial = Some(keys.public_key_id.clone());
    config.use_env_proxy = false;
    let merchant = MerchantIdentity {
        mchid: keys.mchid.clone(),
        appid: keys.appid.clone(),
    };
    let channel = WechatPayChannel::new(
        Client::new(config)?,
        merchant.clone(),
        "http://127.0.0.1:9/api/v1/sale/pay_notify".into(),
    );
    Ok(Shop::new(
        Arc::new(store),
        Arc::new(channel),
        Arc::new(SystemClock),
        OrderNoGenerator::new(0),
        ShopSettings {
            order_ttl: domain::order::OrderTtl::from_secs(7_200)?,
            buyer_check_gap: chrono::Duration::seconds(5),
            merchant,
        },
    ))
}

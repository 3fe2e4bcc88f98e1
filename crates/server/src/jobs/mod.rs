//! Background work, one job a module: the outbox relay that delivers paid orders, the
//! three compensation jobs of DESIGN.md §4, and the sweep of interrupted chat calls. Jobs
//! claim their work by a lease in the database, or change it by one conditional write, so
//! several processes can share one database safely.

pub mod certificates;
pub mod claims;
pub mod delivery;
pub mod expiry;
pub mod interrupted_chats;
pub mod missed_payment;
pub mod redelivery;
pub mod runner;
pub mod stats;

use crate::config::JobSettings;
use crate::state::AppState;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Starts every background job; each stops (finishing its round) when `stop` is cancelled.
pub fn spawn_all(
    state: &AppState,
    settings: &JobSettings,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let ms = Duration::from_millis;
    let secs = Duration::from_secs;
    let lease = secs(settings.lease_secs);
    let mut tasks = vec![tokio::spawn(delivery::run(
        state.shop.clone(),
        state.delivery.clone(),
        delivery::RelaySettings {
            poll: ms(settings.delivery_poll_ms),
            batch: settings.batch,
            lease,
        },
        stop.clone(),
    ))];

    let missed = missed_payment::MissedPaymentSettings {
        delay: secs(settings.missed_payment_delay_secs),
        recheck: ms(settings.missed_payment_interval_ms),
        batch: settings.batch,
        lease,
    };
    let (shop, trigger) = (state.shop.clone(), state.delivery.clone());
    tasks.push(tokio::spawn(runner::run_every(
        "missed_payment",
        ms(settings.missed_payment_interval_ms),
        state.job_stats.clone(),
        stop.clone(),
        move || {
            let (shop, trigger, missed) = (shop.clone(), trigger.clone(), missed.clone());
            async move { missed_payment::round(&shop, &trigger, &missed).await }
        },
    )));

    let expiry = expiry::ExpirySettings {
        retry: ms(settings.expiry_interval_ms),
        batch: settings.batch,
        lease,
    };
    let (shop, trigger) = (state.shop.clone(), state.delivery.clone());
    tasks.push(tokio::spawn(runner::run_every(
        "expiry",
        ms(settings.expiry_interval_ms),
        state.job_stats.clone(),
        stop.clone(),
        move || {
            let (shop, trigger, expiry) = (shop.clone(), trigger.clone(), expiry.clone());
            async move { expiry::round(&shop, &trigger, &expiry).await }
        },
    )));

    let redelivery = redelivery::RedeliverySettings {
        delay: secs(settings.redelivery_delay_secs),
        retry: ms(settings.redelivery_interval_ms),
        batch: settings.batch,
        lease,
        troubled_after: settings.troubled_after_attempts,
    };
    let shop = state.shop.clone();
    tasks.push(tokio::spawn(runner::run_every(
        "redelivery",
        ms(settings.redelivery_interval_ms),
        state.job_stats.clone(),
        stop.clone(),
        move || {
            let (shop, redelivery) = (shop.clone(), redelivery.clone());
            async move { redelivery::round(&shop, &redelivery).await }
        },
    )));

    let accounts = state.shop.store().clone();
    tasks.push(tokio::spawn(runner::run_every(
        "interrupted_chats",
        interrupted_chats::INTERVAL,
        state.job_stats.clone(),
        stop.clone(),
        move || {
            let accounts = accounts.clone();
            async move { interrupted_chats::round(accounts.as_ref()).await }
        },
    )));
    tasks
}

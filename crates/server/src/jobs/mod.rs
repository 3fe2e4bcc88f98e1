//! Background work, one job a module, all run by the one runner (`runner`): the outbox
//! relay that delivers paid orders, the three compensation jobs of DESIGN.md §4, and the
//! sweep of interrupted chat calls. Jobs
//! claim their work by a lease in the database, or change it by one conditional write, so
//! several processes can share one database safely.

pub mod books;
pub mod certificates;
pub mod claims;
pub mod expiry;
pub mod interrupted_chats;
pub mod missed_payment;
pub mod redelivery;
pub mod refunds;
pub mod relay;
pub mod runner;
pub mod stats;

use crate::config::JobSettings;
use crate::state::AppState;
use claims::ClaimSettings;
use runner::Schedule;
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
    let claims = ClaimSettings {
        batch: settings.batch,
        lease: secs(settings.lease_secs),
        troubled_after: settings.troubled_after_attempts,
    };
    let (stats, stop) = (&state.job_stats, stop);
    let (shop, trigger) = (state.shop.clone(), state.delivery.clone());
    let relay = relay::RelaySettings {
        batch: settings.batch,
        lease: claims.lease,
    };
    let relay_schedule = Schedule {
        wake: Some(trigger.notify()),
        batch: usize::try_from(settings.batch).ok(),
        ..Schedule::every(ms(settings.delivery_poll_ms))
    };
    let missed = missed_payment::MissedPaymentSettings {
        delay: secs(settings.missed_payment_delay_secs),
        recheck: ms(settings.missed_payment_interval_ms),
        claims,
    };
    let expiry = expiry::ExpirySettings {
        retry: ms(settings.expiry_interval_ms),
        claims,
    };
    let redelivery = redelivery::RedeliverySettings {
        delay: secs(settings.redelivery_delay_secs),
        retry: ms(settings.redelivery_interval_ms),
        claims,
    };
    let refund_job = refunds::RefundJobSettings {
        delay: secs(settings.refund_check_delay_secs),
        recheck: ms(settings.refund_check_interval_ms),
        batch: settings.batch,
        lease: claims.lease,
    };
    // Each round gets its own clones: a round's future owns what it uses.
    vec![
        runner::spawn("delivery", relay_schedule, stats.clone(), stop.clone(), {
            let shop = shop.clone();
            move || {
                let (shop, relay) = (shop.clone(), relay.clone());
                async move { relay::round(&shop, &relay).await }
            }
        }),
        runner::spawn(
            "missed_payment",
            Schedule::every(missed.recheck),
            stats.clone(),
            stop.clone(),
            {
                let (shop, trigger) = (shop.clone(), trigger.clone());
                move || {
                    let (shop, trigger, missed) = (shop.clone(), trigger.clone(), missed.clone());
                    async move { missed_payment::round(&shop, &trigger, &missed).await }
                }
            },
        ),
        runner::spawn(
            "expiry",
            Schedule::every(expiry.retry),
            stats.clone(),
            stop.clone(),
            {
                let (shop, trigger) = (shop.clone(), trigger.clone());
                move || {
                    let (shop, trigger, expiry) = (shop.clone(), trigger.clone(), expiry.clone());
                    async move { expiry::round(&shop, &trigger, &expiry).await }
                }
            },
        ),
        runner::spawn(
            "redelivery",
            Schedule::every(redelivery.retry),
            stats.clone(),
            stop.clone(),
            {
                let shop = shop.clone();
                move || {
                    let (shop, redelivery) = (shop.clone(), redelivery.clone());
                    async move { redelivery::round(&shop, &redelivery).await }
                }
            },
        ),
        runner::spawn(
            "refunds",
            Schedule::every(refund_job.recheck),
            stats.clone(),
            stop.clone(),
            {
                let shop = shop.clone();
                move || {
                    let (shop, refund_job) = (shop.clone(), refund_job.clone());
                    async move { refunds::round(&shop, &refund_job).await }
                }
            },
        ),
        runner::spawn(
            "reconciliation",
            Schedule::every(ms(settings.reconciliation_interval_ms)),
            stats.clone(),
            stop.clone(),
            {
                let state = state.clone();
                move || {
                    let state = state.clone();
                    async move { books::round(&state).await }
                }
            },
        ),
        runner::spawn(
            "interrupted_chats",
            Schedule::every(interrupted_chats::INTERVAL),
            stats.clone(),
            stop.clone(),
            move || {
                let shop = shop.clone();
                async move { interrupted_chats::round(&shop).await }
            },
        ),
    ]
}

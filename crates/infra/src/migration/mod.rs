//! Schema migrations, run by [`crate::store::SeaStore::connect`].
//!
//! Written with the schema builder only, so one migration serves SQLite, PostgreSQL and
//! MySQL. Timestamps are BIGINT unix milliseconds and money BIGINT fen on every backend.

use sea_orm_migration::prelude::*;

mod columns;

mod m20260101_000001_create_tables;
mod m20261128_000002_login_codes;
mod m20261128_000003_chat_usage;
mod m20261129_000004_chat_usage_status_index;
mod m20261201_000005_unmatched_payments;
mod m20261201_000006_login_hardening;
mod m20261201_000007_health_probes;
mod m20261201_000008_account_models;
mod m20261202_000009_outbox_without_payload;
mod m20261202_000010_free_trial;
mod m20261202_000011_api_keys;
mod m20261202_000012_usage_tokens;
mod m20261202_000013_buyer_checks;
mod m20261202_000014_redemption_codes;
mod m20261202_000015_refunds;
mod m20261202_000016_reconciliations;
mod m20261203_000017_order_events;
mod m20261203_000018_operators;
mod m20261203_000019_review_payments;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20260101_000001_create_tables::Migration),
            Box::new(m20261128_000002_login_codes::Migration),
            Box::new(m20261128_000003_chat_usage::Migration),
            Box::new(m20261129_000004_chat_usage_status_index::Migration),
            Box::new(m20261201_000005_unmatched_payments::Migration),
            Box::new(m20261201_000006_login_hardening::Migration),
            Box::new(m20261201_000007_health_probes::Migration),
            Box::new(m20261201_000008_account_models::Migration),
            Box::new(m20261202_000009_outbox_without_payload::Migration),
            Box::new(m20261202_000010_free_trial::Migration),
            Box::new(m20261202_000011_api_keys::Migration),
            Box::new(m20261202_000012_usage_tokens::Migration),
            Box::new(m20261202_000013_buyer_checks::Migration),
            Box::new(m20261202_000014_redemption_codes::Migration),
            Box::new(m20261202_000015_refunds::Migration),
            Box::new(m20261202_000016_reconciliations::Migration),
            Box::new(m20261203_000017_order_events::Migration),
            Box::new(m20261203_000018_operators::Migration),
            Box::new(m20261203_000019_review_payments::Migration),
        ]
    }
}

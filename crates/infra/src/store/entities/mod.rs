//! SeaORM entities: the rows as stored. Domain types never derive database traits, so the
//! store maps between these and the domain in its adapter modules.

pub mod account;
pub mod account_model;
pub mod api_key;
pub mod audit_entry;
pub mod chat_usage;
pub mod health_probe;
pub mod ledger;
pub mod login_attempt;
pub mod login_code;
pub mod operator;
pub mod operator_attempt;
pub mod operator_session;
pub mod order;
pub mod order_event;
pub mod outbox;
pub mod product;
pub mod reconciliation;
pub mod redeem_attempt;
pub mod redemption_batch;
pub mod redemption_code;
pub mod refund;
pub mod trial_call;
pub mod unmatched_payment;

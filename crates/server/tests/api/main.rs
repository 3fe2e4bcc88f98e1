//! The server over real HTTP on port 0: a real SQLite (or PostgreSQL) store, the built-in
//! WeChat Pay sandbox with real signatures and encryption, and the notify path end to end.

mod billing;
mod buyer_check;
mod chat;
mod checkout;
mod console;
mod fake_models;
mod helpers;
mod jobs;
mod live;
mod login;
mod metrics;
mod notify;
mod openai;
mod openapi;
mod original_chat;
mod reconciliations;
mod redeem;
mod refunds;

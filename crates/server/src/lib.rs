//! The chatmall server: configuration, wiring, the HTTP API, background jobs.

pub mod api_keys;
pub mod chat;
pub mod cli;
pub mod config;
pub mod console;
pub mod datadir;
pub mod http;
pub mod jobs;
pub mod login_desk;
pub mod net;
pub mod officialaccount;
pub mod pages;
pub mod process;
pub mod prometheus;
pub mod redemption_keys;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;

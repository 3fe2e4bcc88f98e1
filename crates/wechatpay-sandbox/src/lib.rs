//! A faithful local WeChat Pay API v3 server: the same wire protocol (signed requests,
//! signed responses, encrypted callbacks), real crypto, and fault injection.
//!
//! It serves over real HTTP ([`Sandbox::serve`]) or mounts into a host axum app
//! ([`Sandbox::router`]). All crypto and wire types come from the `wechatpay` crate, so the
//! sandbox and the client can only agree when both follow the protocol.
//!
//! Deliberate differences from real WeChat Pay (all documented where they happen):
//! - `notify_url` may be `http://` (a loopback sandbox has no TLS); real WeChat wants https.
//! - The sandbox holds WeChat's private key (`sandbox_platform_key.pem`), which real WeChat
//!   never hands out, and its platform certificate is self-signed rather than CA-issued.
//! - `/sandbox/*` routes (pay, scan page, faults) are the sandbox's own, unauthenticated.

pub mod auth;
pub mod config;
pub mod keyset;
pub mod notifier;
pub mod page;
pub mod respond;
pub mod routes;
pub mod sandbox;
pub mod state;

pub use config::{Faults, SandboxConfig, SignatureMode, TimeoutMode};
pub use keyset::{KeySet, PlatformCertificate};
pub use notifier::{DeliveryOutcome, NotificationRecord};
pub use sandbox::{PayError, Sandbox, SandboxHandle};

//! A WeChat Pay API v3 client that can be used on its own.
//!
//! - [`signing`] signs merchant requests (`Authorization: WECHATPAY2-SHA256-RSA2048 …`);
//! - [`verify`] checks WeChat's responses and callbacks, in public-key mode (`PUB_KEY_ID_…`)
//!   and legacy platform-certificate mode, with the 300-second replay window;
//! - [`aead`] decrypts callback resources and platform certificates (AES-256-GCM);
//! - [`client`] makes typed calls, and [`notify`] turns a callback into a typed
//!   [`notify::Notification`];
//! - [`error::Error`] tells a definite refusal from an unknown outcome.
//!
//! ```no_run
//! use std::sync::Arc;
//! use wechatpay::aead::ApiV3Key;
//! use wechatpay::client::{Client, ClientConfig};
//! use wechatpay::keys::{PrivateKey, PublicKey};
//! use wechatpay::model::{Amount, NativePrepayRequest};
//! use wechatpay::signing::MerchantSigner;
//! use wechatpay::verify::Verifier;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let signer = MerchantSigner::new(
//!     "1900007291",
//!     "408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB",
//!     PrivateKey::from_pem_file("apiclient_key.pem")?,
//! );
//! let public_key_id = "PUB_KEY_ID_0000000000000024101100397200000006";
//! let verifier = Verifier::with_public_key(public_key_id, PublicKey::from_pem_file("pub_key.pem")?);
//! let mut config = ClientConfig::new(signer, Arc::new(verifier), ApiV3Key::new("0123456789abcdef0123456789abcdef")?);
//! config.wechatpay_serial = Some(public_key_id.to_owned());
//! let client = Client::new(config)?;
//!
//! let request = NativePrepayRequest {
//!     appid: "wxd678efh567hg6787".into(),
//!     mchid: client.mchid().into(),
//!     description: "100 chat calls".into(),
//!     out_trade_no: "ORD20240101000001".into(),
//!     time_expire: None,
//!     attach: None,
//!     notify_url: "https://shop.example.com/api/v1/sale/pay_notify".into(),
//!     goods_tag: None,
//!     amount: Amount { total: 990, currency: Some("CNY".into()) },
//!     scene_info: None,
//! };
//! match client.native_prepay(&request).await {
//!     Ok(answer) => println!("show a QR code of {}", answer.code_url),
//!     // Timeout, 5xx, 429, unverifiable answer: retry with the same out_trade_no, or query.
//!     Err(e) if e.outcome_unknown() => println!("unknown outcome: {e}"),
//!     Err(e) => println!("refused: {e}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! A callback handler passes the raw headers and body to [`client::Client::parse_notification`],
//! which verifies the signature before it reads anything, then decrypts and types the resource.

#![warn(missing_docs)]

pub mod aead;
pub mod bill;
pub mod canonical;
pub mod certificates;
pub mod client;
pub mod error;
pub mod keys;
pub mod model;
pub mod nonce;
pub mod notify;
pub mod signing;
pub mod verify;

pub use client::{Client, ClientBuildError, ClientConfig};
pub use error::Error;
pub use notify::{Notification, NotificationResource, NotifyError};

//! chatmall's domain: what a shop selling chat quota is, with no IO.
//!
//! Values that cross an edge are parsed into types here ([`money::Fen`],
//! [`order::OrderNo`], [`user::UserId`]), so an invalid value cannot exist past it.
//! The [`ports`] are the traits the outside world implements; the [`service`]s are the
//! flows of DESIGN.md (checkout, payment confirmation, delivery), generic over the ports.

pub mod account;
pub mod api_key;
pub mod chat;
pub mod clock;
pub mod login_code;
pub mod money;
pub mod operator;
pub mod order;
pub mod ports;
pub mod product;
pub mod reconciliation;
pub mod redemption;
pub mod refund;
pub mod service;
pub mod user;

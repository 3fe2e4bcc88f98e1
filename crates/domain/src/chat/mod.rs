//! Chat (DESIGN.md §1): a logged-in user spends quota on a streamed answer from a model.
//!
//! The rules live here, with no IO: what a valid chat request is ([`request`]), what a call
//! costs ([`pricing`]), the free trial ([`trial`]), the sensitive words ([`words`]) and the
//! quota port's typed outcomes ([`usage`]). The server
//! talks to the model; the store keeps the quota.

pub mod pricing;
pub mod request;
pub mod trial;
pub mod usage;
pub mod words;

pub use pricing::{Billing, Price, Pricing, PricingError, TokenRates};
pub use request::{ChatMessage, ChatRequest, ChatRequestError, Role};
pub use trial::{Trial, TrialError};
pub use usage::{Charge, ChatUsage, Settlement, Spend, TokenUsage, UsageEnd, UsageId, UsageStatus};
pub use words::{Screened, WordAction, WordFilter, WordsError};

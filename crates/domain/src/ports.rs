//! The ports: what the domain needs from the outside world, as traits.
//!
//! Infrastructure failures travel as `anyhow::Error` (the caller can only log and retry);
//! outcomes a caller must tell apart are enums.

use crate::account::{Account, AccountStatus};
use crate::chat::{ChatUsage, Price, Settlement, Spend, UsageEnd, UsageId};
use crate::login_code::{
    AttemptCounts, AttemptId, ClientPrefix, CodeDigest, CodeStrength, LoginCode, SealedCode,
    StoreCode, StoredCode,
};
use crate::money::Fen;
use crate::operator::{
    AuditEntry, OperatorAccount, OperatorAttemptCounts, OperatorName, OperatorSession, Password,
    PasswordHash, Role, SessionDigest,
};
use crate::order::{
    Cause, Order, OrderEvent, OrderNo, OrderStatus, PaymentConfirmation, UnmatchedPayment,
};
use crate::product::{ModelType, Product, ProductDraft, ProductId};
use crate::reconciliation::{ReconciliationReport, Statement};
use crate::redemption::{Batch, BatchTerms, RedeemOutcome, RedemptionCode};
use crate::refund::{Refund, RefundNo, RefundStatus, RefundTransition};
use crate::user::UserId;
use chrono::{DateTime, Utc};
use std::future::Future;

/// The product catalog.
pub trait ProductCatalog: Send + Sync + 'static {
    /// Enabled products, in display order.
    fn on_sale(&self) -> impl Future<Output = anyhow::Result<Vec<Product>>> + Send;
    /// One product, enabled or not.
    fn product(
        &self,
        id: ProductId,
    ) -> impl Future<Output = anyhow::Result<Option<Product>>> + Send;
}

/// Inserting an order failed.
#[derive(Debug, thiserror::Error)]
pub enum InsertOrderError {
    #[error("order number {0} is taken")]
    Duplicate(OrderNo),
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// What delivering an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Quota credited now; the account as it stands after.
    Delivered(Account),
    /// It had been delivered before: nothing changed.
    AlreadyDelivered,
    /// The order is not PAID (not yet, or never): nothing changed.
    NotPaid(OrderStatus),
    /// No such order.
    NotFound,
}

/// What [`OrderRepository::mark_paid`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkPaid {
    /// The order is PAID now, with its `order_paid` event.
    Paid,
    /// Nothing changed: the order is not in a state payment can move (or lost a race).
    Unchanged,
    /// Nothing changed: the payment's transaction id already belongs to another order.
    /// WeChat never pays two orders with one transaction, so this payment needs a human.
    TransactionOnAnotherOrder,
}

/// Orders and their transitions. Every transition is one conditional write; `bool` results
/// say whether this caller made it (false: the order was not in a state it starts from).
pub trait OrderRepository: Send + Sync + 'static {
    /// Stores a new CREATED order.
    fn insert(&self, order: &Order) -> impl Future<Output = Result<(), InsertOrderError>> + Send;
    /// One order.
    fn order(&self, no: &OrderNo) -> impl Future<Output = anyhow::Result<Option<Order>>> + Send;
    /// The user's newest unpaid, unexpired order for `product` (the leftover order, 残单).
    fn open_order(
        &self,
        user: &UserId,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<Order>>> + Send;
    /// The user's orders, newest first.
    fn orders_of(
        &self,
        user: &UserId,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Order>>> + Send;
    /// Counts a prepay attempt on a CREATED order, before the channel is called.
    fn note_prepay_attempt(
        &self,
        no: &OrderNo,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// Notes a buyer's check of an unpaid order at `now`, unless one was noted after
    /// `not_since`: whether this check may go ahead (one conditional write, so concurrent
    /// asks and instances share the limit).
    fn note_buyer_check(
        &self,
        no: &OrderNo,
        now: DateTime<Utc>,
        not_since: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// CREATED → PAY_WAIT with the code_url.
    ///
    /// This and every transition below write the order's history (its time, `cause` and
    /// what it acted on) in the transition's own transaction.
    fn record_prepay(
        &self,
        no: &OrderNo,
        code_url: &str,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// CREATED | PAY_WAIT | CLOSED → PAID, and an `order_paid` outbox event, in one transaction.
    fn mark_paid(
        &self,
        payment: &PaymentConfirmation,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<MarkPaid>> + Send;
    /// CREATED | PAY_WAIT | CLOSED → REVIEW, with the reason, what the payment carried and
    /// the payment as reported (in the order's history). Its transaction id is kept with the
    /// order unless another order already holds it (the reason should then say so).
    fn mark_review(
        &self,
        no: &OrderNo,
        reason: &str,
        payment: &PaymentConfirmation,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// CREATED | PAY_WAIT → CLOSED.
    fn close(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// CREATED → CLOSED: WeChat refused the prepay, so the number is given up.
    fn abandon(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// PAID → DELIVERED, credit the account, and a ledger row unique by (reason, order), in
    /// one transaction: delivered exactly once whatever repeats.
    fn deliver(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Delivery>> + Send;
    /// The order's history, its refunds' moves included, oldest first.
    fn history(&self, no: &OrderNo)
    -> impl Future<Output = anyhow::Result<Vec<OrderEvent>>> + Send;
}

/// Verified payments that name no order of this shop, kept for an operator.
pub trait UnmatchedPayments: Send + Sync + 'static {
    /// Keeps the payment (once per transaction id; a repeat counts as seen again). `true`
    /// when it was not kept before.
    fn keep_unmatched(
        &self,
        payment: &PaymentConfirmation,
        source: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// The newest kept payments.
    fn unmatched_payments(
        &self,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<UnmatchedPayment>>> + Send;
}

/// Accounts.
pub trait AccountRepository: Send + Sync + 'static {
    /// A user's account, if they ever had quota.
    fn account(
        &self,
        user: &UserId,
    ) -> impl Future<Output = anyhow::Result<Option<Account>>> + Send;
}

/// An event written in the same transaction as the state change it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    /// `order_paid`.
    pub kind: String,
    pub order_no: OrderNo,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
}

/// The transactional outbox, read by the relay.
pub trait Outbox: Send + Sync + 'static {
    /// Claims up to `limit` due events until `lease_until`, so another relay skips them.
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<OutboxEvent>>> + Send;
    /// The event was handled.
    fn complete(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Handling failed: try again at `retry_at`, keeping the error.
    fn retry_later(
        &self,
        id: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What a prepay asks of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepayRequest {
    pub order_no: OrderNo,
    pub description: String,
    pub amount: Fen,
    /// The payment deadline (`time_expire`): no payment is accepted after it.
    pub expire_at: DateTime<Utc>,
}

/// A channel call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Timeout, 5xx, rate limit, or an untrusted answer: the call may or may not have taken
    /// effect. Retry with the same order number, or query. The text says what the channel
    /// did, as a buyer may read it ("did not answer in time", "failed (HTTP 500 …)").
    #[error("outcome unknown: the channel {0}")]
    OutcomeUnknown(String),
    /// The channel has no such order.
    #[error("the channel has no such order")]
    NotFound,
    /// The channel refused the call; it did not take effect.
    #[error("refused: {code}: {message}")]
    Refused { code: String, message: String },
}

/// What the channel says of an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// Paid (also when later refunded: it was paid).
    Paid(PaymentConfirmation),
    /// Not paid yet (NOTPAY, USERPAYING, ACCEPT).
    Unpaid,
    /// Closed or revoked at the channel: it will never be paid.
    Closed,
    /// The payment failed (PAYERROR); the order is still unpaid.
    Failed(String),
    /// The channel never saw the order.
    NotFound,
}

/// A callback exactly as it arrived over HTTP: its headers and its body, unread.
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    /// Every header whose value is text, as (name, value).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

impl Callback<'_> {
    /// The first value of a header (names compare without case, as HTTP's do).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }
}

/// What the channel says of a refund (a verified callback, or the answer to a refund
/// request or query), in the domain's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundReport {
    pub out_trade_no: String,
    pub out_refund_no: String,
    /// The channel's id of the refund.
    pub refund_id: String,
    /// Processing, Success, Closed or Abnormal (never Requested nor Refused: those are ours).
    pub status: RefundStatus,
    pub refund: Fen,
    /// The report exactly as verified (JSON), kept with the refund.
    pub raw: String,
}

/// What a refund request asks of the channel; an identical retry is the same refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCall {
    pub refund_no: RefundNo,
    pub order_no: OrderNo,
    pub amount: Fen,
    /// The order's total, which the channel checks.
    pub total: Fen,
    pub reason: String,
}

/// What a verified callback reports, in the channel's neutral words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelEvent {
    /// A payment succeeded.
    PaymentSucceeded(PaymentConfirmation),
    /// A refund moved (succeeded, closed, went abnormal, or is processing).
    Refund(RefundReport),
    /// Genuine, and nothing for the shop to do (an unpaid state, an event it does not act
    /// on); the text says what it was, for the log.
    NothingToDo(String),
}

/// A verified callback: the channel's event id (the same for every resend) and its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelCallback {
    pub event_id: String,
    pub event: ChannelEvent,
}

/// Why the channel would not accept a callback. Nothing may change on either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackRefusal {
    /// Not the channel's: forged, replayed, tampered, or signed by a key we do not trust.
    #[error("not a genuine callback: {0}")]
    NotGenuine(String),
    /// Genuine, but it lacks what the protocol promises (e.g. a paid transaction without an
    /// id or an amount): refused, so that the channel keeps it and sends it again.
    #[error("a genuine callback that breaks the protocol: {0}")]
    Unreadable(String),
}

/// A payment channel (WeChat Pay Native).
pub trait PaymentChannel: Send + Sync + 'static {
    /// Verifies a callback and says, channel-neutrally, what it reports.
    fn read_callback(&self, callback: Callback<'_>) -> Result<ChannelCallback, CallbackRefusal>;
    /// Opens (or identically re-opens) the payment and returns the code_url for the QR code.
    fn prepay(
        &self,
        request: &PrepayRequest,
    ) -> impl Future<Output = Result<String, ChannelError>> + Send;
    /// Asks the channel whether the order is paid.
    fn query(
        &self,
        no: &OrderNo,
    ) -> impl Future<Output = Result<PaymentState, ChannelError>> + Send;
    /// Closes the order at the channel, so it can no longer be paid.
    fn close(&self, no: &OrderNo) -> impl Future<Output = Result<(), ChannelError>> + Send;
    /// Asks for (or identically asks again for) a refund; what the channel says of it.
    fn refund(
        &self,
        call: &RefundCall,
    ) -> impl Future<Output = Result<RefundReport, ChannelError>> + Send;
    /// Asks the channel where a refund is; [`ChannelError::NotFound`] if it never saw it.
    fn query_refund(
        &self,
        no: &RefundNo,
    ) -> impl Future<Output = Result<RefundReport, ChannelError>> + Send;
    /// The channel's statement of a Beijing-time day (its trade bill), refused unless its
    /// integrity checks hold.
    fn statement(
        &self,
        date: chrono::NaiveDate,
    ) -> impl Future<Output = Result<Statement, ChannelError>> + Send;
}

/// Which orders a background job looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderScan {
    /// Unpaid, unexpired orders created before the cutoff whose prepay may have reached the
    /// channel (PAY_WAIT, or CREATED with an attempt): the missed-payment job.
    Unpaid { created_before: DateTime<Utc> },
    /// Unpaid orders past their expiry: the expiry job.
    Expired,
    /// PAID orders paid before the cutoff and still not delivered: the redelivery sweep.
    Undelivered { paid_before: DateTime<Utc> },
}

/// An order a job has claimed, with the job's bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedOrder {
    pub order: Order,
    /// Failed checks so far (for backoff, and to surface an order that keeps failing).
    pub check_attempts: u32,
    pub last_error: Option<String>,
}

/// The background jobs' view of orders: claim by lease, then reschedule.
pub trait OrderJobs: Send + Sync + 'static {
    /// Claims up to `limit` orders that `scan` finds due at `now` (their next check is due
    /// and no other claim is live) until `lease_until`; only the claims this caller won.
    fn claim_orders(
        &self,
        scan: OrderScan,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<ClaimedOrder>>> + Send;
    /// Releases a claimed order, to be looked at again not before `next_check_at`. A
    /// `failure` is counted and kept; `None` resets the count. Only an order still in
    /// `claimed_in` is touched: one that moved on meanwhile keeps the fresh schedule its
    /// transition gave it.
    fn reschedule(
        &self,
        no: &OrderNo,
        claimed_in: OrderStatus,
        next_check_at: DateTime<Utc>,
        failure: Option<&str>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Orders whose checks keep failing (at least `min_attempts`), for operators.
    fn troubled_orders(
        &self,
        min_attempts: u32,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<ClaimedOrder>>> + Send;
}

// The clock.

/// Tells the time.
pub trait Clock: Send + Sync + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

// Login.

/// The server keys' side of codes: digests to look them up by, and sealing to resend them.
pub trait CodeVault: Send + Sync + 'static {
    /// The keyed digest of `code`.
    fn digest(&self, code: &LoginCode) -> CodeDigest;
    /// `code` sealed for `user`.
    fn seal(&self, code: &LoginCode, user: &UserId) -> SealedCode;
    /// The code back, if `sealed` was sealed for `user` under this vault's key.
    fn open(&self, sealed: &SealedCode, user: &UserId) -> Option<LoginCode>;
}

/// Where fresh codes come from: a CSPRNG in production, a script in tests.
pub trait CodeSource: Send + Sync + 'static {
    /// A new candidate code of the given strength.
    fn fresh_code(&self, strength: CodeStrength) -> LoginCode;
}

/// Login codes, kept (as digests and sealed copies) where every instance sees them.
///
/// Rules the implementation keeps: a user has at most one live (unused, unexpired) code;
/// live digests are unique; redeeming is one conditional write, so a code is accepted at
/// most once however many callers race.
pub trait LoginCodes: Send + Sync + 'static {
    /// The user's live code, if any.
    fn live_code(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<StoredCode>>> + Send;

    /// Stores a new code for a user without a live one (a used or expired code of theirs
    /// gives way), until `expires_at`.
    fn store_code(
        &self,
        user: &UserId,
        digest: &CodeDigest,
        sealed: &SealedCode,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<StoreCode>> + Send;

    /// Ends the user's code, live or not (a stronger one replaces it).
    fn revoke_code(&self, user: &UserId) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Uses the code up: the user it was issued to, or `None` when it is unknown, used or
    /// expired (the caller cannot tell which, and neither can an attacker).
    fn redeem(
        &self,
        digest: &CodeDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<UserId>>> + Send;
}

/// Failed login attempts, shared by every instance. An attempt is recorded *before* its
/// code is checked and forgotten only when it did not fail, so concurrent guesses cannot
/// slip past a limit.
pub trait LoginAttempts: Send + Sync + 'static {
    /// Records an attempt from `prefix` at `now` and counts the failures around it: the
    /// block's since `prefix_since`, everyone's since `recent_since` (at most `cap`).
    fn begin_attempt(
        &self,
        prefix: &ClientPrefix,
        now: DateTime<Utc>,
        prefix_since: DateTime<Utc>,
        recent_since: DateTime<Utc>,
        cap: u32,
    ) -> impl Future<Output = anyhow::Result<(AttemptId, AttemptCounts)>> + Send;

    /// The attempt did not fail (it succeeded, was refused unchecked, or the server
    /// failed): it no longer counts.
    fn forget_attempt(&self, id: AttemptId) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Failures of everyone since `since`, counted up to `cap`.
    fn recent_failures(
        &self,
        since: DateTime<Utc>,
        cap: u32,
    ) -> impl Future<Output = anyhow::Result<u32>> + Send;
}

// API keys.

/// The users' API keys, stored by digest.
pub trait ApiKeys: Send + Sync + 'static {
    /// Stores a new key of `user` under `digest` (the key's SHA-256, hex) and `hint`.
    fn create_key(
        &self,
        user: &UserId,
        terms: &crate::api_key::KeyTerms,
        digest: &str,
        hint: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<crate::api_key::ApiKey>> + Send;
    /// The key whose digest is `digest`, revoked or not.
    fn key_by_digest(
        &self,
        digest: &str,
    ) -> impl Future<Output = anyhow::Result<Option<crate::api_key::ApiKey>>> + Send;
    /// The user's keys, newest first.
    fn keys_of(
        &self,
        user: &UserId,
    ) -> impl Future<Output = anyhow::Result<Vec<crate::api_key::ApiKey>>> + Send;
    /// Revokes `user`'s key `id`; false if there is no such live key of theirs.
    fn revoke_key(
        &self,
        user: &UserId,
        id: crate::api_key::ApiKeyId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// Records a use of key `id` (at most one write a minute per key).
    fn touch_key(
        &self,
        id: crate::api_key::ApiKeyId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

// Chat.

/// The quota side of chat. Every change is a conditional write; `bool` results say whether
/// this caller made it (false: the call had already ended).
pub trait ChatAccounts: Send + Sync + 'static {
    /// Spends `price` of `user`'s quota on a call to `model` through `key` (if any) and
    /// opens its usage record (STARTED), or says why not. Never leaves the quota below zero,
    /// nor a key's spending above its cap.
    fn spend(
        &self,
        user: &UserId,
        model: &ModelType,
        price: Price,
        key: Option<crate::api_key::ApiKeyId>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Spend>> + Send;
    /// Counts a free trial call of `user` in the trial window starting at `window` (ms) and
    /// opens its usage record (STARTED, nothing spent), unless `limit` calls were already
    /// counted there: then `None`. Concurrent calls never count past `limit`.
    fn spend_trial(
        &self,
        user: &UserId,
        model: &ModelType,
        window: i64,
        limit: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<UsageId>>> + Send;
    /// STARTED → REFUNDED and the price (or the trial call) back, to the account and the
    /// key it was spent through, at most once.
    fn refund(
        &self,
        usage: UsageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// STARTED → OK | FAILED | CANCELLED with the tokens used; the price stays spent, or
    /// for a call billed by the token its charge does and the rest of its reservation goes
    /// back (to the account and the key), in the same write.
    fn finish(
        &self,
        usage: UsageId,
        end: &UsageEnd,
        first_token_ms: Option<i64>,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// The most `user` could spend on one call through `key` (if any) now: the balance of a
    /// usable account, within the key's cap; 0 without one.
    fn spendable(
        &self,
        user: &UserId,
        key: Option<crate::api_key::ApiKeyId>,
    ) -> impl Future<Output = anyhow::Result<i64>> + Send;
    /// STARTED → FAILED for every call that began before `started_before`: its process
    /// stopped mid-answer, so nothing else will end it. The price stays spent. How many.
    fn end_interrupted(
        &self,
        started_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<u64>> + Send;
    /// The user's newest usage records, newest first.
    fn usage_of(
        &self,
        user: &UserId,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<ChatUsage>>> + Send;
}

/// The model services behind the chat (OpenAI-compatible upstreams, the offline model).
pub trait ModelGateway: Send + Sync + 'static {
    /// What the caller passes on to the model besides the messages (e.g. `temperature`).
    type Options: Send + Sync;
    /// An answer being streamed.
    type Answer: ModelAnswer<Error = Self::Error>;
    /// Why a model service did not deliver; its text never carries a credential.
    type Error: std::fmt::Display + Send + Sync + 'static;
    /// Whether some model service answers `model`.
    fn serves(&self, model: &ModelType) -> bool;
    /// How many tokens `text` is for `model` (its tokenizer, or the best guess there is).
    fn tokens_in(&self, model: &ModelType, text: &str) -> u64;
    /// Sends the request and waits for the answer to begin (its headers).
    fn open(
        &self,
        request: &crate::chat::ChatRequest,
        options: &Self::Options,
    ) -> impl Future<Output = Result<Self::Answer, Self::Error>> + Send;
}

/// A model's answer, delta by delta.
pub trait ModelAnswer: Send + 'static {
    /// Why the answer broke off.
    type Error;
    /// The next piece of text, or `None` at the answer's end.
    fn next_delta(&mut self) -> impl Future<Output = Result<Option<String>, Self::Error>> + Send;
    /// The tokens the model reported so far (services report them with the last chunk).
    fn usage(&self) -> Option<crate::chat::TokenUsage> {
        None
    }
    /// Whether the model stopped the answer at its token limit.
    fn cut_short(&self) -> bool {
        false
    }
}

/// Runs work that must finish although its caller is gone (a client that left mid-answer).
pub trait Background: Send + Sync + 'static {
    /// Runs `task` to its end, detached from the caller.
    fn run(&self, task: std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>);
}

/// Redemption batches, their codes (by keyed digest only), and each user's recent
/// redemption attempts.
pub trait RedemptionCodes: Send + Sync + 'static {
    /// Stores a batch and its codes' digests in one transaction.
    fn create_batch(
        &self,
        terms: &BatchTerms,
        digests: &[CodeDigest],
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Batch>> + Send;
    /// The newest batches, with how many of their codes were redeemed.
    fn batches(&self, limit: u64) -> impl Future<Output = anyhow::Result<Vec<Batch>>> + Send;
    /// Redeems the code with `digest` for `user`: one conditional write takes the code
    /// (unused and unexpired), and the credit goes through the one credit path, in one
    /// transaction, so of any number of concurrent redemptions one wins.
    fn redeem_code(
        &self,
        digest: &CodeDigest,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<RedeemOutcome>> + Send;
    /// Records an attempt of `user` before it is made (so racing attempts all count) and
    /// counts the user's attempts after `since`, with the oldest one's time.
    fn begin_redeem_attempt(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<(AttemptId, u32, Option<DateTime<Utc>>)>> + Send;
    /// Forgets an attempt that did not fail.
    fn forget_redeem_attempt(
        &self,
        id: AttemptId,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Where redemption codes come from and how they are digested: the system CSPRNG and a
/// server key the database does not hold.
pub trait RedemptionSecrets: Send + Sync + 'static {
    /// A fresh, uniformly random code.
    fn fresh_code(&self) -> RedemptionCode;
    /// The keyed digest a code is stored and looked up by.
    fn digest(&self, code: &RedemptionCode) -> CodeDigest;
}

/// What storing a new refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenRefund {
    /// Stored as REQUESTED, and its quota taken back from the user.
    Opened,
    /// Another refund of the order took this number meanwhile: plan again.
    NumberTaken,
    /// The user's balance no longer holds the quota to take back (spent meanwhile):
    /// plan again.
    QuotaMoved,
}

/// Refunds and their moves. Each move is one conditional write, in one transaction with
/// what it implies: a success adds to the order's refunded money (and moves the order), a
/// close or a refusal gives the quota back through the one credit path.
pub trait RefundRepository: Send + Sync + 'static {
    /// An order's refunds, oldest first.
    fn refunds_of(
        &self,
        order: &OrderNo,
    ) -> impl Future<Output = anyhow::Result<Vec<Refund>>> + Send;
    /// One refund.
    fn refund(&self, no: &RefundNo) -> impl Future<Output = anyhow::Result<Option<Refund>>> + Send;
    /// Stores a new REQUESTED refund and takes its quota back from the user (a ledger row
    /// unique by the refund), in one transaction.
    fn open_refund(
        &self,
        refund: &Refund,
        cause: &Cause,
    ) -> impl Future<Output = anyhow::Result<OpenRefund>> + Send;
    /// Moves a refund, keeping what the channel reported; whether this caller moved it.
    /// Both write the order's history, as its transitions do.
    fn move_refund(
        &self,
        no: &RefundNo,
        transition: RefundTransition,
        report: Option<&RefundReport>,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// Refunds in `status`, newest first (e.g. the ABNORMAL ones, for an operator).
    fn refunds_in(
        &self,
        status: RefundStatus,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Refund>>> + Send;
    /// Claims up to `limit` open refunds created before `created_before` and due now, for
    /// the refund job, each until `lease_until` (a conditional write per refund, so several
    /// instances never share one).
    fn claim_open_refunds(
        &self,
        created_before: DateTime<Utc>,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Refund>>> + Send;
    /// When the refund job should look at a refund again, and why (its last error).
    fn reschedule_refund(
        &self,
        no: &RefundNo,
        next_check_at: DateTime<Utc>,
        error: Option<&str>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What reconciliation reads of our books, and its reports.
pub trait Books: Send + Sync + 'static {
    /// Orders paid within `[from, to)`, whatever happened to them since.
    fn orders_paid_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Vec<Order>>> + Send;
    /// Refunds asked for within `[from, to)`.
    fn refunds_created_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Vec<Refund>>> + Send;
    /// Stores a day's report, replacing an earlier run's.
    fn save_report(
        &self,
        report: &ReconciliationReport,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// A day's report, if it was run.
    fn report(
        &self,
        date: chrono::NaiveDate,
    ) -> impl Future<Output = anyhow::Result<Option<ReconciliationReport>>> + Send;
}

// Operators (issue 15 §1).

/// Operator accounts, their failed logins and their console sessions.
pub trait Operators: Send + Sync + 'static {
    /// Stores a new account; `Ok(false)` when the name is taken.
    fn create_operator(
        &self,
        name: &OperatorName,
        role: Role,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// Gives an existing account a new password and role and ends its sessions; `Ok(false)`
    /// when there is no such account.
    fn reset_operator(
        &self,
        name: &OperatorName,
        role: Role,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
    /// The account of `name`.
    fn operator(
        &self,
        name: &OperatorName,
    ) -> impl Future<Output = anyhow::Result<Option<OperatorAccount>>> + Send;
    /// Records a login attempt on `name` from `prefix` *before* it is checked, and counts
    /// the failures since `since` on `name` from `prefix`, and from `prefix` on any name,
    /// its own included.
    fn begin_operator_attempt(
        &self,
        name: &OperatorName,
        prefix: &ClientPrefix,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<(AttemptId, OperatorAttemptCounts)>> + Send;
    /// The attempt did not fail: it no longer counts.
    fn forget_operator_attempt(
        &self,
        id: AttemptId,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// Stores a new session of account `operator_id`.
    fn open_session(
        &self,
        operator_id: i64,
        digest: &SessionDigest,
        csrf_digest: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// The session of `digest`, if it is live at `now`.
    fn session(
        &self,
        digest: &SessionDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<OperatorSession>>> + Send;
    /// Ends the session of `digest` (logout).
    fn end_session(
        &self,
        digest: &SessionDigest,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The audit log: what operators did, appended, never changed.
pub trait AuditLog: Send + Sync + 'static {
    /// Appends `entry`.
    fn audit(&self, entry: &AuditEntry) -> impl Future<Output = anyhow::Result<()>> + Send;
    /// The newest `limit` entries, newest first; only `actor`'s when given.
    fn audit_entries(
        &self,
        actor: Option<&str>,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<AuditEntry>>> + Send;
}

/// How operators' passwords and session tokens are made and checked: Argon2id and the
/// system CSPRNG, in the server.
pub trait OperatorKeys: Send + Sync + 'static {
    /// The password's hash, salted (slow on purpose: run off the request threads).
    fn hash(
        &self,
        password: &Password,
    ) -> impl Future<Output = anyhow::Result<PasswordHash>> + Send;
    /// Whether `password` is the one hashed in `hash`; with no hash (no such account) it
    /// takes as long and answers `false`, so timing tells no names.
    fn verify(
        &self,
        hash: Option<&PasswordHash>,
        password: &Password,
    ) -> impl Future<Output = bool> + Send;
    /// A fresh random token (a session's, or its CSRF token).
    fn fresh_token(&self) -> String;
    /// The digest a token is stored and looked up by.
    fn digest(&self, token: &str) -> String;
}

/// What an operator searches orders by: any of them, all given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderQuery {
    /// An order number, a WeChat transaction id or a buyer's openid, exactly.
    pub text: Option<String>,
    pub status: Option<OrderStatus>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// One status's orders in a period: how many, and their amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusTotal {
    pub status: OrderStatus,
    pub orders: u64,
    pub amount: Fen,
}

/// Orders as the console finds and counts them.
pub trait OrderSearch: Send + Sync + 'static {
    /// The newest `limit` orders matching `query`.
    fn search_orders(
        &self,
        query: &OrderQuery,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Order>>> + Send;
    /// Orders created within `[from, to)`, by status.
    fn order_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Vec<StatusTotal>>> + Send;
}

/// The catalog as operators edit it.
pub trait ProductAdmin: Send + Sync + 'static {
    /// Every product, on sale or not, in the catalog's order.
    fn all_products(&self) -> impl Future<Output = anyhow::Result<Vec<Product>>> + Send;
    /// Adds a product.
    fn create_product(
        &self,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Product>> + Send;
    /// Replaces product `id` with `draft`: the product before, or `None` if there is none.
    /// Orders already placed keep what they bought.
    fn update_product(
        &self,
        id: ProductId,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<Product>>> + Send;
}

/// One line of an account's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerLine {
    pub delta: i64,
    /// Why (`order_delivery`, `refund`, `redemption`, `operator_adjust`, …).
    pub reason: String,
    /// What it refers to (an order number, a refund, an audit reference).
    pub reference: String,
    pub at: DateTime<Utc>,
}

/// What an operator's quota adjustment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjusted {
    /// Applied: the account after.
    Applied(Account),
    /// A take would drive the balance below zero: nothing changed.
    ShortOfQuota,
    /// No such account to take from.
    NoAccount,
}

/// Accounts as operators manage them.
pub trait AccountAdmin: Send + Sync + 'static {
    /// The newest `limit` accounts, only those whose openid starts with `prefix` when given.
    fn accounts(
        &self,
        prefix: Option<&str>,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<Account>>> + Send;
    /// The newest `limit` lines of `user`'s ledger.
    fn ledger_of(
        &self,
        user: &UserId,
        limit: u64,
    ) -> impl Future<Output = anyhow::Result<Vec<LedgerLine>>> + Send;
    /// Adds `delta` (or takes it, when negative) through the one credit path, as ledger
    /// reason `operator_adjust` with `reference` (unique: a repeat changes nothing again).
    fn adjust_quota(
        &self,
        user: &UserId,
        delta: i64,
        reference: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Adjusted>> + Send;
    /// Freezes or unfreezes `user`'s account: the account after, `None` without one.
    fn set_account_status(
        &self,
        user: &UserId,
        status: AccountStatus,
        now: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Option<Account>>> + Send;
}

/// One model's chat calls in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelUsage {
    pub model: String,
    /// Every call, given back or not.
    pub calls: u64,
    /// Quota spent by the calls not given back.
    pub quota_spent: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// The chat's totals, for the console's dashboard.
pub trait ChatStats: Send + Sync + 'static {
    /// Calls started within `[from, to)`, by model.
    fn usage_totals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<Vec<ModelUsage>>> + Send;
}

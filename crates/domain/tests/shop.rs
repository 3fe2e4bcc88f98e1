//! The shop's rules on their own: checkout, callbacks, confirmation, reconciliation and
//! expiry over in-memory ports (no database, no HTTP, no WeChat). The store's real
//! adapters are tested against the same ports in `crates/infra/tests/store.rs`.

use chatmall_domain::account::{Account, AccountStatus};
use chatmall_domain::clock::ManualClock;
use chatmall_domain::money::Fen;
use chatmall_domain::order::{
    Cause, MerchantIdentity, Order, OrderEvent, OrderNo, OrderNoGenerator, OrderStatus, OrderTtl,
    PaymentConfirmation, TransactionId, Transition, UnmatchedPayment,
};
use chatmall_domain::ports::{
    AccountRepository, Callback, CallbackRefusal, ChannelCallback, ChannelError, ChannelEvent,
    Delivery, InsertOrderError, MarkPaid, OpenRefund, OrderRepository, PaymentChannel,
    PaymentState, PrepayRequest, ProductCatalog, RefundCall, RefundReport, RefundRepository,
    UnmatchedPayments,
};
use chatmall_domain::product::{Product, ProductId};
use chatmall_domain::refund::{
    Refund, RefundAsk, RefundNo, RefundReason, RefundRefusal, RefundStatus, RefundTransition,
};
use chatmall_domain::service::{
    BuyerCheckError, CallbackError, CallbackOutcome, CheckoutError, Confirmation, Expired,
    Reconciled, RefundApplied, RefundError, Shop, ShopSettings,
};
use chatmall_domain::user::UserId;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

const MCHID: &str = "1900007291";
const APPID: &str = "wx0000000000000001";

/// Orders, products and kept payments in memory; every transition is checked against the
/// domain's `Transition`, as the database adapter's conditional writes are.
#[derive(Default)]
struct Memory {
    products: Vec<Product>,
    orders: Mutex<BTreeMap<String, Order>>,
    unmatched: Mutex<Vec<UnmatchedPayment>>,
    /// The `order_paid` events written with each PAID transition.
    paid_events: Mutex<Vec<OrderNo>>,
    /// When each order's buyer last had it checked.
    buyer_checks: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Each user's surplus quota (credited by delivery, taken back by refunds).
    surplus: Mutex<HashMap<String, i64>>,
    refunds: Mutex<BTreeMap<RefundNo, Refund>>,
    /// Every order's history, in order.
    history: Mutex<Vec<Move>>,
}

/// One move in an order's history.
struct Move {
    order: String,
    refund: Option<String>,
    transition: &'static str,
    cause: String,
}

impl Memory {
    /// Applies `transition` to the order if its state allows it, writing its history;
    /// `false` otherwise.
    fn apply(
        &self,
        no: &str,
        transition: Transition,
        cause: &Cause,
        change: impl FnOnce(&mut Order),
    ) -> bool {
        let mut orders = self.orders.lock().unwrap();
        let Some(order) = orders.get_mut(no) else {
            return false;
        };
        let Ok(to) = transition.check(order.status) else {
            return false;
        };
        order.status = to;
        change(order);
        self.noted(no, None, transition.name, cause);
        true
    }

    fn noted(&self, no: &str, refund: Option<&RefundNo>, transition: &'static str, cause: &Cause) {
        self.history.lock().unwrap().push(Move {
            order: no.to_owned(),
            refund: refund.map(|r| r.to_string()),
            transition,
            cause: cause.to_text(),
        });
    }

    /// The (transition, cause) of each move of order `no` and its refunds.
    fn moves(&self, no: &OrderNo) -> Vec<(&'static str, String)> {
        let history = self.history.lock().unwrap();
        history
            .iter()
            .filter(|m| m.order == no.as_str())
            .map(|m| (m.transition, m.cause.clone()))
            .collect()
    }

    fn status(&self, no: &OrderNo) -> OrderStatus {
        self.orders.lock().unwrap()[no.as_str()].status
    }

    fn events(&self) -> usize {
        self.paid_events.lock().unwrap().len()
    }
}

impl ProductCatalog for Memory {
    async fn on_sale(&self) -> anyhow::Result<Vec<Product>> {
        Ok(self
            .products
            .iter()
            .filter(|p| p.enabled)
            .cloned()
            .collect())
    }

    async fn product(&self, id: ProductId) -> anyhow::Result<Option<Product>> {
        Ok(self.products.iter().find(|p| p.id == id).cloned())
    }
}

impl OrderRepository for Memory {
    async fn note_buyer_check(
        &self,
        no: &OrderNo,
        now: DateTime<Utc>,
        not_since: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut checks = self.buyer_checks.lock().unwrap();
        if checks
            .get(no.as_str())
            .is_some_and(|last| *last > not_since)
        {
            return Ok(false);
        }
        checks.insert(no.to_string(), now);
        Ok(true)
    }

    async fn insert(&self, order: &Order) -> Result<(), InsertOrderError> {
        let mut orders = self.orders.lock().unwrap();
        if orders.contains_key(order.order_no.as_str()) {
            return Err(InsertOrderError::Duplicate(order.order_no.clone()));
        }
        orders.insert(order.order_no.to_string(), order.clone());
        Ok(())
    }

    async fn order(&self, no: &OrderNo) -> anyhow::Result<Option<Order>> {
        Ok(self.orders.lock().unwrap().get(no.as_str()).cloned())
    }

    async fn open_order(
        &self,
        user: &UserId,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Order>> {
        let orders = self.orders.lock().unwrap();
        Ok(orders
            .values()
            .rev()
            .find(|o| &o.user_id == user && o.product_id == product && o.is_payable_at(now))
            .cloned())
    }

    async fn orders_of(&self, user: &UserId, limit: u64) -> anyhow::Result<Vec<Order>> {
        let orders = self.orders.lock().unwrap();
        let mine = orders.values().rev().filter(|o| &o.user_id == user);
        Ok(mine.take(limit as usize).cloned().collect())
    }

    async fn note_prepay_attempt(&self, no: &OrderNo, _: DateTime<Utc>) -> anyhow::Result<bool> {
        let mut orders = self.orders.lock().unwrap();
        Ok(match orders.get_mut(no.as_str()) {
            Some(o) if o.status == OrderStatus::Created => {
                o.prepay_attempts += 1;
                true
            }
            _ => false,
        })
    }

    async fn record_prepay(
        &self,
        no: &OrderNo,
        code_url: &str,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(self.apply(no.as_str(), Transition::PREPAY, cause, |o| {
            o.code_url = Some(code_url.to_owned());
            o.updated_at = now;
        }))
    }

    async fn mark_paid(
        &self,
        payment: &PaymentConfirmation,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<MarkPaid> {
        let taken = self.orders.lock().unwrap().values().any(|o| {
            o.transaction_id.as_ref() == Some(&payment.transaction_id)
                && o.order_no.as_str() != payment.out_trade_no
        });
        if taken {
            return Ok(MarkPaid::TransactionOnAnotherOrder);
        }
        if !self.apply(&payment.out_trade_no, Transition::PAY, cause, |o| {
            o.paid_at = Some(payment.success_time.unwrap_or(now));
            o.transaction_id = Some(payment.transaction_id.clone());
        }) {
            return Ok(MarkPaid::Unchanged);
        }
        let no = OrderNo::parse(&payment.out_trade_no)?;
        self.paid_events.lock().unwrap().push(no);
        Ok(MarkPaid::Paid)
    }

    async fn mark_review(
        &self,
        no: &OrderNo,
        reason: &str,
        payment: &PaymentConfirmation,
        cause: &Cause,
        _: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(self.apply(no.as_str(), Transition::REVIEW, cause, |o| {
            o.review_reason = Some(reason.to_owned());
            o.review_paid = Some(payment.total);
        }))
    }

    async fn close(&self, no: &OrderNo, cause: &Cause, now: DateTime<Utc>) -> anyhow::Result<bool> {
        Ok(self.apply(no.as_str(), Transition::CLOSE, cause, |o| {
            o.closed_at = Some(now)
        }))
    }

    async fn abandon(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        Ok(self.apply(no.as_str(), Transition::ABANDON, cause, |o| {
            o.closed_at = Some(now)
        }))
    }

    async fn history(&self, no: &OrderNo) -> anyhow::Result<Vec<OrderEvent>> {
        let history = self.history.lock().unwrap();
        Ok(history
            .iter()
            .filter(|m| m.order == no.as_str())
            .map(|m| OrderEvent {
                order_no: no.clone(),
                refund_no: m.refund.clone(),
                transition: m.transition.to_owned(),
                to: String::new(),
                cause: m.cause.clone(),
                detail: None,
                at: DateTime::UNIX_EPOCH,
            })
            .collect())
    }

    async fn deliver(
        &self,
        no: &OrderNo,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Delivery> {
        let Some(order) = self.order(no).await? else {
            return Ok(Delivery::NotFound);
        };
        if !self.apply(no.as_str(), Transition::DELIVER, cause, |o| {
            o.delivered_at = Some(now)
        }) {
            return Ok(match order.status {
                OrderStatus::Delivered => Delivery::AlreadyDelivered,
                other => Delivery::NotPaid(other),
            });
        }
        *self
            .surplus
            .lock()
            .unwrap()
            .entry(order.user_id.to_string())
            .or_default() += i64::from(order.quota);
        Ok(Delivery::Delivered(Account {
            user_id: order.user_id,
            total_quota: i64::from(order.quota),
            surplus_quota: i64::from(order.quota),
            model_types: order.model_types,
            status: AccountStatus::Usable,
            created_at: now,
            updated_at: now,
        }))
    }
}

impl AccountRepository for Memory {
    async fn account(&self, user: &UserId) -> anyhow::Result<Option<Account>> {
        let surplus = self.surplus.lock().unwrap().get(user.as_str()).copied();
        Ok(surplus.map(|surplus| Account {
            user_id: user.clone(),
            total_quota: surplus,
            surplus_quota: surplus,
            model_types: vec![],
            status: AccountStatus::Usable,
            created_at: t0(),
            updated_at: t0(),
        }))
    }
}

/// The refunds as the store keeps them: a move is checked against `RefundTransition`, a
/// success adds to the order, a close or refusal gives the quota back.
impl RefundRepository for Memory {
    async fn refunds_of(&self, order: &OrderNo) -> anyhow::Result<Vec<Refund>> {
        let refunds = self.refunds.lock().unwrap();
        Ok(refunds
            .values()
            .filter(|r| &r.order_no == order)
            .cloned()
            .collect())
    }

    async fn refund(&self, no: &RefundNo) -> anyhow::Result<Option<Refund>> {
        Ok(self.refunds.lock().unwrap().get(no).cloned())
    }

    async fn open_refund(&self, refund: &Refund, cause: &Cause) -> anyhow::Result<OpenRefund> {
        let mut refunds = self.refunds.lock().unwrap();
        if refunds.contains_key(&refund.refund_no) {
            return Ok(OpenRefund::NumberTaken);
        }
        let mut surplus = self.surplus.lock().unwrap();
        let balance = surplus.entry(refund.user_id.to_string()).or_default();
        if *balance < i64::from(refund.quota_back) {
            return Ok(OpenRefund::QuotaMoved);
        }
        *balance -= i64::from(refund.quota_back);
        refunds.insert(refund.refund_no.clone(), refund.clone());
        self.noted(
            refund.order_no.as_str(),
            Some(&refund.refund_no),
            "open",
            cause,
        );
        Ok(OpenRefund::Opened)
    }

    async fn move_refund(
        &self,
        no: &RefundNo,
        transition: RefundTransition,
        report: Option<&RefundReport>,
        cause: &Cause,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut refunds = self.refunds.lock().unwrap();
        let Some(refund) = refunds.get_mut(no) else {
            return Ok(false);
        };
        if !transition.allows(refund.status) {
            return Ok(false);
        }
        refund.status = transition.to;
        refund.updated_at = now;
        self.noted(refund.order_no.as_str(), Some(no), transition.name, cause);
        if let Some(report) = report {
            refund.channel_refund_id = Some(report.refund_id.clone());
            refund.channel_report = Some(report.raw.clone());
        }
        if transition.gives_quota_back() {
            *self
                .surplus
                .lock()
                .unwrap()
                .entry(refund.user_id.to_string())
                .or_default() += i64::from(refund.quota_back);
        }
        let refund = refund.clone();
        if transition.to == RefundStatus::Success {
            let paid_back: u64 = refunds
                .values()
                .filter(|r| r.order_no == refund.order_no && r.status == RefundStatus::Success)
                .map(|r| r.amount.fen())
                .sum();
            let mut orders = self.orders.lock().unwrap();
            let order = orders.get_mut(refund.order_no.as_str()).unwrap();
            order.status = if paid_back >= order.paid_total().fen() {
                OrderStatus::Refunded
            } else {
                OrderStatus::PartlyRefunded
            };
        }
        Ok(true)
    }

    async fn refunds_in(&self, status: RefundStatus, _limit: u64) -> anyhow::Result<Vec<Refund>> {
        let refunds = self.refunds.lock().unwrap();
        Ok(refunds
            .values()
            .filter(|r| r.status == status)
            .cloned()
            .collect())
    }

    async fn claim_open_refunds(
        &self,
        _created_before: DateTime<Utc>,
        _now: DateTime<Utc>,
        _lease_until: DateTime<Utc>,
        _limit: u64,
    ) -> anyhow::Result<Vec<Refund>> {
        let refunds = self.refunds.lock().unwrap();
        Ok(refunds
            .values()
            .filter(|r| r.status.is_open())
            .cloned()
            .collect())
    }

    async fn reschedule_refund(
        &self,
        _no: &RefundNo,
        _next_check_at: DateTime<Utc>,
        _error: Option<&str>,
    ) -> anyhow::Result<()> {
        Ok(())
    }
}

impl UnmatchedPayments for Memory {
    async fn keep_unmatched(
        &self,
        payment: &PaymentConfirmation,
        source: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let mut kept = self.unmatched.lock().unwrap();
        if let Some(seen) = kept
            .iter_mut()
            .find(|u| u.payment.transaction_id == payment.transaction_id)
        {
            seen.times_seen += 1;
            seen.last_seen_at = now;
            return Ok(false);
        }
        kept.push(UnmatchedPayment {
            payment: payment.clone(),
            source: source.to_owned(),
            first_seen_at: now,
            last_seen_at: now,
            times_seen: 1,
        });
        Ok(true)
    }

    async fn unmatched_payments(&self, limit: u64) -> anyhow::Result<Vec<UnmatchedPayment>> {
        let kept = self.unmatched.lock().unwrap();
        Ok(kept.iter().rev().take(limit as usize).cloned().collect())
    }
}

/// A payment channel that answers as scripted. Its callbacks are plain text: the header
/// `x-fake-signature: genuine` stands for a valid signature, and the body is
/// `paid <out_trade_no> <transaction_id> <fen>` or `pending <out_trade_no>`.
#[derive(Default)]
struct Channel {
    prepays: Mutex<VecDeque<Result<String, ChannelError>>>,
    states: Mutex<HashMap<String, PaymentState>>,
    closed: Mutex<Vec<OrderNo>>,
    /// What the channel answers the next refund requests (default: PROCESSING).
    refund_answers: Mutex<VecDeque<Result<RefundStatus, ChannelError>>>,
    /// The refunds it was asked for, and where each stands.
    refunds: Mutex<BTreeMap<RefundNo, (RefundCall, RefundStatus)>>,
}

impl Channel {
    fn answer_prepay(&self, answer: Result<&str, ChannelError>) {
        self.prepays
            .lock()
            .unwrap()
            .push_back(answer.map(str::to_owned));
    }

    fn answer_refund(&self, answer: Result<RefundStatus, ChannelError>) {
        self.refund_answers.lock().unwrap().push_back(answer);
    }

    /// What the channel would report of a refund it holds.
    fn refund_report(&self, no: &RefundNo) -> Option<RefundReport> {
        let refunds = self.refunds.lock().unwrap();
        let (call, status) = refunds.get(no)?;
        Some(RefundReport {
            out_trade_no: call.order_no.to_string(),
            out_refund_no: no.to_string(),
            refund_id: format!("50{no}"),
            status: *status,
            refund: call.amount,
            raw: "{}".into(),
        })
    }

    fn settle_refund(&self, no: &RefundNo, status: RefundStatus) -> RefundReport {
        self.refunds.lock().unwrap().get_mut(no).unwrap().1 = status;
        self.refund_report(no).unwrap()
    }

    fn report(&self, no: &OrderNo, state: PaymentState) {
        self.states.lock().unwrap().insert(no.to_string(), state);
    }
}

impl PaymentChannel for Channel {
    fn read_callback(&self, callback: Callback<'_>) -> Result<ChannelCallback, CallbackRefusal> {
        if callback.header("X-Fake-Signature") != Some("genuine") {
            return Err(CallbackRefusal::NotGenuine("bad signature".into()));
        }
        let body = std::str::from_utf8(callback.body).unwrap_or_default();
        let event = match body.split(' ').collect::<Vec<_>>()[..] {
            ["paid", no, transaction_id, fen] => {
                let unreadable = |e: String| CallbackRefusal::Unreadable(e);
                ChannelEvent::PaymentSucceeded(PaymentConfirmation {
                    transaction_id: TransactionId::parse(transaction_id)
                        .map_err(|e| unreadable(e.to_string()))?,
                    total: fen
                        .parse()
                        .map_err(|_| unreadable(format!("amount {fen:?}")))
                        .and_then(|f| Fen::new(f).map_err(|e| unreadable(e.to_string())))?,
                    ..payment(no, "unused", 0)
                })
            }
            ["pending", no] => ChannelEvent::NothingToDo(format!("{no} not paid")),
            _ => return Err(CallbackRefusal::Unreadable(body.to_owned())),
        };
        Ok(ChannelCallback {
            event_id: "EV-1".into(),
            event,
        })
    }

    async fn prepay(&self, request: &PrepayRequest) -> Result<String, ChannelError> {
        self.prepays
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Ok(format!("weixin://wxpay/bizpayurl?pr={}", request.order_no)))
    }

    async fn query(&self, no: &OrderNo) -> Result<PaymentState, ChannelError> {
        let states = self.states.lock().unwrap();
        Ok(states
            .get(no.as_str())
            .cloned()
            .unwrap_or(PaymentState::Unpaid))
    }

    async fn close(&self, no: &OrderNo) -> Result<(), ChannelError> {
        self.closed.lock().unwrap().push(no.clone());
        Ok(())
    }

    async fn refund(&self, call: &RefundCall) -> Result<RefundReport, ChannelError> {
        let answer = self
            .refund_answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(RefundStatus::Processing));
        let status = answer?;
        self.refunds
            .lock()
            .unwrap()
            .entry(call.refund_no.clone())
            .or_insert((call.clone(), status));
        Ok(self.refund_report(&call.refund_no).unwrap())
    }

    async fn query_refund(&self, no: &RefundNo) -> Result<RefundReport, ChannelError> {
        self.refund_report(no).ok_or(ChannelError::NotFound)
    }

    async fn statement(
        &self,
        _date: chrono::NaiveDate,
    ) -> Result<chatmall_domain::reconciliation::Statement, ChannelError> {
        // These rules are tested without a statement; the server's tests reconcile
        // against the sandbox's bill.
        Err(ChannelError::NotFound)
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn payment(out_trade_no: &str, transaction_id: &str, fen: u64) -> PaymentConfirmation {
    PaymentConfirmation {
        out_trade_no: out_trade_no.into(),
        transaction_id: TransactionId::parse(transaction_id).unwrap(),
        mchid: MCHID.into(),
        appid: APPID.into(),
        total: Fen::new(fen).unwrap(),
        currency: "CNY".into(),
        payer_openid: Some("oPayer".into()),
        success_time: Some(t0()),
        raw: "{}".into(),
    }
}

struct Fixture {
    shop: Shop<Memory, Channel>,
    store: Arc<Memory>,
    channel: Arc<Channel>,
    clock: Arc<ManualClock>,
    user: UserId,
    product: ProductId,
}

const PRICE: u64 = 990;

fn fixture() -> Fixture {
    let product = Product {
        id: ProductId::new(1001).unwrap(),
        name: "100 calls".into(),
        description: String::new(),
        quota: 100,
        model_types: vec![],
        price: Fen::new(PRICE).unwrap(),
        sort: 1,
        enabled: true,
    };
    let off_sale = Product {
        id: ProductId::new(1002).unwrap(),
        enabled: false,
        ..product.clone()
    };
    let store = Arc::new(Memory {
        products: vec![product.clone(), off_sale],
        ..Memory::default()
    });
    let channel = Arc::new(Channel::default());
    let clock = Arc::new(ManualClock::at(t0()));
    let settings = ShopSettings {
        order_ttl: OrderTtl::from_secs(1800).unwrap(),
        merchant: MerchantIdentity {
            mchid: MCHID.into(),
            appid: APPID.into(),
        },
        buyer_check_gap: Duration::seconds(5),
    };
    let shop = Shop::new(
        store.clone(),
        channel.clone(),
        clock.clone(),
        OrderNoGenerator::new(1),
        settings,
    );
    Fixture {
        shop,
        store,
        channel,
        clock,
        user: UserId::parse("oBuyer").unwrap(),
        product: product.id,
    }
}

/// A genuine callback with `body`.
async fn callback(f: &Fixture, body: &str) -> Result<CallbackOutcome, CallbackError> {
    let headers = [("x-fake-signature", "genuine")];
    f.shop
        .handle_callback(Callback {
            headers: &headers,
            body: body.as_bytes(),
        })
        .await
}

#[tokio::test]
async fn a_prepay_that_times_out_is_retried_with_the_same_order_number() {
    let f = fixture();
    f.channel.answer_prepay(Err(ChannelError::OutcomeUnknown(
        "did not answer in time".into(),
    )));
    let Err(CheckoutError::PaymentUnavailable { order_no, reason }) =
        f.shop.place_order(&f.user, f.product).await
    else {
        panic!("a timed-out prepay is not a QR code");
    };
    assert_eq!(reason, "did not answer in time");
    assert_eq!(f.store.status(&order_no), OrderStatus::Created);

    let retried = f.shop.place_order(&f.user, f.product).await.unwrap();
    assert_eq!(
        (retried.order_no.clone(), retried.reused),
        (order_no.clone(), true)
    );
    assert_eq!(f.store.status(&order_no), OrderStatus::PayWait);
    let order = f.store.order(&order_no).await.unwrap().unwrap();
    assert_eq!(order.prepay_attempts, 2, "both prepays are counted");

    // The QR code is handed out again, without another prepay, while it is payable.
    let again = f.shop.place_order(&f.user, f.product).await.unwrap();
    assert_eq!(
        (again.order_no, again.code_url),
        (order_no, retried.code_url)
    );
}

#[tokio::test]
async fn a_refused_prepay_gives_the_number_up_and_the_next_checkout_opens_a_new_order() {
    let f = fixture();
    f.channel.answer_prepay(Err(ChannelError::Refused {
        code: "PARAM_ERROR".into(),
        message: "bad".into(),
    }));
    let Err(CheckoutError::PaymentRefused { order_no, code, .. }) =
        f.shop.place_order(&f.user, f.product).await
    else {
        panic!("a refusal is reported as one");
    };
    assert_eq!(code, "PARAM_ERROR");
    assert_eq!(f.store.status(&order_no), OrderStatus::Closed);
    let next = f.shop.place_order(&f.user, f.product).await.unwrap();
    assert_ne!(next.order_no, order_no);
    assert!(!next.reused);
}

#[tokio::test]
async fn an_off_sale_or_unknown_product_opens_no_order() {
    let f = fixture();
    let off_sale = ProductId::new(1002).unwrap();
    let unknown = ProductId::new(9).unwrap();
    assert!(matches!(
        f.shop.place_order(&f.user, off_sale).await,
        Err(CheckoutError::ProductOffSale(id)) if id == off_sale
    ));
    assert!(matches!(
        f.shop.place_order(&f.user, unknown).await,
        Err(CheckoutError::ProductNotFound(id)) if id == unknown
    ));
    assert!(f.store.orders.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_genuine_payment_callback_pays_once_and_its_repeats_change_nothing() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    let body = format!("paid {} 4200000000000000001 {PRICE}", order.order_no);
    assert_eq!(
        callback(&f, &body).await.unwrap(),
        CallbackOutcome::Payment(Confirmation::Paid)
    );
    for _ in 0..3 {
        assert_eq!(
            callback(&f, &body).await.unwrap(),
            CallbackOutcome::Payment(Confirmation::AlreadyPaid)
        );
    }
    assert_eq!(f.store.status(&order.order_no), OrderStatus::Paid);
    assert_eq!(f.store.events(), 1, "one delivery is owed, once");

    let delivered = f.shop.deliver(&order.order_no, "delivery").await.unwrap();
    assert!(matches!(delivered, Delivery::Delivered(ref a) if a.surplus_quota == 100));
    assert_eq!(
        f.shop.deliver(&order.order_no, "delivery").await.unwrap(),
        Delivery::AlreadyDelivered
    );
    // Its history: each move once, with what caused it; the repeats wrote nothing.
    assert_eq!(
        f.store.moves(&order.order_no),
        [
            ("prepay", "buyer".to_owned()),
            ("pay", "notification:EV-1".to_owned()),
            ("deliver", "job:delivery".to_owned()),
        ]
    );
}

#[tokio::test]
async fn forged_and_unreadable_callbacks_are_refused_and_change_nothing() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    let body = format!("paid {} 4200000000000000001 {PRICE}", order.order_no);
    let forged = f
        .shop
        .handle_callback(Callback {
            headers: &[("x-fake-signature", "forged")],
            body: body.as_bytes(),
        })
        .await;
    assert!(matches!(
        forged,
        Err(CallbackError::Refused(CallbackRefusal::NotGenuine(_)))
    ));
    let no_id = format!("paid {} 支付 {PRICE}", order.order_no);
    for unreadable in [no_id.as_str(), "garbage"] {
        let refused = callback(&f, unreadable).await;
        assert!(
            matches!(
                refused,
                Err(CallbackError::Refused(CallbackRefusal::Unreadable(_)))
            ),
            "{unreadable}: {refused:?}"
        );
    }
    assert_eq!(
        callback(&f, &format!("pending {}", order.order_no))
            .await
            .unwrap(),
        CallbackOutcome::Nothing
    );
    assert_eq!(f.store.status(&order.order_no), OrderStatus::PayWait);
    assert_eq!(f.store.events(), 0);
}

#[tokio::test]
async fn a_payment_that_does_not_match_goes_to_review_and_is_never_paid() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    let body = format!("paid {} 4200000000000000001 1", order.order_no);
    let CallbackOutcome::Payment(Confirmation::Review(reason)) = callback(&f, &body).await.unwrap()
    else {
        panic!("a wrong amount is reviewed");
    };
    assert!(reason.contains("amount"), "{reason}");
    assert_eq!(f.store.status(&order.order_no), OrderStatus::Review);
    // The right amount afterwards does not pay a reviewed order: a human decides.
    let right = format!("paid {} 4200000000000000001 {PRICE}", order.order_no);
    assert!(matches!(
        callback(&f, &right).await.unwrap(),
        CallbackOutcome::Payment(Confirmation::Review(_))
    ));
    assert_eq!(f.store.events(), 0);
}

#[tokio::test]
async fn one_transaction_never_pays_two_orders() {
    let f = fixture();
    let first = f.shop.place_order(&f.user, f.product).await.unwrap();
    let other_user = UserId::parse("oSecond").unwrap();
    let second = f.shop.place_order(&other_user, f.product).await.unwrap();
    let txid = "4200000000000000007";
    let pay = |no: &OrderNo| format!("paid {no} {txid} {PRICE}");
    assert_eq!(
        callback(&f, &pay(&first.order_no)).await.unwrap(),
        CallbackOutcome::Payment(Confirmation::Paid)
    );
    let CallbackOutcome::Payment(Confirmation::Review(reason)) =
        callback(&f, &pay(&second.order_no)).await.unwrap()
    else {
        panic!("the second order is reviewed");
    };
    assert!(reason.contains(txid), "{reason}");
    assert_eq!(f.store.events(), 1);
}

#[tokio::test]
async fn a_payment_for_no_order_of_ours_is_kept_once_and_counted() {
    let f = fixture();
    for (body, first_seen) in [
        ("paid 2099010100000000099999 4200000000000000009 990", true),
        ("paid 2099010100000000099999 4200000000000000009 990", false),
        ("paid not-an-order-number 4200000000000000010 5", true),
    ] {
        assert_eq!(
            callback(&f, body).await.unwrap(),
            CallbackOutcome::Payment(Confirmation::Unmatched { first_seen }),
            "{body}"
        );
    }
    let kept = f.store.unmatched_payments(10).await.unwrap();
    assert_eq!(kept.len(), 2);
    let repeated = kept
        .iter()
        .find(|u| u.payment.transaction_id.as_str() == "4200000000000000009")
        .unwrap();
    assert_eq!(
        (repeated.times_seen, repeated.source.as_str()),
        (2, "notify")
    );
}

#[tokio::test]
async fn expiry_asks_the_channel_first_and_a_payment_found_wins_over_the_close() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    f.clock.advance(Duration::minutes(31));
    f.channel.report(
        &order.order_no,
        PaymentState::Paid(payment(
            order.order_no.as_str(),
            "4200000000000000011",
            PRICE,
        )),
    );
    let stored = f.store.order(&order.order_no).await.unwrap().unwrap();
    assert_eq!(
        f.shop.expire(&stored).await.unwrap(),
        Expired::Payment(Confirmation::Paid)
    );
    assert!(f.channel.closed.lock().unwrap().is_empty(), "never closed");
    assert_eq!(f.store.status(&order.order_no), OrderStatus::Paid);
}

#[tokio::test]
async fn an_unpaid_order_is_closed_at_the_channel_then_here_and_a_late_payment_is_honoured() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    f.clock.advance(Duration::minutes(31));
    let stored = f.store.order(&order.order_no).await.unwrap().unwrap();
    assert_eq!(f.shop.expire(&stored).await.unwrap(), Expired::Closed);
    assert_eq!(
        *f.channel.closed.lock().unwrap(),
        vec![order.order_no.clone()]
    );
    assert_eq!(f.store.status(&order.order_no), OrderStatus::Closed);

    // The money arrived anyway (paid just before the close): the order is paid, not lost.
    let body = format!("paid {} 4200000000000000012 {PRICE}", order.order_no);
    assert_eq!(
        callback(&f, &body).await.unwrap(),
        CallbackOutcome::Payment(Confirmation::Paid)
    );
    assert_eq!(f.store.events(), 1);
}

#[tokio::test]
async fn a_buyer_who_says_they_paid_has_the_order_checked_now_at_most_once_per_gap() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    let no = &order.order_no;

    // Not paid yet: the check says so and changes nothing.
    let check = f.shop.check_for_buyer(&f.user, no).await.unwrap();
    assert_eq!(check.found, Reconciled::Unpaid);
    assert_eq!(check.order.status, OrderStatus::PayWait);

    // Paid, and the notification lost: a second ask within the gap is refused unchecked.
    f.channel.report(
        no,
        PaymentState::Paid(payment(no.as_str(), "4200000000000000021", PRICE)),
    );
    f.clock.advance(Duration::seconds(4));
    assert!(matches!(
        f.shop.check_for_buyer(&f.user, no).await,
        Err(BuyerCheckError::TooSoon { retry_after, .. }) if retry_after == Duration::seconds(5)
    ));
    assert_eq!(f.store.status(no), OrderStatus::PayWait);

    // Past the gap: the payment is found and takes the notification's path.
    f.clock.advance(Duration::seconds(1));
    let check = f.shop.check_for_buyer(&f.user, no).await.unwrap();
    assert_eq!(check.found, Reconciled::Payment(Confirmation::Paid));
    assert_eq!(check.order.status, OrderStatus::Paid);
    assert_eq!(f.store.events(), 1);
    assert_eq!(
        f.store.moves(no).last(),
        Some(&("pay", "query:buyer_check".to_owned()))
    );

    // Paid now: asking again reports it without the channel, whatever the gap.
    let check = f.shop.check_for_buyer(&f.user, no).await.unwrap();
    assert_eq!(check.found, Reconciled::Settled(OrderStatus::Paid));
    assert_eq!(f.store.events(), 1);

    // Someone else's order is as absent as a missing one.
    let stranger = UserId::parse("oStranger").unwrap();
    assert!(matches!(
        f.shop.check_for_buyer(&stranger, no).await,
        Err(BuyerCheckError::NotFound(_))
    ));
}

/// A delivered order of the fixture's product (100 quota for PRICE fen).
async fn delivered(f: &Fixture) -> OrderNo {
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    let body = format!("paid {} 4200000000000000031 {PRICE}", order.order_no);
    callback(f, &body).await.unwrap();
    f.shop.deliver(&order.order_no, "delivery").await.unwrap();
    order.order_no
}

fn ask(fen: u64, force: bool) -> RefundAsk {
    RefundAsk {
        amount: Fen::new(fen).unwrap(),
        reason: RefundReason::parse("不想要了").unwrap(),
        force,
    }
}

fn surplus(f: &Fixture) -> i64 {
    f.store.surplus.lock().unwrap()[f.user.as_str()]
}

#[tokio::test]
async fn only_unused_quota_is_paid_back_unless_forced_and_a_refund_moves_the_order() {
    let f = fixture();
    let no = delivered(&f).await;
    assert_eq!(surplus(&f), 100);
    // 40 of the 100 quota spent: at most 60 % of the price comes back by default.
    *f.store
        .surplus
        .lock()
        .unwrap()
        .get_mut(f.user.as_str())
        .unwrap() = 60;
    let most = PRICE * 60 / 100;
    assert!(matches!(
        f.shop.request_refund(&no, &ask(most + 1, false), "admin-token").await,
        Err(RefundError::Refused(RefundRefusal::MoreThanUnused { most: m, unused: 60, quota: 100 })) if m == most
    ));
    assert_eq!(surplus(&f), 60, "a refused refund takes nothing");

    // Half the price: half the quota is taken back at once, the refund is PROCESSING.
    let refund = f
        .shop
        .request_refund(&no, &ask(PRICE / 2, false), "admin-token")
        .await
        .unwrap();
    assert_eq!(refund.refund_no.as_str(), format!("{no}R01"));
    assert_eq!(
        (refund.status, refund.quota_back),
        (RefundStatus::Processing, 50)
    );
    assert_eq!(surplus(&f), 10);

    // WeChat reports success: the order is partly refunded. Again: nothing changes.
    let report = f
        .channel
        .settle_refund(&refund.refund_no, RefundStatus::Success);
    assert_eq!(
        f.shop
            .apply_refund_report(&report, &Cause::Notification("EV-REFUND".into()))
            .await
            .unwrap(),
        RefundApplied::Moved(RefundStatus::Success)
    );
    assert_eq!(
        f.shop
            .apply_refund_report(&report, &Cause::Notification("EV-REFUND".into()))
            .await
            .unwrap(),
        RefundApplied::Unchanged(RefundStatus::Success)
    );
    assert_eq!(f.store.status(&no), OrderStatus::PartlyRefunded);

    // Forced, the rest of the money: quota is taken back as far as the balance holds.
    let rest = PRICE - PRICE / 2;
    assert!(matches!(
        f.shop
            .request_refund(&no, &ask(rest + 1, true), "admin-token")
            .await,
        Err(RefundError::Refused(RefundRefusal::MoreThanLeft { .. }))
    ));
    let forced = f
        .shop
        .request_refund(&no, &ask(rest, true), "admin-token")
        .await
        .unwrap();
    assert_eq!((forced.quota_back, forced.forced), (10, true));
    assert_eq!(surplus(&f), 0, "never below zero");
    let report = f
        .channel
        .settle_refund(&forced.refund_no, RefundStatus::Success);
    f.shop
        .apply_refund_report(&report, &Cause::Query("refunds"))
        .await
        .unwrap();
    assert_eq!(f.store.status(&no), OrderStatus::Refunded);
    assert!(matches!(
        f.shop
            .request_refund(&no, &ask(1, true), "admin-token")
            .await,
        Err(RefundError::Refused(RefundRefusal::NotRefundable { .. }))
    ));
}

#[tokio::test]
async fn a_review_is_resolved_by_paying_the_whole_payment_back_with_no_quota_moved() {
    let f = fixture();
    let order = f.shop.place_order(&f.user, f.product).await.unwrap();
    let no = order.order_no.clone();
    // WeChat says 1 fen was paid for a PRICE order: under review, never delivered.
    let body = format!("paid {no} 4200000000000000001 1");
    callback(&f, &body).await.unwrap();
    assert_eq!(f.store.status(&no), OrderStatus::Review);

    // A part, or the order's price, is not what the payer paid: refused, nothing moves.
    for fen in [PRICE, 2] {
        assert!(matches!(
            f.shop
                .request_refund(&no, &ask(fen, true), "operator:frank")
                .await,
            Err(RefundError::Refused(RefundRefusal::ReviewIsWhole {
                paid: 1,
                open: false
            }))
        ));
    }
    // The whole payment, to the payment's own total, and no quota taken.
    let refund = f
        .shop
        .request_refund(&no, &ask(1, false), "operator:frank")
        .await
        .unwrap();
    assert_eq!((refund.amount.fen(), refund.quota_back), (1, 0));
    let sent = f.channel.refunds.lock().unwrap()[&refund.refund_no]
        .0
        .clone();
    assert_eq!((sent.amount.fen(), sent.total.fen()), (1, 1));
    // A second one while it is under way is refused.
    assert!(matches!(
        f.shop
            .request_refund(&no, &ask(1, false), "operator:frank")
            .await,
        Err(RefundError::Refused(RefundRefusal::ReviewIsWhole {
            open: true,
            ..
        }))
    ));
    let report = f
        .channel
        .settle_refund(&refund.refund_no, RefundStatus::Success);
    f.shop
        .apply_refund_report(&report, &Cause::Query("refunds"))
        .await
        .unwrap();
    assert_eq!(f.store.status(&no), OrderStatus::Refunded);
    let surplus = f
        .store
        .surplus
        .lock()
        .unwrap()
        .get(f.user.as_str())
        .copied();
    assert_eq!(
        surplus.unwrap_or(0),
        0,
        "a review credited nothing and takes nothing"
    );
}

#[tokio::test]
async fn a_refund_that_closes_or_is_refused_gives_its_quota_back_and_a_lost_one_is_sent_again() {
    let f = fixture();
    let no = delivered(&f).await;

    f.channel.answer_refund(Err(ChannelError::Refused {
        code: "NOT_ENOUGH".into(),
        message: "基本账户余额不足".into(),
    }));
    let refused = f
        .shop
        .request_refund(&no, &ask(100, false), "admin-token")
        .await
        .unwrap();
    assert_eq!(refused.status, RefundStatus::Refused);
    assert_eq!(surplus(&f), 100, "given back");

    let closing = f
        .shop
        .request_refund(&no, &ask(100, false), "admin-token")
        .await
        .unwrap();
    assert_eq!(closing.refund_no.as_str(), format!("{no}R02"));
    assert_eq!(surplus(&f), 100 - i64::from(closing.quota_back));
    let report = f
        .channel
        .settle_refund(&closing.refund_no, RefundStatus::Closed);
    assert_eq!(
        f.shop
            .apply_refund_report(&report, &Cause::Notification("EV-REFUND".into()))
            .await
            .unwrap(),
        RefundApplied::Moved(RefundStatus::Closed)
    );
    assert_eq!(surplus(&f), 100, "given back");
    assert_eq!(f.store.status(&no), OrderStatus::Delivered);

    // The request's answer is lost: REQUESTED, and the channel never saw it. The job's
    // recheck sends it again with the same number.
    f.channel.answer_refund(Err(ChannelError::OutcomeUnknown(
        "did not answer in time".into(),
    )));
    let lost = f
        .shop
        .request_refund(&no, &ask(100, false), "admin-token")
        .await
        .unwrap();
    assert_eq!(lost.status, RefundStatus::Requested);
    f.channel.refunds.lock().unwrap().remove(&lost.refund_no);
    f.shop.recheck_refund(&lost, "refunds").await.unwrap();
    let again = f.store.refund(&lost.refund_no).await.unwrap().unwrap();
    assert_eq!(again.status, RefundStatus::Processing);

    // A report that does not match our refund changes nothing.
    let mut wrong = f
        .channel
        .settle_refund(&lost.refund_no, RefundStatus::Success);
    wrong.refund = Fen::new(1).unwrap();
    assert!(matches!(
        f.shop
            .apply_refund_report(&wrong, &Cause::Notification("EV-WRONG".into()))
            .await
            .unwrap(),
        RefundApplied::Mismatch(_)
    ));
    assert_eq!(
        f.store
            .refund(&lost.refund_no)
            .await
            .unwrap()
            .unwrap()
            .status,
        RefundStatus::Processing
    );
}

//! The SeaORM store against real databases: SQLite always, PostgreSQL when
//! `CHATMALL_TEST_POSTGRES_URL` is set. Every test gets fresh databases.

use anyhow::{Context as _, ensure};
use chatmall_infra::store::SeaStore;
use chatmall_infra::store::entities::outbox as outbox_rows;
use chatmall_infra::testing::{self, TestDb};
use chatmall_infra::testing::{on_every_backend, t0};
use chrono::{DateTime, Duration, Utc};
use domain::account::AccountStatus;
use domain::money::Fen;
use domain::order::{
    Cause, NewOrder, Order, OrderNo, OrderStatus, PaymentConfirmation, TransactionId,
};
use domain::ports::{
    AccountRepository, Delivery, InsertOrderError, MarkPaid, OpenRefund, OrderJobs,
    OrderRepository, OrderScan, Outbox, ProductCatalog, RefundReport, RefundRepository,
};
use domain::product::{ModelType, Product, ProductId};
use domain::refund::{Refund, RefundNo, RefundReason, RefundStatus, RefundTransition};
use domain::user::UserId;
use sea_orm::EntityTrait;
use std::collections::HashSet;

/// What moves the orders of tests that are not about history.
const TEST: Cause = Cause::Job("test");

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn order_no(n: u32) -> OrderNo {
    OrderNo::parse(&format!("20261128152200001{n:05}")).unwrap()
}

fn product(id: i64, quota: u32, models: &str) -> Product {
    Product {
        id: ProductId::new(id).unwrap(),
        name: format!("package {id}"),
        description: "test".into(),
        quota,
        model_types: ModelType::parse_list(models).unwrap(),
        price: Fen::new(990).unwrap(),
        sort: 1,
        enabled: true,
    }
}

fn open(n: u32, who: &UserId, product: &Product, now: DateTime<Utc>) -> Order {
    Order::open(NewOrder {
        order_no: order_no(n),
        user_id: who.clone(),
        product,
        now,
        ttl: Duration::minutes(30),
    })
}

fn txid(id: &str) -> TransactionId {
    TransactionId::parse(id).unwrap()
}

fn payment(no: &OrderNo, transaction_id: &str) -> PaymentConfirmation {
    PaymentConfirmation {
        out_trade_no: no.as_str().into(),
        transaction_id: txid(transaction_id),
        mchid: "1900007291".into(),
        appid: "wx0000000000000001".into(),
        total: Fen::new(990).unwrap(),
        currency: "CNY".into(),
        payer_openid: None,
        success_time: Some(t0() + Duration::seconds(5)),
        raw: "{}".into(),
    }
}

/// Inserts a CREATED order and pays it.
async fn paid_order(
    store: &SeaStore,
    n: u32,
    who: &UserId,
    product: &Product,
) -> anyhow::Result<OrderNo> {
    let order = open(n, who, product, t0());
    store.insert(&order).await?;
    ensure!(
        store
            .mark_paid(
                &payment(&order.order_no, &format!("42000{n:010}")),
                &TEST,
                t0()
            )
            .await?
            == MarkPaid::Paid
    );
    Ok(order.order_no)
}

#[tokio::test]
async fn migrations_are_idempotent() -> anyhow::Result<()> {
    let dbs: Vec<TestDb> = testing::backends().await?;
    for db in &dbs {
        // `backends` connected once already; two more runs find nothing to do.
        let again = SeaStore::connect(&db.url)
            .await
            .with_context(|| db.backend)?;
        SeaStore::connect(&db.url)
            .await
            .with_context(|| db.backend)?;
        again
            .insert(&open(1, &user("u1"), &product(1001, 10, "gpt-4o"), t0()))
            .await?;
        ensure!(
            db.store.order(&order_no(1)).await?.is_some(),
            "{}: both stores see one database",
            db.backend
        );
    }
    Ok(())
}

#[tokio::test]
async fn sqlite_creates_a_missing_directory() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested/deeper/shop.db");
    let store = SeaStore::connect(&format!("sqlite://{}", path.display())).await?;
    ensure!(store.seed_demo_products_if_empty().await?);
    ensure!(path.exists());
    Ok(())
}

#[tokio::test]
async fn seed_inserts_four_products_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        ensure!(
            store.seed_demo_products_if_empty().await?,
            "the first seed inserts"
        );
        ensure!(
            !store.seed_demo_products_if_empty().await?,
            "the second finds products"
        );
        let on_sale = store.on_sale().await?;
        let ids: Vec<i64> = on_sale.iter().map(|p| p.id.get()).collect();
        assert_eq!(ids, [1001, 1002, 1003, 1004]);
        let prices: Vec<u64> = on_sale.iter().map(|p| p.price.fen()).collect();
        assert_eq!(prices, [99, 990, 3900, 12900]);
        let pro = store
            .product(ProductId::new(1004)?)
            .await?
            .context("product 1004")?;
        assert_eq!(
            ModelType::join(&pro.model_types),
            "chatglm_pro,chatglm_std,chatglm_turbo,dall-e-2,dall-e-3,gpt-3.5-turbo,\
             gpt-3.5-turbo-16k,gpt-4,gpt-4-32k,gpt-4o,gpt-4o-mini,o3-mini"
        );
        assert_eq!(pro.quota, 2000);
        ensure!(store.product(ProductId::new(42)?).await?.is_none());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_order_round_trips_with_every_field() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let mut order = open(
            1,
            &user("u1"),
            &product(1003, 500, "gpt-4o-mini,gpt-4o"),
            t0(),
        );
        order.status = OrderStatus::Review;
        order.code_url = Some("weixin://wxpay/bizpayurl?pr=abc".into());
        order.prepay_attempts = 3;
        order.paid_at = Some(t0() + Duration::seconds(1));
        order.transaction_id = Some(txid("4200000000000000001"));
        order.delivered_at = Some(t0() + Duration::seconds(2));
        order.closed_at = Some(t0() + Duration::seconds(3));
        order.review_reason = Some("paid 1 fen, the order is 990 fen".into());
        order.updated_at = t0() + Duration::seconds(4);
        store.insert(&order).await?;
        assert_eq!(store.order(&order.order_no).await?, Some(order.clone()));
        assert_eq!(store.orders_of(&user("u1"), 10).await?, vec![order]);
        ensure!(store.order(&order_no(2)).await?.is_none());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_taken_order_number_is_a_duplicate() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let order = open(1, &user("u1"), &product(1001, 10, "gpt-4o"), t0());
        store.insert(&order).await?;
        match store.insert(&order).await {
            Err(InsertOrderError::Duplicate(no)) => assert_eq!(no, order.order_no),
            other => anyhow::bail!("expected Duplicate, got {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn open_order_finds_only_unpaid_unexpired_orders() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let (alice, bob) = (user("alice"), user("bob"));
        let (p1, p2) = (product(1001, 10, "gpt-4o"), product(1002, 100, "gpt-4o"));
        let older = open(1, &alice, &p1, t0());
        let newer = open(2, &alice, &p1, t0() + Duration::seconds(10));
        let other_product = open(3, &alice, &p2, t0());
        for order in [&older, &newer, &other_product] {
            store.insert(order).await?;
        }
        ensure!(
            store
                .record_prepay(&newer.order_no, "weixin://x", &TEST, t0())
                .await?
        );
        let now = t0() + Duration::minutes(1);
        let found = store
            .open_order(&alice, p1.id, now)
            .await?
            .context("an open order")?;
        assert_eq!(
            found.order_no, newer.order_no,
            "the newest, PAY_WAIT counts"
        );
        assert_eq!(found.status, OrderStatus::PayWait);
        ensure!(
            store.open_order(&bob, p1.id, now).await?.is_none(),
            "another user's is not theirs"
        );

        ensure!(store.close(&newer.order_no, &TEST, now).await?);
        let found = store
            .open_order(&alice, p1.id, now)
            .await?
            .context("the older one")?;
        assert_eq!(found.order_no, older.order_no, "CLOSED does not count");
        ensure!(
            store
                .mark_paid(&payment(&older.order_no, "4200000000000000009"), &TEST, now)
                .await?
                == MarkPaid::Paid
        );
        ensure!(
            store.open_order(&alice, p1.id, now).await?.is_none(),
            "PAID does not count"
        );

        let last_moment = other_product.expire_at - Duration::milliseconds(1);
        ensure!(
            store
                .open_order(&alice, p2.id, last_moment)
                .await?
                .is_some(),
            "unexpired"
        );
        ensure!(
            store
                .open_order(&alice, p2.id, other_product.expire_at)
                .await?
                .is_none(),
            "expired"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn transitions_are_conditional() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("u1");
        let p = product(1001, 10, "gpt-4o");
        let a = open(1, &who, &p, t0());
        store.insert(&a).await?;
        let later = t0() + Duration::seconds(30);

        ensure!(store.note_prepay_attempt(&a.order_no, later).await?);
        ensure!(store.note_prepay_attempt(&a.order_no, later).await?);
        ensure!(
            store
                .record_prepay(&a.order_no, "weixin://one", &TEST, later)
                .await?,
            "CREATED → PAY_WAIT"
        );
        ensure!(
            !store
                .record_prepay(&a.order_no, "weixin://two", &TEST, later)
                .await?,
            "only once"
        );
        ensure!(
            !store.note_prepay_attempt(&a.order_no, later).await?,
            "only CREATED counts attempts"
        );
        let stored = store.order(&a.order_no).await?.context("order a")?;
        assert_eq!(stored.prepay_attempts, 2);
        assert_eq!(stored.code_url.as_deref(), Some("weixin://one"));
        assert_eq!(stored.updated_at, later);

        ensure!(
            store
                .mark_paid(&payment(&a.order_no, "4200000000000000001"), &TEST, later)
                .await?
                == MarkPaid::Paid
        );
        ensure!(
            !store.close(&a.order_no, &TEST, later).await?,
            "a paid order does not close"
        );
        ensure!(
            !store
                .mark_review(
                    &a.order_no,
                    "x",
                    &payment(&a.order_no, "4200000000000000002"),
                    &TEST,
                    later
                )
                .await?
        );
        let stored = store.order(&a.order_no).await?.context("order a")?;
        assert_eq!(stored.status, OrderStatus::Paid);
        assert_eq!(
            stored.paid_at,
            Some(t0() + Duration::seconds(5)),
            "the channel's success_time"
        );
        assert_eq!(
            stored.transaction_id.as_ref().map(TransactionId::as_str),
            Some("4200000000000000001")
        );

        // A payment that turns up after the order closed is honoured.
        let b = open(2, &who, &p, t0());
        store.insert(&b).await?;
        ensure!(store.close(&b.order_no, &TEST, later).await?);
        ensure!(
            !store.close(&b.order_no, &TEST, later).await?,
            "closes once"
        );
        assert_eq!(
            store.order(&b.order_no).await?.context("b")?.closed_at,
            Some(later)
        );
        let mut late = payment(&b.order_no, "4200000000000000003");
        late.success_time = None;
        ensure!(
            store.mark_paid(&late, &TEST, later).await? == MarkPaid::Paid,
            "CLOSED → PAID"
        );
        assert_eq!(
            store.order(&b.order_no).await?.context("b")?.paid_at,
            Some(later),
            "now, without success_time"
        );

        // A refused prepay gives up a CREATED order, never one that already has a QR code.
        let d = open(4, &who, &p, t0());
        store.insert(&d).await?;
        ensure!(
            store
                .record_prepay(&d.order_no, "weixin://d", &TEST, later)
                .await?,
            "d is PAY_WAIT"
        );
        ensure!(
            !store.abandon(&d.order_no, &TEST, later).await?,
            "a PAY_WAIT order is not abandoned"
        );
        let e = open(5, &who, &p, t0());
        store.insert(&e).await?;
        ensure!(
            store.abandon(&e.order_no, &TEST, later).await?,
            "CREATED → CLOSED"
        );
        assert_eq!(
            store.order(&d.order_no).await?.context("d")?.status,
            OrderStatus::PayWait
        );
        let abandoned = store.order(&e.order_no).await?.context("e")?;
        assert_eq!(
            (abandoned.status, abandoned.closed_at),
            (OrderStatus::Closed, Some(later))
        );

        // A mismatching payment goes to REVIEW, and stays there.
        let c = open(3, &who, &p, t0());
        store.insert(&c).await?;
        ensure!(
            store
                .mark_review(
                    &c.order_no,
                    "paid 1 fen",
                    &PaymentConfirmation {
                        total: Fen::new(1).unwrap(),
                        raw: r#"{"amount":{"total":1}}"#.into(),
                        ..payment(&c.order_no, "4200000000000000004")
                    },
                    &TEST,
                    later
                )
                .await?
        );
        ensure!(
            store
                .mark_paid(&payment(&c.order_no, "4200000000000000004"), &TEST, later)
                .await?
                == MarkPaid::Unchanged
        );
        let stored = store.order(&c.order_no).await?.context("c")?;
        assert_eq!(stored.status, OrderStatus::Review);
        assert_eq!(stored.review_reason.as_deref(), Some("paid 1 fen"));
        assert_eq!(stored.review_paid, Some(Fen::new(1).unwrap()));
        assert_eq!(stored.paid_total(), Fen::new(1).unwrap());
        let kept = store.history(&c.order_no).await?;
        let detail = kept.last().and_then(|e| e.detail.as_deref()).unwrap_or("");
        ensure!(
            detail.contains(r#""payment":{"amount":{"total":1}}"#),
            "the payment under review is kept as reported: {detail}"
        );
        assert_eq!(
            stored.transaction_id.as_ref().map(TransactionId::as_str),
            Some("4200000000000000004")
        );
        assert_eq!(
            store.deliver(&c.order_no, &TEST, later).await?,
            Delivery::NotPaid(OrderStatus::Review)
        );
        ensure!(
            !store
                .record_prepay(&order_no(99), "weixin://", &TEST, later)
                .await?,
            "no such order"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_transaction_id_already_on_another_order_changes_nothing_until_review()
-> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("uSameTransaction");
        let p = product(1001, 10, "gpt-4o");
        let (a, b) = (open(1, &who, &p, t0()), open(2, &who, &p, t0()));
        for order in [&a, &b] {
            store.insert(order).await?;
            ensure!(
                store
                    .record_prepay(&order.order_no, "weixin://x", &TEST, t0())
                    .await?
            );
        }
        let taken = "4200000000000000077";
        ensure!(
            store
                .mark_paid(&payment(&a.order_no, taken), &TEST, t0())
                .await?
                == MarkPaid::Paid
        );
        let events = store.outbox_pending().await?;

        let outcome = store
            .mark_paid(&payment(&b.order_no, taken), &TEST, t0())
            .await?;
        ensure!(
            outcome == MarkPaid::TransactionOnAnotherOrder,
            "{outcome:?}"
        );
        let unchanged = store.order(&b.order_no).await?.context("b")?;
        assert_eq!(
            (unchanged.status, unchanged.transaction_id),
            (OrderStatus::PayWait, None)
        );
        assert_eq!(store.outbox_pending().await?, events, "no event for b");

        // The review still goes through; the id stays with the order that holds it.
        ensure!(
            store
                .mark_review(
                    &b.order_no,
                    "same transaction",
                    &payment(&b.order_no, taken),
                    &TEST,
                    t0()
                )
                .await?
        );
        let reviewed = store.order(&b.order_no).await?.context("b")?;
        assert_eq!(
            (reviewed.status, reviewed.transaction_id),
            (OrderStatus::Review, None)
        );
        let paid = store.order(&a.order_no).await?.context("a")?;
        assert_eq!(
            paid.transaction_id.as_ref().map(TransactionId::as_str),
            Some(taken)
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_mark_paid_wins_once_and_writes_one_event() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let order = open(1, &user("u1"), &product(1001, 10, "gpt-4o"), t0());
        store.insert(&order).await?;
        ensure!(
            store
                .record_prepay(&order.order_no, "weixin://x", &TEST, t0())
                .await?
        );
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (store, paid) = (
                    store.clone(),
                    payment(&order.order_no, "4200000000000000001"),
                );
                tokio::spawn(async move { store.mark_paid(&paid, &TEST, t0()).await })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await?? == MarkPaid::Paid);
        }
        assert_eq!(wins, 1, "exactly one caller moves the order to PAID");
        assert_eq!(
            store.outbox_pending().await?,
            1,
            "and exactly one event is written"
        );
        let events = store
            .claim_due(t0(), t0() + Duration::seconds(30), 10)
            .await?;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "order_paid");
        assert_eq!(events[0].order_no, order.order_no);
        assert_eq!(events[0].created_at, t0());
        let paid = store.order(&order.order_no).await?.context("order")?;
        assert_eq!(
            paid.transaction_id.as_ref().map(TransactionId::as_str),
            Some("4200000000000000001")
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_delivery_credits_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("u1");
        let p = product(1003, 500, "gpt-4o-mini,gpt-4o");
        let no = paid_order(&store, 1, &who, &p).await?;
        let now = t0() + Duration::seconds(10);
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (store, no) = (store.clone(), no.clone());
                tokio::spawn(async move { store.deliver(&no, &TEST, now).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await??);
        }
        let delivered: Vec<_> = outcomes
            .iter()
            .filter(|o| matches!(o, Delivery::Delivered(_)))
            .collect();
        assert_eq!(delivered.len(), 1, "{outcomes:?}");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == Delivery::AlreadyDelivered)
                .count(),
            9
        );

        let account = store.account(&who).await?.context("an account")?;
        assert_eq!(
            delivered[0],
            &Delivery::Delivered(account.clone()),
            "Delivered carries the account after"
        );
        assert_eq!((account.total_quota, account.surplus_quota), (500, 500));
        assert_eq!(ModelType::join(&account.model_types), "gpt-4o,gpt-4o-mini");
        assert_eq!(account.status, AccountStatus::Usable);
        assert_eq!(store.quota_ledger_rows(no.as_str()).await?, 1);
        let order = store.order(&no).await?.context("the order")?;
        assert_eq!(
            (order.status, order.delivered_at),
            (OrderStatus::Delivered, Some(now))
        );

        // And the outcomes that change nothing.
        assert_eq!(
            store.deliver(&no, &TEST, now).await?,
            Delivery::AlreadyDelivered
        );
        assert_eq!(
            store.deliver(&order_no(77), &TEST, now).await?,
            Delivery::NotFound
        );
        let unpaid = open(2, &who, &p, t0());
        store.insert(&unpaid).await?;
        assert_eq!(
            store.deliver(&unpaid.order_no, &TEST, now).await?,
            Delivery::NotPaid(OrderStatus::Created)
        );
        assert_eq!(
            store.account(&who).await?.context("account")?.total_quota,
            500
        );
        ensure!(store.account(&user("nobody")).await?.is_none());
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deliveries_to_one_user_both_count() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let (mini, o3) = (
            product(1001, 10, "gpt-4o-mini"),
            product(1004, 2000, "o3-mini"),
        );
        // Several users, each with a first delivery racing another: the account is created
        // by one and credited by the other.
        let users: Vec<UserId> = (0..5).map(|i| user(&format!("user{i}"))).collect();
        let mut nos = Vec::new();
        for (i, who) in (0u32..).zip(&users) {
            nos.push(paid_order(&store, 2 * i, who, &mini).await?);
            nos.push(paid_order(&store, 2 * i + 1, who, &o3).await?);
        }
        let tasks: Vec<_> = nos
            .iter()
            .map(|no| {
                let (store, no) = (store.clone(), no.clone());
                tokio::spawn(async move { store.deliver(&no, &TEST, t0()).await })
            })
            .collect();
        for task in tasks {
            let outcome = task.await??;
            ensure!(matches!(outcome, Delivery::Delivered(_)), "{outcome:?}");
        }
        for who in &users {
            let account = store.account(who).await?.context("account")?;
            assert_eq!(
                (account.total_quota, account.surplus_quota),
                (2010, 2010),
                "{who}"
            );
            assert_eq!(
                ModelType::join(&account.model_types),
                "gpt-4o-mini,o3-mini",
                "{who}"
            );
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_share_an_event() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let p = product(1001, 10, "gpt-4o");
        for n in 0..30 {
            paid_order(&store, n, &user(&format!("u{n}")), &p).await?;
        }
        let now = t0() + Duration::seconds(1);
        let lease = now + Duration::seconds(30);
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let batch = store.claim_due(now, lease, 4).await?;
                        if batch.is_empty() {
                            return anyhow::Ok(mine);
                        }
                        mine.extend(batch);
                    }
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for claimer in claimers {
            for event in claimer.await?? {
                ensure!(
                    seen.insert(event.id),
                    "event {} was claimed twice",
                    event.id
                );
                assert_eq!(event.attempts, 1);
            }
        }
        assert_eq!(seen.len(), 30, "every event is claimed by someone");
        ensure!(
            store
                .claim_due(lease, lease + Duration::seconds(30), 100)
                .await?
                .is_empty(),
            "leases hold until they end"
        );
        let reclaimed = store
            .claim_due(
                lease + Duration::milliseconds(1),
                lease + Duration::seconds(60),
                100,
            )
            .await?;
        assert_eq!(reclaimed.len(), 30, "an expired lease frees the event");
        ensure!(reclaimed.iter().all(|e| e.attempts == 2));
        Ok(())
    })
    .await
}

/// The race CI once lost: the missed-payment job claims an unpaid order, the payment is
/// applied meanwhile (its outbox event then lost), and the job releases the order with its
/// own far-off recheck. The PAID order must still be due for the redelivery sweep at once.
#[tokio::test]
async fn an_order_that_moves_on_while_a_job_holds_it_is_due_for_its_new_state() -> anyhow::Result<()>
{
    on_every_backend(|store| async move {
        let order = open(1, &user("u1"), &product(1001, 10, "gpt-4o"), t0());
        store.insert(&order).await?;
        let no = order.order_no.clone();
        let now = t0() + Duration::seconds(10);
        ensure!(store.note_prepay_attempt(&no, now).await?);
        ensure!(store.record_prepay(&no, "weixin://x", &TEST, now).await?);

        let unpaid = OrderScan::Unpaid {
            created_before: now,
        };
        let lease = now + Duration::minutes(5);
        let claimed = store.claim_orders(unpaid, now, lease, 10).await?;
        assert_eq!(
            claimed
                .iter()
                .map(|c| (&c.order.order_no, c.order.status))
                .collect::<Vec<_>>(),
            [(&no, OrderStatus::PayWait)]
        );
        let paid_at = now + Duration::seconds(1);
        ensure!(
            store
                .mark_paid(&payment(&no, "4200000000000000001"), &TEST, paid_at)
                .await?
                == MarkPaid::Paid
        );
        // The job, still believing the order unpaid, asks to look again in an hour.
        store
            .reschedule(
                &no,
                OrderStatus::PayWait,
                now + Duration::hours(1),
                Some("stale"),
            )
            .await?;

        let undelivered = OrderScan::Undelivered {
            paid_before: now + Duration::seconds(5),
        };
        let sweep_at = paid_at + Duration::milliseconds(1);
        let swept = store
            .claim_orders(undelivered, sweep_at, sweep_at + Duration::minutes(5), 10)
            .await?;
        assert_eq!(
            swept
                .iter()
                .map(|c| (&c.order.order_no, c.order.status, c.check_attempts))
                .collect::<Vec<_>>(),
            [(&no, OrderStatus::Paid, 0)],
            "due at once, unleased, with no failure of the old state counted"
        );
        // The sweep's own release still applies: it claimed the order as PAID.
        store
            .reschedule(&no, OrderStatus::Paid, sweep_at + Duration::hours(1), None)
            .await?;
        let later = sweep_at + Duration::minutes(10);
        ensure!(
            store
                .claim_orders(undelivered, later, later + Duration::minutes(5), 10)
                .await?
                .is_empty(),
            "released by its claimer until the time it asked"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn retry_later_and_complete() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        paid_order(&store, 1, &user("u1"), &product(1001, 10, "gpt-4o")).await?;
        ensure!(
            store
                .claim_due(t0() - Duration::seconds(1), t0(), 10)
                .await?
                .is_empty(),
            "not due before it was written"
        );
        let now = t0();
        let event = store
            .claim_due(now, now + Duration::seconds(30), 10)
            .await?
            .pop()
            .context("one event")?;

        let retry_at = now + Duration::seconds(10);
        store
            .retry_later(event.id, &"é".repeat(2000), retry_at)
            .await?;
        let row = outbox_rows::Entity::find_by_id(event.id)
            .one(store.db())
            .await?
            .context("row")?;
        assert_eq!(
            row.last_error.map(|e| e.chars().count()),
            Some(1000),
            "errors are truncated"
        );
        assert_eq!(row.lease_until, None, "the lease is released");
        ensure!(
            store
                .claim_due(retry_at - Duration::milliseconds(1), retry_at, 10)
                .await?
                .is_empty(),
            "not before retry_at"
        );
        let again = store
            .claim_due(retry_at, retry_at + Duration::seconds(30), 10)
            .await?;
        assert_eq!(
            again.iter().map(|e| (e.id, e.attempts)).collect::<Vec<_>>(),
            [(event.id, 2)]
        );

        store.complete(event.id, retry_at).await?;
        assert_eq!(store.outbox_pending().await?, 0);
        ensure!(
            store
                .claim_due(
                    retry_at + Duration::hours(1),
                    retry_at + Duration::hours(2),
                    10
                )
                .await?
                .is_empty()
        );
        let row = outbox_rows::Entity::find_by_id(event.id)
            .one(store.db())
            .await?
            .context("row")?;
        assert_eq!(
            (row.status.as_str(), row.done_at, row.lease_until),
            ("DONE", Some(retry_at.timestamp_millis()), None)
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_connections_use_wal_busy_timeout_and_foreign_keys() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let db = testing::fresh_sqlite().await?;
    // Ask several connections at once, so more than one pooled connection answers.
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for pragma in [
                    "journal_mode",
                    "busy_timeout",
                    "synchronous",
                    "foreign_keys",
                    "wal_autocheckpoint",
                ] {
                    let row = store
                        .db()
                        .query_one_raw(Statement::from_string(
                            DbBackend::Sqlite,
                            format!("PRAGMA {pragma}"),
                        ))
                        .await?
                        .context("a pragma row")?;
                    answers.push(match pragma {
                        "journal_mode" => row.try_get_by_index::<String>(0)?,
                        _ => row.try_get_by_index::<i64>(0)?.to_string(),
                    });
                }
                anyhow::Ok(answers)
            })
        })
        .collect();
    for task in tasks {
        // synchronous NORMAL is 1; commits checkpoint only past 16384 WAL pages (64 MiB).
        assert_eq!(task.await??, ["wal", "5000", "1", "1", "16384"]);
    }
    Ok(())
}

#[tokio::test]
async fn sqlite_checkpoints_in_the_background() -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("shop.db");
    let store = SeaStore::connect(&format!("sqlite://{}", path.display())).await?;
    let before = std::fs::metadata(&path)?.len();
    // 4 MiB: well under the in-commit backstop, so only the background task can move it
    // from the WAL into the database file.
    for statement in [
        "CREATE TABLE ballast (b BLOB)",
        "INSERT INTO ballast VALUES (zeroblob(4194304))",
    ] {
        store
            .db()
            .execute_raw(Statement::from_string(DbBackend::Sqlite, statement))
            .await?;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let size = std::fs::metadata(&path)?.len();
        if size >= before + 4_194_304 {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {size} bytes (was {before}): nothing checkpointed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn openids_that_differ_only_in_case_are_different_users() -> anyhow::Result<()> {
    // MySQL compares text case-insensitively unless told otherwise.
    on_every_backend(|store| async move {
        let models = ModelType::parse_list("gpt-4o")?;
        for (who, quota) in [("oCaseUser", 3), ("OCASEUSER", 5), ("ocaseuser", 7)] {
            let granted = store
                .grant_quota(&user(who), quota, &models, "test_grant", who, t0())
                .await?;
            ensure!(granted.is_some(), "{who} was granted once");
        }
        for (who, quota) in [("oCaseUser", 3), ("OCASEUSER", 5), ("ocaseuser", 7)] {
            let account = store.account(&user(who)).await?.context("an account")?;
            ensure!(account.surplus_quota == quota, "{who}: {account:?}");
        }
        Ok(())
    })
    .await
}

fn new_refund(no: &OrderNo, who: &UserId, nth: u32, fen: u64, quota_back: u32) -> Refund {
    Refund {
        refund_no: RefundNo::nth(no, nth),
        order_no: no.clone(),
        user_id: who.clone(),
        amount: Fen::new(fen).unwrap(),
        quota_back,
        reason: RefundReason::parse("test").unwrap(),
        forced: false,
        status: RefundStatus::Requested,
        requested_by: "admin-token".into(),
        channel_refund_id: None,
        channel_report: None,
        created_at: t0(),
        updated_at: t0(),
        ended_at: None,
    }
}

/// Ten concurrent attempts at one move of a refund: how many made it.
async fn race_moves(
    store: &SeaStore,
    no: &RefundNo,
    transition: RefundTransition,
    report: Option<RefundReport>,
) -> anyhow::Result<usize> {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (store, no, report) = (store.clone(), no.clone(), report.clone());
            tokio::spawn(async move {
                store
                    .move_refund(&no, transition, report.as_ref(), &TEST, t0())
                    .await
            })
        })
        .collect();
    let mut moved = 0;
    for task in tasks {
        moved += usize::from(task.await??);
    }
    Ok(moved)
}

fn report(refund: &Refund, status: RefundStatus) -> RefundReport {
    RefundReport {
        out_trade_no: refund.order_no.to_string(),
        out_refund_no: refund.refund_no.to_string(),
        refund_id: "50300000000000000000000000001".into(),
        status,
        refund: refund.amount,
        raw: format!("{{\"refund_status\":\"{status}\"}}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_takes_quota_back_once_and_concurrent_moves_apply_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("uRefund");
        let p = product(1002, 100, "gpt-4o-mini");
        let no = paid_order(&store, 1, &who, &p).await?;
        store.deliver(&no, &TEST, t0()).await?;

        // More quota than the balance holds: nothing is stored.
        let greedy = new_refund(&no, &who, 1, 990, 101);
        assert_eq!(
            store.open_refund(&greedy, &TEST).await?,
            OpenRefund::QuotaMoved
        );
        assert!(store.refunds_of(&no).await?.is_empty());
        let first = new_refund(&no, &who, 1, 495, 50);
        assert_eq!(store.open_refund(&first, &TEST).await?, OpenRefund::Opened);
        assert_eq!(
            store.open_refund(&first, &TEST).await?,
            OpenRefund::NumberTaken
        );
        let account = store.account(&who).await?.context("an account")?;
        assert_eq!((account.total_quota, account.surplus_quota), (50, 50));

        // Ten reports of its success race: one moves it, the order counts it once.
        let success = report(&first, RefundStatus::Success);
        let moved = race_moves(
            &store,
            &first.refund_no,
            RefundTransition::SUCCEED,
            Some(success),
        )
        .await?;
        assert_eq!(moved, 1);
        let order = store.order(&no).await?.context("the order")?;
        assert_eq!(order.status, OrderStatus::PartlyRefunded);
        let stored = store
            .refund(&first.refund_no)
            .await?
            .context("the refund")?;
        assert_eq!(stored.status, RefundStatus::Success);
        assert_eq!(
            stored.channel_report.as_deref(),
            Some("{\"refund_status\":\"SUCCESS\"}")
        );
        assert!(stored.ended_at.is_some());

        // The second refund closes, reported many times at once: its quota comes back once.
        let second = new_refund(&no, &who, 2, 495, 50);
        assert_eq!(store.open_refund(&second, &TEST).await?, OpenRefund::Opened);
        assert_eq!(
            store.account(&who).await?.context("account")?.surplus_quota,
            0
        );
        let moved = race_moves(&store, &second.refund_no, RefundTransition::CLOSE, None).await?;
        assert_eq!(moved, 1);
        let account = store.account(&who).await?.context("account")?;
        assert_eq!((account.total_quota, account.surplus_quota), (50, 50));
        // A closed refund cannot succeed later; the order did not move.
        assert!(
            !store
                .move_refund(
                    &second.refund_no,
                    RefundTransition::SUCCEED,
                    None,
                    &TEST,
                    t0()
                )
                .await?
        );
        assert_eq!(
            store.order(&no).await?.context("order")?.status,
            OrderStatus::PartlyRefunded
        );

        // The rest, in full: REFUNDED.
        let third = new_refund(&no, &who, 3, 495, 50);
        assert_eq!(store.open_refund(&third, &TEST).await?, OpenRefund::Opened);
        assert!(
            store
                .move_refund(
                    &third.refund_no,
                    RefundTransition::SUCCEED,
                    None,
                    &TEST,
                    t0()
                )
                .await?
        );
        assert_eq!(
            store.order(&no).await?.context("order")?.status,
            OrderStatus::Refunded
        );
        assert_eq!(store.refunds_of(&no).await?.len(), 3);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn open_refunds_are_claimed_once_and_rescheduled() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("uRefundJob");
        let p = product(1002, 100, "gpt-4o-mini");
        let no = paid_order(&store, 1, &who, &p).await?;
        store.deliver(&no, &TEST, t0()).await?;
        let refund = new_refund(&no, &who, 1, 99, 10);
        store.open_refund(&refund, &TEST).await?;
        let now = t0() + Duration::seconds(60);
        let lease = now + Duration::seconds(30);
        let claimed = store.claim_open_refunds(now, now, lease, 10).await?;
        assert_eq!(claimed.len(), 1);
        assert!(
            store
                .claim_open_refunds(now, now, lease, 10)
                .await?
                .is_empty(),
            "leased"
        );
        // Too young for the job's delay: not claimed.
        store
            .reschedule_refund(&refund.refund_no, now, Some("WeChat did not answer"))
            .await?;
        assert!(
            store
                .claim_open_refunds(t0() - Duration::seconds(1), now, lease, 10)
                .await?
                .is_empty()
        );
        assert_eq!(
            store.claim_open_refunds(now, now, lease, 10).await?.len(),
            1
        );
        // A refund that ended is not open.
        store
            .move_refund(
                &refund.refund_no,
                RefundTransition::ABNORMAL,
                None,
                &TEST,
                now,
            )
            .await?;
        let later = lease + Duration::seconds(1);
        assert!(
            store
                .claim_open_refunds(later, later, later, 10)
                .await?
                .is_empty()
        );
        assert_eq!(store.refunds_in(RefundStatus::Abnormal, 10).await?.len(), 1);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn every_transition_writes_the_orders_history_with_its_cause_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("uHistory");
        let p = product(1002, 100, "gpt-4o-mini");
        let order = open(1, &who, &p, t0());
        let no = order.order_no.clone();
        store.insert(&order).await?;
        ensure!(
            store
                .record_prepay(&no, "weixin://h", &Cause::Buyer, t0())
                .await?
        );
        let notified = Cause::Notification("EV-HISTORY-1".into());
        let mut paid = payment(&no, "4200000000000000061");
        paid.raw = r#"{"trade_state":"SUCCESS","transaction_id":"4200000000000000061"}"#.into();
        ensure!(store.mark_paid(&paid, &notified, t0()).await? == MarkPaid::Paid);
        // A repeat, and a transition the state refuses, write nothing.
        ensure!(store.mark_paid(&paid, &notified, t0()).await? == MarkPaid::Unchanged);
        ensure!(!store.close(&no, &Cause::Job("expiry"), t0()).await?);
        let delivered = store.deliver(&no, &Cause::Job("delivery"), t0()).await?;
        ensure!(matches!(delivered, Delivery::Delivered(_)));
        let refund = new_refund(&no, &who, 1, 990, 100);
        let operator = Cause::Operator("admin-token".into());
        ensure!(store.open_refund(&refund, &operator).await? == OpenRefund::Opened);
        let success = report(&refund, RefundStatus::Success);
        ensure!(
            store
                .move_refund(
                    &refund.refund_no,
                    RefundTransition::SUCCEED,
                    Some(&success),
                    &Cause::Query("refunds"),
                    t0()
                )
                .await?
        );

        let history = store.history(&no).await?;
        let seen: Vec<(Option<&str>, &str, &str, &str)> = history
            .iter()
            .map(|e| {
                (
                    e.refund_no.as_deref(),
                    e.transition.as_str(),
                    e.to.as_str(),
                    e.cause.as_str(),
                )
            })
            .collect();
        let refund_no = refund.refund_no.to_string();
        ensure!(
            seen == [
                (None, "prepay", "PAY_WAIT", "buyer"),
                (None, "pay", "PAID", "notification:EV-HISTORY-1"),
                (None, "deliver", "DELIVERED", "job:delivery"),
                (
                    Some(refund_no.as_str()),
                    "open",
                    "REQUESTED",
                    "operator:admin-token"
                ),
                (
                    Some(refund_no.as_str()),
                    RefundTransition::SUCCEED.name,
                    "SUCCESS",
                    "query:refunds"
                ),
                (None, "refund all", "REFUNDED", "query:refunds"),
            ],
            "{seen:#?}"
        );
        // What each acted on: the payment and the refund as WeChat reported them, the
        // quota credited.
        ensure!(history[1].detail.as_deref() == Some(paid.raw.as_str()));
        ensure!(
            history[2]
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("\"quota\":100"))
        );
        ensure!(history[4].detail.as_deref() == Some(success.raw.as_str()));
        ensure!(history.iter().all(|e| e.order_no == no && e.at == t0()));
        // Another order's history is its own.
        ensure!(store.history(&order_no(2)).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_review_is_in_the_history_even_when_its_transaction_id_is_taken() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("uHistoryReview");
        let p = product(1002, 100, "gpt-4o-mini");
        paid_order(&store, 1, &who, &p).await?;
        let b = open(2, &who, &p, t0());
        store.insert(&b).await?;
        // The transaction id paid_order gave order 1.
        let taken = txid(&format!("42000{:010}", 1));
        let cause = Cause::Query("missed_payment");
        // The id already pays order a: the review falls back to keeping none, once.
        ensure!(
            store
                .mark_review(
                    &b.order_no,
                    "pays another order",
                    &payment(&b.order_no, taken.as_str()),
                    &cause,
                    t0()
                )
                .await?
        );
        let history = store.history(&b.order_no).await?;
        ensure!(history.len() == 1, "{history:?}");
        ensure!(history[0].transition == "review" && history[0].cause == "query:missed_payment");
        ensure!(
            history[0]
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("pays another order")),
            "{history:?}"
        );
        Ok(())
    })
    .await
}

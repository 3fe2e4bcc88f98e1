//! The chat quota port against real databases: SQLite always, PostgreSQL and MySQL when
//! their `CHATMALL_TEST_*_URL` is set.

use anyhow::{Context as _, ensure};
use chatmall_infra::store::SeaStore;
use chatmall_infra::testing::{on_every_backend, t0};
use domain::account::AccountStatus;
use domain::chat::{Charge, Price, Settlement, Spend, TokenUsage, UsageEnd, UsageId, UsageStatus};
use domain::ports::AccountAdmin as _;
use domain::ports::AccountRepository;
use domain::ports::ChatAccounts;
use domain::product::ModelType;
use domain::user::UserId;

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn model(name: &str) -> ModelType {
    ModelType::parse(name).unwrap()
}

fn price(quota: u32) -> Price {
    Price::new(quota).unwrap()
}

/// A call billed per call whose model reported no tokens.
fn none() -> Settlement {
    Settlement::default()
}

async fn surplus(store: &SeaStore, who: &UserId) -> anyhow::Result<i64> {
    Ok(store
        .account(who)
        .await?
        .context("the account exists")?
        .surplus_quota)
}

/// A user granted `quota` calls of gpt-4o.
async fn funded(store: &SeaStore, name: &str, quota: u32) -> anyhow::Result<UserId> {
    let who = user(name);
    store
        .grant_quota(&who, quota, &[model("gpt-4o")], "test_grant", "r1", t0())
        .await?;
    Ok(who)
}

async fn spent(store: &SeaStore, who: &UserId, m: &str, p: u32) -> anyhow::Result<UsageId> {
    spent_at(store, who, m, p, t0()).await
}

async fn spent_at(
    store: &SeaStore,
    who: &UserId,
    m: &str,
    p: u32,
    when: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<UsageId> {
    match store.spend(who, &model(m), price(p), None, when).await? {
        Spend::Spent(id) => Ok(id),
        other => anyhow::bail!("expected a spend, got {other:?}"),
    }
}

#[tokio::test]
async fn spend_refuses_each_case_and_changes_nothing() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("oChatRefusals");
        let gpt = model("gpt-4o");
        ensure!(store.spend(&who, &gpt, price(1), None, t0()).await? == Spend::NoAccount);

        store
            .grant_quota(&who, 2, &[model("gpt-4o-mini")], "test_grant", "r1", t0())
            .await?
            .context("granted")?;
        // The grant is matched as a whole name, case and all: no prefix, suffix or
        // infix of a granted model passes.
        for near in [
            "gpt-4o",
            "4o-mini",
            "gpt-4o-min",
            "GPT-4o-mini",
            "o-m",
            "gpt-4o-mini2",
        ] {
            let refused = store
                .spend(&who, &model(near), price(1), None, t0())
                .await?;
            ensure!(refused == Spend::ModelNotGranted, "{near}: {refused:?}");
        }
        let mini = model("gpt-4o-mini");
        ensure!(
            store.spend(&who, &mini, price(3), None, t0()).await? == Spend::NoQuota { total: 2 }
        );
        store
            .set_account_status(&who, AccountStatus::Frozen, t0())
            .await?;
        ensure!(store.spend(&who, &mini, price(1), None, t0()).await? == Spend::Frozen);
        ensure!(surplus(&store, &who).await? == 2);
        ensure!(store.usage_of(&who, 10).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_spend_opens_a_usage_row_that_ends_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = funded(&store, "oChatSpend", 5).await?;
        let id = spent(&store, &who, "gpt-4o", 2).await?;
        ensure!(surplus(&store, &who).await? == 3);
        let rows = store.usage_of(&who, 10).await?;
        ensure!(rows.len() == 1 && rows[0].status == UsageStatus::Started);
        ensure!(rows[0].quota_spent == 2 && rows[0].started_at == t0());

        ensure!(
            store
                .finish(id, &UsageEnd::Ok, Some(42), &none(), t0())
                .await?
        );
        // Ended: neither a second end nor a refund changes anything.
        ensure!(
            !store
                .finish(id, &UsageEnd::Cancelled, None, &none(), t0())
                .await?
        );
        ensure!(!store.refund(id, "late", t0()).await?);
        ensure!(surplus(&store, &who).await? == 3);
        let row = &store.usage_of(&who, 10).await?[0];
        ensure!(row.status == UsageStatus::Ok && row.first_token_ms == Some(42));
        ensure!(row.finished_at == Some(t0()));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_refund_gives_the_price_back_exactly_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = funded(&store, "oChatRefund", 3).await?;
        let id = spent(&store, &who, "gpt-4o", 2).await?;
        ensure!(surplus(&store, &who).await? == 1);
        ensure!(store.refund(id, "upstream said 500", t0()).await?);
        ensure!(!store.refund(id, "again", t0()).await?);
        ensure!(!store.finish(id, &UsageEnd::Ok, None, &none(), t0()).await?);
        ensure!(surplus(&store, &who).await? == 3);
        let row = &store.usage_of(&who, 10).await?[0];
        ensure!(row.status == UsageStatus::Refunded);
        ensure!(row.error.as_deref() == Some("upstream said 500"));

        let failed = spent(&store, &who, "gpt-4o", 1).await?;
        ensure!(
            store
                .finish(
                    failed,
                    &UsageEnd::Failed("cut off".into()),
                    Some(5),
                    &none(),
                    t0()
                )
                .await?
        );
        ensure!(
            surplus(&store, &who).await? == 2,
            "a failed call still counts"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn concurrent_spends_never_go_below_zero() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = funded(&store, "oChatRace", 10).await?;
        let tasks: Vec<_> = (0..40)
            .map(|_| {
                let (store, who) = (store.clone(), who.clone());
                tokio::spawn(async move {
                    store
                        .spend(&who, &model("gpt-4o"), price(1), None, t0())
                        .await
                })
            })
            .collect();
        let mut won = 0;
        for task in tasks {
            match task.await?? {
                Spend::Spent(_) => won += 1,
                Spend::NoQuota { total: 10 } => {}
                other => anyhow::bail!("unexpected {other:?}"),
            }
        }
        ensure!(won == 10, "{won} spends won");
        ensure!(surplus(&store, &who).await? == 0);
        ensure!(store.usage_of(&who, 100).await?.len() == 10);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_grant_is_credited_once_per_reason_and_reference() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("oChatGrant");
        let first = store
            .grant_quota(&who, 4, &[model("o3-mini")], "test_grant", "g1", t0())
            .await?
            .context("first grant")?;
        ensure!(first.total_quota == 4 && first.surplus_quota == 4);
        ensure!(
            store
                .grant_quota(&who, 4, &[model("o3-mini")], "test_grant", "g1", t0())
                .await?
                .is_none()
        );
        let second = store
            .grant_quota(&who, 1, &[model("gpt-4o")], "test_grant", "g2", t0())
            .await?
            .context("second grant")?;
        ensure!(second.surplus_quota == 5);
        ensure!(ModelType::join(&second.model_types) == "gpt-4o,o3-mini");
        ensure!(
            store
                .grant_quota(&who, 1, &[], "order_delivery", "g3", t0())
                .await
                .is_err(),
            "a grant cannot pose as a delivery"
        );
        ensure!(
            store
                .grant_quota(&who, 0, &[], "test_grant", "g4", t0())
                .await
                .is_err()
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn calls_older_than_the_cutoff_still_started_end_as_interrupted() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = funded(&store, "oChatInterrupted", 5).await?;
        let hours = |h| t0() + chrono::Duration::hours(h);
        let stale = spent(&store, &who, "gpt-4o", 1).await?;
        let ended = spent(&store, &who, "gpt-4o", 1).await?;
        let recent = spent_at(&store, &who, "gpt-4o", 1, hours(2)).await?;
        ensure!(
            store
                .finish(ended, &UsageEnd::Ok, None, &none(), t0())
                .await?
        );

        ensure!(store.end_interrupted(hours(1), hours(3)).await? == 1);
        ensure!(
            store.end_interrupted(hours(1), hours(3)).await? == 0,
            "once"
        );
        let rows = store.usage_of(&who, 10).await?;
        let status = |id: UsageId| rows.iter().find(|r| r.id == id).map(|r| r.status);
        ensure!(status(stale) == Some(UsageStatus::Failed));
        ensure!(
            status(ended) == Some(UsageStatus::Ok),
            "an ended call is left alone"
        );
        ensure!(
            status(recent) == Some(UsageStatus::Started),
            "a young call is left alone"
        );
        let row = rows
            .iter()
            .find(|r| r.id == stale)
            .context("the stale row")?;
        ensure!(row.finished_at == Some(hours(3)));
        ensure!(
            row.error
                .as_deref()
                .is_some_and(|e| e.contains("interrupted"))
        );
        // The price stays spent, and the call cannot be ended or refunded again.
        ensure!(surplus(&store, &who).await? == 2);
        ensure!(!store.refund(stale, "late", hours(3)).await?);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn fifty_concurrent_trial_calls_on_a_trial_of_ten_count_exactly_ten() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let who = user("oTrialCrowd");
        let window = 1_800_000_000_000;
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (store, who) = (store.clone(), who.clone());
                tokio::spawn(async move {
                    store
                        .spend_trial(&who, &model("chatglm_turbo"), window, 10, t0())
                        .await
                })
            })
            .collect();
        let mut counted = Vec::new();
        for task in tasks {
            counted.extend(task.await??);
        }
        ensure!(counted.len() == 10, "{} trial calls counted", counted.len());
        let rows = store.usage_of(&who, 100).await?;
        ensure!(rows.len() == 10);
        ensure!(
            rows.iter()
                .all(|r| r.quota_spent == 0 && r.trial_window == Some(window))
        );
        ensure!(store.account(&who).await?.is_none(), "no account is made");

        // A refunded trial call is given back once, and can be made again; another window
        // counts afresh.
        ensure!(store.refund(counted[0], "upstream down", t0()).await?);
        ensure!(!store.refund(counted[0], "again", t0()).await?);
        let again = store
            .spend_trial(&who, &model("chatglm_turbo"), window, 10, t0())
            .await?;
        ensure!(again.is_some(), "the refunded call is free again");
        let full = store
            .spend_trial(&who, &model("chatglm_turbo"), window, 10, t0())
            .await?;
        ensure!(full.is_none(), "the window is full again");
        let next = store
            .spend_trial(&who, &model("chatglm_turbo"), window + 86_400_000, 10, t0())
            .await?;
        ensure!(next.is_some(), "the next window counts afresh");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_keys_cap_holds_under_concurrency_and_refunds_give_its_share_back() -> anyhow::Result<()>
{
    use domain::api_key::KeyTerms;
    use domain::ports::ApiKeys;
    on_every_backend(|store| async move {
        let who = funded(&store, "oKeyRace", 100).await?;
        let terms = KeyTerms::parse("ci", Some(5), "")?;
        let key = store
            .create_key(&who, &terms, &"ab".repeat(32), "sk-cm-ab", t0())
            .await?;
        ensure!(store.key_by_digest(&"ab".repeat(32)).await?.as_ref() == Some(&key));
        ensure!(store.key_by_digest(&"cd".repeat(32)).await?.is_none());
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (store, who) = (store.clone(), who.clone());
                tokio::spawn(async move {
                    store
                        .spend(&who, &model("gpt-4o"), price(1), Some(key.id), t0())
                        .await
                })
            })
            .collect();
        let mut spent = Vec::new();
        for task in tasks {
            match task.await?? {
                Spend::Spent(id) => spent.push(id),
                Spend::KeyCapReached => {}
                other => anyhow::bail!("unexpected {other:?}"),
            }
        }
        ensure!(
            spent.len() == 5,
            "{} spends through a key capped at 5",
            spent.len()
        );
        ensure!(surplus(&store, &who).await? == 95);
        let rows = store.usage_of(&who, 100).await?;
        ensure!(rows.iter().all(|r| r.api_key_id == Some(key.id.0)));

        // A refunded call gives the key its share back: one more call fits.
        ensure!(store.refund(spent[0], "upstream down", t0()).await?);
        let again = store
            .spend(&who, &model("gpt-4o"), price(1), Some(key.id), t0())
            .await?;
        ensure!(matches!(again, Spend::Spent(_)), "{again:?}");
        let full = store
            .spend(&who, &model("gpt-4o"), price(1), Some(key.id), t0())
            .await?;
        ensure!(full == Spend::KeyCapReached, "{full:?}");
        // Without the key the account still pays.
        ensure!(matches!(
            store
                .spend(&who, &model("gpt-4o"), price(1), None, t0())
                .await?,
            Spend::Spent(_)
        ));

        // A revoked key spends nothing more; revoking is once, and only by its owner.
        let open = store
            .create_key(
                &who,
                &KeyTerms::parse("open", None, "")?,
                &"ef".repeat(32),
                "sk-cm-ef",
                t0(),
            )
            .await?;
        ensure!(
            !store
                .revoke_key(&user("oSomeoneElse"), open.id, t0())
                .await?
        );
        ensure!(store.revoke_key(&who, open.id, t0()).await?);
        ensure!(!store.revoke_key(&who, open.id, t0()).await?);
        let revoked = store
            .spend(&who, &model("gpt-4o"), price(1), Some(open.id), t0())
            .await?;
        ensure!(revoked == Spend::KeyCapReached, "{revoked:?}");

        store.touch_key(key.id, t0()).await?;
        let keys = store.keys_of(&who).await?;
        ensure!(keys.len() == 2 && keys[0].id == open.id && keys[0].revoked_at == Some(t0()));
        ensure!(keys[1].last_used_at == Some(t0()) && keys[1].quota_spent == 5);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_call_billed_by_the_token_settles_once_and_gives_the_rest_back() -> anyhow::Result<()> {
    use domain::api_key::KeyTerms;
    use domain::ports::ApiKeys;
    on_every_backend(|store| async move {
        let who = funded(&store, "oTokenSettle", 100).await?;
        let terms = KeyTerms::parse("ci", Some(30), "")?;
        let key = store
            .create_key(&who, &terms, &"12".repeat(32), "sk-cm-12", t0())
            .await?;
        ensure!(store.spendable(&who, None).await? == 100);
        ensure!(
            store.spendable(&who, Some(key.id)).await? == 30,
            "the key's cap"
        );
        ensure!(store.spendable(&user("oNobody"), None).await? == 0);

        let reserved = 12;
        let id = match store
            .spend(&who, &model("gpt-4o"), price(12), Some(key.id), t0())
            .await?
        {
            Spend::Spent(id) => id,
            other => anyhow::bail!("expected a spend, got {other:?}"),
        };
        ensure!(surplus(&store, &who).await? == 88);
        ensure!(store.spendable(&who, Some(key.id)).await? == 18);
        let settled = Settlement {
            tokens: Some(TokenUsage {
                prompt: 120,
                completion: 345,
            }),
            charge: Some(Charge { reserved, spent: 5 }),
        };
        ensure!(
            store
                .finish(id, &UsageEnd::Cancelled, Some(7), &settled, t0())
                .await?
        );
        // Once: a second end (or a refund) gives nothing back again.
        ensure!(
            !store
                .finish(id, &UsageEnd::Ok, None, &settled, t0())
                .await?
        );
        ensure!(!store.refund(id, "late", t0()).await?);
        ensure!(surplus(&store, &who).await? == 95);
        ensure!(
            store.spendable(&who, Some(key.id)).await? == 25,
            "the key's share too"
        );
        let row = &store.usage_of(&who, 10).await?[0];
        ensure!(row.status == UsageStatus::Cancelled && row.quota_spent == 5);
        ensure!(row.tokens == settled.tokens, "{:?}", row.tokens);

        // A call billed per call keeps its price and records the model's tokens.
        let id = spent(&store, &who, "gpt-4o", 2).await?;
        let reported = Settlement {
            tokens: Some(TokenUsage {
                prompt: 7,
                completion: 9,
            }),
            charge: None,
        };
        ensure!(
            store
                .finish(id, &UsageEnd::Ok, None, &reported, t0())
                .await?
        );
        ensure!(surplus(&store, &who).await? == 93);
        let row = &store.usage_of(&who, 10).await?[0];
        ensure!(row.quota_spent == 2 && row.tokens == reported.tokens);

        // Without a key (the session token): the account alone gets the rest back.
        let id = spent(&store, &who, "gpt-4o", 10).await?;
        let settled = Settlement {
            charge: Some(Charge {
                reserved: 10,
                spent: 4,
            }),
            ..settled
        };
        ensure!(
            store
                .finish(id, &UsageEnd::Ok, None, &settled, t0())
                .await?
        );
        ensure!(
            !store
                .finish(id, &UsageEnd::Ok, None, &settled, t0())
                .await?
        );
        ensure!(surplus(&store, &who).await? == 89, "93 − 4");
        ensure!(store.usage_of(&who, 10).await?[0].quota_spent == 4);
        ensure!(
            store.spendable(&who, Some(key.id)).await? == 25,
            "another key's share is untouched"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_spend_that_comes_back_after_its_caller_left_is_given_back() -> anyhow::Result<()> {
    // The chat's writes run on the write lane, where a spend finishes even after its
    // caller stopped waiting; it must then not keep the price of a call that never started.
    for db in chatmall_infra::testing::backends().await? {
        caller_leaves_a_waiting_spend(&db)
            .await
            .with_context(|| format!("on {}", db.backend))?;
    }
    Ok(())
}

/// Holds what the spend writes (SQLite's write lock; the account's row elsewhere), gives
/// up waiting for the spend, lets it through, and waits for its price to come back.
async fn caller_leaves_a_waiting_spend(db: &chatmall_infra::testing::TestDb) -> anyhow::Result<()> {
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _, Executor as _};
    use sea_orm::{ConnectionTrait as _, TransactionTrait as _};
    use std::time::{Duration, Instant};
    let store = db.store.clone();
    let who = funded(&store, "oLeftEarly", 10).await?;
    let gpt = model("gpt-4o");
    let spend = store.spend(&who, &gpt, price(3), None, t0());
    if db.backend == "sqlite" {
        let mut holder = db
            .url
            .parse::<sea_orm::sqlx::sqlite::SqliteConnectOptions>()?
            .connect()
            .await?;
        holder.execute("BEGIN IMMEDIATE").await?;
        ensure!(
            tokio::time::timeout(Duration::from_millis(50), spend)
                .await
                .is_err(),
            "the spend waits for the write lock"
        );
        holder.execute("COMMIT").await?;
        holder.close().await?;
    } else {
        let holder = store.db().begin().await?;
        let backend = holder.get_database_backend();
        let lock = sea_orm::Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "SELECT user_id FROM accounts WHERE user_id = $1 FOR UPDATE"
                }
                _ => "SELECT user_id FROM accounts WHERE user_id = ? FOR UPDATE",
            },
            [who.as_str().into()],
        );
        ensure!(
            holder.query_one_raw(lock).await?.is_some(),
            "the row is locked"
        );
        ensure!(
            tokio::time::timeout(Duration::from_millis(50), spend)
                .await
                .is_err(),
            "the spend waits for the account's row"
        );
        holder.commit().await?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = store.usage_of(&who, 10).await?;
        if let [row] = rows.as_slice()
            && row.status == UsageStatus::Refunded
        {
            ensure!(surplus(&store, &who).await? == 10, "the price went back");
            ensure!(row.error.as_deref() == Some("the caller left before the call started"));
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the spend was not given back: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

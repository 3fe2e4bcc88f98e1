//! The login stores against real databases: SQLite always, PostgreSQL when
//! `CHATMALL_TEST_POSTGRES_URL` is set.

use anyhow::ensure;
use chatmall_infra::store::SeaStore;
use chatmall_infra::testing::{backends, on_every_backend, t0};
use chrono::Duration;
use domain::login_code::{ClientPrefix, CodeDigest, SealedCode, StoreCode};
use domain::ports::{LoginAttempts, LoginCodes};
use domain::user::UserId;

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn digest(text: &str) -> CodeDigest {
    CodeDigest::new(format!("{text:0>64}"))
}

fn sealed(text: &str) -> SealedCode {
    SealedCode::new(format!("sealed:{text}"))
}

fn block(n: u8) -> ClientPrefix {
    ClientPrefix::of(std::net::IpAddr::from([192, 0, n, 1]))
}

async fn store(store: &SeaStore, who: &str, code: &str, secs: i64) -> anyhow::Result<StoreCode> {
    let now = t0() + Duration::seconds(secs);
    store
        .store_code(
            &user(who),
            &digest(code),
            &sealed(code),
            now,
            now + Duration::seconds(180),
        )
        .await
}

#[tokio::test]
async fn a_code_is_stored_then_redeemed_exactly_once() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        ensure!(store(&s, "oAlice", "a1", 0).await? == StoreCode::Stored);
        let later = t0() + Duration::seconds(10);
        ensure!(s.redeem(&digest("a1"), later).await? == Some(user("oAlice")));
        ensure!(
            s.redeem(&digest("a1"), later).await?.is_none(),
            "a used code is refused"
        );
        ensure!(
            s.redeem(&digest("b2"), later).await?.is_none(),
            "an unknown code is refused"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn only_the_digest_and_the_sealed_copy_are_kept() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        store(&s, "oDigest", "c0ffee", 0).await?;
        use chatmall_infra::store::entities::login_code;
        use sea_orm::EntityTrait;
        let rows = login_code::Entity::find().all(s.db()).await?;
        ensure!(rows.len() == 1);
        ensure!(rows[0].code_digest == digest("c0ffee").as_str());
        ensure!(rows[0].code_sealed == sealed("c0ffee").as_str());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn ten_concurrent_redeems_of_one_code_have_one_winner() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        store(&s, "oRace", "77", 0).await?;
        let now = t0() + Duration::seconds(1);
        let attempts: Vec<_> = (0..10)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.redeem(&digest("77"), now).await })
            })
            .collect();
        let mut winners = 0;
        for attempt in attempts {
            if attempt.await??.is_some() {
                winners += 1;
            }
        }
        ensure!(winners == 1, "{winners} redeems won");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn an_expired_code_is_refused_and_its_digest_freed() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        store(&s, "oLate", "11", 0).await?;
        let expiry = t0() + Duration::seconds(180);
        ensure!(
            s.redeem(&digest("11"), expiry).await?.is_none(),
            "refused at the expiry instant"
        );
        ensure!(s.live_code(&user("oLate"), expiry).await?.is_none());
        ensure!(store(&s, "oOther", "11", 180).await? == StoreCode::Stored);
        ensure!(s.redeem(&digest("11"), expiry).await? == Some(user("oOther")));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_live_code_is_kept_until_used_or_revoked_and_live_digests_collide() -> anyhow::Result<()>
{
    on_every_backend(|s| async move {
        store(&s, "oBob", "31", 0).await?;
        let at = |secs| t0() + Duration::seconds(secs);
        let live = s.live_code(&user("oBob"), at(60)).await?.expect("live");
        ensure!(live.sealed == sealed("31") && live.expires_at == at(180));
        ensure!(store(&s, "oBob", "42", 60).await? == StoreCode::UserHasLiveCode);
        ensure!(store(&s, "oCarol", "31", 60).await? == StoreCode::Collision);
        // Used, it gives way to a new one.
        ensure!(s.redeem(&digest("31"), at(61)).await? == Some(user("oBob")));
        ensure!(s.live_code(&user("oBob"), at(61)).await?.is_none());
        ensure!(store(&s, "oBob", "42", 62).await? == StoreCode::Stored);
        // Revoked, it is gone at once.
        s.revoke_code(&user("oBob")).await?;
        ensure!(s.redeem(&digest("42"), at(63)).await?.is_none());
        ensure!(store(&s, "oBob", "53", 63).await? == StoreCode::Stored);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn concurrent_stores_for_one_user_leave_one_live_code() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                tokio::spawn(async move { store(&s, "oTwice", &format!("9{i}"), 0).await })
            })
            .collect();
        let mut stored = 0;
        for task in tasks {
            match task.await?? {
                StoreCode::Stored => stored += 1,
                StoreCode::UserHasLiveCode => {}
                StoreCode::Collision => anyhow::bail!("no digest was shared"),
            }
        }
        ensure!(stored == 1, "{stored} codes stored for one user");
        let now = t0() + Duration::seconds(1);
        let mut live = 0;
        for i in 0..8 {
            if s.redeem(&digest(&format!("9{i}")), now).await?.is_some() {
                live += 1;
            }
        }
        ensure!(live == 1, "{live} live codes for one user");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn attempts_are_counted_by_block_and_in_all() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        let window = Duration::minutes(10);
        let day = Duration::hours(24);
        let at = |secs: i64| t0() + Duration::seconds(secs);
        for i in 0..3 {
            s.begin_attempt(&block(1), at(i), at(i) - window, at(i) - day, 100)
                .await?;
        }
        let (id, counts) = s
            .begin_attempt(&block(1), at(5), at(5) - window, at(5) - day, 100)
            .await?;
        ensure!(counts.prefix_failures == 4, "{counts:?}");
        ensure!(counts.prefix_oldest == Some(at(0)), "{counts:?}");
        ensure!(counts.recent_failures == 4, "{counts:?}");
        // Another block has its own count, but everyone's includes both.
        let (_, other) = s
            .begin_attempt(&block(2), at(6), at(6) - window, at(6) - day, 100)
            .await?;
        ensure!(
            other.prefix_failures == 1 && other.recent_failures == 5,
            "{other:?}"
        );
        // The cap bounds the count; a forgotten attempt no longer counts.
        ensure!(s.recent_failures(at(6) - day, 3).await? == 3);
        s.forget_attempt(id).await?;
        ensure!(s.recent_failures(at(6) - day, 100).await? == 4);
        // Windows slide: 601 s later only the attempt at 2 s is still within 10 minutes.
        let late = at(601);
        let (_, slid) = s
            .begin_attempt(&block(1), late, late - window, late - day, 100)
            .await?;
        ensure!(slid.prefix_failures == 2, "{slid:?}");
        ensure!(slid.prefix_oldest == Some(at(2)), "{slid:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn two_instances_on_one_database_count_failures_together() -> anyhow::Result<()> {
    for db in backends().await? {
        let other = SeaStore::connect(&db.url).await?;
        let now = t0();
        let since = now - Duration::minutes(10);
        for _ in 0..4 {
            db.store
                .begin_attempt(&block(7), now, since, since, 100)
                .await?;
        }
        let (_, counts) = other
            .begin_attempt(&block(7), now, since, since, 100)
            .await?;
        ensure!(counts.prefix_failures == 5, "on {}: {counts:?}", db.backend);
    }
    Ok(())
}

#[tokio::test]
async fn racing_attempts_are_all_counted() -> anyhow::Result<()> {
    on_every_backend(|s| async move {
        let now = t0();
        let since = now - Duration::minutes(10);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(
                    async move { s.begin_attempt(&block(3), now, since, since, 100).await },
                )
            })
            .collect();
        let mut seen = Vec::new();
        for task in tasks {
            seen.push(task.await??.1.prefix_failures);
        }
        seen.sort_unstable();
        // However they interleave, the k-th to count sees at least k attempts, so no more
        // than `limit` of them can pass a limit of `limit`.
        for (k, failures) in seen.iter().enumerate() {
            ensure!(*failures as usize > k, "{seen:?}");
        }
        Ok(())
    })
    .await
}

//! The login-code store against real databases: SQLite always, PostgreSQL when
//! `CHATMALL_TEST_POSTGRES_URL` is set.

use anyhow::ensure;
use chatmall_infra::testing::{on_every_backend, t0};
use chrono::Duration;
use domain::login::{CodeSource, CodeTtl, IssueError, LoginCode, LoginCodes};
use domain::user::UserId;
use std::sync::Mutex;

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn code(text: &str) -> LoginCode {
    LoginCode::parse(text).unwrap()
}

fn ttl() -> CodeTtl {
    CodeTtl::from_secs(180).unwrap()
}

/// Hands out the given codes in order, then repeats the last one.
struct Script(Mutex<Vec<&'static str>>);

impl Script {
    fn new(codes: &[&'static str]) -> Self {
        let mut codes = codes.to_vec();
        codes.reverse();
        Self(Mutex::new(codes))
    }
}

impl CodeSource for Script {
    fn fresh_code(&self) -> LoginCode {
        let mut codes = self.0.lock().unwrap();
        let next = if codes.len() > 1 {
            codes.pop().unwrap()
        } else {
            codes[0]
        };
        code(next)
    }
}

#[tokio::test]
async fn a_code_is_issued_then_redeemed_exactly_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let issued = store
            .issue(&user("oAlice"), t0(), ttl(), &Script::new(&["123456"]))
            .await?;
        ensure!(issued.code == code("123456") && !issued.reused);
        ensure!(issued.expires_at == t0() + Duration::seconds(180));
        let later = t0() + Duration::seconds(10);
        ensure!(store.redeem(&code("123456"), later).await? == Some(user("oAlice")));
        ensure!(
            store.redeem(&code("123456"), later).await?.is_none(),
            "a used code is refused"
        );
        ensure!(
            store.redeem(&code("654321"), later).await?.is_none(),
            "an unknown code is refused"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn ten_concurrent_redeems_of_one_code_have_one_winner() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        store
            .issue(&user("oRace"), t0(), ttl(), &Script::new(&["777777"]))
            .await?;
        let now = t0() + Duration::seconds(1);
        let attempts = (0..10).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.redeem(&code("777777"), now).await })
        });
        let mut winners = 0;
        for attempt in join_all(attempts).await {
            if attempt??.is_some() {
                winners += 1;
            }
        }
        ensure!(winners == 1, "{winners} redeems won");
        Ok(())
    })
    .await
}

async fn join_all<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let handles: Vec<_> = handles.collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}

#[tokio::test]
async fn an_expired_code_is_refused_and_recycled() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        store
            .issue(&user("oLate"), t0(), ttl(), &Script::new(&["111111"]))
            .await?;
        let expiry = t0() + Duration::seconds(180);
        ensure!(
            store.redeem(&code("111111"), expiry).await?.is_none(),
            "refused at the expiry instant"
        );
        ensure!(
            store
                .live_login_code(&user("oLate"), expiry)
                .await?
                .is_none()
        );
        // Once expired, the same value can go to someone else, and the owner gets a new one.
        let other = store
            .issue(&user("oOther"), expiry, ttl(), &Script::new(&["111111"]))
            .await?;
        ensure!(other.code == code("111111") && !other.reused);
        let again = store
            .issue(&user("oLate"), expiry, ttl(), &Script::new(&["222222"]))
            .await?;
        ensure!(again.code == code("222222") && !again.reused);
        ensure!(store.redeem(&code("111111"), expiry).await? == Some(user("oOther")));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn asking_again_returns_the_live_code_and_a_used_one_is_replaced() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let first = store
            .issue(&user("oBob"), t0(), ttl(), &Script::new(&["313131"]))
            .await?;
        let again = store
            .issue(
                &user("oBob"),
                t0() + Duration::seconds(60),
                ttl(),
                &Script::new(&["424242"]),
            )
            .await?;
        ensure!(again.reused && again.code == first.code);
        ensure!(
            again.expires_at == first.expires_at,
            "asking again does not extend it"
        );

        store
            .redeem(&first.code, t0() + Duration::seconds(61))
            .await?;
        let fresh = store
            .issue(
                &user("oBob"),
                t0() + Duration::seconds(62),
                ttl(),
                &Script::new(&["424242"]),
            )
            .await?;
        ensure!(!fresh.reused && fresh.code == code("424242"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_code_colliding_with_a_live_one_is_drawn_again() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        store
            .issue(&user("oFirst"), t0(), ttl(), &Script::new(&["500000"]))
            .await?;
        let second = store
            .issue(
                &user("oSecond"),
                t0(),
                ttl(),
                &Script::new(&["500000", "500000", "600000"]),
            )
            .await?;
        ensure!(second.code == code("600000"));
        ensure!(store.redeem(&code("500000"), t0()).await? == Some(user("oFirst")));
        ensure!(store.redeem(&code("600000"), t0()).await? == Some(user("oSecond")));

        store
            .issue(&user("oThird"), t0(), ttl(), &Script::new(&["700000"]))
            .await?;
        let crowded = store
            .issue(&user("oFourth"), t0(), ttl(), &Script::new(&["700000"]))
            .await;
        ensure!(matches!(crowded, Err(IssueError::Exhausted)), "{crowded:?}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn concurrent_issues_for_one_user_leave_one_live_code() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        static CODES: [&str; 8] = [
            "100001", "100002", "100003", "100004", "100005", "100006", "100007", "100008",
        ];
        let tasks = CODES.iter().map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .issue(&user("oTwice"), t0(), ttl(), &Script::new(&[c]))
                    .await
            })
        });
        let mut codes = Vec::new();
        for issued in join_all(tasks).await {
            codes.push(issued?.map_err(anyhow::Error::from)?.code);
        }
        ensure!(
            codes.windows(2).all(|w| w[0] == w[1]),
            "every caller got the one live code"
        );
        Ok(())
    })
    .await
}

//! Redemption codes in the store, on every backend: a code is taken once whatever races,
//! expiry and unknown codes are told apart, and the per-user attempt log counts.

use anyhow::Context as _;
use chatmall_infra::testing::{on_every_backend, t0};
use chrono::Duration;
use domain::login_code::CodeDigest;
use domain::ports::{AccountRepository, RedemptionCodes};
use domain::product::ModelType;
use domain::redemption::{BatchTerms, RedeemOutcome};
use domain::user::UserId;

fn terms(count: u32, quota: u32, expires_in: Duration) -> BatchTerms {
    BatchTerms {
        count,
        quota,
        models: ModelType::parse_list("gpt-4o").unwrap(),
        expires_at: t0() + expires_in,
    }
}

fn digest(name: &str) -> CodeDigest {
    CodeDigest::new(format!("{name:0>64}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_redemptions_of_one_code_credit_once() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let codes = [digest("a1"), digest("a2")];
        let batch = store
            .create_batch(&terms(2, 100, Duration::days(1)), &codes, t0())
            .await?;
        let now = t0() + Duration::seconds(1);
        let users: Vec<_> = (0..50)
            .map(|i| UserId::parse(&format!("oRedeemer{i:02}")).unwrap())
            .collect();
        let tasks: Vec<_> = users
            .iter()
            .map(|user| {
                let (store, user, code) = (store.clone(), user.clone(), codes[0].clone());
                tokio::spawn(async move { store.redeem_code(&code, &user, now).await })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await??);
        }
        let won: Vec<_> = outcomes
            .iter()
            .filter(|o| matches!(o, RedeemOutcome::Redeemed { .. }))
            .collect();
        assert_eq!(won.len(), 1, "{outcomes:?}");
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == RedeemOutcome::Used)
                .count(),
            49
        );
        assert!(matches!(
            won[0],
            RedeemOutcome::Redeemed {
                quota: 100,
                surplus_after: 100,
                ..
            }
        ));
        let mut credited = 0;
        for user in &users {
            if let Some(account) = store.account(user).await? {
                credited += account.total_quota;
                assert_eq!(ModelType::join(&account.model_types), "gpt-4o");
            }
        }
        assert_eq!(credited, 100, "one code, one credit");

        // The other code is still good; the batch counts what was taken.
        let late = users[7].clone();
        assert!(matches!(
            store.redeem_code(&codes[1], &late, now).await?,
            RedeemOutcome::Redeemed { .. }
        ));
        let listed = store.batches(10).await?;
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].id, listed[0].redeemed), (batch.id, 2));
        assert_eq!(listed[0].terms, batch.terms);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn unknown_used_and_expired_codes_are_told_apart_and_credit_nothing() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let code = digest("b1");
        store
            .create_batch(
                &terms(1, 5, Duration::minutes(1)),
                std::slice::from_ref(&code),
                t0(),
            )
            .await?;
        let who = UserId::parse("oLate").unwrap();
        assert_eq!(
            store.redeem_code(&digest("nope"), &who, t0()).await?,
            RedeemOutcome::Unknown
        );
        let after_expiry = t0() + Duration::minutes(1);
        assert_eq!(
            store.redeem_code(&code, &who, after_expiry).await?,
            RedeemOutcome::Expired
        );
        assert!(store.account(&who).await?.is_none());
        assert!(matches!(
            store.redeem_code(&code, &who, t0()).await?,
            RedeemOutcome::Redeemed { quota: 5, .. }
        ));
        assert_eq!(
            store.redeem_code(&code, &who, t0()).await?,
            RedeemOutcome::Used
        );
        let account = store.account(&who).await?.context("an account")?;
        assert_eq!((account.total_quota, account.surplus_quota), (5, 5));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn attempts_are_counted_per_user_within_the_window() -> anyhow::Result<()> {
    on_every_backend(|store| async move {
        let (ann, bob) = (
            UserId::parse("oAnn").unwrap(),
            UserId::parse("oBob").unwrap(),
        );
        let since = t0() - Duration::minutes(10);
        let (first, n, oldest) = store.begin_redeem_attempt(&ann, t0(), since).await?;
        assert_eq!((n, oldest), (1, Some(t0())));
        let later = t0() + Duration::seconds(5);
        let (_, n, oldest) = store.begin_redeem_attempt(&ann, later, since).await?;
        assert_eq!((n, oldest), (2, Some(t0())));
        assert_eq!(store.begin_redeem_attempt(&bob, later, since).await?.1, 1);

        store.forget_redeem_attempt(first).await?;
        let (_, n, oldest) = store.begin_redeem_attempt(&ann, later, since).await?;
        assert_eq!((n, oldest), (2, Some(later)));
        // Out of the window, old attempts no longer count.
        let (_, n, _) = store
            .begin_redeem_attempt(&ann, later + Duration::seconds(1), later)
            .await?;
        assert_eq!(n, 1);
        Ok(())
    })
    .await
}

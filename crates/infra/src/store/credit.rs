//! The one credit path: every quota that comes in (a delivery, a grant; later refunds
//! given back and redemption codes) is a ledger row unique by (reason, reference) plus the
//! account's quota and models, written in the caller's transaction. Whatever repeats, a
//! (reason, reference) credits once.

use super::entities::{account, account_model, ledger};
use super::{accounts, is_unique_violation, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountStatus};
use domain::product::ModelType;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
};

/// What one credit adds, to whom, and why.
#[derive(Debug, Clone, Copy)]
pub(super) struct Credit<'a> {
    pub user: &'a str,
    pub quota: i64,
    pub models: &'a [ModelType],
    /// Why, e.g. `order_delivery`; with `reference`, unique in the ledger.
    pub reason: &'a str,
    /// What it refers to, e.g. the order number.
    pub reference: &'a str,
}

/// Credits in `txn`: the account after, or `None` when this (reason, reference) was
/// credited before — then nothing was written, and the caller rolls `txn` back (on
/// PostgreSQL the refused ledger row has ended the transaction anyway).
pub(super) async fn credit(
    txn: &DatabaseTransaction,
    credit: &Credit<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<Account>> {
    let entry = ledger::ActiveModel {
        id: NotSet,
        user_id: Set(credit.user.to_owned()),
        delta: Set(credit.quota),
        reason: Set(credit.reason.to_owned()),
        reference: Set(credit.reference.to_owned()),
        created_at: Set(millis(now)),
    };
    match ledger::Entity::insert(entry)
        .exec_without_returning(txn)
        .await
    {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context("write the ledger")),
    }
    add_to_account(txn, credit.user, credit.quota, credit.models, now)
        .await
        .map(Some)
}

/// Takes `quota` back from `user`'s account in `txn` (total and surplus), with a ledger row
/// of `-quota` unique by (`reason`, `reference`): whether the balance held it. When it did
/// not, nothing was taken and the caller rolls `txn` back. The take is one conditional
/// UPDATE (`surplus_quota >= quota`), so a concurrent spend cannot drive it below zero.
pub(super) async fn debit(
    txn: &DatabaseTransaction,
    user: &str,
    quota: i64,
    reason: &str,
    reference: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    if quota == 0 {
        return Ok(true);
    }
    let minus = |column: account::Column| Expr::col(column).sub(quota);
    let taken = account::Entity::update_many()
        .col_expr(
            account::Column::TotalQuota,
            minus(account::Column::TotalQuota),
        )
        .col_expr(
            account::Column::SurplusQuota,
            minus(account::Column::SurplusQuota),
        )
        .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
        .filter(account::Column::UserId.eq(user))
        .filter(account::Column::SurplusQuota.gte(quota))
        .exec(txn)
        .await
        .with_context(|| format!("take quota back from {user}"))?;
    if taken.rows_affected != 1 {
        return Ok(false);
    }
    ledger::Entity::insert(ledger::ActiveModel {
        id: NotSet,
        user_id: Set(user.to_owned()),
        delta: Set(-quota),
        reason: Set(reason.to_owned()),
        reference: Set(reference.to_owned()),
        created_at: Set(millis(now)),
    })
    .exec_without_returning(txn)
    .await
    .context("write the ledger")?;
    Ok(true)
}

/// Adds quota and models to a user's account, creating the account if needed; the
/// account as it stands after.
///
/// One upsert (`INSERT … ON CONFLICT (user_id) DO UPDATE SET quota = quota + n`) both creates
/// and credits, so a concurrent first credit to the same user cannot collide with this one
/// on any backend, and no savepoint or prior read is needed. The upsert leaves the row ours
/// until commit (the write lock on SQLite, the row lock elsewhere), so the model list is
/// completed from the row it returns; that second write happens only when a credit brings a
/// model the account did not have.
async fn add_to_account(
    txn: &DatabaseTransaction,
    user: &str,
    quota: i64,
    model_types: &[ModelType],
    now: DateTime<Utc>,
) -> anyhow::Result<Account> {
    let fresh = account::ActiveModel {
        user_id: Set(user.to_owned()),
        total_quota: Set(quota),
        surplus_quota: Set(quota),
        model_types: Set(ModelType::join(model_types)),
        status: Set(AccountStatus::Usable.as_str().to_owned()),
        created_at: Set(millis(now)),
        updated_at: Set(millis(now)),
    };
    let plus = |column: account::Column| Expr::col((account::Entity, column)).add(quota);
    let upsert = OnConflict::column(account::Column::UserId)
        .value(
            account::Column::TotalQuota,
            plus(account::Column::TotalQuota),
        )
        .value(
            account::Column::SurplusQuota,
            plus(account::Column::SurplusQuota),
        )
        .value(account::Column::UpdatedAt, millis(now))
        .to_owned();
    let insert = account::Entity::insert(fresh).on_conflict(upsert);
    let after = if txn.get_database_backend() == DbBackend::MySql {
        // No RETURNING on MySQL: read the row this transaction now holds.
        insert
            .exec_without_returning(txn)
            .await
            .with_context(|| format!("credit account {user}: add quota"))?;
        account::Entity::find_by_id(user)
            .one(txn)
            .await
            .with_context(|| format!("credit account {user}: read it back"))?
            .with_context(|| format!("credit account {user}: the account vanished"))?
    } else {
        insert
            .exec_with_returning(txn)
            .await
            .with_context(|| format!("credit account {user}: add quota"))?
    };
    let mut credited = accounts::to_domain(after)?;
    if !model_types.iter().all(|m| credited.model_types.contains(m)) {
        credited.model_types = credited.models_with(model_types);
        account::Entity::update_many()
            .col_expr(
                account::Column::ModelTypes,
                Expr::value(ModelType::join(&credited.model_types)),
            )
            .filter(account::Column::UserId.eq(user))
            .exec(txn)
            .await
            .with_context(|| format!("credit account {user}: add its models"))?;
    }
    grant_models(txn, user, model_types).await?;
    Ok(credited)
}

/// The rows of `account_models` a spend checks its model against (the account's row holds
/// the same list, comma-joined, for reading).
async fn grant_models(
    txn: &DatabaseTransaction,
    user: &str,
    model_types: &[ModelType],
) -> anyhow::Result<()> {
    if model_types.is_empty() {
        return Ok(());
    }
    let rows = model_types.iter().map(|model| account_model::ActiveModel {
        user_id: Set(user.to_owned()),
        model: Set(model.as_str().to_owned()),
    });
    account_model::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(txn)
        .await
        .with_context(|| format!("credit account {user}: grant its models"))?;
    Ok(())
}

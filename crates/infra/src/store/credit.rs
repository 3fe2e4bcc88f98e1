//! The one credit path: every quota that comes in (a delivery, a grant; later refunds
//! given back and redemption codes) is a ledger row unique by (reason, reference) plus the
//! account's quota and models, written in the caller's transaction. Whatever repeats, a
//! (reason, reference) credits once.

use super::entities::{account, account_model, ledger};
use super::{accounts, is_unique_violation, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountStatus};
use domain::product::ModelType;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
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
    let after = add_to_account(txn, credit.user, credit.quota, credit.models, now).await?;
    accounts::to_domain(after).map(Some)
}

/// Adds quota and models to a user's account, creating the account if needed; the
/// account as it stands after (the row is ours until commit, so no read-back is needed).
async fn add_to_account(
    txn: &DatabaseTransaction,
    user: &str,
    quota: i64,
    model_types: &[ModelType],
    now: DateTime<Utc>,
) -> anyhow::Result<account::Model> {
    let fresh = account::Model {
        user_id: user.to_owned(),
        total_quota: quota,
        surplus_quota: quota,
        model_types: ModelType::join(model_types),
        status: AccountStatus::Usable.as_str().to_owned(),
        created_at: millis(now),
        updated_at: millis(now),
    };
    let sqlite = txn.get_database_backend() == DbBackend::Sqlite;
    // The model union is computed here, so the row must stay ours until commit. SQLite
    // already holds the database's write lock and has no FOR UPDATE.
    let locked = || {
        let select = account::Entity::find_by_id(user);
        if sqlite {
            select
        } else {
            select.lock_exclusive()
        }
    };
    let current = match locked()
        .one(txn)
        .await
        .with_context(|| format!("credit account {user}: lock"))?
    {
        Some(current) => current,
        // A first credit. SQLite's write lock, held since the ledger row, means no one
        // else can create the account meanwhile: insert it directly.
        None if sqlite => {
            account::Entity::insert(account::ActiveModel::from(fresh.clone()))
                .exec_without_returning(txn)
                .await
                .with_context(|| format!("credit account {user}: create"))?;
            grant_models(txn, user, model_types).await?;
            return Ok(fresh);
        }
        None => {
            // A concurrent first credit to the same user may insert first: the insert
            // runs in a savepoint, so its unique violation leaves this transaction usable
            // (PostgreSQL aborts a transaction on any error), and it is the statement's
            // success, not a row count, that says who created the account (MySQL counts
            // a duplicate-key no-op as an affected row).
            let savepoint = txn
                .begin()
                .await
                .with_context(|| format!("credit account {user}: savepoint"))?;
            match account::Entity::insert(account::ActiveModel::from(fresh.clone()))
                .exec_without_returning(&savepoint)
                .await
            {
                Ok(_) => {
                    savepoint
                        .commit()
                        .await
                        .with_context(|| format!("credit account {user}: create"))?;
                    grant_models(txn, user, model_types).await?;
                    return Ok(fresh);
                }
                Err(e) if is_unique_violation(&e) => rollback(savepoint).await,
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e).context(format!("credit account {user}: create"))
                    );
                }
            }
            locked()
                .one(txn)
                .await
                .with_context(|| format!("credit account {user}: lock"))?
                .with_context(|| format!("credit account {user}: the account vanished"))?
        }
    };
    let models = ModelType::join(&accounts::to_domain(current.clone())?.models_with(model_types));
    account::Entity::update_many()
        .col_expr(
            account::Column::TotalQuota,
            Expr::col(account::Column::TotalQuota).add(quota),
        )
        .col_expr(
            account::Column::SurplusQuota,
            Expr::col(account::Column::SurplusQuota).add(quota),
        )
        .col_expr(account::Column::ModelTypes, Expr::value(models.as_str()))
        .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
        .filter(account::Column::UserId.eq(user))
        .exec(txn)
        .await
        .with_context(|| format!("credit account {user}: add quota"))?;
    grant_models(txn, user, model_types).await?;
    Ok(account::Model {
        total_quota: current.total_quota + quota,
        surplus_quota: current.surplus_quota + quota,
        model_types: models,
        updated_at: millis(now),
        ..current
    })
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

//! Delivery: PAID → DELIVERED, a ledger row, and the quota credit, in one transaction.

use super::accounts;
use super::entities::{account, account_model, ledger, order};
use super::orders::{find_order, transition};
use super::{SeaStore, is_unique_violation, millis, rollback};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::AccountStatus;
use domain::order::{OrderNo, OrderStatus, Transition};
use domain::ports::Delivery;
use domain::product::ModelType;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};

impl SeaStore {
    /// The body of `OrderRepository::deliver`.
    pub(super) async fn deliver_order(
        &self,
        no: &OrderNo,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Delivery> {
        let txn = self
            .writer()?
            .begin()
            .await
            .context("deliver order: begin")?;
        // (1) The transition first: on SQLite the first write takes the database's write
        // lock while busy_timeout still applies; a read-then-write transaction could fail
        // with SQLITE_BUSY instead of waiting.
        let won = transition(Transition::DELIVER, no.as_str(), now)
            .col_expr(order::Column::DeliveredAt, Expr::value(millis(now)))
            .exec(&txn)
            .await
            .with_context(|| format!("deliver order {no}"))?
            .rows_affected
            == 1;
        if !won {
            rollback(txn).await;
            return Ok(match find_order(&self.reads, no).await? {
                Some(order) if order.status == OrderStatus::Delivered => Delivery::AlreadyDelivered,
                Some(order) => Delivery::NotPaid(order.status),
                None => Delivery::NotFound,
            });
        }
        let order = find_order(&txn, no)
            .await?
            .with_context(|| format!("order {no} vanished while delivering"))?;

        // (2) The ledger row is unique by (reason, order): a second credit cannot commit.
        let entry = ledger::ActiveModel {
            id: NotSet,
            user_id: Set(order.user_id.as_str().to_owned()),
            delta: Set(i64::from(order.quota)),
            reason: Set(ledger::REASON_ORDER_DELIVERY.to_owned()),
            reference: Set(no.as_str().to_owned()),
            created_at: Set(millis(now)),
        };
        match ledger::Entity::insert(entry)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                tracing::warn!(order_no = %no, "ledger already holds this delivery; rolling back");
                rollback(txn).await;
                return Ok(Delivery::AlreadyDelivered);
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("deliver order {no}: write the ledger"))
                );
            }
        }

        // (3) Credit the account.
        credit(
            &txn,
            order.user_id.as_str(),
            i64::from(order.quota),
            &order.model_types,
            now,
        )
        .await?;
        let after = account::Entity::find_by_id(order.user_id.as_str())
            .one(&txn)
            .await
            .with_context(|| format!("deliver order {no}: read the account"))?
            .with_context(|| {
                format!("deliver order {no}: the account is missing after the credit")
            })?;
        let after = accounts::to_domain(after)?;
        txn.commit()
            .await
            .with_context(|| format!("deliver order {no}: commit"))?;
        Ok(Delivery::Delivered(after))
    }
}

/// Adds quota and models to a user's account, creating the account if needed (delivery and
/// direct grants share it).
pub(super) async fn credit(
    txn: &DatabaseTransaction,
    user: &str,
    quota: i64,
    model_types: &[ModelType],
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let fresh = account::ActiveModel {
        user_id: Set(user.to_owned()),
        total_quota: Set(quota),
        surplus_quota: Set(quota),
        model_types: Set(ModelType::join(model_types)),
        status: Set(AccountStatus::Usable.as_str().to_owned()),
        created_at: Set(millis(now)),
        updated_at: Set(millis(now)),
    };
    // The model union is computed here, so the row must stay ours until commit. SQLite
    // already holds the database's write lock and has no FOR UPDATE.
    let locked = || {
        let select = account::Entity::find_by_id(user);
        if txn.get_database_backend() == DbBackend::Sqlite {
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
        None => {
            // A first credit. A concurrent first credit to the same user may insert first:
            // the insert runs in a savepoint, so its unique violation leaves this
            // transaction usable (PostgreSQL aborts a transaction on any error), and it is
            // the statement's success, not a row count, that says who created the account
            // (MySQL counts a duplicate-key no-op as an affected row).
            let savepoint = txn
                .begin()
                .await
                .with_context(|| format!("credit account {user}: savepoint"))?;
            match account::Entity::insert(fresh)
                .exec_without_returning(&savepoint)
                .await
            {
                Ok(_) => {
                    savepoint
                        .commit()
                        .await
                        .with_context(|| format!("credit account {user}: create"))?;
                    return grant_models(txn, user, model_types).await;
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
    let models = accounts::to_domain(current)?.models_with(model_types);
    account::Entity::update_many()
        .col_expr(
            account::Column::TotalQuota,
            Expr::col(account::Column::TotalQuota).add(quota),
        )
        .col_expr(
            account::Column::SurplusQuota,
            Expr::col(account::Column::SurplusQuota).add(quota),
        )
        .col_expr(
            account::Column::ModelTypes,
            Expr::value(ModelType::join(&models)),
        )
        .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
        .filter(account::Column::UserId.eq(user))
        .exec(txn)
        .await
        .with_context(|| format!("credit account {user}: add quota"))?;
    grant_models(txn, user, model_types).await
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

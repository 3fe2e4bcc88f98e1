//! What operators change by hand: the catalog, and accounts (quota adjustments through the
//! one credit path, freezing).

use super::entities::{account, ledger, product};
use super::{
    SeaStore, accounts, credit, from_millis, is_unique_violation, millis, products, rollback,
};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountStatus};
use domain::ports::{AccountAdmin, Adjusted, LedgerLine, ProductAdmin};
use domain::product::{ModelType, Product, ProductDraft, ProductId};
use domain::user::UserId;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};

/// The ledger reason of an operator's adjustment.
pub const REASON_OPERATOR_ADJUST: &str = "operator_adjust";

fn product_row(draft: &ProductDraft) -> product::ActiveModel {
    product::ActiveModel {
        id: NotSet,
        name: Set(draft.name.clone()),
        description: Set(draft.description.clone()),
        quota: Set(i64::from(draft.quota)),
        model_types: Set(ModelType::join(&draft.model_types)),
        price: Set(draft.price.as_i64()),
        sort: Set(draft.sort),
        enabled: Set(draft.enabled),
        created_at: NotSet,
        updated_at: NotSet,
    }
}

impl ProductAdmin for SeaStore {
    async fn all_products(&self) -> anyhow::Result<Vec<Product>> {
        product::Entity::find()
            .order_by_asc(product::Column::Sort)
            .order_by_asc(product::Column::Id)
            .all(&self.reads)
            .await
            .context("list every product")?
            .into_iter()
            .map(products::to_domain)
            .collect()
    }

    async fn create_product(
        &self,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Product> {
        // Product ids are the catalog's own numbers (the original's 1001, 1002, …), not an
        // auto-increment: the next after the highest, taken again if another insert won it.
        let mut attempts = 0;
        let id = loop {
            let highest: Option<i64> = product::Entity::find()
                .select_only()
                .column_as(product::Column::Id.max(), "highest")
                .into_tuple()
                .one(self.writer()?)
                .await
                .context("find the highest product id")?
                .flatten();
            let id = highest.unwrap_or(1000) + 1;
            let mut row = product_row(draft);
            row.id = Set(id);
            row.created_at = Set(millis(now));
            row.updated_at = Set(millis(now));
            match product::Entity::insert(row)
                .exec_without_returning(self.writer()?)
                .await
            {
                Ok(_) => break id,
                Err(e) if is_unique_violation(&e) && attempts < 5 => attempts += 1,
                Err(e) => return Err(e).context("create a product"),
            }
        };
        let created = product::Entity::find_by_id(id)
            .one(self.writer()?)
            .await
            .context("read a new product")?
            .with_context(|| format!("product {id} vanished after its insert"))?;
        products::to_domain(created)
    }

    async fn update_product(
        &self,
        id: ProductId,
        draft: &ProductDraft,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Product>> {
        let Some(before) = product::Entity::find_by_id(id.get())
            .one(self.writer()?)
            .await
            .with_context(|| format!("read product {id}"))?
        else {
            return Ok(None);
        };
        let mut row = product_row(draft);
        row.id = Set(id.get());
        row.updated_at = Set(millis(now));
        product::Entity::update(row)
            .exec(self.writer()?)
            .await
            .with_context(|| format!("update product {id}"))?;
        products::to_domain(before).map(Some)
    }
}

impl AccountAdmin for SeaStore {
    async fn accounts(&self, prefix: Option<&str>, limit: u64) -> anyhow::Result<Vec<Account>> {
        let mut find = account::Entity::find();
        if let Some(prefix) = prefix.map(str::trim).filter(|p| !p.is_empty()) {
            find = find.filter(account::Column::UserId.starts_with(prefix));
        }
        find.order_by_desc(account::Column::UpdatedAt)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("list accounts")?
            .into_iter()
            .map(accounts::to_domain)
            .collect()
    }

    async fn ledger_of(&self, user: &UserId, limit: u64) -> anyhow::Result<Vec<LedgerLine>> {
        ledger::Entity::find()
            .filter(ledger::Column::UserId.eq(user.as_str()))
            .order_by_desc(ledger::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .with_context(|| format!("read the ledger of {user}"))?
            .into_iter()
            .map(|row| {
                Ok(LedgerLine {
                    delta: row.delta,
                    reason: row.reason,
                    reference: row.reference,
                    at: from_millis(row.created_at)?,
                })
            })
            .collect()
    }

    async fn adjust_quota(
        &self,
        user: &UserId,
        delta: i64,
        reference: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Adjusted> {
        anyhow::ensure!(delta != 0, "an adjustment changes the quota");
        let txn = self
            .writer()?
            .begin()
            .await
            .context("adjust quota: begin")?;
        let done = if delta > 0 {
            let credit = credit::Credit {
                user: user.as_str(),
                quota: delta,
                models: &[],
                reason: REASON_OPERATOR_ADJUST,
                reference,
            };
            credit::credit(&txn, &credit, now).await?.is_some()
        } else {
            credit::debit(
                &txn,
                user.as_str(),
                -delta,
                REASON_OPERATOR_ADJUST,
                reference,
                now,
            )
            .await?
        };
        if !done {
            rollback(txn).await;
            let exists = account::Entity::find_by_id(user.as_str())
                .one(&self.reads)
                .await
                .context("look up an account")?
                .is_some();
            return Ok(if exists {
                Adjusted::ShortOfQuota
            } else {
                Adjusted::NoAccount
            });
        }
        let after = account::Entity::find_by_id(user.as_str())
            .one(&txn)
            .await
            .context("read an adjusted account")?
            .with_context(|| format!("the account of {user} vanished in its adjustment"))?;
        txn.commit().await.context("adjust quota: commit")?;
        accounts::to_domain(after).map(Adjusted::Applied)
    }

    async fn set_account_status(
        &self,
        user: &UserId,
        status: AccountStatus,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<Account>> {
        account::Entity::update_many()
            .col_expr(account::Column::Status, Expr::value(status.as_str()))
            .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
            .filter(account::Column::UserId.eq(user.as_str()))
            .exec(self.writer()?)
            .await
            .with_context(|| format!("set the status of {user}"))?;
        account::Entity::find_by_id(user.as_str())
            .one(self.writer()?)
            .await
            .with_context(|| format!("read the account of {user}"))?
            .map(accounts::to_domain)
            .transpose()
    }
}

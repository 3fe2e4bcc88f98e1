//! The account port.

use super::entities::account;
use super::{SeaStore, from_millis};
use anyhow::Context as _;
use domain::account::{Account, AccountStatus};
use domain::ports::AccountRepository;
use domain::product::ModelType;
use domain::user::UserId;
use sea_orm::EntityTrait;

impl AccountRepository for SeaStore {
    async fn account(&self, user: &UserId) -> anyhow::Result<Option<Account>> {
        let row = account::Entity::find_by_id(user.as_str())
            .one(&self.reads)
            .await
            .with_context(|| format!("load the account of {user}"))?;
        row.map(to_domain).transpose()
    }
}

/// A stored account as the domain's.
pub(super) fn to_domain(row: account::Model) -> anyhow::Result<Account> {
    let context = || format!("stored account {}", row.user_id);
    Ok(Account {
        user_id: UserId::parse(&row.user_id).with_context(context)?,
        total_quota: row.total_quota,
        surplus_quota: row.surplus_quota,
        model_types: ModelType::parse_list(&row.model_types).with_context(context)?,
        status: AccountStatus::parse(&row.status).with_context(|| {
            format!(
                "stored account {}: unknown status {:?}",
                row.user_id, row.status
            )
        })?,
        created_at: from_millis(row.created_at)?,
        updated_at: from_millis(row.updated_at)?,
    })
}

//! The API-key port: keys stored by digest, revoked by a conditional UPDATE, their last use
//! written at most once a minute.

use super::entities::api_key;
use super::{SeaStore, from_millis, from_millis_opt, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::api_key::{ApiKey, ApiKeyId, KeyName, KeyTerms};
use domain::ports::ApiKeys;
use domain::product::ModelType;
use domain::user::UserId;
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter,
    QueryOrder,
};

/// A key's use is written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;

impl ApiKeys for SeaStore {
    async fn create_key(
        &self,
        user: &UserId,
        terms: &KeyTerms,
        digest: &str,
        hint: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<ApiKey> {
        let row = api_key::ActiveModel {
            id: NotSet,
            user_id: Set(user.as_str().to_owned()),
            name: Set(terms.name.as_str().to_owned()),
            digest: Set(digest.to_owned()),
            hint: Set(hint.to_owned()),
            quota_cap: Set(terms.quota_cap),
            quota_spent: Set(0),
            models: Set(ModelType::join(&terms.models)),
            created_at: Set(millis(now)),
            last_used_at: Set(None),
            revoked_at: Set(None),
        };
        let row = row
            .insert(self.writer()?)
            .await
            .with_context(|| format!("store a new API key of {user}"))?;
        to_domain(row)
    }

    async fn key_by_digest(&self, digest: &str) -> anyhow::Result<Option<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::Digest.eq(digest))
            .one(&self.reads)
            .await
            .context("look an API key up")?
            .map(to_domain)
            .transpose()
    }

    async fn keys_of(&self, user: &UserId) -> anyhow::Result<Vec<ApiKey>> {
        api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(user.as_str()))
            .order_by_desc(api_key::Column::Id)
            .all(&self.reads)
            .await
            .with_context(|| format!("list the API keys of {user}"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn revoke_key(
        &self,
        user: &UserId,
        id: ApiKeyId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let result = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(millis(now)))
            .filter(api_key::Column::Id.eq(id.0))
            .filter(api_key::Column::UserId.eq(user.as_str()))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(self.writer()?)
            .await
            .with_context(|| format!("revoke API key {id} of {user}"))?;
        Ok(result.rows_affected == 1)
    }

    async fn touch_key(&self, id: ApiKeyId, now: DateTime<Utc>) -> anyhow::Result<()> {
        let stale = Condition::any()
            .add(api_key::Column::LastUsedAt.is_null())
            .add(api_key::Column::LastUsedAt.lt(millis(now) - TOUCH_EVERY_MS));
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(millis(now)))
            .filter(api_key::Column::Id.eq(id.0))
            .filter(stale)
            .exec(self.writer()?)
            .await
            .with_context(|| format!("record a use of API key {id}"))?;
        Ok(())
    }
}

/// A stored key as the domain's.
fn to_domain(row: api_key::Model) -> anyhow::Result<ApiKey> {
    let context = || format!("stored API key {}", row.id);
    Ok(ApiKey {
        id: ApiKeyId(row.id),
        user_id: UserId::parse(&row.user_id).with_context(context)?,
        name: KeyName::parse(&row.name).with_context(context)?,
        hint: row.hint,
        quota_cap: row.quota_cap,
        quota_spent: row.quota_spent,
        models: ModelType::parse_list(&row.models).with_context(context)?,
        created_at: from_millis(row.created_at)?,
        last_used_at: from_millis_opt(row.last_used_at)?,
        revoked_at: from_millis_opt(row.revoked_at)?,
    })
}

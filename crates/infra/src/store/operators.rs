//! The operator ports: accounts, failed logins (recorded before the check, forgotten
//! unless they failed, as users' are), console sessions by digest, and the audit log.

use super::entities::{audit_entry, operator, operator_attempt, operator_session};
use super::{SeaStore, from_millis, is_unique_violation, millis};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::login_code::{AttemptId, ClientPrefix};
use domain::operator::{
    AuditEntry, OperatorAccount, OperatorAttemptCounts, OperatorName, OperatorSession,
    PasswordHash, Role, SessionDigest,
};
use domain::ports::{AuditLog, Operators};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};

/// One attempt in this many sweeps the rows every window has left behind.
const SWEEP_EVERY: i64 = 64;

fn account(row: operator::Model) -> anyhow::Result<OperatorAccount> {
    Ok(OperatorAccount {
        id: row.id,
        name: OperatorName::parse(&row.name)
            .with_context(|| format!("operator row {} holds a bad name", row.id))?,
        role: Role::parse(&row.role)
            .with_context(|| format!("operator row {} holds a bad role", row.id))?,
        password_hash: PasswordHash(row.password_hash),
        created_at: from_millis(row.created_at)?,
    })
}

impl Operators for SeaStore {
    async fn create_operator(
        &self,
        name: &OperatorName,
        role: Role,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let row = operator::ActiveModel {
            id: NotSet,
            name: Set(name.as_str().to_owned()),
            role: Set(role.as_str().to_owned()),
            password_hash: Set(hash.0.clone()),
            created_at: Set(millis(now)),
            updated_at: Set(millis(now)),
        };
        match operator::Entity::insert(row)
            .exec_without_returning(self.writer()?)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e).with_context(|| format!("create operator {name}")),
        }
    }

    async fn reset_operator(
        &self,
        name: &OperatorName,
        role: Role,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let Some(row) = self.operator_row(name).await? else {
            return Ok(false);
        };
        // One transaction: a new password never stands beside the old one's sessions.
        let txn = self
            .writer()?
            .begin()
            .await
            .context("reset operator: begin")?;
        operator::Entity::update_many()
            .col_expr(operator::Column::Role, Expr::value(role.as_str()))
            .col_expr(operator::Column::PasswordHash, Expr::value(hash.0.as_str()))
            .col_expr(operator::Column::UpdatedAt, Expr::value(millis(now)))
            .filter(operator::Column::Id.eq(row.id))
            .exec(&txn)
            .await
            .with_context(|| format!("reset operator {name}"))?;
        operator_session::Entity::update_many()
            .col_expr(operator_session::Column::EndedAt, Expr::value(millis(now)))
            .filter(operator_session::Column::OperatorId.eq(row.id))
            .filter(operator_session::Column::EndedAt.is_null())
            .exec(&txn)
            .await
            .with_context(|| format!("end the sessions of operator {name}"))?;
        txn.commit().await.context("reset operator: commit")?;
        Ok(true)
    }

    async fn operator(&self, name: &OperatorName) -> anyhow::Result<Option<OperatorAccount>> {
        self.operator_row(name).await?.map(account).transpose()
    }

    async fn begin_operator_attempt(
        &self,
        name: &OperatorName,
        prefix: &ClientPrefix,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> anyhow::Result<(AttemptId, OperatorAttemptCounts)> {
        // Recorded first, committed on its own: every later count sees it.
        let row = operator_attempt::ActiveModel {
            id: NotSet,
            name: Set(name.as_str().to_owned()),
            prefix: Set(prefix.as_str().to_owned()),
            at: Set(millis(now)),
        };
        let id = operator_attempt::Entity::insert(row)
            .exec(self.writer()?)
            .await
            .context("record an operator login attempt")?
            .last_insert_id;
        let recent = || {
            operator_attempt::Entity::find().filter(operator_attempt::Column::At.gt(millis(since)))
        };
        let by_name = recent()
            .filter(operator_attempt::Column::Name.eq(name.as_str()))
            .filter(operator_attempt::Column::Prefix.eq(prefix.as_str()))
            .count(self.writer()?)
            .await
            .context("count an operator's failed logins")?;
        let by_address = recent()
            .filter(operator_attempt::Column::Prefix.eq(prefix.as_str()))
            .count(self.writer()?)
            .await
            .context("count an address block's failed operator logins")?;
        if id % SWEEP_EVERY == 0 {
            operator_attempt::Entity::delete_many()
                .filter(operator_attempt::Column::At.lte(millis(since)))
                .exec(self.writer()?)
                .await
                .context("sweep old operator login attempts")?;
        }
        let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok((
            AttemptId(id),
            OperatorAttemptCounts {
                by_name: count(by_name),
                by_address: count(by_address),
            },
        ))
    }

    async fn forget_operator_attempt(&self, id: AttemptId) -> anyhow::Result<()> {
        operator_attempt::Entity::delete_by_id(id.0)
            .exec(self.writer()?)
            .await
            .context("forget an operator login attempt")?;
        Ok(())
    }

    async fn open_session(
        &self,
        operator_id: i64,
        digest: &SessionDigest,
        csrf_digest: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let row = operator_session::ActiveModel {
            id: NotSet,
            operator_id: Set(operator_id),
            digest: Set(digest.0.clone()),
            csrf_digest: Set(csrf_digest.to_owned()),
            created_at: Set(millis(now)),
            expires_at: Set(millis(expires_at)),
            ended_at: Set(None),
        };
        operator_session::Entity::insert(row)
            .exec_without_returning(self.writer()?)
            .await
            .context("open an operator session")?;
        Ok(())
    }

    async fn session(
        &self,
        digest: &SessionDigest,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<OperatorSession>> {
        let Some(row) = operator_session::Entity::find()
            .filter(operator_session::Column::Digest.eq(digest.0.as_str()))
            .filter(operator_session::Column::EndedAt.is_null())
            .filter(operator_session::Column::ExpiresAt.gt(millis(now)))
            .one(&self.reads)
            .await
            .context("find an operator session")?
        else {
            return Ok(None);
        };
        let Some(operator) = operator::Entity::find_by_id(row.operator_id)
            .one(&self.reads)
            .await
            .context("find a session's operator")?
        else {
            return Ok(None);
        };
        Ok(Some(OperatorSession {
            operator: account(operator)?,
            csrf_digest: row.csrf_digest,
            expires_at: from_millis(row.expires_at)?,
        }))
    }

    async fn end_session(&self, digest: &SessionDigest, now: DateTime<Utc>) -> anyhow::Result<()> {
        operator_session::Entity::update_many()
            .col_expr(operator_session::Column::EndedAt, Expr::value(millis(now)))
            .filter(operator_session::Column::Digest.eq(digest.0.as_str()))
            .filter(operator_session::Column::EndedAt.is_null())
            .exec(self.writer()?)
            .await
            .context("end an operator session")?;
        Ok(())
    }
}

impl SeaStore {
    async fn operator_row(&self, name: &OperatorName) -> anyhow::Result<Option<operator::Model>> {
        operator::Entity::find()
            .filter(operator::Column::Name.eq(name.as_str()))
            .one(&self.reads)
            .await
            .with_context(|| format!("find operator {name}"))
    }
}

impl AuditLog for SeaStore {
    async fn audit(&self, entry: &AuditEntry) -> anyhow::Result<()> {
        let row = audit_entry::ActiveModel {
            id: NotSet,
            actor: Set(entry.actor.chars().take(32).collect()),
            action: Set(entry.action.clone()),
            target: Set(entry.target.chars().take(128).collect()),
            before: Set(entry.before.clone()),
            after: Set(entry.after.clone()),
            at: Set(millis(entry.at)),
        };
        audit_entry::Entity::insert(row)
            .exec_without_returning(self.writer()?)
            .await
            .with_context(|| format!("audit {} by {}", entry.action, entry.actor))?;
        Ok(())
    }

    async fn audit_entries(
        &self,
        actor: Option<&str>,
        limit: u64,
    ) -> anyhow::Result<Vec<AuditEntry>> {
        let mut query = audit_entry::Entity::find();
        if let Some(actor) = actor {
            query = query.filter(audit_entry::Column::Actor.eq(actor));
        }
        query
            .order_by_desc(audit_entry::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .context("read the audit log")?
            .into_iter()
            .map(|row| {
                Ok(AuditEntry {
                    actor: row.actor,
                    action: row.action,
                    target: row.target,
                    before: row.before,
                    after: row.after,
                    at: from_millis(row.at)?,
                })
            })
            .collect()
    }
}

//! The chat quota port: spend with one conditional UPDATE (never below zero, whatever runs
//! concurrently), and end each call's usage row exactly once (a refund gives the price back).

use super::entities::{account, account_model, api_key, chat_usage, trial_call};
use super::{SeaStore, from_millis, from_millis_opt, lane, millis, rollback, script};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use domain::account::AccountStatus;
use domain::api_key::ApiKeyId;
use domain::chat::{
    ChatUsage, Price, Settlement, Spend, TokenUsage, UsageEnd, UsageId, UsageStatus,
};
use domain::ports::AccountRepository;
use domain::ports::ChatAccounts;
use domain::product::ModelType;
use domain::user::UserId;
use sea_orm::sea_query::{
    Alias, CommonTableExpression, Condition, Expr, ExprTrait, Query, SelectStatement,
    UpdateStatement, WithClause,
};
use sea_orm::sqlx::Row as _;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, TransactionTrait,
};
use std::future::Future;
use std::pin::Pin;

/// How often a spend that lost its conditional write to a concurrent change looks again
/// (it only retries when the account still looks able to pay, e.g. after a refund).
const SPEND_ATTEMPTS: u32 = 3;
/// The error recorded on a call whose process stopped mid-answer.
const INTERRUPTED: &str = "interrupted: the server stopped during the call";
/// The error recorded on a call whose caller left before its spend came back.
const CALLER_LEFT: &str = "the caller left before the call started";
/// Stored error texts are cut to this many characters.
const MAX_ERROR_CHARS: usize = 500;

impl ChatAccounts for SeaStore {
    async fn spend(
        &self,
        user: &UserId,
        model: &ModelType,
        price: Price,
        key: Option<ApiKeyId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Spend> {
        let mut total = 0;
        for _ in 0..SPEND_ATTEMPTS {
            // Write first: a spend that goes through (the common case) never reads the account.
            let spend = {
                let (store, user, model) = (self.lane_store(), user.clone(), model.clone());
                async move { store.try_spend(&user, &model, price, key, now).await }
            };
            if let Some(usage) = self.on_lane(spend, self.undo_spend(now)).await? {
                return Ok(Spend::Spent(usage));
            }
            // Read only to say why it was refused; an account that now looks able to pay
            // changed in between (a refund, a delivery), so look again.
            let current = self.account(user).await?;
            if let Some(refusal) = Spend::refusal(current.as_ref(), model, price) {
                return Ok(refusal);
            }
            if let Some(key) = key
                && !self.key_can_pay(key, price).await?
            {
                return Ok(Spend::KeyCapReached);
            }
            total = current.map_or(0, |a| a.total_quota);
        }
        // Still losing after several looks: the balance is being spent by others.
        Ok(Spend::NoQuota { total })
    }

    async fn spend_trial(
        &self,
        user: &UserId,
        model: &ModelType,
        window: i64,
        limit: u32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<UsageId>> {
        let spend = {
            let (store, user, model) = (self.lane_store(), user.clone(), model.clone());
            async move { store.try_trial(&user, &model, window, limit, now).await }
        };
        self.on_lane(spend, self.undo_spend(now)).await
    }

    async fn refund(
        &self,
        usage: UsageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let (store, error) = (self.lane_store(), error.to_owned());
        let refund = async move { store.refund_now(usage, &error, now).await };
        self.on_lane(refund, |_| async {}).await
    }

    async fn finish(
        &self,
        usage: UsageId,
        end: &UsageEnd,
        first_token_ms: Option<i64>,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let (store, end, settlement) = (self.lane_store(), end.clone(), *settlement);
        let finish = async move {
            store
                .finish_now(usage, &end, first_token_ms, &settlement, now)
                .await
        };
        self.on_lane(finish, |_| async {}).await
    }

    async fn spendable(&self, user: &UserId, key: Option<ApiKeyId>) -> anyhow::Result<i64> {
        // Where reads share the writes' pool (PostgreSQL, MySQL), on the lane with the
        // spend it comes before: on the busy request runtime this read waited about as
        // long as the whole spend on the lane (bench 8, per token, 1,024 streams). SQLite's
        // reads have a pool of their own and gain nothing from the extra hop.
        if self.file.is_some() {
            return self.spendable_now(user, key).await;
        }
        let (store, user) = (self.lane_store(), user.clone());
        let read = async move { store.spendable_now(&user, key).await };
        self.on_lane(read, |_| async {}).await
    }

    async fn end_interrupted(
        &self,
        started_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<u64> {
        let result = chat_usage::Entity::update_many()
            .col_expr(
                chat_usage::Column::Status,
                Expr::value(UsageStatus::Failed.as_str()),
            )
            .col_expr(chat_usage::Column::FinishedAt, Expr::value(millis(now)))
            .col_expr(chat_usage::Column::Error, Expr::value(INTERRUPTED))
            .filter(chat_usage::Column::Status.eq(UsageStatus::Started.as_str()))
            .filter(chat_usage::Column::StartedAt.lt(millis(started_before)))
            .exec(self.writer()?)
            .await
            .context("end interrupted chat calls")?;
        Ok(result.rows_affected)
    }

    async fn usage_of(&self, user: &UserId, limit: u64) -> anyhow::Result<Vec<ChatUsage>> {
        chat_usage::Entity::find()
            .filter(chat_usage::Column::UserId.eq(user.as_str()))
            .order_by_desc(chat_usage::Column::StartedAt)
            .order_by_desc(chat_usage::Column::Id)
            .limit(limit)
            .all(&self.reads)
            .await
            .with_context(|| format!("list the chat calls of {user}"))?
            .into_iter()
            .map(to_domain)
            .collect()
    }
}

impl SeaStore {
    /// Runs `write` on the write lane, if the store has one (see [`lane`]).
    async fn on_lane<T, U>(
        &self,
        write: impl Future<Output = anyhow::Result<T>> + Send + 'static,
        undo: impl FnOnce(T) -> U + Send + 'static,
    ) -> anyhow::Result<T>
    where
        T: Send + 'static,
        U: Future<Output = ()> + Send + 'static,
    {
        lane::write(self.lane.as_ref(), write, undo).await
    }

    /// The store as a write on the lane sees it: writing through the lane's connections,
    /// and reading through them too where reads and writes share a pool.
    fn lane_store(&self) -> SeaStore {
        let mut store = self.clone();
        if let Some(lane) = &self.lane {
            store.db = lane.db().clone();
            if self.file.is_none() {
                store.reads = lane.db().clone();
            }
        }
        store
    }

    /// What `user` (through `key`, if any) can spend now.
    async fn spendable_now(&self, user: &UserId, key: Option<ApiKeyId>) -> anyhow::Result<i64> {
        let balance = self
            .account(user)
            .await?
            .filter(|a| a.status == AccountStatus::Usable)
            .map_or(0, |a| Ord::max(a.surplus_quota, 0));
        Ok(match key {
            Some(key) => Ord::min(balance, self.key_room(key).await?),
            None => balance,
        })
    }

    /// What undoes a spend that went through for a caller who had left meanwhile: the
    /// call never started, so its price goes back.
    fn undo_spend(
        &self,
        now: DateTime<Utc>,
    ) -> impl FnOnce(Option<UsageId>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + 'static
    {
        let store = self.lane_store();
        move |spent| {
            Box::pin(async move {
                let Some(usage) = spent else { return };
                if let Err(e) = store.refund_now(usage, CALLER_LEFT, now).await {
                    tracing::error!(%usage, error = ?e, "could not give back the spend of a caller who left");
                }
            })
        }
    }

    /// The trial call's count, under its limit, and its usage row.
    async fn try_trial(
        &self,
        user: &UserId,
        model: &ModelType,
        window: i64,
        limit: u32,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<UsageId>> {
        let context = || format!("count a trial call of {user}");
        let txn = self.writer()?.begin().await.with_context(context)?;
        // The guard: a count below the limit goes up by one, or nothing changes. The row is
        // locked until commit, so a concurrent call sees the count this one left.
        let count = || {
            trial_call::Entity::update_many()
                .col_expr(
                    trial_call::Column::Calls,
                    Expr::col(trial_call::Column::Calls).add(1),
                )
                .filter(trial_call::Column::UserId.eq(user.as_str()))
                .filter(trial_call::Column::WindowStart.eq(window))
                .filter(trial_call::Column::Calls.lt(i64::from(limit)))
        };
        let mut counted = count()
            .exec(&txn)
            .await
            .with_context(context)?
            .rows_affected
            == 1;
        if !counted {
            // The window's first call makes its counter: of concurrent first calls one
            // inserts it, the others find it there (waiting for that insert's commit on
            // PostgreSQL and MySQL) and count again.
            let counter = trial_call::ActiveModel {
                user_id: Set(user.as_str().to_owned()),
                window_start: Set(window),
                calls: Set(0),
            };
            trial_call::Entity::insert(counter)
                .on_conflict_do_nothing()
                .exec_without_returning(&txn)
                .await
                .with_context(context)?;
            counted = count()
                .exec(&txn)
                .await
                .with_context(context)?
                .rows_affected
                == 1;
        }
        if !counted {
            rollback(txn).await;
            return Ok(None);
        }
        let row = chat_usage::ActiveModel {
            quota_spent: Set(0),
            trial_window: Set(Some(window)),
            ..started_usage(user, model, now)
        };
        open_usage(txn, row).await.with_context(context).map(Some)
    }

    /// Ends call `usage` as REFUNDED and gives its price back, unless it ended already.
    async fn refund_now(
        &self,
        usage: UsageId,
        error: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let txn = self.writer()?.begin().await.context("refund: begin")?;
        // Ending the usage row is the guard: only the caller that ends it gives quota back.
        let won = end_usage(UsageStatus::Refunded, usage, Some(error), None, now)
            .exec(&txn)
            .await
            .with_context(|| format!("refund chat call {usage}"))?
            .rows_affected
            == 1;
        if !won {
            rollback(txn).await;
            return Ok(false);
        }
        let row = ended_row(&txn, usage).await?;
        if let Some(window) = row.trial_window {
            trial_call::Entity::update_many()
                .col_expr(
                    trial_call::Column::Calls,
                    Expr::col(trial_call::Column::Calls).sub(1),
                )
                .filter(trial_call::Column::UserId.eq(row.user_id.as_str()))
                .filter(trial_call::Column::WindowStart.eq(window))
                .filter(trial_call::Column::Calls.gt(0))
                .exec(&txn)
                .await
                .with_context(|| format!("refund chat call {usage}: give the trial call back"))?;
        } else {
            give_back(&txn, &row, row.quota_spent, now).await?;
        }
        txn.commit()
            .await
            .with_context(|| format!("refund chat call {usage}: commit"))?;
        Ok(true)
    }

    /// Ends call `usage` and settles it, unless it ended already.
    async fn finish_now(
        &self,
        usage: UsageId,
        end: &UsageEnd,
        first_token_ms: Option<i64>,
        settlement: &Settlement,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let context = || format!("end chat call {usage} as {}", end.status().as_str());
        let error = match end {
            UsageEnd::Failed(error) => Some(error.as_str()),
            UsageEnd::Ok | UsageEnd::Cancelled => None,
        };
        let mut ended = end_usage(end.status(), usage, error, first_token_ms, now);
        if let Some(tokens) = settlement.tokens {
            let count = |n: u64| Expr::value(i64::try_from(n).unwrap_or(i64::MAX));
            ended = ended
                .col_expr(chat_usage::Column::PromptTokens, count(tokens.prompt))
                .col_expr(
                    chat_usage::Column::CompletionTokens,
                    count(tokens.completion),
                );
        }
        let Some(charge) = settlement.charge.filter(|c| c.returned() > 0) else {
            let won = ended.exec(self.writer()?).await.with_context(context)?;
            return Ok(won.rows_affected == 1);
        };
        // Ending the row is the guard here too: the rest of the reservation goes back once.
        let ended = ended.col_expr(chat_usage::Column::QuotaSpent, Expr::value(charge.spent));
        let backend = self.db.get_database_backend();
        if backend == DbBackend::Sqlite {
            return settle_by_script(
                self.writer()?,
                usage,
                ended.into_query(),
                charge.returned(),
                now,
            )
            .await
            .with_context(context);
        }
        if backend == DbBackend::Postgres {
            // One statement, as the spend is: the key's share and the account get the rest
            // back only for the row this statement ended.
            let settle = settle_in_one(ended.into_query(), charge.returned(), now);
            let row = self
                .writer()?
                .query_one_raw(backend.build(&settle))
                .await
                .with_context(context)?
                .with_context(context)?;
            return Ok(row.try_get::<i64>("", "won").with_context(context)? == 1);
        }
        let txn = self.writer()?.begin().await.with_context(context)?;
        let won = ended.exec(&txn).await.with_context(context)?.rows_affected == 1;
        if !won {
            rollback(txn).await;
            return Ok(false);
        }
        let row = ended_row(&txn, usage).await?;
        give_back(&txn, &row, charge.returned(), now).await?;
        txn.commit().await.with_context(context)?;
        Ok(true)
    }

    /// The conditional spend: takes `price` from a usable account granted `model` whose
    /// balance covers it and opens the call's usage row, atomically; `None` when no account
    /// qualified (nothing changed).
    async fn try_spend(
        &self,
        user: &UserId,
        model: &ModelType,
        price: Price,
        key: Option<ApiKeyId>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<UsageId>> {
        let context = || format!("spend quota of {user}");
        let quota = i64::from(price.get());
        let take = take_quota(user, model, quota, now);
        let backend = self.db.get_database_backend();
        // The usage row's INSERT … SELECT: `user` and the call's values, selected by `select`.
        let insert_usage = |user: Expr, select: &mut SelectStatement| {
            let columns = [
                chat_usage::Column::UserId,
                chat_usage::Column::Model,
                chat_usage::Column::QuotaSpent,
                chat_usage::Column::Status,
                chat_usage::Column::StartedAt,
            ];
            let values = [
                user,
                Expr::val(model.as_str()),
                Expr::val(quota),
                Expr::val(UsageStatus::Started.as_str()),
                Expr::val(millis(now)),
            ];
            Query::insert()
                .into_table(chat_usage::Entity)
                .columns(columns)
                .select_from(select.exprs(values).to_owned())
                .context("the spend's INSERT … SELECT")
                .map(|insert| insert.returning_col(chat_usage::Column::Id).to_owned())
        };
        if backend == DbBackend::Sqlite && key.is_none() {
            // One script, so one round trip to the connection's thread: the INSERT runs
            // only if the UPDATE just changed the account (`changes()`), both in one
            // transaction. The same condition as below, built the same way.
            let insert = insert_usage(
                Expr::val(user.as_str()),
                Query::select().and_where(Expr::cust("changes() = 1")),
            )?;
            let rows = script::in_one_transaction(
                self.writer()?,
                [backend.build(&take), backend.build(&insert)],
            )
            .await
            .with_context(context)?;
            return rows
                .first()
                .map(|row| row.try_get::<i64, _>("id").map(UsageId))
                .transpose()
                .with_context(context);
        }
        if backend == DbBackend::Postgres && key.is_none() {
            // One statement, so one round trip and no explicit transaction: the INSERT
            // reads what the UPDATE returned (a data-modifying WITH), both commit or
            // neither does. The same condition as below, built the same way.
            let spent = Alias::new("spent");
            let cte = CommonTableExpression::new()
                .query(
                    take.clone()
                        .returning_col(account::Column::UserId)
                        .to_owned(),
                )
                .table_name(spent.clone())
                .to_owned();
            let insert = insert_usage(
                Expr::col(account::Column::UserId),
                Query::select().from(spent),
            )?
            .with(WithClause::new().cte(cte).to_owned());
            let row = self
                .db
                .query_one_raw(backend.build(&insert))
                .await
                .with_context(context)?;
            return row
                .map(|row| row.try_get::<i64>("", "id").map(UsageId))
                .transpose()
                .with_context(context);
        }
        // Elsewhere, a transaction whose first statement is the conditional write (on
        // SQLite it takes the write lock while busy_timeout still applies).
        let txn = self.writer()?.begin().await.with_context(context)?;
        let won = txn
            .execute_raw(backend.build(&take))
            .await
            .with_context(context)?
            .rows_affected()
            == 1;
        if !won {
            rollback(txn).await;
            return Ok(None);
        }
        if let Some(key) = key {
            // The key's share, under its cap and only while it is live: both or neither.
            let within_cap = Condition::any()
                .add(api_key::Column::QuotaCap.is_null())
                .add(
                    Expr::col(api_key::Column::QuotaSpent)
                        .add(quota)
                        .lte(Expr::col(api_key::Column::QuotaCap)),
                );
            let counted = api_key::Entity::update_many()
                .col_expr(
                    api_key::Column::QuotaSpent,
                    Expr::col(api_key::Column::QuotaSpent).add(quota),
                )
                .filter(api_key::Column::Id.eq(key.0))
                .filter(api_key::Column::RevokedAt.is_null())
                .filter(within_cap)
                .exec(&txn)
                .await
                .with_context(context)?
                .rows_affected
                == 1;
            if !counted {
                rollback(txn).await;
                return Ok(None);
            }
        }
        let row = chat_usage::ActiveModel {
            quota_spent: Set(quota),
            api_key_id: Set(key.map(|k| k.0)),
            ..started_usage(user, model, now)
        };
        open_usage(txn, row).await.with_context(context).map(Some)
    }
}

impl SeaStore {
    /// Whether key `key` is live and its cap leaves room for `price`.
    async fn key_can_pay(&self, key: ApiKeyId, price: Price) -> anyhow::Result<bool> {
        Ok(self.key_room(key).await? >= i64::from(price.get()))
    }

    /// What key `key` may still spend: its cap less its spending (unbounded without a
    /// cap), or 0 once it is revoked or gone.
    async fn key_room(&self, key: ApiKeyId) -> anyhow::Result<i64> {
        let row = api_key::Entity::find_by_id(key.0)
            .one(&self.reads)
            .await
            .with_context(|| format!("read API key {key}"))?;
        Ok(match row {
            Some(k) if k.revoked_at.is_none() => k
                .quota_cap
                .map_or(i64::MAX, |cap| Ord::max(cap - k.quota_spent, 0)),
            _ => 0,
        })
    }
}

/// The row of call `usage`, just ended in `txn`.
async fn ended_row(
    txn: &sea_orm::DatabaseTransaction,
    usage: UsageId,
) -> anyhow::Result<chat_usage::Model> {
    chat_usage::Entity::find_by_id(usage.0)
        .one(txn)
        .await
        .with_context(|| format!("read chat call {usage}"))?
        .with_context(|| format!("chat call {usage} vanished while ending it"))
}

/// PostgreSQL's settlement in one statement: `ended` (returning the call's user and key)
/// ends the row, and `returned` goes back to its key's share and to its account; `won` is
/// 1 if the row ended here, else 0 and nothing changed.
fn settle_in_one(
    mut ended: UpdateStatement,
    returned: i64,
    now: DateTime<Utc>,
) -> sea_orm::sea_query::WithQuery {
    let ended = ended
        .returning(
            Query::returning().columns([chat_usage::Column::UserId, chat_usage::Column::ApiKeyId]),
        )
        .to_owned();
    let (key_back, account_back) = give_back_to(
        |column| {
            Query::select()
                .column(column)
                .from(Alias::new("ended"))
                .to_owned()
        },
        returned,
        now,
    );
    let cte = |name: &str, statement: UpdateStatement| {
        CommonTableExpression::new()
            .query(statement)
            .table_name(Alias::new(name))
            .to_owned()
    };
    Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("won"))
        .from(Alias::new("ended"))
        .to_owned()
        .with(
            WithClause::new()
                .cte(cte("ended", ended))
                .cte(cte("key_back", key_back))
                .cte(cte("account_back", account_back))
                .to_owned(),
        )
}

/// The two writes that give `returned` back to the key's share and to the account of the
/// call whose `api_key_id` and `user_id` the query `of_call` selects.
fn give_back_to(
    of_call: impl Fn(chat_usage::Column) -> SelectStatement,
    returned: i64,
    now: DateTime<Utc>,
) -> (UpdateStatement, UpdateStatement) {
    let key_back = Query::update()
        .table(api_key::Entity)
        .value(
            api_key::Column::QuotaSpent,
            Expr::col(api_key::Column::QuotaSpent).sub(returned),
        )
        .and_where(
            Expr::col(api_key::Column::Id).in_subquery(of_call(chat_usage::Column::ApiKeyId)),
        )
        .and_where(Expr::col(api_key::Column::QuotaSpent).gte(returned))
        .to_owned();
    let account_back = Query::update()
        .table(account::Entity)
        .value(
            account::Column::SurplusQuota,
            Expr::col(account::Column::SurplusQuota).add(returned),
        )
        .value(account::Column::UpdatedAt, millis(now))
        .and_where(
            Expr::col(account::Column::UserId).in_subquery(of_call(chat_usage::Column::UserId)),
        )
        .to_owned();
    (key_back, account_back)
}

/// Ends call `usage` with `ended` and gives `returned` back, as one SQLite script; whether
/// the row ended here. Each write after the first runs only if the one before it changed
/// its one row (`changes()`): the row ended here, then the account it was spent from (an
/// account is never deleted) took the rest back, then the key's share, if it has a key.
async fn settle_by_script(
    db: &sea_orm::DatabaseConnection,
    usage: UsageId,
    mut ended: UpdateStatement,
    returned: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let ended = ended.returning_col(chat_usage::Column::Id).to_owned();
    let (mut key_back, mut account_back) = give_back_to(
        |column| {
            Query::select()
                .column(column)
                .from(chat_usage::Entity)
                .and_where(Expr::col(chat_usage::Column::Id).eq(usage.0))
                .to_owned()
        },
        returned,
        now,
    );
    let after_a_change = || Expr::cust("changes() = 1");
    account_back.and_where(after_a_change());
    key_back.and_where(after_a_change());
    let backend = DbBackend::Sqlite;
    let rows = script::in_one_transaction(
        db,
        [
            backend.build(&ended),
            backend.build(&account_back),
            backend.build(&key_back),
        ],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// Gives `amount` of what call `row` spent back to its account and to its key's share.
async fn give_back(
    txn: &sea_orm::DatabaseTransaction,
    row: &chat_usage::Model,
    amount: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let usage = row.id;
    if let Some(key) = row.api_key_id {
        api_key::Entity::update_many()
            .col_expr(
                api_key::Column::QuotaSpent,
                Expr::col(api_key::Column::QuotaSpent).sub(amount),
            )
            .filter(api_key::Column::Id.eq(key))
            .filter(api_key::Column::QuotaSpent.gte(amount))
            .exec(txn)
            .await
            .with_context(|| format!("chat call {usage}: give its key {amount} back"))?;
    }
    account::Entity::update_many()
        .col_expr(
            account::Column::SurplusQuota,
            Expr::col(account::Column::SurplusQuota).add(amount),
        )
        .col_expr(account::Column::UpdatedAt, Expr::value(millis(now)))
        .filter(account::Column::UserId.eq(row.user_id.as_str()))
        .exec(txn)
        .await
        .with_context(|| format!("chat call {usage}: give {amount} quota back"))?;
    Ok(())
}

/// Inserts the call's usage row in `txn`, whose guard has passed, and commits: its id.
async fn open_usage(
    txn: sea_orm::DatabaseTransaction,
    row: chat_usage::ActiveModel,
) -> anyhow::Result<UsageId> {
    let id = chat_usage::Entity::insert(row)
        .exec(&txn)
        .await?
        .last_insert_id;
    txn.commit().await?;
    Ok(UsageId(id))
}

/// A new call's usage row (STARTED), its price and trial window still to set.
fn started_usage(user: &UserId, model: &ModelType, now: DateTime<Utc>) -> chat_usage::ActiveModel {
    chat_usage::ActiveModel {
        id: NotSet,
        user_id: Set(user.as_str().to_owned()),
        model: Set(model.as_str().to_owned()),
        quota_spent: NotSet,
        status: Set(UsageStatus::Started.as_str().to_owned()),
        started_at: Set(millis(now)),
        first_token_ms: Set(None),
        finished_at: Set(None),
        error: Set(None),
        trial_window: Set(None),
        api_key_id: Set(None),
        prompt_tokens: Set(None),
        completion_tokens: Set(None),
    }
}

/// The spend's conditional write: `quota` off a usable account granted `model` whose
/// balance covers it (the grant is a row of `account_models`, matched by equality).
fn take_quota(user: &UserId, model: &ModelType, quota: i64, now: DateTime<Utc>) -> UpdateStatement {
    let granted = Query::select()
        .expr(Expr::val(1))
        .from(account_model::Entity)
        .and_where(Expr::col(account_model::Column::UserId).eq(user.as_str()))
        .and_where(Expr::col(account_model::Column::Model).eq(model.as_str()))
        .to_owned();
    Query::update()
        .table(account::Entity)
        .value(
            account::Column::SurplusQuota,
            Expr::col(account::Column::SurplusQuota).sub(quota),
        )
        .value(account::Column::UpdatedAt, millis(now))
        .and_where(Expr::col(account::Column::UserId).eq(user.as_str()))
        .and_where(Expr::col(account::Column::Status).eq(AccountStatus::Usable.as_str()))
        .and_where(Expr::col(account::Column::SurplusQuota).gte(quota))
        .and_where(Expr::exists(granted))
        .to_owned()
}

/// STARTED → `status`, with what is known of the call's end.
fn end_usage(
    status: UsageStatus,
    usage: UsageId,
    error: Option<&str>,
    first_token_ms: Option<i64>,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<chat_usage::Entity> {
    let error = error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect::<String>());
    chat_usage::Entity::update_many()
        .col_expr(chat_usage::Column::Status, Expr::value(status.as_str()))
        .col_expr(chat_usage::Column::FinishedAt, Expr::value(millis(now)))
        .col_expr(
            chat_usage::Column::FirstTokenMs,
            Expr::value(first_token_ms),
        )
        .col_expr(chat_usage::Column::Error, Expr::value(error))
        .filter(chat_usage::Column::Id.eq(usage.0))
        .filter(chat_usage::Column::Status.eq(UsageStatus::Started.as_str()))
}

/// A stored usage row as the domain's.
fn to_domain(row: chat_usage::Model) -> anyhow::Result<ChatUsage> {
    let context = || format!("stored chat call {}", row.id);
    Ok(ChatUsage {
        id: UsageId(row.id),
        user_id: UserId::parse(&row.user_id).with_context(context)?,
        model: ModelType::parse(&row.model).with_context(context)?,
        quota_spent: row.quota_spent,
        trial_window: row.trial_window,
        api_key_id: row.api_key_id,
        tokens: row
            .prompt_tokens
            .zip(row.completion_tokens)
            .map(|(prompt, completion)| TokenUsage {
                prompt: u64::try_from(prompt).unwrap_or(0),
                completion: u64::try_from(completion).unwrap_or(0),
            }),
        status: UsageStatus::parse(&row.status).with_context(|| {
            format!(
                "stored chat call {}: unknown status {:?}",
                row.id, row.status
            )
        })?,
        started_at: from_millis(row.started_at)?,
        first_token_ms: row.first_token_ms,
        finished_at: from_millis_opt(row.finished_at)?,
        error: row.error,
    })
}

//! `/admin/accounts`: users' accounts — quota and ledger, adjustments with a reason
//! (through the one credit path), freezing, their API keys (revocable) and chat usage.

use super::actions::back;
use super::audit;
use super::render::{PageResult, csrf_field, page, table, time};
use super::session::SignedIn;
use super::views::Flash;
use crate::http::envelope::ApiError;
use crate::pages::escape;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, Query, State};
use domain::account::{Account, AccountStatus};
use domain::api_key::ApiKeyId;
use domain::operator::AuditAction;
use domain::ports::{AccountAdmin, AccountRepository, Adjusted, ApiKeys, ChatAccounts};
use domain::user::UserId;
use serde::{Deserialize, Serialize};

/// An account as the audit log keeps it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountState {
    total_quota: i64,
    surplus_quota: i64,
    status: &'static str,
}

impl From<&Account> for AccountState {
    fn from(a: &Account) -> Self {
        Self {
            total_quota: a.total_quota,
            surplus_quota: a.surplus_quota,
            status: a.status.as_str(),
        }
    }
}

fn user_of(text: &str) -> Result<UserId, ApiError> {
    UserId::parse(text).map_err(|e| ApiError::BadParameter(e.to_string()))
}

fn account_link(user: &UserId) -> String {
    format!(
        "<a href=\"/admin/accounts/{u}\">{u}</a>",
        u = escape(user.as_str())
    )
}

/// `?q=` (an openid's beginning).
#[derive(Debug, Default, Deserialize)]
pub struct AccountFilter {
    #[serde(default)]
    q: String,
}

/// GET `/admin/accounts`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<AccountFilter>,
) -> PageResult {
    let accounts = state.shop.store().accounts(Some(&filter.q), 200).await?;
    let rows = accounts
        .iter()
        .map(|a| {
            vec![
                account_link(&a.user_id),
                a.surplus_quota.to_string(),
                a.total_quota.to_string(),
                a.status.as_str().to_owned(),
                time(a.updated_at),
            ]
        })
        .collect();
    let body = format!(
        "<h1>账户 Accounts</h1><form method=\"get\" class=\"inline card\"><input name=\"q\" placeholder=\"openid\" value=\"{q}\">\
         <button type=\"submit\">搜索 Search</button></form>{table}",
        q = escape(&filter.q),
        table = table(
            "accounts",
            &[
                "openid",
                "余额 Surplus",
                "累计 Total",
                "状态 Status",
                "更新 Updated"
            ],
            rows
        ),
    );
    Ok(page("Accounts", "/admin/accounts", Some(&signed_in), &body))
}

/// GET `/admin/accounts/{openid}`.
pub async fn show(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(user): Path<String>,
    Query(flash): Query<Flash>,
) -> PageResult {
    let user = user_of(&user)?;
    let store = state.shop.store();
    let account = store
        .account(&user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{user} has no account")))?;
    let ledger = store.ledger_of(&user, 200).await?;
    let keys = store.keys_of(&user).await?;
    let usage = store.usage_of(&user, 100).await?;
    let may_act = signed_in.actor().may_act();
    let csrf = csrf_field(&signed_in.csrf);
    let u = escape(user.as_str());
    let actions = if may_act {
        let (freeze_to, freeze_label) = match account.status {
            AccountStatus::Usable => ("freeze", "冻结 Freeze"),
            AccountStatus::Frozen => ("unfreeze", "解冻 Unfreeze"),
        };
        format!(
            "<form method=\"post\" action=\"/admin/accounts/{u}/adjust\" class=\"inline\" id=\"adjust-form\" \
             data-confirm=\"调整额度 Adjust this account's quota?\">{csrf}\
             <label>额度 ± Quota<input name=\"delta\" type=\"number\" required></label>\
             <label>原因 Reason<input name=\"reason\" required maxlength=\"200\"></label>\
             <button type=\"submit\">调整 Adjust</button></form>\
             <form method=\"post\" action=\"/admin/accounts/{u}/{freeze_to}\" class=\"inline\" id=\"freeze-form\">{csrf}\
             <button type=\"submit\" class=\"secondary\">{freeze_label}</button></form>"
        )
    } else {
        "<p class=\"muted\" id=\"viewer-note\">只读 Viewers see; admins act.</p>".into()
    };
    let ledger_rows = ledger
        .iter()
        .map(|l| {
            vec![
                time(l.at),
                format!("{:+}", l.delta),
                escape(&l.reason),
                escape(&l.reference),
            ]
        })
        .collect();
    let key_rows = keys
        .iter()
        .map(|k| {
            let revoke = if may_act && k.revoked_at.is_none() {
                format!(
                    "<form method=\"post\" action=\"/admin/accounts/{u}/keys/{id}/revoke\" class=\"inline\">{csrf}\
                     <button type=\"submit\" class=\"secondary\">吊销 Revoke</button></form>",
                    id = k.id.0
                )
            } else {
                String::new()
            };
            vec![
                escape(k.name.as_str()),
                escape(&k.hint),
                k.quota_spent.to_string(),
                k.quota_cap.map(|c| c.to_string()).unwrap_or_default(),
                k.last_used_at.map(time).unwrap_or_default(),
                k.revoked_at.map(time).unwrap_or_else(|| "live".into()),
                revoke,
            ]
        })
        .collect();
    let usage_rows = usage
        .iter()
        .map(|c| {
            vec![
                time(c.started_at),
                escape(c.model.as_str()),
                c.quota_spent.to_string(),
                c.tokens
                    .map(|t| format!("{} + {}", t.prompt, t.completion))
                    .unwrap_or_default(),
                c.status.as_str().to_owned(),
                escape(c.error.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    let body = format!(
        "<h1>账户 {u}</h1>{flash}<div class=\"grid\">\
         <div class=\"stat\" id=\"surplus\"><b>{surplus}</b><span>余额 surplus</span></div>\
         <div class=\"stat\"><b>{total}</b><span>累计 total</span></div>\
         <div class=\"stat\" id=\"account-status\"><b>{status}</b><span>状态 status</span></div></div>\
         <h2>操作 Actions</h2><div class=\"card\">{actions}</div>\
         <h2>流水 Ledger</h2>{ledger}<h2>API keys</h2>{keys}<h2>对话 Chat usage</h2>{usage}",
        flash = flash.html(),
        surplus = account.surplus_quota,
        total = account.total_quota,
        status = account.status.as_str(),
        ledger = table(
            "ledger",
            &["时间 At", "变动 Delta", "原因 Reason", "关联 Reference"],
            ledger_rows
        ),
        keys = table(
            "keys",
            &[
                "名称 Name",
                "前缀 Hint",
                "已用 Spent",
                "上限 Cap",
                "最近使用 Last used",
                "状态 State",
                ""
            ],
            key_rows
        ),
        usage = table(
            "usage",
            &[
                "时间 At",
                "模型 Model",
                "额度 Quota",
                "tokens",
                "状态 Status",
                "错误 Error"
            ],
            usage_rows
        ),
    );
    Ok(page(
        &format!("Account {user}"),
        "/admin/accounts",
        Some(&signed_in),
        &body,
    ))
}

/// The adjustment form.
#[derive(Deserialize)]
pub struct AdjustForm {
    #[serde(default)]
    csrf: String,
    delta: i64,
    reason: String,
}

/// POST `/admin/accounts/{openid}/adjust`: adds or takes quota, with a reason.
pub async fn adjust(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(user): Path<String>,
    Form(form): Form<AdjustForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let user = user_of(&user)?;
    let page = format!("/admin/accounts/{user}");
    let reason = form.reason.trim();
    if form.delta == 0
        || form.delta.abs() > 10_000_000
        || reason.is_empty()
        || reason.chars().count() > 200
    {
        return Ok(back(&page, Err("an adjustment is a non-zero quota up to 10000000, with a reason of 1 to 200 characters".into())));
    }
    let store = state.shop.store();
    let before: Option<Account> = store.account(&user).await?;
    if before.is_none() {
        // A credit would open an account nobody ever had: adjust only what exists.
        return Err(ApiError::NotFound(format!("{user} has no account")).into());
    }
    let now = state.clock.now();
    // Unique per adjustment: the operator, the instant, the user.
    let reference = format!("{}:{}", actor.name(), now.timestamp_micros());
    match store
        .adjust_quota(&user, form.delta, &reference, now)
        .await?
    {
        Adjusted::Applied(after) => {
            #[derive(Serialize)]
            struct Change<'a> {
                #[serde(flatten)]
                account: AccountState,
                delta: i64,
                reason: &'a str,
                reference: &'a str,
            }
            let change = Change {
                account: AccountState::from(&after),
                delta: form.delta,
                reason,
                reference: &reference,
            };
            audit::record(
                &state,
                &actor,
                AuditAction::QuotaAdjust,
                user.as_str(),
                before.as_ref().map(AccountState::from).as_ref(),
                Some(&change),
            )
            .await;
            Ok(back(
                &page,
                Ok(format!("额度已调整 adjusted by {:+}", form.delta)),
            ))
        }
        Adjusted::ShortOfQuota => Ok(back(
            &page,
            Err("余额不足 the balance does not hold that much".into()),
        )),
        Adjusted::NoAccount => Err(ApiError::NotFound(format!("{user} has no account")).into()),
    }
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf: String,
}

async fn set_status(
    state: AppState,
    signed_in: SignedIn,
    user: String,
    form: PlainForm,
    status: AccountStatus,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let user = user_of(&user)?;
    let store = state.shop.store();
    let before: Option<Account> = store.account(&user).await?;
    let after = store
        .set_account_status(&user, status, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{user} has no account")))?;
    let action = match status {
        AccountStatus::Frozen => AuditAction::Freeze,
        AccountStatus::Usable => AuditAction::Unfreeze,
    };
    audit::record(
        &state,
        &actor,
        action,
        user.as_str(),
        before.as_ref().map(AccountState::from).as_ref(),
        Some(&AccountState::from(&after)),
    )
    .await;
    Ok(back(
        &format!("/admin/accounts/{user}"),
        Ok(format!("状态 {}", status.as_str())),
    ))
}

/// POST `/admin/accounts/{openid}/freeze`.
pub async fn freeze(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(user): Path<String>,
    Form(form): Form<PlainForm>,
) -> PageResult {
    set_status(state, signed_in, user, form, AccountStatus::Frozen).await
}

/// POST `/admin/accounts/{openid}/unfreeze`.
pub async fn unfreeze(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(user): Path<String>,
    Form(form): Form<PlainForm>,
) -> PageResult {
    set_status(state, signed_in, user, form, AccountStatus::Usable).await
}

/// POST `/admin/accounts/{openid}/keys/{id}/revoke`.
pub async fn revoke_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((user, id)): Path<(String, i64)>,
    Form(form): Form<PlainForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let user = user_of(&user)?;
    let page = format!("/admin/accounts/{user}");
    let revoked = state
        .shop
        .store()
        .revoke_key(&user, ApiKeyId(id), state.clock.now())
        .await?;
    if !revoked {
        return Ok(back(&page, Err(format!("no live key {id} of {user}"))));
    }
    audit::record(
        &state,
        &actor,
        AuditAction::RevokeKey,
        &format!("{user}/{id}"),
        Some(&"live"),
        Some(&"revoked"),
    )
    .await;
    Ok(back(&page, Ok(format!("key {id} 已吊销 revoked"))))
}

//! `/admin/batches` (redemption codes: list, issue — the codes shown once) and
//! `/admin/reconciliations` (run a day against WeChat's bill, read a day's report with its
//! differences).

use super::actions::back;
use super::render::{PageResult, csrf_field, page, table, time};
use super::session::SignedIn;
use super::views::Flash;
use crate::http::envelope::ApiError;
use crate::pages::escape;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Query, State};
use domain::ports::Books;
use domain::product::ModelType;
use domain::reconciliation::ReconciliationReport;
use serde::Deserialize;

/// GET `/admin/batches`.
pub async fn batches(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(flash): Query<Flash>,
) -> PageResult {
    let batches = state.redemptions.batches(100).await?;
    let rows = batches
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.terms.count.to_string(),
                b.redeemed.to_string(),
                b.terms.quota.to_string(),
                escape(&ModelType::join(&b.terms.models)),
                time(b.terms.expires_at),
                time(b.created_at),
            ]
        })
        .collect();
    let form = if signed_in.actor().may_act() {
        let expires = (state.clock.now() + chrono::Duration::days(30)).format("%Y-%m-%d");
        format!(
            "<h2>发新码 Issue a batch</h2><form method=\"post\" action=\"/admin/batches\" class=\"stack card\" id=\"new-batch\">{}\
             <label>数量 Count<input name=\"count\" type=\"number\" min=\"1\" value=\"10\" required></label>\
             <label>额度 Quota each<input name=\"quota\" type=\"number\" min=\"1\" value=\"50\" required></label>\
             <label>模型 Models (a,b)<input name=\"models\" value=\"gpt-4o-mini\" required></label>\
             <label>过期 Expires (Beijing day, end)<input name=\"expires\" type=\"date\" value=\"{expires}\" required></label>\
             <button type=\"submit\">发 Issue</button></form>",
            csrf_field(&signed_in.csrf)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>兑换码 Redemption codes</h1>{flash}{table}{form}",
        flash = flash.html(),
        table = table(
            "batches",
            &[
                "#",
                "数量 Count",
                "已兑 Redeemed",
                "额度 Quota",
                "模型 Models",
                "过期 Expires",
                "创建 Created"
            ],
            rows
        ),
    );
    Ok(page("Codes", "/admin/batches", Some(&signed_in), &body))
}

/// The batch form.
#[derive(Deserialize)]
pub struct BatchForm {
    #[serde(default)]
    csrf: String,
    count: i64,
    quota: i64,
    models: String,
    /// `yyyy-mm-dd`: valid to the end of that Beijing day.
    expires: String,
}

/// POST `/admin/batches`: issues a batch and shows its codes, this once.
pub async fn issue(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<BatchForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let day = crate::http::reconciliations::date_of(&form.expires)?;
    let (_, end) = domain::reconciliation::day_bounds(day);
    let models: Vec<String> = form
        .models
        .split(',')
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    let issued =
        match crate::http::redeem::issue_as(&state, &actor, form.count, form.quota, &models, end)
            .await
        {
            Ok(issued) => issued,
            Err(e @ ApiError::BadParameter(_)) => {
                e.log();
                return Ok(back("/admin/batches", Err(e.to_string())));
            }
            Err(e) => return Err(e.into()),
        };
    let codes: String = issued
        .codes
        .iter()
        .map(|c| format!("{}\n", c.display()))
        .collect();
    let body = format!(
        "<h1>兑换码 Batch {id}</h1><p class=\"notice\">这些码只显示这一次，请现在保存 These codes are shown this once: keep them now.</p>\
         <pre class=\"card\" id=\"codes\">{codes}</pre><p><a href=\"/admin/batches\">返回 Back to batches</a></p>",
        id = issued.batch.id,
        codes = escape(&codes),
    );
    Ok(page("Codes", "/admin/batches", Some(&signed_in), &body))
}

/// `?date=` of the reconciliation page.
#[derive(Debug, Default, Deserialize)]
pub struct DateQuery {
    #[serde(default)]
    date: String,
    #[serde(flatten)]
    flash: Flash,
}

fn report_html(report: &ReconciliationReport) -> String {
    let verdict = if report.agrees() {
        "<p class=\"notice\" id=\"verdict\">账平 The books agree.</p>"
    } else {
        "<p class=\"problem\" id=\"verdict\">有差异 Differences are listed for an operator.</p>"
    };
    let sums = table(
        "sums",
        &[
            "",
            "付款 Payments",
            "收入 Paid, fen",
            "退款 Refunds",
            "退款额 Refunded, fen",
        ],
        vec![
            vec![
                "微信账单 WeChat's bill".into(),
                report.statement_payments.to_string(),
                report.statement_paid_fen.to_string(),
                report.statement_refunds.to_string(),
                report.statement_refunded_fen.to_string(),
            ],
            vec![
                "我们的账 Our books".into(),
                report.our_payments.to_string(),
                report.our_paid_fen.to_string(),
                report.our_refunds.to_string(),
                report.our_refunded_fen.to_string(),
            ],
        ],
    );
    let differences = table(
        "differences",
        &[
            "类型 Kind",
            "订单 Order",
            "退款 Refund",
            "详情 Detail",
            "处理 Action",
        ],
        report
            .differences
            .iter()
            .map(|d| {
                vec![
                    escape(&d.kind),
                    d.order_no
                        .as_deref()
                        .map(|n| format!("<a href=\"/admin/orders/{n}\">{n}</a>", n = escape(n)))
                        .unwrap_or_default(),
                    escape(d.refund_no.as_deref().unwrap_or("")),
                    escape(&d.detail),
                    escape(&d.action),
                ]
            })
            .collect(),
    );
    format!(
        "<h2>{date} (run {run})</h2>{verdict}{sums}<p>补单 confirmed now: {confirmed} · 退款已结 refunds settled: {settled}</p>\
         <h3>差异 Differences</h3>{differences}",
        date = report.date,
        run = time(report.run_at),
        confirmed = report.confirmed,
        settled = report.refunds_settled,
    )
}

/// GET `/admin/reconciliations?date=yyyy-mm-dd`: the day's report (yesterday by default).
pub async fn reconciliations(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(query): Query<DateQuery>,
) -> PageResult {
    let today = domain::reconciliation::beijing_date(state.clock.now());
    let date = match query.date.trim() {
        "" => today - chrono::Duration::days(1),
        text => crate::http::reconciliations::date_of(text)?,
    };
    let report = state.shop.store().report(date).await?;
    let shown = match &report {
        Some(report) => report_html(report),
        None => format!(
            "<p class=\"muted\" id=\"no-report\">{date} 还没有对账 was not reconciled yet.</p>"
        ),
    };
    let run = if signed_in.actor().may_act() {
        format!(
            "<form method=\"post\" action=\"/admin/reconciliations\" class=\"inline\" id=\"run-reconciliation\">{}\
             <input type=\"hidden\" name=\"date\" value=\"{date}\"><button type=\"submit\">现在对账 Reconcile {date} now</button></form>",
            csrf_field(&signed_in.csrf)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>对账 Reconciliation</h1>{flash}<form method=\"get\" class=\"inline card\"><input name=\"date\" type=\"date\" value=\"{date}\">\
         <button type=\"submit\" class=\"secondary\">查看 Show</button></form>{run}{shown}",
        flash = query.flash.html(),
    );
    Ok(page(
        "Reconciliation",
        "/admin/reconciliations",
        Some(&signed_in),
        &body,
    ))
}

/// The run form.
#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    csrf: String,
    date: String,
}

/// POST `/admin/reconciliations`: reconciles the day now.
pub async fn run(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<RunForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let date = crate::http::reconciliations::date_of(&form.date)?;
    let page = format!("/admin/reconciliations?date={date}");
    match crate::http::reconciliations::run_as(&state, &actor, &form.date).await {
        Ok(report) => Ok(back(
            &page,
            Ok(format!("{} 已对账 reconciled", report.date)),
        )),
        Err(e @ (ApiError::BadParameter(_) | ApiError::Unavailable(_))) => {
            e.log();
            Ok(back(&page, Err(e.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}

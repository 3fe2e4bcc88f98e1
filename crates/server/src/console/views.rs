//! The console's read-only pages: what a viewer sees (and an admin, with the forms).

use super::render::{PageResult, csrf_field, json_detail, page, table, time};
use super::session::SignedIn;
use crate::http::envelope::ApiError;
use crate::pages::escape;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use domain::order::{Order, OrderNo, OrderStatus};
use domain::ports::{OrderJobs, OrderQuery, OrderSearch, UnmatchedPayments};
use serde::Deserialize;

fn status(text: &str) -> String {
    format!("<span class=\"status\">{}</span>", escape(text))
}

fn order_link(no: &OrderNo) -> String {
    format!("<a href=\"/admin/orders/{no}\">{no}</a>")
}

/// A flash message carried across a redirect (`?done=` / `?problem=`).
#[derive(Debug, Default, Deserialize)]
pub struct Flash {
    done: Option<String>,
    problem: Option<String>,
}

impl Flash {
    pub fn html(&self) -> String {
        let mut out = String::new();
        if let Some(done) = &self.done {
            out.push_str(&format!(
                "<p class=\"notice\" id=\"done\">{}</p>",
                escape(done)
            ));
        }
        if let Some(problem) = &self.problem {
            out.push_str(&format!(
                "<p class=\"problem\" id=\"problem\">{}</p>",
                escape(problem)
            ));
        }
        out
    }
}

fn order_rows(orders: &[Order]) -> Vec<Vec<String>> {
    orders
        .iter()
        .map(|o| {
            vec![
                order_link(&o.order_no),
                status(o.status.as_str()),
                escape(o.user_id.as_str()),
                escape(&o.product_name),
                o.amount.to_string(),
                o.transaction_id
                    .as_ref()
                    .map(|t| escape(&t.to_string()))
                    .unwrap_or_default(),
                time(o.created_at),
            ]
        })
        .collect()
}

const ORDER_HEADERS: &[&str] = &[
    "订单 Order",
    "状态 Status",
    "openid",
    "商品 Product",
    "金额 ¥",
    "微信单号 Transaction",
    "创建 Created",
];

/// `?q=&status=&from=&to=` of the order search.
#[derive(Debug, Default, Deserialize)]
pub struct OrderFilter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

fn day(text: &str, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map(|d| Some(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()))
        .map_err(|_| ApiError::BadParameter(format!("{name} {text:?} is not yyyy-mm-dd")))
}

/// GET `/admin/orders`: search by order number, transaction id or openid, status and day.
pub async fn orders(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<OrderFilter>,
) -> PageResult {
    let status_filter = match filter.status.trim() {
        "" => None,
        text => Some(OrderStatus::parse(text).map_err(|e| ApiError::BadParameter(e.to_string()))?),
    };
    let query = OrderQuery {
        text: Some(filter.q.clone()).filter(|q| !q.trim().is_empty()),
        status: status_filter,
        from: day(&filter.from, "from")?,
        // `to` is the last day included.
        to: day(&filter.to, "to")?.map(|d| d + chrono::Duration::days(1)),
    };
    let found = state.shop.store().search_orders(&query, 200).await?;
    let options: String = std::iter::once(("", "全部 any"))
        .chain(OrderStatus::ALL.iter().map(|s| (s.as_str(), s.as_str())))
        .map(|(value, label)| {
            let selected = if value == filter.status.trim() {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{value}\"{selected}>{label}</option>")
        })
        .collect();
    let body = format!(
        "<h1>订单 Orders</h1><form method=\"get\" class=\"inline card\" id=\"order-search\">\
         <input name=\"q\" placeholder=\"订单号 / 微信单号 / openid\" value=\"{q}\" size=\"34\">\
         <select name=\"status\">{options}</select>\
         <input name=\"from\" type=\"date\" value=\"{from}\"><input name=\"to\" type=\"date\" value=\"{to}\">\
         <button type=\"submit\">搜索 Search</button></form>{table}",
        q = escape(&filter.q),
        from = escape(&filter.from),
        to = escape(&filter.to),
        table = table("orders", ORDER_HEADERS, order_rows(&found)),
    );
    Ok(page("Orders", "/admin/orders", Some(&signed_in), &body))
}

/// GET `/admin/orders/{no}`: the order, its history, its refunds, its payer, and the
/// actions its state allows.
pub async fn order(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(no): Path<String>,
    Query(flash): Query<Flash>,
) -> PageResult {
    let no = OrderNo::parse(&no).map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let (order, refunds, history) = crate::http::refunds::order_file(&state, &no).await?;
    let facts = [
        ("状态 Status", status(order.status.as_str())),
        (
            "openid",
            format!(
                "<a href=\"/admin/accounts/{u}\">{u}</a>",
                u = escape(order.user_id.as_str())
            ),
        ),
        (
            "商品 Product",
            escape(&format!(
                "{} (#{})",
                order.product_name,
                order.product_id.get()
            )),
        ),
        ("额度 Quota", order.quota.to_string()),
        ("金额 Amount", format!("¥{}", order.amount)),
        (
            "微信单号 Transaction",
            order
                .transaction_id
                .as_ref()
                .map(|t| escape(&t.to_string()))
                .unwrap_or_default(),
        ),
        ("创建 Created", time(order.created_at)),
        ("支付 Paid", order.paid_at.map(time).unwrap_or_default()),
        (
            "发放 Delivered",
            order.delivered_at.map(time).unwrap_or_default(),
        ),
        (
            "复核原因 Review",
            order
                .review_reason
                .as_deref()
                .map(escape)
                .unwrap_or_default(),
        ),
        (
            "复核付款 Paid under review",
            order
                .review_paid
                .map(|f| format!("¥{f}"))
                .unwrap_or_default(),
        ),
    ];
    let facts: String = facts
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td>{v}</td></tr>"))
        .collect();
    let history_rows = history
        .iter()
        .map(|e| {
            vec![
                time(e.at),
                escape(&e.transition),
                status(&e.to),
                escape(e.refund_no.as_deref().unwrap_or("")),
                escape(&e.cause),
                json_detail(e.detail.as_deref()),
            ]
        })
        .collect();
    let refund_rows = refunds
        .iter()
        .map(|r| {
            vec![
                escape(r.refund_no.as_str()),
                status(r.status.as_str()),
                format!("¥{}", r.amount),
                r.quota_back.to_string(),
                escape(r.reason.as_str()),
                escape(&r.requested_by),
                time(r.created_at),
            ]
        })
        .collect();
    let actions = if signed_in.actor().may_act() {
        actions(&order, &signed_in.csrf)
    } else {
        "<p class=\"muted\" id=\"viewer-note\">只读 Viewers see; admins act.</p>".into()
    };
    let body = format!(
        "<h1>订单 {no}</h1>{flash}<div class=\"card\"><table id=\"order-facts\">{facts}</table></div>\
         <h2>操作 Actions</h2><div class=\"card\" id=\"actions\">{actions}</div>\
         <h2>历史 History</h2>{history}<h2>退款 Refunds</h2>{refunds}",
        flash = flash.html(),
        history = table(
            "history",
            &[
                "时间 At",
                "转换 Transition",
                "到 To",
                "退款 Refund",
                "原因 Cause",
                "数据 Detail"
            ],
            history_rows
        ),
        refunds = table(
            "refunds",
            &[
                "退款单 Refund",
                "状态 Status",
                "金额 ¥",
                "额度 Quota back",
                "原因 Reason",
                "操作人 By",
                "创建 Created"
            ],
            refund_rows
        ),
    );
    Ok(page(
        &format!("Order {no}"),
        "/admin/orders",
        Some(&signed_in),
        &body,
    ))
}

/// The forms an admin may use on `order` in its state.
fn actions(order: &Order, csrf: &str) -> String {
    let no = &order.order_no;
    let csrf = csrf_field(csrf);
    let mut out = String::new();
    if order.status.is_unpaid() || order.status == OrderStatus::Paid {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/admin/orders/{no}/recheck\" class=\"inline\" id=\"recheck-form\">{csrf}\
             <button type=\"submit\" class=\"secondary\">向微信查询 Re-check at WeChat now</button></form>"
        ));
    }
    if order.status.is_refundable() {
        out.push_str(&format!(
            "<form method=\"post\" action=\"/admin/orders/{no}/refund\" class=\"inline\" id=\"refund-form\" \
             data-confirm=\"退款 Refund this order?\">{csrf}\
             <label>金额(分) Fen<input name=\"amount_fen\" type=\"number\" min=\"1\" max=\"{max}\" value=\"{max}\" required></label>\
             <label>原因 Reason<input name=\"reason\" required maxlength=\"80\"></label>\
             <label><span>强制 Force</span><input name=\"force\" type=\"checkbox\" value=\"true\"></label>\
             <button type=\"submit\">退款 Refund</button></form>",
            max = order.amount.fen()
        ));
    }
    if let (OrderStatus::Review, Some(paid)) = (order.status, order.review_paid) {
        // Resolving a REVIEW: the whole payment goes back, with the operator's reason.
        out.push_str(&format!(
            "<form method=\"post\" action=\"/admin/orders/{no}/refund\" class=\"inline\" id=\"review-form\" \
             data-confirm=\"全额退回这笔付款 Pay the whole payment back?\">{csrf}\
             <input name=\"amount_fen\" type=\"hidden\" value=\"{fen}\">\
             <label>原因 Reason<input name=\"reason\" required maxlength=\"80\"></label>\
             <button type=\"submit\">全额退回 ¥{paid} 并结案 Refund in full and resolve</button></form>",
            fen = paid.fen(),
        ));
    }
    if out.is_empty() {
        out.push_str("<p class=\"muted\">这个状态没有可用操作 Nothing to do in this state.</p>");
    }
    out
}

/// GET `/admin/troubled`: orders whose checks keep failing, and payments that name no order.
pub async fn troubled(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(flash): Query<Flash>,
) -> PageResult {
    let store = state.shop.store();
    let troubled = store.troubled_orders(state.troubled_after, 200).await?;
    let unmatched = store.unmatched_payments(200).await?;
    let may_act = signed_in.actor().may_act();
    let troubled_rows = troubled
        .iter()
        .map(|c| {
            let no = &c.order.order_no;
            let recheck = if may_act {
                format!(
                    "<form method=\"post\" action=\"/admin/orders/{no}/recheck\" class=\"inline\">{}\
                     <input type=\"hidden\" name=\"back\" value=\"troubled\">\
                     <button type=\"submit\" class=\"secondary\">重查 Re-check</button></form>",
                    csrf_field(&signed_in.csrf)
                )
            } else {
                String::new()
            };
            vec![
                order_link(no),
                status(c.order.status.as_str()),
                c.check_attempts.to_string(),
                escape(c.last_error.as_deref().unwrap_or("")),
                time(c.order.updated_at),
                recheck,
            ]
        })
        .collect();
    let unmatched_rows = unmatched
        .iter()
        .map(|u| {
            vec![
                escape(&u.payment.out_trade_no),
                escape(&u.payment.transaction_id.to_string()),
                format!("¥{}", u.payment.total),
                escape(u.payment.payer_openid.as_deref().unwrap_or("")),
                escape(&u.source),
                u.times_seen.to_string(),
                time(u.last_seen_at),
                json_detail(Some(&u.payment.raw)),
            ]
        })
        .collect();
    let body = format!(
        "<h1>异常 Troubled</h1>{flash}<h2>检查屡次失败的订单 Orders whose checks keep failing (≥ {after})</h2>{troubled}\
         <h2>对不上订单的付款 Payments that name no order</h2>{unmatched}",
        flash = flash.html(),
        after = state.troubled_after,
        troubled = table(
            "troubled",
            &[
                "订单 Order",
                "状态 Status",
                "次数 Attempts",
                "最后错误 Last error",
                "更新 Updated",
                ""
            ],
            troubled_rows
        ),
        unmatched = table(
            "unmatched",
            &[
                "商户单号 out_trade_no",
                "微信单号 Transaction",
                "金额 ¥",
                "openid",
                "来源 Source",
                "次数 Seen",
                "最后 Last seen",
                "数据 Resource"
            ],
            unmatched_rows
        ),
    );
    Ok(page("Troubled", "/admin/troubled", Some(&signed_in), &body))
}

/// `?actor=` of the audit page.
#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    #[serde(default)]
    actor: String,
}

/// GET `/admin/audit`: who did what, newest first.
pub async fn audit(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<AuditFilter>,
) -> PageResult {
    let actor = Some(filter.actor.trim()).filter(|a| !a.is_empty());
    let entries = state.console.audit_log(actor, 500).await?;
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                time(e.at),
                escape(&e.actor),
                escape(&e.action),
                escape(&e.target),
                json_detail(e.before.as_deref()),
                json_detail(e.after.as_deref()),
            ]
        })
        .collect();
    let body = format!(
        "<h1>审计 Audit log</h1><form method=\"get\" class=\"inline card\">\
         <input name=\"actor\" placeholder=\"操作人 actor\" value=\"{actor}\"><button type=\"submit\">筛选 Filter</button></form>{table}",
        actor = escape(&filter.actor),
        table = table(
            "audit",
            &[
                "时间 At",
                "操作人 Actor",
                "操作 Action",
                "对象 Target",
                "之前 Before",
                "之后 After"
            ],
            rows
        ),
    );
    Ok(page("Audit", "/admin/audit", Some(&signed_in), &body))
}

/// GET `/admin`: today and the last 30 days at a glance.
pub async fn dashboard(State(state): State<AppState>, signed_in: SignedIn) -> PageResult {
    use domain::ports::{Books, ChatStats};
    let now = state.clock.now();
    let store = state.shop.store();
    let today = domain::reconciliation::beijing_date(now);
    let (midnight, _) = domain::reconciliation::day_bounds(today);
    let first = today - chrono::Duration::days(29);
    let (since, _) = domain::reconciliation::day_bounds(first);
    let until = now + chrono::Duration::seconds(1);
    let created = store.order_totals(since, until).await?;
    let paid = store.orders_paid_between(since, until).await?;
    let refunds = store.refunds_created_between(since, until).await?;
    let usage = store.usage_totals(since, until).await?;
    let troubled = state.troubled_count().await?;

    // Paid orders by the Beijing day they were paid on.
    let mut by_day: Vec<(chrono::NaiveDate, u64, u64, u64)> = (0..30)
        .map(|i| (first + chrono::Duration::days(i), 0, 0, 0))
        .collect();
    for order in &paid {
        let Some(at) = order.paid_at else { continue };
        let day = domain::reconciliation::beijing_date(at);
        if let Some(slot) = by_day.iter_mut().find(|(d, ..)| *d == day) {
            slot.1 += 1;
            slot.2 += order.amount.fen();
            slot.3 += u64::from(order.quota);
        }
    }
    let paid_today = paid
        .iter()
        .filter(|o| o.paid_at.is_some_and(|at| at >= midnight));
    let (today_orders, today_fen) =
        paid_today.fold((0u64, 0u64), |(n, fen), o| (n + 1, fen + o.amount.fen()));
    let month_fen: u64 = by_day.iter().map(|d| d.2).sum();
    let quota_sold: u64 = by_day.iter().map(|d| d.3).sum();
    let quota_spent: i64 = usage.iter().map(|u| u.quota_spent).sum();
    let refunded_fen: u64 = refunds
        .iter()
        .filter(|r| r.status == domain::refund::RefundStatus::Success)
        .map(|r| r.amount.fen())
        .sum();
    let yuan = |fen: u64| {
        domain::money::Fen::new(fen)
            .map(|f| f.to_string())
            .unwrap_or_default()
    };
    let stat = |id: &str, value: String, label: &str| {
        format!("<div class=\"stat\" id=\"{id}\"><b>{value}</b><span>{label}</span></div>")
    };
    let revenue_chart = super::charts::daily_bars(
        "revenue-chart",
        &by_day
            .iter()
            .map(|d| (d.0, d.2 as f64 / 100.0))
            .collect::<Vec<_>>(),
        "¥ / day",
    );
    let orders_chart = super::charts::daily_bars(
        "orders-chart",
        &by_day.iter().map(|d| (d.0, d.1 as f64)).collect::<Vec<_>>(),
        "paid orders / day",
    );
    let by_status = table(
        "orders-by-status",
        &["状态 Status", "订单 Orders", "金额 ¥"],
        created
            .iter()
            .map(|t| {
                vec![
                    status(t.status.as_str()),
                    t.orders.to_string(),
                    t.amount.to_string(),
                ]
            })
            .collect(),
    );
    let by_model = table(
        "chat-by-model",
        &[
            "模型 Model",
            "调用 Calls",
            "额度 Quota spent",
            "prompt tokens",
            "completion tokens",
        ],
        usage
            .iter()
            .map(|u| {
                vec![
                    escape(&u.model),
                    u.calls.to_string(),
                    u.quota_spent.to_string(),
                    u.prompt_tokens.to_string(),
                    u.completion_tokens.to_string(),
                ]
            })
            .collect(),
    );
    let jobs = table(
        "jobs",
        &[
            "任务 Job",
            "轮次 Rounds",
            "查看 Scanned",
            "处理 Fixed",
            "失败 Failed",
        ],
        state
            .job_stats
            .snapshot()
            .iter()
            .map(|(name, t)| {
                vec![
                    escape(name),
                    t.rounds.to_string(),
                    t.scanned.to_string(),
                    t.fixed.to_string(),
                    t.failed.to_string(),
                ]
            })
            .collect(),
    );
    let stats = [
        stat(
            "today-paid",
            today_orders.to_string(),
            "今日付款订单 paid today",
        ),
        stat(
            "today-revenue",
            format!("¥{}", yuan(today_fen)),
            "今日收入 revenue today",
        ),
        stat(
            "month-revenue",
            format!("¥{}", yuan(month_fen)),
            "30 天收入 revenue, 30 days",
        ),
        stat(
            "month-refunded",
            format!("¥{}", yuan(refunded_fen)),
            "30 天退款 refunded, 30 days",
        ),
        stat(
            "quota-sold",
            quota_sold.to_string(),
            "30 天售出额度 quota sold",
        ),
        stat(
            "quota-spent",
            quota_spent.to_string(),
            "30 天消耗额度 quota spent",
        ),
        stat(
            "troubled-count",
            format!("<a href=\"/admin/troubled\">{troubled}</a>"),
            "异常订单 troubled orders",
        ),
    ]
    .concat();
    let body = format!(
        "<h1>概览 Dashboard</h1><div class=\"grid\">{stats}</div>\
         <h2>每日收入 Revenue by Beijing day</h2>{revenue_chart}<h2>每日付款订单 Paid orders by day</h2>{orders_chart}\
         <h2>近 30 天下单 Orders placed, last 30 days, by status</h2>{by_status}\
         <h2>近 30 天对话 Chat, last 30 days, by model</h2>{by_model}<h2>后台任务 Jobs</h2>{jobs}"
    );
    Ok(page("Dashboard", "/admin", Some(&signed_in), &body))
}

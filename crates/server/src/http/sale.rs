//! `/api/v1/sale/*`: the catalog, checkout, and the buyer's orders.

use super::current_user::{CurrentUser, OptionalUser};
use super::envelope::{ApiError, ApiQuery, ApiResult, ok};
use super::request_param::request_param;
use super::views::{AccountView, OrderView, PayOrderView, ProductView, yuan};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Uri;
use domain::order::OrderNo;
use domain::ports::{AccountRepository, OrderRepository, ProductCatalog};
use domain::product::ProductId;
use domain::service::{BuyerCheckError, CheckoutError, Confirmation, PayOrder, Reconciled};
use serde::{Deserialize, Serialize};

/// GET `query_product_list`: public, but a token that is sent must be good (`0003`).
#[utoipa::path(
    get, path = "/api/v1/sale/query_product_list", tag = "shop",
    responses((status = 200, description = "The products on sale", body = crate::http::envelope::Envelope<Vec<crate::http::views::ProductView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn query_product_list(
    State(state): State<AppState>,
    _: OptionalUser,
) -> ApiResult<Vec<ProductView>> {
    let products = state.shop.store().on_sale().await?;
    Ok(ok(products.iter().map(ProductView::from).collect()))
}

#[derive(Debug, Deserialize)]
struct ProductForm {
    #[serde(rename = "productId")]
    product_id: Option<String>,
}

/// `productId` from the query string or the form body, as the original's `@RequestParam`.
fn product_id_of(uri: &Uri, body: &[u8]) -> Result<ProductId, ApiError> {
    let text = request_param(uri, body, |f: ProductForm| f.product_id)
        .ok_or_else(|| ApiError::BadParameter("productId is required".into()))?;
    ProductId::parse(&text).map_err(|e| ApiError::BadParameter(e.to_string()))
}

async fn checkout(
    state: &AppState,
    user: &CurrentUser,
    uri: &Uri,
    body: &[u8],
) -> Result<PayOrder, ApiError> {
    let product_id = product_id_of(uri, body)?;
    state
        .shop
        .place_order(&user.0, product_id)
        .await
        .map_err(|e| match e {
            CheckoutError::ProductNotFound(_) => ApiError::NotFound(e.to_string()),
            CheckoutError::ProductOffSale(_) => ApiError::OffSale(e.to_string()),
            CheckoutError::PaymentUnavailable { .. } => ApiError::Unavailable(e.to_string()),
            CheckoutError::PaymentRefused { .. } => ApiError::Refused(e.to_string()),
            CheckoutError::Store(e) => ApiError::Internal(e),
        })
}

/// POST `create_pay_order` (form `productId`): the code_url, as the original.
#[tracing::instrument(skip_all, fields(user = %user.0))]
#[utoipa::path(
    post, path = "/api/v1/sale/create_pay_order", tag = "shop", security(("bearer" = [])),
    params(("productId" = Option<String>, Query, description = "The product to buy")),
    responses((status = 200, description = "The QR code's content (code_url)", body = crate::http::envelope::Envelope<String>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn create_pay_order(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    body: Bytes,
) -> ApiResult<String> {
    let order = checkout(&state, &user, &uri, &body).await?;
    Ok(ok(order.code_url))
}

/// POST `place_order` (form `productId`): the whole pay order, for pages that poll it.
#[tracing::instrument(skip_all, fields(user = %user.0))]
#[utoipa::path(
    post, path = "/api/v1/sale/place_order", tag = "shop", security(("bearer" = [])),
    params(("productId" = Option<String>, Query, description = "The product to buy")),
    responses((status = 200, description = "The order to pay", body = crate::http::envelope::Envelope<crate::http::views::PayOrderView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn place_order(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    body: Bytes,
) -> ApiResult<PayOrderView> {
    let order = checkout(&state, &user, &uri, &body).await?;
    Ok(ok(PayOrderView {
        order_id: order.order_no.to_string(),
        code_url: order.code_url,
        amount: yuan(order.amount),
        amount_fen: order.amount.fen(),
        expire_at: order.expire_at,
        reused: order.reused,
    }))
}

/// `orderId`, in the query string or a form.
#[derive(Debug, Deserialize)]
pub struct OrderQuery {
    #[serde(rename = "orderId")]
    order_id: Option<String>,
}

/// GET `query_order?orderId=`: one of the caller's orders.
#[utoipa::path(
    get, path = "/api/v1/sale/query_order", tag = "shop", security(("bearer" = [])),
    params(("orderId" = Option<String>, Query, description = "One of the caller's orders")),
    responses((status = 200, description = "The order", body = crate::http::envelope::Envelope<crate::http::views::OrderView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn query_order(
    State(state): State<AppState>,
    user: CurrentUser,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> ApiResult<OrderView> {
    let text = query
        .order_id
        .ok_or_else(|| ApiError::BadParameter("orderId is required".into()))?;
    let no = OrderNo::parse(&text).map_err(|e| ApiError::BadParameter(e.to_string()))?;
    match state.shop.store().order(&no).await? {
        // Someone else's order is as absent as a missing one: no probing of numbers.
        Some(order) if order.user_id == user.0 => {
            Ok(ok(OrderView::of(&order, state.shop.clock().now())))
        }
        _ => Err(ApiError::NotFound(format!("no order {no}"))),
    }
}

/// What "I have paid" found, and the order after it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuyerCheckView {
    /// `paid`, `unpaid`, `closed` (closed at WeChat: it will never be paid), `unknown`
    /// (WeChat never saw the order), `review`, or `settled` (no longer unpaid here: not
    /// asked).
    found: &'static str,
    order: OrderView,
}

fn found_name(found: &Reconciled) -> &'static str {
    match found {
        Reconciled::Payment(Confirmation::Paid | Confirmation::AlreadyPaid) => "paid",
        Reconciled::Payment(Confirmation::Review(_)) => "review",
        Reconciled::Payment(Confirmation::Unmatched { .. }) | Reconciled::UnknownToChannel => {
            "unknown"
        }
        Reconciled::Unpaid => "unpaid",
        Reconciled::ClosedAtChannel => "closed",
        Reconciled::Settled(_) => "settled",
    }
}

/// POST `check_payment` (form `orderId`): "I have paid" (用户主动查单). The caller's unpaid
/// order is checked with WeChat now; a payment found is applied as a notification would
/// be, and delivery is woken at once.
#[tracing::instrument(skip_all, fields(user = %user.0))]
#[utoipa::path(
    post, path = "/api/v1/sale/check_payment", tag = "shop", security(("bearer" = [])),
    params(("orderId" = Option<String>, Query, description = "One of the caller's orders")),
    responses((status = 200, description = "What WeChat says of it now", body = crate::http::envelope::Envelope<BuyerCheckView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn check_payment(
    State(state): State<AppState>,
    user: CurrentUser,
    uri: Uri,
    body: Bytes,
) -> ApiResult<BuyerCheckView> {
    let text = request_param(&uri, &body, |f: OrderQuery| f.order_id)
        .ok_or_else(|| ApiError::BadParameter("orderId is required".into()))?;
    let no = OrderNo::parse(&text).map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let check = state
        .shop
        .check_for_buyer(&user.0, &no)
        .await
        .map_err(|e| match e {
            BuyerCheckError::NotFound(_) => ApiError::NotFound(e.to_string()),
            BuyerCheckError::TooSoon { retry_after, .. } => ApiError::TooMany {
                info: e.to_string(),
                retry_after_secs: retry_after.num_seconds(),
            },
            BuyerCheckError::Channel(_) => ApiError::Unavailable(e.to_string()),
            BuyerCheckError::Store(e) => ApiError::Internal(e),
        })?;
    if check.found == Reconciled::Payment(Confirmation::Paid) {
        state.delivery.wake();
    }
    Ok(ok(BuyerCheckView {
        found: found_name(&check.found),
        order: OrderView::of(&check.order, state.shop.clock().now()),
    }))
}

/// GET `query_order_list`: the caller's 50 newest orders.
#[utoipa::path(
    get, path = "/api/v1/sale/query_order_list", tag = "shop", security(("bearer" = [])),
    responses((status = 200, description = "The caller's 50 newest orders", body = crate::http::envelope::Envelope<Vec<crate::http::views::OrderView>>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn query_order_list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<Vec<OrderView>> {
    let now = state.shop.clock().now();
    let orders = state.shop.store().orders_of(&user.0, 50).await?;
    Ok(ok(orders.iter().map(|o| OrderView::of(o, now)).collect()))
}

/// GET `/account/query`: the caller's quota (zero before the first delivery).
#[utoipa::path(
    get, path = "/api/v1/account/query", tag = "shop", security(("bearer" = [])),
    responses((status = 200, description = "The caller's quota", body = crate::http::envelope::Envelope<crate::http::views::AccountView>), (status = "default", description = "A refusal: the envelope with a code, its status by case", body = crate::http::openapi::Refusal))
)]
pub async fn query_account(
    State(state): State<AppState>,
    user: CurrentUser,
) -> ApiResult<AccountView> {
    let account = state.shop.store().account(&user.0).await?;
    Ok(ok(match account {
        Some(account) => AccountView::from(&account),
        None => AccountView {
            open_id: user.0.to_string(),
            total_quota: 0,
            surplus_quota: 0,
            model_types: Vec::new(),
            status: domain::account::AccountStatus::Usable.as_str(),
        },
    }))
}

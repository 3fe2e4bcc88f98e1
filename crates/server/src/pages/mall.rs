//! `/`: the mall, the public catalog rendered here; buying is done by the page's script.

use super::template::{Page, escape, fill};
use super::{Pages, html_page};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::ports::ProductCatalog;
use domain::product::Product;

const BODY: &str = include_str!("../../templates/mall.html");

/// GET `/`.
pub async fn page(State(pages): State<Pages>) -> Response {
    let products = match pages.app.shop.store().on_sale().await {
        Ok(products) => products,
        Err(e) => {
            tracing::error!(error = ?e, "the mall page could not read the catalog");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the catalog is unavailable",
            )
                .into_response();
        }
    };
    let cards: String = if products.is_empty() {
        r#"<p class="empty">暂无在售套餐 · Nothing on sale right now.</p>"#.to_owned()
    } else {
        products.iter().map(card).collect()
    };
    html_page(
        Page {
            title: "商城 Mall",
            name: "mall",
            data: Vec::new(),
            body: fill(BODY, &[("cards", &cards)]),
        }
        .render(),
    )
}

/// One product's card.
fn card(product: &Product) -> String {
    let models: String = product
        .model_types
        .iter()
        .map(|m| format!(r#"<li class="chip">{}</li>"#, escape(m.as_str())))
        .collect();
    format!(
        r#"<article class="card product" data-product-id="{id}">
  <h2 class="product-name">{name}</h2>
  <p class="product-desc">{desc}</p>
  <p class="product-quota"><strong>{quota}</strong> 次对话 · chats</p>
  <ul class="chips product-models" aria-label="可用模型 models">{models}</ul>
  <div class="buy-row">
    <span class="price">¥<span class="product-price">{price}</span></span>
    <button type="button" class="buy" data-product-id="{id}">购买 Buy</button>
  </div>
</article>
"#,
        id = product.id.get(),
        name = escape(&product.name),
        desc = escape(&product.description),
        quota = product.quota,
        price = escape(&product.price.to_string()),
    )
}

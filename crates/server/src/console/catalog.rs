//! `/admin/products`: the catalog, every product on sale or not, with a form to add one and
//! one per product to edit it. A new price applies to new orders only: an order keeps the
//! copy of the product it was placed with.

use super::actions::back;
use super::audit;
use super::render::{PageResult, csrf_field, page, table};
use super::session::SignedIn;
use super::views::Flash;
use crate::http::envelope::ApiError;
use crate::pages::escape;
use crate::state::AppState;
use axum::Form;
use axum::extract::{Path, Query, State};
use domain::operator::AuditAction;
use domain::ports::{ProductAdmin, ProductCatalog};
use domain::product::{ModelType, Product, ProductDraft, ProductId};
use serde::{Deserialize, Serialize};

/// A product as the audit log keeps it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductState<'a> {
    name: &'a str,
    description: &'a str,
    quota: u32,
    model_types: String,
    price_fen: u64,
    sort: i32,
    on_sale: bool,
}

impl<'a> From<&'a Product> for ProductState<'a> {
    fn from(p: &'a Product) -> Self {
        Self {
            name: &p.name,
            description: &p.description,
            quota: p.quota,
            model_types: ModelType::join(&p.model_types),
            price_fen: p.price.fen(),
            sort: p.sort,
            on_sale: p.enabled,
        }
    }
}

fn fields(p: Option<&Product>) -> String {
    let name = p.map(|p| escape(&p.name)).unwrap_or_default();
    let description = p.map(|p| escape(&p.description)).unwrap_or_default();
    let quota = p.map_or(100, |p| p.quota);
    let models = p
        .map(|p| escape(&ModelType::join(&p.model_types)))
        .unwrap_or_else(|| "gpt-4o-mini".into());
    let price = p.map_or(990, |p| p.price.fen());
    let sort = p.map_or(0, |p| p.sort);
    let checked = if p.is_none_or(|p| p.enabled) {
        " checked"
    } else {
        ""
    };
    format!(
        "<label>名称 Name<input name=\"name\" value=\"{name}\" required maxlength=\"64\"></label>\
         <label>描述 Description<input name=\"description\" value=\"{description}\" maxlength=\"512\"></label>\
         <label>额度 Quota<input name=\"quota\" type=\"number\" min=\"1\" value=\"{quota}\" required></label>\
         <label>模型 Models (a,b)<input name=\"models\" value=\"{models}\" required></label>\
         <label>价格(分) Price, fen<input name=\"price_fen\" type=\"number\" min=\"1\" value=\"{price}\" required></label>\
         <label>排序 Sort<input name=\"sort\" type=\"number\" value=\"{sort}\"></label>\
         <label><span>在售 On sale</span><input name=\"on_sale\" type=\"checkbox\" value=\"true\"{checked}></label>"
    )
}

/// GET `/admin/products`.
pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(flash): Query<Flash>,
) -> PageResult {
    let products = state.shop.store().all_products().await?;
    let may_act = signed_in.actor().may_act();
    let csrf = csrf_field(&signed_in.csrf);
    let rows = products
        .iter()
        .map(|p| {
            let id = p.id.get();
            let edit = if may_act {
                format!(
                    "<details><summary>编辑 Edit</summary><form method=\"post\" action=\"/admin/products/{id}\" \
                     class=\"stack\" id=\"edit-product-{id}\">{csrf}{}<button type=\"submit\">保存 Save</button></form></details>",
                    fields(Some(p))
                )
            } else {
                String::new()
            };
            vec![
                id.to_string(),
                escape(&p.name),
                p.quota.to_string(),
                escape(&ModelType::join(&p.model_types)),
                format!("¥{}", p.price),
                p.sort.to_string(),
                if p.enabled { "✓".into() } else { "—".into() },
                edit,
            ]
        })
        .collect();
    let create = if may_act {
        format!(
            "<h2>新商品 New product</h2><form method=\"post\" action=\"/admin/products\" class=\"stack card\" id=\"new-product\">\
             {csrf}{}<button type=\"submit\">添加 Add</button></form>",
            fields(None)
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>商品 Products</h1>{flash}{table}{create}",
        flash = flash.html(),
        table = table(
            "products",
            &[
                "#",
                "名称 Name",
                "额度 Quota",
                "模型 Models",
                "价格 Price",
                "排序 Sort",
                "在售 On sale",
                ""
            ],
            rows
        ),
    );
    Ok(page("Products", "/admin/products", Some(&signed_in), &body))
}

/// The product form.
#[derive(Deserialize)]
pub struct ProductForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    description: String,
    quota: u32,
    models: String,
    price_fen: u64,
    #[serde(default)]
    sort: i32,
    #[serde(default)]
    on_sale: bool,
}

impl ProductForm {
    fn draft(&self) -> Result<ProductDraft, ApiError> {
        ProductDraft::parse(
            &self.name,
            &self.description,
            self.quota,
            &self.models,
            self.price_fen,
            self.sort,
            self.on_sale,
        )
        .map_err(|e| ApiError::BadParameter(e.to_string()))
    }
}

const PAGE: &str = "/admin/products";

/// POST `/admin/products`: adds a product.
pub async fn create(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Form(form): Form<ProductForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let draft = match form.draft() {
        Ok(draft) => draft,
        Err(e) => return Ok(back(PAGE, Err(e.to_string()))),
    };
    let product = state
        .shop
        .store()
        .create_product(&draft, state.clock.now())
        .await?;
    let target = product.id.get().to_string();
    audit::record(
        &state,
        &actor,
        AuditAction::ProductCreate,
        &target,
        None::<&()>,
        Some(&ProductState::from(&product)),
    )
    .await;
    Ok(back(PAGE, Ok(format!("商品 #{target} 已添加 added"))))
}

/// POST `/admin/products/{id}`: edits a product.
pub async fn update(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<ProductForm>,
) -> PageResult {
    let actor = signed_in.acting(&state, &form.csrf)?;
    let id = ProductId::parse(&id).map_err(|e| ApiError::BadParameter(e.to_string()))?;
    let draft = match form.draft() {
        Ok(draft) => draft,
        Err(e) => return Ok(back(PAGE, Err(e.to_string()))),
    };
    let store = state.shop.store();
    let before = store
        .update_product(id, &draft, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no product {id}")))?;
    let after = store.product(id).await?;
    audit::record(
        &state,
        &actor,
        AuditAction::ProductEdit,
        &id.get().to_string(),
        Some(&ProductState::from(&before)),
        after.as_ref().map(ProductState::from).as_ref(),
    )
    .await;
    Ok(back(PAGE, Ok(format!("商品 #{id} 已保存 saved"))))
}

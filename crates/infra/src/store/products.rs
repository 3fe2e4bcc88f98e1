//! The catalog port.

use super::SeaStore;
use super::entities::product;
use anyhow::Context as _;
use domain::money::Fen;
use domain::ports::ProductCatalog;
use domain::product::{ModelType, Product, ProductId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

impl ProductCatalog for SeaStore {
    async fn on_sale(&self) -> anyhow::Result<Vec<Product>> {
        let rows = product::Entity::find()
            .filter(product::Column::Enabled.eq(true))
            .order_by_asc(product::Column::Sort)
            .order_by_asc(product::Column::Id)
            .all(&self.reads)
            .await
            .context("list products on sale")?;
        rows.into_iter().map(to_domain).collect()
    }

    async fn product(&self, id: ProductId) -> anyhow::Result<Option<Product>> {
        let row = product::Entity::find_by_id(id.get())
            .one(&self.reads)
            .await
            .with_context(|| format!("load product {id}"))?;
        row.map(to_domain).transpose()
    }
}

/// A stored product as the domain's.
pub(super) fn to_domain(row: product::Model) -> anyhow::Result<Product> {
    let context = || format!("stored product {}", row.id);
    Ok(Product {
        id: ProductId::new(row.id).with_context(context)?,
        quota: u32::try_from(row.quota).with_context(context)?,
        model_types: ModelType::parse_list(&row.model_types).with_context(context)?,
        price: Fen::from_i64(row.price).with_context(context)?,
        sort: row.sort,
        enabled: row.enabled,
        name: row.name,
        description: row.description,
    })
}

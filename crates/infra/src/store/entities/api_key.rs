//! The `api_keys` table: users' API keys, by digest.

use sea_orm::entity::prelude::*;

/// A key's row (never the key).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    pub name: String,
    /// SHA-256 of the key, lower-case hex.
    pub digest: String,
    pub hint: String,
    pub quota_cap: Option<i64>,
    pub quota_spent: i64,
    /// Comma-separated; empty = all the account's.
    pub models: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

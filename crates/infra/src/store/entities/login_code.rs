//! The `login_codes` table: one row per user holding the digest of their latest code.

use sea_orm::entity::prelude::*;

/// A login-code row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// HMAC-SHA-256 of the code under the server's key, hex; unique.
    pub code_digest: String,
    /// The code sealed (AES-256-GCM) for its user under the server's key, to send again.
    pub code_sealed: String,
    /// The openid it was issued to; unique.
    pub user_id: String,
    /// Unix milliseconds, like every `*_at` column.
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

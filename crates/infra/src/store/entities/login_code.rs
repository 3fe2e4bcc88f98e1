//! The `login_codes` table: one row per user holding their latest login code.

use sea_orm::entity::prelude::*;

/// A login-code row.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "login_codes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Six digits; unique.
    pub code: String,
    /// The openid it was issued to; unique.
    pub user_id: String,
    /// Unix milliseconds, like every `*_at` column.
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

// By hand, so a code never reaches a log through `{:?}`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("login_code::Model")
            .field("id", &self.id)
            .field("code", &"******")
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("used_at", &self.used_at)
            .finish()
    }
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

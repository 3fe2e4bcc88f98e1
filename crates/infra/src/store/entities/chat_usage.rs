//! The `chat_usage` table: one row per chat call.

use sea_orm::entity::prelude::*;

/// A chat call's row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_usage")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: String,
    pub model: String,
    pub quota_spent: i64,
    /// `STARTED`, `OK`, `REFUNDED`, `FAILED` or `CANCELLED`.
    pub status: String,
    /// Unix milliseconds, like every `*_at` column.
    pub started_at: i64,
    pub first_token_ms: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// The trial window (ms) a free call was counted in; NULL for a paid call.
    pub trial_window: Option<i64>,
    /// The API key the call was made with, if any.
    pub api_key_id: Option<i64>,
    /// The tokens the call used, once known.
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

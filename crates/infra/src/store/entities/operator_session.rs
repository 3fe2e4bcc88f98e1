//! The `operator_sessions` table: console sessions, by the token's digest.

use sea_orm::entity::prelude::*;

/// A session's row (never its token).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "operator_sessions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub operator_id: i64,
    /// SHA-256 of the session token, lower-case hex.
    pub digest: String,
    /// SHA-256 of the session's CSRF token, lower-case hex.
    pub csrf_digest: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// No relations: the schema keeps tables independent.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

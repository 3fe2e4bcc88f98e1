//! The column and index shapes every table repeats, so a migration states only what is its
//! own: an auto-increment BIGINT key, unix-millisecond timestamps, named indexes.

use sea_orm_migration::prelude::*;

/// `id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY`.
pub fn id(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// A required timestamp: BIGINT unix milliseconds.
pub fn millis(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

/// An optional timestamp: BIGINT unix milliseconds, NULL until it happens.
pub fn millis_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}

/// A nullable `BIGINT` count (e.g. tokens, unknown until known).
pub fn count_null(name: impl IntoIden) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}

/// A required `VARCHAR(len)`.
pub fn text(name: impl IntoIden, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().to_owned()
}

/// Adds `column` to `table` (one column per statement: SQLite alters one at a time).
pub async fn add_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

/// Drops `column` from `table`.
pub async fn drop_column(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

/// Creates the index `name` on `table` over `columns` (unique when asked).
pub async fn index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    columns: &[C],
    unique: bool,
) -> Result<(), DbErr>
where
    T: IntoIden + Copy,
    C: IntoIden + Copy,
{
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    manager.create_index(index.to_owned()).await
}

//! Reading columns back into domain types. A value that does not parse is
//! a corrupt row, reported as such rather than guessed at.

use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::StoreError;

pub(crate) fn text(row: &AnyRow, column: &str) -> Result<String, StoreError> {
    Ok(row.try_get::<String, _>(column)?)
}

pub(crate) fn opt_text(row: &AnyRow, column: &str) -> Result<Option<String>, StoreError> {
    Ok(row.try_get::<Option<String>, _>(column)?)
}

pub(crate) fn int(row: &AnyRow, column: &str) -> Result<i64, StoreError> {
    Ok(row.try_get::<i64, _>(column)?)
}

pub(crate) fn opt_int(row: &AnyRow, column: &str) -> Result<Option<i64>, StoreError> {
    Ok(row.try_get::<Option<i64>, _>(column)?)
}

pub(crate) fn opt_bytes(row: &AnyRow, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(row.try_get::<Option<Vec<u8>>, _>(column)?)
}

pub(crate) fn parsed<T, E: std::fmt::Display>(
    column: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(value).map_err(|e| StoreError::Corrupt(format!("{column} `{value}`: {e}")))
}

/// Text as both databases store it: PostgreSQL refuses NUL in text, so a
/// NUL that reached here (receivers' text is made safe before, this is the
/// last line) is replaced by U+FFFD.
pub(crate) fn storable(text: &str) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text.to_owned()
    }
}

pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters: one
/// statement writes a whole batch, one round trip instead of one per row.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * columns + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_parameters_row_by_row() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 1), "($1)");
    }
}

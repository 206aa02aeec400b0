//! Helpers every query uses: reading columns back into domain types (a
//! value that does not parse is a corrupt row, reported as such rather
//! than guessed at), writing values as both databases store them,
//! multi-row placeholders, and the SQL literal of each delivery status.

use std::time::Duration;

use selki_domain::{DeliveryStatus, UnixMs};
use sqlx::Row as _;
use sqlx::any::AnyRow;

use crate::StoreError;

/// A delivery status as a SQL literal, e.g. `status!(Pending)` is
/// `'pending'`: statements that must name a status in their text (a
/// partial index is used only for a literal it matches) build it from
/// here, and a test holds these to `DeliveryStatus::as_str`.
macro_rules! status {
    (Pending) => {
        "'pending'"
    };
    (Succeeded) => {
        "'succeeded'"
    };
    (Failed) => {
        "'failed'"
    };
    (Skipped) => {
        "'skipped'"
    };
    (Cancelled) => {
        "'cancelled'"
    };
}
pub(crate) use status;

/// `('failed', 'skipped')`: a list of statuses for `IN`.
macro_rules! statuses {
    ($first:ident $(, $rest:ident)* $(,)?) => {
        concat!("(", $crate::sql::status!($first) $(, ", ", $crate::sql::status!($rest))*, ")")
    };
}
pub(crate) use statuses;

/// A status's SQL literal, for statements built at run time.
pub(crate) const fn status_literal(status: DeliveryStatus) -> &'static str {
    match status {
        DeliveryStatus::Pending => status!(Pending),
        DeliveryStatus::Succeeded => status!(Succeeded),
        DeliveryStatus::Failed => status!(Failed),
        DeliveryStatus::Skipped => status!(Skipped),
        DeliveryStatus::Cancelled => status!(Cancelled),
    }
}

/// A stored status read back.
pub(crate) fn delivery_status(row: &AnyRow, column: &str) -> Result<DeliveryStatus, StoreError> {
    parsed(column, &text(row, column)?, |s| {
        DeliveryStatus::parse(s).ok_or("unknown status")
    })
}

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

/// A count, never negative.
pub(crate) fn count(row: &AnyRow, column: &str) -> Result<u64, StoreError> {
    Ok(u64::try_from(int(row, column)?).unwrap_or(0))
}

pub(crate) fn opt_bytes(row: &AnyRow, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(row.try_get::<Option<Vec<u8>>, _>(column)?)
}

/// An instant, stored as Unix milliseconds.
pub(crate) fn time(row: &AnyRow, column: &str) -> Result<UnixMs, StoreError> {
    int(row, column).map(UnixMs::from_millis)
}

pub(crate) fn opt_time(row: &AnyRow, column: &str) -> Result<Option<UnixMs>, StoreError> {
    Ok(opt_int(row, column)?.map(UnixMs::from_millis))
}

/// A duration, stored as whole milliseconds.
pub(crate) fn duration(row: &AnyRow, column: &str) -> Result<Duration, StoreError> {
    Ok(Duration::from_millis(
        int(row, column)?.max(0).cast_unsigned(),
    ))
}

pub(crate) fn opt_duration(row: &AnyRow, column: &str) -> Result<Option<Duration>, StoreError> {
    Ok(opt_int(row, column)?.map(|ms| Duration::from_millis(ms.max(0).cast_unsigned())))
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

/// Booleans are stored as 0 and 1 (both databases read that back alike).
pub(crate) fn flag(value: bool) -> i64 {
    i64::from(value)
}

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters: one
/// statement writes a whole batch, one round trip instead of one per row.
pub(crate) fn placeholders(rows: usize, columns: usize) -> String {
    placeholders_with(rows, columns, "")
}

/// Like [`placeholders`], with `tail` (SQL shared by every row, e.g.
/// `, 0, $901`) closing each row.
pub(crate) fn placeholders_with(rows: usize, columns: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(rows * (columns * 5 + tail.len() + 4));
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        push_list(&mut sql, row * columns + 1, columns);
        sql.push_str(tail);
        sql.push(')');
    }
    sql
}

/// `$from, $from+1, …`: `count` parameters, for `IN (…)`.
pub(crate) fn list(from: usize, count: usize) -> String {
    let mut sql = String::with_capacity(count * 5);
    push_list(&mut sql, from, count);
    sql
}

/// Writes `$from, $from+1, …` into `sql`. Batches of hundreds of rows are
/// numbered on every write, so no allocation per parameter.
fn push_list(sql: &mut String, from: usize, count: usize) {
    for i in from..from + count {
        if i > from {
            sql.push_str(", ");
        }
        sql.push('$');
        push_number(sql, i);
    }
}

fn push_number(sql: &mut String, n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        sql.push(char::from(d));
    }
}

#[cfg(test)]
mod tests {
    use selki_domain::DeliveryStatus;

    #[test]
    fn placeholders_number_parameters_row_by_row() {
        assert_eq!(super::placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 1), "($1)");
        assert_eq!(super::placeholders_with(2, 1, ", $3"), "($1, $3), ($2, $3)");
        assert_eq!(super::list(4, 3), "$4, $5, $6");
        assert_eq!(super::list(9, 3), "$9, $10, $11");
        assert_eq!(super::list(99_999, 2), "$99999, $100000");
    }

    #[test]
    fn status_literals_are_the_stored_names() {
        let literals = [
            (DeliveryStatus::Pending, status!(Pending)),
            (DeliveryStatus::Succeeded, status!(Succeeded)),
            (DeliveryStatus::Failed, status!(Failed)),
            (DeliveryStatus::Skipped, status!(Skipped)),
            (DeliveryStatus::Cancelled, status!(Cancelled)),
        ];
        assert_eq!(literals.len(), DeliveryStatus::ALL.len());
        for (status, literal) in literals {
            assert_eq!(literal, format!("'{}'", status.as_str()));
            assert_eq!(super::status_literal(status), literal);
        }
        assert_eq!(statuses!(Failed, Skipped), "('failed', 'skipped')");
    }
}

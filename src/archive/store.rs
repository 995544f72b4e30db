//! Writing one entity row: insert, update, or nothing when the stored version is the same.

use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params_from_iter};

/// The effect of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

/// One row to store. Key columns identify the row; `columns` are the typed values decoded
/// from the object, and `raw` is the object's canonical JSON for `raw_column`.
#[derive(Debug)]
pub struct RowWrite<'a> {
    pub table: &'a str,
    pub key: Vec<(&'a str, SqlValue)>,
    pub columns: Vec<(&'a str, SqlValue)>,
    pub raw_column: &'a str,
    pub raw: String,
}

/// Stores `row` unless the stored `raw_column` already equals `row.raw`.
///
/// Only the listed columns are written, so a column that the caller leaves out keeps its stored
/// value. Statements are cached per shape, so a page of rows prepares each one once.
pub fn write_row(tx: &Transaction<'_>, row: &RowWrite<'_>, now: &str) -> rusqlite::Result<Outcome> {
    let key_clause = row
        .key
        .iter()
        .enumerate()
        .map(|(index, (column, _))| format!("{column} = ?{}", index + 1))
        .collect::<Vec<_>>()
        .join(" AND ");
    let key_values = row.key.iter().map(|(_, value)| value);

    let select = format!("SELECT {} FROM {} WHERE {key_clause}", row.raw_column, row.table);
    let stored: Option<Option<String>> =
        tx.prepare_cached(&select)?.query_row(params_from_iter(key_values.clone()), |r| r.get(0)).optional()?;

    match stored {
        Some(Some(raw)) if raw == row.raw => Ok(Outcome::Unchanged),
        Some(_) => {
            let assignments: Vec<String> = row
                .columns
                .iter()
                .map(|(column, _)| *column)
                .chain([row.raw_column, "last_changed_at"])
                .enumerate()
                .map(|(index, column)| format!("{column} = ?{}", index + 1 + row.key.len()))
                .collect();
            let update = format!("UPDATE {} SET {} WHERE {key_clause}", row.table, assignments.join(", "));
            let values = key_values
                .cloned()
                .chain(row.columns.iter().map(|(_, value)| value.clone()))
                .chain([SqlValue::Text(row.raw.clone()), SqlValue::Text(now.to_string())]);
            tx.prepare_cached(&update)?.execute(params_from_iter(values))?;
            Ok(Outcome::Updated)
        }
        None => {
            let names: Vec<&str> = row
                .key
                .iter()
                .chain(&row.columns)
                .map(|(column, _)| *column)
                .chain([row.raw_column, "first_seen_at", "last_changed_at"])
                .collect();
            let placeholders: Vec<String> = (1..=names.len()).map(|index| format!("?{index}")).collect();
            let insert =
                format!("INSERT INTO {} ({}) VALUES ({})", row.table, names.join(", "), placeholders.join(", "));
            let values = row.key.iter().chain(&row.columns).map(|(_, value)| value.clone()).chain([
                SqlValue::Text(row.raw.clone()),
                SqlValue::Text(now.to_string()),
                SqlValue::Text(now.to_string()),
            ]);
            tx.prepare_cached(&insert)?.execute(params_from_iter(values))?;
            Ok(Outcome::Inserted)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn table() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE t (k TEXT PRIMARY KEY, a TEXT, b INTEGER, raw_json TEXT,
                 first_seen_at TEXT NOT NULL, last_changed_at TEXT NOT NULL) STRICT;",
            )
            .unwrap();
        connection
    }

    fn row<'a>(columns: Vec<(&'a str, SqlValue)>, raw: &str) -> RowWrite<'a> {
        RowWrite {
            table: "t",
            key: vec![("k", SqlValue::Text("x".into()))],
            columns,
            raw_column: "raw_json",
            raw: raw.to_string(),
        }
    }

    #[test]
    fn insert_then_unchanged_then_update() {
        let mut connection = table();
        let tx = connection.transaction().unwrap();
        let first = row(vec![("a", SqlValue::Text("1".into()))], "{}");
        let second = row(vec![("a", SqlValue::Text("2".into()))], r#"{"a":2}"#);

        assert_eq!(write_row(&tx, &first, "T1").unwrap(), Outcome::Inserted);
        assert_eq!(write_row(&tx, &first, "T2").unwrap(), Outcome::Unchanged);
        assert_eq!(write_row(&tx, &second, "T3").unwrap(), Outcome::Updated);

        let (a, first_seen, changed): (String, String, String) = tx
            .query_row("SELECT a, first_seen_at, last_changed_at FROM t", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!(a, "2");
        assert_eq!(first_seen, "T1");
        assert_eq!(changed, "T3");
    }

    #[test]
    fn omitted_column_keeps_value() {
        let mut connection = table();
        let tx = connection.transaction().unwrap();
        write_row(&tx, &row(vec![("a", SqlValue::Text("kept".into())), ("b", SqlValue::Integer(1))], "1"), "T1")
            .unwrap();
        write_row(&tx, &row(vec![("b", SqlValue::Null)], "2"), "T2").unwrap();

        let (a, b): (Option<String>, Option<i64>) =
            tx.query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(a.as_deref(), Some("kept"));
        assert_eq!(b, None);
    }
}

//! Writing entity rows and their history: insert, update, restore, mark deleted, or nothing
//! when the stored version is the same in normal form.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, ToSql, params, params_from_iter};
use serde_json::Value;

use super::canonical::{canonical_json, changed_paths, normal_form};
use super::ids::IdSet;

/// The effect of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Inserted,
    Updated,
    /// The row was marked deleted and is back.
    Restored,
    Unchanged,
}

/// The origin of a write, for its history rows: a sync run, or a pushed edit.
#[derive(Debug, Clone)]
pub struct HistoryContext {
    pub run_id: Option<i64>,
    /// The `outbox` edit whose response is being stored.
    pub outbox_id: Option<i64>,
    pub now: String,
    /// Marks inserts as part of a resource's first complete sync.
    pub initial: bool,
}

/// Identifies a set of rows of one table: an account's rows, or those of one parent.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    pub table: &'a str,
    pub account_id: &'a str,
    /// False for `accounts`, whose own `id` is the account.
    pub has_account_column: bool,
    /// The parent's id column and value (`domain_id`, `invoice_id`).
    pub parent: Option<(&'a str, &'a str)>,
    /// `id`, or `position` for embedded rows.
    pub id_column: &'a str,
    /// The JSON columns merged, later ones on top, into the snapshot kept in history.
    pub snapshot_columns: &'a [&'a str],
}

impl Scope<'_> {
    fn conditions(&self) -> (Vec<String>, Vec<SqlValue>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if self.has_account_column {
            clauses.push("account_id".to_string());
            values.push(SqlValue::Text(self.account_id.to_string()));
        }
        if let Some((column, id)) = self.parent {
            clauses.push(column.to_string());
            values.push(SqlValue::Text(id.to_string()));
        }
        (clauses, values)
    }

    fn parent_id(&self) -> Option<&str> {
        self.parent.map(|(_, id)| id)
    }
}

/// One row to store: its scope and id, the typed column values decoded from the object, and
/// the object's JSON for `raw_column`.
#[derive(Debug)]
pub struct RowWrite<'a> {
    pub scope: Scope<'a>,
    pub id: SqlValue,
    pub columns: Vec<(&'a str, SqlValue)>,
    pub raw_column: &'a str,
    pub raw: String,
    /// The object's normal form (`canonical_json(&normal_form(..))`), when the caller computed it
    /// already: an insert then stores it as the history snapshot without parsing `raw` again.
    pub normal: Option<String>,
}

/// Stores `row` unless the stored `raw_column` equals `row.raw` in normal form and the row is
/// not marked deleted, and records the change in `history`.
///
/// Only the listed columns are written, so a column the caller leaves out keeps its stored
/// value. The statements of each row shape are built once per thread and prepared once per
/// connection.
pub fn write_row(tx: &Connection, row: &RowWrite<'_>, history: &HistoryContext) -> rusqlite::Result<Outcome> {
    let scope = &row.scope;
    let sql = row_sql(row);
    let mut key: Vec<&dyn ToSql> = Vec::with_capacity(3);
    if scope.has_account_column {
        key.push(&scope.account_id);
    }
    if let Some((_, parent_id)) = &scope.parent {
        key.push(parent_id);
    }
    key.push(&row.id);
    let mut values = key.clone();
    values.extend(row.columns.iter().map(|(_, value)| value as &dyn ToSql));
    values.extend([&row.raw as &dyn ToSql, &history.now]);

    // Most rows of a first sync are new, so the insert is tried first. For a row that exists it
    // does nothing, and the stored version is read instead.
    if tx.prepare_cached(&sql.insert)?.execute(values.as_slice())? == 1 {
        return record_insert(tx, row, history);
    }
    let stored: Option<(Vec<Option<String>>, Option<String>)> = tx
        .prepare_cached(&sql.select)?
        .query_row(key.as_slice(), |r| {
            let jsons = (0..scope.snapshot_columns.len()).map(|index| r.get(index)).collect::<Result<Vec<_>, _>>()?;
            Ok((jsons, r.get(scope.snapshot_columns.len())?))
        })
        .optional()?;
    let Some((stored_jsons, deleted_at)) = stored else {
        // The insert met another uniqueness constraint than the key; a plain insert reports it.
        tx.prepare_cached(&sql.insert_strict)?.execute(values.as_slice())?;
        return record_insert(tx, row, history);
    };

    let own_index = scope.snapshot_columns.iter().position(|column| *column == row.raw_column);
    let stored_own = own_index.and_then(|index| stored_jsons[index].as_deref());
    let same = stored_own.is_some_and(|stored| stored == row.raw || same_normal_form(stored, &row.raw));
    if same && deleted_at.is_none() {
        return Ok(Outcome::Unchanged);
    }

    tx.prepare_cached(&sql.update)?.execute(values.as_slice())?;
    let stored_value = |column: &str| {
        let index = scope.snapshot_columns.iter().position(|c| *c == column)?;
        stored_jsons[index].as_deref()
    };
    let before = snapshot(scope.snapshot_columns, stored_value);
    let after = snapshot(scope.snapshot_columns, |column| {
        if column == row.raw_column { Some(row.raw.as_str()) } else { stored_value(column) }
    });
    if deleted_at.is_some() {
        record(tx, history, scope, &row.id, "restore", Some(&before), Some(&after))?;
        return Ok(Outcome::Restored);
    }
    if before != after {
        record(tx, history, scope, &row.id, "update", Some(&before), Some(&after))?;
    }
    Ok(Outcome::Updated)
}

/// Records the insert of `row`. A new row has no other snapshot column yet, so its snapshot is
/// the normal form of `row.raw`, which the caller may have computed already.
fn record_insert(tx: &Connection, row: &RowWrite<'_>, history: &HistoryContext) -> rusqlite::Result<Outcome> {
    let scope = &row.scope;
    match &row.normal {
        Some(normal) => insert_history(tx, history, scope, &row.id, "insert", None, None, Some(normal))?,
        None => {
            let after =
                snapshot(scope.snapshot_columns, |column| (column == row.raw_column).then_some(row.raw.as_str()));
            record(tx, history, scope, &row.id, "insert", None, Some(&after))?;
        }
    }
    Ok(Outcome::Inserted)
}

/// The statements that write one shape of row. Each binds the key columns first (account,
/// parent, id), then the typed columns, the JSON column and the time; `select` binds only the
/// key.
struct RowSql {
    insert: String,
    /// The same insert without `ON CONFLICT DO NOTHING`, to report a conflict.
    insert_strict: String,
    select: String,
    update: String,
}

/// Lists the parts of a row's shape, which decide its [`RowSql`]. A NUL separates the column
/// lists, because no column name contains one.
fn row_shape<'r>(row: &'r RowWrite<'_>) -> impl Iterator<Item = &'r str> {
    let scope = &row.scope;
    [
        scope.table,
        scope.id_column,
        row.raw_column,
        if scope.has_account_column { "account" } else { "-" },
        scope.parent.map_or("-", |(column, _)| column),
    ]
    .into_iter()
    .chain(row.columns.iter().map(|(column, _)| *column))
    .chain(["\0"])
    .chain(scope.snapshot_columns.iter().copied())
}

/// [`RowSql`] by the hash of its row shape, with the shape to tell collisions apart.
type RowSqlCache = HashMap<u64, Vec<(Vec<String>, Rc<RowSql>)>>;

thread_local! {
    static ROW_SQL: std::cell::RefCell<RowSqlCache> = Default::default();
}

fn row_sql(row: &RowWrite<'_>) -> Rc<RowSql> {
    let mut hasher = std::hash::DefaultHasher::new();
    for part in row_shape(row) {
        part.hash(&mut hasher);
    }
    let hash = hasher.finish();
    ROW_SQL.with_borrow_mut(|cache| {
        let bucket = cache.entry(hash).or_default();
        if let Some((_, sql)) = bucket.iter().find(|(shape, _)| shape.iter().map(String::as_str).eq(row_shape(row))) {
            return sql.clone();
        }
        let sql = Rc::new(build_row_sql(row));
        bucket.push((row_shape(row).map(str::to_string).collect(), sql.clone()));
        sql
    })
}

fn build_row_sql(row: &RowWrite<'_>) -> RowSql {
    let scope = &row.scope;
    let mut key_columns: Vec<&str> = Vec::new();
    if scope.has_account_column {
        key_columns.push("account_id");
    }
    if let Some((column, _)) = scope.parent {
        key_columns.push(column);
    }
    key_columns.push(scope.id_column);
    let key_clause = numbered_conditions(&key_columns, 1);
    let data_columns: Vec<&str> = row.columns.iter().map(|(column, _)| *column).chain([row.raw_column]).collect();
    let time = key_columns.len() + data_columns.len() + 1;

    let names = key_columns.iter().chain(&data_columns).copied().collect::<Vec<_>>().join(", ");
    let placeholders = (1..time).map(|index| format!("?{index}")).collect::<Vec<_>>().join(", ");
    let insert_strict = format!(
        "INSERT INTO {} ({names}, first_seen_at, last_changed_at) VALUES ({placeholders}, ?{time}, ?{time})",
        scope.table
    );
    let assignments = data_columns
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{column} = ?{}", key_columns.len() + index + 1))
        .collect::<Vec<_>>()
        .join(", ");
    RowSql {
        insert: format!("{insert_strict} ON CONFLICT DO NOTHING"),
        insert_strict,
        select: format!(
            "SELECT {}, deleted_at FROM {} WHERE {key_clause}",
            scope.snapshot_columns.join(", "),
            scope.table
        ),
        update: format!(
            "UPDATE {} SET {assignments}, last_changed_at = ?{time}, deleted_at = NULL WHERE {key_clause}",
            scope.table
        ),
    }
}

/// Returns the ids of the live rows of `scope` that are not in `seen`: the rows a deletion
/// inference would mark.
pub fn missing_ids(tx: &Connection, scope: &Scope<'_>, seen: &IdSet) -> rusqlite::Result<Vec<String>> {
    let (columns, values) = scope.conditions();
    let mut conditions = numbered_conditions(&columns, 1);
    if conditions.is_empty() {
        conditions = "1 = 1".to_string();
    }
    let select = format!(
        "SELECT CAST({} AS TEXT) FROM {} WHERE {conditions} AND deleted_at IS NULL",
        scope.id_column, scope.table
    );
    let mut statement = tx.prepare_cached(&select)?;
    let ids = statement.query_map(params_from_iter(&values), |row| row.get::<_, String>(0))?;
    ids.filter(|id| id.as_ref().map_or(true, |id| !seen.contains(id))).collect()
}

/// Marks every live row of `scope` whose id is not in `seen` as deleted, with a history row
/// each, and returns the ids marked.
pub fn mark_missing(
    tx: &Connection,
    scope: &Scope<'_>,
    seen: &IdSet,
    history: &HistoryContext,
) -> rusqlite::Result<Vec<String>> {
    let mut marked = Vec::new();
    for id in missing_ids(tx, scope, seen)? {
        if mark_deleted(tx, scope, &id, history)? {
            marked.push(id);
        }
    }
    Ok(marked)
}

/// Marks one live row of `scope` deleted, with its history row. Returns false when the row is
/// missing or already marked.
pub fn mark_deleted(tx: &Connection, scope: &Scope<'_>, id: &str, history: &HistoryContext) -> rusqlite::Result<bool> {
    let (mut columns, mut values) = scope.conditions();
    columns.push(scope.id_column.to_string());
    // Embedded rows are keyed by an INTEGER position; bind the id with the column's type.
    let key = match id.parse::<i64>() {
        Ok(position) if scope.id_column == "position" => SqlValue::Integer(position),
        _ => SqlValue::Text(id.to_string()),
    };
    values.push(key.clone());
    let select = format!(
        "SELECT {} FROM {} WHERE {} AND deleted_at IS NULL",
        scope.snapshot_columns.join(", "),
        scope.table,
        numbered_conditions(&columns, 1)
    );
    let stored: Option<Vec<Option<String>>> = tx
        .prepare_cached(&select)?
        .query_row(params_from_iter(&values), |row| {
            (0..scope.snapshot_columns.len()).map(|index| row.get(index)).collect()
        })
        .optional()?;
    let Some(jsons) = stored else {
        return Ok(false);
    };
    let update = format!(
        "UPDATE {} SET deleted_at = ?{} WHERE {}",
        scope.table,
        columns.len() + 1,
        numbered_conditions(&columns, 1)
    );
    values.push(SqlValue::Text(history.now.clone()));
    tx.prepare_cached(&update)?.execute(params_from_iter(&values))?;
    let before = snapshot(scope.snapshot_columns, |column| {
        let index = scope.snapshot_columns.iter().position(|c| *c == column)?;
        jsons[index].as_deref()
    });
    record(tx, history, scope, &key, "delete", Some(&before), None)?;
    Ok(true)
}

/// Writes a history row, or folds the change into this run's row for the same entity, so one
/// run leaves at most one row per entity (a service's list and detail writes become one).
fn record(
    tx: &Connection,
    history: &HistoryContext,
    scope: &Scope<'_>,
    id: &SqlValue,
    op: &str,
    before: Option<&Value>,
    after: Option<&Value>,
) -> rusqlite::Result<()> {
    let entity_id = entity_text(id);
    if op == "update"
        && let Some(run_id) = history.run_id
        && let Some(previous) = same_run_row(tx, scope, &entity_id, run_id)?
        && previous.op != "delete"
    {
        let original = previous.before_json.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok());
        let changed = match (&original, after) {
            (Some(original), Some(after)) => Some(serde_json::to_string(&changed_paths(original, after)).unwrap()),
            _ => None,
        };
        tx.prepare_cached("UPDATE history SET after_json = ?2, changed_fields = ?3 WHERE id = ?1")?.execute(
            params![previous.id, after.map(canonical_json), if previous.op == "insert" { None } else { changed }],
        )?;
        return Ok(());
    }

    let changed = match (op, before, after) {
        ("update" | "restore", Some(before), Some(after)) => {
            Some(serde_json::to_string(&changed_paths(before, after)).expect("a list of strings serializes"))
        }
        _ => None,
    };
    let before = before.map(canonical_json);
    let after = after.map(canonical_json);
    insert_history(tx, history, scope, id, op, changed.as_deref(), before.as_deref(), after.as_deref())
}

/// This run's history rows of one entity. With `ORDER BY id`, SQLite prepared this statement
/// again after its parameters were cleared, which rusqlite's statement cache does each time it
/// takes a statement back, so the newest row is picked in Rust.
const ENTITY_HISTORY_SQL: &str = "SELECT id, op, before_json FROM history
     WHERE entity = ?1 AND account_id = ?2 AND parent_id IS ?3 AND entity_id = ?4 AND run_id = ?5";

/// Returns the newest history row that the run `run_id` wrote for the entity.
fn same_run_row(tx: &Connection, scope: &Scope<'_>, entity_id: &str, run_id: i64) -> rusqlite::Result<Option<RunRow>> {
    let mut statement = tx.prepare_cached(ENTITY_HISTORY_SQL)?;
    let mut rows = statement.query(params![scope.table, scope.account_id, scope.parent_id(), entity_id, run_id])?;
    let mut newest: Option<RunRow> = None;
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
        if newest.as_ref().is_none_or(|newest| id > newest.id) {
            newest = Some(RunRow { id, op: row.get(1)?, before_json: row.get(2)? });
        }
    }
    Ok(newest)
}

/// A history row written by the running run.
struct RunRow {
    id: i64,
    op: String,
    before_json: Option<String>,
}

/// Inserts one history row with snapshots already in canonical normal form.
#[allow(clippy::too_many_arguments)]
fn insert_history(
    tx: &Connection,
    history: &HistoryContext,
    scope: &Scope<'_>,
    id: &SqlValue,
    op: &str,
    changed: Option<&str>,
    before: Option<&str>,
    after: Option<&str>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO history (run_id, observed_at, entity, account_id, parent_id, entity_id, op,
         changed_fields, before_json, after_json, initial, outbox_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        history.run_id,
        history.now,
        scope.table,
        scope.account_id,
        scope.parent_id(),
        entity_text(id),
        op,
        changed,
        before,
        after,
        op == "insert" && history.initial,
        history.outbox_id,
    ])?;
    Ok(())
}

fn entity_text(id: &SqlValue) -> String {
    match id {
        SqlValue::Text(text) => text.clone(),
        SqlValue::Integer(number) => number.to_string(),
        other => format!("{other:?}"),
    }
}

/// Builds an entity's snapshot in normal form: the JSON objects of `columns` merged in order,
/// later keys replacing earlier ones.
fn snapshot<'a>(columns: &[&str], value_of: impl Fn(&str) -> Option<&'a str>) -> Value {
    let mut merged = serde_json::Map::new();
    for column in columns {
        let Some(text) = value_of(column) else { continue };
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(object)) => merged.extend(object),
            Ok(other) => {
                merged.insert(column.to_string(), other);
            }
            Err(_) => {
                merged.insert(column.to_string(), Value::String(text.to_string()));
            }
        }
    }
    normal_form(&Value::Object(merged))
}

fn same_normal_form(stored: &str, new: &str) -> bool {
    match (serde_json::from_str::<Value>(stored), serde_json::from_str::<Value>(new)) {
        (Ok(stored), Ok(new)) => normal_form(&stored) == normal_form(&new),
        _ => false,
    }
}

/// Joins `column = ?N` conditions with `AND`, numbering placeholders from `first`.
fn numbered_conditions<S: AsRef<str>>(columns: &[S], first: usize) -> String {
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| format!("{} = ?{}", column.as_ref(), first + index))
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch(
                "CREATE TABLE t (account_id TEXT, id TEXT, a TEXT, b INTEGER, raw_json TEXT, detail_json TEXT,
                 first_seen_at TEXT NOT NULL, last_changed_at TEXT NOT NULL, deleted_at TEXT,
                 PRIMARY KEY (account_id, id)) STRICT;
                 CREATE TABLE history (id INTEGER PRIMARY KEY, run_id INTEGER, observed_at TEXT, entity TEXT,
                 account_id TEXT, parent_id TEXT, entity_id TEXT, op TEXT, changed_fields TEXT,
                 before_json TEXT, after_json TEXT, initial INTEGER, outbox_id INTEGER) STRICT;
                 CREATE INDEX history_by_entity ON history (entity, account_id, entity_id, id);",
            )
            .unwrap();
        connection
    }

    const SCOPE: Scope<'static> = Scope {
        table: "t",
        account_id: "acc",
        has_account_column: true,
        parent: None,
        id_column: "id",
        snapshot_columns: &["detail_json", "raw_json"],
    };

    fn row<'a>(columns: Vec<(&'a str, SqlValue)>, raw_column: &'a str, raw: &str) -> RowWrite<'a> {
        RowWrite {
            scope: SCOPE,
            id: SqlValue::Text("x".into()),
            columns,
            raw_column,
            raw: raw.to_string(),
            normal: None,
        }
    }

    fn context(run_id: i64, now: &str) -> HistoryContext {
        HistoryContext { run_id: Some(run_id), outbox_id: None, now: now.to_string(), initial: false }
    }

    fn history(tx: &Connection) -> Vec<String> {
        let mut statement = tx
            .prepare("SELECT run_id || ' ' || op || ' ' || coalesce(changed_fields, '-') FROM history ORDER BY id")
            .unwrap();
        statement.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn insert_unchanged_update() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        let first = row(vec![("a", SqlValue::Text("1".into()))], "raw_json", r#"{"a":"1"}"#);
        let second = row(vec![("a", SqlValue::Text("2".into()))], "raw_json", r#"{"a":"2"}"#);

        assert_eq!(write_row(&tx, &first, &context(1, "T1")).unwrap(), Outcome::Inserted);
        assert_eq!(write_row(&tx, &first, &context(2, "T2")).unwrap(), Outcome::Unchanged);
        assert_eq!(write_row(&tx, &second, &context(3, "T3")).unwrap(), Outcome::Updated);

        let (a, first_seen, changed): (String, String, String) = tx
            .query_row("SELECT a, first_seen_at, last_changed_at FROM t", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap();
        assert_eq!((a.as_str(), first_seen.as_str(), changed.as_str()), ("2", "T1", "T3"));
        assert_eq!(history(&tx), vec!["1 insert -", r#"3 update ["a"]"#]);
    }

    #[test]
    fn equivalent_spelling_unchanged() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        write_row(&tx, &row(vec![], "raw_json", r#"{"at":"2026-04-01T00:00:00Z","n":1}"#), &context(1, "T1")).unwrap();

        let respelled = row(vec![], "raw_json", r#"{"at":"2026-04-01T02:00:00.000+02:00","n":1.0}"#);

        assert_eq!(write_row(&tx, &respelled, &context(2, "T2")).unwrap(), Outcome::Unchanged);
        assert_eq!(history(&tx).len(), 1);
    }

    #[test]
    fn omitted_column_keeps_value() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        let full = row(vec![("a", SqlValue::Text("kept".into())), ("b", SqlValue::Integer(1))], "raw_json", "{}");
        write_row(&tx, &full, &context(1, "T1")).unwrap();

        write_row(&tx, &row(vec![("b", SqlValue::Null)], "detail_json", r#"{"b":null}"#), &context(1, "T1")).unwrap();

        let (a, b): (Option<String>, Option<i64>) =
            tx.query_row("SELECT a, b FROM t", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert_eq!(a.as_deref(), Some("kept"));
        assert_eq!(b, None);
    }

    #[test]
    fn detail_folds_into_same_run_insert() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        write_row(&tx, &row(vec![], "raw_json", r#"{"label":"web"}"#), &context(1, "T1")).unwrap();

        write_row(&tx, &row(vec![], "detail_json", r#"{"label":"web","os":"linux"}"#), &context(1, "T1")).unwrap();

        assert_eq!(history(&tx), vec!["1 insert -"]);
        let after: String = tx.query_row("SELECT after_json FROM history", [], |r| r.get(0)).unwrap();
        assert_eq!(after, r#"{"label":"web","os":"linux"}"#);
    }

    #[test]
    fn history_lookup_planned_once() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        for id in ["a", "b", "c"] {
            write_row(
                &tx,
                &RowWrite { id: SqlValue::Text(id.into()), ..row(vec![], "raw_json", "{}") },
                &context(1, "T1"),
            )
            .unwrap();
            let detail = RowWrite { id: SqlValue::Text(id.into()), ..row(vec![], "detail_json", r#"{"os":"linux"}"#) };
            write_row(&tx, &detail, &context(1, "T1")).unwrap();
        }

        let statement = tx.prepare_cached(ENTITY_HISTORY_SQL).unwrap();
        assert_eq!(statement.get_status(rusqlite::StatementStatus::Run), 3);
        assert_eq!(statement.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    #[test]
    fn fold_keeps_parents_apart() {
        let mut connection = database();
        connection
            .execute_batch(
                "CREATE TABLE items (account_id TEXT, invoice_id TEXT, position INTEGER, raw_json TEXT,
                 first_seen_at TEXT NOT NULL, last_changed_at TEXT NOT NULL, deleted_at TEXT,
                 PRIMARY KEY (account_id, invoice_id, position)) STRICT;",
            )
            .unwrap();
        let tx = connection.transaction().unwrap();
        // Embedded rows of different parents share their ids, which are positions.
        let item = |invoice: &'static str, raw: &str| RowWrite {
            scope: Scope {
                table: "items",
                parent: Some(("invoice_id", invoice)),
                id_column: "position",
                snapshot_columns: &["raw_json"],
                ..SCOPE
            },
            id: SqlValue::Integer(0),
            columns: vec![],
            raw_column: "raw_json",
            raw: raw.to_string(),
            normal: None,
        };
        write_row(&tx, &item("inv_a", r#"{"n":1}"#), &context(1, "T1")).unwrap();
        write_row(&tx, &item("inv_b", r#"{"n":1}"#), &context(1, "T1")).unwrap();

        write_row(&tx, &item("inv_a", r#"{"n":2}"#), &context(2, "T2")).unwrap();
        write_row(&tx, &item("inv_b", r#"{"n":2}"#), &context(2, "T2")).unwrap();
        write_row(&tx, &item("inv_a", r#"{"n":3}"#), &context(2, "T2")).unwrap();

        let rows: Vec<String> = tx
            .prepare("SELECT parent_id || ' ' || op || ' ' || after_json FROM history WHERE run_id = 2 ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows, vec![r#"inv_a update {"n":3}"#, r#"inv_b update {"n":2}"#]);
    }

    #[test]
    fn missing_marked_then_restored() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        write_row(&tx, &row(vec![], "raw_json", r#"{"a":1}"#), &context(1, "T1")).unwrap();

        let marked = mark_missing(&tx, &SCOPE, &IdSet::default(), &context(2, "T2")).unwrap();
        let again = mark_missing(&tx, &SCOPE, &IdSet::default(), &context(3, "T3")).unwrap();
        let restored = write_row(&tx, &row(vec![], "raw_json", r#"{"a":1}"#), &context(4, "T4")).unwrap();

        assert_eq!(marked, vec!["x"]);
        assert!(again.is_empty());
        assert_eq!(restored, Outcome::Restored);
        assert_eq!(history(&tx), vec!["1 insert -", "2 delete -", "4 restore []"]);
        let deleted_at: Option<String> = tx.query_row("SELECT deleted_at FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(deleted_at, None);
    }

    #[test]
    fn seen_rows_not_marked() {
        let mut connection = database();
        let tx = connection.transaction().unwrap();
        write_row(&tx, &row(vec![], "raw_json", "{}"), &context(1, "T1")).unwrap();

        let marked = mark_missing(&tx, &SCOPE, &IdSet::from_iter(["x"]), &context(2, "T2")).unwrap();

        assert!(marked.is_empty());
    }
}

//! Offline reports over the archive: the catalog of SQL reports, parameter checking, ad hoc
//! read-only queries, CSV export, and atomic output files.

pub mod catalog;
pub mod format;

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::NaiveDate;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

pub use catalog::{Param, ParamType, Report};
pub use format::{Format, FormatOptions};

/// Checks `--param KEY=VALUE` values against a report's declared parameters and converts them
/// for binding. Parameters not given are bound as NULL, so the report's SQL applies its default.
pub fn bind_values(report: &Report, given: &[(String, String)]) -> anyhow::Result<Vec<(String, SqlValue)>> {
    let mut values: Vec<(String, SqlValue)> = report.params.iter().map(|p| (p.name.clone(), SqlValue::Null)).collect();
    for (name, text) in given {
        let Some(index) = report.params.iter().position(|param| &param.name == name) else {
            let valid: Vec<&str> = report.params.iter().map(|param| param.name.as_str()).collect();
            if valid.is_empty() {
                bail!("unknown parameter {name:?}: the report {} takes no parameters", report.name);
            }
            bail!("unknown parameter {name:?} for the report {}; valid parameters: {}", report.name, valid.join(", "));
        };
        let param = &report.params[index];
        values[index].1 = convert(param, text)?;
    }
    Ok(values)
}

fn convert(param: &Param, text: &str) -> anyhow::Result<SqlValue> {
    let name = &param.name;
    match param.kind {
        ParamType::Text => Ok(SqlValue::Text(text.to_string())),
        ParamType::Integer => text
            .trim()
            .parse::<i64>()
            .map(SqlValue::Integer)
            .map_err(|_| anyhow::anyhow!("invalid value {text:?} for parameter {name}: expected a whole number")),
        ParamType::Date => NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .map(|date| SqlValue::Text(date.format("%Y-%m-%d").to_string()))
            .map_err(|_| {
                anyhow::anyhow!("invalid value {text:?} for parameter {name}: expected a date such as 2026-04-01")
            }),
        ParamType::Timestamp => {
            if let Some(normalized) = crate::archive::normalize_timestamp(text) {
                return Ok(SqlValue::Text(normalized));
            }
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                .map(|date| SqlValue::Text(format!("{}T00:00:00Z", date.format("%Y-%m-%d"))))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "invalid value {text:?} for parameter {name}: expected a date (2026-04-01) or an RFC 3339 \
                         timestamp (2026-04-01T12:00:00Z)"
                    )
                })
        }
    }
}

/// Splits a `KEY=VALUE` argument.
pub fn parse_assignment(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => bail!("invalid --param {text:?}: expected KEY=VALUE, such as --param since=2026-01-01"),
    }
}

/// Runs a report with checked values and writes its rows. Returns the number of rows.
pub fn run_report(
    connection: &Connection,
    report: &Report,
    values: &[(String, SqlValue)],
    options: FormatOptions,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let mut statement = connection
        .prepare(&report.sql)
        .with_context(|| format!("the report {} ({}) has invalid SQL", report.name, report.origin))?;
    let declared: BTreeSet<&str> = report.params.iter().map(|param| param.name.as_str()).collect();
    let mut used = BTreeSet::new();
    for index in 1..=statement.parameter_count() {
        let Some(name) = statement.parameter_name(index) else {
            bail!("the report {} uses a positional parameter; name it, as in :since", report.name);
        };
        let name = name.trim_start_matches([':', '@', '$']).to_string();
        if !declared.contains(name.as_str()) {
            bail!("the report {} uses :{name}, which its header does not declare with `-- param:`", report.name);
        }
        used.insert(name);
    }
    for (name, value) in values {
        if let Some(index) = statement.parameter_index(&format!(":{name}"))? {
            statement.raw_bind_parameter(index, value)?;
        }
    }
    if !statement.readonly() {
        bail!("the report {} ({}) writes to the database; reports must only read", report.name, report.origin);
    }
    format::write_rows(&mut statement, options, out).with_context(|| format!("the report {} failed", report.name))
}

/// Runs one ad hoc statement, which must only read, and writes its rows.
pub fn run_query(
    connection: &Connection,
    sql: &str,
    options: FormatOptions,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let mut statement = match connection.prepare(sql) {
        Ok(statement) => statement,
        Err(rusqlite::Error::MultipleStatement) => {
            bail!("the query contains more than one statement; run them one at a time")
        }
        Err(error) => return Err(error).context("invalid SQL"),
    };
    if !statement.readonly() {
        bail!(
            "the query would change the archive; `omega-sync query` runs read-only statements (SELECT, WITH, EXPLAIN)"
        );
    }
    if statement.parameter_count() > 0 {
        bail!("the query has parameters, which `omega-sync query` cannot set; write the values into the SQL");
    }
    format::write_rows(&mut statement, options, out).context("the query failed")
}

/// Returns the tables and views an export can write, in name order.
pub fn exportable(connection: &Connection) -> anyhow::Result<Vec<String>> {
    let mut statement = connection.prepare(
        "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')
         AND name NOT LIKE 'sqlite_%' AND name <> 'refinery_schema_history' ORDER BY name",
    )?;
    let names = statement.query_map([], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(names)
}

/// Writes one CSV per table or view into `dir`, each file replaced atomically. Returns the
/// files written with their row counts.
pub fn export(
    connection: &Connection,
    dir: &Path,
    only: &[String],
    options: FormatOptions,
) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let available = exportable(connection)?;
    for name in only {
        if !available.contains(name) {
            bail!("unknown table or view {name:?} in --tables; valid names: {}", available.join(", "));
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create the export folder {}", dir.display()))?;
    let mut written = Vec::new();
    for name in available.iter().filter(|name| only.is_empty() || only.contains(name)) {
        let path = dir.join(format!("{name}.csv"));
        // Names come from sqlite_schema and are quoted, so no text from the command line reaches the SQL.
        let sql = format!("SELECT * FROM \"{}\"", name.replace('"', "\"\""));
        let rows = write_atomically(&path, |out| {
            let mut statement = connection.prepare(&sql)?;
            format::write_rows(&mut statement, options, out)
        })
        .with_context(|| format!("failed to export {name}"))?;
        written.push((path, rows));
    }
    Ok(written)
}

/// Writes to `path` through a temporary file in the same folder, renamed over `path` only when
/// `write` succeeds, so a reader or a cron job never reads half a file and a failure leaves the
/// previous file in place.
pub fn write_atomically<T>(path: &Path, write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let file_name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("failed to create a temporary file in {}", dir.display()))?;
    let mut out = BufWriter::new(temporary);
    let result = write(&mut out)?;
    let temporary = out.into_inner().map_err(|error| error.into_error()).context("failed to write the output")?;
    temporary.as_file().sync_all().context("failed to write the output")?;
    temporary.persist(path).with_context(|| format!("failed to replace {}", path.display()))?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        catalog::parse(
            "demo",
            "-- title: Demo\n-- description: d\n-- param: since date A day (default: none).\n\
             -- param: limit integer Rows (default: 10).\n-- param: at timestamp When (default: now).\nSELECT :since, :limit, :at",
            "test",
        )
        .unwrap()
    }

    #[test]
    fn values_converted() {
        let given = vec![("limit".to_string(), "5".to_string()), ("at".to_string(), "2026-04-01".to_string())];

        let values = bind_values(&report(), &given).unwrap();

        assert_eq!(values[0], ("since".to_string(), SqlValue::Null));
        assert_eq!(values[1], ("limit".to_string(), SqlValue::Integer(5)));
        assert_eq!(values[2], ("at".to_string(), SqlValue::Text("2026-04-01T00:00:00Z".into())));
    }

    #[test]
    fn unknown_param_lists_valid() {
        let error = bind_values(&report(), &[("until".into(), "x".into())]).unwrap_err().to_string();

        assert!(error.contains("unknown parameter \"until\""), "{error}");
        assert!(error.contains("since, limit, at"), "{error}");
    }

    #[test]
    fn malformed_date_named() {
        let error = bind_values(&report(), &[("since".into(), "2026-02-30".into())]).unwrap_err().to_string();

        assert!(error.contains("invalid value \"2026-02-30\" for parameter since"), "{error}");
    }

    #[test]
    fn assignment_needs_equals() {
        assert_eq!(parse_assignment("since=2026-01-01").unwrap(), ("since".into(), "2026-01-01".into()));
        assert_eq!(parse_assignment("q=a=b").unwrap(), ("q".into(), "a=b".into()));
        assert!(parse_assignment("since").is_err());
        assert!(parse_assignment("=x").is_err());
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "old").unwrap();

        let result: anyhow::Result<()> = write_atomically(&path, |out| {
            out.write_all(b"partial")?;
            bail!("the query failed")
        });

        assert!(result.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

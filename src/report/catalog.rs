//! The report catalog: SQL files with a comment header, shipped in the binary from `queries/`
//! and optionally added from a user's folder, where a file with the same name wins.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use include_dir::{Dir, include_dir};

static SHIPPED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/queries");

/// The type of a report parameter, which decides how its value is checked and bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339, stored in UTC with `Z`; a date means its midnight UTC.
    Timestamp,
    Integer,
    Text,
}

impl ParamType {
    fn parse(text: &str) -> Option<ParamType> {
        match text {
            "date" => Some(ParamType::Date),
            "timestamp" => Some(ParamType::Timestamp),
            "integer" => Some(ParamType::Integer),
            "text" => Some(ParamType::Text),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Date => "date",
            ParamType::Timestamp => "timestamp",
            ParamType::Integer => "integer",
            ParamType::Text => "text",
        }
    }
}

/// A declared report parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub kind: ParamType,
    /// The description, ending with `(default: ...)`.
    pub description: String,
}

/// A report: its name (the file name without `.sql`), header and SQL.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub title: String,
    pub description: String,
    pub params: Vec<Param>,
    pub sql: String,
    /// The report's source: `built-in` or the user file's path.
    pub origin: String,
}

/// Loads the shipped reports and, if given, the `.sql` files of `user_dir`, which replace
/// shipped reports of the same name.
pub fn load(user_dir: Option<&Path>) -> anyhow::Result<BTreeMap<String, Report>> {
    let mut reports = BTreeMap::new();
    for file in SHIPPED.files() {
        let Some(name) = report_name(file.path()) else { continue };
        let text = file.contents_utf8().with_context(|| format!("the built-in report {name} is not UTF-8"))?;
        let report = parse(&name, text, "built-in").with_context(|| format!("invalid built-in report {name}"))?;
        reports.insert(name, report);
    }
    if let Some(dir) = user_dir {
        let entries = std::fs::read_dir(dir)
            .with_context(|| format!("failed to read the report folder {}; check --queries", dir.display()))?;
        for entry in entries {
            let path = entry?.path();
            let Some(name) = report_name(&path) else { continue };
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("failed to read the report {}", path.display()))?;
            let report = parse(&name, &text, &path.display().to_string())
                .with_context(|| format!("invalid report {}", path.display()))?;
            reports.insert(name, report);
        }
    }
    Ok(reports)
}

fn report_name(path: &Path) -> Option<String> {
    if path.extension()? != "sql" {
        return None;
    }
    Some(path.file_stem()?.to_str()?.to_string())
}

/// Parses a report file: the leading `-- key: value` comment lines, then one SQL statement.
pub fn parse(name: &str, text: &str, origin: &str) -> anyhow::Result<Report> {
    let mut title = None;
    let mut description = None;
    let mut params = Vec::new();
    for line in text.lines() {
        let Some(comment) = line.trim().strip_prefix("--") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        let comment = comment.trim();
        if let Some(value) = comment.strip_prefix("title:") {
            title = Some(value.trim().to_string());
        } else if let Some(value) = comment.strip_prefix("description:") {
            description = Some(value.trim().to_string());
        } else if let Some(value) = comment.strip_prefix("param:") {
            params.push(parse_param(value.trim())?);
        }
    }
    let Some(title) = title.filter(|title| !title.is_empty()) else {
        bail!("the header has no `-- title:` line");
    };
    let Some(description) = description.filter(|description| !description.is_empty()) else {
        bail!("the header has no `-- description:` line");
    };
    let mut seen = std::collections::HashSet::new();
    for param in &params {
        if !seen.insert(param.name.as_str()) {
            bail!("parameter {:?} is declared twice", param.name);
        }
    }
    Ok(Report { name: name.to_string(), title, description, params, sql: text.to_string(), origin: origin.to_string() })
}

fn parse_param(text: &str) -> anyhow::Result<Param> {
    let mut parts = text.splitn(3, char::is_whitespace);
    let name = parts.next().unwrap_or_default();
    let kind = parts.next().unwrap_or_default();
    let description = parts.next().unwrap_or_default().trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("invalid parameter line `-- param: {text}`; expected `-- param: NAME TYPE DESCRIPTION`");
    }
    let Some(kind) = ParamType::parse(kind) else {
        bail!("parameter {name:?} has the unknown type {kind:?}; use date, timestamp, integer or text");
    };
    Ok(Param { name: name.to_string(), kind, description: description.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "-- title: Demo\n-- description: A demo.\n-- param: since date First day (default: all time).\n\nSELECT :since;\n";

    #[test]
    fn header_parsed() {
        let report = parse("demo", REPORT, "test").unwrap();

        assert_eq!(report.title, "Demo");
        assert_eq!(report.description, "A demo.");
        assert_eq!(
            report.params,
            vec![Param {
                name: "since".into(),
                kind: ParamType::Date,
                description: "First day (default: all time).".into()
            }]
        );
    }

    #[test]
    fn missing_title_rejected() {
        let error = parse("demo", "-- description: x\nSELECT 1;", "test").unwrap_err().to_string();

        assert!(error.contains("title"), "{error}");
    }

    #[test]
    fn unknown_type_rejected() {
        let error = parse("demo", "-- title: t\n-- description: d\n-- param: n float x\nSELECT 1;", "test")
            .unwrap_err()
            .to_string();

        assert!(error.contains("unknown type \"float\""), "{error}");
    }

    #[test]
    fn user_file_replaces_shipped() {
        let dir = tempfile::tempdir().unwrap();
        let shipped = load(None).unwrap();
        let name = shipped.keys().next().expect("at least one shipped report").clone();
        std::fs::write(dir.path().join(format!("{name}.sql")), "-- title: Mine\n-- description: d\nSELECT 1;").unwrap();
        std::fs::write(dir.path().join("extra.sql"), "-- title: Extra\n-- description: d\nSELECT 2;").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a report").unwrap();

        let reports = load(Some(dir.path())).unwrap();

        assert_eq!(reports[&name].title, "Mine");
        assert_eq!(reports["extra"].title, "Extra");
        assert_eq!(reports.len(), shipped.len() + 1);
    }
}

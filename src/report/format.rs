//! Writing query results: CSV (optionally for Excel), JSON, NDJSON and aligned tables.

use std::io::Write;

use anyhow::Context;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use rusqlite::Statement;
use rusqlite::types::ValueRef;

/// An output format, as chosen by `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns that fit the terminal, money as decimal amounts.
    Table,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Output settings: the format and whether CSV is meant for spreadsheets.
#[derive(Debug, Clone, Copy)]
pub struct FormatOptions {
    pub format: Format,
    /// CSV for spreadsheets: a byte order mark, CRLF line ends, and text that a spreadsheet
    /// would run as a formula prefixed with `'`.
    pub excel: bool,
}

/// Runs a prepared statement with bound parameters and writes every row to `out`. Returns the
/// number of rows written.
pub fn write_rows(statement: &mut Statement<'_>, options: FormatOptions, out: &mut dyn Write) -> anyhow::Result<u64> {
    let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
    let mut rows = statement.raw_query();
    let mut sink = Sink::new(options, &columns, out)?;
    let mut count = 0;
    while let Some(row) = rows.next().context("the query failed")? {
        let values: Vec<ValueRef<'_>> = (0..columns.len()).map(|index| row.get_ref(index)).collect::<Result<_, _>>()?;
        sink.row(&values)?;
        count += 1;
    }
    sink.finish()?;
    Ok(count)
}

enum Sink<'a> {
    // Boxed because the CSV writer's buffer makes it several times larger than the other variants.
    Csv { writer: Box<csv::Writer<&'a mut dyn Write>>, excel: bool },
    Json { out: &'a mut dyn Write, columns: Vec<String>, first: bool, lines: bool },
    Table { out: &'a mut dyn Write, columns: Vec<String>, rows: Vec<Vec<Cell>> },
}

/// A cell kept for table output, with whether it is a number (right-aligned).
struct Cell {
    text: String,
    numeric: bool,
}

impl<'a> Sink<'a> {
    fn new(options: FormatOptions, columns: &[String], out: &'a mut dyn Write) -> anyhow::Result<Sink<'a>> {
        Ok(match options.format {
            Format::Csv => {
                if options.excel {
                    out.write_all("\u{feff}".as_bytes())?;
                }
                let terminator = if options.excel { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
                let mut writer = csv::WriterBuilder::new().terminator(terminator).from_writer(out);
                writer.write_record(columns)?;
                Sink::Csv { writer: Box::new(writer), excel: options.excel }
            }
            Format::Json | Format::Ndjson => {
                let lines = options.format == Format::Ndjson;
                if !lines {
                    out.write_all(b"[")?;
                }
                Sink::Json { out, columns: columns.to_vec(), first: true, lines }
            }
            Format::Table => Sink::Table { out, columns: columns.to_vec(), rows: Vec::new() },
        })
    }

    fn row(&mut self, values: &[ValueRef<'_>]) -> anyhow::Result<()> {
        match self {
            Sink::Csv { writer, excel } => {
                let fields: Vec<String> = values
                    .iter()
                    .map(|value| match value {
                        ValueRef::Text(_) if *excel => neutralize_formula(&text_of(*value)),
                        _ => text_of(*value),
                    })
                    .collect();
                writer.write_record(&fields)?;
            }
            Sink::Json { out, columns, first, lines } => {
                let object: serde_json::Map<String, serde_json::Value> =
                    columns.iter().cloned().zip(values.iter().map(|value| json_of(*value))).collect();
                let text = serde_json::to_string(&object)?;
                if *lines {
                    writeln!(out, "{text}")?;
                } else {
                    let separator = if *first { "\n" } else { ",\n" };
                    write!(out, "{separator}{text}")?;
                }
                *first = false;
            }
            Sink::Table { columns, rows, .. } => {
                let cells =
                    values.iter().zip(columns.iter()).map(|(value, column)| table_cell(*value, column)).collect();
                rows.push(cells);
            }
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Csv { mut writer, .. } => writer.flush()?,
            Sink::Json { out, first, lines, .. } => {
                if !lines {
                    out.write_all(if first { b"]\n" } else { b"\n]\n" })?;
                }
                out.flush()?;
            }
            Sink::Table { out, columns, rows } => {
                writeln!(out, "{}", render_table(&columns, rows))?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// Renders rows for people. A `*_cents` column is shown as a decimal amount, and left out when
/// the report already has the decimal column next to it (`total` beside `total_cents`).
fn render_table(columns: &[String], rows: Vec<Vec<Cell>>) -> String {
    let shown: Vec<usize> = (0..columns.len())
        .filter(|&index| match columns[index].strip_suffix("_cents") {
            Some(base) => !columns.iter().any(|column| column == base),
            None => true,
        })
        .collect();
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(shown.iter().map(|&index| header_of(&columns[index])));
    // A decimal column with a `_cents` twin shows the twin's exact amount with two decimals,
    // because the REAL column would print 19.9 for 1990 cents.
    let twins: Vec<Option<usize>> =
        columns.iter().map(|column| columns.iter().position(|other| *other == format!("{column}_cents"))).collect();
    for row in &rows {
        table.add_row(shown.iter().map(|&index| {
            let source = match twins[index] {
                Some(twin) if !row[twin].text.is_empty() => &row[twin],
                _ => &row[index],
            };
            let cell = comfy_table::Cell::new(&source.text);
            if source.numeric { cell.set_alignment(CellAlignment::Right) } else { cell }
        }));
    }
    if rows.is_empty() {
        return format!("{table}\n(no rows)");
    }
    table.to_string()
}

fn header_of(column: &str) -> String {
    column.strip_suffix("_cents").map(str::to_string).unwrap_or_else(|| column.to_string())
}

fn table_cell(value: ValueRef<'_>, column: &str) -> Cell {
    match value {
        ValueRef::Integer(cents) if column.ends_with("_cents") => Cell { text: format_cents(cents), numeric: true },
        ValueRef::Integer(_) | ValueRef::Real(_) => Cell { text: text_of(value), numeric: true },
        ValueRef::Null => Cell { text: String::new(), numeric: false },
        _ => Cell { text: text_of(value), numeric: false },
    }
}

/// Formats integer cents as a decimal amount: `-1999` becomes `-19.99`.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let magnitude = cents.unsigned_abs();
    format!("{sign}{}.{:02}", magnitude / 100, magnitude % 100)
}

/// Returns the text of a value as CSV writes it: NULL is empty, a REAL is written the way
/// `sqlite3` writes it, a BLOB as lowercase hex.
pub fn text_of(value: ValueRef<'_>) -> String {
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(number) => number.to_string(),
        ValueRef::Real(number) => format_real(number),
        ValueRef::Text(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        ValueRef::Blob(bytes) => bytes.iter().map(|byte| format!("{byte:02x}")).collect(),
    }
}

fn json_of(value: ValueRef<'_>) -> serde_json::Value {
    match value {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(number) => serde_json::Value::from(number),
        ValueRef::Real(number) => serde_json::Number::from_f64(number).map_or(serde_json::Value::Null, Into::into),
        ValueRef::Text(_) | ValueRef::Blob(_) => serde_json::Value::String(text_of(value)),
    }
}

/// Formats a REAL as SQLite's `%!.15g` does, so CSV from the tool and from `sqlite3` agree:
/// 15 significant digits, a `.0` on whole numbers, and an exponent below 1e-4 or from 1e15.
pub fn format_real(number: f64) -> String {
    if number.is_nan() {
        return String::new();
    }
    if number.is_infinite() {
        return if number > 0.0 { "Inf".to_string() } else { "-Inf".to_string() };
    }
    if number == 0.0 {
        return "0.0".to_string();
    }
    let scientific = format!("{number:.14e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("`e` formatting always has an exponent");
    let exponent: i32 = exponent.parse().expect("the exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let sign = if negative { "-" } else { "" };

    if !(-4..15).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        let exponent_sign = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{first}.{rest}e{exponent_sign}{:02}", exponent.abs());
    }
    if exponent < 0 {
        let zeros = "0".repeat((-exponent - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = exponent as usize + 1;
    if digits.len() <= point {
        format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    }
}

/// Prefixes text that a spreadsheet would run as a formula with `'`, as OWASP recommends for
/// CSV injection: text starting with `=`, `+`, `-`, `@`, a tab or a carriage return.
fn neutralize_formula(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_formatted_like_sqlite() {
        let cases = [
            (19.99, "19.99"),
            (20.0, "20.0"),
            (0.1 + 0.2, "0.3"),
            (1e20, "1.0e+20"),
            (1.5e-5, "1.5e-05"),
            (123456789012345678.0, "1.23456789012346e+17"),
            (-0.5, "-0.5"),
            (100.0, "100.0"),
            (1e15, "1.0e+15"),
            (1e14, "100000000000000.0"),
            (0.0001, "0.0001"),
            (1e-5, "1.0e-05"),
            (2.5e-300, "2.5e-300"),
            (f64::INFINITY, "Inf"),
            (9007199254740993.0, "9.00719925474099e+15"),
            (1.0 / 3.0, "0.333333333333333"),
            (0.0, "0.0"),
            (-1234.5, "-1234.5"),
        ];
        for (number, expected) in cases {
            assert_eq!(format_real(number), expected, "{number:e}");
        }
    }

    #[test]
    fn cents_as_decimal() {
        assert_eq!(format_cents(1999), "19.99");
        assert_eq!(format_cents(-5), "-0.05");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(100), "1.00");
    }

    #[test]
    fn formulas_neutralized() {
        for text in ["=SUM(1)", "+1", "-2", "@x", "\tx", "\rx"] {
            assert!(neutralize_formula(text).starts_with('\''), "{text:?}");
        }
        assert_eq!(neutralize_formula("Zoë"), "Zoë");
        assert_eq!(neutralize_formula(""), "");
    }
}

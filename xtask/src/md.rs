//! Markdown table cells from the benchmark's JSON.

use serde_json::Value;

/// One table row.
pub fn row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

/// A JSON value as a cell: strings unquoted, null as "-".
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

//! Tables for people, JSON for scripts, one-line errors, progress on stderr.

use std::io::IsTerminal;

use phala_cloud::Error;
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::Format;

/// Where and how results are printed.
pub struct Out {
    pub format: Format,
    color: bool,
    pub progress: bool,
}

impl Out {
    pub fn new(format: Format, force_progress: bool) -> Self {
        Self {
            format,
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            progress: force_progress || std::io::stderr().is_terminal(),
        }
    }

    /// A status word, coloured on a terminal.
    pub fn status(&self, s: &str) -> String {
        if !self.color {
            return s.to_string();
        }
        let code = match s {
            "running" => "32",
            "stopped" => "90",
            "stopping" | "starting" | "pending" => "33",
            "error" | "exited" | "offline" => "31",
            _ => "0",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    /// One row of fixed-width columns (the last unpadded), for rows that
    /// print before the widest cell is known; a longer cell pushes the rest.
    pub fn row(&self, widths: &[usize], cells: &[String]) {
        let last = cells.len().saturating_sub(1);
        let cells: Vec<std::borrow::Cow<'_, str>> = cells.iter().map(|c| safe_cell(c)).collect();
        let line: String = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = if i == last {
                    0
                } else {
                    widths.get(i).copied().unwrap_or(0).saturating_sub(visible_width(c))
                };
                format!("{c}{}{}", " ".repeat(pad), if i == last { "" } else { "  " })
            })
            .collect();
        outln!("{}", line.trim_end());
    }

    /// Prints aligned columns; cells may carry colour codes.
    pub fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        let visible = visible_width;
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| r.iter().map(|c| safe_cell(c).into_owned()).collect())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(visible(cell));
            }
        }
        let line = |cells: Vec<String>| {
            let last = cells.len().saturating_sub(1);
            let parts: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == last {
                        c.clone()
                    } else {
                        format!("{c}{}", " ".repeat(widths[i] - visible(c)))
                    }
                })
                .collect();
            outln!("{}", parts.join("  ").trim_end());
        };
        line(header.iter().map(|h| h.to_string()).collect());
        for row in &rows {
            line(row.clone());
        }
    }

    pub fn json<T: Serialize>(&self, value: &T) {
        let text = match self.format {
            Format::Jsonl => serde_json::to_string(value),
            _ => serde_json::to_string_pretty(value),
        };
        match text {
            Ok(text) => outln!("{text}"),
            Err(e) => eprintln!("error: cannot render JSON: {e}"),
        }
    }

    /// Errors go to stderr in every mode, so stdout carries only the
    /// result (as `gh` and `kubectl` do): one line for people, or one JSON
    /// document under `-o json`.
    pub fn error(&self, e: &Error) {
        match self.format {
            Format::Table => eprintln!("error: {e}"),
            Format::Json | Format::Jsonl => match serde_json::to_string(&json!({ "error": error_json(e) })) {
                Ok(text) => eprintln!("{text}"),
                Err(_) => eprintln!("error: {e}"),
            },
        }
    }
}

/// Characters a terminal shows: colour codes take none.
fn visible_width(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            _ => n += 1,
        }
    }
    n
}

/// Text from a server or a CVM (names, log lines) made safe for a
/// terminal: control characters, escape sequences and bidirectional
/// overrides are shown escaped (`\u{1b}`), never interpreted.
pub fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    escaped(s, is_unsafe)
}

/// Log text for a terminal: as [`safe`], but a tab stays a tab.
pub fn safe_log(s: &str) -> std::borrow::Cow<'_, str> {
    escaped(s, |c| c != '\t' && is_unsafe(c))
}

/// `s` with every character `escape` picks shown as `\u{..}`.
fn escaped(s: &str, escape: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(&escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut clean = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if escape(c) {
            clean.extend(c.escape_unicode());
        } else {
            clean.push(c);
        }
    }
    std::borrow::Cow::Owned(clean)
}

/// Characters a terminal would act on rather than show.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A table cell made safe, keeping the colour codes [`Out::status`] adds
/// (`ESC [ digits m`) and escaping every other control character.
fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if !cell.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(cell);
    }
    let mut clean = String::with_capacity(cell.len() + 8);
    let mut rest = cell;
    while let Some(c) = rest.chars().next() {
        let sgr = rest
            .strip_prefix("\x1b[")
            .and_then(|r| r.find('m').map(|end| (end, r)))
            .filter(|(end, r)| r[..*end].bytes().all(|b| b.is_ascii_digit() || b == b';'));
        if let Some((end, _)) = sgr {
            clean.push_str(&rest[..end + 3]);
            rest = &rest[end + 3..];
            continue;
        }
        clean.push_str(&safe(&rest[..c.len_utf8()]));
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(clean)
}

/// A missing value in a table.
pub fn dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

/// The structured form of an error, with stable field names.
pub fn error_json(e: &Error) -> Value {
    let mut value = match e.api() {
        Some(api) => json!({
            "kind": kind_name(api.kind()),
            "status": api.status,
            "error_code": api.error_code,
            "message": api.message,
            "request_id": api.request_id,
            "details": api.details,
            "field_errors": api.field_errors.iter().map(|f| json!({"loc": f.loc, "msg": f.msg, "type": f.kind})).collect::<Vec<_>>(),
            "retry_after_secs": api.retry_after.map(|d| d.as_secs()),
        }),
        None => json!({
            "kind": match e.last_attempt() {
                Error::Deadline { .. } => "deadline",
                _ if e.is_timeout() => "timeout",
                Error::Config(_) | Error::MissingEnv(_) => "config",
                Error::InvalidInput(_) => "invalid_input",
                Error::Transport { .. } => "transport",
                Error::Timeout(_) => "timeout",
                Error::Decode { .. } => "decode",
                Error::BodyTooLarge { .. } => "body_too_large",
                Error::Unsettled(_) => "unsettled",
                Error::NoSuchCvm(_) => "not_found",
                Error::AmbiguousCvm { .. } => "ambiguous",
                Error::Trust(_) => "trust",
                Error::OnChainHashRequired(_) => "on_chain_hash_required",
                _ => "other",
            },
            "message": e.to_string(),
        }),
    };
    // After retries: how many attempts, and the whole account in words.
    if let (Error::GaveUp { attempts, .. }, Some(fields)) = (e, value.as_object_mut()) {
        fields.insert("attempts".into(), json!(attempts));
        fields.insert("summary".into(), json!(e.to_string()));
    }
    value
}

/// A stable snake_case name for an API error kind.
fn kind_name(kind: phala_cloud::ApiErrorKind) -> &'static str {
    use phala_cloud::ApiErrorKind as K;
    match kind {
        K::BadRequest => "bad_request",
        K::Unauthorized => "unauthorized",
        K::Forbidden => "forbidden",
        K::NotFound => "not_found",
        K::Conflict => "conflict",
        K::OperationInProgress => "operation_in_progress",
        K::Validation => "validation",
        K::RateLimited => "rate_limited",
        K::KmsPrecondition => "kms_precondition",
        K::Server => "server",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_shown_not_interpreted() {
        assert_eq!(safe("web-1"), "web-1");
        assert_eq!(safe("a\x1b]0;pwned\x07b"), "a\\u{1b}]0;pwned\\u{7}b");
        assert_eq!(safe("x\u{202e}y"), "x\\u{202e}y");
        // Log text keeps its tabs, and nothing else a terminal would act on.
        assert_eq!(safe_log("a\tb"), "a\tb");
        assert_eq!(safe_log("\x1b]0;pwned\x07x\x1b[2J"), "\\u{1b}]0;pwned\\u{7}x\\u{1b}[2J");
        // Our own colour codes survive in a cell; a server's clear-screen does not.
        assert_eq!(safe_cell("\x1b[32mrunning\x1b[0m"), "\x1b[32mrunning\x1b[0m");
        assert_eq!(safe_cell("\x1b[2Jname"), "\\u{1b}[2Jname");
        assert_eq!(visible_width(&safe_cell("\x1b[2J")), 9);
    }
}

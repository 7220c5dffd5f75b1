//! The CVMs' logs over HTTP, where a CVM's `syslog_endpoint` and its
//! containers' `log_endpoint` (`GET /cvms/{cvm_id}/composition`) point:
//!
//! - `GET /logs/syslog?token=T&ch=serial|stdout|stderr`: the CVM's serial
//!   console (the default) or its VM's stdout or stderr, plain text, a line
//!   each;
//! - `GET /logs/containers?token=T&container=NAME`: one container's stdout
//!   and stderr interleaved in time (`NAME` as the composition names it,
//!   with or without its `/`, or its id).
//!
//! These are not API operations: no `/api/v1`, no API key (the token names
//! the CVM; Phala's CLI fetches these URLs with no header at all), so they
//! are outside the route table and `--list-operations`. The token is
//! opaque; an unknown one (or a deleted CVM's) is a 404, a bad query value
//! a 400, both in the service's error shape.
//!
//! The query flags are those Phala's CLI sends; a flag needs no value
//! (`&follow`; `=true`/`=1`, `=false`/`=0` are read too):
//! - `since`, `until`: RFC 3339, Unix seconds, or a time before now
//!   (`10m`, `1h30m`, `2d`: units s, m, h, d), on the simulated clock;
//!   `since` keeps lines at or after it, `until` those before it.
//! - `tail=N` (or `lines=N`, the CLI sends both): the last N lines of those,
//!   `all` for all; 1000 by default for a container, everything kept for
//!   the syslog.
//! - `timestamps`: each line starts with its RFC 3339 timestamp
//!   (nanoseconds, `Z`) and a space, as docker stamps it.
//! - A container's answer, as dstack's guest agent gives it: NDJSON, one
//!   `{"channel":"stdout"|"stderr","message":M}` per line, `M` the base64
//!   of the line with its newline (and timestamp); with `text`, `M` is the
//!   line as text. With `bare`, no JSON: with `text` the lines themselves,
//!   without it each line's base64 on a line of its own.
//! - `ansi`: keep terminal escapes. Without it, the plain text answers
//!   (`text&bare`, the syslog) have escape sequences and control bytes other
//!   than tab and newline removed. Plain text (and a `text` message) is
//!   UTF-8, bytes that are not replaced; base64 carries the line as printed.
//! - `follow`: a chunked answer that sends the lines selected, then every
//!   new line as the CVM prints it while it runs; it ends when the CVM stops
//!   running (after its shutdown lines), is deleted, `until` passes, the
//!   simulator stops or the client goes. Nothing waits holding the
//!   simulator's lock: a stream sleeps until its CVM's next line falls due
//!   (simulated time) or a request may have changed the fleet.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::json;
use tokio::time::Instant;

use crate::logs::{Channel, CvmLog, Line, catch_up};
use crate::state::{RequestId, Shared, api_error, query_pairs};

/// A log query the service refuses.
const BAD_LOG_QUERY: &str = "ERR-03-020";

/// A container the CVM does not run.
const NO_SUCH_CONTAINER: &str = "ERR-03-021";

/// Lines a container's answer gives without `tail`, as dstack's guest agent.
const CONTAINER_TAIL: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Syslog,
    Container,
}

/// Whose lines: a syslog channel, or a container by the key asked.
#[derive(Debug, Clone)]
enum Source {
    Syslog(Channel),
    Container(String),
}

#[derive(Debug, Clone, Copy, Default)]
struct Format {
    text: bool,
    bare: bool,
    timestamps: bool,
    ansi: bool,
}

fn bad(rid: &str, msg: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, BAD_LOG_QUERY, msg, rid)
}

/// A flag: present (no value, or a true one), absent or false.
fn flag(query: &BTreeMap<String, String>, name: &str, rid: &str) -> Result<bool, Response> {
    let Some(raw) = query.get(name) else { return Ok(false) };
    match raw.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(rid, &format!("Invalid value for {name}: {raw}"))),
    }
}

/// `tail` (or `lines`): a count, `all` (`None`), or the default.
fn tail(query: &BTreeMap<String, String>, default: Option<usize>, rid: &str) -> Result<Option<usize>, Response> {
    let Some((name, raw)) = ["tail", "lines"]
        .into_iter()
        .find_map(|n| query.get(n).map(|v| (n, v.trim())))
        .filter(|(_, v)| !v.is_empty())
    else {
        return Ok(default);
    };
    if raw.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(rid, &format!("Invalid {name}: {raw} (a number of lines, or all)")));
    }
    Ok(Some(raw.parse().unwrap_or(usize::MAX)))
}

/// A `since`/`until` value (see the module): `Ok(None)` for none (empty, 0).
fn parse_time(raw: &str, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, ()> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    if raw.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = raw.parse().map_err(|_| ())?;
        return if secs == 0 {
            Ok(None)
        } else {
            DateTime::from_timestamp(secs, 0).map(Some).ok_or(())
        };
    }
    let mut total: i64 = 0;
    let mut rest = raw;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let number: i64 = rest[..digits].parse().map_err(|_| ())?;
        let unit = match rest[digits..].chars().next() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(()),
        };
        total = number.checked_mul(unit).and_then(|n| total.checked_add(n)).ok_or(())?;
        rest = &rest[digits + 1..];
    }
    let back = Duration::try_seconds(total).ok_or(())?;
    Ok(Some(now.checked_sub_signed(back).ok_or(())?))
}

/// The lines of `source` numbered after `after`, within `[since, until)`,
/// with their channels, in order; `None` when the CVM runs no such container.
fn select(
    log: &CvmLog,
    source: &Source,
    after: u64,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Option<Vec<(Channel, Line)>> {
    let newer = |lines: &std::collections::VecDeque<Line>, channel: Channel| {
        let from = lines.partition_point(|l| l.seq < after);
        lines
            .range(from..)
            .filter(|l| since.is_none_or(|s| l.at >= s) && until.is_none_or(|u| l.at < u))
            .map(|l| (channel, l.clone()))
            .collect::<Vec<_>>()
    };
    match source {
        Source::Syslog(channel) => Some(newer(log.channel(*channel), *channel)),
        Source::Container(key) => {
            let c = log.containers.iter().find(|c| c.is(key))?;
            let mut lines = newer(&c.stdout, Channel::Stdout);
            lines.extend(newer(&c.stderr, Channel::Stderr));
            lines.sort_by_key(|(_, l)| l.seq);
            Some(lines)
        }
    }
}

/// `text` without terminal escape sequences (CSI, OSC, DCS and the like,
/// and two-byte escapes) and control bytes other than tab and newline.
fn strip_escapes(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        i += 1;
        if b != 0x1b {
            if (b >= 0x20 && b != 0x7f) || b == b'\t' || b == b'\n' {
                out.push(b);
            }
            continue;
        }
        match text.get(i) {
            // CSI: parameters up to a final byte in @..~.
            Some(b'[') => {
                i += 1;
                while i < text.len() && !(0x40..=0x7e).contains(&text[i]) {
                    i += 1;
                }
                i += 1;
            }
            // OSC, DCS, SOS, PM, APC: a string up to BEL or ESC \.
            Some(b']' | b'P' | b'X' | b'^' | b'_') => {
                i += 1;
                while i < text.len() && text[i] != 0x07 && !(text[i] == 0x1b && text.get(i + 1) == Some(&b'\\')) {
                    i += 1;
                }
                i += if text.get(i) == Some(&0x1b) { 2 } else { 1 };
            }
            Some(_) => i += 1,
            None => {}
        }
    }
    out
}

/// The answer's bytes for `lines`.
fn render(lines: &[(Channel, Line)], kind: Kind, format: Format) -> Vec<u8> {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for (channel, line) in lines {
        let mut message = Vec::with_capacity(line.text.len() + 32);
        if format.timestamps {
            message.extend_from_slice(line.at.to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
            message.push(b' ');
        }
        message.extend_from_slice(&line.text);
        message.push(b'\n');
        if kind == Kind::Syslog || (format.bare && format.text) {
            // Plain text is UTF-8 (bytes that are not, replaced).
            let message = String::from_utf8_lossy(&message);
            if format.ansi {
                out.extend_from_slice(message.as_bytes());
            } else {
                out.extend_from_slice(&strip_escapes(message.as_bytes()));
            }
        } else if format.bare {
            out.extend_from_slice(engine.encode(&message).as_bytes());
            out.push(b'\n');
        } else {
            let message = if format.text {
                String::from_utf8_lossy(&message).into_owned()
            } else {
                engine.encode(&message)
            };
            out.extend_from_slice(
                json!({"channel": channel.name(), "message": message})
                    .to_string()
                    .as_bytes(),
            );
            out.push(b'\n');
        }
    }
    out
}

fn text_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A follow stream: the lines after `watermark` as they come.
struct Follower {
    shared: Arc<Shared>,
    idx: usize,
    source: Source,
    kind: Kind,
    format: Format,
    until: Option<DateTime<Utc>>,
    watermark: u64,
    wake: Instant,
    changed: tokio::sync::watch::Receiver<()>,
    pending: Option<Bytes>,
    done: bool,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.shared.lock().logs.follow(self.idx, -1);
    }
}

impl Follower {
    /// Catches the CVM's log up and takes its new lines; ends the stream
    /// when the CVM has stopped running (or is gone, or `until` passed).
    fn look(&mut self) {
        let (mut inner, now) = self.shared.now();
        if inner.fleet.cvms.get(self.idx).is_none_or(|c| c.deleted) {
            inner.logs.forget(self.idx);
            self.done = true;
            return;
        }
        if self.shared.hub.closed.load(Ordering::Relaxed) {
            self.done = true;
            return;
        }
        let at = inner.fleet.clock(now, self.shared.origin);
        catch_up(&mut inner, self.idx, at);
        let Some(log) = inner.logs.get(self.idx) else {
            self.done = true;
            return;
        };
        let lines = select(log, &self.source, self.watermark, None, self.until).unwrap_or_default();
        self.watermark = log.next_seq();
        let (running, due) = (log.running(), log.next_due());
        drop(inner);
        if !lines.is_empty() {
            self.pending = Some(render(&lines, self.kind, self.format).into());
        }
        if !running || self.until.is_some_and(|u| at >= u) {
            self.done = true;
            return;
        }
        let wait = due
            .and_then(|d| (d - at).to_std().ok())
            .map_or(std::time::Duration::from_secs(1), |d| self.shared.config.real(d));
        self.wake = now + wait.clamp(std::time::Duration::from_millis(2), std::time::Duration::from_secs(60));
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        loop {
            if let Some(chunk) = self.pending.take() {
                return Some((Ok(chunk), self));
            }
            if self.done {
                return None;
            }
            tokio::select! {
                changed = self.changed.changed() => {
                    if changed.is_err() {
                        self.done = true;
                        continue;
                    }
                }
                () = tokio::time::sleep_until(self.wake) => {}
            }
            self.look();
        }
    }
}

/// `GET /logs/syslog`.
pub(crate) async fn syslog(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(shared, &rid, raw.as_deref(), Kind::Syslog)
}

/// `GET /logs/containers`.
pub(crate) async fn container(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    RawQuery(raw): RawQuery,
) -> Response {
    serve(shared, &rid, raw.as_deref(), Kind::Container)
}

fn serve(shared: Arc<Shared>, rid: &str, raw: Option<&str>, kind: Kind) -> Response {
    let (_, query) = query_pairs(raw);
    let parsed = (|| {
        let format = Format {
            text: flag(&query, "text", rid)?,
            bare: flag(&query, "bare", rid)?,
            timestamps: flag(&query, "timestamps", rid)?,
            ansi: flag(&query, "ansi", rid)?,
        };
        let follow = flag(&query, "follow", rid)?;
        let default = (kind == Kind::Container).then_some(CONTAINER_TAIL);
        let tail = tail(&query, default, rid)?;
        let source = match kind {
            Kind::Syslog => {
                let ch = query.get("ch").map_or("serial", String::as_str);
                Source::Syslog(Channel::parse(ch).ok_or_else(|| bad(rid, &format!("Unknown channel {ch}")))?)
            }
            Kind::Container => match query.get("container").filter(|c| !c.is_empty()) {
                Some(name) => Source::Container(name.clone()),
                None => return Err(bad(rid, "container is required")),
            },
        };
        let token = query.get("token").ok_or_else(|| bad(rid, "token is required"))?;
        Ok((format, follow, tail, source, token))
    })();
    let (format, follow, tail, source, token) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (mut inner, now) = shared.now();
    let at = inner.fleet.clock(now, shared.origin);
    let mut bounds = [None, None];
    for (slot, name) in bounds.iter_mut().zip(["since", "until"]) {
        if let Some(raw) = query.get(name) {
            match parse_time(raw, at) {
                Ok(t) => *slot = t,
                Err(()) => return bad(rid, &format!("Invalid {name}: {raw}")),
            }
        }
    }
    let [since, until] = bounds;
    let idx = inner.fleet.log_urls.as_ref().and_then(|u| u.index(&inner.fleet, token));
    let Some(idx) = idx.filter(|&i| !inner.fleet.cvms[i].deleted) else {
        if let Some(i) = idx {
            inner.logs.forget(i);
        }
        let msg = "No CVM has this log token (it may have been deleted)";
        return api_error(StatusCode::NOT_FOUND, "ERR-03-001", msg, rid);
    };
    catch_up(&mut inner, idx, at);
    let Some(log) = inner.logs.get(idx) else {
        return api_error(StatusCode::NOT_FOUND, "ERR-03-001", "No log for this CVM", rid);
    };
    let Some(mut lines) = select(log, &source, 0, since, until) else {
        let name = match &source {
            Source::Container(name) => name.as_str(),
            Source::Syslog(channel) => channel.name(),
        };
        return api_error(
            StatusCode::NOT_FOUND,
            NO_SUCH_CONTAINER,
            &format!("No such container: {name}"),
            rid,
        );
    };
    if let Some(n) = tail {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let first = render(&lines, kind, format);
    if !follow {
        return text_response(Body::from(first));
    }
    let follower = Follower {
        idx,
        source,
        kind,
        format,
        until,
        watermark: log.next_seq(),
        wake: now,
        changed: shared.logs_wake.subscribe(),
        pending: (!first.is_empty()).then(|| first.into()),
        done: !log.running() || until.is_some_and(|u| at >= u),
        shared: shared.clone(),
    };
    // A followed log is never dropped to make room (its sequence goes on).
    inner.logs.follow(idx, 1);
    drop(inner);
    text_response(Body::from_stream(futures::stream::unfold(follower, Follower::next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_unix_seconds_or_relative() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = |raw: &str| parse_time(raw, now);
        assert_eq!(at(""), Ok(None));
        assert_eq!(at("0"), Ok(None));
        assert_eq!(at("1700000000"), Ok(DateTime::from_timestamp(1_700_000_000, 0)));
        let utc: DateTime<Utc> = "2027-01-15T08:00:00Z".parse().unwrap();
        assert_eq!(at("2027-01-15T10:00:00+02:00"), Ok(Some(utc)));
        assert_eq!(at("10m"), Ok(Some(now - Duration::minutes(10))));
        assert_eq!(at("1h30m"), Ok(Some(now - Duration::minutes(90))));
        assert_eq!(at("2d"), Ok(Some(now - Duration::days(2))));
        for bad in [
            "yesterday",
            "m",
            "10x",
            "5m3",
            "-5m",
            "99999999999999999999d",
            "9223372036854775807d",
        ] {
            assert!(at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escapes_and_control_bytes_are_stripped_text_kept() {
        let hostile = b"\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[31mred\x1b[0m \x1b]52;c;eA==\x1b\\tab\there\r\x07\x08end\n";
        assert_eq!(strip_escapes(hostile), b"red tab\thereend\n".to_vec());
        assert_eq!(
            strip_escapes("d\u{e9}j\u{e0} vu\n".as_bytes()),
            "d\u{e9}j\u{e0} vu\n".as_bytes()
        );
        assert_eq!(strip_escapes(b"cut \x1b["), b"cut ".to_vec());
        assert_eq!(strip_escapes(b"cut \x1b]0;title"), b"cut ".to_vec());
    }
}

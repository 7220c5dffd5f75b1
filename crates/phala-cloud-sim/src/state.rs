//! What every route shares: the simulator's state behind its lock, who is
//! calling (auth, workspace, API version), the service's error shapes, the
//! lookup of a CVM by any form of its id, and query parsing. The route
//! modules depend on this one, never the other way.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::{CVMINFO_SINCE, Faults, KNOWN_VERSIONS, SimConfig};
use crate::fleet::Fleet;
use crate::rng::Rng;
use crate::stats::Stats;

/// Who a key belongs to.
#[derive(Debug, Clone)]
pub(crate) struct KeyInfo {
    pub label: &'static str,
    pub workspaces: Vec<usize>,
    pub admin: bool,
}

/// State shared by every request.
pub(crate) struct Shared {
    pub config: SimConfig,
    /// The simulated KMS (its keys never change).
    pub kms: std::sync::Arc<crate::deploy::Kms>,
    pub origin: Instant,
    pub keys: BTreeMap<String, KeyInfo>,
    pub inner: Mutex<Inner>,
    /// Webhook deliveries: the pump's wake-up, the HTTP client.
    pub hub: crate::webhooks::Hub,
    /// Marked after every request (and a CVM deleted, the simulator
    /// stopping): log streams that follow a CVM look again.
    pub logs_wake: tokio::sync::watch::Sender<()>,
}

pub(crate) struct Inner {
    pub fleet: Fleet,
    pub rng: Rng,
    pub stats: Stats,
    pub faults: Faults,
    pub next_request: u64,
    pub deployments: crate::deploy::Deployments,
    pub webhooks: crate::webhooks::Store,
    /// The CVMs' logs read so far.
    pub logs: crate::logs::Store,
    /// SSH keys, CVM settings, device logins.
    pub records: crate::records::Records,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks and applies due transitions.
    pub fn now(&self) -> (MutexGuard<'_, Inner>, Instant) {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.fleet.tick(now, self.origin);
        (inner, now)
    }
}

/// The per-request id, also sent as `X-Request-ID`.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// An authenticated caller.
pub(crate) struct Caller {
    pub label: &'static str,
    pub workspace: usize,
    /// The workspaces the key may act in (an admin's: any).
    pub workspaces: Vec<usize>,
    pub admin: bool,
    pub cvminfo: bool,
    /// Lifecycle records carry the hashed id (2026-05-22 on), not the integer.
    pub hashed_ids: bool,
    /// `GET /kms/{id}` resolves a KMS contract (2026-06-23 on).
    pub kms_contracts: bool,
}

impl Caller {
    pub fn sees(&self, fleet: &Fleet, idx: usize) -> bool {
        self.admin || fleet.cvms[idx].workspace == self.workspace
    }
}

/// A structured business error, FastAPI style (under `detail`).
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({"detail": {
        "error_code": code, "message": message, "details": [], "suggestions": [], "links": [], "request_id": request_id,
    }});
    (status, axum::Json(body)).into_response()
}

/// A FastAPI validation error.
pub(crate) fn validation_error(loc: &[&str], msg: &str, kind: &str, input: Value) -> Response {
    let body = json!({"detail": [{"type": kind, "loc": loc, "msg": msg, "input": input}]});
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// The API version a request asks for (`X-Phala-Version`, `latest`, or
/// the simulator's default); `Err` with what it asked when that is unknown.
fn version_name<'a>(shared: &'a Shared, headers: &'a HeaderMap) -> Result<&'a str, &'a str> {
    match header_str(headers, "x-phala-version") {
        None => Ok(shared.config.default_version.as_str()),
        Some(v) if v.eq_ignore_ascii_case("latest") => Ok(KNOWN_VERSIONS[KNOWN_VERSIONS.len() - 1]),
        Some(v) if KNOWN_VERSIONS.contains(&v) => Ok(v),
        Some(v) => Err(v),
    }
}

/// The API version of a request that carries no key (a commit token
/// stands for one); `None` when it names an unknown version.
pub(crate) fn version_of(shared: &Shared, headers: &HeaderMap) -> Option<phala_cloud_api::versions::ApiVersion> {
    phala_cloud_api::versions::ApiVersion::parse(version_name(shared, headers).ok()?).ok()
}

/// Authenticates a request and resolves its workspace and API version.
pub(crate) fn authenticate(shared: &Shared, headers: &HeaderMap, rid: &str) -> Result<Caller, Response> {
    let key = header_str(headers, "x-api-key").or_else(|| {
        header_str(headers, "authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
    });
    let Some(key) = key else {
        return Err((
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"detail": "Not authenticated"})),
        )
            .into_response());
    };
    // Phala's error code list has no code for a key it does not know (its
    // ERR-01-001 is NODE_NOT_FOUND): FastAPI's plain 401; the request id is
    // in `X-Request-ID`.
    let Some(info) = shared.keys.get(key) else {
        let body = json!({"detail": "Invalid API key"});
        return Err((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
    };
    let version = match version_name(shared, headers) {
        Ok(v) => v,
        Err(v) => {
            let msg = format!(
                "Unknown API version '{v}'. Known versions: {}",
                KNOWN_VERSIONS.join(", ")
            );
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                crate::codes::INVALID_REQUEST,
                &msg,
                rid,
            ));
        }
    };
    let workspace = match header_str(headers, "x-phala-workspace") {
        None => info.workspaces[0],
        Some(w) => {
            let inner = shared.lock();
            let found = inner.fleet.workspaces.iter().position(|ws| ws.id == w || ws.name == w);
            match found.filter(|i| info.admin || info.workspaces.contains(i)) {
                Some(i) => i,
                None => {
                    return Err(api_error(
                        StatusCode::FORBIDDEN,
                        crate::codes::PERMISSION_DENIED,
                        "No access to this workspace",
                        rid,
                    ));
                }
            }
        }
    };
    Ok(Caller {
        label: info.label,
        workspace,
        workspaces: info.workspaces.clone(),
        admin: info.admin,
        cvminfo: version >= CVMINFO_SINCE,
        hashed_ids: phala_cloud_api::versions::ApiVersion::parse(version).is_ok_and(|v| v.hashed_ids_everywhere()),
        kms_contracts: phala_cloud_api::versions::ApiVersion::parse(version).is_ok_and(|v| v.kms_contract_centric()),
    })
}

/// What every handler that needs a key starts with, as an extractor: the
/// request's id (from the server's layer) and the caller its key
/// authenticates; a request the key does not authenticate is answered with
/// the rejection (401, or 400 for an unknown API version).
pub(crate) struct Authed {
    pub caller: Caller,
    pub rid: String,
}

impl axum::extract::FromRequestParts<std::sync::Arc<Shared>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        shared: &std::sync::Arc<Shared>,
    ) -> Result<Self, Response> {
        let rid = parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        let caller = authenticate(shared, &parts.headers, &rid)?;
        Ok(Authed { caller, rid })
    }
}

/// Stops a handler applied, attached to its response for the fault layer.
#[derive(Clone)]
pub(crate) struct AppliedStops(pub Vec<String>);

/// A lifecycle call a handler applied, attached to its response for the fault layer.
#[derive(Clone)]
pub(crate) struct Applied(pub &'static str, pub String);

impl Inner {
    /// Counts lifecycle call `action` reaching its handler for CVM `id`.
    pub(crate) fn requested(&mut self, action: &str, id: &str) {
        *self
            .stats
            .action_requests
            .entry((action.to_string(), id.to_string()))
            .or_default() += 1;
    }

    /// Counts `action` applied to CVM `id`, and marks `response` with it, so
    /// the fault layer can tell an applied call whose answer is then lost.
    pub(crate) fn applied(&mut self, action: &'static str, id: String, mut response: Response) -> Response {
        *self
            .stats
            .actions_applied
            .entry((action.to_string(), id.clone()))
            .or_default() += 1;
        response.extensions_mut().insert(Applied(action, id));
        response
    }
}

/// Integer syntax as the service parses a query integer: an optional sign, then digits.
pub(crate) fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Parses an optional bounded integer query parameter, FastAPI style. The
/// service's integers are Python's, of any size: one past `u64` is not
/// unparsable, it is out of range (below `min` if negative; `u64::MAX`, then
/// checked against `max`, if positive).
pub(crate) fn bounded(
    query: &BTreeMap<String, String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, Response> {
    let Some(raw) = query.get(name) else { return Ok(default) };
    let input = Value::String(raw.clone());
    if !is_integer(raw) {
        return Err(validation_error(
            &["query", name],
            "Input should be a valid integer, unable to parse string as an integer",
            "int_parsing",
            input,
        ));
    }
    let n: i128 = match raw.parse::<i64>() {
        Ok(n) => n.into(),
        Err(_) if raw.starts_with('-') => i128::MIN,
        Err(_) => raw.trim_start_matches('+').parse::<u64>().unwrap_or(u64::MAX).into(),
    };
    if n < i128::from(min) {
        return Err(validation_error(
            &["query", name],
            &format!("Input should be greater than or equal to {min}"),
            "greater_than_equal",
            input,
        ));
    }
    match u64::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(validation_error(
            &["query", name],
            &format!("Input should be less than or equal to {max}"),
            "less_than_equal",
            input,
        )),
    }
}

/// The non-negative integer query parameter `name`, already checked by
/// [`bounded`], as the service echoes it: its exact value, however large
/// (`+` and leading zeros dropped); `default` when absent.
pub(crate) fn echoed_integer(
    query: &BTreeMap<String, String>,
    name: &str,
    default: u64,
) -> serde_json::Result<Box<RawValue>> {
    let text = match query.get(name) {
        Some(raw) => {
            let digits = raw.trim_start_matches('+').trim_start_matches('0');
            if digits.is_empty() {
                "0".to_string()
            } else {
                digits.to_string()
            }
        }
        None => default.to_string(),
    };
    RawValue::from_string(text)
}

/// Error code of a 409 for a CVM busy with another operation. The real
/// code is not published; a structured 409 is what tells it from the
/// transient, code-less 409 clients retry.
pub const OPERATION_IN_PROGRESS: &str = "ERR-03-008";

/// The 404 of a CVM that does not exist or that the caller may not see.
pub(crate) fn cvm_not_found(cvm_id: &str, rid: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ERR-03-001",
        &format!("CVM {cvm_id} not found"),
        rid,
    )
}

/// An authenticated caller, the fleet locked with due transitions applied,
/// and the CVM `{cvm_id}` names, if the caller may see it: one lookup under
/// one lock, so the CVM cannot change between finding and acting.
pub(crate) struct Located<'a> {
    pub caller: Caller,
    pub inner: MutexGuard<'a, Inner>,
    pub now: Instant,
    pub idx: usize,
}

pub(crate) fn locate<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    rid: &str,
    cvm_id: &str,
) -> Result<Located<'a>, Response> {
    let caller = authenticate(shared, headers, rid)?;
    locate_for(shared, caller, rid, cvm_id)
}

/// [`locate`] for a caller already authenticated ([`Authed`]).
pub(crate) fn locate_for<'a>(
    shared: &'a Shared,
    caller: Caller,
    rid: &str,
    cvm_id: &str,
) -> Result<Located<'a>, Response> {
    let (inner, now) = shared.now();
    match inner.fleet.find(cvm_id).filter(|&i| caller.sees(&inner.fleet, i)) {
        Some(idx) => Ok(Located {
            caller,
            inner,
            now,
            idx,
        }),
        None => Err(cvm_not_found(cvm_id, rid)),
    }
}

/// The node `id` names (`None`: `default`), or the service's 404.
pub(crate) fn node_index(inner: &Inner, id: Option<i64>, default: usize, rid: &str) -> Result<usize, Response> {
    match id {
        None => Ok(default),
        Some(id) => inner.fleet.nodes.iter().position(|n| n.id == id).ok_or_else(|| {
            api_error(
                StatusCode::NOT_FOUND,
                crate::codes::NODE_NOT_FOUND,
                &format!("Node {id} not found"),
                rid,
            )
        }),
    }
}

/// A JSON request body, or the 422 of one that does not decode.
pub(crate) fn body_of<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| {
        validation_error(
            &["body"],
            &format!("Invalid request body: {e}"),
            "value_error",
            Value::Null,
        )
    })
}

/// The handler prologue of a CVM write: the body decoded, then the CVM found.
pub(crate) fn body_and_cvm<'a, T: serde::de::DeserializeOwned>(
    shared: &'a Shared,
    caller: Caller,
    rid: &str,
    cvm_id: &str,
    body: &Bytes,
) -> Result<(T, Located<'a>), Response> {
    let request = body_of(body)?;
    Ok((request, locate_for(shared, caller, rid, cvm_id)?))
}

/// A body the document makes optional: empty (or blank) is `None`.
pub(crate) fn optional_body_of<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<Option<T>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(None)
    } else {
        body_of(body)
    }
}

/// A query string's pairs in order (repeated keys kept), and the last value of each key.
pub(crate) fn query_pairs(raw: Option<&str>) -> (Vec<(String, String)>, BTreeMap<String, String>) {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let single = pairs.iter().cloned().collect();
    (pairs, single)
}

/// An optional boolean query parameter, read as the service (pydantic) reads one.
pub(crate) fn boolean(query: &BTreeMap<String, String>, name: &str) -> Result<Option<bool>, Response> {
    let Some(raw) = query.get(name) else { return Ok(None) };
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
        _ => Err(validation_error(
            &["query", name],
            "Input should be a valid boolean, unable to interpret input",
            "bool_parsing",
            Value::String(raw.clone()),
        )),
    }
}

/// One page of `items` (`page` from 1) and the page count, for `page_size` items a page.
pub(crate) fn page_of<T: Clone>(items: &[T], page: u64, page_size: u64) -> (Vec<T>, u64) {
    let size = usize::try_from(page_size).unwrap_or(usize::MAX).max(1);
    let start = usize::try_from(page.saturating_sub(1))
        .unwrap_or(usize::MAX)
        .saturating_mul(size)
        .min(items.len());
    let end = start.saturating_add(size).min(items.len());
    (items[start..end].to_vec(), items.len().div_ceil(size) as u64)
}

impl Inner {
    /// `GET /cvms/{cvm_id}` of CVM `idx` in the caller's version's shape,
    /// with what was set after its creation (listed, scheduled deletion).
    pub(crate) fn detail(&self, idx: usize, cvminfo: bool) -> Value {
        let mut detail = self.fleet.detail_json(idx, cvminfo);
        if let (Some(settings), Value::Object(map)) = (self.records.settings.get(&idx), &mut detail) {
            for (key, value) in [
                ("listed", json!(settings.listed)),
                ("scheduled_delete_at", json!(settings.scheduled_delete_at)),
            ] {
                if let Some(slot) = map.get_mut(key) {
                    *slot = value;
                }
            }
        }
        detail
    }
}

/// The JSON text of an array of `items`, each written as it is made and
/// then dropped: a listing of the whole fleet holds its text, never the
/// tree of values (a 100,000-CVM listing would take gigabytes as one).
pub(crate) fn json_array_text(items: impl Iterator<Item = Value>) -> Vec<u8> {
    let mut out = vec![b'['];
    for (n, item) in items.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        // Writing a `Value` to a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut out, &item);
    }
    out.push(b']');
    out
}

/// A 200 answer of JSON text made by hand (see [`json_array_text`]).
pub(crate) fn json_text_response(body: Vec<u8>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

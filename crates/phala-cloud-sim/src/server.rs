//! The HTTP server: builder, handle, routes, auth, faults.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::{CVMINFO_SINCE, Faults, KNOWN_VERSIONS, SimConfig};
use crate::fleet::{Acted, Action, Fleet};
use crate::rng::Rng;
use crate::sse;
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
    pub kms: crate::deploy::Kms,
    pub origin: Instant,
    pub keys: BTreeMap<String, KeyInfo>,
    pub inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    pub fleet: Fleet,
    pub rng: Rng,
    pub stats: Stats,
    pub faults: Faults,
    pub next_request: u64,
    pub deployments: crate::deploy::Deployments,
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
    let Some(info) = shared.keys.get(key) else {
        return Err(api_error(
            StatusCode::UNAUTHORIZED,
            "ERR-01-001",
            "Invalid API key",
            rid,
        ));
    };
    let version = match header_str(headers, "x-phala-version") {
        None => shared.config.default_version.as_str(),
        Some(v) if v.eq_ignore_ascii_case("latest") => KNOWN_VERSIONS[KNOWN_VERSIONS.len() - 1],
        Some(v) if KNOWN_VERSIONS.contains(&v) => v,
        Some(v) => {
            let msg = format!(
                "Unknown API version '{v}'. Known versions: {}",
                KNOWN_VERSIONS.join(", ")
            );
            return Err(api_error(StatusCode::BAD_REQUEST, "ERR-01-005", &msg, rid));
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
                        "ERR-01-003",
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
        admin: info.admin,
        cvminfo: version >= CVMINFO_SINCE,
        hashed_ids: phala_cloud_api::versions::ApiVersion::parse(version).is_ok_and(|v| v.hashed_ids_everywhere()),
        kms_contracts: phala_cloud_api::versions::ApiVersion::parse(version).is_ok_and(|v| v.kms_contract_centric()),
    })
}

/// The endpoint label stats are kept under.
fn endpoint(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "v1", "status", "batch"]) => "status_batch",
        ("POST", ["api", "v1", "cvms", "batch-stop"]) => "batch_stop",
        ("GET", ["api", "v1", "cvms"]) => "list_cvms",
        ("GET", ["api", "v1", "cvms", "paginated"]) => "list_cvms_paginated",
        ("GET", ["api", "v1", "cvms", _, "operations"]) => "cvm_operations",
        ("POST", ["api", "v1", "cvms", _, "operations", "cancel"]) => "cancel_operation",
        ("GET", ["api", "v1", "cvms", _, "state"])
            if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("target="))) =>
        {
            "cvm_state_sse"
        }
        ("GET", ["api", "v1", "cvms", _, "state"]) => "cvm_state",
        ("GET", ["api", "v1", "apps", _, "cvms"]) => "app_cvms",
        ("GET", ["api", "v1", "cvms", _]) => "get_cvm",
        ("DELETE", ["api", "v1", "cvms", _]) => "delete_cvm",
        ("POST", ["api", "v1", "cvms", _, "start"]) => "start_cvm",
        ("POST", ["api", "v1", "cvms", _, "stop"]) => "stop_cvm",
        ("POST", ["api", "v1", "cvms", _, "shutdown"]) => "shutdown_cvm",
        ("POST", ["api", "v1", "cvms", _, "restart"]) => "restart_cvm",
        ("POST", ["api", "v1", "cvms", "provision"]) => "provision_cvm",
        ("POST", ["api", "v1", "cvms"]) => "commit_cvm",
        ("GET", ["api", "v1", "cvms", _, "compose_file"]) => "cvm_compose_file",
        ("PATCH", ["api", "v1", "cvms", _, "compose_file"]) => "update_compose_file",
        ("POST", ["api", "v1", "cvms", _, "compose_file", "provision"]) => "provision_update",
        ("POST", ["api", "v1", "cvms", _, "replicas"]) => "replicate_cvm",
        ("POST", ["api", "v1", "cvms", _, "commit-update"]) => "commit_update",
        ("GET", ["api", "v1", "apps", _, "revisions"]) => "app_revisions",
        ("GET", ["api", "v1", "apps", _, "revisions", _]) => "app_revision",
        ("POST", ["api", "v1", "apps", _, "revisions", _, "redeploy"]) => "redeploy_revision",
        ("GET", ["api", "v1", "kms", _, "pubkey", _]) => "kms_pubkey",
        ("GET", ["api", "v1", "kms", _]) => "kms_info",
        _ => "other",
    }
}

enum Fault {
    None,
    ServerError(StatusCode),
    RateLimited,
    Conflict,
    Drop,
    Truncate,
}

/// Request ids, latency, faults and stats around every handler.
async fn around(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let label = endpoint(request.method(), request.uri().path(), request.uri().query());
    let (rid, fault, delay) = {
        let mut inner = shared.lock();
        inner.next_request += 1;
        let rid = format!("req_{:010x}", inner.next_request);
        let faults = inner.faults.clone();
        let jitter = faults.latency_jitter.mul_f64(inner.rng.unit());
        let fault = if inner.rng.chance(faults.server_error_rate) {
            Fault::ServerError(
                [
                    StatusCode::INTERNAL_SERVER_ERROR,
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                ][inner.rng.below(3)],
            )
        } else if inner.rng.chance(faults.rate_limit_rate) {
            Fault::RateLimited
        } else if inner.rng.chance(faults.conflict_rate) {
            Fault::Conflict
        } else if label != "cvm_state_sse" && inner.rng.chance(faults.drop_rate) {
            Fault::Drop
        } else if label != "cvm_state_sse" && inner.rng.chance(faults.truncate_rate) {
            Fault::Truncate
        } else {
            Fault::None
        };
        (rid, fault, faults.latency + jitter)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    request.extensions_mut().insert(RequestId(rid.clone()));
    let mut response = match fault {
        Fault::ServerError(status) => {
            record_fault(&shared, "server_error");
            let msg = status.canonical_reason().unwrap_or("Server error");
            api_error(status, "ERR-00-500", msg, &rid)
        }
        Fault::RateLimited => {
            record_fault(&shared, "rate_limited");
            let mut r = api_error(StatusCode::TOO_MANY_REQUESTS, "ERR-00-429", "Rate limit exceeded", &rid);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Fault::Conflict => {
            record_fault(&shared, "conflict");
            let body = json!({"detail": "Another operation is already in progress; try again"});
            (StatusCode::CONFLICT, axum::Json(body)).into_response()
        }
        Fault::None | Fault::Drop | Fault::Truncate => next.run(request).await,
    };
    let status = response.status().as_u16();
    {
        let mut inner = shared.lock();
        *inner.stats.requests.entry((label.to_string(), status)).or_default() += 1;
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("x-request-id", v);
    }
    match fault {
        // A 204 is whole once its status line is out: nothing to cut.
        Fault::Drop | Fault::Truncate if response.status() == StatusCode::NO_CONTENT => response,
        Fault::Drop | Fault::Truncate => {
            let kind = if matches!(fault, Fault::Drop) {
                "drop"
            } else {
                "truncate"
            };
            record_fault(&shared, kind);
            if let Some(applied) = response.extensions().get::<AppliedStops>() {
                let mut inner = shared.lock();
                for id in &applied.0 {
                    *inner.stats.stops_applied_unanswered.entry(id.clone()).or_default() += 1;
                }
            }
            if let Some(Applied(action, id)) = response.extensions().get::<Applied>() {
                let key = (action.to_string(), id.clone());
                *shared.lock().stats.actions_applied_unanswered.entry(key).or_default() += 1;
            }
            cut(response, matches!(fault, Fault::Truncate)).await
        }
        _ => response,
    }
}

fn record_fault(shared: &Shared, kind: &str) {
    *shared.lock().stats.faults.entry(kind.to_string()).or_default() += 1;
}

/// A response whose body stops early: nothing after the headers (drop) or
/// half of it with the full `Content-Length` declared (truncate).
async fn cut(response: Response, truncate: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let keep = if truncate {
        bytes.slice(..bytes.len() / 2)
    } else {
        Bytes::new()
    };
    if truncate {
        if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
            parts.headers.insert(header::CONTENT_LENGTH, v);
        }
    } else {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(keep),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

/// Stops a handler applied, attached to its response for the fault layer.
#[derive(Clone)]
pub(crate) struct AppliedStops(pub Vec<String>);

/// A lifecycle call a handler applied, attached to its response for the fault layer.
#[derive(Clone)]
pub(crate) struct Applied(pub &'static str, pub String);

impl Inner {
    /// Counts lifecycle call `action` reaching its handler for CVM `id`.
    fn requested(&mut self, action: &str, id: &str) {
        *self
            .stats
            .action_requests
            .entry((action.to_string(), id.to_string()))
            .or_default() += 1;
    }

    /// Counts `action` applied to CVM `id`, and marks `response` with it, so
    /// the fault layer can tell an applied call whose answer is then lost.
    fn applied(&mut self, action: &'static str, id: String, mut response: Response) -> Response {
        *self
            .stats
            .actions_applied
            .entry((action.to_string(), id.clone()))
            .or_default() += 1;
        response.extensions_mut().insert(Applied(action, id));
        response
    }
}

fn parse_body(body: &Bytes, field: &str) -> Result<Vec<String>, Response> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Err(validation_error(
                &["body"],
                &format!("JSON decode error: {e}"),
                "json_invalid",
                Value::Null,
            ));
        }
    };
    match value.get(field) {
        None => Err(validation_error(&["body", field], "Field required", "missing", value)),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(validation_error(
                    &["body", field, &i.to_string()],
                    "Input should be a valid string",
                    "string_type",
                    other.clone(),
                )),
            })
            .collect(),
        Some(other) => Err(validation_error(
            &["body", field],
            "Input should be a valid list",
            "list_type",
            other.clone(),
        )),
    }
}

/// Authenticates, then reads the list of ids under `field` of a JSON body.
fn authenticated_ids(
    shared: &Shared,
    headers: &HeaderMap,
    rid: &str,
    body: &Bytes,
    field: &str,
) -> Result<(Caller, Vec<String>), Response> {
    let caller = authenticate(shared, headers, rid)?;
    Ok((caller, parse_body(body, field)?))
}

async fn status_batch(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (caller, uuids) = match authenticated_ids(&shared, &headers, &rid, &body, "vm_uuids") {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (inner, now) = shared.now();
    let mut out = serde_json::Map::new();
    for uuid in &uuids {
        if let Some(idx) = inner
            .fleet
            .index_of_uuid(uuid)
            .filter(|&i| caller.sees(&inner.fleet, i))
        {
            out.insert(uuid.clone(), inner.fleet.status_json(idx, now, shared.origin));
        }
    }
    axum::Json(Value::Object(out)).into_response()
}

async fn batch_stop(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (caller, ids) = match authenticated_ids(&shared, &headers, &rid, &body, "cvm_ids") {
        Ok(v) => v,
        Err(r) => return r,
    };
    if ids.len() > 50 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-03-010",
            &format!("At most 50 CVMs per request, got {}", ids.len()),
            &rid,
        );
    }
    let (mut inner, now) = shared.now();
    let (mut stopped, mut skipped, mut errors, mut applied) = (0, 0, Vec::new(), Vec::new());
    for id in &ids {
        *inner.stats.stop_requests.entry(id.clone()).or_default() += 1;
        match inner.fleet.index_of_id(id).filter(|&i| caller.sees(&inner.fleet, i)) {
            None => errors.push(json!({"cvm_id": id, "error": "CVM not found"})),
            Some(idx) => {
                if inner.fleet.stop(idx, now, shared.origin) {
                    stopped += 1;
                    *inner.stats.stops_applied.entry(id.clone()).or_default() += 1;
                    applied.push(id.clone());
                } else {
                    skipped += 1;
                }
            }
        }
    }
    drop(inner);
    let mut response =
        axum::Json(json!({"total": ids.len(), "stopped": stopped, "skipped": skipped, "errors": errors}))
            .into_response();
    response.extensions_mut().insert(AppliedStops(applied));
    response
}

/// One list item in the shape the caller's API version answers with.
fn item_json(fleet: &Fleet, caller: &Caller, idx: usize, now: Instant, origin: Instant) -> Value {
    if caller.cvminfo {
        fleet.info_json(idx)
    } else {
        fleet.hosted_json(idx, now, origin)
    }
}

fn list_json(shared: &Shared, caller: &Caller, pick: impl Fn(&Fleet, usize) -> bool) -> Response {
    let (inner, now) = shared.now();
    let fleet = &inner.fleet;
    let items: Vec<Value> = fleet
        .live()
        .filter(|&i| pick(fleet, i))
        .map(|i| item_json(fleet, caller, i, now, shared.origin))
        .collect();
    axum::Json(Value::Array(items)).into_response()
}

/// Which CVMs a listing covers: the caller's workspace, or (admins only)
/// every CVM of an owner and/or a node.
enum Listed {
    Workspace(usize),
    Filtered {
        user: Option<String>,
        node: Option<Option<i64>>,
    },
}

impl Listed {
    /// Reads `user_id` and `teepod_id` as the service does.
    fn from_query(caller: &Caller, query: &BTreeMap<String, String>, rid: &str) -> Result<Self, Response> {
        let user = query.get("user_id").cloned();
        // Any integer is valid, as in the real (Python) service; one outside
        // i64 names no node, so the filter matches nothing (`Some(None)`).
        let node = match query.get("teepod_id").map(|t| (t.parse::<i64>(), is_integer(t))) {
            None => None,
            Some((Ok(n), _)) => Some(Some(n)),
            Some((Err(_), true)) => Some(None),
            Some((Err(_), false)) => {
                let input = Value::String(query.get("teepod_id").cloned().unwrap_or_default());
                return Err(validation_error(
                    &["query", "teepod_id"],
                    "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing",
                    input,
                ));
            }
        };
        if user.is_none() && node.is_none() {
            return Ok(Listed::Workspace(caller.workspace));
        }
        if !caller.admin {
            return Err(api_error(
                StatusCode::FORBIDDEN,
                "ERR-01-003",
                "Filtering by user_id or teepod_id requires admin",
                rid,
            ));
        }
        Ok(Listed::Filtered { user, node })
    }

    fn picks(&self, fleet: &Fleet, i: usize) -> bool {
        let cvm = &fleet.cvms[i];
        match self {
            Listed::Workspace(ws) => cvm.workspace == *ws,
            Listed::Filtered { user, node } => {
                let user_ok = match user.as_deref() {
                    None => true,
                    Some("0") => cvm.user.is_none(),
                    Some(u) => cvm.user.is_some_and(|x| fleet.users[x].id == u),
                };
                user_ok && node.is_none_or(|n| n == Some(fleet.nodes[cvm.node].id))
            }
        }
    }
}

async fn list_cvms(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match Listed::from_query(&caller, &query, &rid) {
        Ok(listed) => list_json(&shared, &caller, |fleet, i| listed.picks(fleet, i)),
        Err(r) => r,
    }
}

/// The paged list's instance filters (`family`, repeated `instance_types`),
/// read as the service's newer versions read them.
struct KindFilter {
    /// Only GPU instances: the simulated fleet has none.
    gpu_only: bool,
    /// Instance types asked for; empty: any.
    types: Vec<String>,
}

impl KindFilter {
    fn from_query(query: &BTreeMap<String, String>, pairs: &[(String, String)]) -> Result<Option<Self>, Response> {
        let gpu_only = match query.get("family").map(String::as_str) {
            None | Some("all" | "cpu") => false,
            Some("gpu") => true,
            Some(other) => {
                return Err(validation_error(
                    &["query", "family"],
                    "Input should be 'all', 'cpu' or 'gpu'",
                    "literal_error",
                    Value::String(other.to_string()),
                ));
            }
        };
        let types: Vec<String> = pairs
            .iter()
            .filter(|(k, _)| k == "instance_types")
            .map(|(_, v)| v.clone())
            .collect();
        Ok((gpu_only || !types.is_empty() || query.contains_key("family")).then_some(KindFilter { gpu_only, types }))
    }

    fn picks(&self, cvm: &crate::fleet::Cvm) -> bool {
        !self.gpu_only && (self.types.is_empty() || self.types.contains(&cvm.instance_type()))
    }
}

/// `GET /cvms/paginated`: `{items, total, page, page_size, pages}`. A page of
/// a workspace is a slice of its index: the cost is the page's, not the fleet's.
async fn list_cvms_paginated(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let query: BTreeMap<String, String> = pairs.iter().cloned().collect();
    let listed = match Listed::from_query(&caller, &query, &rid) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let kind = match KindFilter::from_query(&query, &pairs) {
        Ok(k) => k,
        Err(r) => return r,
    };
    // No upper bound, as in the service: a page past the end is empty.
    let page = match bounded(&query, "page", 1, 1, u64::MAX) {
        Ok(v) => usize::try_from(v).unwrap_or(usize::MAX),
        Err(r) => return r,
    };
    let page_size = match bounded(&query, "page_size", 30, 1, 100) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let (inner, now) = shared.now();
    let fleet = &inner.fleet;
    let scanned: Vec<usize>;
    let all: &[usize] = match (&listed, &kind) {
        (Listed::Workspace(ws), None) => fleet.in_workspace(*ws),
        (Listed::Workspace(ws), Some(kind)) => {
            scanned = fleet
                .in_workspace(*ws)
                .iter()
                .copied()
                .filter(|&i| kind.picks(&fleet.cvms[i]))
                .collect();
            &scanned
        }
        (Listed::Filtered { .. }, kind) => {
            scanned = fleet
                .live()
                .filter(|&i| listed.picks(fleet, i) && kind.as_ref().is_none_or(|k| k.picks(&fleet.cvms[i])))
                .collect();
            &scanned
        }
    };
    let start = page.saturating_sub(1).saturating_mul(page_size).min(all.len());
    let items: Vec<Value> = all[start..(start + page_size).min(all.len())]
        .iter()
        .map(|&i| item_json(fleet, &caller, i, now, shared.origin))
        .collect();
    let Ok(echoed_page) = echoed_integer(&query, "page", 1) else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ERR-00-001",
            "page is not an integer",
            &rid,
        );
    };
    /// The page answer, with `page` as asked (it may be beyond `u64`).
    #[derive(serde::Serialize)]
    struct Page {
        items: Vec<Value>,
        total: usize,
        page: Box<RawValue>,
        page_size: usize,
        pages: usize,
    }
    axum::Json(Page {
        total: all.len(),
        page: echoed_page,
        page_size,
        pages: all.len().div_ceil(page_size),
        items,
    })
    .into_response()
}

/// Integer syntax as the service parses a query integer: an optional sign, then digits.
fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

async fn app_cvms(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let app_id = app_id.strip_prefix("app_").unwrap_or(&app_id).to_string();
    let visible = {
        let inner = shared.lock();
        let fleet = &inner.fleet;
        fleet
            .live()
            .any(|i| fleet.cvms[i].app_id == app_id && caller.sees(fleet, i))
    };
    if !visible {
        return api_error(
            StatusCode::NOT_FOUND,
            "ERR-02-001",
            &format!("App {app_id} not found"),
            &rid,
        );
    }
    list_json(&shared, &caller, |fleet, i| {
        fleet.cvms[i].app_id == app_id && caller.sees(fleet, i)
    })
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
fn echoed_integer(query: &BTreeMap<String, String>, name: &str, default: u64) -> serde_json::Result<Box<RawValue>> {
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

async fn cvm_state(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let interval = match bounded(&query, "interval", 5, 5, 30) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let timeout = match bounded(&query, "timeout", 300, 10, 600) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (inner, now) = shared.now();
    let Some(idx) = inner.fleet.find(&cvm_id).filter(|&i| caller.sees(&inner.fleet, i)) else {
        return cvm_not_found(&cvm_id, &rid);
    };
    let Some(target) = query.get("target").filter(|t| !t.is_empty()).cloned() else {
        return axum::Json(inner.fleet.state_json(idx, now, shared.origin)).into_response();
    };
    let hashed = inner.fleet.cvms[idx].id.clone();
    drop(inner);
    sse::stream(
        shared,
        caller.label,
        hashed,
        target,
        Duration::from_secs(interval),
        Duration::from_secs(timeout),
        &rid,
    )
}

/// Error code of a 409 for a CVM busy with another operation. The real
/// code is not published; a structured 409 is what tells it from the
/// transient, code-less 409 clients retry.
pub const OPERATION_IN_PROGRESS: &str = "ERR-03-008";

/// The 404 of a CVM that does not exist or that the caller may not see.
fn cvm_not_found(cvm_id: &str, rid: &str) -> Response {
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

async fn get_cvm(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
) -> Response {
    match locate(&shared, &headers, &rid, &cvm_id) {
        Ok(at) => axum::Json(at.inner.fleet.detail_json(at.idx, at.caller.cvminfo)).into_response(),
        Err(r) => r,
    }
}

/// `{"force": bool}`, optional as a whole (the document does not require a body).
fn restart_force(body: &Bytes) -> Result<bool, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(false);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        validation_error(
            &["body"],
            &format!("JSON decode error: {e}"),
            "json_invalid",
            Value::Null,
        )
    })?;
    match value.get("force") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(validation_error(
            &["body", "force"],
            "Input should be a valid boolean",
            "bool_type",
            other.clone(),
        )),
    }
}

/// Start, stop, shutdown and restart: 200 with the `VM` record showing the
/// new status; 409 with an error code while another operation is in flight.
async fn cvm_action(shared: Arc<Shared>, rid: String, headers: HeaderMap, cvm_id: String, action: Action) -> Response {
    let name = match action {
        Action::Start => "start",
        Action::Stop => "stop",
        Action::Shutdown => "shutdown",
        Action::Restart { .. } => "restart",
    };
    let Located {
        mut inner,
        now,
        idx,
        caller,
    } = match locate(&shared, &headers, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let id = inner.fleet.cvms[idx].id.clone();
    inner.requested(name, &id);
    match inner.fleet.act(idx, action, now, shared.origin) {
        Acted::Busy => api_error(
            StatusCode::CONFLICT,
            OPERATION_IN_PROGRESS,
            "Another operation is already in progress on this CVM",
            &rid,
        ),
        Acted::Nothing => axum::Json(inner.fleet.vm_json(idx, caller.hashed_ids)).into_response(),
        Acted::Applied => {
            let restarting = inner.fleet.restarting();
            inner.stats.restarting_peak = inner.stats.restarting_peak.max(restarting);
            let response = axum::Json(inner.fleet.vm_json(idx, caller.hashed_ids)).into_response();
            inner.applied(name, id, response)
        }
    }
}

async fn delete_cvm(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
) -> Response {
    let Located { mut inner, idx, .. } = match locate(&shared, &headers, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let id = inner.fleet.cvms[idx].id.clone();
    inner.requested("delete", &id);
    inner.fleet.remove(idx);
    inner.applied("delete", id, StatusCode::NO_CONTENT.into_response())
}

/// `GET /cvms/{cvm_id}/operations`: newest first, `limit` per page, an
/// opaque cursor naming the last record given; `start_time`/`end_time`
/// bound `started_at`, `operation_types` (repeatable) filters.
async fn cvm_operations(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let single: BTreeMap<String, String> = pairs.iter().cloned().collect();
    let types: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "operation_types")
        .map(|(_, v)| v.as_str())
        .collect();
    let limit = match bounded(&single, "limit", 50, 1, 500) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let mut range = [None, None];
    for (slot, name) in range.iter_mut().zip(["start_time", "end_time"]) {
        if let Some(text) = single.get(name) {
            match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(t) => *slot = Some(t.with_timezone(&chrono::Utc)),
                Err(_) => {
                    return validation_error(
                        &["query", name],
                        "Input should be a valid datetime",
                        "datetime_from_date_parsing",
                        Value::String(text.clone()),
                    );
                }
            }
        }
    }
    let at = match locate(&shared, &headers, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let fleet = &at.inner.fleet;
    let history = &fleet.cvms[at.idx].history;
    let matching: Vec<&crate::fleet::OpRecord> = history
        .iter()
        .rev()
        .filter(|r| range[0].is_none_or(|s| r.started_at >= s) && range[1].is_none_or(|e| r.started_at <= e))
        .filter(|r| types.is_empty() || types.contains(&crate::fleet::op_type(r.kind)))
        .collect();
    let start = match single.get("cursor") {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("cur_")
            .and_then(|id| matching.iter().position(|r| r.correlation_id == id))
        {
            Some(pos) => pos + 1,
            None => {
                return validation_error(
                    &["query", "cursor"],
                    "Invalid or expired cursor",
                    "value_error",
                    Value::String(cursor.clone()),
                );
            }
        },
    };
    let page = &matching[start.min(matching.len())..(start + limit).min(matching.len())];
    let next = (start + limit < matching.len())
        .then(|| page.last().map(|r| format!("cur_{}", r.correlation_id)))
        .flatten();
    let items: Vec<Value> = page.iter().map(|r| fleet.record_json(at.idx, r)).collect();
    axum::Json(json!({"items": items, "next_cursor": next, "total": matching.len()})).into_response()
}

/// `POST /cvms/{cvm_id}/operations/cancel`: `{cancelled, correlation_id}`.
async fn cancel_operation(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
) -> Response {
    let Located {
        mut inner, now, idx, ..
    } = match locate(&shared, &headers, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let id = inner.fleet.cvms[idx].id.clone();
    inner.requested("cancel", &id);
    let cancelled = inner.fleet.cancel(idx, now, shared.origin);
    let response = axum::Json(json!({"cancelled": cancelled.is_some(), "correlation_id": cancelled})).into_response();
    match cancelled {
        Some(correlation_id) => {
            tracing::debug!(%correlation_id, "operation cancelled");
            inner.applied("cancel", id, response)
        }
        None => response,
    }
}

/// A route for one lifecycle call.
fn action_route(action: Action) -> axum::routing::MethodRouter<Arc<Shared>> {
    post(
        move |State(shared): State<Arc<Shared>>,
              axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
              headers: HeaderMap,
              Path(cvm_id): Path<String>,
              body: Bytes| async move {
            let action = match action {
                Action::Restart { .. } => match restart_force(&body) {
                    Ok(force) => Action::Restart { force },
                    Err(r) => return r,
                },
                other => other,
            };
            cvm_action(shared, rid, headers, cvm_id, action).await
        },
    )
}

/// The operations the simulator answers, `METHOD /path` as the document
/// writes them. Every other operation the document publishes answers 501
/// naming itself (tests/api.rs checks both halves); `phala-cloud-sim
/// --list-operations` prints this list (the conformance run tests these).
pub const IMPLEMENTED: &[&str] = &[
    "POST /api/v1/status/batch",
    "POST /api/v1/cvms/batch-stop",
    "GET /api/v1/cvms",
    "POST /api/v1/cvms",
    "POST /api/v1/cvms/provision",
    "GET /api/v1/cvms/{cvm_id}/compose_file",
    "PATCH /api/v1/cvms/{cvm_id}/compose_file",
    "POST /api/v1/cvms/{cvm_id}/compose_file/provision",
    "POST /api/v1/cvms/{cvm_id}/replicas",
    "POST /api/v1/cvms/{cvm_id}/commit-update",
    "GET /api/v1/apps/{app_id}/revisions",
    "GET /api/v1/apps/{app_id}/revisions/{revision_id}",
    "POST /api/v1/apps/{app_id}/revisions/{revision_id}/redeploy",
    "GET /api/v1/kms/{kms_id}",
    "GET /api/v1/kms/{kms_id}/pubkey/{app_id}",
    "GET /api/v1/cvms/paginated",
    "GET /api/v1/cvms/{cvm_id}/operations",
    "POST /api/v1/cvms/{cvm_id}/operations/cancel",
    "GET /api/v1/cvms/{cvm_id}",
    "DELETE /api/v1/cvms/{cvm_id}",
    "POST /api/v1/cvms/{cvm_id}/start",
    "POST /api/v1/cvms/{cvm_id}/stop",
    "POST /api/v1/cvms/{cvm_id}/shutdown",
    "POST /api/v1/cvms/{cvm_id}/restart",
    "GET /api/v1/cvms/{cvm_id}/state",
    "GET /api/v1/apps/{app_id}/cvms",
    "GET /api/v1/cvms/{cvm_id}/docker-compose.yml",
    "GET /api/v1/cvms/{cvm_id}/pre-launch-script",
    "GET /api/v1/cvms/{cvm_id}/user_config",
    "GET /api/v1/cvms/{cvm_id}/network",
    "GET /api/v1/cvms/{cvm_id}/stats",
    "GET /api/v1/cvms/{cvm_id}/ports",
    "GET /api/v1/user/ssh-keys",
    "GET /api/v1/workspace/webhooks",
];

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v1/status/batch", post(status_batch))
        .route("/api/v1/cvms/batch-stop", post(batch_stop))
        .route("/api/v1/cvms", get(list_cvms).post(crate::deploy_routes::commit))
        .route("/api/v1/cvms/provision", post(crate::deploy_routes::provision))
        .route(
            "/api/v1/cvms/{cvm_id}/compose_file",
            get(crate::deploy_routes::compose_file).patch(crate::deploy_routes::apply_update),
        )
        .route(
            "/api/v1/cvms/{cvm_id}/compose_file/provision",
            post(crate::deploy_routes::provision_update),
        )
        .route("/api/v1/cvms/{cvm_id}/replicas", post(crate::deploy_routes::replicate))
        .route(
            "/api/v1/cvms/{cvm_id}/commit-update",
            post(crate::deploy_routes::commit_update),
        )
        .route(
            "/api/v1/apps/{app_id}/revisions",
            get(crate::deploy_routes::app_revisions),
        )
        .route(
            "/api/v1/apps/{app_id}/revisions/{revision_id}",
            get(crate::deploy_routes::app_revision),
        )
        .route(
            "/api/v1/apps/{app_id}/revisions/{revision_id}/redeploy",
            post(crate::deploy_routes::redeploy_revision),
        )
        .route("/api/v1/kms/{kms_id}", get(crate::deploy_routes::kms_info))
        .route(
            "/api/v1/kms/{kms_id}/pubkey/{app_id}",
            get(crate::deploy_routes::kms_pubkey),
        )
        .route("/api/v1/cvms/paginated", get(list_cvms_paginated))
        .route("/api/v1/cvms/{cvm_id}/operations", get(cvm_operations))
        .route("/api/v1/cvms/{cvm_id}/operations/cancel", post(cancel_operation))
        .route("/api/v1/cvms/{cvm_id}", get(get_cvm).delete(delete_cvm))
        .route("/api/v1/cvms/{cvm_id}/start", action_route(Action::Start))
        .route("/api/v1/cvms/{cvm_id}/stop", action_route(Action::Stop))
        .route("/api/v1/cvms/{cvm_id}/shutdown", action_route(Action::Shutdown))
        .route(
            "/api/v1/cvms/{cvm_id}/restart",
            action_route(Action::Restart { force: false }),
        )
        .route("/api/v1/cvms/{cvm_id}/state", get(cvm_state))
        .route("/api/v1/apps/{app_id}/cvms", get(app_cvms))
        .merge(crate::reads::routes())
        .route(
            "/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], crate::BUNDLED_OPENAPI) }),
        )
        .fallback(unimplemented)
        .method_not_allowed_fallback(unimplemented)
        .layer(middleware::from_fn_with_state(shared.clone(), around))
        .with_state(shared)
}

/// What the simulator does not answer: an operation the document publishes
/// gets 501 naming it (so a caller knows the simulator, not the API, lacks
/// it); a method the document does not publish for a path it does, 405
/// with every method it publishes there in `Allow`; anything else the
/// service's 404.
async fn unimplemented(method: Method, uri: axum::http::Uri) -> Response {
    // A literal segment beats a parameter (`/cvms/batch-stop` is not `/cvms/{cvm_id}`).
    let params = |template: &str| template.matches('{').count();
    let candidates = documented()
        .iter()
        .filter(|(_, template, _)| template_matches(template, uri.path()));
    let fewest = candidates.clone().map(|(_, t, _)| params(t)).min();
    let matching: Vec<&(String, String, String)> = candidates.filter(|(_, t, _)| Some(params(t)) == fewest).collect();
    if let Some((_, template, id)) = matching
        .iter()
        .find(|(m, _, _)| m.eq_ignore_ascii_case(method.as_str()))
    {
        return (
            StatusCode::NOT_IMPLEMENTED,
            axum::Json(json!({
                "detail": format!("the simulator does not implement {method} {template} ({id})"),
                "error_code": "SIM-501",
                "operation": {"method": method.as_str(), "path": template, "operation_id": id},
            })),
        )
            .into_response();
    }
    if matching.is_empty() {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not Found"}))).into_response();
    }
    let allow: Vec<&str> = matching.iter().map(|(m, _, _)| m.as_str()).collect();
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, allow.join(", "))],
        axum::Json(json!({"detail": "Method Not Allowed"})),
    )
        .into_response()
}

/// Every operation of the bundled document, and those the overlay adds
/// from the evidence (its `$.paths` actions): `(METHOD, path template, operationId)`.
fn documented() -> &'static [(String, String, String)] {
    static OPERATIONS: std::sync::OnceLock<Vec<(String, String, String)>> = std::sync::OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let doc: Value = serde_json::from_str(crate::BUNDLED_OPENAPI).unwrap_or_default();
        let overlay: Value = serde_json::from_str(phala_cloud_api::OVERLAY_JSON).unwrap_or_default();
        let added = overlay["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["target"] == "$.paths")
            .filter_map(|a| a["update"].as_object());
        let mut out = Vec::new();
        for paths in doc["paths"].as_object().into_iter().chain(added) {
            for (template, item) in paths {
                for (m, op) in item.as_object().into_iter().flatten() {
                    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                        out.push((m.to_uppercase(), template.clone(), id.to_string()));
                    }
                }
            }
        }
        out
    })
}

/// Whether `path` is an instance of `template` (`{name}` takes one segment).
fn template_matches(template: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let pattern: Vec<&str> = template.split('/').collect();
    pattern.len() == segments.len()
        && pattern
            .iter()
            .zip(&segments)
            .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
}

/// The socket a simulator listens on.
pub(crate) async fn bind(port: u16) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

//! The fleet's listings and batch calls: batch status, batch stop, the
//! CVM list (whole and paged, in each version's shape) and an app's CVMs.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::fleet::Fleet;
use crate::state::{
    AppliedStops, Authed, Caller, Shared, api_error, bounded, echoed_integer, is_integer, validation_error,
};

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

pub(crate) async fn status_batch(
    State(shared): State<Arc<Shared>>,
    Authed { caller, .. }: Authed,
    body: Bytes,
) -> Response {
    let uuids = match parse_body(&body, "vm_uuids") {
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

pub(crate) async fn batch_stop(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    body: Bytes,
) -> Response {
    let ids = match parse_body(&body, "cvm_ids") {
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
    let items = fleet
        .live()
        .filter(|&i| pick(fleet, i))
        .map(|i| item_json(fleet, caller, i, now, shared.origin));
    crate::state::json_text_response(crate::state::json_array_text(items))
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
                crate::codes::PERMISSION_DENIED,
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

pub(crate) async fn list_cvms(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
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
pub(crate) async fn list_cvms_paginated(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
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

pub(crate) async fn app_cvms(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
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

//! One CVM's lifecycle: its detail and state (immediate or a stream),
//! start, stop, shutdown, restart, delete, and its operation history.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::{Value, json};

use crate::fleet::{Acted, Action};
use crate::sse;
use crate::state::{
    Authed, Located, OPERATION_IN_PROGRESS, RequestId, Shared, api_error, bounded, cvm_not_found, locate, locate_for,
    validation_error,
};

pub(crate) async fn cvm_state(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
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

pub(crate) async fn get_cvm(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    _headers: HeaderMap,
    Path(cvm_id): Path<String>,
) -> Response {
    match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => axum::Json(at.inner.detail(at.idx, at.caller.cvminfo)).into_response(),
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

pub(crate) async fn delete_cvm(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
) -> Response {
    let Located { mut inner, idx, .. } = match locate_for(&shared, caller, &rid, &cvm_id) {
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
pub(crate) async fn cvm_operations(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
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
    let at = match locate_for(&shared, caller, &rid, &cvm_id) {
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
pub(crate) async fn cancel_operation(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    _headers: HeaderMap,
    Path(cvm_id): Path<String>,
) -> Response {
    let Located {
        mut inner, now, idx, ..
    } = match locate_for(&shared, caller, &rid, &cvm_id) {
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
pub(crate) fn action_route(action: Action, method: MethodFilter) -> MethodRouter<Arc<Shared>> {
    axum::routing::on(
        method,
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

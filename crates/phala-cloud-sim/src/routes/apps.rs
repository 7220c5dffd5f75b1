//! Apps: their revisions (list, detail, redeploy).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::deploy;
use crate::state::{Caller, Inner, RequestId, Shared, api_error, authenticate, bounded, optional_body_of};

fn revision_json(inner: &Inner, r: &crate::deploy::Revision) -> Value {
    let cvm = &inner.fleet.cvms[r.idx];
    json!({
        "revision_id": r.id, "app_id": r.app_id, "vm_uuid": cvm.vm_uuid, "compose_hash": r.compose_hash,
        "created_at": r.created_at, "trace_id": null, "operation_type": r.operation,
    })
}

/// `GET /apps/{app_id}/revisions`: newest first, paged.
pub(crate) async fn app_revisions(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(app_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // The document's bounds: page >= 1, 1 <= page_size <= 1000 (default 50).
    let page = match bounded(&query, "page", 1, 1, u64::MAX) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let page_size = match bounded(&query, "page_size", 50, 1, 1000) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let mine: Vec<&crate::deploy::Revision> = inner
        .deployments
        .revisions
        .iter()
        .rev()
        .filter(|r| r.app_id == app_id && caller.sees(&inner.fleet, r.idx))
        .collect();
    let items: Vec<Value> = mine
        .iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|r| revision_json(&inner, r))
        .collect();
    axum::Json(json!({
        "revisions": items, "total": mine.len(), "page": page, "page_size": page_size,
        "total_pages": mine.len().div_ceil(page_size),
    }))
    .into_response()
}

fn find_revision<'a>(
    inner: &'a Inner,
    caller: &Caller,
    app_id: &str,
    revision_id: &str,
) -> Option<&'a crate::deploy::Revision> {
    inner
        .deployments
        .revisions
        .iter()
        .find(|r| r.id == revision_id && r.app_id == app_id && caller.sees(&inner.fleet, r.idx))
}

/// `GET /apps/{app_id}/revisions/{revision_id}`: with the compose, as an
/// object or (`raw_compose_file=true`) the exact JSON text hashed.
pub(crate) async fn app_revision(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path((app_id, revision_id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let Some(r) = find_revision(&inner, &caller, &app_id, &revision_id) else {
        return api_error(StatusCode::NOT_FOUND, "ERR-02-020", "Revision not found", &rid);
    };
    let raw = query.get("raw_compose_file").is_some_and(|v| v == "true");
    let compose = if raw {
        Value::String(deploy::canonical_json(&r.compose))
    } else {
        Value::Object(r.compose.clone())
    };
    let mut detail = revision_json(&inner, r);
    if let Value::Object(map) = &mut detail {
        map.insert("compose_file".into(), compose);
        map.insert("encrypted_env".into(), json!(""));
        map.insert("user_config".into(), json!(""));
    }
    axum::Json(detail).into_response()
}

/// `POST /apps/{app_id}/revisions/{revision_id}/redeploy`: the revision's
/// compose applied again to the CVMs asked for (its own CVM by default).
pub(crate) async fn redeploy_revision(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path((app_id, revision_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let request: Option<phala_cloud_api::types::RedeployRevisionRequest> = match optional_body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (mut inner, now) = shared.now();
    let Some(revision) = find_revision(&inner, &caller, &app_id, &revision_id).cloned() else {
        return api_error(StatusCode::NOT_FOUND, "ERR-02-020", "Revision not found", &rid);
    };
    let targets: Vec<usize> = match request.and_then(|r| r.vm_uuids) {
        None => vec![revision.idx],
        Some(uuids) => {
            let mut found = Vec::new();
            for uuid in &uuids {
                match inner
                    .fleet
                    .index_of_uuid(uuid)
                    .filter(|&i| inner.fleet.cvms[i].app_id == app_id)
                {
                    Some(i) => found.push(i),
                    None => {
                        let msg = format!("CVM {uuid} is not a CVM of app {app_id}");
                        return api_error(StatusCode::BAD_REQUEST, "ERR-02-021", &msg, &rid);
                    }
                }
            }
            found
        }
    };
    let mut last = None;
    for idx in targets {
        let env = inner
            .deployments
            .deployed
            .get(&idx)
            .map(|d| d.env.clone())
            .unwrap_or_default();
        let response = crate::routes::deploy::apply(&mut inner, &shared, idx, revision.compose.clone(), env, now, &rid);
        if response.status() != StatusCode::ACCEPTED {
            return response;
        }
        last = Some(response);
    }
    last.unwrap_or_else(|| api_error(StatusCode::BAD_REQUEST, "ERR-02-021", "No CVM to redeploy", &rid))
}

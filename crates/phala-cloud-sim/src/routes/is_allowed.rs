//! Whether a KMS would let a compose hash boot on a device: for one CVM
//! (`POST /cvms/{cvm_id}/is-allowed`), an app (`POST /apps/{app_id}/is-allowed`)
//! and every CVM of an app (`POST /apps/{app_id}/cvms/is-allowed`).
//!
//! The rule the simulator applies: an app whose KMS is on chain allows the
//! hashes registered there ([`crate::deploy::Deployed::on_chain`]) on the
//! devices its CVMs run on; an app on Phala's KMS allows the hashes it was
//! deployed or updated with (its revisions) on any device.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::deploy::{self, held_compose};
use crate::routes::apps::{app_not_found, find_app};
use crate::state::{Authed, Inner, Shared, api_error, body_of, locate_for, optional_body_of};

/// What is checked: a compose hash on a device.
struct Check {
    hash: String,
    device: String,
}

/// The verdict's fields (`AppIsAllowedResponse`, shared by the three answers).
fn verdict(inner: &Inner, members: &[usize], app_id: &str, check: &Check) -> Map<String, Value> {
    let hash = check.hash.trim_start_matches("0x").to_ascii_lowercase();
    let on_chain: Option<Vec<String>> = members
        .iter()
        .find_map(|i| inner.deployments.deployed.get(i).and_then(|d| d.on_chain.clone()));
    let (hash_allowed, any_device, device_allowed) = match &on_chain {
        Some(registered) => {
            let devices: Vec<String> = members
                .iter()
                .map(|&i| deploy::device_id(inner.fleet.nodes[inner.fleet.cvms[i].node].id))
                .collect();
            let device_ok = devices.iter().any(|d| d.eq_ignore_ascii_case(&check.device));
            (
                registered.iter().any(|h| h.eq_ignore_ascii_case(&hash)),
                false,
                Some(device_ok),
            )
        }
        None => {
            let deployed = members
                .iter()
                .any(|&i| deploy::compose_hash(&held_compose(&inner.deployments, &inner.fleet, i)) == hash)
                || inner
                    .deployments
                    .revisions
                    .iter()
                    .any(|r| r.app_id == app_id && r.compose_hash == hash);
            (deployed, true, None)
        }
    };
    let allowed = hash_allowed && (any_device || device_allowed == Some(true));
    let error = (!hash_allowed).then(|| format!("compose hash {hash} is not allowed for app {app_id}"));
    Map::from_iter([
        ("app_contract_address".to_string(), json!(format!("0x{app_id}"))),
        ("compose_hash".to_string(), json!(hash)),
        ("device_id".to_string(), json!(check.device)),
        ("compose_hash_allowed".to_string(), json!(hash_allowed)),
        ("allow_any_device".to_string(), json!(any_device)),
        ("device_id_allowed".to_string(), json!(device_allowed)),
        ("is_allowed".to_string(), json!(allowed)),
        ("error".to_string(), json!(error)),
    ])
}

/// The device to check: given, or that of node `node_id` (404 for a node
/// the simulator lacks), else `default`.
fn device_for(
    inner: &Inner,
    device_id: Option<String>,
    node_id: Option<i64>,
    default: String,
    rid: &str,
) -> Result<String, Response> {
    if let Some(d) = device_id.filter(|d| !d.is_empty()) {
        return Ok(d.trim_start_matches("0x").to_ascii_lowercase());
    }
    match node_id {
        None => Ok(default),
        Some(id) if inner.fleet.nodes.iter().any(|n| n.id == id) => Ok(deploy::device_id(id)),
        Some(id) => Err(api_error(
            StatusCode::NOT_FOUND,
            crate::codes::NODE_NOT_FOUND,
            &format!("Node {id} not found"),
            rid,
        )),
    }
}

#[derive(Deserialize, Default)]
struct CvmCheck {
    #[serde(default)]
    compose_hash: Option<String>,
    #[serde(default)]
    node_id: Option<i64>,
    #[serde(default)]
    device_id: Option<String>,
}

/// `POST /cvms/{cvm_id}/is-allowed`: by default the compose the CVM holds
/// on the device it runs on.
pub(crate) async fn cvm(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: CvmCheck = match optional_body_of(&body) {
        Ok(r) => r.unwrap_or_default(),
        Err(r) => return r,
    };
    let at = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let (inner, idx) = (&at.inner, at.idx);
    let cvm = &inner.fleet.cvms[idx];
    let own_device = deploy::device_id(inner.fleet.nodes[cvm.node].id);
    let device = match device_for(inner, request.device_id, request.node_id, own_device, &rid) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let hash = request
        .compose_hash
        .unwrap_or_else(|| deploy::compose_hash(&held_compose(&inner.deployments, &inner.fleet, idx)));
    let members: Vec<usize> = inner
        .fleet
        .live()
        .filter(|&i| inner.fleet.cvms[i].app_id == cvm.app_id)
        .collect();
    let mut answer = verdict(inner, &members, &cvm.app_id, &Check { hash, device });
    let id = if at.caller.hashed_ids {
        json!(cvm.id)
    } else {
        json!(cvm.numeric_id)
    };
    answer.insert("cvm_id".into(), id);
    axum::Json(Value::Object(answer)).into_response()
}

#[derive(Deserialize)]
struct AppCheck {
    compose_hash: String,
    #[serde(default)]
    node_id: Option<i64>,
    #[serde(default)]
    device_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // read for its type (a wrong one is a 422), not used by the simulator
    chain_id: Option<i64>,
}

/// `POST /apps/{app_id}/is-allowed`: a compose hash (required) on a device
/// (given, a node's, or that of the app's first CVM).
pub(crate) async fn app(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: AppCheck = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (inner, _) = shared.now();
    let Some((app, members)) = find_app(&inner.fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let first = deploy::device_id(inner.fleet.nodes[inner.fleet.cvms[members[0]].node].id);
    let device = match device_for(&inner, request.device_id, request.node_id, first, &rid) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let app_id = inner.fleet.apps[app].clone();
    let check = Check {
        hash: request.compose_hash,
        device,
    };
    axum::Json(Value::Object(verdict(&inner, &members, &app_id, &check))).into_response()
}

/// `POST /apps/{app_id}/cvms/is-allowed`: each of the app's CVMs, its held
/// compose on its own device; every CVM of the app is in `results`.
pub(crate) async fn app_cvms(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    let (inner, _) = shared.now();
    let Some((app, members)) = find_app(&inner.fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let app_id = &inner.fleet.apps[app];
    let on_chain = members
        .iter()
        .any(|i| inner.deployments.deployed.get(i).is_some_and(|d| d.on_chain.is_some()));
    let results: Vec<Value> = members
        .iter()
        .map(|&i| {
            let cvm = &inner.fleet.cvms[i];
            let check = Check {
                hash: deploy::compose_hash(&held_compose(&inner.deployments, &inner.fleet, i)),
                device: deploy::device_id(inner.fleet.nodes[cvm.node].id),
            };
            let mut item = verdict(&inner, &members, app_id, &check);
            let id = if caller.hashed_ids {
                json!(cvm.id)
            } else {
                json!(cvm.numeric_id)
            };
            item.insert("cvm_id".into(), id);
            Value::Object(item)
        })
        .collect();
    let count = |allowed: bool| results.iter().filter(|r| r["is_allowed"] == allowed).count();
    axum::Json(json!({
        "is_onchain": on_chain, "total": results.len(), "allowed_count": count(true), "denied_count": count(false),
        "error_count": 0, "skipped_cvm_ids": [], "results": results,
    }))
    .into_response()
}

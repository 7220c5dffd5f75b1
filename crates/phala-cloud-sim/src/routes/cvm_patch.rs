//! `PATCH /cvms/{cvm_id}` and `PATCH /cvms/{cvm_id}/envs`: the updates
//! Phala's CLI sends for `deploy --cvm-id` (compose, pre-launch script,
//! allowed envs, visibility and a sealed env in one body) and `envs
//! update`, applied as the two-step compose update is: the held compose
//! changed by what the body names, its hash gated by an on-chain KMS (465,
//! then the registered hash and its transaction), the env opened as the CVM
//! would, a restart; 202.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::deploy::{self, held_compose};
use crate::routes::deploy::{apply, apply_answering, env_for, on_chain_gate};
use crate::state::{Authed, Inner, Shared, api_error, body_and_cvm};

pub(crate) async fn update_cvm(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (phala_cloud_api::types::UpdateCvmRequest, _) =
        match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let idx = at.idx;
    // Phase 2 of an on-chain update names the hash it registered.
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let registered = header("x-compose-hash").filter(|_| header("x-transaction-hash").is_some());
    // Both SDKs confirm with an empty body: the update held under that hash.
    if let Some(held) = registered.and_then(|h| take_held(&mut at.inner, idx, h)) {
        let now = at.now;
        return apply(&mut at.inner, &shared, idx, held.compose, held.env, now, &rid);
    }
    let mut compose = held_compose(&at.inner.deployments, &at.inner.fleet, idx);
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            compose.insert(key.to_string(), v);
        }
    };
    set(
        "docker_compose_file",
        request.docker_compose_file.clone().map(Value::from),
    );
    set("pre_launch_script", request.pre_launch_script.clone().map(Value::from));
    set("allowed_envs", request.allowed_envs.clone().map(|k| json!(k)));
    set("public_logs", request.public_logs.map(Value::from));
    set("public_sysinfo", request.public_sysinfo.map(Value::from));
    set("public_tcbinfo", request.public_tcbinfo.map(Value::from));
    let hash = deploy::compose_hash(&compose);
    let app_id = at.inner.fleet.cvms[idx].app_id.clone();
    let kept = at.inner.deployments.kept_env(idx);
    let env = match env_for(&shared, &app_id, request.encrypted_env.as_deref(), kept, &compose, &rid) {
        Ok(env) => env,
        Err(r) => return r,
    };
    if let Some(refused) = gate(&mut at.inner, idx, &hash, registered, (&compose, &env), &rid) {
        return refused;
    }
    let cvm = &mut at.inner.fleet.cvms[idx];
    if let Some(v) = request.public_logs {
        cvm.visibility.public_logs = v;
    }
    if let Some(v) = request.public_sysinfo {
        cvm.visibility.public_sysinfo = v;
    }
    if let Some(v) = request.public_tcbinfo {
        cvm.visibility.public_tcbinfo = v;
    }
    let now = at.now;
    apply(&mut at.inner, &shared, idx, compose, env, now, &rid)
}

/// The update of CVM `idx` held (465) under compose hash `hash`, taken to
/// apply: its hash registered from now on.
fn take_held(inner: &mut Inner, idx: usize, hash: &str) -> Option<crate::deploy::PendingCommit> {
    let held = &mut inner.deployments.pending_commits;
    let token = held
        .iter()
        .find(|(_, p)| p.idx == idx && p.compose_hash.eq_ignore_ascii_case(hash))
        .map(|(t, _)| t.clone())?;
    let pending = held.remove(&token)?;
    if let Some(allowed) = inner
        .deployments
        .deployed
        .get_mut(&idx)
        .and_then(|d| d.on_chain.as_mut())
    {
        allowed.push(pending.compose_hash.clone());
    }
    Some(pending)
}

/// `PATCH /cvms/{cvm_id}/envs`: a new sealed env; new `env_keys` change the
/// compose's allowed envs, and so its hash.
pub(crate) async fn update_envs(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (phala_cloud_api::types::EnvsPatch, _) =
        match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let idx = at.idx;
    let mut compose = held_compose(&at.inner.deployments, &at.inner.fleet, idx);
    let before = compose.get("allowed_envs").cloned();
    if let Some(keys) = &request.env_keys {
        compose.insert("allowed_envs".into(), json!(keys));
    }
    let changed = compose.get("allowed_envs") != before.as_ref();
    let hash = deploy::compose_hash(&compose);
    let app_id = at.inner.fleet.cvms[idx].app_id.clone();
    let env = match env_for(
        &shared,
        &app_id,
        Some(&request.encrypted_env),
        Vec::new(),
        &compose,
        &rid,
    ) {
        Ok(env) => env,
        Err(r) => return r,
    };
    let registered = request
        .compose_hash
        .as_deref()
        .filter(|_| request.transaction_hash.is_some());
    if let Some(refused) = gate(&mut at.inner, idx, &hash, registered, (&compose, &env), &rid) {
        return refused;
    }
    let now = at.now;
    // Phala's SDK reads whether the allowed envs (and so the hash) changed.
    let extra = Map::from_iter([("allowed_envs_changed".to_string(), json!(changed))]);
    apply_answering(&mut at.inner, &shared, idx, (compose, env), now, &rid, extra)
}

/// An update's hash against an on-chain KMS: registered (phase 2: the hash
/// it names must be this update's, and is allowed from then on), or held
/// until it is (465). `None`: go ahead.
pub(crate) fn gate(
    inner: &mut Inner,
    idx: usize,
    hash: &str,
    registered: Option<&str>,
    held: (&Map<String, Value>, &[(String, String)]),
    rid: &str,
) -> Option<Response> {
    match registered {
        Some(h) if !h.eq_ignore_ascii_case(hash) => {
            let msg = "The registered compose hash is not the hash of the compose this update makes";
            let status = StatusCode::from_u16(466).unwrap_or(StatusCode::BAD_REQUEST);
            Some(api_error(status, crate::codes::HASH_INVALID_OR_EXPIRED, msg, rid))
        }
        Some(_) => {
            if let Some(allowed) = inner
                .deployments
                .deployed
                .get_mut(&idx)
                .and_then(|d| d.on_chain.as_mut())
            {
                allowed.push(hash.to_string());
            }
            None
        }
        None => on_chain_gate(inner, idx, hash, held, rid),
    }
}

/// `PATCH /cvms/{cvm_id}/os-image`: moves the CVM to another OS image of
/// the catalogue (400 for one it does not have) and restarts it; 202.
pub(crate) async fn upgrade_os(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (phala_cloud_api::types::OsImagePatch, _) =
        match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let name = request.os_image_name;
    if !deploy::OS_IMAGES.iter().any(|(n, _, _)| *n == name) {
        let known: Vec<&str> = deploy::OS_IMAGES.iter().map(|(n, _, _)| *n).collect();
        let msg = format!("OS image {name} is not available (available: {})", known.join(", "));
        return api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::OS_IMAGE_NOT_COMPATIBLE,
            &msg,
            &rid,
        );
    }
    let (idx, now) = (at.idx, at.now);
    let restart = crate::fleet::Action::Restart { force: false };
    if let crate::fleet::Acted::Busy = at.inner.fleet.act(idx, restart, now, shared.origin) {
        let msg = "Another operation is in progress on this CVM";
        return api_error(StatusCode::CONFLICT, crate::state::OPERATION_IN_PROGRESS, msg, &rid);
    }
    let cvm = &mut at.inner.fleet.cvms[idx];
    cvm.base_image = name.clone();
    let correlation = cvm.history.last().map(|h| h.correlation_id.clone());
    let answer =
        json!({"status": "in_progress", "message": format!("Moving to {name}"), "correlation_id": correlation});
    (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
}

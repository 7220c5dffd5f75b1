//! New CVMs of an existing app: a replica of one of its CVMs
//! (`POST /cvms/{cvm_id}/replicas`, `POST /apps/{app_id}/cvms/{vm_uuid}/replicas`)
//! or a new instance,
//! possibly with a new docker compose or pre-launch script
//! (`POST /apps/{app_id}/instances`). Either may wait under a one-time
//! commit token: asked with `X-Prepare-Only`, or when the app's KMS is on
//! chain and does not allow the compose yet (465); the token commits it
//! (`POST /cvms/{cvm_id}/commit-replica`, or `instances` with the token).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::deploy::{self, PendingReplica, held_compose};
use crate::routes::apps::{app_not_found, find_app};
use crate::routes::deploy::{commit_required, create_replica, device_of, env_for};
use crate::state::{
    Authed, Caller, Inner, RequestId, Shared, api_error, body_of, locate_for, node_index, optional_body_of,
};

/// What a new CVM of an app will be: its source CVM, node, compose and env.
struct Planned {
    source: usize,
    node: usize,
    compose: Map<String, Value>,
    env: Vec<(String, String)>,
}

/// Creates the planned CVM now, or holds it under a commit token: when
/// `prepare_only`, or when the app's KMS is on chain and does not allow
/// its hash (465 either way, with what to register).
fn create_or_hold(
    inner: &mut Inner,
    shared: &Shared,
    caller: &Caller,
    plan: Planned,
    prepare_only: bool,
    rid: &str,
) -> Response {
    let hash = deploy::compose_hash(&plan.compose);
    let registered = inner
        .deployments
        .deployed
        .get(&plan.source)
        .and_then(|d| d.on_chain.as_ref())
        .is_none_or(|allowed| allowed.contains(&hash));
    if prepare_only || !registered {
        let token = hex::encode(Sha256::digest(format!("replica {} {hash} {rid}", plan.source)));
        let app_id = inner.fleet.cvms[plan.source].app_id.clone();
        let device = device_of(inner, plan.node);
        let pending = PendingReplica {
            source: plan.source,
            node: plan.node,
            compose_hash: hash.clone(),
            compose: plan.compose,
            env: plan.env,
        };
        inner.deployments.pending_replicas.insert(token.clone(), pending);
        return commit_required(&hash, &app_id, &device, &token, rid);
    }
    let now = tokio::time::Instant::now();
    inner.fleet.tick(now, shared.origin);
    let idx = create_replica(inner, shared, plan.source, plan.node, (plan.compose, plan.env), now);
    axum::Json(inner.fleet.vm_json(idx, caller.hashed_ids)).into_response()
}

/// Commits the replica waiting under `token` (for source CVM `source`,
/// when given): the CVM created, its hash allowed from then on.
/// `Err` says why the token commits nothing.
fn commit_held(
    inner: &mut Inner,
    shared: &Shared,
    (token, source, compose_hash): (&str, Option<usize>, Option<&str>),
    hashed_ids: bool,
) -> Result<Response, &'static str> {
    let Some(pending) = inner.deployments.pending_replicas.get(token).cloned() else {
        return Err("Commit token invalid, used or expired");
    };
    if source.is_some_and(|s| s != pending.source) {
        return Err("Commit token is for another CVM");
    }
    if compose_hash.is_some_and(|h| !h.trim_start_matches("0x").eq_ignore_ascii_case(&pending.compose_hash)) {
        return Err("compose_hash is not the hash this token commits");
    }
    inner.deployments.pending_replicas.remove(token);
    if let Some(allowed) = inner
        .deployments
        .deployed
        .get_mut(&pending.source)
        .and_then(|d| d.on_chain.as_mut())
        .filter(|a| !a.contains(&pending.compose_hash))
    {
        allowed.push(pending.compose_hash.clone());
    }
    let now = tokio::time::Instant::now();
    inner.fleet.tick(now, shared.origin);
    let idx = create_replica(
        inner,
        shared,
        pending.source,
        pending.node,
        (pending.compose, pending.env),
        now,
    );
    Ok(axum::Json(inner.fleet.vm_json(idx, hashed_ids)).into_response())
}

/// Whether a header says yes (`X-Prepare-Only: true`).
fn header_true(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Replicate {
    teepod_id: Option<i64>,
    node_id: Option<i64>,
    encrypted_env: Option<String>,
    compose_hash: Option<String>,
}

/// A replica of CVM `source` planned: the compose it holds (400 when
/// `compose_hash` names another), the node asked for or its own, the env
/// given (opened as the CVM would) or its own.
fn plan_replica(
    inner: &Inner,
    shared: &Shared,
    source: usize,
    request: &Replicate,
    rid: &str,
) -> Result<Planned, Response> {
    let compose = held_compose(&inner.deployments, &inner.fleet, source);
    if request.compose_hash.as_ref().is_some_and(|h| {
        !h.trim_start_matches("0x")
            .eq_ignore_ascii_case(&deploy::compose_hash(&compose))
    }) {
        let msg = "compose_hash is not the hash of the compose the source CVM holds";
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::INVALID_REQUEST,
            msg,
            rid,
        ));
    }
    let own = inner.fleet.cvms[source].node;
    let node = node_index(inner, request.node_id.or(request.teepod_id), own, rid)?;
    let app = &inner.fleet.cvms[source].app_id;
    let env = env_for(
        shared,
        app,
        request.encrypted_env.as_deref(),
        inner.deployments.kept_env(source),
        &compose,
        rid,
    )?;
    Ok(Planned {
        source,
        node,
        compose,
        env,
    })
}

/// `POST /cvms/{cvm_id}/replicas`: a new CVM of the same app (see
/// [`plan_replica`]); with `X-Prepare-Only`, or a hash an on-chain KMS does
/// not allow, held under a commit token (465).
pub(crate) async fn replicate_cvm(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: Replicate = match optional_body_of(&body) {
        Ok(r) => r.unwrap_or_default(),
        Err(r) => return r,
    };
    let mut at = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let plan = match plan_replica(&at.inner, &shared, at.idx, &request, &rid) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let prepare_only = header_true(&headers, "x-prepare-only");
    create_or_hold(&mut at.inner, &shared, &at.caller, plan, prepare_only, &rid)
}

/// `POST /apps/{app_id}/cvms/{vm_uuid}/replicas`: a CVM of the app (404
/// when it is not one) replicated as `POST /cvms/{cvm_id}/replicas` does.
/// (The document lists no 465 here; a held replica answers it all the same,
/// as the CVM route does.)
pub(crate) async fn replicate(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    headers: HeaderMap,
    Path((app_id, vm_uuid)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: Replicate = match optional_body_of(&body) {
        Ok(r) => r.unwrap_or_default(),
        Err(r) => return r,
    };
    let mut inner = shared.lock();
    let Some((_, members)) = find_app(&inner.fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let Some(source) = inner.fleet.index_of_uuid(&vm_uuid).filter(|i| members.contains(i)) else {
        let msg = format!("CVM {vm_uuid} is not a CVM of app {app_id}");
        return api_error(StatusCode::NOT_FOUND, "ERR-03-001", &msg, &rid);
    };
    let plan = match plan_replica(&inner, &shared, source, &request, &rid) {
        Ok(p) => p,
        Err(r) => return r,
    };
    create_or_hold(
        &mut inner,
        &shared,
        &caller,
        plan,
        header_true(&headers, "x-prepare-only"),
        &rid,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewInstance {
    teepod_id: Option<i64>,
    node_id: Option<i64>,
    encrypted_env: Option<String>,
    compose_hash: Option<String>,
    docker_compose_file: Option<String>,
    pre_launch_script: Option<String>,
    token: Option<String>,
    #[allow(dead_code)] // read for its type (a wrong one is a 422), not used by the simulator
    transaction_hash: Option<String>,
}

/// `POST /apps/{app_id}/instances`: a new CVM of the app. Its compose is
/// the one the app's CVMs hold (`compose_hash` chooses when they hold
/// several: 400 without it), with a new docker compose or pre-launch
/// script when given. With `token` (and the registration's
/// `transaction_hash`), it commits the instance a 465 held.
pub(crate) async fn create_instance(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: NewInstance = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut inner = shared.lock();
    let Some((_, members)) = find_app(&inner.fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    if let Some(token) = &request.token {
        let held_for_app = inner
            .deployments
            .pending_replicas
            .get(token)
            .is_some_and(|p| members.contains(&p.source));
        if !held_for_app {
            return api_error(
                StatusCode::BAD_REQUEST,
                "ERR-01-006",
                "Commit token invalid, used or expired",
                &rid,
            );
        }
        let hashed = caller.hashed_ids;
        return commit_held(
            &mut inner,
            &shared,
            (token, None, request.compose_hash.as_deref()),
            hashed,
        )
        .unwrap_or_else(|msg| api_error(StatusCode::BAD_REQUEST, "ERR-01-006", msg, &rid));
    }
    let mut by_hash: BTreeMap<String, usize> = BTreeMap::new();
    for &i in &members {
        by_hash
            .entry(deploy::compose_hash(&held_compose(&inner.deployments, &inner.fleet, i)))
            .or_insert(i);
    }
    let source = match &request.compose_hash {
        Some(h) => match by_hash.get(&h.trim_start_matches("0x").to_ascii_lowercase()) {
            Some(&i) => i,
            None => {
                let msg = format!("No live instance of app {app_id} runs compose {h}");
                return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, &msg, &rid);
            }
        },
        None if by_hash.len() > 1 => {
            let msg = format!(
                "App {app_id} runs {} composes: say which with compose_hash",
                by_hash.len()
            );
            return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, &msg, &rid);
        }
        None => members[0],
    };
    let mut compose = held_compose(&inner.deployments, &inner.fleet, source);
    if let Some(text) = &request.docker_compose_file {
        compose.insert("docker_compose_file".into(), json!(text));
    }
    if let Some(text) = &request.pre_launch_script {
        compose.insert("pre_launch_script".into(), json!(text));
    }
    let own = inner.fleet.cvms[source].node;
    let node = match node_index(&inner, request.node_id.or(request.teepod_id), own, &rid) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let app = inner.fleet.cvms[source].app_id.clone();
    let kept = inner.deployments.kept_env(source);
    let env = match env_for(&shared, &app, request.encrypted_env.as_deref(), kept, &compose, &rid) {
        Ok(env) => env,
        Err(r) => return r,
    };
    let plan = Planned {
        source,
        node,
        compose,
        env,
    };
    create_or_hold(&mut inner, &shared, &caller, plan, false, &rid)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CommitReplica {
    token: Option<String>,
    compose_hash: Option<String>,
    #[allow(dead_code)] // read for its type (a wrong one is a 422), not used by the simulator
    transaction_hash: Option<String>,
}

/// `POST /cvms/{cvm_id}/commit-replica`: the replica of CVM `{cvm_id}`
/// held under the token (`?token=` or in the body) created. The one-time
/// token is the credential (no API key).
pub(crate) async fn commit_replica(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let request: CommitReplica = match optional_body_of(&body) {
        Ok(r) => r.unwrap_or_default(),
        Err(r) => return r,
    };
    let Some(token) = query.get("token").cloned().or(request.token) else {
        return crate::state::validation_error(&["query", "token"], "Field required", "missing", Value::Null);
    };
    // Ids in the caller's version's form (the token stands for the key).
    let hashed = crate::state::version_of(&shared, &headers).is_some_and(|v| v.hashed_ids_everywhere());
    let mut inner = shared.lock();
    let Some(source) = inner.fleet.find(&cvm_id) else {
        return crate::state::cvm_not_found(&cvm_id, &rid);
    };
    // The document answers 422 for what is not a token to commit.
    commit_held(
        &mut inner,
        &shared,
        (&token, Some(source), request.compose_hash.as_deref()),
        hashed,
    )
    .unwrap_or_else(|msg| crate::state::validation_error(&["query", "token"], msg, "value_error", json!(token)))
}

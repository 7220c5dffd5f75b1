//! Deploying and updating: `POST /cvms/provision`, `POST /cvms` (commit),
//! the compose a CVM holds, its update (provision, apply, commit after an
//! on-chain registration) and replicas. The state and crypto live in
//! [`crate::deploy`].

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use phala_cloud_api::types::{CreateTappRequest, KmsType, KnownKmsType, ProvisionDstackAppRequestV2};

use crate::deploy::{self, Deployed, KMS_ID, Provisioned, held_compose, kms_info_json, known_kms};
use crate::routes::catalog::MAX_DISK_GB;
use crate::state::{Authed, Inner, RequestId, Shared, api_error, body_and_cvm, body_of, locate_for, validation_error};

/// The compose hash a provision answers: the true one, or (fault
/// `wrong_compose_hash`) another.
fn answered_hash(inner: &Inner, hash: String) -> String {
    if inner.faults.wrong_compose_hash {
        hex::encode(Sha256::digest(format!("not {hash}")))
    } else {
        hash
    }
}

/// The device id of a simulated node.
pub(crate) fn device_of(inner: &Inner, node: usize) -> String {
    deploy::device_id(inner.fleet.nodes[node].id)
}

/// The env a CVM gets: `sealed` opened with the app's key as the CVM would
/// (refused when it cannot be), else `kept`; every key must be one the
/// compose allows.
pub(crate) fn env_for(
    shared: &Shared,
    app_id: &str,
    sealed: Option<&str>,
    kept: Vec<(String, String)>,
    compose: &Map<String, Value>,
    rid: &str,
) -> Result<Vec<(String, String)>, Response> {
    let env = match sealed.filter(|e| !e.is_empty()) {
        None => kept,
        Some(sealed) => shared.kms.open_env(app_id, sealed).map_err(|why| {
            let msg = format!("encrypted_env cannot be opened: {why}");
            api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, &msg, rid)
        })?,
    };
    let allowed: Vec<&str> = compose
        .get("allowed_envs")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some((k, _)) = env.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        let msg = format!("env key {k} is not in the compose's allowed_envs");
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::INVALID_REQUEST,
            &msg,
            rid,
        ));
    }
    Ok(env)
}

/// Whether a provision's `kms` is one on chain (`ethereum`, `base`; any case:
/// Phala's TypeScript SDK sends `BASE`).
fn on_chain_kms(kms: Option<&KmsType>) -> bool {
    match kms {
        Some(KmsType::Known(known)) => matches!(known, KnownKmsType::Ethereum | KnownKmsType::Base),
        Some(KmsType::Unknown(name)) => ["ethereum", "base"].contains(&name.to_ascii_lowercase().as_str()),
        None => false,
    }
}

/// The 422 of a CVM name the service refuses ([`deploy::valid_name`]);
/// `None` for a good one.
pub(crate) fn refused_name(name: &str) -> Option<Response> {
    let msg = "Name must be 5-63 characters, start with a letter, and contain only letters, numbers and hyphens";
    (!deploy::valid_name(name)).then(|| validation_error(&["body", "name"], msg, "value_error", json!(name)))
}

/// The 400 of a compose the service cannot read (ERR-01-003).
pub(crate) fn invalid_compose(msg: &str, rid: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_COMPOSE_FILE, msg, rid)
}

pub(crate) async fn provision(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    body: Bytes,
) -> Response {
    let request: ProvisionDstackAppRequestV2 = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(refused) = refused_name(&request.name) {
        return refused;
    }
    let instance_type = request.instance_type.clone().unwrap_or_else(|| "tdx.small".into());
    let Some(vcpu) = deploy::vcpus_of(&instance_type) else {
        let msg = format!("Unknown instance type {instance_type}");
        return api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::INSTANCE_TYPE_NOT_FOUND,
            &msg,
            &rid,
        );
    };
    if request.kms_id.as_deref().is_some_and(|k| !known_kms(k)) {
        return api_error(
            StatusCode::NOT_FOUND,
            crate::codes::KMS_NOT_FOUND,
            "KMS not found",
            &rid,
        );
    }
    if let Some(d) = request.disk_size.filter(|d| !(1..=MAX_DISK_GB).contains(d)) {
        let msg = format!("disk_size {d} GB is out of range (1-{MAX_DISK_GB})");
        return api_error(StatusCode::BAD_REQUEST, "ERR-03-011", &msg, &rid);
    }
    let node = {
        let inner = shared.lock();
        let nodes = &inner.fleet.nodes;
        match (request.teepod_id, request.region.as_deref()) {
            (Some(id), _) => nodes
                .iter()
                .position(|n| n.id == id)
                .ok_or(format!("Node {id} not found")),
            (None, Some(region)) => nodes
                .iter()
                .position(|n| n.region == region)
                .ok_or(format!("No node in region {region}")),
            (None, None) => Ok(0),
        }
    };
    let node = match node {
        Ok(n) => n,
        Err(msg) => return api_error(StatusCode::NOT_FOUND, crate::codes::NODE_NOT_FOUND, &msg, &rid),
    };
    // The compose as the service stores it: the document's defaults filled in.
    let compose = match serde_json::to_value(&request.compose_file) {
        Ok(Value::Object(map)) => map,
        _ => return invalid_compose("Invalid compose file", &rid),
    };
    let hash = deploy::compose_hash(&compose);
    let mut inner = shared.lock();
    let app_id = match &request.app_id {
        Some(id) if id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) => id.to_ascii_lowercase(),
        Some(_) => {
            return validation_error(
                &["body", "app_id"],
                "app_id is 40 hex digits",
                "value_error",
                json!(request.app_id),
            );
        }
        None => {
            inner.deployments.next_app += 1;
            let n = inner.deployments.next_app;
            let ws = &inner.fleet.workspaces[caller.workspace].id;
            hex::encode(Sha256::digest(format!("{ws}/{}/{n}", request.name)))[..40].to_string()
        }
    };
    inner
        .deployments
        .provisions
        .entry((app_id.clone(), hash.clone()))
        .or_insert(Provisioned {
            compose,
            name: request.name.clone(),
            vcpu,
            instance_type: instance_type.clone(),
            workspace: caller.workspace,
            node,
            disk_gb: request.disk_size,
            on_chain: on_chain_kms(request.kms.as_ref()),
            committed: None,
        });
    let answered_hash = answered_hash(&inner, hash);
    let node = inner.fleet.nodes[0].id;
    let device = device_of(&inner, 0);
    axum::Json(json!({
        "app_id": app_id,
        "app_env_encrypt_pubkey": shared.kms.env_public_hex(&app_id),
        "compose_hash": answered_hash,
        "kms_info": kms_info_json(),
        "fmspc": "B0C06F000000",
        "device_id": device,
        "os_image_hash": deploy::os_image_hash("dstack-0.5.3"),
        "instance_type": instance_type,
        "node_id": node,
        "kms_id": KMS_ID,
        "kms_contract_id": "phala",
    }))
    .into_response()
}

pub(crate) async fn commit(State(shared): State<Arc<Shared>>, Authed { caller, rid }: Authed, body: Bytes) -> Response {
    let request: CreateTappRequest = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let app_id = request
        .app_id
        .strip_prefix("0x")
        .unwrap_or(&request.app_id)
        .to_ascii_lowercase();
    let key = (app_id.clone(), request.compose_hash.clone());
    let (mut inner, now) = shared.now();
    let Some(provisioned) = inner.deployments.provisions.get(&key).cloned() else {
        let msg = "No provisioned app with this app_id and compose_hash (provision first; provisions are kept 14 days)";
        return api_error(StatusCode::NOT_FOUND, crate::codes::INVALID_REQUEST, msg, &rid);
    };
    if provisioned.workspace != caller.workspace {
        return api_error(
            StatusCode::FORBIDDEN,
            crate::codes::PERMISSION_DENIED,
            "No access to this provision",
            &rid,
        );
    }
    if let Some(idx) = provisioned.committed.filter(|&i| !inner.fleet.cvms[i].deleted) {
        // The same app and compose committed again: the same CVM.
        return axum::Json(inner.fleet.vm_json(idx, caller.hashed_ids)).into_response();
    }
    // An app is created once: a commit of another compose for an app id a
    // live CVM was committed under is refused (Python SDK 0.2.0:
    // CVM_APP_ID_CONFLICT); new CVMs of an app come from replicas and instances.
    let committed_before = inner
        .deployments
        .provisions
        .iter()
        .any(|((app, _), p)| *app == app_id && p.committed.is_some_and(|i| !inner.fleet.cvms[i].deleted));
    if committed_before {
        let msg = format!("App {app_id} has a CVM already: add instances with POST /apps/{app_id}/instances");
        return api_error(StatusCode::CONFLICT, crate::codes::CVM_APP_ID_CONFLICT, &msg, &rid);
    }
    let sealed = request.encrypted_env.as_deref();
    let env = match env_for(&shared, &app_id, sealed, Vec::new(), &provisioned.compose, &rid) {
        Ok(env) => env,
        Err(r) => return r,
    };
    // Phala's CLI commits without env_keys, and the service takes that:
    // the keys are checked only when they are named.
    let named: Option<Vec<&str>> = request
        .env_keys
        .as_ref()
        .map(|k| k.iter().map(String::as_str).collect());
    let opened: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    if let Some(named) = named.filter(|n| !env.is_empty() && *n != opened) {
        let msg = format!("env_keys {named:?} are not the keys of encrypted_env");
        return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, &msg, &rid);
    }
    let idx = inner.fleet.create(
        &provisioned.name,
        &app_id,
        caller.workspace,
        provisioned.node,
        provisioned.vcpu,
        now,
        shared.origin,
    );
    // What the request and its compose chose: disk, who may read what.
    let flag = |k: &str| provisioned.compose.get(k).and_then(Value::as_bool);
    let cvm = &mut inner.fleet.cvms[idx];
    if let Some(d) = provisioned.disk_gb {
        cvm.disk_gb = d;
    }
    if let Some(v) = flag("public_logs") {
        cvm.visibility.public_logs = v;
    }
    if let Some(v) = flag("public_sysinfo") {
        cvm.visibility.public_sysinfo = v;
    }
    if let Some(p) = inner.deployments.provisions.get_mut(&key) {
        p.committed = Some(idx);
    }
    record_revision(&mut inner, idx, &provisioned.compose, "deploy", now, shared.origin);
    inner.deployments.deployed.insert(
        idx,
        Deployed {
            compose: provisioned.compose,
            env,
            on_chain: provisioned.on_chain.then(|| vec![request.compose_hash.clone()]),
        },
    );
    let _ = provisioned.instance_type;
    axum::Json(inner.fleet.vm_json(idx, caller.hashed_ids)).into_response()
}

/// `POST /cvms/{cvm_id}/compose_file/provision`: the new compose cached for
/// the update, hashed.
pub(crate) async fn provision_update(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (phala_cloud_api::types::ProvisionComposeFileUpdateRequest, _) =
        match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let compose = match serde_json::to_value(&request) {
        // The compose is the request without its one instruction.
        Ok(Value::Object(mut map)) => {
            map.remove("update_env_vars");
            map
        }
        _ => return invalid_compose("Invalid compose file", &rid),
    };
    let hash = deploy::compose_hash(&compose);
    let idx = at.idx;
    at.inner.deployments.updates.insert((idx, hash.clone()), compose);
    let answered = answered_hash(&at.inner, hash);
    let cvm = &at.inner.fleet.cvms[idx];
    axum::Json(json!({
        "app_id": cvm.app_id,
        "device_id": device_of(&at.inner, cvm.node),
        "compose_hash": answered,
        "kms_info": kms_info_json(),
        "compose_hash_registered": false,
    }))
    .into_response()
}

/// `PATCH /cvms/{cvm_id}/compose_file`: applies a provisioned compose (and
/// a new env, opened as the CVM would) and restarts the CVM: 202.
pub(crate) async fn apply_update(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (patch, mut at): (phala_cloud_api::types::ComposeFilePatch, _) =
        match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
            Ok(v) => v,
            Err(r) => return r,
        };
    let idx = at.idx;
    let Some(compose) = at
        .inner
        .deployments
        .updates
        .get(&(idx, patch.compose_hash.clone()))
        .cloned()
    else {
        let msg = "No compose provisioned for this CVM with this compose_hash (provision the update first)";
        return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, msg, &rid);
    };
    let app_id = at.inner.fleet.cvms[idx].app_id.clone();
    let kept = at.inner.deployments.kept_env(idx);
    let env = match env_for(&shared, &app_id, patch.encrypted_env.as_deref(), kept, &compose, &rid) {
        Ok(env) => env,
        Err(r) => return r,
    };
    if let Some(held) = on_chain_gate(&mut at.inner, idx, &patch.compose_hash, (&compose, &env), &rid) {
        return held;
    }
    let now = at.now;
    apply(&mut at.inner, &shared, idx, compose, env, now, &rid)
}

/// An app whose KMS is on chain takes only hashes registered there: for
/// one that is not, the update waits under a one-time commit token and the
/// answer is 465 with what to register (`None`: go ahead).
pub(crate) fn on_chain_gate(
    inner: &mut Inner,
    idx: usize,
    hash: &str,
    (compose, env): (&Map<String, Value>, &[(String, String)]),
    rid: &str,
) -> Option<Response> {
    let app_id = inner.fleet.cvms[idx].app_id.clone();
    let on_chain = inner.deployments.deployed.get(&idx).and_then(|d| d.on_chain.clone());
    if let Some(allowed) = &on_chain
        && !allowed.iter().any(|h| h == hash)
    {
        // The app's KMS is on chain and does not allow this hash yet.
        let token = hex::encode(Sha256::digest(format!("commit {idx} {} {}", hash, rid)));
        let device = device_of(inner, inner.fleet.cvms[idx].node);
        let pending = crate::deploy::PendingCommit {
            idx,
            compose_hash: hash.to_string(),
            // Copied only when held: the update waits under its token.
            compose: compose.clone(),
            env: env.to_vec(),
        };
        inner.deployments.pending_commits.insert(token.clone(), pending);
        return Some(commit_required(hash, &app_id, &device, &token, rid));
    }
    None
}

/// The 465 of a compose hash an on-chain KMS must allow first: what to
/// register, and the one-time token that commits the held request after.
/// At the top level (Python's SDK reads nothing else): the structured
/// error's `error_code` and `details` (`[{field, value}]`, which both SDKs
/// and our client read) and the same fields flat (the older form, in the
/// API notes, which Python's SDK also reads).
pub(crate) fn commit_required(hash: &str, app_id: &str, device: &str, token: &str, rid: &str) -> Response {
    let fields = [
        ("compose_hash", json!(hash)),
        ("app_id", json!(app_id)),
        ("device_id", json!(device)),
        ("kms_info", kms_info_json()),
        ("commit_token", json!(token)),
        (
            "commit_url",
            json!(format!("https://cloud.phala.network/commit/{token}")),
        ),
    ];
    let mut body = json!({
        "status": "precondition_required",
        "error_code": crate::codes::HASH_REGISTRATION_REQUIRED,
        "message": "Compose hash verification required: register it on chain, then commit",
        "details": fields.iter().map(|(f, v)| json!({"field": f, "value": v})).collect::<Vec<_>>(),
        "suggestions": [], "links": [], "request_id": rid,
    });
    if let Some(map) = body.as_object_mut() {
        map.extend(fields.into_iter().map(|(f, v)| (f.to_string(), v)));
    }
    let status = StatusCode::from_u16(465).unwrap_or(StatusCode::PRECONDITION_FAILED);
    (status, axum::Json(body)).into_response()
}

/// Applies a compose and env to a CVM and restarts it: 202, or 409 when busy.
pub(crate) fn apply(
    inner: &mut Inner,
    shared: &Shared,
    idx: usize,
    compose: Map<String, Value>,
    env: Vec<(String, String)>,
    now: tokio::time::Instant,
    rid: &str,
) -> Response {
    apply_answering(inner, shared, idx, (compose, env), now, rid, Map::new())
}

/// [`apply`], its 202 answer carrying `extra` fields too.
pub(crate) fn apply_answering(
    inner: &mut Inner,
    shared: &Shared,
    idx: usize,
    (compose, env): (Map<String, Value>, Vec<(String, String)>),
    now: tokio::time::Instant,
    rid: &str,
    extra: Map<String, Value>,
) -> Response {
    let restart = crate::fleet::Action::Restart { force: false };
    if let crate::fleet::Acted::Busy = inner.fleet.act(idx, restart, now, shared.origin) {
        return api_error(
            StatusCode::CONFLICT,
            crate::state::OPERATION_IN_PROGRESS,
            "Another operation is in progress on this CVM",
            rid,
        );
    }
    record_revision(inner, idx, &compose, "update", now, shared.origin);
    let on_chain = inner.deployments.deployed.get(&idx).and_then(|d| d.on_chain.clone());
    inner
        .deployments
        .deployed
        .insert(idx, Deployed { compose, env, on_chain });
    inner.deployments.updates.retain(|(i, _), _| *i != idx);
    let correlation = inner.fleet.cvms[idx].history.last().map(|h| h.correlation_id.clone());
    let mut body =
        json!({"status": "in_progress", "message": "Compose file update in progress", "correlation_id": correlation});
    if let Some(fields) = body.as_object_mut() {
        fields.extend(extra);
    }
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// `POST /cvms/{cvm_id}/commit-update`: finishes an update whose hash was
/// registered on chain. The one-time token is the credential (no API key).
pub(crate) async fn commit_update(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: phala_cloud_api::types::CommitUpdateRequest = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (mut inner, now) = shared.now();
    let Some(pending) = inner.deployments.pending_commits.get(&request.token).cloned() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-01-006",
            "Commit token invalid, used or expired",
            &rid,
        );
    };
    if inner.fleet.find(&cvm_id) != Some(pending.idx) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-01-006",
            "Commit token is for another CVM",
            &rid,
        );
    }
    if !request.compose_hash.is_empty() && request.compose_hash != pending.compose_hash {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-01-007",
            "compose_hash is not the one to commit",
            &rid,
        );
    }
    if request.transaction_hash.is_empty() {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-01-008",
            "transaction_hash is required",
            &rid,
        );
    }
    let response = apply(
        &mut inner,
        &shared,
        pending.idx,
        pending.compose,
        pending.env,
        now,
        &rid,
    );
    if response.status() == StatusCode::ACCEPTED {
        inner.deployments.pending_commits.remove(&request.token);
        if let Some(Some(allowed)) = inner
            .deployments
            .deployed
            .get_mut(&pending.idx)
            .map(|d| d.on_chain.as_mut())
        {
            allowed.push(pending.compose_hash);
        }
    }
    response
}

/// A new CVM of CVM `source`'s app on node `node`, holding `compose` and
/// `env` (and the source's on-chain allowances); its fleet index.
pub(crate) fn create_replica(
    inner: &mut Inner,
    shared: &Shared,
    source: usize,
    node: usize,
    (compose, env): (Map<String, Value>, Vec<(String, String)>),
    now: tokio::time::Instant,
) -> usize {
    let src = &inner.fleet.cvms[source];
    let (name, app_id, workspace, vcpu) = (format!("{}-r", src.name), src.app_id.clone(), src.workspace, src.vcpu);
    let idx = inner
        .fleet
        .create(&name, &app_id, workspace, node, vcpu, now, shared.origin);
    let on_chain = inner.deployments.deployed.get(&source).and_then(|d| d.on_chain.clone());
    inner
        .deployments
        .deployed
        .insert(idx, Deployed { compose, env, on_chain });
    idx
}

pub(crate) async fn compose_file(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
) -> Response {
    let at = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    axum::Json(Value::Object(held_compose(
        &at.inner.deployments,
        &at.inner.fleet,
        at.idx,
    )))
    .into_response()
}

/// Records the compose a CVM now runs as a revision of its app.
fn record_revision(
    inner: &mut Inner,
    idx: usize,
    compose: &Map<String, Value>,
    operation: &'static str,
    now: tokio::time::Instant,
    origin: tokio::time::Instant,
) {
    let n = inner.deployments.revisions.len();
    let created_at = inner
        .fleet
        .clock(now, origin)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let revision = crate::deploy::Revision {
        id: format!("rev_{}", &hex::encode(Sha256::digest(format!("revision {n}")))[..12]),
        app_id: inner.fleet.cvms[idx].app_id.clone(),
        idx,
        compose: compose.clone(),
        compose_hash: deploy::compose_hash(compose),
        operation,
        created_at,
    };
    inner.deployments.revisions.push(revision);
}

/// `GET /cvms/{cvm_id}/commit-update?token=`: what an update waiting for
/// its hash on chain will commit. The token is the credential (no API key).
pub(crate) async fn commit_update_info(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    Path(cvm_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let Some(token) = query.get("token") else {
        return validation_error(&["query", "token"], "Field required", "missing", Value::Null);
    };
    let inner = shared.lock();
    let Some(pending) = inner.deployments.pending_commits.get(token) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-01-006",
            "Commit token invalid, used or expired",
            &rid,
        );
    };
    if inner.fleet.find(&cvm_id) != Some(pending.idx) {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-01-006",
            "Commit token is for another CVM",
            &rid,
        );
    }
    let cvm = &inner.fleet.cvms[pending.idx];
    axum::Json(json!({
        "compose_hash": pending.compose_hash,
        "app_id": cvm.app_id,
        "device_id": device_of(&inner, cvm.node),
        "kms_info": kms_info_json(),
        "vm_uuid": cvm.vm_uuid,
        "instance_name": cvm.name,
    }))
    .into_response()
}

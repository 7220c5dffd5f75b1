//! The other ways a CVM's compose changes, each applied as the two-step
//! update is (the held compose changed, its hash gated by an on-chain KMS,
//! the env opened as the CVM would, a restart; 202): an uploaded docker
//! compose or pre-launch script, the one-step compose update
//! (`POST /cvms/{cvm_id}/compose_file`), a revision redeployed onto one CVM,
//! and the v0.3 upgrade Phala's CLI still sends (`PUT /cvms/{cvm_id}/compose`).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::deploy::{self, held_compose};
use crate::routes::cvm_patch::gate;
use crate::routes::deploy::{apply, env_for};
use crate::state::{Authed, Located, Shared, api_error, body_and_cvm, body_of, locate, locate_for, validation_error};

/// The hash phase 2 of an on-chain update names in its headers
/// (`X-Compose-Hash` with `X-Transaction-Hash`).
fn registered_hash(headers: &HeaderMap) -> Option<&str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    header("x-compose-hash").filter(|_| header("x-transaction-hash").is_some())
}

/// Applies `compose` to the located CVM with `sealed` (or its held env):
/// gated, opened, restarted.
fn update(
    shared: &Shared,
    mut at: Located<'_>,
    compose: Map<String, Value>,
    sealed: Option<&str>,
    registered: Option<&str>,
    rid: &str,
) -> Response {
    let idx = at.idx;
    let app_id = at.inner.fleet.cvms[idx].app_id.clone();
    let kept = at.inner.deployments.kept_env(idx);
    let env = match env_for(shared, &app_id, sealed, kept, &compose, rid) {
        Ok(env) => env,
        Err(r) => return r,
    };
    let hash = deploy::compose_hash(&compose);
    if let Some(refused) = gate(&mut at.inner, idx, &hash, registered, (&compose, &env), rid) {
        return refused;
    }
    let now = at.now;
    apply(&mut at.inner, shared, idx, compose, env, now, rid)
}

/// The largest upload taken, as the service's body limit.
const MAX_UPLOAD: usize = 1 << 20;

/// The uploaded text: the multipart field `file` the document defines
/// (`Ok(None)` when there is none), or the whole body as both official SDKs
/// send it (`text/yaml`, `text/plain`). 422 for an unreadable body or text
/// that is not UTF-8.
async fn uploaded(request: Request) -> Result<Option<String>, Response> {
    let invalid = |msg: String| validation_error(&["body", "file"], &msg, "value_error", Value::Null);
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"));
    if !multipart {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_UPLOAD)
            .await
            .map_err(|e| invalid(format!("Unreadable body: {e}")))?;
        return String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| invalid("The uploaded text is not UTF-8".into()));
    }
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| invalid(format!("Unreadable multipart body: {e}")))?;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| invalid(format!("Unreadable multipart body: {e}")))?
    {
        if field.name() == Some("file") {
            let bytes = field
                .bytes()
                .await
                .map_err(|e| invalid(format!("Unreadable upload: {e}")))?;
            return String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| invalid("The uploaded file is not UTF-8 text".into()));
        }
    }
    Ok(None)
}

/// An upload that sets the compose's `key` (`None` clears it when `required` is false).
async fn upload_into(
    shared: Arc<Shared>,
    (rid, headers, cvm_id): (String, HeaderMap, String),
    request: Request,
    key: &str,
    required: bool,
) -> Response {
    let text = match uploaded(request).await {
        Ok(t) => t.filter(|t| !t.trim().is_empty()),
        Err(r) => return r,
    };
    if required && text.is_none() {
        return validation_error(
            &["body", "file"],
            "Field required: a non-empty file",
            "missing",
            Value::Null,
        );
    }
    let at = match locate(&shared, &headers, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let mut compose = held_compose(&at.inner.deployments, &at.inner.fleet, at.idx);
    compose.insert(key.to_string(), text.map_or(Value::Null, Value::String));
    update(&shared, at, compose, None, registered_hash(&headers), &rid)
}

/// `PATCH /cvms/{cvm_id}/docker-compose`: a docker compose file, uploaded
/// as `file` or as the body.
pub(crate) async fn upload_docker_compose(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    request: Request,
) -> Response {
    upload_into(shared, (rid, headers, cvm_id), request, "docker_compose_file", true).await
}

/// `PATCH /cvms/{cvm_id}/pre-launch-script`: a script, uploaded as `file`
/// or as the body; none (or an empty one) removes the script.
pub(crate) async fn upload_pre_launch_script(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    request: Request,
) -> Response {
    upload_into(shared, (rid, headers, cvm_id), request, "pre_launch_script", false).await
}

#[derive(Deserialize)]
struct ComposeFileUpdate {
    compose_file: Map<String, Value>,
    compose_hash: String,
    #[serde(default)]
    encrypted_env: Option<String>,
    #[serde(default)]
    env_keys: Option<Vec<String>>,
}

/// `POST /cvms/{cvm_id}/compose_file`: a whole app compose with the hash
/// the caller computed of it (400 when it is not that compose's), applied
/// in one step.
pub(crate) async fn submit_compose(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    headers: HeaderMap,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let request: ComposeFileUpdate = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !request.compose_file.get("name").is_some_and(Value::is_string) {
        return validation_error(
            &["body", "compose_file", "name"],
            "Field required",
            "missing",
            Value::Null,
        );
    }
    let hash = deploy::compose_hash(&request.compose_file);
    if !request
        .compose_hash
        .trim_start_matches("0x")
        .eq_ignore_ascii_case(&hash)
    {
        let msg = format!(
            "compose_hash {} is not the hash of compose_file ({hash})",
            request.compose_hash
        );
        return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, &msg, &rid);
    }
    let mut compose = request.compose_file;
    if let Some(keys) = &request.env_keys {
        compose.insert("allowed_envs".into(), json!(keys));
    }
    if deploy::compose_hash(&compose) != hash {
        let msg = "env_keys are not the compose_file's allowed_envs: the hash would not be the one given";
        return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, msg, &rid);
    }
    let at = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    update(
        &shared,
        at,
        compose,
        request.encrypted_env.as_deref(),
        registered_hash(&headers),
        &rid,
    )
}

/// `POST /cvms/{cvm_id}/revisions/{revision_id}/redeploy`: a revision of
/// the CVM's app applied to it; `transaction_hash` says the revision's hash
/// is registered on chain (phase 2).
pub(crate) async fn redeploy_revision(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path((cvm_id, revision_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let at = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let app_id = at.inner.fleet.cvms[at.idx].app_id.clone();
    let revision = crate::routes::apps::find_revision(&at.inner, &at.caller, &app_id, &revision_id).cloned();
    let Some(revision) = revision else {
        return api_error(StatusCode::NOT_FOUND, "ERR-02-020", "Revision not found", &rid);
    };
    let registered = query
        .contains_key("transaction_hash")
        .then_some(revision.compose_hash.as_str());
    update(&shared, at, revision.compose.clone(), None, registered, &rid)
}

#[derive(Deserialize)]
struct LegacyUpgrade {
    compose_manifest: Map<String, Value>,
    #[serde(default)]
    encrypted_env: Option<String>,
    #[serde(default)]
    env_keys: Option<Vec<String>>,
    #[serde(default)]
    allow_restart: Option<bool>,
}

/// `PUT /cvms/{cvm_id}/compose`: Phala's CLI `cvms upgrade` (dstack v0.3):
/// a new app compose, its env keys and sealed env. A running CVM restarts
/// to take it, so `allow_restart: false` is refused there (400). 200 `{}`.
pub(crate) async fn legacy_upgrade(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, at): (LegacyUpgrade, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if request.allow_restart == Some(false) && at.inner.fleet.cvms[at.idx].status == "running" {
        let msg = "The CVM is running and the upgrade restarts it: send allow_restart, or stop it first";
        return api_error(StatusCode::BAD_REQUEST, "ERR-03-012", msg, &rid);
    }
    let mut compose = request.compose_manifest;
    if let Some(keys) = &request.env_keys {
        compose.insert("allowed_envs".into(), json!(keys));
    }
    let applied = update(&shared, at, compose, request.encrypted_env.as_deref(), None, &rid);
    if applied.status() == StatusCode::ACCEPTED {
        axum::Json(json!({})).into_response()
    } else {
        applied
    }
}

//! The older ways to create a CVM the service still answers: the Eliza
//! template (provision, then commit as any provision is), GPU workloads,
//! and dstack v0.3's two steps Phala's CLI `cvms create` sends (the app's
//! env key for a configuration, then the CVM from it with the sealed env).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::deploy::{self, Deployed, KMS_ID, Provisioned, kms_info_json, known_kms};
use crate::routes::deploy::{invalid_compose, refused_name};
use crate::state::{Authed, Shared, api_error, body_of, node_index, validation_error};

#[derive(Deserialize)]
struct ElizaRequest {
    name: String,
    characterfile: String,
    env_keys: Vec<String>,
    #[serde(default)]
    teepod_id: Option<i64>,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    kms_id: Option<String>,
}

/// The instance type an Eliza agent gets.
const ELIZA_TYPE: &str = "tdx.medium";

/// `POST /cvms/provision/eliza`: the character file checked (a JSON object
/// with a `name`: 400 otherwise), an app compose running a16z's Eliza with
/// it built and cached as a provision; answered as `POST /cvms/provision`
/// answers, so `POST /cvms/eliza` commits it as `POST /cvms` does.
pub(crate) async fn provision_eliza(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    body: Bytes,
) -> Response {
    let request: ElizaRequest = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(refused) = refused_name(&request.name) {
        return refused;
    }
    let character: Value = match serde_json::from_str(&request.characterfile) {
        Ok(v @ Value::Object(_)) if v.get("name").is_some_and(Value::is_string) => v,
        _ => {
            let msg = "characterfile is not an Eliza character: a JSON object with a name";
            return invalid_compose(msg, &rid);
        }
    };
    if request.kms_id.as_deref().is_some_and(|k| !known_kms(k)) {
        return api_error(
            StatusCode::NOT_FOUND,
            crate::codes::KMS_NOT_FOUND,
            "KMS not found",
            &rid,
        );
    }
    let image = request.image.as_deref().unwrap_or("latest");
    let file = format!(
        "services:\n  eliza:\n    image: ghcr.io/elizaos/eliza:{image}\n    environment:\n      CHARACTER_JSON: '{}'\n",
        character.to_string().replace('\'', "''")
    );
    let compose = json!({"name": request.name, "docker_compose_file": file, "allowed_envs": request.env_keys,
                         "kms_enabled": true, "gateway_enabled": true});
    let Some(compose) = deploy::stored_compose(compose) else {
        return invalid_compose("Invalid compose file", &rid);
    };
    let mut inner = shared.lock();
    let node = match node_index(&inner, request.teepod_id, 0, &rid) {
        Ok(n) => n,
        Err(r) => return r,
    };
    inner.deployments.next_app += 1;
    let n = inner.deployments.next_app;
    let ws = &inner.fleet.workspaces[caller.workspace].id;
    let app_id = hex::encode(Sha256::digest(format!("{ws}/{}/{n}", request.name)))[..40].to_string();
    let hash = deploy::compose_hash(&compose);
    let vcpu = deploy::vcpus_of(ELIZA_TYPE).unwrap_or(2);
    inner.deployments.provisions.insert(
        (app_id.clone(), hash.clone()),
        Provisioned {
            compose,
            name: request.name,
            vcpu,
            instance_type: ELIZA_TYPE.into(),
            workspace: caller.workspace,
            node,
            disk_gb: None,
            on_chain: false,
            committed: None,
        },
    );
    let node_id = inner.fleet.nodes[node].id;
    axum::Json(json!({
        "app_id": app_id, "app_env_encrypt_pubkey": shared.kms.env_public_hex(&app_id), "compose_hash": hash,
        "kms_info": kms_info_json(), "device_id": deploy::device_id(node_id), "node_id": node_id,
        "instance_type": ELIZA_TYPE, "kms_id": KMS_ID, "os_image_hash": deploy::os_image_hash("dstack-0.5.3"),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct WorkloadRequest {
    name: String,
    instance_type: String,
    model_id: String,
    #[serde(default)]
    scheduled_delete_at: Option<String>,
}

/// `POST /cvms/workload`: a CVM serving a model on a GPU node the service
/// picks. The request is checked as the service checks it (name, a known
/// instance type, a model, a deletion time in the future); the simulated
/// nodes are TDX CPU nodes, so there is no GPU node to pick: 409, as the
/// service answers when none is free.
pub(crate) async fn create_workload(Authed { rid, .. }: Authed, body: Bytes) -> Response {
    let request: WorkloadRequest = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(refused) = refused_name(&request.name) {
        return refused;
    }
    if deploy::vcpus_of(&request.instance_type).is_none() {
        let msg = format!("Unknown instance type {}", request.instance_type);
        return api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::INSTANCE_TYPE_NOT_FOUND,
            &msg,
            &rid,
        );
    }
    if request.model_id.trim().is_empty() {
        return api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::INVALID_REQUEST,
            "model_id is empty",
            &rid,
        );
    }
    if let Some(at) = &request.scheduled_delete_at {
        let parsed = chrono::DateTime::parse_from_rfc3339(at);
        if parsed.is_err() {
            let msg = "Input should be a valid datetime";
            return validation_error(&["body", "scheduled_delete_at"], msg, "datetime_parsing", json!(at));
        }
    }
    let msg = format!(
        "No GPU node is available for {} (model {}): the simulator's nodes are TDX CPU nodes",
        request.instance_type, request.model_id
    );
    api_error(StatusCode::CONFLICT, crate::codes::INSUFFICIENT_GPU, &msg, &rid)
}

#[derive(Deserialize)]
struct LegacyConfiguration {
    name: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    vcpu: Option<i64>,
    #[serde(default)]
    memory: Option<i64>,
    #[serde(default)]
    disk_size: Option<i64>,
    #[serde(default)]
    teepod_id: Option<i64>,
    #[serde(default)]
    listed: Option<bool>,
    compose_manifest: Map<String, Value>,
    #[serde(default)]
    encrypted_env: Option<String>,
    #[serde(default)]
    app_env_encrypt_pubkey: Option<String>,
    #[serde(default)]
    app_id_salt: Option<String>,
}

/// The app id dstack v0.3 derives from an app compose and a salt.
fn legacy_app_id(compose: &Map<String, Value>, salt: &str) -> String {
    hex::encode(Sha256::digest(format!("{}{salt}", deploy::compose_hash(compose))))[..40].to_string()
}

/// A v0.3 configuration's checks: its name, an OS image of the catalogue,
/// a node, sizes within the limits. The node's index.
fn check_configuration(shared: &Shared, config: &LegacyConfiguration, rid: &str) -> Result<usize, Response> {
    if let Some(refused) = refused_name(&config.name) {
        return Err(refused);
    }
    if !config
        .compose_manifest
        .get("docker_compose_file")
        .is_some_and(Value::is_string)
    {
        let msg = "compose_manifest has no docker_compose_file";
        return Err(invalid_compose(msg, rid));
    }
    if let Some(image) = config
        .image
        .as_deref()
        .filter(|i| !deploy::OS_IMAGES.iter().any(|(n, _, _)| n == i))
    {
        let msg = format!("OS image {image} is not available");
        return Err(api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::OS_IMAGE_NOT_COMPATIBLE,
            &msg,
            rid,
        ));
    }
    for (value, max, what) in [
        (config.vcpu, crate::routes::catalog::MAX_VCPU, "vcpu"),
        (config.memory, crate::routes::catalog::MAX_MEMORY_MB, "memory (MB)"),
        (config.disk_size, crate::routes::catalog::MAX_DISK_GB, "disk_size (GB)"),
    ] {
        if let Some(v) = value.filter(|v| !(1..=max).contains(v)) {
            let msg = format!("{what} {v} is out of range (1-{max})");
            return Err(api_error(StatusCode::BAD_REQUEST, "ERR-03-011", &msg, rid));
        }
    }
    node_index(&shared.lock(), config.teepod_id, 0, rid)
}

/// `POST /cvms/pubkey/from_cvm_configuration`: step 1: a salt for the app
/// id, and the env key of the app that compose and salt make.
pub(crate) async fn legacy_pubkey(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    body: Bytes,
) -> Response {
    let config: LegacyConfiguration = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Err(r) = check_configuration(&shared, &config, &rid) {
        return r;
    }
    let n = {
        let mut inner = shared.lock();
        inner.deployments.next_app += 1;
        inner.deployments.next_app
    };
    let salt = hex::encode(Sha256::digest(format!(
        "salt {} {n} {}",
        config.name, shared.config.seed
    )))[..32]
        .to_string();
    let app_id = legacy_app_id(&config.compose_manifest, &salt);
    axum::Json(json!({"app_env_encrypt_pubkey": shared.kms.env_public_hex(&app_id), "app_id_salt": salt}))
        .into_response()
}

/// `POST /cvms/from_cvm_configuration`: step 2: the CVM, its env opened
/// with the key step 1 gave for this compose and salt (400 when the key is
/// another app's or the env does not open). v0.3 composes may not list
/// their env keys: then every key the env holds is taken.
pub(crate) async fn legacy_create(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    body: Bytes,
) -> Response {
    let config: LegacyConfiguration = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let node = match check_configuration(&shared, &config, &rid) {
        Ok(n) => n,
        Err(r) => return r,
    };
    let Some(salt) = config.app_id_salt.as_deref().filter(|s| !s.is_empty()) else {
        let msg = "app_id_salt is required: ask POST /cvms/pubkey/from_cvm_configuration first";
        return validation_error(&["body", "app_id_salt"], msg, "missing", Value::Null);
    };
    let app_id = legacy_app_id(&config.compose_manifest, salt);
    let key = shared.kms.env_public_hex(&app_id);
    if config
        .app_env_encrypt_pubkey
        .as_deref()
        .is_some_and(|k| !k.trim_start_matches("0x").eq_ignore_ascii_case(&key))
    {
        let msg = "app_env_encrypt_pubkey is not the env key of this compose and salt";
        return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, msg, &rid);
    }
    let env = match config.encrypted_env.as_deref().filter(|e| !e.is_empty()) {
        None => Vec::new(),
        Some(sealed) => match shared.kms.open_env(&app_id, sealed) {
            Ok(env) => env,
            Err(why) => {
                let msg = format!("encrypted_env cannot be opened: {why}");
                return api_error(StatusCode::BAD_REQUEST, crate::codes::INVALID_REQUEST, &msg, &rid);
            }
        },
    };
    // v0.3 composes may not list their env keys: then the env's own are allowed.
    let mut compose = config.compose_manifest;
    if !compose.contains_key("allowed_envs") {
        compose.insert(
            "allowed_envs".into(),
            json!(env.iter().map(|(k, _)| k).collect::<Vec<_>>()),
        );
    }
    let env = match crate::routes::deploy::env_for(&shared, &app_id, None, env, &compose, &rid) {
        Ok(env) => env,
        Err(r) => return r,
    };
    let (mut inner, now) = shared.now();
    let vcpu = config.vcpu.unwrap_or(1);
    let idx = inner
        .fleet
        .create(&config.name, &app_id, caller.workspace, node, vcpu, now, shared.origin);
    let cvm = &mut inner.fleet.cvms[idx];
    cvm.memory_mb = config.memory.unwrap_or(cvm.memory_mb);
    cvm.disk_gb = config.disk_size.unwrap_or(cvm.disk_gb);
    if let Some(image) = config.image {
        cvm.base_image = image;
    }
    if config.listed == Some(true) {
        inner.records.settings.entry(idx).or_default().listed = true;
    }
    inner.deployments.deployed.insert(
        idx,
        Deployed {
            compose,
            env,
            on_chain: None,
        },
    );
    // The record as v0.3 shows it: hashed id, and the compose it runs.
    let mut vm = inner.fleet.vm_json(idx, true);
    if let Some(file) = inner.deployments.deployed[&idx].compose.get("docker_compose_file") {
        vm["docker_compose_file"] = file.clone();
    }
    axum::Json(vm).into_response()
}

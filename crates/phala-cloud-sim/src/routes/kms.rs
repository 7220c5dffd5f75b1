//! The KMS reads: the list and one KMS (KMS nodes, or from 2026-06-23 KMS
//! contracts) and an app's env-encrypt public key, signed by the simulated KMS.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::deploy::{KMS_ID, KMS_SLUG, kms_info_json, known_kms};
use crate::state::{Authed, Shared, api_error, boolean, bounded, page_of};
use sha2::{Digest, Sha256};

pub(crate) async fn kms_info(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(kms_id): Path<String>,
) -> Response {
    if !known_kms(&kms_id) {
        return api_error(
            StatusCode::NOT_FOUND,
            crate::codes::KMS_NOT_FOUND,
            "KMS not found",
            &rid,
        );
    }
    if caller.kms_contracts {
        return axum::Json(contract_json(&shared)).into_response();
    }
    axum::Json(kms_info_json()).into_response()
}

/// The simulated KMS as a contract (`KmsContract`, API versions from 2026-06-23).
fn contract_json(shared: &Shared) -> Value {
    json!({
        "id": KMS_ID, "slug": KMS_SLUG, "label": "Phala KMS", "contract_address": "phala", "chain_id": 0,
        "k256_pubkey": shared.kms.signer_hex(), "ca_pubkey": null, "node_count": 1,
    })
}

/// `GET /kms`: the KMSes, a page at a time (`page` from 1, `page_size`
/// 1-100, default 20), `is_onchain` filtering: the simulated KMS is not on
/// chain. KMS nodes (`KmsListResponse`), or from 2026-06-23 contracts
/// (`KmsContractList`).
pub(crate) async fn list_kms(
    State(shared): State<Arc<Shared>>,
    Authed { caller, .. }: Authed,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let (page, page_size, on_chain) = match (
        bounded(&query, "page", 1, 1, u64::MAX),
        bounded(&query, "page_size", 20, 1, 100),
        boolean(&query, "is_onchain"),
    ) {
        (Ok(p), Ok(s), Ok(o)) => (p, s, o),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let one = if caller.kms_contracts {
        contract_json(&shared)
    } else {
        kms_info_json()
    };
    let all: Vec<Value> = if on_chain == Some(true) { Vec::new() } else { vec![one] };
    let (items, pages) = page_of(&all, page, page_size);
    axum::Json(json!({"items": items, "total": all.len(), "page": page, "page_size": page_size, "pages": pages}))
        .into_response()
}

pub(crate) async fn kms_pubkey(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    Path((kms_id, app_id)): Path<(String, String)>,
) -> Response {
    if !known_kms(&kms_id) {
        return api_error(
            StatusCode::NOT_FOUND,
            crate::codes::KMS_NOT_FOUND,
            "KMS not found",
            &rid,
        );
    }
    let bare = app_id.strip_prefix("0x").unwrap_or(&app_id);
    if bare.len() != 40 || !bare.bytes().all(|b| b.is_ascii_hexdigit()) {
        return api_error(
            StatusCode::BAD_REQUEST,
            crate::codes::INVALID_REQUEST,
            "app_id is 40 hex digits",
            &rid,
        );
    }
    let foreign = shared.lock().faults.foreign_kms_signer;
    match shared.kms.pubkey_answer(&bare.to_ascii_lowercase(), foreign) {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(why) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "ERR-00-500", &why, &rid),
    }
}

/// `GET /kms/{kms_id}/nodes`: the nodes of a KMS contract (the simulated
/// KMS is one node).
pub(crate) async fn kms_nodes(Authed { rid, .. }: Authed, Path(kms_id): Path<String>) -> Response {
    if !known_kms(&kms_id) && kms_id != "phala" {
        return api_error(
            StatusCode::NOT_FOUND,
            crate::codes::KMS_NOT_FOUND,
            "KMS not found",
            &rid,
        );
    }
    let info = kms_info_json();
    let node =
        json!({"id": KMS_ID, "kms_type": "phala", "slug": KMS_SLUG, "url": info["url"], "version": info["version"]});
    axum::Json(json!({"items": [node], "total": 1})).into_response()
}

/// The chains on-chain KMS contracts live on, by name.
const CHAINS: [(&str, i64); 2] = [("ethereum", 1), ("base", 8453)];

/// `GET /kms/on-chain/{chain}`: the KMS contracts on a chain (none: the
/// simulated KMS is not on chain); 400 for a chain the service does not know.
pub(crate) async fn on_chain(Authed { rid, .. }: Authed, Path(chain): Path<String>) -> Response {
    let Some((name, id)) = CHAINS.iter().find(|(name, _)| name.eq_ignore_ascii_case(&chain)) else {
        let msg = format!("Unsupported chain {chain}; supported: ethereum, base");
        return api_error(StatusCode::BAD_REQUEST, "ERR-05-010", &msg, &rid);
    };
    axum::Json(json!({"chain_name": name, "chain_id": id, "contracts": []})).into_response()
}

/// `GET /kms/phala/next_app_id`: the next `counts` (1-20) app ids of the
/// workspace, each with its nonce.
pub(crate) async fn next_app_ids(
    State(shared): State<Arc<Shared>>,
    Authed { caller, .. }: Authed,
    Query(query): Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let counts = match bounded(&query, "counts", 1, 1, 20) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let ws = &inner.fleet.workspaces[caller.workspace].id;
    let first = inner.deployments.next_app;
    let ids: Vec<Value> = (first..first + counts)
        .map(|nonce| {
            let id = hex::encode(Sha256::digest(format!("{ws}/nonce/{nonce}")));
            json!({"app_id": id[..40], "nonce": nonce})
        })
        .collect();
    axum::Json(json!({"app_ids": ids})).into_response()
}

/// `GET /kms/{kms_id}/info`: what inspecting the KMS finds: its RPC
/// answering with the signer the pubkeys are signed by, and the nodes
/// using it with the OS images they offer.
pub(crate) async fn inspect(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    Path(kms_id): Path<String>,
) -> Response {
    if !known_kms(&kms_id) {
        return api_error(
            StatusCode::NOT_FOUND,
            crate::codes::KMS_NOT_FOUND,
            "KMS not found",
            &rid,
        );
    }
    let info = kms_info_json();
    let images: Vec<Value> = crate::deploy::OS_IMAGES
        .iter()
        .map(|(name, v, dev)| json!({"name": name, "version": format!("{}.{}.{}", v[0], v[1], v[2]), "is_dev": dev}))
        .collect();
    let teepods: Vec<Value> = shared
        .lock()
        .fleet
        .nodes
        .iter()
        .map(|n| {
            json!({"id": n.id, "name": n.name, "teepod_version_db": "0.5.3", "teepod_version_real": "0.5.3",
                   "kms_url": info["url"], "kms_urls": [info["url"]], "available_os_images": images, "error": null})
        })
        .collect();
    axum::Json(json!({
        "id": KMS_ID, "slug": KMS_SLUG, "endpoint": info["url"], "kms_type": "phala", "db_version": "0.5.3",
        "rpc": {
            "version": "0.5.3", "is_dev": false, "chain_id": null, "kms_contract_address": null, "gateway_app_id": null,
            "bootstrap_info": {"k256_pubkey": shared.kms.signer_hex(),
                               "ca_pubkey": hex::encode(Sha256::digest(b"simulated KMS CA")),
                               "quote_length": 5006, "eventlog_length": 12},
            "version_synced": true,
        },
        "rpc_error": null, "guest_agent": null, "guest_agent_error": null, "teepods": teepods, "on_chain": null,
    }))
    .into_response()
}

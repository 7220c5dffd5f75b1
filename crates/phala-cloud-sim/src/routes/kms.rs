//! The KMS reads: a KMS (node-keyed, or the contract from 2026-06-23) and
//! an app's env-encrypt public key, signed by the simulated KMS.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::deploy::{KMS_ID, KMS_SLUG, kms_info_json, known_kms};
use crate::state::{RequestId, Shared, api_error, authenticate};

pub(crate) async fn kms_info(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path(kms_id): Path<String>,
) -> Response {
    let caller = match authenticate(&shared, &headers, &rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !known_kms(&kms_id) {
        return api_error(StatusCode::NOT_FOUND, "ERR-05-001", "KMS not found", &rid);
    }
    if caller.kms_contracts {
        return axum::Json(json!({
            "id": KMS_ID, "slug": KMS_SLUG, "label": "Phala KMS", "contract_address": "phala", "chain_id": 0,
            "k256_pubkey": shared.kms.signer_hex(), "ca_pubkey": null, "node_count": 1,
        }))
        .into_response();
    }
    axum::Json(kms_info_json()).into_response()
}

pub(crate) async fn kms_pubkey(
    State(shared): State<Arc<Shared>>,
    axum::Extension(RequestId(rid)): axum::Extension<RequestId>,
    headers: HeaderMap,
    Path((kms_id, app_id)): Path<(String, String)>,
) -> Response {
    if let Err(r) = authenticate(&shared, &headers, &rid) {
        return r;
    }
    if !known_kms(&kms_id) {
        return api_error(StatusCode::NOT_FOUND, "ERR-05-001", "KMS not found", &rid);
    }
    let bare = app_id.strip_prefix("0x").unwrap_or(&app_id);
    if bare.len() != 40 || !bare.bytes().all(|b| b.is_ascii_hexdigit()) {
        return api_error(StatusCode::BAD_REQUEST, "ERR-02-014", "app_id is 40 hex digits", &rid);
    }
    let foreign = shared.lock().faults.foreign_kms_signer;
    match shared.kms.pubkey_answer(&bare.to_ascii_lowercase(), foreign) {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(why) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "ERR-00-500", &why, &rid),
    }
}

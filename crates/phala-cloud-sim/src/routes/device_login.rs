//! The device login Phala's CLI runs (`phala login`, RFC 8628): a code to
//! show the user, then polls for the token. The simulator stands for a user
//! who approves at once: the first poll gets the workspace's API key. A
//! code is good for one token and [`CODE_LIFETIME`]; errors are the RFC's,
//! under `detail` as the CLI reads them.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::records::DeviceLogin;
use crate::state::{Shared, body_of};

/// How long a device code may be redeemed.
const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// Seconds the CLI waits between polls.
const POLL_INTERVAL: u64 = 1;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Deserialize)]
struct CodeRequest {
    client_id: String,
    #[serde(default)]
    #[allow(dead_code)] // read for its type (a wrong one is a 422), not used by the simulator
    scope: Option<String>,
}

/// An RFC 8628 error: 400 with `error` and `error_description`.
fn oauth_error(error: &str, description: &str) -> Response {
    let body = json!({"detail": {"error": error, "error_description": description}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// `POST /auth/device/code`: no API key (the caller has none yet).
pub(crate) async fn request_code(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: CodeRequest = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if request.client_id.trim().is_empty() {
        return oauth_error("invalid_client", "client_id is empty");
    }
    let api_key = shared
        .keys
        .iter()
        .find(|(_, info)| info.label == "workspace")
        .map(|(key, _)| key.clone())
        .unwrap_or_default();
    let mut inner = shared.lock();
    inner.records.next_device += 1;
    let digest = hex::encode(Sha256::digest(format!(
        "device {} {}",
        inner.records.next_device, shared.config.seed
    )));
    let device_code = digest[..40].to_string();
    let user_code = format!("{}-{}", &digest[40..44], &digest[44..48]).to_ascii_uppercase();
    let uri = "https://cloud.phala.network/device";
    inner.records.device_logins.insert(
        device_code.clone(),
        DeviceLogin {
            api_key,
            expires_at: tokio::time::Instant::now() + CODE_LIFETIME,
        },
    );
    axum::Json(json!({
        "device_code": device_code, "user_code": user_code, "verification_uri": uri,
        "verification_uri_complete": format!("{uri}?code={user_code}"),
        "interval": POLL_INTERVAL, "expires_in": CODE_LIFETIME.as_secs(),
    }))
    .into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    device_code: String,
    grant_type: String,
}

/// `POST /auth/device/token`: the token for an approved code, once.
pub(crate) async fn poll_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let request: TokenRequest = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if request.grant_type != GRANT_TYPE {
        return oauth_error("unsupported_grant_type", &format!("grant_type must be {GRANT_TYPE}"));
    }
    let mut inner = shared.lock();
    let Some(login) = inner.records.device_logins.remove(&request.device_code) else {
        return oauth_error("invalid_grant", "Unknown or already used device code");
    };
    if tokio::time::Instant::now() >= login.expires_at {
        return oauth_error("expired_token", "The device code expired: start the login again");
    }
    axum::Json(json!({"access_token": login.api_key, "token_type": "api_key"})).into_response()
}

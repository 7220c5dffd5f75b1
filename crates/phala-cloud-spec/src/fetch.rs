//! Getting a document from a URL or a file, refusing anything that is not one.

use std::time::Duration;

use serde_json::Value;

use crate::SpecError;

/// The largest document accepted (upstream's is about 1 MB).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// Where Phala publishes its document.
pub const UPSTREAM_URL: &str = "https://cloud-api.phala.com/openapi.json";

/// Loads an OpenAPI document from `source`: an `http(s)://` URL (within
/// `timeout`, which covers the whole body) or a file path.
pub async fn fetch(source: &str, timeout: Duration) -> Result<Value, SpecError> {
    if !(source.starts_with("http://") || source.starts_with("https://")) {
        return crate::load_path(source);
    }
    let fail = |reason: String| SpecError::Fetch {
        origin: source.to_string(),
        reason,
    };
    // Our reqwest has no TLS crypto provider of its own (no aws-lc C build).
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| fail(format!("cannot build an HTTP client: {e}")))?;
    let describe = |e: reqwest::Error| {
        if e.is_timeout() {
            format!("no complete answer within {timeout:?}")
        } else if e.is_connect() {
            "cannot connect".to_string()
        } else {
            format!("transfer failed: {}", e.without_url())
        }
    };
    let resp = client
        .get(source)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(describe(e)))?;
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if status != reqwest::StatusCode::OK {
        return Err(fail(format!("HTTP {status}")));
    }
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(describe(e)))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(fail(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(256)])
        .trim_start()
        .to_lowercase();
    if content_type.contains("html") || head.starts_with("<!doctype") || head.starts_with("<html") {
        return Err(fail("got an HTML page instead of JSON".into()));
    }
    crate::load_bytes(&body, source)
}

//! What every request of the generated client carries and is held to, in
//! one place that both the facade and `raw()` users go through.
//!
//! The [`Transport`] rides in the generated `Client` (progenitor's inner
//! type) and the `ClientHooks` impl below applies it to every generated
//! request: auth, version, workspace and user-agent headers, a per-attempt
//! timeout, a cap on the body, and a tracing event per request.

use std::time::{Duration, Instant};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_LENGTH};

use crate::Client;

/// Headers, timeout and body cap applied to every request.
///
/// ```
/// use std::time::Duration;
/// let transport = phala_cloud_api::Transport::default()
///     .api_key("phak_example")?
///     .api_version("2026-01-21")?
///     .request_timeout(Duration::from_secs(60));
/// let client = phala_cloud_api::Client::new("https://cloud-api.phala.com", transport);
/// # Ok::<(), phala_cloud_api::InvalidHeader>(())
/// ```
#[derive(Clone)]
pub struct Transport {
    headers: HeaderMap,
    request_timeout: Option<Duration>,
    max_body_bytes: Option<usize>,
}

impl Default for Transport {
    /// No headers, no timeout, no cap. Also makes sure a TLS crypto provider
    /// is installed (see [`install_crypto_provider`]): the generated
    /// `Client::new` builds its HTTP client right after, from a `Transport`.
    fn default() -> Self {
        install_crypto_provider();
        Self {
            headers: HeaderMap::new(),
            request_timeout: None,
            max_body_bytes: None,
        }
    }
}

/// Installs rustls' ring provider as the process default, unless one is
/// installed already. Our reqwest is built without a provider of its own
/// (no C build of aws-lc: BENCHMARKS.md scenario 5), and refuses to build a
/// client until one is installed; everything here that builds a client
/// calls this first. Call it yourself before `reqwest::Client::new()` if
/// your own code builds clients before any of ours.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err means another thread installed one first: just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A header value that cannot be sent (a control character, say). The
/// value itself is never shown: it may be a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} contains characters not allowed in a header")]
pub struct InvalidHeader(pub &'static str);

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let shown = if v.is_sensitive() {
                    "[redacted]"
                } else {
                    v.to_str().unwrap_or("[binary]")
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Transport")
            .field("headers", &headers)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish()
    }
}

impl Transport {
    fn header(mut self, name: &'static str, value: &str, sensitive: bool) -> Result<Self, InvalidHeader> {
        let mut v = HeaderValue::from_str(value).map_err(|_| InvalidHeader(name))?;
        v.set_sensitive(sensitive);
        self.headers.insert(HeaderName::from_static(name), v);
        Ok(self)
    }
    /// `X-API-Key` (sensitive: never logged or shown).
    pub fn api_key(self, key: &str) -> Result<Self, InvalidHeader> {
        self.header("x-api-key", key, true)
    }
    /// `Authorization: Bearer` (sensitive: never logged or shown).
    pub fn bearer_token(self, token: &str) -> Result<Self, InvalidHeader> {
        self.header("authorization", &format!("Bearer {token}"), true)
    }
    /// `X-Phala-Version`: pins the answer shapes (see the API notes).
    pub fn api_version(self, version: &str) -> Result<Self, InvalidHeader> {
        self.header("x-phala-version", version, false)
    }
    /// `X-Phala-Workspace`.
    pub fn workspace(self, workspace: &str) -> Result<Self, InvalidHeader> {
        self.header("x-phala-workspace", workspace, false)
    }
    /// `User-Agent`.
    pub fn user_agent(self, ua: &str) -> Result<Self, InvalidHeader> {
        self.header("user-agent", ua, false)
    }
    /// Limit for one attempt of a JSON request, its answer included. Event
    /// streams (requests that do not ask for JSON) are not limited here: a
    /// total timeout would cut a healthy stream.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = Some(d);
        self
    }
    /// JSON answers longer than this fail to read (the error's source is an
    /// `http_body_util::LengthLimitError`; see [`is_body_too_large`]).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = Some(n);
        self
    }
    /// Puts these headers on a request built by hand (for a path the
    /// document does not have yet), as every generated request gets them.
    pub fn apply(&self, request: &mut reqwest::Request) {
        // Room for ours at once, instead of the map growing as they arrive.
        request.headers_mut().reserve(self.headers.len());
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
    }
    /// The per-attempt timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.request_timeout
    }
    /// The body cap, if any.
    pub fn body_cap(&self) -> Option<usize> {
        self.max_body_bytes
    }
}

/// Whether a request asks for JSON: only those get the total timeout and
/// the body cap (an event stream is bounded by its reader).
fn wants_json(request: &reqwest::Request) -> bool {
    request
        .headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Whether `error` (or anything in its source chain) is the body cap.
pub fn is_body_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// `response` with its body limited to `cap` bytes. A declared length over
/// the cap fails at the first byte instead of after `cap` of them; one
/// within it is left as it is: HTTP/1.1 framing (hyper) reads exactly the
/// declared length, so such a body cannot exceed the cap, and wrapping it
/// would only add a boxed body and a check per frame to every answer.
fn capped(response: reqwest::Response, cap: usize) -> reqwest::Response {
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = match declared {
        Some(n) if n > cap as u64 => 0,
        Some(_) if response.version() <= http::Version::HTTP_11 => return response,
        _ => cap,
    };
    let response: http::Response<reqwest::Body> = response.into();
    let (parts, body) = response.into_parts();
    let body = reqwest::Body::wrap(http_body_util::Limited::new(body, limit));
    reqwest::Response::from(http::Response::from_parts(parts, body))
}

impl ClientHooks<Transport> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        self.inner().apply(request);
        Ok(())
    }

    async fn exec(&self, mut request: reqwest::Request, info: &OperationInfo) -> reqwest::Result<reqwest::Response> {
        let transport = self.inner();
        let json = wants_json(&request);
        if let Some(timeout) = transport.request_timeout.filter(|_| json) {
            *request.timeout_mut() = Some(timeout);
        }
        let started = Instant::now();
        let result = self.client().execute(request).await;
        match &result {
            Ok(response) => tracing::debug!(
                op = info.operation_id,
                status = response.status().as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "response"
            ),
            Err(e) => tracing::debug!(
                op = info.operation_id,
                error = %e,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "request failed"
            ),
        }
        match (result, transport.max_body_bytes) {
            (Ok(response), Some(cap)) if json => Ok(capped(response, cap)),
            (result, _) => result,
        }
    }
}

//! The client and its one request path: timeout, body cap, retries, tracing.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::model::{Cvm, CvmState};
use crate::{ApiError, ClientBuilder, Error, RetryPolicy};

/// A response body.
type Bytes = Vec<u8>;

/// A Phala Cloud client. Cheap to clone; clones share connections and the
/// event-stream budget.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub per_request_headers: HeaderMap,
    pub base: String,
    pub raw: phala_cloud_api::Client,
    pub api_version: String,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub retry: RetryPolicy,
    pub concurrency: usize,
    pub status_chunk: usize,
    pub stop_chunk: usize,
    pub max_body_bytes: usize,
    pub max_event_bytes: usize,
    pub streams: Arc<tokio::sync::Semaphore>,
    pub max_streams: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("api_version", &self.inner.api_version)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be repeated after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads: retry every retryable error.
    Idempotent,
    /// Writes: retry only when the error proves nothing was applied.
    IfNotApplied,
}

/// Filters for [`Client::list_cvms`] (admin only on the server side).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Owner: a `usr_...` id, or `"0"` for unassigned CVMs.
    pub user_id: Option<String>,
    /// Node id.
    pub teepod_id: Option<i64>,
}

impl ListFilter {
    /// Only CVMs of this owner (`usr_...`, or `"0"` for unassigned).
    pub fn user_id(mut self, id: impl Into<String>) -> Self {
        self.user_id = Some(id.into());
        self
    }
    /// Only CVMs on this node.
    pub fn teepod_id(mut self, id: i64) -> Self {
        self.teepod_id = Some(id);
        self
    }
}

/// Error answers are read this far at most: enough for any JSON error body.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The first `limit` bytes of a body, read until `timeout`; the rest is
/// dropped with the response. For answers that only feed an error, so a
/// server sending an endless body cannot hold the caller or its memory.
pub(crate) async fn body_prefix(mut resp: reqwest::Response, limit: usize, timeout: Duration) -> Vec<u8> {
    let until = Instant::now() + timeout;
    let mut body = Vec::new();
    while body.len() < limit {
        match tokio::time::timeout_at(until, resp.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]),
            _ => break,
        }
    }
    body
}

/// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Configure a client in code.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured like Phala's official SDKs: `PHALA_CLOUD_API_KEY`
    /// (or `PHALA_OIDC_TOKEN`), `PHALA_CLOUD_API_PREFIX`, `PHALA_CLOUD_WORKSPACE`.
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::from_env_with(|name| std::env::var(name).ok())?.build()
    }

    /// The generated client, authenticated the same way, for anything not wrapped here.
    pub fn raw(&self) -> &phala_cloud_api::Client {
        &self.inner.raw
    }

    /// The origin requests go to (without `/api/v1`).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Event streams this client (and its clones) may hold at once.
    pub fn max_streams(&self) -> usize {
        self.inner.max_streams
    }

    /// The pinned API version.
    pub fn api_version(&self) -> &str {
        &self.inner.api_version
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.inner.base)
    }

    pub(crate) fn request(&self, method: Method, url: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, url)
            .headers(self.inner.per_request_headers.clone())
    }

    /// Sends once: status, headers and the body (capped), within the request timeout.
    async fn attempt(
        &self,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
    ) -> Result<(StatusCode, HeaderMap, Bytes), Error> {
        let timeout = self.inner.request_timeout;
        let work = async {
            let mut resp = build().send().await.map_err(Error::transport)?;
            let status = resp.status();
            let headers = resp.headers().clone();
            let limit = self.inner.max_body_bytes;
            let declared = resp.content_length().map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            if declared.is_some_and(|n| n > limit) {
                return Err(Error::BodyTooLarge { limit });
            }
            // Sized once when the length is declared; otherwise grown by
            // doubling, but never past the cap.
            let mut body = Vec::with_capacity(declared.unwrap_or(0));
            while let Some(chunk) = resp.chunk().await.map_err(Error::transport)? {
                let need = body.len() + chunk.len();
                if need > limit {
                    return Err(Error::BodyTooLarge { limit });
                }
                if need > body.capacity() {
                    let target = (body.capacity() * 2).max(need).min(limit);
                    body.reserve_exact(target - body.len());
                }
                body.extend_from_slice(&chunk);
            }
            Ok((status, headers, body))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout(timeout)),
        }
    }

    /// Sends with retries as `replay` allows; a non-2xx answer becomes [`Error::Api`].
    pub(crate) async fn send(
        &self,
        op: &'static str,
        replay: Replay,
        build: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
    ) -> Result<(u16, Bytes), Error> {
        let policy = &self.inner.retry;
        let started = Instant::now();
        let mut attempt = 1;
        loop {
            let result = match self.attempt(build).await {
                Ok((status, _, body)) if status.is_success() => Ok((status.as_u16(), body)),
                Ok((status, headers, body)) => Err(Error::Api(Box::new(ApiError::from_parts(status, &headers, &body)))),
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(ok) => {
                    tracing::debug!(op, attempt, status = ok.0, "request done");
                    return Ok(ok);
                }
                Err(e) => e,
            };
            let may_retry = match replay {
                Replay::Idempotent => err.is_retryable(),
                Replay::IfNotApplied => err.proves_not_applied(),
            };
            let delay = policy.delay(attempt, err.retry_after());
            let within_deadline = policy.deadline().is_none_or(|d| started.elapsed() + delay < d);
            if !may_retry || attempt >= policy.max_attempts() || !within_deadline {
                tracing::debug!(op, attempt, error = %err, "request failed");
                return Err(err);
            }
            tracing::warn!(op, attempt, error = %err, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, Error> {
        serde_json::from_slice(body).map_err(|e| Error::decode(status, e, body))
    }

    pub(crate) fn check_id(id: &str, what: &str) -> Result<(), Error> {
        if id.trim().is_empty() {
            return Err(Error::InvalidInput(format!("empty {what}")));
        }
        Ok(())
    }

    /// The current state of one CVM (immediate mode). `id` may be the hashed
    /// id, the VM UUID, `app_<app id>`, the instance id or the name.
    pub async fn cvm_state(&self, id: &str) -> Result<CvmState, Error> {
        Self::check_id(id, "CVM id")?;
        let url = self.url(&format!("/cvms/{}/state", encode_segment(id)));
        let (status, body) = self
            .send("cvm_state", Replay::Idempotent, &|| self.request(Method::GET, &url))
            .await?;
        Self::decode(status, &body)
    }

    /// CVMs of the caller's workspace, in either response shape.
    pub async fn list_cvms(&self, filter: &ListFilter) -> Result<Vec<Cvm>, Error> {
        let url = self.url("/cvms");
        let mut query: Vec<(&str, String)> = Vec::new();
        if let Some(u) = &filter.user_id {
            query.push(("user_id", u.clone()));
        }
        if let Some(t) = filter.teepod_id {
            query.push(("teepod_id", t.to_string()));
        }
        let (status, body) = self
            .send("list_cvms", Replay::Idempotent, &|| {
                self.request(Method::GET, &url).query(&query)
            })
            .await?;
        Cvm::decode_list_answer(status, &body)
    }

    /// The CVMs (replicas) of one app. `app_id` is the hex id, with or without `app_`.
    pub async fn app_cvms(&self, app_id: &str) -> Result<Vec<Cvm>, Error> {
        Self::check_id(app_id, "app id")?;
        let url = self.url(&format!("/apps/{}/cvms", encode_segment(app_id)));
        let (status, body) = self
            .send("app_cvms", Replay::Idempotent, &|| self.request(Method::GET, &url))
            .await?;
        Cvm::decode_list_answer(status, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cannot_inject_paths() {
        assert_eq!(encode_segment("cvm_ab-1.x~"), "cvm_ab-1.x~");
        assert_eq!(encode_segment("../admin?x=1#f"), "..%2Fadmin%3Fx%3D1%23f");
        assert_eq!(encode_segment("a b/é"), "a%20b%2F%C3%A9");
    }
}

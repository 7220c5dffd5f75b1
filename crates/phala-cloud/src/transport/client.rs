//! The client, and the one retry loop every request goes through: each
//! attempt is a generated builder sent again (builders are `Clone`), so
//! transport concerns stay in the generated client's hooks and the wire
//! format in the generated code.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use phala_cloud_api::{ByteStream, ResponseValue};
use tokio::time::Instant;

use crate::cvm::Cvm;
use crate::raw::types::ListCvmsPaginatedFamily;
use crate::{ClientBuilder, CvmState, Error, RetryPolicy};

/// A Phala Cloud client. Cheap to clone; clones share connections and the
/// event-stream budget.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub raw: phala_cloud_api::Client,
    pub base: String,
    pub api_version: phala_cloud_api::versions::ApiVersion,
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
            .field("api_version", &self.inner.api_version.as_str())
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

/// Filters for [`Client::list_cvms`] and [`Client::cvms`]. Each API version
/// takes its own: `user_id` and `teepod_id` (admin only) until 2026-01-21,
/// `family` and `instance_types` from 2026-05-22; one the pinned version
/// does not take is refused before anything is sent.
///
/// ```
/// use phala_cloud::{ListFilter, raw::types::ListCvmsPaginatedFamily};
/// let gpus = ListFilter::default().family(ListCvmsPaginatedFamily::Gpu).instance_types(["h200.small"]);
/// assert_eq!(gpus.instance_types, ["h200.small"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListFilter {
    /// Owner: a `usr_...` id, or `"0"` for unassigned CVMs.
    pub user_id: Option<String>,
    /// Node id.
    pub teepod_id: Option<i64>,
    /// Instance family: all, CPU or GPU.
    pub family: Option<ListCvmsPaginatedFamily>,
    /// Instance types (e.g. `tdx.small`); empty: any.
    pub instance_types: Vec<String>,
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
    /// Only CVMs of this instance family.
    pub fn family(mut self, family: ListCvmsPaginatedFamily) -> Self {
        self.family = Some(family);
        self
    }
    /// Only CVMs of these instance types.
    pub fn instance_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.instance_types = types.into_iter().map(Into::into).collect();
        self
    }
}

/// Reads a streamed body whole, refusing more than `limit` bytes. Sized
/// once when the length is declared, otherwise grown by doubling, never past
/// the cap.
pub(crate) async fn read_capped(
    answer: ResponseValue<ByteStream>,
    limit: usize,
    timeout: Duration,
) -> Result<Vec<u8>, Error> {
    let declared = answer
        .content_length()
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if declared.is_some_and(|n| n > limit) {
        return Err(Error::BodyTooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    let mut chunks = answer.into_inner_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Error::transport(e, timeout))?;
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
    Ok(body)
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

    /// The generated client, with the same headers, per-attempt timeout and
    /// body cap (its hooks), for anything not wrapped here. No retries.
    pub fn raw(&self) -> &phala_cloud_api::Client {
        &self.inner.raw
    }

    /// An error of a [`raw`](Self::raw) call as this crate's [`Error`]:
    /// status, error code, message, request id and a bounded body snippet
    /// (an unexpected answer's body is read, at most 64 KiB, within the
    /// request timeout).
    pub async fn error_from_raw<E: serde::Serialize>(&self, e: phala_cloud_api::Error<E>) -> Error {
        Error::from_raw(e, self.inner.request_timeout, self.inner.max_body_bytes).await
    }

    /// The origin requests go to (without `/api/v1`).
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Event streams this client (and its clones) may hold at once.
    pub fn max_streams(&self) -> usize {
        self.inner.max_streams
    }

    /// The limit for one request and its answer (60 s unless configured;
    /// event streams are bound by the idle timeout instead).
    pub fn request_timeout(&self) -> Duration {
        self.inner.request_timeout
    }

    /// The pinned API version, as sent (`LATEST` resolved to the newest).
    pub fn api_version(&self) -> &str {
        self.inner.api_version.as_str()
    }

    /// The pinned API version and what it changes.
    pub fn version(&self) -> phala_cloud_api::versions::ApiVersion {
        self.inner.api_version
    }

    /// Sends `attempt` (a generated request) with retries as `replay` and the
    /// policy allow; every error becomes an [`Error`] with a bounded snippet.
    pub(crate) async fn send<T, E, F, Fut>(&self, op: &'static str, replay: Replay, attempt: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<ResponseValue<T>, phala_cloud_api::Error<E>>>,
        E: serde::Serialize,
    {
        let inner = &self.inner;
        self.retrying(op, replay, || async {
            match attempt().await {
                Ok(answer) => Ok(answer.into_inner()),
                Err(e) => Err(Error::from_raw(e, inner.request_timeout, inner.max_body_bytes).await),
            }
        })
        .await
    }

    /// The retry loop itself, over any attempt that yields our [`Error`].
    ///
    /// The deadline bounds the call, not only when attempts may start: each
    /// attempt gets the smaller of the request timeout and the time left
    /// (the enclosing batch call's deadline, if that is sooner), and no
    /// retry is slept for that could not start before it. When retries end
    /// without success the error says so ([`Error::GaveUp`]); a first
    /// attempt that fails for good comes back as it is.
    pub(crate) async fn retrying<T, F, Fut>(&self, op: &'static str, replay: Replay, attempt: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let policy = &self.inner.retry;
        let per_attempt = self.inner.request_timeout;
        let started = Instant::now();
        let until = crate::deadline::from_now(policy.deadline());
        let gave_up = |attempts: u32, last: Error| Error::GaveUp {
            attempts,
            elapsed: started.elapsed(),
            per_attempt,
            last: Box::new(last),
        };
        if until.is_some_and(|u| u <= started) {
            tracing::debug!(op, "the call's deadline passed before this request was sent");
            return Err(gave_up(0, Error::Timeout(Duration::ZERO)));
        }
        let mut n = 1;
        loop {
            // The request timeout bounds every attempt already; the deadline
            // needs a timer of its own only when it is the nearer limit.
            let (result, cut) = match until.map(|u| (u, u.saturating_duration_since(Instant::now()))) {
                Some((until, left)) if left < per_attempt => match tokio::time::timeout_at(until, attempt()).await {
                    Ok(result) => (result, false),
                    Err(_) => (Err(Error::Timeout(left)), true),
                },
                _ => (attempt().await, false),
            };
            let err = match result {
                Ok(value) => {
                    tracing::debug!(op, attempt = n, "request done");
                    return Ok(value);
                }
                Err(e) => e,
            };
            let may_retry = match replay {
                Replay::Idempotent => err.is_retryable(),
                Replay::IfNotApplied => err.proves_not_applied(),
            };
            let delay = policy.delay(n, err.retry_after());
            let room = until.is_none_or(|u| Instant::now() + delay < u);
            if cut || !may_retry || n >= policy.max_attempts() || !room {
                tracing::debug!(op, attempt = n, error = %err, "request failed");
                let final_as_is = n == 1 && !cut && (!may_retry || policy.max_attempts() == 1);
                return Err(if final_as_is { err } else { gave_up(n, err) });
            }
            tracing::warn!(op, attempt = n, error = %err, delay_ms = delay.as_millis() as u64, "retrying");
            tokio::time::sleep(delay).await;
            n += 1;
        }
    }

    /// An id that goes into a path: not blank, no control characters, and
    /// not `.` or `..`, which URL parsing would resolve into a different path.
    pub(crate) fn check_id(id: &str, what: &str) -> Result<(), Error> {
        if let Some(why) = crate::batch::invalid_id(id) {
            return Err(Error::InvalidInput(format!("{what} {id:?}: {why}")));
        }
        if id == "." || id == ".." {
            return Err(Error::InvalidInput(format!(
                "{what} {id:?} would leave its path segment"
            )));
        }
        Ok(())
    }

    /// The current state of one CVM (immediate mode). `id` may be the hashed
    /// id, the VM UUID, `app_<app id>`, the instance id or the name.
    ///
    /// The state endpoint can answer with an event stream, so the generated
    /// client hands its body over as bytes; it is read here, within the
    /// request timeout and the body cap, into the generated [`CvmState`].
    pub async fn cvm_state(&self, id: &str) -> Result<CvmState, Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().get_cvm_state().cvm_id(id);
        let (timeout, cap) = (self.inner.request_timeout, self.inner.max_body_bytes);
        self.retrying("cvm_state", Replay::Idempotent, || async {
            let work = async {
                let answer = match request.clone().send().await {
                    Ok(answer) => answer,
                    Err(e) => return Err(Error::from_raw(e, timeout, cap).await),
                };
                let body = read_capped(answer, cap, timeout).await?;
                serde_json::from_slice::<CvmState>(&body).map_err(|e| Error::decode(200, e, &body))
            };
            tokio::time::timeout(timeout, work)
                .await
                .unwrap_or(Err(Error::Timeout(timeout)))
        })
        .await
    }

    /// The CVMs (replicas) of one app. `app_id` is the hex id, with or without `app_`.
    pub async fn app_cvms(&self, app_id: &str) -> Result<Vec<Cvm>, Error> {
        Self::check_id(app_id, "app id")?;
        let request = self.raw().get_app_cvms().app_id(app_id);
        let answer = self
            .send("app_cvms", Replay::Idempotent, || request.clone().send())
            .await?;
        Ok(Cvm::from_app_list(answer))
    }
}

#[cfg(test)]
mod tests {
    //! The retry loop on tokio's paused clock: attempts that take time take
    //! it virtually, so the deadline arithmetic is checked exactly.
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::ApiError;

    const MINUTE: Duration = Duration::from_secs(60);

    fn client(policy: RetryPolicy) -> Client {
        Client::builder()
            .base_url("http://127.0.0.1:9")
            .api_key("k")
            .request_timeout(MINUTE)
            .retry_policy(policy)
            .build()
            .unwrap()
    }

    fn steady(deadline: Duration) -> RetryPolicy {
        RetryPolicy::default()
            .with_jitter(0.0)
            .with_base_delay(Duration::from_millis(500))
            .with_deadline(deadline)
    }

    /// An attempt that uses its whole request timeout, as against a
    /// slowloris body, and counts itself.
    async fn slow_attempt(count: &AtomicU32) -> Result<(), Error> {
        count.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(MINUTE).await;
        Err(Error::Timeout(MINUTE))
    }

    fn unavailable(retry_after: Option<Duration>) -> Error {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(d) = retry_after {
            headers.insert(reqwest::header::RETRY_AFTER, d.as_secs().into());
        }
        let e = ApiError::from_parts(reqwest::StatusCode::SERVICE_UNAVAILABLE, &headers, b"");
        assert_eq!(e.retry_after, retry_after);
        Error::Api(Box::new(e))
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_attempt_is_cut_at_the_deadline() {
        let client = client(steady(Duration::from_secs(150)));
        let count = AtomicU32::new(0);
        let started = Instant::now();
        let err = client
            .retrying("test", Replay::Idempotent, || slow_attempt(&count))
            .await
            .unwrap_err();
        // 0-60 s, 60.5-120.5 s, 121.5 s until the deadline cuts it at 150 s.
        assert_eq!(started.elapsed(), Duration::from_secs(150));
        assert_eq!(count.load(Ordering::SeqCst), 3);
        match &err {
            Error::GaveUp {
                attempts,
                elapsed,
                per_attempt,
                last,
            } => {
                assert_eq!(
                    (*attempts, *elapsed, *per_attempt),
                    (3, Duration::from_secs(150), MINUTE)
                );
                assert!(matches!(**last, Error::Timeout(d) if d == Duration::from_millis(28_500)));
            }
            other => panic!("expected GaveUp, got {other:?}"),
        }
        // Retries are spent: not retryable any more, though the last
        // attempt's reason (a timeout) was a passing one.
        assert!(err.is_timeout() && !err.is_retryable() && err.last_attempt().is_retryable());
        assert_eq!(err.to_string(), "timed out: 3 attempts over 150 s (each at most 60 s)");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_would_pass_the_deadline_is_not_taken() {
        let client = client(steady(Duration::from_secs(10)).with_max_delay(Duration::from_secs(60)));
        let count = AtomicU32::new(0);
        let started = Instant::now();
        let err = client
            .retrying("test", Replay::Idempotent, || async {
                count.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(unavailable(Some(Duration::from_secs(30))))
            })
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "gave up at once, not after sleeping");
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(matches!(err, Error::GaveUp { attempts: 1, .. }));
        assert_eq!(err.status(), Some(503));
        assert!(!err.is_timeout());
        assert!(
            err.to_string()
                .ends_with("(gave up: 1 attempt over 0 ms (each at most 60 s))"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_deadline_passed_sends_nothing() {
        let client = client(steady(Duration::from_secs(150)));
        let count = AtomicU32::new(0);
        let until = Instant::now() + Duration::from_secs(1);
        let err = crate::deadline::within(Some(until), async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            client
                .retrying("test", Replay::IfNotApplied, || slow_attempt(&count))
                .await
                .unwrap_err()
        })
        .await;
        assert_eq!(count.load(Ordering::SeqCst), 0);
        assert!(matches!(err, Error::GaveUp { attempts: 0, .. }));
        assert!(err.proves_not_applied() && err.is_timeout());
        assert!(err.to_string().starts_with("timed out: not sent"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_enclosing_call_deadline_cuts_sooner_than_the_policy() {
        let client = client(steady(Duration::from_secs(150)));
        let count = AtomicU32::new(0);
        let started = Instant::now();
        let err = crate::deadline::within(Some(started + Duration::from_secs(90)), async {
            client
                .retrying("test", Replay::Idempotent, || slow_attempt(&count))
                .await
                .unwrap_err()
        })
        .await;
        assert_eq!(started.elapsed(), Duration::from_secs(90));
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert!(matches!(err, Error::GaveUp { attempts: 2, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_returned_as_they_are_when_nothing_was_retried() {
        let client = client(steady(Duration::from_secs(150)));
        let err = client
            .retrying("test", Replay::Idempotent, || async {
                let headers = reqwest::header::HeaderMap::new();
                let e = ApiError::from_parts(reqwest::StatusCode::NOT_FOUND, &headers, b"");
                Err::<(), _>(Error::Api(Box::new(e)))
            })
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::Api(e) if e.status == 404), "{err:?}");

        // Without a deadline the attempts run out: four, with the backoff between them.
        let client = self::client(steady(Duration::ZERO).without_deadline());
        let count = AtomicU32::new(0);
        let started = Instant::now();
        let err = client
            .retrying("test", Replay::Idempotent, || async {
                count.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(unavailable(None))
            })
            .await
            .unwrap_err();
        assert_eq!(count.load(Ordering::SeqCst), 4);
        assert_eq!(started.elapsed(), Duration::from_millis(500 + 1000 + 2000));
        assert!(matches!(err, Error::GaveUp { attempts: 4, .. }));
        assert_eq!(err.status(), Some(503));
    }
}

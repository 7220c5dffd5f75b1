//! One error type for everything the client can report.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::CvmState;

/// The longest body excerpt an error keeps.
pub const SNIPPET_LIMIT: usize = 512;

/// Everything that can go wrong. Cheap to clone (a transport error's
/// source is shared), so fleet reports carry it per id.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client is misconfigured (bad base URL, plain http to a remote host, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// A required environment variable is not set.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// The caller passed something the API would refuse; nothing was sent.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The server answered with an error status.
    #[error(transparent)]
    Api(Box<ApiError>),
    /// The request could not be sent or its answer not read.
    #[error("transport error{}: {message}", if *.connect { " (connect)" } else { "" })]
    Transport {
        /// What failed, without the URL's secrets (there are none) or headers.
        message: String,
        /// True when the server was never reached: nothing can have been applied.
        connect: bool,
        #[source]
        /// The underlying error, when kept.
        source: Option<std::sync::Arc<reqwest::Error>>,
    },
    /// The request took longer than the configured timeout.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A success answer that does not decode.
    #[error("cannot decode the answer ({status}): {message}; body starts: {snippet}")]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// What the decoder said.
        message: String,
        /// The first bytes of the body.
        snippet: String,
    },
    /// The answer is larger than the configured cap.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// A wait ran out of time; carries the last state seen.
    #[error("deadline passed after {waited:?} waiting for `{target}`; last status: {}", .last.as_ref().map(|s| s.status.as_str()).unwrap_or("unknown"))]
    Deadline {
        /// The status waited for.
        target: String,
        /// How long it waited.
        waited: Duration,
        /// The last state seen, if any.
        last: Option<Box<CvmState>>,
    },
    /// No CVM answers to a reference (in the listing the call resolved it
    /// with): the reference's id in a fleet report, this call's error for one.
    #[error("{0}")]
    NoSuchCvm(String),
    /// Several CVMs answer to a reference that must name one (a name two
    /// CVMs share): name it by hashed id or VM UUID.
    #[error("{reference:?} names {matches} CVMs; name one by its id or VM UUID")]
    AmbiguousCvm {
        /// The reference as given.
        reference: String,
        /// How many CVMs it names.
        matches: usize,
    },
    /// A call was applied, but the CVM did not then settle as it should
    /// (it ended in a failed state, or was no longer found).
    #[error("{0}")]
    Unsettled(String),
    /// The SSE stream broke its protocol.
    #[error("event stream: {0}")]
    Stream(String),
    /// Retries ended without success: the attempts ran out, the retry
    /// deadline left no room for another, or cut the last attempt short.
    /// Says how many attempts were made over how long; [`Error::last_attempt`]
    /// (and `status`, `kind`, `api`, ...) read the last attempt's error.
    #[error("{}", gave_up_message(*.attempts, *.elapsed, *.per_attempt, .last))]
    GaveUp {
        /// Attempts made (0: the call's deadline passed before this request
        /// was sent, so nothing was).
        attempts: u32,
        /// Time from the first attempt to giving up.
        elapsed: Duration,
        /// The limit of one attempt (the request timeout).
        per_attempt: Duration,
        /// The last attempt's error.
        #[source]
        last: Box<Error>,
    },
    /// A trust check failed: what the server answered is not what a TEE
    /// user may accept (a compose hash that is not ours, an env key its KMS
    /// did not sign). Nothing after the check was sent.
    #[error("trust check failed: {0}")]
    Trust(#[from] TrustError),
    /// The app's KMS is on chain and does not allow the new compose hash
    /// yet (HTTP 465): nothing was applied. Register the hash on chain, then
    /// finish with [`Client::commit_update`](crate::Client::commit_update).
    #[error(
        "the app's KMS is on chain: register compose hash {} for app {} on chain, then commit the update",
        .0.compose_hash, .0.app_id
    )]
    OnChainHashRequired(Box<crate::update::OnChainPending>),
}

/// What a trust check found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The server's compose hash is not the hash of the compose we sent.
    #[error("the server's compose hash {server} is not ours ({ours}): it would run another compose")]
    ComposeHashMismatch {
        /// The hash of what we sent.
        ours: String,
        /// What the server answered.
        server: String,
    },
    /// The compose a deployed CVM holds differs from what we sent.
    #[error("CVM {cvm} holds a compose that differs from ours at `{field}`")]
    ComposeChanged {
        /// The CVM (it was created: stop or delete it).
        cvm: String,
        /// The first field that differs.
        field: String,
    },
    /// The provision answer's env key is not the one the KMS hands out.
    #[error("the provision answer's env key {provisioned} is not the KMS's {kms}")]
    EnvKeyMismatch {
        /// The key in the provision answer.
        provisioned: String,
        /// The key the KMS answered (and signed).
        kms: String,
    },
    /// The env key's signature does not parse or recovers no signer.
    #[error("the env key's signature is not valid: {0}")]
    BadSignature(String),
    /// Another signer signed the env key.
    #[error("the env key was signed by {recovered}, not by the expected KMS signer {expected}")]
    SignerMismatch {
        /// The signer we trust.
        expected: String,
        /// The one the signature recovers.
        recovered: String,
    },
    /// The signature's timestamp is too old (a replayed key).
    #[error("the env key's signature is {age_secs} s old (at most {max_secs} s accepted)")]
    StaleKey {
        /// Its age.
        age_secs: u64,
        /// The limit.
        max_secs: u64,
    },
    /// The signature's timestamp is in the future.
    #[error("the env key's signature is dated {ahead_secs} s in the future")]
    FutureKey {
        /// How far ahead.
        ahead_secs: u64,
    },
}

/// `timed out: 3 attempts over 150 s (each at most 60 s)`, or the last
/// cause followed by the same account.
fn gave_up_message(attempts: u32, elapsed: Duration, per_attempt: Duration, last: &Error) -> String {
    use crate::deadline::human;
    if attempts == 0 {
        return format!(
            "timed out: not sent, the call's deadline passed after {}",
            human(elapsed)
        );
    }
    let plural = if attempts == 1 { "" } else { "s" };
    let account = format!(
        "{attempts} attempt{plural} over {} (each at most {})",
        human(elapsed),
        human(per_attempt)
    );
    match last {
        Error::Timeout(_) => format!("timed out: {account}"),
        other => format!("{other} (gave up: {account})"),
    }
}

/// What kind of API error this is, without string matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiErrorKind {
    /// 400: the server could not read the request.
    BadRequest,
    /// 401: missing or unknown credentials.
    Unauthorized,
    /// 403: no access (workspace, admin-only filter).
    Forbidden,
    /// 404: no such CVM or app.
    NotFound,
    /// 409 without an `error_code`: a transient conflict, worth retrying.
    Conflict,
    /// 409 with an `error_code`: another operation is in progress on the
    /// CVM; retrying now would be refused again.
    OperationInProgress,
    /// 422: the request failed validation; see `field_errors`.
    Validation,
    /// 429: slow down; see `retry_after`.
    RateLimited,
    /// 465-468: on-chain KMS preconditions.
    KmsPrecondition,
    /// 500-599: the server failed.
    Server,
    /// Any other status.
    Other,
}

/// One field error of a 422 answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Where, e.g. `["query", "interval"]`.
    pub loc: Vec<String>,
    /// The validator's message.
    pub msg: String,
    /// The validator's error type, e.g. `greater_than_equal`.
    pub kind: String,
}

/// An error answer from the API.
#[derive(Debug, Clone, thiserror::Error)]
#[error("HTTP {status}{}: {message}{}", .error_code.as_ref().map(|c| format!(" {c}")).unwrap_or_default(), .request_id.as_ref().map(|r| format!(" (request {r})")).unwrap_or_default())]
#[non_exhaustive]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// `ERR-{module}-{code}`, when the server sent one.
    pub error_code: Option<String>,
    /// A human-readable message (the server's, or the status reason).
    pub message: String,
    /// From the body or the `X-Request-ID` header.
    pub request_id: Option<String>,
    /// `details` as sent.
    pub details: Option<Value>,
    /// Field errors of a 422.
    pub field_errors: Vec<FieldError>,
    /// `Retry-After`, when sent.
    pub retry_after: Option<Duration>,
    /// The first bytes of the body.
    pub snippet: String,
}

impl ApiError {
    /// The kind of error, from the status.
    pub fn kind(&self) -> ApiErrorKind {
        match self.status {
            400 => ApiErrorKind::BadRequest,
            401 => ApiErrorKind::Unauthorized,
            403 => ApiErrorKind::Forbidden,
            404 => ApiErrorKind::NotFound,
            409 if self.error_code.is_some() => ApiErrorKind::OperationInProgress,
            409 => ApiErrorKind::Conflict,
            422 => ApiErrorKind::Validation,
            429 => ApiErrorKind::RateLimited,
            465..=468 => ApiErrorKind::KmsPrecondition,
            500..=599 => ApiErrorKind::Server,
            _ => ApiErrorKind::Other,
        }
    }

    /// Builds the error from a status, headers and body, whether the server
    /// put the structured fields at the top level or under `detail`.
    pub(crate) fn from_parts(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let snippet = snippet(body);
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let detail = json.get("detail");
        let structured = match detail {
            Some(d @ Value::Object(_)) => d,
            _ => &json,
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        let field_errors: Vec<FieldError> = match detail {
            Some(Value::Array(items)) => items
                .iter()
                .map(|e| FieldError {
                    loc: e
                        .get("loc")
                        .and_then(Value::as_array)
                        .map(|l| {
                            l.iter()
                                .map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    msg: text(e.get("msg")).unwrap_or_default(),
                    kind: text(e.get("type")).unwrap_or_default(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let message = text(structured.get("message"))
            .or_else(|| text(detail))
            .or_else(|| field_errors.first().map(|f| format!("{} ({})", f.msg, f.loc.join("."))))
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        let header_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        ApiError {
            status: status.as_u16(),
            error_code: text(structured.get("error_code")),
            message,
            request_id: text(structured.get("request_id")).or(header_id),
            details: structured.get("details").filter(|d| !d.is_null()).cloned(),
            field_errors,
            retry_after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::retry::parse_retry_after),
            snippet,
        }
    }
}

/// The first [`SNIPPET_LIMIT`] bytes of a body, as text.
pub(crate) fn snippet(body: &[u8]) -> String {
    let cut = &body[..body.len().min(SNIPPET_LIMIT)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if body.len() > SNIPPET_LIMIT {
        s.push('…');
    }
    s
}

impl Error {
    /// The error of the last attempt: itself, unless retries gave up
    /// ([`Error::GaveUp`]), then the error they gave up on.
    pub fn last_attempt(&self) -> &Error {
        match self {
            Error::GaveUp { last, .. } => last.last_attempt(),
            other => other,
        }
    }

    /// Time ran out, in any form: a request or its last attempt timed out,
    /// a wait passed its deadline ([`Error::Deadline`]), or the call's
    /// deadline passed before anything was sent.
    pub fn is_timeout(&self) -> bool {
        matches!(self.last_attempt(), Error::Timeout(_) | Error::Deadline { .. })
            || matches!(self, Error::GaveUp { attempts: 0, .. })
    }

    /// The server answered 404: the CVM (or app, KMS, ...) does not exist,
    /// or not for this key and workspace.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404) || matches!(self.last_attempt(), Error::NoSuchCvm(_))
    }

    /// The API error, if this is one (after retries: the last attempt's).
    pub fn api(&self) -> Option<&ApiError> {
        match self.last_attempt() {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status, if the server answered (the last attempt's).
    pub fn status(&self) -> Option<u16> {
        match self.last_attempt() {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API error kind, if the server answered with an error.
    pub fn kind(&self) -> Option<ApiErrorKind> {
        self.api().map(ApiError::kind)
    }

    /// Worth retrying for a read: connect and transport failures, timeouts,
    /// 429, 500/502/503/504 and a 409 without `error_code`. (Writes retry
    /// only what [`Error::proves_not_applied`] allows.) False once retries
    /// were spent ([`Error::GaveUp`]): `last_attempt().is_retryable()` still
    /// says whether that attempt's reason was a passing one.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Timeout(_) => true,
            Error::Api(e) => {
                matches!(e.status, 429 | 500 | 502 | 503 | 504) || (e.status == 409 && e.error_code.is_none())
            }
            _ => false,
        }
    }

    /// Proof that the server did not apply the request: it was never reached,
    /// or it refused with 429/503 (or a 409 without `error_code`) before doing anything.
    pub fn proves_not_applied(&self) -> bool {
        if let Error::GaveUp { attempts: 0, .. } = self {
            return true;
        }
        // A write is retried only after errors that prove it was not
        // applied, so the last attempt speaks for all of them.
        match self.last_attempt() {
            Error::Transport { connect, .. } => *connect,
            Error::Api(e) => matches!(e.status, 429 | 503) || (e.status == 409 && e.error_code.is_none()),
            _ => false,
        }
    }

    /// The CVM is busy with another operation (a 409 with an `error_code`).
    pub fn is_operation_in_progress(&self) -> bool {
        self.kind() == Some(ApiErrorKind::OperationInProgress)
    }

    /// How long the server asked us to wait.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api().and_then(|e| e.retry_after)
    }

    /// A success answer (`status`) whose `body` did not decode.
    pub(crate) fn decode(status: u16, message: impl std::fmt::Display, body: &[u8]) -> Self {
        Error::Decode {
            status,
            message: message.to_string(),
            snippet: snippet(body),
        }
    }

    /// A reqwest failure: a timeout as [`Error::Timeout`] (`timeout` is the
    /// limit that applied), anything else as [`Error::Transport`].
    pub(crate) fn transport(e: reqwest::Error, timeout: Duration) -> Self {
        if e.is_timeout() {
            return Error::Timeout(timeout);
        }
        let connect = e.is_connect();
        // reqwest's messages carry the URL, never our headers.
        let e = e.without_url();
        Error::Transport {
            message: e.to_string(),
            connect,
            source: Some(std::sync::Arc::new(e)),
        }
    }

    /// One error for whatever the generated client reports. progenitor's own
    /// `Display` prints whole payloads; here every body is cut to a snippet,
    /// and an error answer is read at most [`ERROR_BODY_LIMIT`] bytes far.
    pub(crate) async fn from_raw<E: serde::Serialize>(
        e: phala_cloud_api::Error<E>,
        timeout: Duration,
        body_cap: usize,
    ) -> Self {
        use phala_cloud_api::Error as Raw;
        match e {
            Raw::InvalidRequest(message) => Error::InvalidInput(message),
            Raw::CommunicationError(e) | Raw::InvalidUpgrade(e) => Error::transport(e, timeout),
            Raw::ResponseBodyError(e) if phala_cloud_api::is_body_too_large(&e) => {
                Error::BodyTooLarge { limit: body_cap }
            }
            Raw::ResponseBodyError(e) => Error::transport(e, timeout),
            // The success status of every operation we wrap is 200.
            Raw::InvalidResponsePayload(body, e) => Error::decode(200, e, &body),
            Raw::ErrorResponse(answer) => {
                // A documented error body, decoded; encoded again for the one
                // parser of error bodies (it keeps unknown fields in `extra`).
                let body = serde_json::to_vec(answer.as_ref()).unwrap_or_default();
                Error::Api(Box::new(ApiError::from_parts(answer.status(), answer.headers(), &body)))
            }
            Raw::UnexpectedResponse(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let body = body_prefix(response, ERROR_BODY_LIMIT, timeout).await;
                if status.is_success() {
                    Error::decode(status.as_u16(), "an answer the document does not describe", &body)
                } else {
                    Error::Api(Box::new(ApiError::from_parts(status, &headers, &body)))
                }
            }
            Raw::Custom(message) => Error::Stream(message),
        }
    }
}

/// A value as its `Display` text, for reports that hold an [`Error`] and
/// serialize to JSON.
pub(crate) fn serialize_display<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// Error answers are read this far at most: enough for any JSON error body.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The first `limit` bytes of a body, read until `timeout`; the rest is
/// dropped with the response. For answers that only feed an error, so a
/// server sending an endless body cannot hold the caller or its memory.
pub(crate) async fn body_prefix(resp: reqwest::Response, limit: usize, timeout: Duration) -> Vec<u8> {
    stream_prefix(Box::pin(resp.bytes_stream()), limit, timeout).await
}

/// The first `limit` bytes of a streamed body, read until `timeout`.
pub(crate) async fn stream_prefix<S, B, E>(mut chunks: S, limit: usize, timeout: Duration) -> Vec<u8>
where
    S: futures::Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
{
    use futures::StreamExt;
    let until = tokio::time::Instant::now() + timeout;
    let mut body = Vec::new();
    while body.len() < limit {
        match tokio::time::timeout_at(until, chunks.next()).await {
            Ok(Some(Ok(chunk))) => {
                let chunk = chunk.as_ref();
                body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]);
            }
            _ => break,
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, headers: &[(&str, &str)], body: &str) -> ApiError {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        ApiError::from_parts(StatusCode::from_u16(status).unwrap(), &map, body.as_bytes())
    }

    #[test]
    fn structured_errors_top_level_or_under_detail() {
        let top = parse(
            404,
            &[],
            r#"{"error_code":"ERR-03-001","message":"CVM not found","request_id":"req_1","details":[{"field":"id"}]}"#,
        );
        let nested = parse(
            404,
            &[],
            r#"{"detail":{"error_code":"ERR-03-001","message":"CVM not found","request_id":"req_1","details":[{"field":"id"}]}}"#,
        );
        assert_eq!(top.error_code.as_deref(), Some("ERR-03-001"));
        assert_eq!(
            (&top.error_code, &top.message, &top.request_id, &top.details),
            (&nested.error_code, &nested.message, &nested.request_id, &nested.details)
        );
        assert_eq!(top.kind(), ApiErrorKind::NotFound);
        assert_eq!(top.to_string(), "HTTP 404 ERR-03-001: CVM not found (request req_1)");
    }

    #[test]
    fn validation_errors_give_fields_and_header_request_id() {
        let e = parse(
            422,
            &[("x-request-id", "req_h")],
            r#"{"detail":[{"loc":["query","interval"],"msg":"too small","type":"greater_than_equal"}]}"#,
        );
        assert_eq!(
            e.field_errors,
            vec![FieldError {
                loc: vec!["query".into(), "interval".into()],
                msg: "too small".into(),
                kind: "greater_than_equal".into()
            }]
        );
        assert_eq!(e.request_id.as_deref(), Some("req_h"));
        assert_eq!(e.message, "too small (query.interval)");
    }

    #[test]
    fn html_pages_and_retry_after() {
        let e = parse(503, &[("retry-after", "7")], "<html><body>Bad gateway</body></html>");
        assert_eq!(e.message, "Service Unavailable");
        assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
        assert!(e.snippet.starts_with("<html>"));
        let long = parse(500, &[], &"x".repeat(5000));
        assert!(long.snippet.chars().count() <= SNIPPET_LIMIT + 1);
    }

    #[test]
    fn retryable_classification() {
        let api = |status: u16, code: Option<&str>| {
            Error::Api(Box::new(ApiError {
                status,
                error_code: code.map(str::to_string),
                message: String::new(),
                request_id: None,
                details: None,
                field_errors: vec![],
                retry_after: None,
                snippet: String::new(),
            }))
        };
        for s in [429, 500, 502, 503, 504] {
            assert!(api(s, None).is_retryable(), "{s}");
        }
        assert!(api(409, None).is_retryable());
        assert!(!api(409, Some("ERR-05-002")).is_retryable());
        assert_eq!(api(409, None).kind(), Some(ApiErrorKind::Conflict));
        assert!(api(409, Some("ERR-03-008")).is_operation_in_progress() && !api(409, None).is_operation_in_progress());
        assert!(!api(501, None).is_retryable() && !api(404, None).is_retryable());
        assert!(api(503, None).proves_not_applied() && !api(502, None).proves_not_applied());
        assert!(
            !api(500, None).proves_not_applied(),
            "a 500 may come after the work was done"
        );
        // Not found, in one word, after retries too.
        assert!(api(404, None).is_not_found() && !api(410, None).is_not_found());
        let gave_up = |last: Error, attempts: u32| Error::GaveUp {
            attempts,
            elapsed: Duration::from_secs(1),
            per_attempt: Duration::from_secs(1),
            last: Box::new(last),
        };
        assert!(gave_up(api(404, None), 1).is_not_found());
        // Retries spent: no longer retryable; the last reason stays readable.
        let spent = gave_up(api(503, None), 3);
        assert!(!spent.is_retryable() && spent.last_attempt().is_retryable());
        // Every form of running out of time is a timeout.
        let deadline = Error::Deadline {
            target: "running".into(),
            waited: Duration::from_secs(1),
            last: None,
        };
        for e in [
            Error::Timeout(Duration::from_secs(1)),
            gave_up(Error::Timeout(Duration::from_secs(1)), 2),
            gave_up(api(503, None), 0),
            deadline,
        ] {
            assert!(e.is_timeout(), "{e:?}");
        }
        assert!(!api(504, None).is_timeout() && !spent.is_timeout());
        // Fleet reports hold errors by value: cloning keeps what they say.
        assert_eq!(spent.clone().to_string(), spent.to_string());
    }

    proptest::proptest! {
        /// Any status, body and `Retry-After` becomes an error without
        /// panicking, with a bounded snippet, and renders.
        #[test]
        fn any_error_answer_decodes(status in 100u16..1000, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
                                    json in "\\{\"detail\": (\\[\\{\"loc\": \\[[0-9a-z\",]{0,12}\\], \"msg\": \".{0,8}\"\\}\\]|\".{0,8}\"|\\{\"message\": [0-9]\\}|null)\\}",
                                    retry_after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..30)) {
            // Any byte a header value may hold (visible ASCII, tab, obs-text).
            let retry_after: Vec<u8> = retry_after.into_iter().filter(|b| *b == b'\t' || *b >= 0x20 && *b != 0x7f).collect();
            let mut headers = HeaderMap::new();
            headers.insert(reqwest::header::RETRY_AFTER, reqwest::header::HeaderValue::from_bytes(&retry_after).unwrap());
            for body in [&body[..], json.as_bytes()] {
                let e = ApiError::from_parts(StatusCode::from_u16(status).unwrap(), &headers, body);
                proptest::prop_assert!(e.snippet.len() <= 3 * SNIPPET_LIMIT + 3);
                let _ = Error::Api(Box::new(e)).to_string();
            }
        }
    }
}

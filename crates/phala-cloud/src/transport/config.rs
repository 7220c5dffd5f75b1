//! Building a client: from the environment like Phala's official SDKs, or in code.

use std::sync::Arc;
use std::time::Duration;

use phala_cloud_api::Transport;

use crate::client::{Client, Inner};
use crate::{Error, RetryPolicy, Secret};

/// The API version pinned unless another is chosen (see
/// [`phala_cloud_api::versions`] for every version and what it changes).
pub const DEFAULT_API_VERSION: &str = phala_cloud_api::versions::DEFAULT.as_str();
/// The default limit for one request and its answer: 60 s, as Phala's
/// TypeScript SDK now uses, after batch status calls on a slow node were
/// seen taking ~31 s for 25 CVMs (past the 30 s the SDKs used before).
/// Event streams are not bound by it: they have their own idle timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Where Phala Cloud lives.
pub const DEFAULT_BASE_URL: &str = "https://cloud-api.phala.com";

/// How the client authenticates.
#[derive(Debug, Clone)]
enum Credential {
    ApiKey(Secret),
    Bearer(Secret),
}

/// Configures a [`Client`].
///
/// ```
/// # fn main() -> Result<(), phala_cloud::Error> {
/// let client = phala_cloud::Client::builder()
///     .api_key("phak_example")
///     .base_url("https://cloud-api.phala.com/api/v1")
///     .request_timeout(std::time::Duration::from_secs(30))
///     .build()?;
/// assert_eq!(client.base_url(), "https://cloud-api.phala.com");
/// let default = phala_cloud::Client::builder().api_key("phak_example").build()?;
/// assert_eq!(default.request_timeout(), phala_cloud::DEFAULT_REQUEST_TIMEOUT);
/// assert_eq!(default.request_timeout().as_secs(), 60);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    credential: Option<Credential>,
    base_url: String,
    workspace: Option<String>,
    api_version: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    idle_timeout: Duration,
    retry: RetryPolicy,
    concurrency: usize,
    status_chunk: usize,
    stop_chunk: usize,
    max_streams: usize,
    max_body_bytes: usize,
    max_event_bytes: usize,
    user_agent: String,
    allow_insecure_http: bool,
    http: Option<reqwest::Client>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            credential: None,
            base_url: DEFAULT_BASE_URL.into(),
            workspace: None,
            api_version: DEFAULT_API_VERSION.into(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            concurrency: 8,
            status_chunk: 100,
            stop_chunk: 50,
            max_streams: 5,
            max_body_bytes: 64 * 1024 * 1024,
            max_event_bytes: 1024 * 1024,
            user_agent: format!("phala-cloud-rs/{}", env!("CARGO_PKG_VERSION")),
            allow_insecure_http: false,
            http: None,
        }
    }
}

impl ClientBuilder {
    /// Authenticate with an API key (`X-API-Key`).
    pub fn api_key(mut self, key: impl Into<Secret>) -> Self {
        self.credential = Some(Credential::ApiKey(key.into()));
        self
    }
    /// Authenticate with a bearer token (`Authorization: Bearer`).
    pub fn bearer_token(mut self, token: impl Into<Secret>) -> Self {
        self.credential = Some(Credential::Bearer(token.into()));
        self
    }
    /// Authenticate as [`resolve_login`](crate::credentials::resolve_login)
    /// decided (an OIDC token as a bearer token, any other as an API key),
    /// at the base URL it found, if any.
    pub fn login(mut self, login: &crate::credentials::Login) -> Self {
        self = match login.source {
            crate::credentials::TokenSource::Oidc => self.bearer_token(login.token.clone()),
            _ => self.api_key(login.token.clone()),
        };
        match &login.base_url {
            Some(url) => self.base_url(url.clone()),
            None => self,
        }
    }
    /// The API origin, with or without a trailing `/api/v1`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    /// Sent as `X-Phala-Workspace`.
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace = Some(workspace.into());
        self
    }
    /// Sent as `X-Phala-Version` on every request, SSE included.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }
    /// Limit for one request and its answer (default
    /// [`DEFAULT_REQUEST_TIMEOUT`], 60 s; not for event streams, which
    /// reconnect after [`ClientBuilder::idle_timeout`] of silence).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }
    /// Limit for establishing a connection.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }
    /// Longest silence tolerated on an event stream before reconnecting.
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }
    /// How reads and safe writes are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Batch requests in flight at once (at least 1; default 8).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }
    /// vm_uuids per batch status request (at least 1; default 100).
    pub fn status_chunk_size(mut self, n: usize) -> Self {
        self.status_chunk = n;
        self
    }
    /// CVM ids per batch stop request (1 to 50, the API's limit; default 50).
    pub fn stop_chunk_size(mut self, n: usize) -> Self {
        self.stop_chunk = n;
        self
    }
    /// Event streams held at once (the API allows 5 per user).
    pub fn max_streams(mut self, n: usize) -> Self {
        self.max_streams = n;
        self
    }
    /// Answers larger than this are refused with [`Error::BodyTooLarge`]
    /// before more is read (default 64 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }
    /// An event stream that sends more than this without completing an
    /// event is cut (default 1 MiB; state events are about 1 KiB).
    pub fn max_event_bytes(mut self, n: usize) -> Self {
        self.max_event_bytes = n;
        self
    }
    /// Sent as `User-Agent` (default `phala-cloud-rs/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
    /// Allow `http://` to hosts other than loopback (credentials in clear text).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }
    /// Use this `reqwest::Client` instead of building one. Headers, the
    /// per-attempt timeout and the body cap still apply (the generated
    /// client's hooks add them); it should have no total timeout, which
    /// would cut event streams.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Reads `PHALA_CLOUD_API_KEY`, `PHALA_OIDC_TOKEN`, `PHALA_CLOUD_API_PREFIX`,
    /// `PHALA_CLOUD_WORKSPACE` and `PHALA_CLOUD_API_VERSION` through `lookup`
    /// (the key wins over the token; a version is checked at `build`).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut builder = Self::default();
        builder = match (get("PHALA_CLOUD_API_KEY"), get("PHALA_OIDC_TOKEN")) {
            (Some(key), _) => builder.api_key(key),
            (None, Some(token)) => builder.bearer_token(token),
            (None, None) => return Err(Error::MissingEnv("PHALA_CLOUD_API_KEY")),
        };
        if let Some(prefix) = get("PHALA_CLOUD_API_PREFIX") {
            builder = builder.base_url(prefix);
        }
        if let Some(ws) = get("PHALA_CLOUD_WORKSPACE") {
            builder = builder.workspace(ws);
        }
        if let Some(version) = get("PHALA_CLOUD_API_VERSION") {
            builder = builder.api_version(version);
        }
        Ok(builder)
    }

    /// Limits that would make the client useless or unsafe are refused, not clamped.
    fn check_limits(&self) -> Result<(), Error> {
        let problems = [
            (self.concurrency == 0, "concurrency must be at least 1"),
            (self.status_chunk == 0, "status chunk size must be at least 1"),
            (
                !(1..=50).contains(&self.stop_chunk),
                "stop chunk size must be 1-50 (the API's limit)",
            ),
            (self.request_timeout.is_zero(), "request timeout must not be zero"),
            (self.connect_timeout.is_zero(), "connect timeout must not be zero"),
            (self.idle_timeout.is_zero(), "idle timeout must not be zero"),
            (self.max_body_bytes == 0, "max body bytes must not be zero"),
            (self.max_event_bytes == 0, "max event bytes must not be zero"),
        ];
        match problems.into_iter().find(|(bad, _)| *bad) {
            Some((_, why)) => Err(Error::Config(why.into())),
            None => Ok(()),
        }
    }

    /// Checks everything and builds the client.
    pub fn build(self) -> Result<Client, Error> {
        let base = normalise_base_url(&self.base_url, self.allow_insecure_http)?;
        self.check_limits()?;
        // A version this client cannot read is refused before any request.
        let version = phala_cloud_api::versions::ApiVersion::parse_supported(&self.api_version)
            .map_err(|e| Error::Config(e.to_string()))?;
        let credential = self
            .credential
            .ok_or_else(|| Error::Config("no API key or token configured".into()))?;
        let header_error = |e: phala_cloud_api::InvalidHeader| Error::Config(e.to_string());
        let mut transport = match &credential {
            Credential::ApiKey(k) => Transport::default().api_key(k.expose()),
            Credential::Bearer(t) => Transport::default().bearer_token(t.expose()),
        }
        .map_err(|_| Error::Config("the API key or token contains characters not allowed in a header".into()))?
        .api_version(version.as_str())
        .and_then(|t| t.user_agent(&self.user_agent))
        .map_err(header_error)?
        .request_timeout(self.request_timeout)
        .max_body_bytes(self.max_body_bytes);
        if let Some(ws) = &self.workspace {
            transport = transport.workspace(ws).map_err(header_error)?;
        }
        let http = match self.http {
            Some(client) => client,
            None => {
                phala_cloud_api::install_crypto_provider();
                // No client-wide read timeout: a JSON answer is bounded by
                // the request timeout and an event stream by the idle timer
                // of its reader (watch.rs); reqwest's would add a boxed timer
                // and a body wrapper to every request (BENCHMARKS.md, 1).
                reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .build()
                    .map_err(|e| Error::Config(format!("cannot build the HTTP client: {}", e.without_url())))?
            }
        };
        let raw = phala_cloud_api::Client::new_with_client(&base, http, transport);
        Ok(Client {
            inner: Arc::new(Inner {
                base,
                raw,
                api_version: version,
                request_timeout: self.request_timeout,
                idle_timeout: self.idle_timeout,
                retry: self.retry,
                concurrency: self.concurrency,
                status_chunk: self.status_chunk,
                stop_chunk: self.stop_chunk,
                max_body_bytes: self.max_body_bytes,
                max_event_bytes: self.max_event_bytes,
                streams: Arc::new(tokio::sync::Semaphore::new(self.max_streams)),
                max_streams: self.max_streams,
            }),
        })
    }
}

/// The URL as it may be shown: credentials in it (`user:pass@`) replaced.
fn shown(raw: &str) -> String {
    let authority_start = raw.find("://").map_or(0, |i| i + 3);
    let authority_end = raw[authority_start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| authority_start + i);
    match raw[authority_start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &raw[..authority_start], &raw[authority_start + at..]),
        None => raw.to_string(),
    }
}

/// `https://host[:port][/prefix]` without a trailing `/` or `/api/v1`.
pub(crate) fn normalise_base_url(raw: &str, allow_insecure_http: bool) -> Result<String, Error> {
    let raw = raw.trim();
    let url = reqwest::Url::parse(raw).map_err(|e| {
        Error::Config(format!(
            "base URL {:?} is not a URL ({e}); expected e.g. https://cloud-api.phala.com",
            shown(raw)
        ))
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(format!(
            "base URL {:?} carries credentials; set the API key instead",
            shown(raw)
        )));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::Config(format!("base URL {raw:?} has no host (missing https://?)")))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = host == "localhost"
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
                || host == "[::1]";
            if !loopback && !allow_insecure_http {
                return Err(Error::Config(format!(
                    "refusing plain http to {host}: credentials would travel in clear text (use https, or allow_insecure_http)"
                )));
            }
        }
        other => {
            return Err(Error::Config(format!(
                "base URL scheme {other:?} is not http or https (missing https://?)"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::Config(format!(
            "base URL {raw:?} must not have a query or fragment"
        )));
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    if let Some(stripped) = s.strip_suffix("/api/v1") {
        s = stripped.to_string();
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let ok = |u: &str| normalise_base_url(u, false).unwrap();
        assert_eq!(ok("https://cloud-api.phala.com/api/v1"), "https://cloud-api.phala.com");
        assert_eq!(ok("https://cloud-api.phala.com/api/v1/"), "https://cloud-api.phala.com");
        assert_eq!(ok("https://proxy.example/phala/"), "https://proxy.example/phala");
        assert_eq!(ok("http://127.0.0.1:8000"), "http://127.0.0.1:8000");
        assert_eq!(ok("http://localhost:8000/api/v1"), "http://localhost:8000");
        let err = |u: &str| normalise_base_url(u, false).unwrap_err().to_string();
        assert!(err("cloud-api.phala.com").contains("is not a URL"));
        assert!(err("http://cloud-api.phala.com").contains("refusing plain http"));
        assert!(err("ftp://x").contains("not http or https"));
        assert!(normalise_base_url("http://10.0.0.5", true).is_ok());
    }

    #[test]
    fn env_key_wins_over_token_and_missing_key_names_the_variable() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string())
        };
        let b = ClientBuilder::from_env_with(env(&[
            ("PHALA_CLOUD_API_KEY", "k"),
            ("PHALA_OIDC_TOKEN", "t"),
            ("PHALA_CLOUD_API_PREFIX", "https://x.example/api/v1"),
            ("PHALA_CLOUD_WORKSPACE", "ws"),
            ("PHALA_CLOUD_API_VERSION", "2026-01-21"),
        ]))
        .unwrap();
        assert!(matches!(b.credential, Some(Credential::ApiKey(_))));
        assert_eq!(
            (b.base_url.as_str(), b.workspace.as_deref(), b.api_version.as_str()),
            ("https://x.example/api/v1", Some("ws"), "2026-01-21")
        );
        let b = ClientBuilder::from_env_with(env(&[("PHALA_CLOUD_API_KEY", "k")])).unwrap();
        assert_eq!(b.api_version, DEFAULT_API_VERSION);
        let b = ClientBuilder::from_env_with(env(&[("PHALA_OIDC_TOKEN", "t")])).unwrap();
        assert!(matches!(b.credential, Some(Credential::Bearer(_))));
        let e = ClientBuilder::from_env_with(env(&[])).unwrap_err();
        assert_eq!(e.to_string(), "environment variable PHALA_CLOUD_API_KEY is not set");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let b = ClientBuilder::default().api_key("phak_TOPSECRET");
        assert!(!format!("{b:?}").contains("TOPSECRET"));
        let c = b.base_url("http://127.0.0.1:1").build().unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRET"));
    }
}

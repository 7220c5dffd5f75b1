//! A CVM's logs as a stream of lines (feature `cvms`). Logs are not API
//! answers: the CVM's detail names a `syslog_endpoint` (serial, stdout and
//! stderr of the CVM) and its composition a `log_endpoint` per container;
//! these URLs carry their own token and are fetched without the API key,
//! with the query flags Phala's CLI sends.
//!
//! Memory stays bounded whatever the CVM writes: a line longer than
//! [`LogsOptions::max_line_bytes`] is cut and marked. A follow that loses
//! its connection reconnects from the last line's timestamp and skips the
//! lines it already gave, so none repeats.

mod lines;

use std::collections::VecDeque;
use std::time::Duration;

use futures::{Stream, StreamExt};
use phala_cloud_api::ClientInfo;
use reqwest::Url;

use lines::{Decoder, Framing, Splitter};
pub use lines::{LogChannel, LogLine};

use crate::client::Replay;
use crate::error::{ApiError, ERROR_BODY_LIMIT, body_prefix};
use crate::raw::types;
use crate::{Client, Error};

/// The version whose CVM detail carries `syslog_endpoint` (later ones
/// dropped it; Phala's CLI reads it there too).
const SYSLOG_VERSION: &str = "2025-10-28";

/// Reconnects of a follow in a row that bring no line before it gives up.
const MAX_RECONNECTS: u32 = 5;

/// Which log to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogSource {
    /// A running CVM's first container with logs, else its serial console
    /// (what Phala's CLI reads when told nothing).
    #[default]
    Auto,
    /// A container by name (`web` matches `/web` and `app-web-1`'s names
    /// exactly as listed), or the first with logs.
    Container(Option<String>),
    /// The CVM's serial console.
    Serial,
    /// The CVM's standard output.
    Stdout,
    /// The CVM's standard error.
    Stderr,
}

/// What to read and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LogsOptions {
    /// Which log.
    pub source: LogSource,
    /// Only the last lines.
    pub tail: Option<u64>,
    /// From this time: RFC 3339, or an age like `10m` (the server parses it).
    pub since: Option<String>,
    /// Until this time, as `since`.
    pub until: Option<String>,
    /// Keep each line's timestamp in [`LogLine::timestamp`].
    pub timestamps: bool,
    /// Keep reading as lines are written, until the CVM stops.
    pub follow: bool,
    /// Lines longer than this are cut (and marked).
    pub max_line_bytes: usize,
}

impl Default for LogsOptions {
    fn default() -> Self {
        Self {
            source: LogSource::Auto,
            tail: None,
            since: None,
            until: None,
            timestamps: false,
            follow: false,
            max_line_bytes: 64 * 1024,
        }
    }
}

impl LogsOptions {
    /// Reads `source`.
    pub fn source(mut self, source: LogSource) -> Self {
        self.source = source;
        self
    }
    /// Only the last `n` lines.
    pub fn tail(mut self, n: u64) -> Self {
        self.tail = Some(n);
        self
    }
    /// From `since` (RFC 3339 or an age like `10m`).
    pub fn since(mut self, since: impl Into<String>) -> Self {
        self.since = Some(since.into());
        self
    }
    /// Until `until` (as `since`).
    pub fn until(mut self, until: impl Into<String>) -> Self {
        self.until = Some(until.into());
        self
    }
    /// Keeps timestamps.
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }
    /// Follows new lines.
    pub fn follow(mut self, on: bool) -> Self {
        self.follow = on;
        self
    }
    /// Cuts lines longer than `n` bytes.
    pub fn max_line_bytes(mut self, n: usize) -> Self {
        self.max_line_bytes = n.max(1);
        self
    }
}

/// Where a log is read from: its URL and its lines' channel when plain.
#[derive(Debug, Clone)]
struct Endpoint {
    url: Url,
    channel: LogChannel,
}

impl Client {
    /// The CVM's detail as `GET /cvms/{id}` answers at 2025-10-28, the
    /// version that still names `syslog_endpoint`.
    async fn syslog_endpoint(&self, cvm: &str) -> Result<String, Error> {
        let transport = self
            .raw()
            .inner()
            .clone()
            .api_version(SYSLOG_VERSION)
            .map_err(|e| Error::Config(e.to_string()))?;
        let older = phala_cloud_api::Client::new_with_client(&self.inner.base, self.raw().client().clone(), transport);
        let request = older.get_cvm().cvm_id(cvm);
        let detail = self
            .send("get_cvm", Replay::Idempotent, || request.clone().send())
            .await?;
        let found = match &detail {
            types::GetCvmResponse::BasicInfo(c) => c.syslog_endpoint.clone(),
            types::GetCvmResponse::InfoDetail(c) => c
                .extra
                .get("syslog_endpoint")
                .and_then(|v| v.as_str())
                .map(str::to_string),
        };
        found
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| Error::InvalidInput(format!("{cvm} has no syslog endpoint (not running yet?)")))
    }

    /// The log endpoint of one of the CVM's containers.
    async fn container_endpoint(&self, cvm: &str, name: Option<&str>) -> Result<String, Error> {
        let composition = self.composition(cvm).await?;
        let containers = composition.containers.unwrap_or_default();
        let matches = |c: &types::CvmCompositionContainersItem| match name {
            None => true,
            Some(n) => c.names.iter().any(|m| m == n || m.trim_start_matches('/') == n),
        };
        if let Some(url) = containers
            .iter()
            .filter(|c| matches(c))
            .find_map(|c| c.log_endpoint.clone().filter(|u| !u.trim().is_empty()))
        {
            return Ok(url);
        }
        let known: Vec<&str> = containers
            .iter()
            .filter_map(|c| c.names.first().map(|n| n.trim_start_matches('/')))
            .collect();
        Err(Error::InvalidInput(match name {
            Some(n) => format!(
                "{cvm} has no container {n:?} with logs (containers: {})",
                known.join(", ")
            ),
            None => format!("{cvm} has no container with logs"),
        }))
    }

    /// The URL a log is read from, with `options`' query flags.
    async fn log_endpoint(&self, cvm: &str, options: &LogsOptions) -> Result<Endpoint, Error> {
        Self::check_id(cvm, "CVM id")?;
        let source = match &options.source {
            LogSource::Auto => {
                let running = self.cvm(cvm).await?.status().as_str() == "running";
                if running {
                    LogSource::Container(None)
                } else {
                    LogSource::Serial
                }
            }
            other => other.clone(),
        };
        let (raw, channel, ch) = match &source {
            LogSource::Container(name) => (
                self.container_endpoint(cvm, name.as_deref()).await?,
                LogChannel::Stdout,
                None,
            ),
            LogSource::Serial => (self.syslog_endpoint(cvm).await?, LogChannel::Serial, Some("serial")),
            LogSource::Stdout => (self.syslog_endpoint(cvm).await?, LogChannel::Stdout, Some("stdout")),
            LogSource::Stderr | LogSource::Auto => {
                (self.syslog_endpoint(cvm).await?, LogChannel::Stderr, Some("stderr"))
            }
        };
        let mut url =
            Url::parse(&raw).map_err(|e| Error::InvalidInput(format!("the log endpoint is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(Error::InvalidInput(format!(
                "the log endpoint's scheme {} is not HTTP",
                url.scheme()
            )));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(ch) = ch {
                q.append_pair("ch", ch);
            }
            if let Some(s) = &options.since {
                q.append_pair("since", s);
            }
            if let Some(u) = &options.until {
                q.append_pair("until", u);
            }
            if let Some(n) = options.tail {
                q.append_pair("tail", &n.to_string());
                q.append_pair("lines", &n.to_string());
            }
            // A follow keeps timestamps to resume from after a reconnect.
            if options.timestamps || options.follow {
                q.append_key_only("timestamps");
            }
            if options.follow {
                q.append_key_only("follow");
            }
        }
        Ok(Endpoint { url, channel })
    }

    /// The CVM's log lines, as the service sends them; with `follow`, new
    /// lines as they are written until the CVM stops (or the stream is
    /// dropped).
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// use futures::TryStreamExt;
    /// use phala_cloud::{LogSource, LogsOptions};
    /// let options = LogsOptions::default().source(LogSource::Container(Some("web".into()))).tail(100);
    /// let lines: Vec<_> = client.logs("web-1", options).try_collect().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn logs<'a>(
        &'a self,
        cvm: &'a str,
        options: LogsOptions,
    ) -> impl Stream<Item = Result<LogLine, Error>> + Send + 'a {
        let state = Reader {
            client: self,
            cvm,
            options,
            endpoint: None,
            body: None,
            splitter: None,
            decoder: None,
            ready: VecDeque::new(),
            last: None,
            skip: 0,
            reconnects: 0,
            done: false,
        };
        futures::stream::unfold(state, |mut s| async move {
            let item = s.next_line().await?;
            Some((item, s))
        })
    }
}

type Body = futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>;

/// The state of one log stream.
struct Reader<'a> {
    client: &'a Client,
    cvm: &'a str,
    options: LogsOptions,
    endpoint: Option<Endpoint>,
    body: Option<Body>,
    splitter: Option<Splitter>,
    decoder: Option<Decoder>,
    ready: VecDeque<LogLine>,
    /// The last timestamp given, and how many lines carried it.
    last: Option<(String, usize)>,
    /// Lines at the last timestamp still to skip after a reconnect.
    skip: usize,
    reconnects: u32,
    done: bool,
}

impl Reader<'_> {
    async fn next_line(&mut self) -> Option<Result<LogLine, Error>> {
        loop {
            if let Some(line) = self.ready.pop_front() {
                return Some(Ok(line));
            }
            if self.done {
                return None;
            }
            if self.body.is_none()
                && let Err(e) = self.connect().await
            {
                self.done = true;
                return Some(Err(e));
            }
            let idle = self.client.inner.idle_timeout;
            let Some(body) = self.body.as_mut() else { continue };
            // A follow may be quiet for long; a one-off read is not.
            let next = if self.options.follow {
                Ok(body.next().await)
            } else {
                tokio::time::timeout(idle, body.next()).await
            };
            match next {
                Ok(Some(Ok(chunk))) => self.take(&chunk, false),
                Ok(None) => self.take(&[], true),
                Ok(Some(Err(e))) if self.options.follow && self.reconnects < MAX_RECONNECTS => {
                    tracing::warn!(cvm = self.cvm, error = %e.without_url(), "log stream broke; reconnecting");
                    self.reconnect().await;
                }
                Ok(Some(Err(e))) => {
                    self.done = true;
                    return Some(Err(Error::transport(e, idle)));
                }
                Err(_) => {
                    self.done = true;
                    return Some(Err(Error::Timeout(idle)));
                }
            }
        }
    }

    /// Opens the log (again, after a break: from the last timestamp).
    async fn connect(&mut self) -> Result<(), Error> {
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => {
                let e = self.client.log_endpoint(self.cvm, &self.options).await?;
                self.endpoint = Some(e.clone());
                e
            }
        };
        let mut url = endpoint.url.clone();
        if let Some((ts, n)) = &self.last {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| !matches!(k.as_ref(), "since" | "tail" | "lines"))
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let mut q = url.query_pairs_mut();
            q.clear();
            for (k, v) in &kept {
                if v.is_empty() {
                    q.append_key_only(k);
                } else {
                    q.append_pair(k, v);
                }
            }
            q.append_pair("since", ts);
            drop(q);
            self.skip = *n;
        }
        let timeout = self.client.inner.request_timeout;
        // The timeout bounds the answer's headers only: reqwest's own would
        // also cut the body, which a follow streams for as long as it runs.
        let sent = tokio::time::timeout(timeout, self.client.raw().client().get(url).send()).await;
        let response = sent
            .map_err(|_| Error::Timeout(timeout))?
            .map_err(|e| Error::transport(e, timeout))?;
        let status = response.status();
        if !status.is_success() {
            let headers = response.headers().clone();
            let body = body_prefix(response, ERROR_BODY_LIMIT, timeout).await;
            return Err(Error::Api(Box::new(ApiError::from_parts(status, &headers, &body))));
        }
        self.body = Some(response.bytes_stream().boxed());
        self.splitter = Some(Splitter::new(self.framed_cap()));
        if self.decoder.is_none() {
            self.decoder = Some(Decoder {
                framing: Framing::Unknown,
                text_channel: endpoint.channel,
                timestamps: self.options.timestamps || self.options.follow,
            });
        }
        Ok(())
    }

    /// The cap on a raw line: an NDJSON record holds its line in base64.
    fn framed_cap(&self) -> usize {
        self.options.max_line_bytes.saturating_mul(2).saturating_add(256)
    }

    async fn reconnect(&mut self) {
        self.body = None;
        self.reconnects += 1;
        tokio::time::sleep(Duration::from_millis(250 * u64::from(self.reconnects))).await;
    }

    /// Turns a chunk (or the end) into ready lines.
    fn take(&mut self, chunk: &[u8], end: bool) {
        let (Some(splitter), Some(decoder)) = (self.splitter.as_mut(), self.decoder.as_mut()) else {
            return;
        };
        let mut raw = Vec::new();
        splitter.feed(chunk, &mut raw);
        if end {
            raw.extend(splitter.finish());
            self.done = true;
        }
        let mut lines = Vec::new();
        for (bytes, cut) in raw {
            decoder.decode(&bytes, cut, &mut lines);
        }
        let cap = self.options.max_line_bytes;
        for mut line in lines {
            if line.text.len() > cap {
                let mut at = cap;
                while !line.text.is_char_boundary(at) {
                    at -= 1;
                }
                line.text.truncate(at);
                line.truncated = true;
            }
            if let Some(ts) = line.timestamp.clone() {
                match &mut self.last {
                    Some((last, n)) if *last == ts => {
                        if self.skip > 0 {
                            self.skip -= 1;
                            continue;
                        }
                        *n += 1;
                    }
                    _ => {
                        self.skip = 0;
                        self.last = Some((ts, 1));
                    }
                }
            }
            self.reconnects = 0;
            if !self.options.timestamps {
                line.timestamp = None;
            }
            self.ready.push_back(line);
        }
    }
}

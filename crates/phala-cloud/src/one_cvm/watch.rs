//! Following one CVM's state: a stream of events over SSE that reconnects
//! and falls back to polling, and `wait_for_state` on top of it.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::error::{ERROR_BODY_LIMIT, snippet, stream_prefix};
use crate::raw::types::KnownStatus;
use crate::{Client, CvmState, Error, Status};

/// One thing the server said about a CVM being watched.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum StateEvent {
    /// The state changed (or is reported for the first time).
    State(Box<CvmState>),
    /// The target was reached; the stream ends.
    Complete {
        /// The status reached.
        status: Status,
        /// How long the server waited (what it said, or zero if it said
        /// nothing usable).
        elapsed: Duration,
        /// The status waited for.
        target: String,
    },
    /// The server's own wait ended; the stream reconnects if the deadline allows.
    Timeout {
        /// How long the server waited.
        elapsed: Duration,
        /// The status waited for.
        target: String,
    },
    /// The server reported an error (e.g. the CVM is gone); the stream ends.
    Error {
        /// Error name, e.g. `NotFound`.
        error: String,
        /// What happened.
        message: String,
    },
}

/// How to watch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Server polling interval, seconds (5-30).
    pub interval: u32,
    /// Server-side wait per connection, seconds (10-600).
    pub timeout: u32,
    /// Give up after this long overall (`None`: never).
    pub deadline: Option<Duration>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: 5,
            timeout: 300,
            deadline: None,
        }
    }
}

impl WatchOptions {
    /// Server polling interval in seconds (5-30).
    pub fn interval(mut self, secs: u32) -> Self {
        self.interval = secs;
        self
    }
    /// Server-side wait per connection in seconds (10-600).
    pub fn timeout(mut self, secs: u32) -> Self {
        self.timeout = secs;
        self
    }
    /// Give up after this long overall.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = Some(d);
        self
    }

    /// The API's bounds, checked before any request.
    pub fn validate(&self) -> Result<(), Error> {
        if !(5..=30).contains(&self.interval) {
            return Err(Error::InvalidInput(format!(
                "interval must be 5-30 seconds, got {}",
                self.interval
            )));
        }
        if !(10..=600).contains(&self.timeout) {
            return Err(Error::InvalidInput(format!(
                "timeout must be 10-600 seconds, got {}",
                self.timeout
            )));
        }
        Ok(())
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<eventsource_stream::Event, Error>> + Send>>;

struct Watch {
    client: Client,
    id: String,
    target: String,
    opts: WatchOptions,
    started: Instant,
    deadline: Option<Instant>,
    events: Option<EventStream>,
    permit: Option<OwnedSemaphorePermit>,
    queue: VecDeque<Result<StateEvent, Error>>,
    polling: bool,
    polled_once: bool,
    reconnects: u32,
    done: bool,
}

impl Watch {
    fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    fn expired(&self) -> bool {
        self.remaining().is_some_and(|r| r.is_zero())
    }

    /// `delay`, or the time left before the deadline if that is shorter.
    fn bounded(&self, delay: Duration) -> Duration {
        self.remaining().map_or(delay, |r| r.min(delay))
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.opts.interval.into())
    }

    /// Opens the event stream, or switches to polling when no stream slot is free.
    async fn connect(&mut self) -> Result<(), Error> {
        if self.permit.is_none() {
            match self.client.inner.streams.clone().try_acquire_owned() {
                Ok(p) => self.permit = Some(p),
                Err(_) => {
                    tracing::debug!(cvm = %self.id, "no free event stream; polling");
                    self.polling = true;
                    return Ok(());
                }
            }
        }
        let inner = &self.client.inner;
        let request = self
            .client
            .raw()
            .get_cvm_state()
            .cvm_id(self.id.as_str())
            .target(self.target.as_str())
            .interval(self.opts.interval)
            .timeout(self.opts.timeout);
        // The stream itself has no total timeout (it would cut a healthy
        // stream): the answer's head must come within the request timeout,
        // then silence is bounded by the idle timeout.
        let answer = match tokio::time::timeout(inner.request_timeout, request.send()).await {
            Err(_) => return Err(Error::Timeout(inner.request_timeout)),
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => match Error::from_raw(e, inner.request_timeout, ERROR_BODY_LIMIT).await {
                Error::Api(e) if e.status == 429 => {
                    tracing::debug!(cvm = %self.id, "event stream refused (429); polling");
                    self.permit = None;
                    self.polling = true;
                    return Ok(());
                }
                e => return Err(e),
            },
        };
        let is_sse = answer
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_sse {
            let body = stream_prefix(answer.into_inner_stream(), ERROR_BODY_LIMIT, inner.request_timeout).await;
            return Err(Error::Stream(format!(
                "expected text/event-stream, got: {}",
                snippet(&body)
            )));
        }
        self.events = Some(Box::pin(crate::sse::events(
            answer.into_inner_stream(),
            self.client.inner.max_event_bytes,
        )));
        Ok(())
    }

    fn on_event(&mut self, ev: eventsource_stream::Event) {
        match crate::sse::state_event(&ev.event, &ev.data, &self.target) {
            Some(Ok(event)) => {
                match &event {
                    StateEvent::Complete { .. } | StateEvent::Error { .. } => self.finish(),
                    // The server's wait ended: reconnect if the deadline allows.
                    StateEvent::Timeout { .. } => self.events = None,
                    StateEvent::State(_) => {}
                }
                self.queue.push_back(Ok(event));
            }
            Some(Err(e)) => self.queue.push_back(Err(e)),
            None => tracing::debug!(event = %ev.event, "ignoring unknown event"),
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.events = None;
        self.permit = None;
    }

    /// One poll of the immediate state, when streaming is not possible.
    async fn poll_once(&mut self) {
        if self.polled_once {
            tokio::time::sleep(self.bounded(self.interval())).await;
        }
        self.polled_once = true;
        if self.expired() {
            return;
        }
        match self.client.cvm_state(&self.id).await {
            Ok(state) => {
                let reached = state.reached(&Status::from(self.target.as_str()));
                let status = state.status.clone();
                self.queue.push_back(Ok(StateEvent::State(Box::new(state))));
                if reached {
                    let elapsed = self.started.elapsed();
                    self.queue.push_back(Ok(StateEvent::Complete {
                        status,
                        elapsed,
                        target: self.target.clone(),
                    }));
                    self.finish();
                }
            }
            Err(e) if e.last_attempt().is_retryable() => {
                tracing::debug!(cvm = %self.id, error = %e, "poll failed; retrying next interval")
            }
            Err(e) => {
                self.queue.push_back(Err(e));
                self.finish();
            }
        }
        // Try streaming again when a slot frees up.
        if !self.done && self.client.inner.streams.available_permits() > 0 {
            self.polling = false;
        }
    }

    async fn next(mut self) -> Option<(Result<StateEvent, Error>, Self)> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some((item, self));
            }
            if self.done {
                return None;
            }
            if self.expired() {
                self.finish();
                let waited = self.started.elapsed();
                return Some((
                    Err(Error::Deadline {
                        target: self.target.clone(),
                        waited,
                        last: None,
                    }),
                    self,
                ));
            }
            if self.polling {
                self.poll_once().await;
                continue;
            }
            if self.events.is_none() {
                if let Err(e) = self.connect().await {
                    if !e.last_attempt().is_retryable() {
                        self.finish();
                        return Some((Err(e), self));
                    }
                    self.reconnects += 1;
                    let delay = self.client.inner.retry.delay(self.reconnects, e.retry_after());
                    tracing::warn!(cvm = %self.id, error = %e, "event stream failed; reconnecting");
                    tokio::time::sleep(self.bounded(delay)).await;
                }
                continue;
            }
            let idle = self.client.inner.idle_timeout;
            let wait = self.remaining().map_or(idle, |r| r.min(idle));
            let Some(events) = self.events.as_mut() else { continue };
            match tokio::time::timeout(wait, events.next()).await {
                Ok(Some(Ok(ev))) => {
                    self.reconnects = 0;
                    self.on_event(ev);
                }
                Ok(Some(Err(e))) => {
                    tracing::warn!(cvm = %self.id, error = %e, "event stream broke; reconnecting");
                    self.events = None;
                    self.reconnects += 1;
                    let delay = self.client.inner.retry.delay(self.reconnects, None);
                    tokio::time::sleep(self.bounded(delay)).await;
                }
                Ok(None) => {
                    tracing::debug!(cvm = %self.id, "event stream ended; reconnecting");
                    self.events = None;
                }
                Err(_) => {
                    tracing::debug!(cvm = %self.id, "event stream idle; reconnecting");
                    self.events = None;
                }
            }
        }
    }
}

impl Client {
    /// Follows a CVM until it reaches `target`: a stream of [`StateEvent`]s.
    ///
    /// Uses Server-Sent Events while a stream slot is free (at most
    /// `max_streams` per client, 5 by default, as the API allows per user),
    /// and polls the immediate state otherwise or after a 429. Reconnects on
    /// a server `timeout` event or a dropped connection until the deadline.
    /// Drop the stream to cancel. Ends after `Complete` or `Error`, or with
    /// [`Error::Deadline`].
    pub fn watch_state(
        &self,
        id: &str,
        target: KnownStatus,
        opts: WatchOptions,
    ) -> impl Stream<Item = Result<StateEvent, Error>> + Send + 'static {
        let now = Instant::now();
        let mut watch = Watch {
            client: self.clone(),
            id: id.to_string(),
            target: target.as_str().to_string(),
            deadline: opts.deadline.map(|d| now + d),
            opts,
            started: now,
            events: None,
            permit: None,
            queue: VecDeque::new(),
            polling: false,
            polled_once: false,
            reconnects: 0,
            done: false,
        };
        if let Err(e) = watch.opts.validate().and_then(|_| Client::check_id(id, "CVM id")) {
            watch.queue.push_back(Err(e));
            watch.done = true;
        }
        futures::stream::unfold(watch, Watch::next)
    }

    /// Waits until the CVM reports `target` (and no operation in progress),
    /// or fails at `deadline` with the last state seen.
    pub async fn wait_for_state(&self, id: &str, target: KnownStatus, deadline: Duration) -> Result<CvmState, Error> {
        let opts = WatchOptions::default().deadline(deadline);
        let mut events = std::pin::pin!(self.watch_state(id, target, opts));
        let mut last: Option<CvmState> = None;
        while let Some(item) = events.next().await {
            match item {
                Ok(StateEvent::State(s)) => last = Some(*s),
                Ok(StateEvent::Complete { status, .. }) => {
                    return match last {
                        Some(s) if s.status == status => Ok(s),
                        _ => self.cvm_state(id).await,
                    };
                }
                Ok(StateEvent::Timeout { .. }) => {}
                Ok(StateEvent::Error { error, message }) => return Err(Error::Stream(format!("{error}: {message}"))),
                Err(Error::Deadline { target, waited, .. }) => {
                    return Err(Error::Deadline {
                        target,
                        waited,
                        last: last.map(Box::new),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::Stream("event stream ended without a result".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_before_any_request() {
        assert!(WatchOptions::default().validate().is_ok());
        for (i, t) in [(4, 300), (31, 300), (5, 9), (5, 601)] {
            let e = WatchOptions::default().interval(i).timeout(t).validate().unwrap_err();
            assert!(matches!(e, Error::InvalidInput(_)), "{i} {t}");
        }
    }
}

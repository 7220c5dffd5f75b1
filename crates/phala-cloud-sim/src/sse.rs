//! `GET /cvms/{id}/state?target=...` as a real `text/event-stream`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::state::{Shared, api_error};

/// Holds one of a key's stream slots; frees it when the stream ends or is dropped.
struct Slot {
    shared: Arc<Shared>,
    label: &'static str,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        if let Some(n) = inner.stats.sse_open.get_mut(self.label) {
            *n = n.saturating_sub(1);
        }
    }
}

struct Watch {
    shared: Arc<Shared>,
    _slot: Slot,
    cvm_id: String,
    target: String,
    interval: Duration,
    started: Instant,
    deadline: Instant,
    last: Option<Value>,
    queue: VecDeque<Event>,
    first: bool,
    done: bool,
    sent: usize,
    cut_after_first: bool,
}

fn event(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

impl Watch {
    fn virtual_elapsed(&self, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(self.started).as_secs_f64() * self.shared.config.time_scale;
        (secs * 10.0).round() / 10.0
    }

    /// Looks at the CVM once and queues what a client should hear.
    fn observe(&mut self) {
        let (inner, now) = self.shared.now();
        let elapsed = self.virtual_elapsed(now);
        let Some(idx) = inner.fleet.find(&self.cvm_id) else {
            self.queue.push_back(event(
                "error",
                &json!({"error": "NotFound", "message": format!("CVM {} no longer exists", self.cvm_id)}),
            ));
            self.done = true;
            return;
        };
        let state = inner.fleet.state_json(idx, now, self.shared.origin);
        let in_progress = inner.fleet.cvms[idx].operation.is_some();
        drop(inner);
        let key = |s: &Value| {
            [
                &s["status"],
                &s["derived_status"],
                &s["boot_progress"],
                &s["shutdown_progress"],
            ]
            .map(Value::to_string)
        };
        if self.last.as_ref().is_none_or(|l| key(l) != key(&state)) {
            self.queue.push_back(event("state", &state));
        }
        if state["status"] == self.target.as_str() && !in_progress {
            self.queue.push_back(event(
                "complete",
                &json!({"status": state["status"], "elapsed": elapsed, "target": self.target}),
            ));
            self.done = true;
        } else if now >= self.deadline {
            self.queue.push_back(event(
                "timeout",
                &json!({"error": "Timeout", "elapsed": elapsed, "target": self.target}),
            ));
            self.done = true;
        }
        self.last = Some(state);
    }

    async fn next(mut self) -> Option<(Result<Event, std::io::Error>, Self)> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                if self.cut_after_first && self.sent >= 1 {
                    *self.shared.lock().stats.faults.entry("sse_drop".into()).or_default() += 1;
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "simulated stream drop",
                        )),
                        Self {
                            done: true,
                            queue: VecDeque::new(),
                            ..self
                        },
                    ));
                }
                self.sent += 1;
                return Some((Ok(e), self));
            }
            if self.done {
                return None;
            }
            if !self.first {
                let wake = (Instant::now() + self.interval).min(self.deadline);
                tokio::time::sleep_until(wake).await;
            }
            self.first = false;
            self.observe();
        }
    }
}

/// Opens a stream if the key has a free slot, else answers 429.
pub(crate) fn stream(
    shared: Arc<Shared>,
    label: &'static str,
    cvm_id: String,
    target: String,
    interval: Duration,
    timeout: Duration,
    rid: &str,
) -> Response {
    let cut_after_first;
    {
        let mut inner = shared.lock();
        let open = inner.stats.sse_open.get(label).copied().unwrap_or(0);
        if open >= shared.config.max_sse_per_key {
            drop(inner);
            let msg = format!(
                "Too many concurrent SSE connections (max {})",
                shared.config.max_sse_per_key
            );
            let mut r = api_error(StatusCode::TOO_MANY_REQUESTS, "ERR-00-429", &msg, rid);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
        inner.stats.sse_open.insert(label.to_string(), open + 1);
        let peak = inner.stats.sse_peak.entry(label.to_string()).or_default();
        *peak = (*peak).max(open + 1);
        let rate = inner.faults.sse_drop_rate;
        cut_after_first = inner.rng.chance(rate);
    }
    let now = Instant::now();
    let watch = Watch {
        _slot: Slot {
            shared: shared.clone(),
            label,
        },
        interval: shared.config.real(interval),
        deadline: now + shared.config.real(timeout),
        shared,
        cvm_id,
        target,
        started: now,
        last: None,
        queue: VecDeque::new(),
        first: true,
        done: false,
        sent: 0,
        cut_after_first,
    };
    let events = futures::stream::unfold(watch, Watch::next);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("ping"))
        .into_response()
}

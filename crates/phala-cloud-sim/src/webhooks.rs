//! Webhooks for real: the workspace's registered webhooks, and the
//! deliveries the simulator makes to them.
//!
//! Every CVM status change the fleet applies (a start, stop, shutdown,
//! restart or cancel, either half of a restart, a transition completing, a
//! CVM deployed or deleted) becomes events (`cvm.status.changed`, plus
//! `cvm.created`, `cvm.started`, `cvm.stopped` or `cvm.deleted` where they
//! apply). Each webhook of the CVM's workspace that is enabled and
//! subscribed to an event (or to `*`) gets a delivery: the documented
//! envelope `{id, event, version, created_at, workspace, data}` POSTed with
//! `X-Webhook-Timestamp` (Unix seconds, real time: receivers compare it with
//! their clock) and `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of
//! "{timestamp}.{raw body}">` keyed with the webhook's secret.
//!
//! Deliveries run in their own tasks, never inside a request: each attempt
//! times out after [`ATTEMPT_TIMEOUT`]; a non-2xx answer or a connection
//! error is retried, at most [`MAX_ATTEMPTS`] attempts, after a backoff of
//! 2, 8, 32 virtual seconds (divided by the time scale, like every other
//! duration of the simulator). Each delivery is recorded (status
//! `pending`, `success` or `failed`, attempts, the last response code) for
//! the deliveries list, the stats and a resend.
//!
//! Transitions are applied lazily by the fleet (when a request looks); the
//! pump ([`run_pump`]) applies them when they fall due while a webhook is
//! registered, so a delivery does not wait for the next request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::fleet::Change;
use crate::rng::Rng;
use crate::state::{Inner, Shared};

/// The events a webhook may subscribe to (`*`: all of them).
pub(crate) const EVENTS: &[&str] = &[
    "cvm.status.changed",
    "cvm.created",
    "cvm.started",
    "cvm.stopped",
    "cvm.deleted",
];

/// The event of `POST .../test`, sent whatever the webhook subscribes to.
pub(crate) const TEST_EVENT: &str = "webhook.test";

/// Attempts per delivery, the first included.
pub(crate) const MAX_ATTEMPTS: u32 = 4;

/// How long one attempt waits for the receiver's answer (real time).
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Deliveries kept per webhook, newest last.
const DELIVERY_LIMIT: usize = 1000;

/// The virtual wait before attempt `attempt + 1`: 2 s, 8 s, 32 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_mul(4u64.saturating_pow(attempt.saturating_sub(1))))
}

/// One delivery (an event to one webhook) and its attempts so far.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub snowflake_id: i64,
    pub event_id: String,
    pub event_type: String,
    /// `pending` (attempting, or waiting to retry), `success` or `failed`.
    pub status: &'static str,
    pub attempts: u32,
    pub request_url: String,
    /// The last attempt's HTTP status; 0 when none answered.
    pub response_status: u16,
    pub error_message: String,
    pub duration_ms: u64,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The delivery this one resends (`""`: an original).
    pub original_event_id: String,
    /// The envelope as sent, byte for byte on every attempt.
    pub body: Arc<str>,
}

/// One registered webhook. Its `Debug` leaves the secret out.
#[derive(Clone)]
pub(crate) struct Webhook {
    pub id: String,
    pub workspace: usize,
    pub url: String,
    pub secret: String,
    pub events: Vec<String>,
    pub name: Option<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deliveries: VecDeque<Delivery>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("id", &self.id)
            .field("workspace", &self.workspace)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("events", &self.events)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field("deliveries", &self.deliveries.len())
            .finish()
    }
}

impl Webhook {
    pub fn subscribes(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == "*" || e == event)
    }

    /// `WebhookResponse`; the secret only where the service shows it.
    pub fn json(&self, show_secret: bool) -> Value {
        json!({
            "id": self.id,
            "url": self.url,
            "secret": show_secret.then(|| self.secret.clone()),
            "events": self.events,
            "name": self.name,
            "enabled": self.enabled,
            "created_at": time(self.created_at),
            "updated_at": time(self.updated_at),
        })
    }

    pub fn delivery(&self, event_id: &str) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.event_id == event_id)
    }

    /// Records a new delivery, dropping the oldest beyond the limit.
    fn record(&mut self, delivery: Delivery) {
        self.deliveries.push_back(delivery);
        if self.deliveries.len() > DELIVERY_LIMIT {
            self.deliveries.pop_front();
        }
    }
}

impl Delivery {
    /// `WebhookDeliveryResponse`.
    pub fn json(&self) -> Value {
        json!({
            "snowflake_id": self.snowflake_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "request_url": self.request_url,
            "response_status": self.response_status,
            "error_message": self.error_message,
            "duration_ms": self.duration_ms,
            "created_at": time(self.created_at),
            "delivered_at": self.delivered_at.map(time),
            "original_event_id": self.original_event_id,
        })
    }
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Every webhook of every workspace, under the simulator's lock.
pub(crate) struct Store {
    pub hooks: Vec<Webhook>,
    /// Ids and secrets: same seed, same sequence.
    rng: Rng,
    next_snowflake: i64,
}

impl Store {
    pub fn new(seed: u64) -> Self {
        Store {
            hooks: Vec::new(),
            rng: Rng::new(seed ^ 0x5745_4248_4f4f_4b53),
            next_snowflake: 0,
        }
    }

    pub fn new_id(&mut self) -> String {
        format!("wh_{}", self.rng.alnum(12))
    }

    pub fn new_secret(&mut self) -> String {
        format!("whsec_{}", self.rng.alnum(32))
    }

    fn new_event_id(&mut self) -> String {
        format!("evt_{}", self.rng.alnum(16))
    }

    /// Webhook `id` of workspace `workspace`.
    pub fn find(&self, workspace: usize, id: &str) -> Option<usize> {
        self.hooks.iter().position(|h| h.workspace == workspace && h.id == id)
    }

    /// A pending delivery of `body` (an envelope without its `id`, which
    /// this sets) to webhook `hook`; its event id.
    fn queue(
        &mut self,
        hook: usize,
        event: &str,
        mut body: Value,
        at: DateTime<Utc>,
        original_event_id: String,
    ) -> String {
        let event_id = self.new_event_id();
        self.next_snowflake += 1;
        // Time-ordered like a snowflake: milliseconds, then a sequence.
        let snowflake_id = (at.timestamp_millis().max(0) << 12) | (self.next_snowflake & 0xfff);
        body["id"] = json!(event_id);
        let webhook = &mut self.hooks[hook];
        webhook.record(Delivery {
            snowflake_id,
            event_id: event_id.clone(),
            event_type: event.to_string(),
            status: "pending",
            attempts: 0,
            request_url: webhook.url.clone(),
            response_status: 0,
            error_message: String::new(),
            duration_ms: 0,
            created_at: at,
            delivered_at: None,
            original_event_id,
            body: body.to_string().into(),
        });
        event_id
    }
}

/// The envelope of an event (its `id` set when queued).
fn envelope(inner: &Inner, workspace: usize, event: &str, at: DateTime<Utc>, data: Value) -> Value {
    let ws = &inner.fleet.workspaces[workspace];
    json!({
        "id": "",
        "event": event,
        "version": "1",
        "created_at": time(at),
        "workspace": {"id": ws.id, "name": ws.name},
        "data": data,
    })
}

/// The events of one status change.
fn events_of(change: &Change) -> Vec<&'static str> {
    let mut out = vec!["cvm.status.changed"];
    match (change.from.as_deref(), change.to.as_str()) {
        (None, _) => out.push("cvm.created"),
        (_, "deleted") => out.push("cvm.deleted"),
        (_, "running") => out.push("cvm.started"),
        (_, "stopped") => out.push("cvm.stopped"),
        _ => {}
    }
    out
}

/// A delivery to make: (webhook id, event id).
pub(crate) type Job = (String, String);

/// Turns the fleet's status changes into pending deliveries; the jobs to
/// run once the lock is released.
pub(crate) fn collect(inner: &mut Inner) -> Vec<Job> {
    let changes = inner.fleet.take_changes();
    let mut jobs = Vec::new();
    for change in changes {
        let cvm = &inner.fleet.cvms[change.idx];
        let workspace = cvm.workspace;
        let hooks: Vec<usize> = (0..inner.webhooks.hooks.len())
            .filter(|&h| inner.webhooks.hooks[h].workspace == workspace && inner.webhooks.hooks[h].enabled)
            .collect();
        if hooks.is_empty() {
            continue;
        }
        let data = json!({
            "cvm_id": cvm.id,
            "vm_uuid": cvm.vm_uuid,
            "name": cvm.name,
            "app_id": cvm.app_id,
            "status": change.to,
            "previous_status": change.from,
            "operation": change.operation,
        });
        for event in events_of(&change) {
            let body = envelope(inner, workspace, event, change.at, data.clone());
            for &h in &hooks {
                if inner.webhooks.hooks[h].subscribes(event) {
                    let event_id = inner.webhooks.queue(h, event, body.clone(), change.at, String::new());
                    jobs.push((inner.webhooks.hooks[h].id.clone(), event_id));
                }
            }
        }
    }
    jobs
}

/// Queues the test event to webhook `hook`; its job.
pub(crate) fn queue_test(inner: &mut Inner, hook: usize, at: DateTime<Utc>) -> Job {
    let webhook = &inner.webhooks.hooks[hook];
    let data = json!({"webhook_id": webhook.id, "message": "This is a test event from Phala Cloud"});
    let body = envelope(inner, webhook.workspace, TEST_EVENT, at, data);
    let event_id = inner.webhooks.queue(hook, TEST_EVENT, body, at, String::new());
    (inner.webhooks.hooks[hook].id.clone(), event_id)
}

/// Queues a resend of delivery `event_id` of webhook `hook` (the same
/// event and data under a new event id); its job, `None` for no such delivery.
pub(crate) fn queue_resend(inner: &mut Inner, hook: usize, event_id: &str, at: DateTime<Utc>) -> Option<Job> {
    let original = inner.webhooks.hooks[hook].delivery(event_id)?;
    let body: Value = serde_json::from_str(&original.body).unwrap_or_default();
    let event = original.event_type.clone();
    let root = if original.original_event_id.is_empty() {
        original.event_id.clone()
    } else {
        original.original_event_id.clone()
    };
    let new_id = inner.webhooks.queue(hook, &event, body, at, root);
    Some((inner.webhooks.hooks[hook].id.clone(), new_id))
}

/// Senders, each making one attempt at a time: a burst (a batch stop of
/// thousands) waits in the queue as ids, not as thousands of tasks and
/// connections.
const SENDERS: usize = 64;

/// Idle connections kept per receiver between deliveries.
const IDLE_PER_RECEIVER: usize = 8;

/// An attempt waiting for a sender: what it sends, taken from the delivery's
/// record when it was queued, so a record the store has since dropped (it
/// keeps a webhook's last deliveries) is still sent.
struct Queued {
    hook_id: String,
    event_id: String,
    url: String,
    event_type: String,
    body: Arc<str>,
    attempt: u32,
}

/// The delivery machinery every request shares.
pub(crate) struct Hub {
    /// Wakes the pump: a request may have changed the fleet or the webhooks.
    pub wake: Notify,
    /// Set when the simulator stops: no further attempt starts.
    pub closed: AtomicBool,
    /// A webhook is registered: only then do requests wake the pump.
    pub active: AtomicBool,
    client: OnceLock<reqwest::Client>,
    /// Attempts waiting for a sender, oldest first.
    queue: std::sync::Mutex<VecDeque<Queued>>,
    /// Wakes a sender: an attempt is queued, or the simulator stops.
    queued: Notify,
    /// The [`SENDERS`] are started (with the first delivery).
    senders: std::sync::Once,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            active: AtomicBool::new(false),
            client: OnceLock::new(),
            queue: std::sync::Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            senders: std::sync::Once::new(),
        }
    }
}

impl Hub {
    /// Wakes the pump if a webhook is registered (else it has nothing to do).
    pub fn poke(&self) {
        if self.active.load(Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// Queues an attempt and wakes a sender.
    fn push(&self, attempt: Queued) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(attempt);
        self.queued.notify_one();
    }

    fn pop(&self) -> Option<Queued> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }

    /// Wakes every sender to see the simulator stopped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.queued.notify_waiters();
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            phala_cloud_api::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(ATTEMPT_TIMEOUT)
                .pool_max_idle_per_host(IDLE_PER_RECEIVER)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default()
        })
    }
}

/// `sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">` keyed with `secret`.
pub(crate) fn signature(secret: &str, timestamp: u64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Queues the deliveries `jobs` for the senders (started with the first).
pub(crate) fn spawn(shared: &Arc<Shared>, jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    shared.hub.senders.call_once(|| {
        for _ in 0..SENDERS {
            tokio::spawn(sender(shared.clone()));
        }
    });
    let queued: Vec<Queued> = {
        let inner = shared.lock();
        jobs.into_iter()
            .filter_map(|(hook_id, event_id)| {
                let hook = inner.webhooks.hooks.iter().find(|h| h.id == hook_id)?;
                let d = hook.deliveries.iter().find(|d| d.event_id == event_id)?;
                Some(Queued {
                    url: d.request_url.clone(),
                    event_type: d.event_type.clone(),
                    body: d.body.clone(),
                    hook_id,
                    event_id,
                    attempt: 1,
                })
            })
            .collect()
    };
    for attempt in queued {
        shared.hub.push(attempt);
    }
}

/// Makes the queued attempts one at a time until the simulator stops.
async fn sender(shared: Arc<Shared>) {
    loop {
        if shared.hub.closed.load(Ordering::Relaxed) {
            return;
        }
        match shared.hub.pop() {
            Some(attempt) => attempt_delivery(&shared, attempt).await,
            None => shared.hub.queued.notified().await,
        }
    }
}

/// One attempt at a delivery, recorded; a failed one is queued again after
/// its backoff until the attempts are spent. Nothing is sent if the webhook
/// or the delivery went.
async fn attempt_delivery(shared: &Arc<Shared>, queued: Queued) {
    let Queued {
        hook_id,
        event_id,
        url,
        event_type,
        body,
        attempt,
    } = &queued;
    let attempt = *attempt;
    if shared.hub.closed.load(Ordering::Relaxed) {
        return;
    }
    // Signed with the secret the webhook has now (rotation applies to retries).
    let secret = {
        let mut inner = shared.lock();
        let Some(hook) = inner.webhooks.hooks.iter_mut().find(|h| h.id == *hook_id) else {
            return;
        };
        if let Some(d) = hook.deliveries.iter_mut().find(|d| d.event_id == *event_id) {
            d.status = "pending";
        }
        hook.secret.clone()
    };
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let started = std::time::Instant::now();
    let sent = shared
        .hub
        .client()
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "phala-cloud-sim-webhooks")
        .header("X-Webhook-Timestamp", timestamp.to_string())
        .header("X-Webhook-Signature", signature(&secret, timestamp, body))
        .header("X-Webhook-Event", event_type.as_str())
        .header("X-Webhook-Id", event_id.as_str())
        .body(body.to_string())
        .send()
        .await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, code, error) = match sent {
        Ok(answer) if answer.status().is_success() => (true, answer.status().as_u16(), String::new()),
        Ok(answer) => {
            let status = answer.status();
            (false, status.as_u16(), format!("HTTP {status}"))
        }
        Err(e) if e.is_timeout() => (false, 0, format!("timed out after {} s", ATTEMPT_TIMEOUT.as_secs())),
        Err(e) => (false, 0, format!("connection failed: {e}")),
    };
    let done = ok || attempt >= MAX_ATTEMPTS;
    {
        let mut inner = shared.lock();
        let at = inner.fleet.clock(Instant::now(), shared.origin);
        let Some(hook) = inner.webhooks.hooks.iter_mut().find(|h| h.id == *hook_id) else {
            return;
        };
        // A record the store has dropped since is not recorded again.
        if let Some(d) = hook.deliveries.iter_mut().find(|d| d.event_id == *event_id) {
            d.attempts = attempt;
            d.response_status = code;
            d.error_message = error;
            d.duration_ms = duration_ms;
            d.status = match (ok, done) {
                (true, _) => "success",
                (false, true) => "failed",
                (false, false) => "pending",
            };
            if ok {
                d.delivered_at = Some(at);
            }
        }
    }
    if done {
        return;
    }
    let wait = backoff(attempt).div_f64(shared.config.time_scale.max(1e-6));
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        shared.hub.push(Queued {
            attempt: attempt + 1,
            ..queued
        });
    });
}

/// Applies the fleet's transitions as they fall due while a webhook is
/// registered, and starts the deliveries of every status change (those of
/// requests too: the server wakes it after each). Runs as long as the
/// server: the server's task drops it when serving ends.
pub(crate) async fn run_pump(shared: Arc<Shared>) {
    loop {
        let (jobs, next) = {
            let (mut inner, _) = shared.now();
            let jobs = collect(&mut inner);
            let next = if inner.webhooks.hooks.is_empty() {
                None
            } else {
                inner.fleet.next_wake()
            };
            (jobs, next)
        };
        spawn(&shared, jobs);
        match next {
            Some(when) => {
                tokio::select! {
                    () = tokio::time::sleep_until(when) => {}
                    () = shared.hub.wake.notified() => {}
                }
            }
            None => shared.hub.wake.notified().await,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_webhook_prints_without_its_secret() {
        let hook = super::Webhook {
            id: "wh_1".into(),
            workspace: 0,
            url: "http://127.0.0.1:9/hook".into(),
            secret: "whsec_CANARY".into(),
            events: vec!["*".into()],
            name: None,
            enabled: true,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
            deliveries: Default::default(),
        };
        let shown = format!("{hook:?}");
        assert!(!shown.contains("CANARY") && shown.contains("[redacted]"), "{shown}");
        // The signature is the documented one: HMAC-SHA256 of "{timestamp}.{body}".
        assert!(super::signature("k", 1, "{}").starts_with("sha256="));
    }
}

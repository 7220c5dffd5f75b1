//! The workspace's webhooks: create, list, read, update, delete, the
//! secret (shown on create, revealed, rotated), a test event, the
//! deliveries (paged by `limit`, default 50, and `offset`, newest first),
//! a resend and the stats. Deliveries themselves are [`crate::webhooks`]'.
//!
//! A webhook belongs to the caller's workspace (`X-Phala-Workspace`, else
//! the key's first): another workspace's is not found (404 `ERR-08-001`; a
//! delivery that is not the webhook's, `ERR-08-002`: the simulator's codes,
//! the real ones are not published). Bodies are checked as the document's
//! `WebhookCreateRequest` / `WebhookUpdateRequest` declare (422, FastAPI
//! style), and beyond: the URL must be `http(s)://host...`, the events ones
//! the simulator sends ([`crate::webhooks::EVENTS`] or `*`), at least one.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::state::{Caller, Inner, RequestId, Shared, api_error, authenticate, body_of, bounded, validation_error};
use crate::webhooks::{self, EVENTS, Webhook};

type Rid = axum::Extension<RequestId>;

fn webhook_not_found(id: &str, rid: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ERR-08-001",
        &format!("Webhook {id} not found"),
        rid,
    )
}

/// The caller, the state locked, and webhook `id` of the caller's workspace.
fn located<'a>(
    shared: &'a Shared,
    headers: &HeaderMap,
    rid: &str,
    id: &str,
) -> Result<(Caller, std::sync::MutexGuard<'a, Inner>, usize), Response> {
    let caller = authenticate(shared, headers, rid)?;
    let inner = shared.lock();
    match inner.webhooks.find(caller.workspace, id) {
        Some(hook) => Ok((caller, inner, hook)),
        None => Err(webhook_not_found(id, rid)),
    }
}

fn sim_now(shared: &Shared, inner: &Inner) -> chrono::DateTime<chrono::Utc> {
    inner.fleet.clock(Instant::now(), shared.origin)
}

fn string_error(field: &str, input: &Value) -> Response {
    validation_error(
        &["body", field],
        "Input should be a valid string",
        "string_type",
        input.clone(),
    )
}

/// The JSON object of a request body, or its 422.
fn object(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match body_of::<Value>(body)? {
        Value::Object(map) => Ok(map),
        other => Err(validation_error(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
            other,
        )),
    }
}

fn check_url(input: &Value) -> Result<String, Response> {
    let Some(url) = input.as_str() else {
        return Err(string_error("url", input));
    };
    let parsed = reqwest::Url::parse(url.trim()).ok();
    let ok = parsed
        .as_ref()
        .is_some_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()));
    if ok {
        Ok(url.trim().to_string())
    } else {
        Err(validation_error(
            &["body", "url"],
            "Value error, the URL must be an absolute http:// or https:// URL",
            "value_error",
            input.clone(),
        ))
    }
}

fn check_events(input: &Value) -> Result<Vec<String>, Response> {
    let Some(items) = input.as_array() else {
        return Err(validation_error(
            &["body", "events"],
            "Input should be a valid list",
            "list_type",
            input.clone(),
        ));
    };
    let mut events: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(event) = item.as_str() else {
            let at = i.to_string();
            return Err(validation_error(
                &["body", "events", &at],
                "Input should be a valid string",
                "string_type",
                item.clone(),
            ));
        };
        if event != "*" && !EVENTS.contains(&event) {
            let msg = format!(
                "Value error, unknown event '{event}'; known events: {}, or *",
                EVENTS.join(", ")
            );
            return Err(validation_error(
                &["body", "events"],
                &msg,
                "value_error",
                input.clone(),
            ));
        }
        if !events.iter().any(|e| e == event) {
            events.push(event.to_string());
        }
    }
    if events.is_empty() {
        return Err(validation_error(
            &["body", "events"],
            "Value error, at least one event is required",
            "value_error",
            input.clone(),
        ));
    }
    Ok(events)
}

/// An optional name: a string of at most 100 characters, or null.
fn check_name(input: Option<&Value>) -> Result<Option<Option<String>>, Response> {
    match input {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.chars().count() <= 100 => Ok(Some(Some(s.clone()))),
        Some(v @ Value::String(_)) => Err(validation_error(
            &["body", "name"],
            "String should have at most 100 characters",
            "string_too_long",
            v.clone(),
        )),
        Some(v) => Err(string_error("name", v)),
    }
}

fn missing(field: &str) -> Response {
    validation_error(&["body", field], "Field required", "missing", Value::Null)
}

pub(crate) async fn list(State(shared): State<Arc<Shared>>, rid: Rid, headers: HeaderMap) -> Response {
    let caller = match authenticate(&shared, &headers, &rid.0.0) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let hooks: Vec<Value> = inner
        .webhooks
        .hooks
        .iter()
        .filter(|h| h.workspace == caller.workspace)
        .map(|h| h.json(false))
        .collect();
    axum::Json(Value::Array(hooks)).into_response()
}

pub(crate) async fn create(State(shared): State<Arc<Shared>>, rid: Rid, headers: HeaderMap, body: Bytes) -> Response {
    let rid = &rid.0.0;
    let caller = match authenticate(&shared, &headers, rid) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let checked = (|| {
        let body = object(&body)?;
        let url = check_url(body.get("url").ok_or_else(|| missing("url"))?)?;
        let events = check_events(body.get("events").ok_or_else(|| missing("events"))?)?;
        let name = check_name(body.get("name"))?.flatten();
        let secret = match body.get("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(string_error("secret", v)),
        };
        Ok((url, events, name, secret))
    })();
    let (url, events, name, secret) = match checked {
        Ok(c) => c,
        Err(r) => return r,
    };
    let mut inner = shared.lock();
    let at = sim_now(&shared, &inner);
    let id = inner.webhooks.new_id();
    let secret = secret.unwrap_or_else(|| inner.webhooks.new_secret());
    let hook = Webhook {
        id,
        workspace: caller.workspace,
        url,
        secret,
        events,
        name,
        enabled: true,
        created_at: at,
        updated_at: at,
        deliveries: Default::default(),
    };
    let answer = hook.json(true);
    inner.webhooks.hooks.push(hook);
    inner.fleet.observe(true);
    shared.hub.active.store(true, std::sync::atomic::Ordering::Relaxed);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

pub(crate) async fn get(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match located(&shared, &headers, &rid.0.0, &id) {
        Ok((_, inner, hook)) => axum::Json(inner.webhooks.hooks[hook].json(false)).into_response(),
        Err(r) => r,
    }
}

pub(crate) async fn update(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let rid = &rid.0.0;
    // Authenticate before reading the body, as everywhere.
    if let Err(r) = authenticate(&shared, &headers, rid) {
        return r;
    }
    let checked = (|| {
        let body = object(&body)?;
        let present = |k: &str| body.get(k).filter(|v| !v.is_null());
        let url = present("url").map(check_url).transpose()?;
        let events = present("events").map(check_events).transpose()?;
        let name = check_name(body.get("name"))?;
        let enabled = match present("enabled") {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(v) => {
                return Err(validation_error(
                    &["body", "enabled"],
                    "Input should be a valid boolean",
                    "bool_type",
                    v.clone(),
                ));
            }
        };
        Ok((url, events, name, enabled))
    })();
    let (url, events, name, enabled) = match checked {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (_, mut inner, hook) = match located(&shared, &headers, rid, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let at = sim_now(&shared, &inner);
    let webhook = &mut inner.webhooks.hooks[hook];
    if let Some(url) = url {
        webhook.url = url;
    }
    if let Some(events) = events {
        webhook.events = events;
    }
    if let Some(name) = name {
        webhook.name = name;
    }
    if let Some(enabled) = enabled {
        webhook.enabled = enabled;
    }
    webhook.updated_at = at;
    axum::Json(webhook.json(false)).into_response()
}

pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, mut inner, hook) = match located(&shared, &headers, &rid.0.0, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    inner.webhooks.hooks.remove(hook);
    let observed = !inner.webhooks.hooks.is_empty();
    inner.fleet.observe(observed);
    shared.hub.active.store(observed, std::sync::atomic::Ordering::Relaxed);
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn reveal_secret(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match located(&shared, &headers, &rid.0.0, &id) {
        Ok((_, inner, hook)) => {
            let webhook = &inner.webhooks.hooks[hook];
            axum::Json(json!({"id": webhook.id, "secret": webhook.secret})).into_response()
        }
        Err(r) => r,
    }
}

pub(crate) async fn rotate_secret(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, mut inner, hook) = match located(&shared, &headers, &rid.0.0, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let at = sim_now(&shared, &inner);
    let secret = inner.webhooks.new_secret();
    let webhook = &mut inner.webhooks.hooks[hook];
    webhook.secret = secret;
    webhook.updated_at = at;
    axum::Json(json!({"id": webhook.id, "secret": webhook.secret})).into_response()
}

/// Sends the test event now (in the background); answers its delivery record.
pub(crate) async fn test(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, mut inner, hook) = match located(&shared, &headers, &rid.0.0, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let at = sim_now(&shared, &inner);
    let job = webhooks::queue_test(&mut inner, hook, at);
    let answer = inner.webhooks.hooks[hook].delivery(&job.1).map(|d| d.json());
    drop(inner);
    webhooks::spawn(&shared, vec![job]);
    axum::Json(answer.unwrap_or_default()).into_response()
}

pub(crate) async fn deliveries(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let rid = &rid.0.0;
    if let Err(r) = authenticate(&shared, &headers, rid) {
        return r;
    }
    // The document bounds neither; a negative one means nothing (422).
    let limit = match bounded(&query, "limit", 50, 0, u64::MAX) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let offset = match bounded(&query, "offset", 0, 0, u64::MAX) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (_, inner, hook) = match located(&shared, &headers, rid, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let page: Vec<Value> = inner.webhooks.hooks[hook]
        .deliveries
        .iter()
        .rev()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|d| d.json())
        .collect();
    axum::Json(Value::Array(page)).into_response()
}

/// Resends a delivery (the same event and data, a new event id pointing
/// back with `original_event_id`); answers the new delivery's record.
pub(crate) async fn resend(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path((id, event_id)): Path<(String, String)>,
) -> Response {
    let rid = &rid.0.0;
    let (_, mut inner, hook) = match located(&shared, &headers, rid, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let at = sim_now(&shared, &inner);
    let Some(job) = webhooks::queue_resend(&mut inner, hook, &event_id, at) else {
        let msg = format!("Delivery {event_id} of webhook {id} not found");
        return api_error(StatusCode::NOT_FOUND, "ERR-08-002", &msg, rid);
    };
    let answer = inner.webhooks.hooks[hook].delivery(&job.1).map(|d| d.json());
    drop(inner);
    webhooks::spawn(&shared, vec![job]);
    axum::Json(answer.unwrap_or_default()).into_response()
}

/// Counts over the deliveries kept: finished ones (success or failed),
/// durations of the attempted ones.
pub(crate) async fn stats(
    State(shared): State<Arc<Shared>>,
    rid: Rid,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, inner, hook) = match located(&shared, &headers, &rid.0.0, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let deliveries = &inner.webhooks.hooks[hook].deliveries;
    let success = deliveries.iter().filter(|d| d.status == "success").count() as u64;
    let failed = deliveries.iter().filter(|d| d.status == "failed").count() as u64;
    let attempted: Vec<u64> = deliveries
        .iter()
        .filter(|d| d.attempts > 0)
        .map(|d| d.duration_ms)
        .collect();
    let finished = success + failed;
    let rate = if finished == 0 {
        0.0
    } else {
        success as f64 / finished as f64
    };
    let avg = if attempted.is_empty() {
        0
    } else {
        attempted.iter().sum::<u64>() / attempted.len() as u64
    };
    let last = deliveries
        .iter()
        .filter(|d| d.attempts > 0)
        .map(|d| d.delivered_at.unwrap_or(d.created_at))
        .max();
    axum::Json(json!({
        "total": deliveries.len(),
        "success_count": success,
        "failed_count": failed,
        "success_rate": rate,
        "avg_duration_ms": avg,
        "max_duration_ms": attempted.iter().copied().max().unwrap_or(0),
        "last_delivery_at": last.map(webhooks::time),
    }))
    .into_response()
}

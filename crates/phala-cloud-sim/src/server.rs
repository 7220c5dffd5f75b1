//! The HTTP server: the router built from the one table of routes
//! ([`crate::routes::ROUTES`]), request ids, latency, faults and stats
//! around every handler, and what answers an operation no route serves.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::routes::{IMPLEMENTED, ROUTES, split};
use crate::state::{Applied, AppliedStops, RequestId, Shared, api_error};

/// The endpoint label stats are kept under.
fn endpoint(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["api", "v1", "status", "batch"]) => "status_batch",
        ("POST", ["api", "v1", "cvms", "batch-stop"]) => "batch_stop",
        ("GET", ["api", "v1", "cvms"]) => "list_cvms",
        ("GET", ["api", "v1", "cvms", "paginated"]) => "list_cvms_paginated",
        ("GET", ["api", "v1", "cvms", _, "operations"]) => "cvm_operations",
        ("POST", ["api", "v1", "cvms", _, "operations", "cancel"]) => "cancel_operation",
        ("GET", ["api", "v1", "cvms", _, "state"])
            if query.is_some_and(|q| q.split('&').any(|p| p.starts_with("target="))) =>
        {
            "cvm_state_sse"
        }
        ("GET", ["api", "v1", "cvms", _, "state"]) => "cvm_state",
        ("GET", ["api", "v1", "apps", _, "cvms"]) => "app_cvms",
        ("GET", ["api", "v1", "cvms", _]) => "get_cvm",
        ("DELETE", ["api", "v1", "cvms", _]) => "delete_cvm",
        ("POST", ["api", "v1", "cvms", _, "start"]) => "start_cvm",
        ("POST", ["api", "v1", "cvms", _, "stop"]) => "stop_cvm",
        ("POST", ["api", "v1", "cvms", _, "shutdown"]) => "shutdown_cvm",
        ("POST", ["api", "v1", "cvms", _, "restart"]) => "restart_cvm",
        ("PATCH", ["api", "v1", "cvms", _, "resources"]) => "resize_cvm",
        ("PATCH", ["api", "v1", "cvms", _, "visibility"]) => "update_visibility",
        ("POST", ["api", "v1", "cvms", "provision"]) => "provision_cvm",
        ("POST", ["api", "v1", "cvms"]) => "commit_cvm",
        ("GET", ["api", "v1", "cvms", _, "compose_file"]) => "cvm_compose_file",
        ("PATCH", ["api", "v1", "cvms", _, "compose_file"]) => "update_compose_file",
        ("POST", ["api", "v1", "cvms", _, "compose_file", "provision"]) => "provision_update",
        ("POST", ["api", "v1", "cvms", _, "replicas"]) => "replicate_cvm",
        ("POST", ["api", "v1", "cvms", _, "commit-update"]) => "commit_update",
        ("GET", ["api", "v1", "apps", _, "revisions"]) => "app_revisions",
        ("GET", ["api", "v1", "apps", _, "revisions", _]) => "app_revision",
        ("POST", ["api", "v1", "apps", _, "revisions", _, "redeploy"]) => "redeploy_revision",
        ("GET", ["api", "v1", "kms", _, "pubkey", _]) => "kms_pubkey",
        ("GET", ["api", "v1", "kms", _]) => "kms_info",
        ("GET", ["logs", "syslog"]) if follows(query) => "logs_syslog_follow",
        ("GET", ["logs", "syslog"]) => "logs_syslog",
        ("GET", ["logs", "containers"]) if follows(query) => "logs_container_follow",
        ("GET", ["logs", "containers"]) => "logs_container",
        _ => "other",
    }
}

/// Whether a log request follows (a stream: never cut whole by the fault layer).
fn follows(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "follow" && !matches!(v.to_ascii_lowercase().as_str(), "false" | "0" | "no" | "off"))
}

enum Fault {
    None,
    ServerError(StatusCode),
    RateLimited,
    Conflict,
    Drop,
    Truncate,
}

/// Request ids, latency, faults and stats around every handler.
async fn around(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let label = endpoint(request.method(), request.uri().path(), request.uri().query());
    // Streams are cut by their own fault (SSE) or not at all: cutting reads the whole body.
    let streams = label == "cvm_state_sse" || label.ends_with("_follow");
    let (rid, fault, delay) = {
        let mut inner = shared.lock();
        inner.next_request += 1;
        let rid = format!("req_{:010x}", inner.next_request);
        let faults = inner.faults.clone();
        let jitter = faults.latency_jitter.mul_f64(inner.rng.unit());
        let fault = if inner.rng.chance(faults.server_error_rate) {
            Fault::ServerError(
                [
                    StatusCode::INTERNAL_SERVER_ERROR,
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                ][inner.rng.below(3)],
            )
        } else if inner.rng.chance(faults.rate_limit_rate) {
            Fault::RateLimited
        } else if inner.rng.chance(faults.conflict_rate) {
            Fault::Conflict
        } else if !streams && inner.rng.chance(faults.drop_rate) {
            Fault::Drop
        } else if !streams && inner.rng.chance(faults.truncate_rate) {
            Fault::Truncate
        } else {
            Fault::None
        };
        (rid, fault, faults.latency + jitter)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    request.extensions_mut().insert(RequestId(rid.clone()));
    let mut response = match fault {
        Fault::ServerError(status) => {
            record_fault(&shared, "server_error");
            let msg = status.canonical_reason().unwrap_or("Server error");
            api_error(status, "ERR-00-500", msg, &rid)
        }
        Fault::RateLimited => {
            record_fault(&shared, "rate_limited");
            let mut r = api_error(StatusCode::TOO_MANY_REQUESTS, "ERR-00-429", "Rate limit exceeded", &rid);
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        Fault::Conflict => {
            record_fault(&shared, "conflict");
            let body = json!({"detail": "Another operation is already in progress; try again"});
            (StatusCode::CONFLICT, axum::Json(body)).into_response()
        }
        Fault::None | Fault::Drop | Fault::Truncate => next.run(request).await,
    };
    let status = response.status().as_u16();
    {
        let mut inner = shared.lock();
        *inner.stats.requests.entry((label.to_string(), status)).or_default() += 1;
    }
    // The handler may have changed a CVM or a webhook: the pump delivers,
    // log streams look again.
    shared.hub.poke();
    shared.logs_wake.send_replace(());
    if let Ok(v) = HeaderValue::from_str(&rid) {
        response.headers_mut().insert("x-request-id", v);
    }
    match fault {
        // A 204 is whole once its status line is out: nothing to cut.
        Fault::Drop | Fault::Truncate if response.status() == StatusCode::NO_CONTENT => response,
        Fault::Drop | Fault::Truncate => {
            let kind = if matches!(fault, Fault::Drop) {
                "drop"
            } else {
                "truncate"
            };
            record_fault(&shared, kind);
            if let Some(applied) = response.extensions().get::<AppliedStops>() {
                let mut inner = shared.lock();
                for id in &applied.0 {
                    *inner.stats.stops_applied_unanswered.entry(id.clone()).or_default() += 1;
                }
            }
            if let Some(Applied(action, id)) = response.extensions().get::<Applied>() {
                let key = (action.to_string(), id.clone());
                *shared.lock().stats.actions_applied_unanswered.entry(key).or_default() += 1;
            }
            cut(response, matches!(fault, Fault::Truncate)).await
        }
        _ => response,
    }
}

fn record_fault(shared: &Shared, kind: &str) {
    *shared.lock().stats.faults.entry(kind.to_string()).or_default() += 1;
}

/// A response whose body stops early: nothing after the headers (drop) or
/// half of it with the full `Content-Length` declared (truncate).
async fn cut(response: Response, truncate: bool) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let keep = if truncate {
        bytes.slice(..bytes.len() / 2)
    } else {
        Bytes::new()
    };
    if truncate {
        if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
            parts.headers.insert(header::CONTENT_LENGTH, v);
        }
    } else {
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(keep),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated drop",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

/// The router: every route of the table, the bundled document, and what
/// answers the rest.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let served = ROUTES.iter().filter_map(|r| Some((split(r.op)?, r.mount)));
    let router = served.fold(Router::new(), |router, ((method, path), mount)| {
        router.route(path, mount(method))
    });
    // An operation not served whose path is all literal segments gets its
    // own route to the 501, or a served `/cvms/{cvm_id}` would take it
    // (`PATCH /cvms/instance-ids` is not `PATCH /cvms/{cvm_id}`).
    documented()
        .iter()
        .filter(|(m, t, _)| !t.contains('{') && !IMPLEMENTED.contains(&format!("{m} {t}").as_str()))
        .filter_map(|(m, t, _)| Some((split(&format!("{m} {t}"))?.0, t.clone())))
        .fold(router, |router, (method, path)| {
            router.route(&path, axum::routing::on(method, unimplemented))
        })
        // The CVMs' logs: where `syslog_endpoint` and the containers'
        // `log_endpoint` point, not API operations (crate::routes::logs).
        .route("/logs/syslog", axum::routing::get(crate::routes::logs::syslog))
        .route("/logs/containers", axum::routing::get(crate::routes::logs::container))
        .route(
            "/openapi.json",
            axum::routing::get(|| async { ([(header::CONTENT_TYPE, "application/json")], crate::BUNDLED_OPENAPI) }),
        )
        .fallback(unimplemented)
        .method_not_allowed_fallback(unimplemented)
        .layer(middleware::from_fn_with_state(shared.clone(), around))
        .with_state(shared)
}

/// What the simulator does not answer: an operation the document publishes
/// gets 501 naming it (so a caller knows the simulator, not the API, lacks
/// it); a method the document does not publish for a path it does, 405
/// with every method it publishes there in `Allow`; anything else the
/// service's 404.
async fn unimplemented(method: Method, uri: axum::http::Uri) -> Response {
    // A literal segment beats a parameter (`/cvms/batch-stop` is not `/cvms/{cvm_id}`).
    let params = |template: &str| template.matches('{').count();
    let candidates = documented()
        .iter()
        .filter(|(_, template, _)| template_matches(template, uri.path()));
    let fewest = candidates.clone().map(|(_, t, _)| params(t)).min();
    let matching: Vec<&(String, String, String)> = candidates.filter(|(_, t, _)| Some(params(t)) == fewest).collect();
    let asked = matching
        .iter()
        .find(|(m, _, _)| m.eq_ignore_ascii_case(method.as_str()));
    // A served operation reaches here only in a form its route does not
    // take (a trailing slash): not found, rather than a false 501.
    let unserved = asked.filter(|(m, t, _)| !IMPLEMENTED.contains(&format!("{m} {t}").as_str()));
    if let Some((_, template, id)) = unserved {
        return (
            StatusCode::NOT_IMPLEMENTED,
            axum::Json(json!({
                "detail": format!("the simulator does not implement {method} {template} ({id})"),
                "error_code": "SIM-501",
                "operation": {"method": method.as_str(), "path": template, "operation_id": id},
            })),
        )
            .into_response();
    }
    if matching.is_empty() || asked.is_some() {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"detail": "Not Found"}))).into_response();
    }
    let allow: Vec<&str> = matching.iter().map(|(m, _, _)| m.as_str()).collect();
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::ALLOW, allow.join(", "))],
        axum::Json(json!({"detail": "Method Not Allowed"})),
    )
        .into_response()
}

/// Every operation of the bundled document, and those the overlay adds
/// from the evidence (its `$.paths` actions): `(METHOD, path template, operationId)`.
fn documented() -> &'static [(String, String, String)] {
    static OPERATIONS: std::sync::OnceLock<Vec<(String, String, String)>> = std::sync::OnceLock::new();
    OPERATIONS.get_or_init(|| {
        let doc: Value = serde_json::from_str(crate::BUNDLED_OPENAPI).unwrap_or_default();
        let overlay: Value = serde_json::from_str(phala_cloud_api::OVERLAY_JSON).unwrap_or_default();
        let added = overlay["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["target"] == "$.paths")
            .filter_map(|a| a["update"].as_object());
        let mut out = Vec::new();
        for paths in doc["paths"].as_object().into_iter().chain(added) {
            for (template, item) in paths {
                for (m, op) in item.as_object().into_iter().flatten() {
                    if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                        out.push((m.to_uppercase(), template.clone(), id.to_string()));
                    }
                }
            }
        }
        out
    })
}

/// Whether `path` is an instance of `template` (`{name}` takes one segment).
fn template_matches(template: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let pattern: Vec<&str> = template.split('/').collect();
    pattern.len() == segments.len()
        && pattern
            .iter()
            .zip(&segments)
            .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
}

/// The socket a simulator listens on.
pub(crate) async fn bind(port: u16) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

//! The bad-input matrix: what callers and servers get wrong, each answered
//! with a typed error and nothing lost. A recording server on loopback shows
//! exactly what went over the wire.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use phala_cloud::{ApiErrorKind, Client, Error, KnownStatus, RetryPolicy, StateEvent, WaitAllOptions, WatchOptions};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// Path and query exactly as sent (still percent-encoded).
    uri: String,
    body: Value,
}

type Answer = Arc<dyn Fn(&Seen) -> Response + Send + Sync>;

/// A server that records every request and answers with `answer`.
struct Recorder {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    async fn start(answer: impl Fn(&Seen) -> Response + Send + Sync + 'static) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (log, answer): (_, Answer) = (seen.clone(), Arc::new(answer));
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, _: HeaderMap, body: Bytes| {
            let (log, answer) = (log.clone(), answer.clone());
            async move {
                let seen = Seen {
                    method,
                    uri: uri.to_string(),
                    body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                log.lock().unwrap().push(seen.clone());
                answer(&seen)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Recorder { base, seen }
    }

    fn client(&self) -> Client {
        client_at(&self.base)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn client_at(base: &str) -> Client {
    Client::builder()
        .base_url(base)
        .api_key("k")
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// Answers batch calls as a well-behaved server would, for every id sent.
fn echo_batches(seen: &Seen) -> Response {
    let ids = |key: &str| -> Vec<String> {
        seen.body[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    if seen.uri.ends_with("/status/batch") {
        let map: serde_json::Map<String, Value> = ids("vm_uuids")
            .into_iter()
            .map(|u| (u.clone(), json!({"vm_uuid": u, "status": "running"})))
            .collect();
        json_response(StatusCode::OK, Value::Object(map))
    } else if seen.uri.ends_with("/cvms/batch-stop") {
        let n = ids("cvm_ids").len();
        json_response(
            StatusCode::OK,
            json!({"total": n, "stopped": n, "skipped": 0, "errors": []}),
        )
    } else {
        json_response(
            StatusCode::OK,
            json!({"id": "cvm_x", "name": "x", "status": "stopped", "in_progress": false}),
        )
    }
}

#[tokio::test]
async fn ids_cannot_escape_their_path_segment() {
    let server = Recorder::start(echo_batches).await;
    let client = server.client();
    let cases = [
        ("a b", "a%20b"),
        ("../../admin", "..%2F..%2Fadmin"),
        // `=` is allowed in a path segment (RFC 3986 sub-delims): no escape.
        ("x/y?z=1#f", "x%2Fy%3Fz=1%23f"),
        ("é✓", "%C3%A9%E2%9C%93"),
        ("%2F", "%252F"),
        ("cvm_ok-1.2~", "cvm_ok-1.2~"),
    ];
    for (id, encoded) in cases {
        client.cvm_state(id).await.unwrap();
        client.app_cvms(id).await.unwrap_err(); // the answer is not a list: fine here
        let seen = server.seen();
        let [.., state, app] = seen.as_slice() else { panic!() };
        assert_eq!(state.uri, format!("/api/v1/cvms/{encoded}/state"), "{id}");
        assert_eq!((&state.method, &app.method), (&Method::GET, &Method::GET));
        assert_eq!(app.uri, format!("/api/v1/apps/{encoded}/cvms"), "{id}");
    }
    let before = server.seen().len();
    // URL parsing would resolve these dot segments into another path.
    for dots in [".", ".."] {
        assert!(matches!(client.cvm_state(dots).await, Err(Error::InvalidInput(_))));
        assert!(matches!(client.app_cvms(dots).await, Err(Error::InvalidInput(_))));
    }
    for blank in ["", "   ", "\t"] {
        assert!(matches!(client.cvm_state(blank).await, Err(Error::InvalidInput(_))));
        assert!(matches!(client.app_cvms(blank).await, Err(Error::InvalidInput(_))));
        assert!(matches!(
            client
                .wait_for_state(blank, phala_cloud::KnownStatus::Stopped, Duration::from_secs(1))
                .await,
            Err(Error::InvalidInput(_))
        ));
    }
    assert_eq!(server.seen().len(), before, "nothing sent for blank ids");
}

#[tokio::test]
async fn batches_of_any_size_and_shape_lose_nothing() {
    let server = Recorder::start(echo_batches).await;
    let client = server.client();
    // 10,000 distinct ids, plus duplicates: VM UUIDs for status, hashed ids
    // for stop (the forms those endpoints take, so nothing is resolved).
    let uuids: Vec<String> = (0..10_000)
        .map(|i| format!("00000000-0000-4000-a000-{i:012}"))
        .collect();
    let cvm_ids: Vec<String> = (0..10_000).map(|i| format!("cvm_{i:05}")).collect();
    let dupes = |ids: &[String]| -> Vec<String> { ids.iter().chain(&ids[..500]).cloned().collect() };
    let map = client.status_many(&dupes(&uuids)).await.unwrap();
    assert_eq!(map.len(), 10_000);
    let report = client.stop_many(&dupes(&cvm_ids)).await;
    assert_eq!((report.total, report.stopped, report.requests), (10_000, 10_000, 200));
    let seen = server.seen();
    let sent = |path: &str, key: &str| -> Vec<String> {
        seen.iter()
            .filter(|s| s.uri.ends_with(path))
            .flat_map(|s| {
                let chunk = s.body[key].as_array().unwrap();
                assert!(chunk.len() <= if key == "cvm_ids" { 50 } else { 100 });
                chunk
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    for (path, key, ids) in [
        ("/status/batch", "vm_uuids", &uuids),
        ("/cvms/batch-stop", "cvm_ids", &cvm_ids),
    ] {
        let sent = sent(path, key);
        assert_eq!(sent.len(), 10_000, "{path}: each id sent once");
        assert_eq!(sent.iter().collect::<BTreeSet<_>>(), ids.iter().collect(), "{path}");
    }

    // Blank ids: status refuses the call; stop reports them and sends the rest.
    let before = server.seen().len();
    let bad = ["cvm_ok-1", "", "cvm_ok-2", "  ", "bad\u{0}id", "cvm_ok-1"];
    match client.status_many(bad).await {
        Err(Error::InvalidInput(m)) => assert!(m.contains("#1"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client
            .wait_all(
                bad,
                phala_cloud::KnownStatus::Stopped,
                Duration::from_secs(1),
                WaitAllOptions::default(),
                |_| {}
            )
            .await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(server.seen().len(), before, "nothing sent");
    let report = client.stop_many(bad).await;
    assert_eq!((report.total, report.stopped, report.failed.len()), (5, 2, 3));
    assert!(report.is_consistent());
    let failed: Vec<&str> = report.failed.iter().map(|f| f.cvm_id.as_str()).collect();
    assert_eq!(failed, ["", "  ", "bad\u{0}id"]);
    assert_eq!(
        server.seen().last().unwrap().body["cvm_ids"],
        json!(["cvm_ok-1", "cvm_ok-2"])
    );

    // Empty lists send nothing.
    let before = server.seen().len();
    assert!(client.status_many(Vec::<String>::new()).await.unwrap().is_empty());
    assert_eq!(client.stop_many(Vec::<String>::new()).await.requests, 0);
    let waited = client
        .wait_all(
            Vec::<String>::new(),
            phala_cloud::KnownStatus::Stopped,
            Duration::from_secs(1),
            Default::default(),
            |_| {},
        )
        .await
        .unwrap();
    assert!(waited.outcomes.is_empty() && waited.all_reached());
    assert_eq!(server.seen().len(), before);
}

#[tokio::test]
async fn options_out_of_range_are_refused_before_sending() {
    let server = Recorder::start(echo_batches).await;
    let client = server.client();
    for opts in [
        WatchOptions::default().interval(4),
        WatchOptions::default().interval(31),
        WatchOptions::default().timeout(9),
        WatchOptions::default().timeout(601),
    ] {
        let events: Vec<_> = client
            .watch_state("cvm_x", phala_cloud::KnownStatus::Stopped, opts.clone())
            .collect()
            .await;
        assert!(matches!(events.as_slice(), [Err(Error::InvalidInput(_))]), "{opts:?}");
    }
    for opts in [
        WaitAllOptions::default().interval(Duration::ZERO),
        WaitAllOptions::default().interval(Duration::from_millis(1)),
        WaitAllOptions::default().missing_rounds(0),
    ] {
        let r = client
            .wait_all(
                ["u"],
                phala_cloud::KnownStatus::Stopped,
                Duration::from_secs(1),
                opts.clone(),
                |_| {},
            )
            .await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{opts:?}");
    }
    // A target is a known status or a condition: a misspelt one cannot be
    // written, and parsing one refuses it with the known names.
    let misspelt = phala_cloud::Condition::parse("stoped").unwrap_err();
    assert!(
        matches!(&misspelt, Error::InvalidInput(m) if m.contains("known: pending, starting, running")),
        "{misspelt}"
    );
    assert!(server.seen().is_empty(), "nothing sent");

    let builder = || Client::builder().base_url(&server.base).api_key("k");
    for (what, built) in [
        ("concurrency 0", builder().concurrency(0).build()),
        ("status chunk 0", builder().status_chunk_size(0).build()),
        ("stop chunk 51", builder().stop_chunk_size(51).build()),
        ("stop chunk 0", builder().stop_chunk_size(0).build()),
        ("zero timeout", builder().request_timeout(Duration::ZERO).build()),
        ("zero idle timeout", builder().idle_timeout(Duration::ZERO).build()),
        ("zero body cap", builder().max_body_bytes(0).build()),
        ("empty version", builder().api_version(" ").build()),
        ("no credential", Client::builder().base_url(&server.base).build()),
        ("newline in key", builder().api_key("a\nb").build()),
    ] {
        assert!(matches!(built, Err(Error::Config(_))), "{what}");
    }
}

#[tokio::test]
async fn base_urls_are_checked_and_prefixes_kept() {
    let config_error = |url: &str| match Client::builder().base_url(url).api_key("k").build() {
        Err(Error::Config(m)) => m,
        other => panic!("{url}: {other:?}"),
    };
    assert!(config_error("cloud-api.phala.com").contains("not a URL"));
    assert!(config_error("localhost:8080").contains("missing https://"));
    assert!(config_error("http://cloud-api.phala.com").contains("refusing plain http"));
    assert!(config_error("http://10.1.2.3:8000").contains("refusing plain http"));
    assert!(config_error("https://x.example/api?v=1").contains("query"));
    let with_password = config_error("https://user:hunter2@cloud-api.phala.com");
    assert!(
        with_password.contains("credentials") && !with_password.contains("hunter2"),
        "{with_password}"
    );
    assert!(!config_error("not a url with a hunter2@ in it").contains("hunter2"));

    // A path prefix (a proxy) is kept; a trailing /api/v1 is not doubled.
    let server = Recorder::start(echo_batches).await;
    for base in [
        format!("{}/proxy/phala/", server.base),
        format!("{}/proxy/phala/api/v1", server.base),
    ] {
        client_at(&base).cvm_state("cvm_1").await.unwrap();
        assert_eq!(
            server.seen().last().unwrap().uri,
            "/proxy/phala/api/v1/cvms/cvm_1/state"
        );
    }
}

#[tokio::test]
async fn error_pages_and_wrong_shapes_are_typed() {
    let server = Recorder::start(|seen| match seen.uri.as_str() {
        "/api/v1/cvms/html502/state" => (
            StatusCode::BAD_GATEWAY,
            [("content-type", "text/html")],
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
            .into_response(),
        "/api/v1/cvms/html200/state" => ([("content-type", "text/html")], "<html>maintenance</html>").into_response(),
        "/api/v1/cvms/plain500/state" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "/api/v1/cvms/empty200/state" => StatusCode::OK.into_response(),
        "/api/v1/cvms/array/state" => json_response(StatusCode::OK, json!([1, 2])),
        "/api/v1/cvms/paginated?page=1&page_size=100" => json_response(StatusCode::OK, json!({"items": 3})),
        "/api/v1/apps/numbers/cvms" => json_response(StatusCode::OK, json!([1, 2])),
        "/api/v1/status/batch" => json_response(StatusCode::OK, json!(["not", "a", "map"])),
        "/api/v1/cvms/batch-stop" => json_response(StatusCode::OK, json!({"stopped": "many"})),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await;
    let client = server.client();
    match client.cvm_state("html502").await {
        Err(Error::Api(e)) => {
            assert_eq!((e.kind(), e.message.as_str()), (ApiErrorKind::Server, "Bad Gateway"));
            assert!(e.snippet.starts_with("<html>"));
        }
        other => panic!("{other:?}"),
    }
    match client.cvm_state("plain500").await {
        Err(Error::Api(e)) => assert_eq!((e.status, e.snippet.as_str()), (500, "oops")),
        other => panic!("{other:?}"),
    }
    for id in ["html200", "empty200", "array"] {
        assert!(
            matches!(client.cvm_state(id).await, Err(Error::Decode { status: 200, .. })),
            "{id}"
        );
    }
    assert!(matches!(
        client.list_cvms(&Default::default()).await,
        Err(Error::Decode { .. })
    ));
    match client.app_cvms("numbers").await {
        Err(Error::Decode {
            status: 200,
            message,
            snippet,
        }) => {
            // Neither list shape: the decoder names the type, the snippet shows the body.
            assert!(message.contains("GetAppCvmsResponseItem"), "{message}");
            assert_eq!(snippet, "[1,2]");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(client.status_many(["u"]).await, Err(Error::Decode { .. })));
    let report = client.stop_many(["a", "b"]).await;
    assert_eq!(
        report.failed.len(),
        2,
        "a stop answer that does not decode fails its chunk"
    );
    assert!(report.is_consistent());
    match client.cvm_state("missing").await {
        Err(e) => assert_eq!(e.kind(), Some(ApiErrorKind::NotFound)),
        Ok(s) => panic!("{s:?}"),
    }
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_early() {
    // 100 MB, streamed without Content-Length, and declared up front.
    let hundred_mb = 100 * 1024 * 1024;
    let server = Recorder::start(move |seen| {
        let chunks =
            futures::stream::iter((0..hundred_mb / 65_536).map(|_| Ok::<_, std::io::Error>(vec![b' '; 65_536])));
        if seen.uri.contains("declared") {
            ([("content-length", hundred_mb.to_string())], Body::from_stream(chunks)).into_response()
        } else {
            Body::from_stream(chunks).into_response()
        }
    })
    .await;
    let client = Client::builder()
        .base_url(&server.base)
        .api_key("k")
        .max_body_bytes(8 * 1024 * 1024)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    for id in ["streamed", "declared"] {
        assert!(
            matches!(
                client.cvm_state(id).await,
                Err(Error::BodyTooLarge { limit: 8_388_608 })
            ),
            "{id}"
        );
    }
}

/// An SSE server that sends `frames` and then either ends or keeps going.
fn sse(frames: &'static str, endless: Option<&'static str>) -> Response {
    let head = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(frames.as_bytes()))]);
    let tail = futures::stream::unfold((), move |_| async move {
        let frame = endless?;
        tokio::time::sleep(Duration::from_millis(10)).await;
        Some((Ok(Bytes::from_static(frame.as_bytes())), ()))
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(head.chain(tail)),
    )
        .into_response()
}

#[tokio::test]
async fn event_streams_in_every_legal_form_and_some_illegal_ones() {
    let server = Recorder::start(|seen| {
        let id = seen.uri.split('/').nth(4).unwrap_or_default().to_string();
        if !seen.uri.contains("target=") {
            // The immediate state, for the fallback and the final read.
            return json_response(StatusCode::OK, json!({"id": id, "status": "stopped", "in_progress": false}));
        }
        match id.as_str() {
            "crlf" => sse(
                ": hello\r\n\r\nevent: state\r\ndata: {\"id\": \"crlf\",\r\ndata:  \"status\": \"stopping\"}\r\n\r\n\
                 event: progress\r\ndata: 50%\r\n\r\nevent: complete\r\ndata: {\"status\": \"stopped\", \"elapsed\": 1.5}\r\n\r\n",
                None,
            ),
            "cr" => sse(
                "event: state\rdata: {\"status\": \"stopping\"}\r\revent: complete\rdata: {\"status\": \"stopped\"}\r\r",
                None,
            ),
            "forever" => sse(
                "event: state\ndata: {\"status\": \"stopping\"}\n\n",
                Some(": keepalive\n\nevent: state\ndata: {\"status\": \"stopping\"}\n\n"),
            ),
            "endless-line" => sse("data: ", Some(Box::leak("x".repeat(4096).into_boxed_str()))),
            "bad-json" => sse("event: state\ndata: {not json\n\n", None),
            // An endless body that is not an event stream, as a success and as an error.
            "endless-html" | "endless-500" => {
                let chunk = Bytes::from_static(b"<html>xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
                let body = Body::from_stream(futures::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone())));
                let status = if id == "endless-500" { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::OK };
                (status, [("content-type", "text/html")], body).into_response()
            }
            _ => (StatusCode::OK, "not an event stream").into_response(),
        }
    })
    .await;
    let client = Client::builder()
        .base_url(&server.base)
        .api_key("k")
        .max_event_bytes(16 * 1024)
        .retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(5)))
        .build()
        .unwrap();
    let watch = |id: &'static str, deadline_ms: u64| {
        client
            .watch_state(
                id,
                phala_cloud::KnownStatus::Stopped,
                WatchOptions::default().deadline(Duration::from_millis(deadline_ms)),
            )
            .collect::<Vec<_>>()
    };
    for id in ["crlf", "cr"] {
        let events = watch(id, 5_000).await;
        assert!(
            matches!(&events[0], Ok(StateEvent::State(s)) if s.status == KnownStatus::Stopping),
            "{id}: {events:?}"
        );
        assert!(
            matches!(
                events.last(),
                Some(Ok(StateEvent::Complete { status, .. })) if *status == KnownStatus::Stopped
            ),
            "{id}: {events:?}"
        );
        assert_eq!(events.len(), 2, "{id}: comments and unknown events are skipped");
    }
    // A stream that never completes ends at the deadline, with the events seen.
    let events = watch("forever", 300).await;
    assert!(events.len() > 2);
    assert!(matches!(events.last(), Some(Err(Error::Deadline { .. }))));
    // One line that never ends is cut at the event cap, again and again, until the deadline.
    let events = watch("endless-line", 1_000).await;
    assert!(matches!(events.as_slice(), [Err(Error::Deadline { .. })]), "{events:?}");
    let connects = server
        .seen()
        .iter()
        .filter(|s| s.uri.contains("/endless-line/"))
        .count();
    assert!(connects >= 2, "the stream was cut at the cap and reopened: {connects}");
    // A state that does not decode is a typed error; the watch goes on.
    let events = watch("bad-json", 300).await;
    assert!(
        matches!(&events[0], Err(Error::Decode { status: 200, .. })),
        "{events:?}"
    );
    // Endless bodies that are not event streams end the watch by the deadline.
    let events = watch("endless-html", 500).await;
    assert!(
        matches!(events.as_slice(), [Err(Error::Stream(m))] if m.contains("<html>")),
        "{events:?}"
    );
    let events = watch("endless-500", 500).await;
    assert!(matches!(events.last(), Some(Err(Error::Deadline { .. }))), "{events:?}");
    // Not an event stream at all.
    let events = watch("html", 300).await;
    assert!(matches!(events.as_slice(), [Err(Error::Stream(m))] if m.contains("not an event stream")));
}

/// A batch answer is trusted only for what was asked: a server answering a
/// one-uuid request with 100,000 other entries adds none of them.
#[tokio::test]
async fn batch_status_keeps_only_the_ids_it_asked_about() {
    let server = Recorder::start(|seen| {
        let mut map: serde_json::Map<String, Value> = (0..100_000)
            .map(|i| {
                (
                    format!("other-{i}"),
                    json!({"vm_uuid": format!("other-{i}"), "status": "running"}),
                )
            })
            .collect();
        for u in seen.body["vm_uuids"].as_array().into_iter().flatten() {
            let u = u.as_str().unwrap_or_default().to_string();
            map.insert(u.clone(), json!({"vm_uuid": u, "status": "stopped"}));
        }
        json_response(StatusCode::OK, Value::Object(map))
    })
    .await;
    let client = server.client();
    let asked = "0000a5ed-0000-4000-a000-000000000000";
    let map = client.status_many([asked]).await.unwrap();
    assert_eq!(map.keys().collect::<Vec<_>>(), [asked]);
    assert_eq!(map[asked].status, KnownStatus::Stopped);
    // Over several chunks too: each chunk keeps its own ids only.
    let ids: Vec<String> = (0..250).map(|i| format!("0000a5ed-0000-4000-a000-{i:012}")).collect();
    let map = client.status_many(&ids).await.unwrap();
    assert_eq!(map.len(), 250);
    assert!(map.keys().all(|k| k.starts_with("0000a5ed-")));
}

#[tokio::test]
async fn history_cursors_the_server_refuses_or_repeats_end_the_stream() {
    let record = json!({"correlation_id": "op_1", "operation_type": "power_on", "target_state": "running",
        "triggered_by": 1, "started_at": "2026-11-01T00:00:00Z", "status": "completed", "sub_operations": [],
        "events": [], "instance_name": "web"});
    let page = move |cursor: Option<&str>| json!({"items": [record.clone()], "next_cursor": cursor, "total": 9});
    let server = Recorder::start(move |seen| {
        let uri = seen.uri.as_str();
        if uri.starts_with("/api/v1/cvms/expiring/operations") {
            if uri.contains("cursor=c1") {
                json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"detail": [{"loc": ["query", "cursor"], "msg": "Invalid or expired cursor", "type": "value_error"}]}),
                )
            } else {
                json_response(StatusCode::OK, page(Some("c1")))
            }
        } else if uri.starts_with("/api/v1/cvms/stuck/operations") {
            json_response(StatusCode::OK, page(Some("same")))
        } else {
            StatusCode::NOT_FOUND.into_response()
        }
    })
    .await;
    let client = server.client();
    let items: Vec<_> = client.operations("expiring", &Default::default()).collect().await;
    match items.as_slice() {
        [Ok(op), Err(Error::Api(e))] => {
            assert_eq!(op.correlation_id, "op_1");
            assert_eq!(e.kind(), ApiErrorKind::Validation);
            assert_eq!(e.field_errors[0].loc, ["query", "cursor"]);
        }
        other => panic!("{other:?}"),
    }
    // The same cursor twice would loop for ever: the walk stops after it.
    let items: Vec<_> = client.operations("stuck", &Default::default()).collect().await;
    assert_eq!(items.len(), 2, "{items:?}");
    let asked: Vec<String> = server
        .seen()
        .into_iter()
        .map(|s| s.uri)
        .filter(|u| u.contains("stuck"))
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
}

#[tokio::test]
async fn api_versions_and_list_filters_the_version_refuses_fail_before_sending() {
    let server = Recorder::start(echo_batches).await;
    let build = |v: &str| {
        Client::builder()
            .base_url(&server.base)
            .api_key("k")
            .api_version(v)
            .build()
    };
    for bad in ["2026-13-01", "2025-05-31", "", "2026-01-21; x"] {
        let err = build(bad).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{bad:?}: {err:?}");
        assert!(err.to_string().contains("not one this client supports"), "{err}");
    }
    assert_eq!(build("latest").unwrap().api_version(), "2026-06-23");
    assert_eq!(build(" 2026-05-22 ").unwrap().api_version(), "2026-05-22");

    let newer = build("2026-05-22").unwrap();
    for filter in [
        phala_cloud::ListFilter::default().user_id("usr_1"),
        phala_cloud::ListFilter::default().teepod_id(7),
    ] {
        let err = newer.list_cvms(&filter).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput(m) if m.contains("removed at API version 2026-05-22")),
            "{err:?}"
        );
    }
    assert!(server.seen().is_empty(), "nothing sent: {:?}", server.seen());
}

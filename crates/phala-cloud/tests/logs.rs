//! `Client::logs`: what a CVM prints, against the simulator (hostile lines
//! come back cut and raw, for the caller to neutralise) and against a log
//! server that breaks a follow mid-stream (the reconnect resumes from the
//! last timestamp and repeats no line).
#![cfg(feature = "cvms")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use phala_cloud::{Client, KnownStatus, LogChannel, LogSource, LogsOptions};
use phala_cloud_sim::Simulator;
use serde_json::json;

#[tokio::test]
async fn hostile_lines_come_back_cut_and_raw() {
    let sim = Simulator::builder()
        .cvms(6)
        .seed(5)
        .time_scale(600.0)
        .hostile_logs(200_000)
        .start()
        .await
        .unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .build()
        .unwrap();
    let listed = client.list_cvms(&Default::default()).await.unwrap();
    let cvm = listed.iter().find(|c| c.status().as_str() == "running").unwrap();
    let id = cvm.id().unwrap();
    // The hostile lines are printed at every start.
    client.restart(&id, false).await.unwrap();
    client
        .wait_for_state(&id, KnownStatus::Running, Duration::from_secs(120))
        .await
        .unwrap();
    let options = LogsOptions::default()
        .source(LogSource::Container(None))
        .max_line_bytes(4096);
    let lines: Vec<_> = client.logs(&id, options).try_collect().await.unwrap();
    let long = lines.iter().find(|l| l.truncated).expect("the long line, cut");
    assert_eq!(long.text.len(), 4096);
    assert!(long.text.starts_with("0123456789abcdef"));
    assert!(
        lines.iter().any(|l| l.text.contains("\x1b]0;pwned")),
        "escapes come back as written: neutralising them is the caller's"
    );
    assert!(lines.iter().any(|l| l.channel == LogChannel::Stderr));
    sim.shutdown().await;
}

fn record(ts: &str, text: &str) -> String {
    let message = base64::engine::general_purpose::STANDARD.encode(format!("{ts} {text}\n"));
    format!("{}\n", json!({"channel": "stdout", "message": message}))
}

#[derive(Clone)]
struct Server {
    log_url: Arc<std::sync::OnceLock<String>>,
    connections: Arc<AtomicUsize>,
    since: Arc<std::sync::Mutex<Vec<Option<String>>>>,
}

async fn composition(State(s): State<Server>) -> Response {
    let url = s.log_url.get().unwrap().clone();
    axum::Json(json!({
        "is_online": true, "error": null, "docker_compose_file": null, "manifest_version": 2,
        "version": "0.5.3", "runner": "docker-compose", "features": [],
        "containers": [{"id": "c1", "names": ["/web"], "image": "nginx", "image_id": "sha256:1",
            "created": 1.0, "state": "running", "status": "Up", "log_endpoint": url}],
    }))
    .into_response()
}

/// The log endpoint, by hand over TCP so that a connection can break after
/// its headers and first lines: the first answer stops mid-body (no final
/// chunk, the socket closed), the next one answers from `since` on, as a
/// server does: the lines at that time again, then a new one.
async fn log_server(listener: tokio::net::TcpListener, s: Server) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&request).to_string();
        let target = head.split_whitespace().nth(1).unwrap_or_default().to_string();
        let since = target
            .split(['?', '&'])
            .find_map(|kv| kv.strip_prefix("since="))
            .map(|v| v.replace("%3A", ":"));
        s.since.lock().unwrap().push(since);
        let n = s.connections.fetch_add(1, Ordering::SeqCst);
        let body = if n == 0 {
            [
                record("2026-01-01T00:00:01Z", "one"),
                record("2026-01-01T00:00:02Z", "two"),
                record("2026-01-01T00:00:02Z", "three"),
            ]
        } else {
            [
                record("2026-01-01T00:00:02Z", "two"),
                record("2026-01-01T00:00:02Z", "three"),
                record("2026-01-01T00:00:03Z", "four"),
            ]
        }
        .concat();
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{body}\r\n",
            body.len()
        );
        if n > 0 {
            answer.push_str("0\r\n\r\n");
        }
        let _ = socket.write_all(answer.as_bytes()).await;
        let _ = socket.shutdown().await;
    }
}

#[tokio::test]
async fn a_broken_follow_resumes_without_repeating_lines() {
    let server = Server {
        log_url: Arc::default(),
        connections: Arc::default(),
        since: Arc::default(),
    };
    let logs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let log_url = format!("http://{}/log?token=t", logs.local_addr().unwrap());
    server.log_url.set(log_url).unwrap();
    tokio::spawn(log_server(logs, server.clone()));
    let app = axum::Router::new()
        .route("/api/v1/cvms/{cvm_id}/composition", axum::routing::get(composition))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder()
        .base_url(base)
        .api_key("k")
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let options = LogsOptions::default()
        .source(LogSource::Container(Some("web".into())))
        .follow(true);
    let texts: Vec<String> = client.logs("cvm_1", options).map(|l| l.unwrap().text).collect().await;
    assert_eq!(texts, ["one", "two", "three", "four"]);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    assert_eq!(
        *server.since.lock().unwrap(),
        [None, Some("2026-01-01T00:00:02Z".to_string())],
        "resumed from the last line's time"
    );
}

/// A log endpoint whose answer holds between two lines for longer than the
/// client's request timeout, then ends.
async fn slow_log_server(listener: tokio::net::TcpListener, hold: Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok((mut socket, _)) = listener.accept().await else {
        return;
    };
    let mut buf = [0u8; 2048];
    let _ = socket.read(&mut buf).await;
    let chunk = |text: String| format!("{:x}\r\n{text}\r\n", text.len());
    let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let first = chunk(record("2026-01-01T00:00:01Z", "before"));
    let _ = socket.write_all(format!("{head}{first}").as_bytes()).await;
    tokio::time::sleep(hold).await;
    let last = chunk(record("2026-01-01T00:00:09Z", "after"));
    let _ = socket.write_all(format!("{last}0\r\n\r\n").as_bytes()).await;
    let _ = socket.shutdown().await;
}

#[tokio::test]
async fn a_follow_outlives_the_request_timeout() {
    let server = Server {
        log_url: Arc::default(),
        connections: Arc::default(),
        since: Arc::default(),
    };
    let logs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    server
        .log_url
        .set(format!("http://{}/log?token=t", logs.local_addr().unwrap()))
        .unwrap();
    // The server holds for five request timeouts (and more than a second):
    // only a total timeout on the stream (the bug this guards against)
    // could end it early; with one the test fails, never by chance.
    tokio::spawn(slow_log_server(logs, Duration::from_millis(1500)));
    let app = axum::Router::new()
        .route("/api/v1/cvms/{cvm_id}/composition", axum::routing::get(composition))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder()
        .base_url(base)
        .api_key("k")
        .request_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let options = LogsOptions::default().source(LogSource::Container(None)).follow(true);
    let texts: Vec<String> = client.logs("cvm_1", options).map(|l| l.unwrap().text).collect().await;
    assert_eq!(texts, ["before", "after"]);
}

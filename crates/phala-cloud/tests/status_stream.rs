//! `Client::statuses`: chunks in the order asked, whatever order the server
//! answers them in, and every distinct uuid exactly once: answered, unknown
//! to the server, or in a failed chunk with its error.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use futures::StreamExt;
use phala_cloud::{Client, Error, RetryPolicy, StatusChunk, StatusChunkError};
use serde_json::{Value, json};

/// Answers batch status for the uuids it knows (`n…`, or VM UUIDs starting
/// `aaaa`; the others are unknown),
/// refuses a chunk holding a `bad…` uuid with a 400, and answers earlier
/// uuids later (a sleep that shrinks with the number in the uuid), so the
/// answers arrive out of order.
async fn status_server() -> String {
    let app = axum::Router::new().fallback(|Json(body): Json<Value>| async move {
        let asked: Vec<String> = body["vm_uuids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        if asked.iter().any(|u| u.starts_with("bad")) {
            return (StatusCode::BAD_REQUEST, Json(json!({"detail": "refused"}))).into_response();
        }
        let first: u64 = asked[0][1..].parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(100u64.saturating_sub(first))).await;
        let known: serde_json::Map<String, Value> = asked
            .iter()
            .filter(|u| u.starts_with('n') || u.starts_with("aaaa"))
            .map(|u| (u.clone(), json!({"vm_uuid": u, "status": "running", "uptime": "1m"})))
            .collect();
        Json(Value::Object(known)).into_response()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn client(base: &str) -> Client {
    Client::builder()
        .base_url(base)
        .api_key("k")
        .status_chunk_size(10)
        .concurrency(4)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

async fn collect(client: &Client, uuids: &[String]) -> Vec<Result<StatusChunk, StatusChunkError>> {
    client.statuses(uuids).collect().await
}

#[tokio::test]
async fn chunks_come_in_the_order_asked_and_every_uuid_once() {
    let base = status_server().await;
    let client = client(&base);
    // 95 uuids: known and unknown interleaved, one refused chunk, duplicates.
    let mut uuids: Vec<String> = (0..95)
        .map(|i| match i {
            42 => format!("bad{i:03}"),
            i if i % 7 == 0 => format!("u{i:03}"),
            i => format!("n{i:03}"),
        })
        .collect();
    uuids.extend(["n001".to_string(), "u007".to_string()]);
    let chunks = collect(&client, &uuids).await;
    assert_eq!(chunks.len(), 10, "ten chunks of at most ten");

    let mut seen: BTreeMap<String, &str> = BTreeMap::new();
    for (at, chunk) in chunks.iter().enumerate() {
        // The chunk holds exactly the next ten distinct uuids asked for.
        let expected: Vec<&String> = uuids[..95].iter().skip(at * 10).take(10).collect();
        let mut got: Vec<&String> = match chunk {
            Ok(c) => {
                assert!(c.statuses.windows(2).all(|w| w[0].vm_uuid < w[1].vm_uuid), "sorted");
                for s in &c.statuses {
                    assert_eq!(s.status, "running");
                    assert!(s.vm_uuid.starts_with('n'));
                }
                assert!(c.unknown.iter().all(|u| u.starts_with('u')), "{:?}", c.unknown);
                c.statuses.iter().map(|s| &s.vm_uuid).chain(&c.unknown).collect()
            }
            Err(failed) => {
                assert_eq!(at, 4, "only the chunk holding bad042 fails");
                assert_eq!(failed.error.status(), Some(400));
                failed.vm_uuids.iter().collect()
            }
        };
        got.sort();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(got, expected_sorted, "chunk {at}");
        for id in expected {
            let how = match chunk {
                Ok(c) if c.unknown.contains(id) => "unknown",
                Ok(_) => "answered",
                Err(_) => "failed",
            };
            assert!(seen.insert(id.clone(), how).is_none(), "{id} twice");
        }
    }
    assert_eq!(seen.len(), 95);
    assert_eq!(seen.values().filter(|h| **h == "failed").count(), 10);
    assert_eq!(seen["u007"], "unknown");
    assert_eq!(seen["n001"], "answered");
}

#[tokio::test]
async fn ids_no_request_can_carry_are_reported_first_unsent() {
    let base = status_server().await;
    let client = client(&base);
    let uuids: Vec<String> = ["n001", "", "u002", "  ", "n003"].map(String::from).to_vec();
    let chunks = collect(&client, &uuids).await;
    let [Err(refused), Ok(answered)] = chunks.as_slice() else {
        panic!("expected the refused ids, then one answered chunk: {chunks:?}")
    };
    assert_eq!(refused.vm_uuids, ["", "  "]);
    assert!(matches!(refused.error, Error::InvalidInput(_)), "{:?}", refused.error);
    assert!(
        refused
            .to_string()
            .starts_with("status of 2 vm_uuids failed: invalid input")
    );
    // Each refused id named with why (no position: they are listed in `vm_uuids`).
    assert!(
        refused
            .to_string()
            .ends_with(r#"not sent: "": empty id, "  ": empty id"#),
        "{refused}"
    );
    let answered_ids: Vec<&str> = answered.statuses.iter().map(|s| s.vm_uuid.as_str()).collect();
    assert_eq!(answered_ids, ["n001", "n003"]);
    assert_eq!(answered.unknown, ["u002"]);

    // Nothing asked, nothing sent, nothing yielded.
    assert!(collect(&client, &[]).await.is_empty());
}

#[tokio::test]
async fn status_many_collects_the_stream_and_fails_with_a_failed_chunk() {
    let base = status_server().await;
    let client = client(&base);
    // VM UUIDs (status_many resolves other references through a listing).
    let uuid = |prefix: &str, i: usize| format!("{prefix}{i:04}-0000-4000-a000-000000000000");
    let uuids: Vec<String> = (0..35)
        .map(|i| uuid(if i % 5 == 0 { "eeee" } else { "aaaa" }, i))
        .collect();
    let map = client.status_many(&uuids).await.unwrap();
    assert_eq!(map.len(), 28);
    assert!(map.keys().all(|k| k.starts_with("aaaa")));
    assert!(map.keys().zip(map.keys().skip(1)).all(|(a, b)| a < b));
    assert_eq!(map[&uuid("aaaa", 1)].uptime.as_deref(), Some("1m"));

    let mut with_bad = uuids.clone();
    with_bad.push(uuid("bad0", 999));
    let err = client.status_many(&with_bad).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
}

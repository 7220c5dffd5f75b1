//! Canned answers (httpmock): retries, caps, decoding of real-world payloads.

use std::time::Duration;

use httpmock::prelude::*;
use phala_cloud::{Client, Error, KnownStatus, RetryPolicy, Status};
use serde_json::json;

fn client(server: &MockServer) -> Client {
    Client::builder()
        .base_url(server.base_url())
        .api_key("phak_SECRET_canary_42")
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_base_delay(Duration::from_millis(1))
                .with_max_delay(Duration::from_millis(5)),
        )
        .build()
        .unwrap()
}

#[tokio::test]
async fn reads_retry_503_and_stop_retries_only_when_nothing_was_applied() {
    let server = MockServer::start_async().await;
    let status = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/status/batch")
                .header("x-api-key", "phak_SECRET_canary_42")
                .header("x-phala-version", phala_cloud::DEFAULT_API_VERSION);
            then.status(503).header("retry-after", "0").body("busy");
        })
        .await;
    let c = client(&server);
    let e = c
        .status_many(["6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f"])
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    status.assert_calls_async(3).await;

    let stop500 = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/cvms/batch-stop")
                .json_body(json!({"cvm_ids": ["cvm_a"]}));
            then.status(500).json_body(json!({"detail": "boom"}));
        })
        .await;
    let report = c.stop_many(["cvm_a"]).await;
    assert_eq!(report.failed.len(), 1);
    // The failure is the API error itself, as a single call returns it.
    assert_eq!(report.failed[0].error.status(), Some(500));
    assert_eq!(report.failed[0].error.api().map(|a| a.message.as_str()), Some("boom"));
    stop500.assert_calls_async(1).await;

    let stop429 = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/cvms/batch-stop")
                .json_body(json!({"cvm_ids": ["cvm_b"]}));
            then.status(429)
                .header("retry-after", "0")
                .json_body(json!({"detail": {"error_code": "ERR-00-429", "message": "slow down"}}));
        })
        .await;
    let report = c.stop_many(["cvm_b"]).await;
    assert!(report.is_consistent());
    stop429.assert_calls_async(3).await;
}

#[tokio::test]
async fn stop_many_splits_into_chunks_of_fifty() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/cvms/batch-stop");
            then.status(200)
                .json_body(json!({"total": 50, "stopped": 50, "skipped": 0, "errors": []}));
        })
        .await;
    let ids: Vec<String> = (0..150).map(|i| format!("cvm_{i}")).collect();
    let report = client(&server).stop_many(&ids).await;
    assert_eq!((report.total, report.stopped, report.requests), (150, 150, 3));
    mock.assert_calls_async(3).await;
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused_and_html_is_a_decode_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/cvms/paginated");
            then.status(200).body("x".repeat(2 * 1024 * 1024));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/apps/abc/cvms");
            then.status(200)
                .header("content-type", "text/html")
                .body("<html><body>maintenance</body></html>");
        })
        .await;
    let capped = Client::builder()
        .base_url(server.base_url())
        .api_key("k")
        .max_body_bytes(1024 * 1024)
        .build()
        .unwrap();
    assert!(matches!(
        capped.list_cvms(&Default::default()).await.unwrap_err(),
        Error::BodyTooLarge { limit: 1048576 }
    ));
    match capped.app_cvms("abc").await.unwrap_err() {
        Error::Decode { status, snippet, .. } => assert_eq!(
            (status, snippet.as_str()),
            (200, "<html><body>maintenance</body></html>")
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn real_world_status_payloads_decode() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/status/batch");
            then.status(200).json_body(json!({"6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f": {
                "vm_uuid": "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f", "status": "maintenance", "in_progress": null, "events": null, "uptime": null,
                "resource_usage": {"cpu_percent": null, "memory_used_bytes": 1, "memory_total_bytes": null, "egress_bytes": 3},
                "operation": {"type": "restart", "phase": "booting", "started_at": null, "correlation_id": "x"},
                "a_field_from_2027": {"nested": true}
            }}));
        })
        .await;
    let map = client(&server)
        .status_many(["6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f"])
        .await
        .unwrap();
    let s = &map["6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5f"];
    assert_eq!(s.status, Status::Known(KnownStatus::Maintenance));
    assert!(!s.is_in_progress() && s.events().is_empty() && s.uptime.is_none());
    assert_eq!(s.current_operation().unwrap().type_.as_deref(), Some("restart"));
    // Unknown fields are kept whole, in a map that costs nothing while empty.
    let extra: &std::collections::BTreeMap<String, serde_json::Value> = &s.extra;
    assert_eq!(extra["a_field_from_2027"], json!({"nested": true}));
    assert!(s.resource_usage.as_ref().unwrap().extra.is_empty());
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let e = Client::builder()
        .base_url("http://cloud-api.phala.com")
        .api_key("k")
        .build()
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)));
    let e = Client::builder()
        .base_url("cloud-api.phala.com")
        .api_key("k")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("not a URL"));
}

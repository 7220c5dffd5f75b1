//! The other paged listings as streams, against servers that page them.
#![cfg(feature = "webhooks")]

use futures::TryStreamExt;
use httpmock::prelude::*;
use phala_cloud::Client;
use serde_json::{Value, json};

fn delivery(n: u64) -> Value {
    json!({
        "snowflake_id": n, "event_id": format!("evt_{n}"), "event_type": "cvm.status_changed",
        "status": "delivered", "attempts": 1, "request_url": "https://example.com/hook",
        "response_status": 204, "error_message": "", "created_at": "2026-06-23T12:00:00Z"
    })
}

/// Offsets 0 and 100 answer full pages, 200 a short one: the stream asks
/// for exactly those three pages and yields every delivery once, in order.
#[tokio::test]
async fn webhook_deliveries_are_read_page_after_page() {
    let server = MockServer::start_async().await;
    let path = "/api/v1/workspace/webhooks/wh_1/deliveries";
    let mut pages = Vec::new();
    for (offset, count) in [(0u64, 100u64), (100, 100), (200, 7)] {
        let items: Vec<Value> = (offset..offset + count).map(delivery).collect();
        pages.push(server.mock(|when, then| {
            when.method(GET)
                .path(path)
                .query_param("limit", "100")
                .query_param("offset", offset.to_string());
            then.status(200).json_body(Value::Array(items));
        }));
    }
    let client = Client::builder()
        .base_url(server.base_url())
        .api_key("phak_test")
        .build()
        .unwrap();
    let deliveries: Vec<_> = client.webhook_deliveries("wh_1").try_collect().await.unwrap();
    assert_eq!(deliveries.len(), 207);
    assert!(deliveries.iter().enumerate().all(|(i, d)| d.snowflake_id == i as i64));
    for page in &pages {
        page.assert_calls(1);
    }
}

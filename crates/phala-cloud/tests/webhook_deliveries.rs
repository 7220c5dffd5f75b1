//! The simulator's webhook deliveries pass our `WebhookVerifier`: a
//! receiver on loopback registers, a CVM is stopped and started, and every
//! signed delivery about it verifies and parses; the same delivery with its
//! body tampered with is refused. (Here rather than in phala-cloud-sim's
//! tests: a dev-dependency of the simulator on this crate would make the
//! two crates' dev-dependencies a cycle, which publishing cannot order.)
//! Waits are on the receiver's channel, with an overall timeout as a hang
//! guard only.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use phala_cloud::{WebhookError, WebhookVerifier};
use phala_cloud_sim::Simulator;
use serde_json::{Value, json};
use tokio::sync::mpsc;

#[tokio::test]
async fn every_delivery_of_a_stop_and_start_verifies_and_a_tampered_one_does_not() {
    phala_cloud_api::install_crypto_provider();
    let sim = Simulator::builder()
        .cvms(20)
        .seed(11)
        .time_scale(500.0)
        .start()
        .await
        .unwrap();

    async fn hook(
        State(tx): State<mpsc::UnboundedSender<(HeaderMap, Bytes)>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let _ = tx.send((headers, body));
        StatusCode::NO_CONTENT
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1{path}", sim.base_url());
    let created: Value = http
        .post(api("/workspace/webhooks"))
        .header("X-API-Key", sim.api_key())
        .json(&json!({"url": url, "events": ["cvm.status.changed", "cvm.stopped", "cvm.started"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verifier = WebhookVerifier::new(created["secret"].as_str().unwrap());
    let cvm = sim
        .cvms()
        .into_iter()
        .find(|c| c.in_main_workspace && c.status == "running" && !c.in_progress)
        .unwrap()
        .id;

    let mut seen: Vec<(String, String)> = Vec::new();
    let mut tampered_checked = false;
    // Each phase's deliveries, in any order (each is its own task).
    let stop = [
        ("cvm.status.changed", "stopping"),
        ("cvm.status.changed", "stopped"),
        ("cvm.stopped", "stopped"),
    ];
    let start = [
        ("cvm.status.changed", "starting"),
        ("cvm.status.changed", "running"),
        ("cvm.started", "running"),
    ];
    let has = |seen: &[(String, String)], (e, s): (&str, &str)| seen.iter().any(|(a, b)| a == e && b == s);
    for (action, expected) in [("stop", stop), ("start", start)] {
        let answer = http
            .post(api(&format!("/cvms/{cvm}/{action}")))
            .header("X-API-Key", sim.api_key())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        while !expected.iter().all(|&x| has(&seen, x)) {
            let (headers, body) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .expect("no delivery within the hang guard")
                .unwrap();
            let event = verifier
                .parse_request(&headers, &body)
                .expect("a delivery that verifies");
            if event.data["cvm_id"] != cvm.as_str() {
                continue;
            }
            assert_eq!(event.version, "1");
            assert!(event.workspace.contains_key("id"), "{event:?}");
            if !tampered_checked {
                let mut forged = body.to_vec();
                let at = forged.iter().position(|&b| b == b'1').unwrap();
                forged[at] = b'2';
                assert_eq!(
                    verifier.parse_request(&headers, &forged),
                    Err(WebhookError::SignatureMismatch)
                );
                assert_eq!(
                    WebhookVerifier::new("whsec_someone_else").parse_request(&headers, &body),
                    Err(WebhookError::SignatureMismatch)
                );
                tampered_checked = true;
            }
            let status = event.data["status"].as_str().unwrap().to_string();
            seen.push((event.event, status));
        }
    }
    assert!(tampered_checked);
    sim.shutdown().await;
}

/// The facade's typed stream over the deliveries (feature `webhooks`)
/// decodes what the simulator records: a test event to a receiver that
/// answers 204, read back succeeded with its status code.
#[cfg(feature = "webhooks")]
#[tokio::test]
async fn the_facade_reads_the_simulators_deliveries() {
    use futures::TryStreamExt;

    phala_cloud_api::install_crypto_provider();
    let sim = Simulator::builder()
        .cvms(4)
        .seed(12)
        .time_scale(500.0)
        .start()
        .await
        .unwrap();
    async fn hook(State(tx): State<mpsc::UnboundedSender<Bytes>>, body: Bytes) -> StatusCode {
        let _ = tx.send(body);
        StatusCode::NO_CONTENT
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/api/v1{path}", sim.base_url());
    let created: Value = http
        .post(api("/workspace/webhooks"))
        .header("X-API-Key", sim.api_key())
        .json(&json!({"url": url, "events": ["cvm.stopped"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let queued: Value = http
        .post(api(&format!("/workspace/webhooks/{id}/test")))
        .header("X-API-Key", sim.api_key())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("no delivery within the hang guard")
        .unwrap();
    let client = phala_cloud::Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .build()
        .unwrap();
    // The record follows the receiver's answer: read until it is in.
    let delivery = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let all: Vec<_> = client.webhook_deliveries(id).try_collect().await.unwrap();
            if let Some(d) = all.into_iter().find(|d| d.status != "pending") {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the delivery was never recorded as done");
    assert_eq!(delivery.event_id, queued["event_id"].as_str().unwrap());
    assert_eq!(
        (delivery.status.as_str(), delivery.response_status, delivery.attempts),
        ("success", 204, 1)
    );
    sim.shutdown().await;
}

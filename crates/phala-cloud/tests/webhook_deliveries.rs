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

//! Webhooks for real: CRUD under `/api/v1/workspace/webhooks`, and signed
//! deliveries of CVM state changes to a receiver on loopback, retried,
//! recorded and resent. Every wait is on the receiver's channel (or on a
//! recorded state), with a generous overall timeout only as a hang guard.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use phala_cloud_sim::{SimHandle, Simulator};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

const GUARD: Duration = Duration::from_secs(30);

/// A delivery as the receiver saw it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).unwrap().to_str().unwrap()
    }
}

/// A receiver on loopback answering the statuses of `script` in turn (then
/// 200); each request goes to the channel before it is answered.
async fn receiver(script: &[u16]) -> (String, mpsc::UnboundedReceiver<Received>) {
    type St = (Arc<Mutex<VecDeque<u16>>>, mpsc::UnboundedSender<Received>);
    async fn hook(State((script, tx)): State<St>, headers: HeaderMap, body: Bytes) -> StatusCode {
        let _ = tx.send(Received { headers, body });
        let code = script.lock().unwrap().pop_front().unwrap_or(200);
        StatusCode::from_u16(code).unwrap()
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let state: St = (Arc::new(Mutex::new(script.iter().copied().collect())), tx);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(GUARD, rx.recv())
        .await
        .expect("no delivery within the hang guard")
        .expect("receiver gone")
}

/// The next delivery about CVM `cvm_id` (the fleet's other CVMs change too).
async fn next_for(rx: &mut mpsc::UnboundedReceiver<Received>, cvm_id: &str) -> Received {
    loop {
        let got = next(rx).await;
        if got.json()["data"]["cvm_id"] == cvm_id {
            return got;
        }
    }
}

/// One client for every call (building one costs more than a request);
/// no idle connection is kept, as each test runs its own runtime.
fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        phala_cloud_api::install_crypto_provider();
        reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
    })
}

async fn call(sim: &SimHandle, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = http()
        .request(method, format!("{}/api/v1{path}", sim.base_url()))
        .header("X-API-Key", sim.api_key())
        .header("X-Phala-Version", "2026-01-21");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn verify(secret: &str, got: &Received) {
    let ts = got.header("x-webhook-timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(&got.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(got.header("x-webhook-signature"), expected);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts.parse::<u64>().unwrap().abs_diff(now) < 300, "{ts}");
}

/// A running, idle CVM the main key sees.
fn running(sim: &SimHandle) -> String {
    sim.cvms()
        .into_iter()
        .find(|c| c.in_main_workspace && c.status == "running" && !c.in_progress)
        .unwrap()
        .id
}

/// Reads the deliveries until `done` holds of them (the last attempt's
/// record follows the receiver's answer).
async fn deliveries_until(sim: &SimHandle, hook: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let path = format!("/workspace/webhooks/{hook}/deliveries");
    tokio::time::timeout(GUARD, async {
        loop {
            let (status, list) = call(sim, Method::GET, &path, None).await;
            assert_eq!(status, 200, "{list}");
            let list = list.as_array().unwrap().clone();
            if done(&list) {
                return list;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("deliveries never reached the state awaited")
}

#[tokio::test]
async fn webhooks_are_created_read_updated_and_deleted() {
    let sim = Simulator::builder().cvms(10).seed(3).start().await.unwrap();
    let (status, none) = call(&sim, Method::GET, "/workspace/webhooks", None).await;
    assert_eq!((status, none), (200, json!([])));
    let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["cvm.stopped", "cvm.stopped"], "name": "ops"});
    let (status, created) = call(&sim, Method::POST, "/workspace/webhooks", Some(body.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["events"], json!(["cvm.stopped"]));
    assert_eq!(created["enabled"], true);
    // Same seed, same id and secret.
    let again = Simulator::builder().cvms(10).seed(3).start().await.unwrap();
    let (_, twin) = call(&again, Method::POST, "/workspace/webhooks", Some(body)).await;
    assert_eq!((&twin["id"], &twin["secret"]), (&created["id"], &created["secret"]));
    // Read back: the secret only on create and reveal.
    let path = format!("/workspace/webhooks/{id}");
    let (status, read) = call(&sim, Method::GET, &path, None).await;
    assert_eq!((status, &read["secret"]), (200, &Value::Null), "{read}");
    let (_, list) = call(&sim, Method::GET, "/workspace/webhooks", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, revealed) = call(&sim, Method::POST, &format!("{path}/reveal-secret"), None).await;
    assert_eq!(revealed["secret"], secret);
    let (_, rotated) = call(&sim, Method::POST, &format!("{path}/rotate-secret"), None).await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret, "{rotated}");
    let (_, revealed) = call(&sim, Method::POST, &format!("{path}/reveal-secret"), None).await;
    assert_eq!(revealed["secret"], new_secret);
    // Update: only what is given changes.
    let (status, updated) = call(
        &sim,
        Method::PUT,
        &path,
        Some(json!({"enabled": false, "events": ["*"], "url": null})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            &updated["enabled"],
            &updated["events"],
            &updated["url"],
            &updated["name"]
        ),
        (
            &json!(false),
            &json!(["*"]),
            &json!("http://127.0.0.1:9/hook"),
            &json!("ops")
        )
    );
    // A caller-chosen secret is kept.
    let (_, own) = call(
        &sim,
        Method::POST,
        "/workspace/webhooks",
        Some(json!({"url": "https://127.0.0.1:9/h", "events": ["*"], "secret": "whsec_mine"})),
    )
    .await;
    assert_eq!(own["secret"], "whsec_mine");
    // 422s, FastAPI style.
    for bad in [
        json!({"events": ["cvm.stopped"]}),
        json!({"url": "http://x/h"}),
        json!({"url": 5, "events": ["cvm.stopped"]}),
        json!({"url": "ftp://x/h", "events": ["cvm.stopped"]}),
        json!({"url": "not a url", "events": ["cvm.stopped"]}),
        json!({"url": "http://x/h", "events": []}),
        json!({"url": "http://x/h", "events": ["cvm.exploded"]}),
        json!({"url": "http://x/h", "events": [1]}),
        json!({"url": "http://x/h", "events": "cvm.stopped"}),
        json!({"url": "http://x/h", "events": ["*"], "name": "n".repeat(101)}),
        json!({"url": "http://x/h", "events": ["*"], "secret": 7}),
        json!([1, 2]),
    ] {
        let (status, err) = call(&sim, Method::POST, "/workspace/webhooks", Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad}: {err}");
        assert!(err["detail"][0]["loc"].is_array(), "{err}");
    }
    let (status, _) = call(&sim, Method::PUT, &path, Some(json!({"enabled": "yes"}))).await;
    assert_eq!(status, 422);
    for q in ["?limit=-1", "?limit=x", "?offset=-1", "?offset=1.5"] {
        let (status, _) = call(&sim, Method::GET, &format!("{path}/deliveries{q}"), None).await;
        assert_eq!(status, 422, "{q}");
    }
    // Not found: unknown ids, an unknown delivery, another workspace's webhook.
    for (method, p) in [
        (Method::GET, "/workspace/webhooks/wh_nope".to_string()),
        (Method::PUT, "/workspace/webhooks/wh_nope".to_string()),
        (Method::DELETE, "/workspace/webhooks/wh_nope".to_string()),
        (Method::POST, "/workspace/webhooks/wh_nope/test".to_string()),
        (Method::GET, "/workspace/webhooks/wh_nope/stats".to_string()),
        (Method::GET, "/workspace/webhooks/wh_nope/deliveries".to_string()),
        (Method::POST, format!("{path}/deliveries/evt_nope/resend")),
    ] {
        let body = (method == Method::PUT).then(|| json!({}));
        let (status, err) = call(&sim, method.clone(), &p, body).await;
        assert_eq!(status, 404, "{method} {p}: {err}");
        assert!(
            err["detail"]["error_code"].as_str().unwrap().starts_with("ERR-08-"),
            "{err}"
        );
    }
    let partner = http()
        .get(format!("{}/api/v1{path}", sim.base_url()))
        .header("X-API-Key", sim.partner_key())
        .send()
        .await
        .unwrap();
    assert_eq!(partner.status(), 404);
    let (status, stats) = call(&sim, Method::GET, &format!("{path}/stats"), None).await;
    assert_eq!(status, 200);
    assert_eq!((&stats["total"], &stats["last_delivery_at"]), (&json!(0), &Value::Null));
    let (status, _) = call(&sim, Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&sim, Method::GET, &path, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_stop_is_delivered_signed_retried_after_a_500_recorded_and_resent() {
    let sim = Simulator::builder()
        .cvms(20)
        .seed(5)
        .time_scale(200.0)
        .start()
        .await
        .unwrap();
    // The first attempt gets a 500, the retry a 200, the resend a 200.
    let (url, mut rx) = receiver(&[500]).await;
    let (_, hook) = call(
        &sim,
        Method::POST,
        "/workspace/webhooks",
        Some(json!({"url": url, "events": ["cvm.stopped"]})),
    )
    .await;
    let (id, secret) = (hook["id"].as_str().unwrap(), hook["secret"].as_str().unwrap());
    let cvm = running(&sim);
    let (status, _) = call(&sim, Method::POST, &format!("/cvms/{cvm}/stop"), None).await;
    assert_eq!(status, 200);

    let first = next_for(&mut rx, &cvm).await;
    verify(secret, &first);
    let event = first.json();
    assert_eq!(event["event"], "cvm.stopped");
    assert_eq!(event["version"], "1");
    assert_eq!(
        (&event["data"]["status"], &event["data"]["previous_status"]),
        (&json!("stopped"), &json!("stopping"))
    );
    assert_eq!(event["workspace"]["name"], "main-team");
    assert_eq!(first.header("content-type"), "application/json");
    // The retry: the same body (same event id), signed again.
    let retry = next_for(&mut rx, &cvm).await;
    verify(secret, &retry);
    assert_eq!(retry.body, first.body);

    let list = deliveries_until(&sim, id, |l| l.first().is_some_and(|d| d["status"] != "pending")).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let d = &list[0];
    assert_eq!(
        (
            &d["event_id"],
            &d["event_type"],
            &d["status"],
            &d["attempts"],
            &d["response_status"]
        ),
        (
            &event["id"],
            &json!("cvm.stopped"),
            &json!("success"),
            &json!(2),
            &json!(200)
        ),
        "{d}"
    );
    assert_eq!((&d["request_url"], &d["original_event_id"]), (&json!(url), &json!("")));
    assert!(d["delivered_at"].is_string(), "{d}");

    // Redeliver: the same event under a new id that points back.
    let resend = format!(
        "/workspace/webhooks/{id}/deliveries/{}/resend",
        event["id"].as_str().unwrap()
    );
    let (status, queued) = call(&sim, Method::POST, &resend, None).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["original_event_id"], event["id"]);
    let again = next_for(&mut rx, &cvm).await;
    verify(secret, &again);
    let resent = again.json();
    assert_eq!(resent["id"], queued["event_id"]);
    assert_eq!((&resent["event"], &resent["data"]), (&event["event"], &event["data"]));
    let list = deliveries_until(&sim, id, |l| l.len() == 2 && l[0]["status"] == "success").await;
    assert_eq!(list[0]["event_id"], queued["event_id"]);
    assert_eq!(list[0]["attempts"], 1);

    let (_, stats) = call(&sim, Method::GET, &format!("/workspace/webhooks/{id}/stats"), None).await;
    assert_eq!(
        (
            &stats["total"],
            &stats["success_count"],
            &stats["failed_count"],
            &stats["success_rate"]
        ),
        (&json!(2), &json!(2), &json!(0), &json!(1.0)),
        "{stats}"
    );
    assert!(stats["last_delivery_at"].is_string(), "{stats}");
    // Paged newest first.
    let (_, page) = call(
        &sim,
        Method::GET,
        &format!("/workspace/webhooks/{id}/deliveries?limit=1&offset=1"),
        None,
    )
    .await;
    assert_eq!(page[0]["event_id"], event["id"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn every_state_change_of_a_stop_and_start_is_delivered_and_a_dead_receiver_fails() {
    let sim = Simulator::builder()
        .cvms(20)
        .seed(8)
        .time_scale(500.0)
        .start()
        .await
        .unwrap();
    let (url, mut rx) = receiver(&[]).await;
    let (_, hook) = call(
        &sim,
        Method::POST,
        "/workspace/webhooks",
        Some(json!({"url": url, "events": ["*"]})),
    )
    .await;
    let secret = hook["secret"].as_str().unwrap().to_string();
    let cvm = running(&sim);
    // Each phase's deliveries arrive in any order (each is its own task).
    let mut seen: Vec<(String, String)> = Vec::new();
    let has = |seen: &[(String, String)], (e, s): (&str, &str)| seen.iter().any(|(a, b)| a == e && b == s);
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
    for (action, expected) in [("stop", stop), ("start", start)] {
        let (status, _) = call(&sim, Method::POST, &format!("/cvms/{cvm}/{action}"), None).await;
        assert_eq!(status, 200);
        while !expected.iter().all(|&x| has(&seen, x)) {
            let got = next_for(&mut rx, &cvm).await;
            verify(&secret, &got);
            let e = got.json();
            seen.push((
                e["event"].as_str().unwrap().to_string(),
                e["data"]["status"].as_str().unwrap().to_string(),
            ));
        }
    }
    // Deleting the CVM is a change too.
    let (status, _) = call(&sim, Method::DELETE, &format!("/cvms/{cvm}"), None).await;
    assert_eq!(status, 204);
    loop {
        let e = next_for(&mut rx, &cvm).await.json();
        if e["event"] == "cvm.deleted" {
            assert_eq!(e["data"]["status"], "deleted");
            break;
        }
    }
    // The test event, whatever the subscription.
    let id = hook["id"].as_str().unwrap();
    let (status, queued) = call(&sim, Method::POST, &format!("/workspace/webhooks/{id}/test"), None).await;
    assert_eq!(
        (status, &queued["event_type"]),
        (200, &json!("webhook.test")),
        "{queued}"
    );
    loop {
        let got = next(&mut rx).await;
        if got.json()["id"] == queued["event_id"] {
            verify(&secret, &got);
            break;
        }
    }

    // A receiver that is not there: every attempt fails, then the delivery does.
    let (_, dead) = call(
        &sim,
        Method::POST,
        "/workspace/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/nobody", "events": ["cvm.stopped"]})),
    )
    .await;
    let dead = dead["id"].as_str().unwrap();
    let other = running(&sim);
    call(&sim, Method::POST, &format!("/cvms/{other}/stop"), None).await;
    let list = deliveries_until(&sim, dead, |l| l.iter().any(|d| d["status"] == "failed")).await;
    let failed = list.iter().find(|d| d["status"] == "failed").unwrap();
    assert_eq!(
        (&failed["attempts"], &failed["response_status"]),
        (&json!(4), &json!(0)),
        "{failed}"
    );
    assert!(!failed["error_message"].as_str().unwrap().is_empty(), "{failed}");
    let (_, stats) = call(&sim, Method::GET, &format!("/workspace/webhooks/{dead}/stats"), None).await;
    assert!(stats["failed_count"].as_u64().unwrap() >= 1, "{stats}");
    sim.shutdown().await;
}

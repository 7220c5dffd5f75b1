//! The simulator over real HTTP: every rule of the API as we know it, and
//! every response checked against the bundled document's types.

use std::time::Duration;

use phala_cloud_api::types;
use phala_cloud_sim::{Faults, SimHandle, Simulator};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

async fn sim(cvms: usize) -> SimHandle {
    Simulator::builder()
        .cvms(cvms)
        .apps(10)
        .seed(42)
        .time_scale(200.0)
        .start()
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    phala_cloud_api::install_crypto_provider();
    reqwest::Client::new()
}

async fn get(
    sim: &SimHandle,
    path: &str,
    key: &str,
    version: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = http().get(format!("{}{path}", sim.base_url())).header("X-API-Key", key);
    if let Some(v) = version {
        req = req.header("X-Phala-Version", v);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

async fn post(sim: &SimHandle, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let resp = http()
        .post(format!("{}{path}", sim.base_url()))
        .header("X-API-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// Every non-null field of `raw` survives a round trip through the typed
/// model: the simulator sends nothing the document does not describe.
fn strict<T: DeserializeOwned + serde::Serialize>(raw: &Value) -> T {
    let typed: T = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("does not decode: {e}\n{raw}"));
    let back = serde_json::to_value(&typed).unwrap();
    fn covered(raw: &Value, back: &Value, at: &str) {
        match (raw, back) {
            (Value::Object(r), Value::Object(b)) => {
                let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(Vec::is_empty);
                for (k, v) in r.iter().filter(|(_, v)| !empty(v)) {
                    let Some(bv) = b.get(k) else {
                        panic!("{at}/{k} is not in the document")
                    };
                    covered(v, bv, &format!("{at}/{k}"));
                }
            }
            (Value::Array(r), Value::Array(b)) => r.iter().zip(b).for_each(|(r, b)| covered(r, b, at)),
            _ => {}
        }
    }
    covered(raw, &back, "");
    typed
}

fn main_cvms(sim: &SimHandle) -> Vec<phala_cloud_sim::CvmInfo> {
    sim.cvms().into_iter().filter(|c| c.in_main_workspace).collect()
}

#[tokio::test]
async fn every_endpoint_answers_bodies_valid_against_the_document() {
    let sim = sim(40).await;
    let key = sim.api_key();
    let cvms = main_cvms(&sim);
    let (s, h, hosted) = get(&sim, "/api/v1/cvms", key, Some("2025-10-28")).await;
    assert_eq!(s, 200);
    assert!(h.get("x-request-id").is_some());
    let hosted: Vec<types::HostedCvm> = strict(&hosted);
    assert_eq!(hosted.len(), cvms.len());
    let (_, _, info) = get(&sim, "/api/v1/cvms", key, Some("2026-01-21")).await;
    let info: Vec<types::CvmInfo> = strict(&info);
    assert!(info.iter().all(|c| c.id.to_text().starts_with("cvm_")));
    let (_, _, app) = get(
        &sim,
        &format!("/api/v1/apps/{}/cvms", cvms[0].app_id),
        key,
        Some("LATEST"),
    )
    .await;
    let app: Vec<types::CvmInfo> = strict(&app);
    assert!(app.len() >= 2, "apps have replicas");
    let uuids: Vec<&str> = cvms.iter().map(|c| c.vm_uuid.as_str()).collect();
    let (s, status) = post(&sim, "/api/v1/status/batch", key, json!({"vm_uuids": uuids})).await;
    assert_eq!(s, 200);
    let status: std::collections::HashMap<String, types::CvmStatus> = strict(&status);
    assert_eq!(status.len(), cvms.len());
    let (_, _, state) = get(&sim, &format!("/api/v1/cvms/{}/state", cvms[0].id), key, None).await;
    assert_eq!(state["id"], cvms[0].id.as_str());
    assert!(state["status"].is_string() && state["derived_status"].is_string());
    let (s, stop) = post(&sim, "/api/v1/cvms/batch-stop", key, json!({"cvm_ids": [cvms[0].id]})).await;
    assert_eq!(s, 200);
    let _: types::BatchStopResponse = strict(&stop);
    let (s, _, err) = get(&sim, "/api/v1/cvms/x/state?interval=99", key, None).await;
    assert_eq!(s, 422);
    // FastAPI (pydantic 2) also sends `input`, which the document omits: decode only.
    let err: types::HttpValidationError = serde_json::from_value(err).unwrap();
    assert_eq!(err.detail.as_ref().unwrap()[0].type_, "less_than_equal");
}

#[tokio::test]
async fn auth_rules() {
    let sim = sim(20).await;
    let resp = http()
        .get(format!("{}/api/v1/cvms", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (s, _, body) = get(&sim, "/api/v1/cvms", "phak_wrong", None).await;
    assert_eq!(s, 401);
    assert_eq!(body["detail"], "Invalid API key");
    let bearer = http()
        .get(format!("{}/api/v1/cvms", sim.base_url()))
        .bearer_auth(sim.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    // Filters are admin-only.
    let (s, _, body) = get(&sim, "/api/v1/cvms?teepod_id=10", sim.api_key(), None).await;
    assert_eq!(
        (s, body["detail"]["error_code"].as_str()),
        (StatusCode::FORBIDDEN, Some("ERR-06-006"))
    );
    let (s, _, all) = get(&sim, "/api/v1/cvms?teepod_id=10", sim.admin_key(), Some("2026-01-21")).await;
    assert_eq!(s, 200);
    assert!(all.as_array().unwrap().iter().all(|c| c["node_info"]["id"] == 10));
    // Any integer is a valid node id, as in the real service; past i64 it names no node.
    for big in ["-9999999999999999999", "99999999999999999999999"] {
        let (s, _, none) = get(&sim, &format!("/api/v1/cvms?teepod_id={big}"), sim.admin_key(), None).await;
        assert_eq!((s, none), (StatusCode::OK, json!([])), "{big}");
    }
    let (s, _, bad) = get(&sim, "/api/v1/cvms?teepod_id=ten", sim.admin_key(), None).await;
    assert_eq!(
        (s, bad["detail"][0]["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("int_parsing"))
    );
    let (s, _, unassigned) = get(&sim, "/api/v1/cvms?user_id=0", sim.admin_key(), Some("2026-01-21")).await;
    assert_eq!(s, 200);
    assert!(unassigned.as_array().unwrap().iter().all(|c| c["creator"].is_null()));
    // Workspace selection: a member may switch, a stranger may not.
    let ws = |key: &str, w: &str| {
        http()
            .get(format!("{}/api/v1/cvms", sim.base_url()))
            .header("X-API-Key", key.to_string())
            .header("X-Phala-Workspace", w.to_string())
            .send()
    };
    assert_eq!(ws(sim.api_key(), "staging-team").await.unwrap().status(), 200);
    assert_eq!(ws(sim.api_key(), "partner-team").await.unwrap().status(), 403);
}

#[tokio::test]
async fn versions_pick_the_list_shape_and_unknown_ones_are_refused() {
    let sim = sim(10).await;
    let (_, _, default) = get(&sim, "/api/v1/cvms", sim.api_key(), None).await;
    assert!(
        default[0].get("hosted").is_some(),
        "the key's default version is older than 2026-01-21"
    );
    for (v, hosted) in [
        ("2025-05-31", true),
        ("2025-10-28", true),
        ("2026-01-21", false),
        ("2026-06-23", false),
        ("latest", false),
    ] {
        let (_, _, body) = get(&sim, "/api/v1/cvms", sim.api_key(), Some(v)).await;
        assert_eq!(body[0].get("hosted").is_some(), hosted, "{v}");
    }
    let (s, _, body) = get(&sim, "/api/v1/cvms", sim.api_key(), Some("2027-01-01")).await;
    assert_eq!(s, 400);
    assert_eq!(body["detail"]["error_code"], "ERR-02-008");
}

#[tokio::test]
async fn batch_stop_accounts_for_every_id() {
    let sim = sim(60).await;
    let cvms = sim.cvms();
    let running: Vec<&str> = cvms
        .iter()
        .filter(|c| c.in_main_workspace && c.status == "running")
        .map(|c| c.id.as_str())
        .take(5)
        .collect();
    let stopped = cvms
        .iter()
        .find(|c| c.in_main_workspace && c.status == "stopped")
        .unwrap();
    let foreign = cvms.iter().find(|c| !c.in_main_workspace).unwrap();
    let mut ids: Vec<&str> = running.clone();
    ids.extend([stopped.id.as_str(), foreign.id.as_str(), "cvm_unknown", running[0]]);
    let (s, body) = post(&sim, "/api/v1/cvms/batch-stop", sim.api_key(), json!({"cvm_ids": ids})).await;
    assert_eq!(s, 200);
    assert_eq!(body["total"], 9);
    assert_eq!(body["stopped"], 5);
    assert_eq!(body["skipped"], 2, "already stopped + duplicate in progress");
    let errors: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cvm_id"].as_str().unwrap())
        .collect();
    assert_eq!(errors, [foreign.id.as_str(), "cvm_unknown"]);
    let stats = sim.stats();
    assert!(running.iter().all(|id| stats.stops_applied[*id] == 1));
    let many: Vec<String> = (0..51).map(|i| format!("cvm_{i}")).collect();
    let (s, body) = post(&sim, "/api/v1/cvms/batch-stop", sim.api_key(), json!({"cvm_ids": many})).await;
    assert_eq!(s, 400);
    assert!(body["detail"]["message"].as_str().unwrap().contains("50"));
    let (s, body) = post(&sim, "/api/v1/cvms/batch-stop", sim.api_key(), json!({"ids": []})).await;
    assert_eq!(
        (s, body["detail"][0]["loc"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!(["body", "cvm_ids"]))
    );
}

#[tokio::test]
async fn stopping_moves_through_stopping_to_stopped_over_scaled_time() {
    let sim = Simulator::builder()
        .cvms(30)
        .seed(3)
        .time_scale(100.0)
        .stop_duration(Duration::from_secs(10))
        .transition_jitter(0.0)
        .start()
        .await
        .unwrap();
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    stop(&sim, &cvm.id).await;
    let (_, status) = post(
        &sim,
        "/api/v1/status/batch",
        sim.api_key(),
        json!({"vm_uuids": [cvm.vm_uuid]}),
    )
    .await;
    let s = &status[&cvm.vm_uuid];
    assert_eq!(
        (
            s["status"].as_str(),
            s["in_progress"].as_bool(),
            s["operation_type"].as_str()
        ),
        (Some("stopping"), Some(true), Some("stop"))
    );
    assert!(s["correlation_id"].as_str().unwrap().starts_with("op_"));
    assert!(s["shutdown_progress"].as_str().unwrap().ends_with('%'));
    // 10 virtual seconds at 100x: 100 ms.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let (_, status) = post(
        &sim,
        "/api/v1/status/batch",
        sim.api_key(),
        json!({"vm_uuids": [cvm.vm_uuid, "not-a-uuid"]}),
    )
    .await;
    assert_eq!(status.as_object().unwrap().len(), 1, "unknown uuids are omitted");
    let s = &status[&cvm.vm_uuid];
    assert_eq!(
        (s["status"].as_str(), s["in_progress"].as_bool()),
        (Some("stopped"), Some(false))
    );
    let events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"].as_str().unwrap())
        .collect();
    assert_eq!(events.last(), Some(&"stopped"));
}

#[tokio::test]
async fn same_seed_same_fleet() {
    let a = Simulator::builder().cvms(50).seed(9).start().await.unwrap();
    let b = Simulator::builder().cvms(50).seed(9).start().await.unwrap();
    let c = Simulator::builder().cvms(50).seed(10).start().await.unwrap();
    // Everything but the real-time instants of operations in flight.
    let fleet = |s: &phala_cloud_sim::SimHandle| {
        s.cvms()
            .into_iter()
            .map(|mut c| {
                c.operation_done_at = None;
                c
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(fleet(&a), fleet(&b));
    assert_ne!(fleet(&a), fleet(&c));
    let statuses: Vec<String> = a.cvms().into_iter().map(|c| c.status).collect();
    let running = statuses.iter().filter(|s| *s == "running").count();
    assert!(running > 30 && statuses.iter().any(|s| s == "stopped"), "{statuses:?}");
}

#[tokio::test]
async fn apps_and_state_404() {
    let sim = sim(10).await;
    let (s, _, body) = get(&sim, "/api/v1/apps/deadbeef/cvms", sim.api_key(), None).await;
    assert_eq!(
        (s, body["detail"]["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ERR-02-001"))
    );
    let (s, _, body) = get(&sim, "/api/v1/cvms/cvm_nope/state", sim.api_key(), None).await;
    assert_eq!(
        (s, body["detail"]["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ERR-03-001"))
    );
    // Other id forms resolve to the same CVM.
    let cvm = &main_cvms(&sim)[0];
    for form in [cvm.vm_uuid.clone(), cvm.vm_uuid.replace('-', ""), cvm.name.clone()] {
        let (s, _, body) = get(&sim, &format!("/api/v1/cvms/{form}/state"), sim.api_key(), None).await;
        assert_eq!(
            (s, body["id"].as_str()),
            (StatusCode::OK, Some(cvm.id.as_str())),
            "{form}"
        );
    }
    for q in ["interval=4", "interval=31", "timeout=9", "timeout=601", "interval=abc"] {
        let (s, _, body) = get(
            &sim,
            &format!("/api/v1/cvms/{}/state?target=running&{q}", cvm.id),
            sim.api_key(),
            None,
        )
        .await;
        assert_eq!(s, 422, "{q}");
        assert!(body["detail"][0]["loc"][0] == "query", "{q}");
    }
}

/// A simulator whose stops take long enough (0.6 s) for a stream opened
/// right after one to see it stopping, however loaded the machine.
async fn slow_sim(cvms: usize) -> SimHandle {
    Simulator::builder()
        .cvms(cvms)
        .apps(10)
        .seed(42)
        .time_scale(20.0)
        .start()
        .await
        .unwrap()
}

/// A stop of one CVM with the workspace key, ready to send.
fn stop_request(sim: &SimHandle, id: &str) -> reqwest::RequestBuilder {
    http()
        .post(format!("{}/api/v1/cvms/batch-stop", sim.base_url()))
        .header("X-API-Key", sim.api_key())
        .json(&json!({"cvm_ids": [id]}))
}

/// Stops one CVM with the workspace key.
async fn stop(sim: &SimHandle, id: &str) -> (StatusCode, Value) {
    let resp = stop_request(sim, id).send().await.unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

mod lifecycle;
mod reads;
mod streams;

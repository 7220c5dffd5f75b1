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
    assert_eq!(body["detail"]["error_code"], "ERR-01-001");
    assert!(body["detail"]["request_id"].as_str().unwrap().starts_with("req_"));
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
        (StatusCode::FORBIDDEN, Some("ERR-01-003"))
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
    assert_eq!(body["detail"]["error_code"], "ERR-01-005");
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

/// Reads a whole SSE body into (event, data) pairs.
async fn sse_events(resp: reqwest::Response) -> Vec<(String, Value)> {
    let text = resp.text().await.unwrap_or_default();
    text.split("\n\n")
        .filter_map(|block| {
            let name = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_string(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

fn sse(sim: &SimHandle, id: &str, query: &str) -> reqwest::RequestBuilder {
    http()
        .get(format!("{}/api/v1/cvms/{id}/state?{query}", sim.base_url()))
        .header("X-API-Key", sim.api_key())
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

#[tokio::test]
async fn sse_streams_state_then_complete() {
    let sim = slow_sim(20).await;
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    let resp = sse(&sim, &cvm.id, "target=running").send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let events = sse_events(resp).await;
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["state", "complete"],
        "already at target: state then complete at once"
    );
    stop(&sim, &cvm.id).await;
    let events = sse_events(sse(&sim, &cvm.id, "target=stopped&interval=5").send().await.unwrap()).await;
    assert_eq!(events.first().unwrap().1["status"], "stopping");
    let (last, data) = events.last().unwrap();
    assert_eq!(
        (last.as_str(), data["status"].as_str(), data["target"].as_str()),
        ("complete", Some("stopped"), Some("stopped"))
    );
    assert!(data["elapsed"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn sse_times_out_and_reports_a_vanished_cvm() {
    let sim = sim(20).await;
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "stopped").unwrap();
    // timeout=10 virtual seconds: 50 ms at 200x.
    let events = sse_events(sse(&sim, &cvm.id, "target=running&timeout=10").send().await.unwrap()).await;
    let (name, data) = events.last().unwrap();
    assert_eq!((name.as_str(), data["error"].as_str()), ("timeout", Some("Timeout")));
    let resp = sse(&sim, &cvm.id, "target=running&timeout=600&interval=5")
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(sim.remove_cvm(&cvm.id));
    let events = sse_events(resp).await;
    assert_eq!(events.last().unwrap().0, "error");
}

#[tokio::test]
async fn the_sixth_stream_gets_429_and_the_peak_is_five() {
    let sim = sim(20).await;
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "stopped").unwrap();
    let mut open = Vec::new();
    for _ in 0..5 {
        let resp = sse(&sim, &cvm.id, "target=running&timeout=600").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        open.push(resp);
    }
    let sixth = sse(&sim, &cvm.id, "target=running").send().await.unwrap();
    assert_eq!(sixth.status(), 429);
    assert_eq!(sixth.headers()["retry-after"], "5");
    assert_eq!(sim.stats().max_sse_peak(), 5);
    drop(open);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.stats().sse_open["workspace"], 0, "closed streams free their slots");
    assert_eq!(
        sse(&sim, &cvm.id, "target=running&timeout=10")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn server_errors_and_rate_limits_change_nothing() {
    let sim = sim(30).await;
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    sim.set_faults(Faults::default().with_server_errors(1.0));
    let (s, body) = stop(&sim, &cvm.id).await;
    assert!(s.is_server_error());
    assert!(body["detail"]["request_id"].is_string());
    sim.set_faults(Faults::default().with_rate_limits(1.0));
    let resp = stop_request(&sim, &cvm.id).send().await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.headers()["retry-after"].to_str().unwrap()),
        (429, "1")
    );
    assert!(sim.stats().stops_applied.is_empty());
    assert_eq!(sim.cvms().iter().find(|c| c.id == cvm.id).unwrap().status, "running");
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

/// Sends a stop and reports whether its answer broke (send or body error).
async fn stop_breaks(sim: &SimHandle, id: &str) -> bool {
    match stop_request(sim, id).send().await {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    }
}

#[tokio::test]
async fn dropped_and_truncated_responses_are_recorded_when_applied() {
    let sim = sim(30).await;
    let running: Vec<String> = main_cvms(&sim)
        .into_iter()
        .filter(|c| c.status == "running")
        .map(|c| c.id)
        .collect();
    sim.set_faults(Faults::default().with_drops(1.0));
    assert!(
        stop_breaks(&sim, &running[0]).await,
        "the client must see a broken response"
    );
    sim.set_faults(Faults::default().with_truncation(1.0));
    assert!(stop_breaks(&sim, &running[1]).await, "a truncated body fails to read");
    let stats = sim.stats();
    assert_eq!(stats.stops_applied_unanswered.get(&running[0]), Some(&1));
    assert_eq!(stats.stops_applied_unanswered.get(&running[1]), Some(&1));
    assert_eq!((stats.faults["drop"], stats.faults["truncate"]), (1, 1));
}

#[tokio::test]
async fn sse_streams_can_be_cut_mid_stream() {
    let sim = slow_sim(20).await;
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    stop(&sim, &cvm.id).await;
    sim.set_faults(Faults::default().with_sse_drops(1.0));
    let resp = sse(&sim, &cvm.id, "target=stopped").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.is_err(), "the stream breaks instead of ending");
    assert_eq!(sim.stats().faults["sse_drop"], 1);
}

#[tokio::test]
async fn latency_is_added() {
    let sim = sim(5).await;
    sim.set_faults(Faults::default().with_latency(Duration::from_millis(60), Duration::ZERO));
    let started = std::time::Instant::now();
    get(&sim, "/api/v1/cvms", sim.api_key(), None).await;
    // A lower bound only: latency is added, never removed.
    assert!(started.elapsed() >= Duration::from_millis(60));
}

#[tokio::test]
async fn stats_count_requests_by_endpoint_and_status() {
    let sim = sim(5).await;
    get(&sim, "/api/v1/cvms", sim.api_key(), None).await;
    get(&sim, "/api/v1/cvms", "bad", None).await;
    post(&sim, "/api/v1/status/batch", sim.api_key(), json!({"vm_uuids": []})).await;
    let stats = sim.stats();
    assert_eq!(
        (
            stats.count("list_cvms", 200),
            stats.count("list_cvms", 401),
            stats.total("status_batch")
        ),
        (1, 1, 1)
    );
}

async fn send(sim: &SimHandle, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = http()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("X-API-Key", sim.api_key());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

async fn lifecycle(sim: &SimHandle, id: &str, call: &str, body: Option<Value>) -> (StatusCode, Value) {
    send(sim, reqwest::Method::POST, &format!("/api/v1/cvms/{id}/{call}"), body).await
}

/// Batch status of some CVMs, in one request (one instant of the simulation).
async fn statuses(sim: &SimHandle, uuids: &[&str]) -> std::collections::HashMap<String, types::CvmStatus> {
    let (s, body) = post(sim, "/api/v1/status/batch", sim.api_key(), json!({"vm_uuids": uuids})).await;
    assert_eq!(s, 200);
    strict(&body)
}

#[tokio::test]
async fn lifecycle_answers_are_valid_against_the_document() {
    let sim = sim(40).await;
    let cvms = main_cvms(&sim);
    let running = cvms.iter().find(|c| c.status == "running" && !c.in_progress).unwrap();
    let stopped = cvms.iter().find(|c| c.status == "stopped").unwrap();
    let key = sim.api_key();
    let (s, _, basic) = get(&sim, &format!("/api/v1/cvms/{}", running.id), key, Some("2025-10-28")).await;
    assert_eq!(s, 200);
    let basic: types::CvmBasicInfo = strict(&basic);
    assert_eq!(basic.vm_uuid.as_deref(), Some(running.vm_uuid.as_str()));
    let (_, _, detail) = get(
        &sim,
        &format!("/api/v1/cvms/{}", running.vm_uuid),
        key,
        Some("2026-01-21"),
    )
    .await;
    let detail: types::CvmInfoDetail = strict(&detail);
    assert_eq!(detail.id, running.id);
    let (s, vm) = lifecycle(&sim, &stopped.id, "start", None).await;
    assert_eq!(s, 200);
    let vm: types::Vm = strict(&vm);
    assert_eq!(vm.status, "starting");
    // Phala's TypeScript SDK requires these keys, null or not.
    let (_, raw) = lifecycle(&sim, &running.id, "shutdown", None).await;
    for required in ["vm_uuid", "instance_id", "encrypted_env_pubkey"] {
        assert!(raw.get(required).is_some(), "{required} missing from {raw}");
    }
    let (s, gone) = send(
        &sim,
        reqwest::Method::DELETE,
        &format!("/api/v1/cvms/{}", stopped.id),
        None,
    )
    .await;
    assert_eq!((s, gone), (StatusCode::NO_CONTENT, Value::Null));
}

#[tokio::test]
async fn a_busy_cvm_answers_409_with_an_error_code_and_force_stop_cancels() {
    // Real time: the shutdown takes ~30 s, so the CVM is busy for the whole
    // test however loaded the machine is.
    let sim = Simulator::builder().cvms(40).apps(10).seed(42).start().await.unwrap();
    let cvm = main_cvms(&sim)
        .into_iter()
        .find(|c| c.status == "running" && !c.in_progress)
        .unwrap();
    assert_eq!(lifecycle(&sim, &cvm.id, "shutdown", None).await.0, 200);
    for call in ["start", "shutdown", "restart"] {
        let (s, body) = lifecycle(&sim, &cvm.id, call, Some(json!({"force": false}))).await;
        assert_eq!(s, 409, "{call}");
        assert_eq!(body["detail"]["error_code"], phala_cloud_sim::OPERATION_IN_PROGRESS);
    }
    // A force stop cancels the shutdown in flight and stops.
    let (s, vm) = lifecycle(&sim, &cvm.id, "stop", None).await;
    assert_eq!((s, vm["status"].as_str()), (StatusCode::OK, Some("stopping")));
    let stats = sim.stats();
    assert_eq!(stats.applied("shutdown", &cvm.id), 1);
    assert_eq!(stats.applied("stop", &cvm.id), 1);
    assert_eq!(stats.applied("restart", &cvm.id), 0, "a refused call applies nothing");
    let (s, body) = lifecycle(&sim, &cvm.id, "restart", Some(json!({"force": "yes"}))).await;
    assert_eq!(
        (s, body["detail"][0]["loc"][1].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("force"))
    );
}

#[tokio::test]
async fn graceful_shutdown_is_slower_than_stop() {
    let sim = Simulator::builder()
        .cvms(40)
        .apps(10)
        .seed(42)
        .time_scale(200.0)
        .transition_jitter(0.0)
        .start()
        .await
        .unwrap();
    let running: Vec<_> = main_cvms(&sim)
        .into_iter()
        .filter(|c| c.status == "running" && !c.in_progress)
        .take(2)
        .collect();
    let (stopped, shut) = (&running[0], &running[1]);
    // The stop first: whatever the delay before the shutdown, the shutdown
    // has run for less time than the stop when the stop is done.
    assert_eq!(lifecycle(&sim, &stopped.id, "stop", None).await.0, 200);
    assert_eq!(lifecycle(&sim, &shut.id, "shutdown", None).await.0, 200);
    // Both seen in one answer, at one instant: the stop is done while the
    // shutdown, begun after it, is still going.
    loop {
        let map = statuses(&sim, &[&stopped.vm_uuid, &shut.vm_uuid]).await;
        if map[&stopped.vm_uuid].status == "stopped" {
            assert_eq!(map[&shut.vm_uuid].status, "stopping");
            assert!(map[&shut.vm_uuid].is_in_progress());
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn restart_passes_through_stopping_and_starting() {
    let sim = sim(40).await;
    let cvm = main_cvms(&sim)
        .into_iter()
        .find(|c| c.status == "running" && !c.in_progress)
        .unwrap();
    let (s, vm) = lifecycle(&sim, &cvm.id, "restart", Some(json!({"force": false}))).await;
    assert_eq!((s, vm["status"].as_str()), (StatusCode::OK, Some("stopping")));
    let last = loop {
        let map = statuses(&sim, &[&cvm.vm_uuid]).await;
        let s = map[&cvm.vm_uuid].clone();
        if s.status == "running" && !s.is_in_progress() {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // The guest's own record of the way: shutdown, then boot, in order.
    let events: Vec<(String, String)> = last
        .events
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.event, e.body))
        .collect();
    let path: Vec<(&str, &str)> = events.iter().map(|(e, b)| (e.as_str(), b.as_str())).collect();
    let tail = &path[path.len() - 4..];
    assert_eq!(
        tail,
        [
            ("shutdown.progress", "0%"),
            ("shutdown.progress", "stopped"),
            ("boot.progress", "0%"),
            ("boot.progress", "done")
        ]
    );
    assert_eq!(sim.stats().applied("restart", &cvm.id), 1);
    assert_eq!(sim.stats().restarting_peak, 1);
}

#[tokio::test]
async fn a_deleted_cvm_is_gone_from_every_endpoint() {
    let sim = sim(40).await;
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    let key = sim.api_key();
    let (s, _) = send(
        &sim,
        reqwest::Method::DELETE,
        &format!("/api/v1/cvms/{}", cvm.name),
        None,
    )
    .await;
    assert_eq!(s, 204);
    assert!(statuses(&sim, &[&cvm.vm_uuid]).await.is_empty());
    for path in [
        format!("/api/v1/cvms/{}", cvm.id),
        format!("/api/v1/cvms/{}/state", cvm.id),
    ] {
        let (s, _, body) = get(&sim, &path, key, None).await;
        assert_eq!(
            (s, body["detail"]["error_code"].as_str()),
            (StatusCode::NOT_FOUND, Some("ERR-03-001"))
        );
    }
    let (_, _, list) = get(&sim, "/api/v1/cvms", key, Some("2026-01-21")).await;
    assert!(list.as_array().unwrap().iter().all(|c| c["id"] != cvm.id.as_str()));
    let (_, _, app) = get(
        &sim,
        &format!("/api/v1/apps/{}/cvms", cvm.app_id),
        key,
        Some("2026-01-21"),
    )
    .await;
    assert!(app.as_array().unwrap().iter().all(|c| c["id"] != cvm.id.as_str()));
    for call in ["start", "restart"] {
        assert_eq!(lifecycle(&sim, &cvm.id, call, None).await.0, 404);
    }
    let (s, _) = send(&sim, reqwest::Method::DELETE, &format!("/api/v1/cvms/{}", cvm.id), None).await;
    assert_eq!(s, 404, "deleted once");
    assert_eq!(sim.stats().applied("delete", &cvm.id), 1);
    // Another workspace's CVM cannot be touched.
    let foreign = sim.cvms().into_iter().find(|c| !c.in_main_workspace).unwrap();
    assert_eq!(lifecycle(&sim, &foreign.id, "stop", None).await.0, 404);
}

#[tokio::test]
async fn paged_list_bounds_and_slices() {
    let sim = sim(250).await;
    let key = sim.api_key();
    let mine: Vec<String> = main_cvms(&sim).into_iter().map(|c| c.id).collect();
    let (s, _, page) = get(
        &sim,
        "/api/v1/cvms/paginated?page=2&page_size=40",
        key,
        Some("2026-01-21"),
    )
    .await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, mine[40..80].iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(page["total"], mine.len());
    assert_eq!(page["pages"], mine.len().div_ceil(40));
    let (_, _, default) = get(&sim, "/api/v1/cvms/paginated", key, None).await;
    assert_eq!(
        (default["page"].as_u64(), default["page_size"].as_u64()),
        (Some(1), Some(30))
    );
    let (_, _, beyond) = get(&sim, "/api/v1/cvms/paginated?page=1000", key, None).await;
    assert_eq!(beyond["items"], json!([]));
    // The service's integers are Python's: a page past u64 is valid, empty,
    // and echoed exactly; a page size past u64 is over its maximum.
    let huge = http()
        .get(format!(
            "{}/api/v1/cvms/paginated?page=%2B025545426742743810048",
            sim.base_url()
        ))
        .header("X-API-Key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 200);
    let text = huge.text().await.unwrap();
    assert!(
        text.starts_with(r#"{"items":[],"#) && text.contains(r#""page":25545426742743810048,"#),
        "{text}"
    );
    let (s, _, body) = get(
        &sim,
        "/api/v1/cvms/paginated?page_size=99999999999999999999999",
        key,
        None,
    )
    .await;
    assert_eq!(
        (s.as_u16(), &body["detail"][0]["type"]),
        (422, &json!("less_than_equal")),
        "{body}"
    );
    for query in ["page=0", "page_size=0", "page_size=101", "page=x", "teepod_id=x"] {
        let (s, _, body) = get(&sim, &format!("/api/v1/cvms/paginated?{query}"), key, None).await;
        assert_eq!(s, 422, "{query}: {body}");
    }
    let (s, _, _) = get(&sim, "/api/v1/cvms/paginated?teepod_id=10", key, None).await;
    assert_eq!(s, 403, "filters are admin-only");
    let (s, _, filtered) = get(
        &sim,
        "/api/v1/cvms/paginated?teepod_id=10&page_size=100",
        sim.admin_key(),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        filtered["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["node"]["id"] == 10)
    );
}

#[tokio::test]
async fn operations_are_recorded_and_paged_by_cursor() {
    let sim = Simulator::builder().cvms(40).apps(10).seed(42).start().await.unwrap();
    let cvm = main_cvms(&sim)
        .into_iter()
        .find(|c| c.status == "running" && !c.in_progress)
        .unwrap();
    let key = sim.api_key();
    // Real time: the shutdown is in flight when the force stop supersedes
    // it, and the stop when the start is refused.
    for (call, status) in [("shutdown", 200), ("stop", 200), ("start", 409)] {
        assert_eq!(lifecycle(&sim, &cvm.id, call, None).await.0, status, "{call}");
    }
    let (_, cancel) = lifecycle(&sim, &cvm.id, "operations/cancel", None).await;
    assert_eq!(cancel["cancelled"], true);
    let path = format!("/api/v1/cvms/{}/operations?limit=1", cvm.id);
    let (s, _, first) = get(&sim, &path, key, None).await;
    assert_eq!(s, 200);
    assert_eq!(first["items"][0]["operation_type"], "power_off");
    assert_eq!(first["items"][0]["status"], "failed", "cancelled");
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, _, second) = get(&sim, &format!("{path}&cursor={cursor}"), key, None).await;
    assert_eq!(second["items"][0]["operation_type"], "shutdown");
    assert_eq!(second["items"][0]["error_message"], "Cancelled by a force stop");
    assert!(second["next_cursor"].is_null(), "two records in all");
    let (_, _, only) = get(
        &sim,
        &format!(
            "/api/v1/cvms/{}/operations?operation_types=shutdown&operation_types=restart",
            cvm.id
        ),
        key,
        None,
    )
    .await;
    assert_eq!(only["total"], 1);
    let (s, _, _) = get(&sim, &format!("{path}&cursor=cur_nope"), key, None).await;
    assert_eq!(s, 422);
    let (s, _, _) = get(
        &sim,
        &format!("/api/v1/cvms/{}/operations?limit=501", cvm.id),
        key,
        None,
    )
    .await;
    assert_eq!(s, 422);
    let (s, _, _) = get(
        &sim,
        &format!("/api/v1/cvms/{}/operations?start_time=yesterday", cvm.id),
        key,
        None,
    )
    .await;
    assert_eq!(s, 422);
    // Nothing in flight: nothing to cancel.
    let (_, again) = lifecycle(&sim, &cvm.id, "operations/cancel", None).await;
    assert_eq!(again, json!({"cancelled": false, "correlation_id": null}));
}

#[tokio::test]
async fn revision_pages_far_out_or_out_of_bounds_never_break_the_server() {
    let sim = Simulator::builder().cvms(4).seed(2).start().await.unwrap();
    let key = sim.api_key().to_string();
    let (s, _, body) = get(&sim, "/api/v1/apps/00/revisions?page=368934881474191034", &key, None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["revisions"], serde_json::json!([]));
    let (s, _, _) = get(&sim, "/api/v1/apps/00/revisions?page_size=1001", &key, None).await;
    assert_eq!(s, 422);
    let (s, _, _) = get(&sim, "/api/v1/apps/00/revisions?page=0", &key, None).await;
    assert_eq!(s, 422);
}

/// The simulator's list of what it implements is true: each listed operation
/// is answered (whatever the answer, never 501) and every other operation
/// the document publishes answers 501 naming itself. HEAD is left out (its
/// answer has no body to name anything in).
#[tokio::test]
async fn implemented_operations_are_answered_and_the_rest_say_501() {
    let sim = sim(4).await;
    let doc: Value = serde_json::from_str(phala_cloud_sim::BUNDLED_OPENAPI).unwrap();
    // With the operations the overlay adds from the evidence: they say 501 too.
    let overlay = serde_json::from_str(phala_cloud_api::OVERLAY_JSON).unwrap();
    let overlay = phala_cloud_spec::Overlay::from_value(&overlay, "openapi.overlay.json").unwrap();
    let doc = phala_cloud_spec::apply_overlay(&doc, &overlay).unwrap();
    let mut published = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            published.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    for op in phala_cloud_sim::IMPLEMENTED_OPERATIONS {
        assert!(published.contains(&op.to_string()), "{op} is not in the document");
    }
    let cvm = main_cvms(&sim)[0].id.clone();
    for op in published.iter().filter(|op| !op.starts_with("HEAD ")) {
        let (method, template) = op.split_once(' ').unwrap();
        // Real ids where the simulator has them, so an implemented read answers for real.
        let path = template
            .replace("{cvm_id}", &cvm)
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let request = http()
            .request(
                method.parse().unwrap(),
                format!("{}{path}?target=running&timeout=10", sim.base_url()),
            )
            .header("X-API-Key", sim.api_key());
        let request = if method == "GET" || method == "DELETE" {
            request
        } else {
            request.json(&json!({}))
        };
        let resp = request.send().await.unwrap();
        let status = resp.status();
        if phala_cloud_sim::IMPLEMENTED_OPERATIONS.contains(&op.as_str()) {
            assert_ne!(status, StatusCode::NOT_IMPLEMENTED, "{op} is listed as implemented");
        } else {
            assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{op}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["operation"]["path"], *template, "{op}: {body}");
            assert!(body["detail"].as_str().unwrap().contains(template), "{body}");
        }
    }
    sim.shutdown().await;
}

/// `GET /apps` lists the workspace's apps (those with a live CVM there), a
/// page at a time, filtered by their CVMs; one app holds every CVM of it;
/// an unknown app is the service's 404; bad query values are 422s.
#[tokio::test]
async fn apps_are_listed_paged_filtered_and_found_from_the_fleet() {
    let sim = sim(40).await;
    let key = sim.api_key().to_string();
    let v = Some("2026-01-21");
    let mine = main_cvms(&sim);
    let apps: std::collections::BTreeSet<&str> = mine.iter().map(|c| c.app_id.as_str()).collect();
    let (s, _, all) = get(&sim, "/api/v1/apps?page_size=100", &key, v).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["total"], apps.len(), "{all}");
    let listed: std::collections::BTreeSet<&str> = all["dstack_apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, apps);
    let (_, _, page) = get(&sim, "/api/v1/apps?page=2&page_size=3", &key, v).await;
    assert_eq!(
        page["dstack_apps"].as_array().unwrap().len(),
        3.min(apps.len().saturating_sub(3))
    );
    assert_eq!(page["total_pages"], apps.len().div_ceil(3));
    let (_, _, none) = get(&sim, "/api/v1/apps?status=no-such-status", &key, v).await;
    assert_eq!(none["total"], 0, "{none}");
    let (_, _, found) = get(&sim, &format!("/api/v1/apps?search={}", mine[0].vm_uuid), &key, v).await;
    assert_eq!(found["dstack_apps"][0]["app_id"], mine[0].app_id.as_str(), "{found}");
    for bad in ["listed=maybe", "page=0", "page_size=101", "page=x"] {
        let (s, _, body) = get(&sim, &format!("/api/v1/apps?{bad}"), &key, v).await;
        assert_eq!(s, 422, "{bad}: {body}");
    }
    for (version, cvm_id) in [("2025-10-28", "vm_uuid"), ("2026-01-21", "id")] {
        let (s, _, app) = get(&sim, &format!("/api/v1/apps/{}", mine[0].app_id), &key, Some(version)).await;
        assert_eq!(s, 200, "{app}");
        let expected: std::collections::BTreeSet<String> = mine
            .iter()
            .filter(|c| c.app_id == mine[0].app_id)
            .map(|c| {
                if cvm_id == "id" {
                    c.id.clone()
                } else {
                    c.vm_uuid.clone()
                }
            })
            .collect();
        let got: std::collections::BTreeSet<String> = app["cvms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[cvm_id].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, expected, "{version}");
        assert_eq!(app["cvm_count"], expected.len());
    }
    let (s, _, body) = get(&sim, &format!("/api/v1/apps/{}", "0".repeat(40)), &key, v).await;
    assert_eq!(
        (s, body["detail"]["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ERR-02-001"))
    );
    // The partner's app is not the workspace key's to see.
    let partner = sim
        .cvms()
        .into_iter()
        .find(|c| !c.in_main_workspace && !apps.contains(c.app_id.as_str()));
    if let Some(partner) = partner {
        let (s, _, _) = get(&sim, &format!("/api/v1/apps/{}", partner.app_id), &key, v).await;
        assert_eq!(s, 404);
    }
    let (_, _, options) = get(&sim, "/api/v1/apps/filter-options", &key, v).await;
    let statuses = options["statuses"].as_array().unwrap();
    assert!(statuses.iter().any(|s| s == "running"), "{options}");
    assert!(
        options["regions"].as_array().is_some_and(|r| !r.is_empty()),
        "{options}"
    );
    sim.shutdown().await;
}

/// The KMS list, the catalog, the nodes and the account answer from the
/// simulated world, the same for a seed; unknown names are 404s, bad
/// booleans 422s.
#[tokio::test]
async fn catalog_nodes_and_account_reads_answer_from_the_simulated_world() {
    let sim = sim(20).await;
    let key = sim.api_key().to_string();
    let v = Some("2026-05-22");
    let (_, _, kms) = get(&sim, "/api/v1/kms", &key, v).await;
    assert_eq!(kms["total"], 1, "{kms}");
    let kms_id = kms["items"][0]["id"].as_str().unwrap().to_string();
    let (s, _, _) = get(&sim, &format!("/api/v1/kms/{kms_id}"), &key, v).await;
    assert_eq!(s, 200, "the listed KMS is found");
    let (_, _, onchain) = get(&sim, "/api/v1/kms?is_onchain=true", &key, v).await;
    assert_eq!(onchain["total"], 0, "{onchain}");
    let (_, _, types) = get(&sim, "/api/v1/instance-types", &key, v).await;
    let names: Vec<&str> = types["result"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"tdx.small"), "{types}");
    let (s, _, _) = get(&sim, "/api/v1/instance-types/gpu", &key, v).await;
    assert_eq!(s, 404);
    let (_, _, images) = get(&sim, "/api/v1/os-images?is_dev=true", &key, v).await;
    assert!(
        images["items"].as_array().unwrap().iter().all(|i| i["is_dev"] == true),
        "{images}"
    );
    let (_, _, nodes) = get(&sim, "/api/v1/teepods/available", &key, v).await;
    let (_, _, graph) = get(&sim, "/api/v1/teepods/cvm-create-resources", &key, v).await;
    assert_eq!(nodes["nodes"], graph["nodes"], "the same nodes either way");
    assert_eq!(graph["kms_nodes"][0]["id"], kms_id.as_str());
    let (s, _, _) = get(&sim, "/api/v1/teepods/available?v03x_only=perhaps", &key, v).await;
    assert_eq!(s, 422);
    let (_, _, me) = get(&sim, "/api/v1/auth/me", &key, v).await;
    let (_, _, old_me) = get(&sim, "/api/v1/auth/me", &key, Some("2025-10-28")).await;
    assert_eq!(me["user"]["username"], old_me["username"], "{me} {old_me}");
    let (_, _, workspaces) = get(&sim, "/api/v1/workspaces", &key, v).await;
    let slugs: Vec<&str> = workspaces["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["main-team", "staging-team"], "the workspace key's two");
    assert_eq!(me["workspace"]["slug"], "main-team");
    let (s, _, _) = get(&sim, "/api/v1/workspaces/partner-team", &key, v).await;
    assert_eq!(s, 404, "not the workspace key's");
    let (_, _, quotas) = get(&sim, "/api/v1/workspaces/main-team/quotas", &key, v).await;
    let slots = &quotas["quotas"]["vm_slots"];
    assert_eq!(
        slots["limit"].as_i64().unwrap() - slots["remaining"].as_i64().unwrap(),
        main_cvms(&sim).len() as i64,
        "{quotas}"
    );
    let (_, _, again) = get(&sim, "/api/v1/teepods/available", &key, v).await;
    assert_eq!(nodes, again, "deterministic");
    sim.shutdown().await;
}

/// A running CVM's attestation holds together: the app compose it shows
/// hashes to the compose hash its event log records (the CVM's own compose
/// hash), the log names its app and instance, and RTMR3 replays from the
/// log. Its composition has a container per service of its compose.
#[tokio::test]
async fn attestation_is_internally_consistent_and_composition_follows_the_compose() {
    use sha2::{Digest, Sha256, Sha384};
    let sim = sim(12).await;
    let key = sim.api_key().to_string();
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    let (s, _, att) = get(&sim, &format!("/api/v1/cvms/{}/attestation", cvm.id), &key, None).await;
    assert_eq!(s, 200, "{att}");
    let tcb = &att["tcb_info"];
    let compose = tcb["app_compose"].as_str().unwrap();
    let hash = hex::encode(Sha256::digest(compose.as_bytes()));
    let log = tcb["event_log"].as_array().unwrap();
    let payload = |name: &str| {
        log.iter()
            .find(|e| e["event"] == name)
            .map(|e| e["event_payload"].as_str().unwrap().to_string())
    };
    assert_eq!(payload("compose-hash"), Some(hash.clone()));
    assert_eq!(payload("app-id").as_deref(), Some(cvm.app_id.as_str()));
    let (_, _, held) = get(&sim, &format!("/api/v1/cvms/{}/compose_file", cvm.id), &key, None).await;
    assert_eq!(
        serde_json::from_str::<Value>(compose).unwrap(),
        held,
        "the compose the CVM holds"
    );
    let mut rtmr3 = [0u8; 48].to_vec();
    for e in log.iter().filter(|e| e["imr"] == 3) {
        let mut digest = Sha384::new();
        digest.update((e["event_type"].as_u64().unwrap() as u32).to_le_bytes());
        digest.update(format!(":{}:", e["event"].as_str().unwrap()));
        digest.update(hex::decode(e["event_payload"].as_str().unwrap()).unwrap());
        let digest = digest.finalize();
        assert_eq!(hex::encode(digest), e["digest"].as_str().unwrap());
        rtmr3 = Sha384::digest([rtmr3.as_slice(), digest.as_slice()].concat()).to_vec();
    }
    assert_eq!(hex::encode(rtmr3), tcb["rtmr3"].as_str().unwrap());
    let (_, _, composition) = get(&sim, &format!("/api/v1/cvms/{}/composition", cvm.id), &key, None).await;
    let file = held["docker_compose_file"].as_str().unwrap();
    assert_eq!(composition["docker_compose_file"], file);
    assert_eq!(composition["containers"].as_array().unwrap().len(), 1, "{composition}");
    stop(&sim, &cvm.id).await;
    let (_, _, off) = get(&sim, &format!("/api/v1/cvms/{}/attestation", cvm.id), &key, None).await;
    assert_eq!(
        (off["is_online"].as_bool(), off["tcb_info"].is_null()),
        (Some(false), true),
        "{off}"
    );
    let (s, _, _) = get(&sim, "/api/v1/cvms/cvm_missing/composition", &key, None).await;
    assert_eq!(s, 404);
    sim.shutdown().await;
}

/// The app's KMS reads and the KMS's: off chain, the app's CVMs by node
/// (integer ids, then hashed from 2026-05-22), next app ids bounded.
#[tokio::test]
async fn app_and_kms_reads_follow_the_fleet_and_the_version() {
    let sim = sim(20).await;
    let key = sim.api_key().to_string();
    let mine = main_cvms(&sim);
    let app = &mine[0].app_id;
    let members: std::collections::BTreeSet<String> =
        mine.iter().filter(|c| &c.app_id == app).map(|c| c.id.clone()).collect();
    for (version, hashed) in [("2026-01-21", false), ("2026-05-22", true)] {
        let path = format!("/api/v1/apps/{app}/device-allowlist");
        let (s, _, list) = get(&sim, &path, &key, Some(version)).await;
        assert_eq!(s, 200, "{list}");
        let ids: Vec<&Value> = list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["cvm_ids"].as_array().unwrap())
            .collect();
        assert_eq!(ids.len(), members.len(), "{list}");
        assert!(ids.iter().all(|id| id.is_string() == hashed), "{version}: {list}");
        if hashed {
            let got: std::collections::BTreeSet<String> = ids.iter().map(|i| i.as_str().unwrap().to_string()).collect();
            assert_eq!(got, members);
        }
    }
    let (s, _, info) = get(&sim, &format!("/api/v1/apps/{app}/kms-info"), &key, None).await;
    assert_eq!((s, &info["is_onchain_kms"]), (StatusCode::OK, &json!(false)));
    let (s, _, _) = get(&sim, &format!("/api/v1/apps/{}/kms-info", "f".repeat(40)), &key, None).await;
    assert_eq!(s, 404);
    let (_, _, next) = get(&sim, "/api/v1/kms/phala/next_app_id?counts=3", &key, None).await;
    assert_eq!(next["app_ids"].as_array().unwrap().len(), 3, "{next}");
    let (s, _, _) = get(&sim, "/api/v1/kms/phala/next_app_id?counts=21", &key, None).await;
    assert_eq!(s, 422);
    let (s, _, _) = get(&sim, "/api/v1/kms/on-chain/moon", &key, None).await;
    assert_eq!(s, 400);
    let (s, _, _) = get(&sim, "/api/v1/kms/kms_missing/nodes", &key, None).await;
    assert_eq!(s, 404);
    sim.shutdown().await;
}

/// An update provisioned for a CVM is pending for its app until applied,
/// and its preview shows the compose the CVM runs beside the new one.
#[tokio::test]
async fn a_provisioned_update_is_pending_until_applied() {
    let sim = slow_sim(12).await;
    let key = sim.api_key().to_string();
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    let pending = format!("/api/v1/apps/{}/pending-updates", cvm.app_id);
    let (_, _, none) = get(&sim, &pending, &key, None).await;
    assert_eq!(none["items"], json!([]), "{none}");
    let body = json!({"name": "pending", "docker_compose_file": "services:\n  a:\n    image: x\n"});
    let (s, provisioned) = post(
        &sim,
        &format!("/api/v1/cvms/{}/compose_file/provision", cvm.id),
        &key,
        body,
    )
    .await;
    assert_eq!(s, 200, "{provisioned}");
    let hash = provisioned["compose_hash"].as_str().unwrap();
    let (_, _, one) = get(&sim, &pending, &key, None).await;
    assert_eq!(
        one["items"],
        json!([{"vm_uuid": cvm.vm_uuid, "compose_hash": hash, "on_chain": false, "instance_name": cvm.name}])
    );
    let preview = format!("{pending}/{}/{hash}/preview", cvm.vm_uuid);
    let (s, _, shown) = get(&sim, &preview, &key, None).await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["pending_docker_compose"], "services:\n  a:\n    image: x\n");
    assert!(
        shown["current_docker_compose"].as_str().unwrap().contains("services:"),
        "{shown}"
    );
    let (s, _, _) = get(
        &sim,
        &format!("{pending}/{}/{}/preview", cvm.vm_uuid, "0".repeat(64)),
        &key,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let resp = http()
        .patch(format!("{}/api/v1/cvms/{}/compose_file", sim.base_url(), cvm.id))
        .header("X-API-Key", &key)
        .json(&json!({"compose_hash": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let (_, _, after) = get(&sim, &pending, &key, None).await;
    assert_eq!(after["items"], json!([]), "applied: {after}");
    sim.shutdown().await;
}

/// An app's usage: one record per CVM, costs adding up, paged; bad dates
/// are 422s, a reversed range a 400. Its attestations hold each CVM's.
#[tokio::test]
async fn app_usage_and_attestations_cover_every_cvm_of_the_app() {
    let sim = slow_sim(20).await;
    let key = sim.api_key().to_string();
    let mine = main_cvms(&sim);
    let app = &mine[0].app_id;
    let count = mine.iter().filter(|c| &c.app_id == app).count();
    let (s, _, usage) = get(&sim, &format!("/api/v1/apps/{app}/usage"), &key, None).await;
    assert_eq!(s, 200, "{usage}");
    assert_eq!(usage["total"], count, "{usage}");
    let sum: f64 = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cost"].as_f64().unwrap())
        .sum();
    assert!((sum - usage["total_cost"].as_f64().unwrap()).abs() < 1e-6, "{usage}");
    let (_, _, page) = get(&sim, &format!("/api/v1/apps/{app}/usage?limit=1&offset=1"), &key, None).await;
    assert_eq!(page["usage"].as_array().unwrap().len(), 1.min(count - 1), "{page}");
    for (query, status) in [
        ("start_date=yesterday", 422),
        ("limit=0", 422),
        ("offset=-1", 422),
        ("start_date=2026-02-01&end_date=2026-01-01", 400),
    ] {
        let (s, _, body) = get(&sim, &format!("/api/v1/apps/{app}/usage?{query}"), &key, None).await;
        assert_eq!(s.as_u16(), status, "{query}: {body}");
    }
    let (_, _, attestations) = get(&sim, &format!("/api/v1/apps/{app}/attestations"), &key, None).await;
    assert_eq!(
        attestations["instances"].as_array().unwrap().len(),
        count,
        "{attestations}"
    );
    for instance in attestations["instances"].as_array().unwrap() {
        assert_eq!(
            instance["tcb_info"].is_object(),
            instance["status"] == "running",
            "{instance}"
        );
    }
    sim.shutdown().await;
}

/// An update of an app whose KMS is on chain waits for its hash (465 with
/// a commit token); `GET .../commit-update?token=` tells what it will
/// commit, with the token as the only credential. Operation status follows
/// the CVM: idle, then the operation in flight.
#[tokio::test]
async fn a_waiting_commit_can_be_read_back_and_operation_status_follows_the_cvm() {
    let sim = slow_sim(6).await;
    let key = sim.api_key().to_string();
    let compose = json!({"name": "onchain", "docker_compose_file": "services:\n  a:\n    image: x\n"});
    let body = json!({"name": "onchain", "kms": "ethereum", "compose_file": compose});
    let (s, provisioned) = post(&sim, "/api/v1/cvms/provision", &key, body).await;
    assert_eq!(s, 200, "{provisioned}");
    let commit = json!({"app_id": provisioned["app_id"], "compose_hash": provisioned["compose_hash"]});
    let (s, vm) = post(&sim, "/api/v1/cvms", &key, commit).await;
    assert_eq!(s, 200, "{vm}");
    let uuid = vm["vm_uuid"].as_str().unwrap().to_string();
    let (_, _, idle) = get(&sim, &format!("/api/v1/cvms/{uuid}/operation-status"), &key, None).await;
    assert_eq!(idle["status"], "in_progress", "a new CVM is starting: {idle}");
    assert_eq!(idle["operation"]["operation_type"], "power_on", "{idle}");
    let update = json!({"name": "onchain", "docker_compose_file": "services:\n  b:\n    image: y\n"});
    let (_, updated) = post(
        &sim,
        &format!("/api/v1/cvms/{uuid}/compose_file/provision"),
        &key,
        update,
    )
    .await;
    let hash = updated["compose_hash"].as_str().unwrap().to_string();
    let resp = http()
        .patch(format!("{}/api/v1/cvms/{uuid}/compose_file", sim.base_url()))
        .header("X-API-Key", &key)
        .json(&json!({"compose_hash": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 465);
    let body: Value = resp.json().await.unwrap();
    let token = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "commit_token")
        .map(|d| d["value"].as_str().unwrap().to_string())
        .unwrap();
    let info = http()
        .get(format!(
            "{}/api/v1/cvms/{uuid}/commit-update?token={token}",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200, "no API key needed");
    let info: Value = info.json().await.unwrap();
    assert_eq!(
        (info["compose_hash"].as_str(), info["vm_uuid"].as_str()),
        (Some(hash.as_str()), Some(uuid.as_str()))
    );
    let (s, _, _) = get(
        &sim,
        &format!("/api/v1/cvms/{uuid}/commit-update?token=nope"),
        &key,
        None,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = get(&sim, &format!("/api/v1/cvms/{uuid}/commit-update"), &key, None).await;
    assert_eq!(s, 422);
    let (_, _, pending) = get(
        &sim,
        &format!("/api/v1/apps/{}/pending-updates", vm["app_id"].as_str().unwrap()),
        &key,
        None,
    )
    .await;
    assert_eq!(pending["items"][0]["on_chain"], true, "{pending}");
    sim.shutdown().await;
}

//! A CVM's settings over real HTTP: resizing it (`PATCH .../resources`)
//! and making its logs and system information public (`PATCH .../visibility`).

use phala_cloud_sim::{CvmInfo, SimHandle, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Real time: a restart begun by a test outlasts it.
async fn sim() -> SimHandle {
    Simulator::builder()
        .cvms(30)
        .apps(5)
        .seed(8)
        .time_scale(1.0)
        .start()
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    phala_cloud_api::install_crypto_provider();
    reqwest::Client::new()
}

/// An idle CVM of the main workspace in `status`, the `n`th.
fn idle(sim: &SimHandle, status: &str, n: usize) -> CvmInfo {
    sim.cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && c.status == status && !c.in_progress)
        .nth(n)
        .unwrap()
}

async fn send(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    version: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = http()
        .request(method, format!("{}{path}", sim.base_url()))
        .header("X-API-Key", sim.api_key())
        .header("X-Phala-Version", version);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

async fn patch(sim: &SimHandle, path: &str, body: Value) -> (StatusCode, Value) {
    send(sim, reqwest::Method::PATCH, path, "2025-10-28", Some(body)).await
}

async fn detail(sim: &SimHandle, id: &str, version: &str) -> Value {
    let (s, body) = send(sim, reqwest::Method::GET, &format!("/api/v1/cvms/{id}"), version, None).await;
    assert_eq!(s, 200, "{body}");
    body
}

fn error_code(body: &Value) -> &str {
    body["detail"]["error_code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_stopped_cvm_is_resized_at_once_and_its_detail_and_listing_show_it() {
    let sim = sim().await;
    let cvm = idle(&sim, "stopped", 0);
    let before = detail(&sim, &cvm.id, "2025-10-28").await;
    let disk = before["disk_size"].as_i64().unwrap() + 20;
    let path = format!("/api/v1/cvms/{}/resources", cvm.id);
    let (s, body) = patch(&sim, &path, json!({"vcpu": 4, "memory": 8192, "disk_size": disk})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "completed", "{body}");
    assert!(body["correlation_id"].is_null(), "{body}");
    let after = detail(&sim, &cvm.id, "2025-10-28").await;
    assert_eq!(
        (&after["vcpu"], &after["memory"], &after["disk_size"]),
        (&json!(4), &json!(8192), &json!(disk))
    );
    assert_eq!(after["status"], "stopped", "no restart for a stopped CVM: {after}");
    let info = detail(&sim, &cvm.id, "2026-01-21").await;
    assert_eq!(info["resource"]["vcpu"], 4, "{info}");
    assert_eq!(info["resource"]["memory_in_gb"], 8.0, "{info}");
    assert_eq!(info["resource"]["disk_in_gb"], disk, "{info}");
    let (s, list) = send(&sim, reqwest::Method::GET, "/api/v1/cvms", "2025-10-28", None).await;
    assert_eq!(s, 200);
    let listed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["hosted"]["id"] == cvm.vm_uuid.as_str())
        .unwrap();
    assert_eq!(
        (&listed["vcpu"], &listed["disk_size"]),
        (&json!(4), &json!(disk)),
        "{listed}"
    );
    // An instance type sets vCPUs and memory; the same size again changes nothing.
    let (s, body) = patch(&sim, &path, json!({"instance_type": "tdx.large"})).await;
    assert_eq!(s, 200, "{body}");
    let sized = detail(&sim, &cvm.id, "2025-10-28").await;
    let (s, same) = patch(&sim, &path, json!({"vcpu": sized["vcpu"], "disk_size": disk})).await;
    assert_eq!(
        (s, &same["status"], &same["message"]),
        (StatusCode::OK, &json!("completed"), &json!("Nothing to change"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_running_cvm_restarts_to_take_a_resize_only_when_allowed() {
    let sim = sim().await;
    let cvm = idle(&sim, "running", 0);
    let path = format!("/api/v1/cvms/{}/resources", cvm.id);
    let before = detail(&sim, &cvm.id, "2025-10-28").await;
    let vcpu = if before["vcpu"] == 8 { 2 } else { 8 };
    for refused in [
        json!({"vcpu": vcpu}),
        json!({"vcpu": vcpu, "allow_restart": 0}),
        json!({"vcpu": vcpu, "allow_restart": false}),
    ] {
        let (s, body) = patch(&sim, &path, refused.clone()).await;
        assert_eq!(s, 400, "{refused}: {body}");
        assert_eq!(error_code(&body), "ERR-03-012", "{body}");
        assert!(
            body["detail"]["message"].as_str().unwrap().contains("allow_restart"),
            "{body}"
        );
    }
    assert_eq!(
        detail(&sim, &cvm.id, "2025-10-28").await["vcpu"],
        before["vcpu"],
        "a refusal changes nothing"
    );
    // Phala's CLI sends allow_restart as 1.
    let (s, body) = patch(
        &sim,
        &path,
        json!({"vcpu": vcpu, "memory": 2048 * vcpu, "allow_restart": 1}),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "in_progress", "{body}");
    let correlation = body["correlation_id"].as_str().unwrap().to_string();
    let after = detail(&sim, &cvm.id, "2025-10-28").await;
    assert_eq!(after["vcpu"], vcpu, "{after}");
    assert_eq!(after["in_progress"], true, "{after}");
    assert_eq!(after["status"], "stopping", "{after}");
    let ops_path = format!("/api/v1/cvms/{}/operations", cvm.id);
    let (_, ops) = send(&sim, reqwest::Method::GET, &ops_path, "2025-10-28", None).await;
    assert_eq!(ops["items"][0]["correlation_id"], correlation.as_str(), "{ops}");
    assert_eq!(ops["items"][0]["operation_type"], "restart", "{ops}");
    // Busy restarting: another resize is the structured 409.
    let (s, body) = patch(&sim, &path, json!({"vcpu": 1, "allow_restart": true})).await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(error_code(&body), phala_cloud_sim::OPERATION_IN_PROGRESS, "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_resizes_are_refused_in_the_services_shapes() {
    let sim = sim().await;
    let cvm = idle(&sim, "stopped", 1);
    let path = format!("/api/v1/cvms/{}/resources", cvm.id);
    let disk = detail(&sim, &cvm.id, "2025-10-28").await["disk_size"].as_i64().unwrap();
    let (s, body) = patch(&sim, &path, json!({"disk_size": disk - 1})).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(error_code(&body), "ERR-03-011", "{body}");
    assert!(
        body["detail"]["message"].as_str().unwrap().contains("only grow"),
        "{body}"
    );
    assert!(
        body["detail"]["request_id"].as_str().unwrap().starts_with("req_"),
        "{body}"
    );
    for (over, what) in [
        (json!({"vcpu": 33}), "vcpu"),
        (json!({"memory": 65537}), "memory"),
        (json!({"disk_size": 501}), "disk_size"),
    ] {
        let (s, body) = patch(&sim, &path, over).await;
        assert_eq!(
            (s, error_code(&body)),
            (StatusCode::BAD_REQUEST, "ERR-03-011"),
            "{body}"
        );
        assert!(body["detail"]["message"].as_str().unwrap().contains(what), "{body}");
    }
    let (s, body) = patch(&sim, &path, json!({"allow_restart": true})).await;
    assert_eq!(
        (s, error_code(&body)),
        (StatusCode::BAD_REQUEST, "ERR-03-011"),
        "nothing asked: {body}"
    );
    let (s, body) = patch(&sim, &path, json!({"instance_type": "tdx.huge"})).await;
    assert_eq!(s, 400, "{body}");
    // What the schema refuses is FastAPI's 422, pointing at the field.
    for (bad, field, kind) in [
        (json!({"vcpu": 0}), "vcpu", "greater_than_equal"),
        (json!({"memory": -1024}), "memory", "greater_than_equal"),
        (json!({"disk_size": "big"}), "disk_size", "int_type"),
        (
            json!({"vcpu": 2, "allow_restart": "sure"}),
            "allow_restart",
            "bool_type",
        ),
    ] {
        let (s, body) = patch(&sim, &path, bad.clone()).await;
        assert_eq!(s, 422, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", field]), "{body}");
        assert_eq!(body["detail"][0]["type"], kind, "{body}");
    }
    let (s, _) = patch(&sim, &path, json!([1, 2])).await;
    assert_eq!(s, 422);
    assert_eq!(
        detail(&sim, &cvm.id, "2025-10-28").await["disk_size"],
        disk,
        "nothing changed"
    );
    let (s, body) = patch(&sim, "/api/v1/cvms/cvm_missing/resources", json!({"vcpu": 2})).await;
    assert_eq!((s, error_code(&body)), (StatusCode::NOT_FOUND, "ERR-03-001"), "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn visibility_flags_round_trip_through_the_detail_in_every_version() {
    let sim = sim().await;
    let cvm = idle(&sim, "running", 1);
    let path = format!("/api/v1/cvms/{}/visibility", cvm.id);
    let flat = detail(&sim, &cvm.id, "2025-10-28").await;
    assert_eq!(
        (&flat["public_logs"], &flat["public_sysinfo"]),
        (&json!(false), &json!(false)),
        "{flat}"
    );
    let body = json!({"public_sysinfo": true, "public_logs": true});
    let (s, answer) = patch(&sim, &path, body).await;
    assert_eq!(s, 200, "{answer}");
    // The answer is the detail of that version: flat before 2026-01-21.
    assert_eq!(answer["id"], flat["id"], "{answer}");
    assert_eq!(
        (&answer["public_logs"], &answer["public_sysinfo"]),
        (&json!(true), &json!(true)),
        "{answer}"
    );
    let info = detail(&sim, &cvm.id, "2026-01-21").await;
    assert_eq!(
        (&info["public_logs"], &info["public_sysinfo"], &info["public_tcbinfo"]),
        (&json!(true), &json!(true), &json!(true)),
        "{info}"
    );
    let body = json!({"public_sysinfo": false, "public_logs": true, "public_tcbinfo": false});
    let (s, answer) = send(&sim, reqwest::Method::PATCH, &path, "2026-01-21", Some(body)).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        answer["id"],
        cvm.id.as_str(),
        "the CVMInfoDetail from 2026-01-21: {answer}"
    );
    assert_eq!(
        (
            &answer["public_logs"],
            &answer["public_sysinfo"],
            &answer["public_tcbinfo"]
        ),
        (&json!(true), &json!(false), &json!(false)),
        "{answer}"
    );
    let flat = detail(&sim, &cvm.id, "2025-10-28").await;
    assert_eq!(
        (&flat["public_logs"], &flat["public_sysinfo"]),
        (&json!(true), &json!(false)),
        "{flat}"
    );
    // Both flags are required; someone else's CVM is not found.
    let (s, body) = patch(&sim, &path, json!({"public_logs": true})).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "public_sysinfo"]), "{body}");
    assert_eq!(body["detail"][0]["type"], "missing", "{body}");
    let partner = http()
        .patch(format!("{}{path}", sim.base_url()))
        .header("X-API-Key", sim.partner_key())
        .json(&json!({"public_sysinfo": true, "public_logs": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(partner.status(), 404);
    assert_eq!(
        detail(&sim, &cvm.id, "2025-10-28").await["public_sysinfo"],
        false,
        "unchanged"
    );
    sim.shutdown().await;
}

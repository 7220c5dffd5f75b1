//! A CVM's lifecycle, listings, operations, and what the simulator answers at all.

use super::*;

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

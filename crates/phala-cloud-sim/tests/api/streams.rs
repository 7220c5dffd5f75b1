//! SSE state streams, and the faults the simulator injects.

use super::*;

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

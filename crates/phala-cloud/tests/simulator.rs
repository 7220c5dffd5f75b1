//! The facade against the in-process simulator over loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use phala_cloud::{
    ApiErrorKind, Client, Cvm, Error, KnownStatus, RetryPolicy, StateEvent, WaitAllOptions, WaitOutcome, WatchOptions,
};
use phala_cloud_sim::{Faults, SimHandle, Simulator};

fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(6)
        .with_base_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(50))
}

fn client(sim: &SimHandle) -> Client {
    client_at(sim, phala_cloud::DEFAULT_API_VERSION)
}

fn client_at(sim: &SimHandle, version: &str) -> Client {
    Client::builder()
        .base_url(format!("{}/api/v1", sim.base_url()))
        .api_key(sim.api_key())
        .api_version(version)
        .retry_policy(fast_retries())
        .build()
        .unwrap()
}

async fn sim(cvms: usize, scale: f64) -> SimHandle {
    Simulator::builder()
        .cvms(cvms)
        .apps(10)
        .seed(5)
        .time_scale(scale)
        .start()
        .await
        .unwrap()
}

fn main_cvms(sim: &SimHandle) -> Vec<phala_cloud_sim::CvmInfo> {
    sim.cvms().into_iter().filter(|c| c.in_main_workspace).collect()
}

#[tokio::test]
async fn status_many_dedups_chunks_and_merges() {
    let sim = sim(300, 100.0).await;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .status_chunk_size(40)
        .build()
        .unwrap();
    let mut uuids: Vec<String> = main_cvms(&sim).into_iter().map(|c| c.vm_uuid).collect();
    let n = uuids.len();
    uuids.extend(uuids.clone());
    uuids.push("00000000-0000-4000-a000-000000000000".into());
    let map = client.status_many(&uuids).await.unwrap();
    assert_eq!(map.len(), n, "unknown uuid absent, duplicates merged");
    assert_eq!(sim.stats().total("status_batch") as usize, (n + 1).div_ceil(40));
    assert!(client.status_many(Vec::<String>::new()).await.unwrap().is_empty());
    assert_eq!(
        sim.stats().total("status_batch") as usize,
        (n + 1).div_ceil(40),
        "empty input sends nothing"
    );
}

#[tokio::test]
async fn stop_many_of_nothing_sends_nothing() {
    let sim = sim(10, 1.0).await;
    let report = client(&sim).stop_many(Vec::<String>::new()).await;
    assert_eq!((report.total, report.requests), (0, 0));
    assert_eq!(sim.stats().total("batch_stop"), 0);
}

#[tokio::test]
async fn lists_decode_both_shapes_into_one_type() {
    let sim = sim(30, 1.0).await;
    let old = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .api_version("2025-10-28")
        .build()
        .unwrap();
    let new = client(&sim);
    let a = old.list_cvms(&Default::default()).await.unwrap();
    let b = new.list_cvms(&Default::default()).await.unwrap();
    assert_eq!(a.len(), b.len());
    assert!(matches!(a[0], Cvm::Hosted(_)) && matches!(b[0], Cvm::Info(_)));
    let mut left: Vec<_> = a
        .iter()
        .map(|c| {
            (
                c.vm_uuid().map(str::to_string),
                c.name().to_string(),
                c.app_id().map(str::to_string),
                c.status().to_string(),
            )
        })
        .collect();
    let mut right: Vec<_> = b
        .iter()
        .map(|c| {
            (
                c.vm_uuid().map(str::to_string),
                c.name().to_string(),
                c.app_id().map(str::to_string),
                c.status().to_string(),
            )
        })
        .collect();
    left.sort();
    right.sort();
    assert_eq!(left, right);
    let app = b[0].app_id().unwrap().to_string();
    let replicas = new.app_cvms(&app).await.unwrap();
    assert!(replicas.len() >= 2 && replicas.iter().all(|c| c.app_id() == Some(app.as_str())));
}

#[tokio::test]
async fn api_errors_are_typed() {
    let sim = sim(10, 1.0).await;
    let client = client(&sim);
    let e = client.cvm_state("cvm_nope").await.unwrap_err();
    let api = e.api().unwrap();
    assert_eq!(
        (api.kind(), api.error_code.as_deref()),
        (ApiErrorKind::NotFound, Some("ERR-03-001"))
    );
    assert!(api.request_id.as_deref().unwrap().starts_with("req_"));
    let e = client.app_cvms("deadbeef").await.unwrap_err();
    assert_eq!(e.kind(), Some(ApiErrorKind::NotFound));
    let bad = Client::builder()
        .base_url(sim.base_url())
        .api_key("phak_wrong")
        .build()
        .unwrap();
    assert_eq!(
        bad.list_cvms(&Default::default()).await.unwrap_err().kind(),
        Some(ApiErrorKind::Unauthorized)
    );
    // Only versions up to 2026-01-21 take the node filter; only admins may use it.
    let forbidden = client_at(&sim, "2026-01-21")
        .list_cvms(&phala_cloud::ListFilter::default().teepod_id(10))
        .await
        .unwrap_err();
    assert_eq!(forbidden.kind(), Some(ApiErrorKind::Forbidden));
    // A version the client cannot read is refused before any request; the
    // simulator refuses one it does not know as the service does (400).
    let future = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .api_version("2031-01-01")
        .build()
        .unwrap_err();
    assert!(matches!(future, Error::Config(_)), "{future:?}");
    let transport = phala_cloud_api::Transport::default()
        .api_key(sim.api_key())
        .unwrap()
        .api_version("2031-01-01")
        .unwrap();
    let raw = phala_cloud_api::Client::new(sim.base_url(), transport);
    let refused = raw.list_cvms_paginated().send().await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(400));
    assert!(matches!(
        client.cvm_state("").await.unwrap_err(),
        Error::InvalidInput(_)
    ));
    let state = client.cvm_state(&main_cvms(&sim)[0].id).await.unwrap();
    assert_eq!(state.id.map(|i| i.to_text()), Some(main_cvms(&sim)[0].id.clone()));
}

#[tokio::test]
async fn watch_state_follows_a_stop_to_complete() {
    let sim = sim(20, 200.0).await;
    let client = client(&sim);
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    client.stop_many([&cvm.id]).await;
    let events: Vec<StateEvent> = client
        .watch_state(&cvm.id, phala_cloud::KnownStatus::Stopped, WatchOptions::default())
        .map(|e| e.unwrap())
        .collect()
        .await;
    assert!(matches!(events.first(), Some(StateEvent::State(s)) if s.status == KnownStatus::Stopping));
    assert!(matches!(
        events.last(),
        Some(StateEvent::Complete { status, .. }) if *status == KnownStatus::Stopped
    ));
    let bad: Vec<_> = client
        .watch_state(
            &cvm.id,
            phala_cloud::KnownStatus::Stopped,
            WatchOptions::default().interval(2),
        )
        .collect()
        .await;
    assert!(matches!(bad.as_slice(), [Err(Error::InvalidInput(_))]));
    assert_eq!(sim.stats().total("cvm_state_sse"), 1, "invalid options send nothing");
}

#[tokio::test]
async fn watch_state_survives_a_dropped_stream() {
    let sim = sim(20, 100.0).await;
    let client = client(&sim);
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    client.stop_many([&cvm.id]).await;
    sim.set_faults(Faults::default().with_sse_drops(1.0));
    let watch = client.watch_state(
        &cvm.id,
        phala_cloud::KnownStatus::Stopped,
        WatchOptions::default().deadline(Duration::from_secs(20)),
    );
    let mut watch = std::pin::pin!(watch);
    let first = watch.next().await.unwrap().unwrap();
    assert!(matches!(first, StateEvent::State(_)));
    while sim.stats().faults.get("sse_drop").copied().unwrap_or(0) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sim.set_faults(Faults::default());
    let mut last = None;
    while let Some(e) = watch.next().await {
        last = Some(e.unwrap());
    }
    assert!(matches!(last, Some(StateEvent::Complete { .. })));
    assert!(sim.stats().total("cvm_state_sse") >= 2, "it reconnected");
}

#[tokio::test]
async fn twenty_waiters_share_five_streams_and_all_resolve() {
    let sim = sim(200, 200.0).await;
    let client = client(&sim);
    let ids: Vec<String> = main_cvms(&sim)
        .into_iter()
        .filter(|c| c.status == "running")
        .map(|c| c.id)
        .take(20)
        .collect();
    assert_eq!(ids.len(), 20);
    let report = client.stop_many(&ids).await;
    assert_eq!(report.stopped, 20);
    let waits = ids
        .iter()
        .map(|id| client.wait_for_state(id, phala_cloud::KnownStatus::Stopped, Duration::from_secs(30)));
    let results = futures::future::join_all(waits).await;
    for r in &results {
        assert_eq!(r.as_ref().unwrap().status, KnownStatus::Stopped);
    }
    let stats = sim.stats();
    assert!(stats.max_sse_peak() <= 5, "peak {}", stats.max_sse_peak());
    assert_eq!(
        stats.count("cvm_state_sse", 429),
        0,
        "the client never asks for a sixth stream"
    );
}

#[tokio::test]
async fn wait_for_state_fails_at_the_deadline_with_the_last_state() {
    let sim = sim(20, 1.0).await;
    let client = client(&sim);
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "stopped").unwrap();
    match client
        .wait_for_state(&cvm.id, phala_cloud::KnownStatus::Running, Duration::from_millis(300))
        .await
    {
        Err(Error::Deadline { last: Some(state), .. }) => assert_eq!(state.status, KnownStatus::Stopped),
        other => panic!("expected a deadline error, got {other:?}"),
    }
}

#[tokio::test]
async fn wait_all_polls_one_request_per_chunk_per_round() {
    let sim = sim(500, 100.0).await;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .status_chunk_size(100)
        .build()
        .unwrap();
    let cvms: Vec<_> = main_cvms(&sim).into_iter().filter(|c| c.status == "running").collect();
    let ids: Vec<String> = cvms.iter().map(|c| c.id.clone()).collect();
    let uuids: Vec<String> = cvms.iter().map(|c| c.vm_uuid.clone()).collect();
    client.stop_many(&ids).await;
    let before = sim.stats().total("status_batch");
    let rounds = Arc::new(Mutex::new(Vec::new()));
    let seen = rounds.clone();
    let report = client
        .wait_all(
            &uuids,
            phala_cloud::KnownStatus::Stopped,
            Duration::from_secs(30),
            WaitAllOptions::default().interval(Duration::from_millis(50)),
            move |p| seen.lock().unwrap().push(p.clone()),
        )
        .await
        .unwrap();
    assert!(
        report.all_reached(),
        "{:?}",
        report.outcomes.values().find(|o| **o != WaitOutcome::Reached)
    );
    let rounds = rounds.lock().unwrap();
    assert_eq!(rounds.last().unwrap().reached, uuids.len());
    let sent = (sim.stats().total("status_batch") - before) as usize;
    // Each round asks only about the pending ones: at most ceil(N / 100) per round.
    assert!(
        sent <= rounds.len() * uuids.len().div_ceil(100),
        "{sent} requests in {} rounds",
        rounds.len()
    );
    assert_eq!(sim.stats().total("cvm_state_sse"), 0, "no stream per CVM");
}

#[tokio::test]
async fn wait_all_ends_early_for_failed_and_unknown_cvms() {
    let sim = sim(600, 100.0).await;
    let client = client(&sim);
    let errored = main_cvms(&sim)
        .into_iter()
        .find(|c| c.status == "error")
        .expect("the fleet has an errored CVM");
    let uuids = vec![
        errored.vm_uuid.clone(),
        "00000000-0000-4000-a000-000000000000".to_string(),
    ];
    let report = client
        .wait_all(
            &uuids,
            phala_cloud::KnownStatus::Running,
            Duration::from_secs(30),
            WaitAllOptions::default().interval(Duration::from_millis(20)),
            |_| {},
        )
        .await
        .unwrap();
    assert_eq!(
        report.outcomes[&errored.vm_uuid],
        WaitOutcome::Failed { status: "error".into() }
    );
    assert_eq!(
        report.outcomes["00000000-0000-4000-a000-000000000000"],
        WaitOutcome::NotFound
    );
    assert!(report.elapsed < Duration::from_secs(30));
}

#[tokio::test]
async fn each_version_lists_with_the_filters_it_takes() {
    use phala_cloud::ListFilter;
    use phala_cloud::raw::types::ListCvmsPaginatedFamily as Family;
    let sim = sim(60, 1.0).await;
    let newer = client_at(&sim, "2026-05-22");
    let count = |filter: ListFilter| {
        let newer = newer.clone();
        async move { newer.list_cvms(&filter).await.unwrap().len() }
    };
    let total = count(ListFilter::default()).await;
    assert_eq!(total, main_cvms(&sim).len());
    assert_eq!(count(ListFilter::default().family(Family::Cpu)).await, total);
    assert_eq!(count(ListFilter::default().family(Family::All)).await, total);
    assert_eq!(
        count(ListFilter::default().family(Family::Gpu)).await,
        0,
        "the simulated fleet has no GPUs"
    );
    let sizes = ["tdx.small", "tdx.medium", "tdx.large", "tdx.xlarge"];
    let mut by_size = Vec::new();
    for size in sizes {
        by_size.push(count(ListFilter::default().instance_types([size])).await);
    }
    assert_eq!(by_size.iter().sum::<usize>(), total, "{by_size:?}");
    assert!(by_size.iter().filter(|n| **n > 0).count() >= 2, "{by_size:?}");
    // Two types: repeated keys, and the server sees both.
    assert_eq!(
        count(ListFilter::default().instance_types(sizes[..2].iter().copied())).await,
        by_size[0] + by_size[1]
    );

    // Each version refuses the other's filters before sending.
    let older = client_at(&sim, "2026-01-21");
    let err = older
        .list_cvms(&ListFilter::default().family(Family::Cpu))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("family needs API version 2026-05-22")),
        "{err:?}"
    );
    let err = newer.list_cvms(&ListFilter::default().teepod_id(1)).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput(m) if m.contains("teepod_id was removed at API version 2026-05-22")),
        "{err:?}"
    );
}

//! Streams instead of pages: the fleet listing and a CVM's operation
//! history against the simulator (and a recording server for what the
//! simulator would never send), with faults and a fleet that changes.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use phala_cloud::{Client, Error, OperationsFilter, RetryPolicy};
use phala_cloud_sim::{Faults, SimHandle, Simulator};

async fn sim(cvms: usize, scale: f64) -> SimHandle {
    Simulator::builder()
        .cvms(cvms)
        .apps(20)
        .seed(21)
        .time_scale(scale)
        .start()
        .await
        .unwrap()
}

fn client(sim: &SimHandle, version: &str) -> Client {
    Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .api_version(version)
        .concurrency(4)
        .request_timeout(Duration::from_millis(300))
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(10)
                .with_base_delay(Duration::from_millis(5))
                .with_max_delay(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

/// A CVM of the caller's workspace that is stopped with nothing in flight.
fn stopped_idle(sim: &SimHandle) -> phala_cloud_sim::CvmInfo {
    sim.cvms()
        .into_iter()
        .find(|c| c.in_main_workspace && c.status == "stopped" && !c.in_progress)
        .expect("the seeded fleet has a stopped CVM")
}

fn workspace_ids(sim: &SimHandle) -> Vec<String> {
    sim.cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace)
        .map(|c| c.id)
        .collect()
}

#[tokio::test]
async fn the_fleet_streams_page_by_page_in_order_in_both_shapes() {
    let sim = sim(1250, 1.0).await;
    let expected = workspace_ids(&sim);
    assert!(expected.len() > 900);
    let new: Vec<String> = client(&sim, phala_cloud::DEFAULT_API_VERSION)
        .cvms(&Default::default())
        .map_ok(|c| c.id().unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(new, expected, "every CVM once, in the service's order");
    let pages = expected.len().div_ceil(100) as u64;
    assert_eq!(sim.stats().total("list_cvms_paginated"), pages);
    let old = client(&sim, "2025-10-28").list_cvms(&Default::default()).await.unwrap();
    assert_eq!(old.len(), expected.len());
    assert!(old.iter().all(|c| c.vm_uuid().is_some()));
    assert_eq!(sim.stats().total("list_cvms"), 0, "the unpaginated list is not used");
}

#[tokio::test]
async fn a_listing_survives_faults_or_ends_with_the_error_never_a_gap() {
    let sim = sim(800, 1.0).await;
    let expected = workspace_ids(&sim);
    sim.set_faults(
        Faults::default()
            .with_server_errors(0.3)
            .with_drops(0.1)
            .with_truncation(0.1),
    );
    let got: Vec<String> = client(&sim, phala_cloud::DEFAULT_API_VERSION)
        .cvms(&Default::default())
        .map_ok(|c| c.id().unwrap())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(got, expected, "retried through");
    // No retries and every request failing: the first page's error, then the end.
    sim.set_faults(Faults::default().with_server_errors(1.0));
    let strict = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let items: Vec<_> = strict.cvms(&Default::default()).collect().await;
    assert!(matches!(items.as_slice(), [Err(Error::Api(_))]), "{items:?}");
    // Errors once page 1 is read: its CVMs, then the error, nothing after.
    sim.set_faults(Faults::default());
    let mut stream = std::pin::pin!(strict.cvms(&Default::default()));
    let mut seen = 0;
    while let Some(item) = stream.next().await {
        match item {
            Ok(_) => {
                seen += 1;
                if seen == 100 {
                    sim.set_faults(Faults::default().with_server_errors(1.0));
                }
            }
            Err(e) => {
                assert!(matches!(e, Error::Api(_)), "{e:?}");
                assert!(stream.next().await.is_none(), "the stream ends at its error");
                break;
            }
        }
    }
    assert!(seen >= 100 && seen < expected.len() && seen % 100 == 0, "{seen}");
}

#[tokio::test]
async fn a_fleet_that_shrinks_while_listed_yields_no_duplicate() {
    let sim = sim(600, 1.0).await;
    let before: BTreeSet<String> = workspace_ids(&sim).into_iter().collect();
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .concurrency(1)
        .build()
        .unwrap();
    let mut stream = std::pin::pin!(client.cvms(&Default::default()));
    let mut got = Vec::new();
    while let Some(cvm) = stream.try_next().await.unwrap() {
        got.push(cvm.id().unwrap());
        if got.len() == 150 {
            // 50 CVMs of pages already read go: later ones shift forward.
            for id in got.iter().take(50) {
                client.delete(id).await.unwrap();
            }
        }
    }
    let distinct: BTreeSet<&String> = got.iter().collect();
    assert_eq!(distinct.len(), got.len(), "no CVM twice");
    assert!(got.iter().all(|id| before.contains(id)));
    // What the rustdoc promises: CVMs there for the whole listing are all
    // yielded except those the deletions moved onto a page already read.
    let after: BTreeSet<String> = workspace_ids(&sim).into_iter().collect();
    let missed = after.iter().filter(|id| !distinct.contains(id)).count();
    assert!(missed <= 50, "{missed} missed");
}

#[tokio::test]
async fn operation_history_streams_across_cursors_with_filters() {
    let sim = sim(40, 1.0).await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let cvm = stopped_idle(&sim);
    // 230 operations: start, then cancel, over and over (real time: each
    // start is still in flight when it is cancelled).
    let mut correlation = Vec::new();
    for _ in 0..230 {
        client.start(&cvm.id).await.unwrap();
        let cancelled = client.cancel_operation(&cvm.id).await.unwrap();
        assert!(cancelled.cancelled);
        correlation.push(cancelled.correlation_id.unwrap());
    }
    let none = client.cancel_operation(&cvm.id).await.unwrap();
    assert!(!none.cancelled && none.correlation_id.is_none());
    client.restart(&cvm.id, false).await.unwrap();
    let all: Vec<_> = client
        .operations(&cvm.id, &Default::default())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 231);
    assert_eq!(all[0].operation_type, "restart");
    assert_eq!(all[0].status, "in_progress");
    let mut newest_first = correlation.clone();
    newest_first.reverse();
    let starts: Vec<&String> = all[1..].iter().map(|o| &o.correlation_id).collect();
    assert_eq!(
        starts,
        newest_first.iter().collect::<Vec<_>>(),
        "newest first, none lost or repeated"
    );
    assert!(
        all[1..]
            .iter()
            .all(|o| o.status == "failed" && o.error_message.is_some())
    );
    assert_eq!(sim.stats().total("cvm_operations"), 3, "231 records, 100 a request");
    let restarts: Vec<_> = client
        .operations(&cvm.id, &OperationsFilter::default().of_type("restart"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(restarts.len(), 1);
    let late = OperationsFilter::default().since(all[0].started_at);
    let recent: Vec<_> = client.operations(&cvm.id, &late).try_collect().await.unwrap();
    assert!(recent.iter().all(|o| o.started_at >= all[0].started_at) && !recent.is_empty());
}

#[tokio::test]
async fn bad_history_input_and_bad_cursors_are_typed() {
    let sim = sim(40, 1.0).await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let now = chrono::Utc::now();
    for (id, filter) in [
        (" ", OperationsFilter::default()),
        ("..", OperationsFilter::default()),
        (
            "cvm_a",
            OperationsFilter::default()
                .since(now)
                .until(now - chrono::Duration::hours(1)),
        ),
        ("cvm_a", OperationsFilter::default().of_type("")),
    ] {
        let items: Vec<_> = client.operations(id, &filter).collect().await;
        assert!(
            matches!(items.as_slice(), [Err(Error::InvalidInput(_))]),
            "{id:?} {filter:?}: {items:?}"
        );
    }
    assert!(matches!(
        client.cancel_operation(" ").await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(sim.stats().requests.values().sum::<u64>(), 0, "nothing sent");
    let missing: Vec<_> = client.operations("cvm_nope", &Default::default()).collect().await;
    assert!(
        matches!(missing.as_slice(), [Err(e)] if e.status() == Some(404)),
        "{missing:?}"
    );
    // A cursor the server does not know (expired, say) is a typed 422.
    let cvm = sim
        .cvms()
        .into_iter()
        .find(|c| c.in_main_workspace && c.status == "running")
        .unwrap();
    client.shutdown(&cvm.id).await.unwrap();
    let refused = client
        .raw()
        .get_cvm_operations()
        .cvm_id(cvm.id.as_str())
        .cursor("cur_unknown")
        .send()
        .await;
    assert!(matches!(refused, Err(phala_cloud::raw::Error::ErrorResponse(ref r)) if r.status() == 422));
}

/// A cancel is not idempotent (a second one could cancel the next
/// operation): when its answer is lost after the server applied it, the
/// facade reports the error and does not send it again, and the simulator
/// counts it applied but unanswered.
#[tokio::test]
async fn a_cancel_whose_answer_is_lost_is_not_sent_again() {
    let sim = sim(40, 1.0).await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let cvm = stopped_idle(&sim);
    // Real time: the start (20 s) is still in flight when it is cancelled.
    client.start(&cvm.id).await.unwrap();
    sim.set_faults(Faults::default().with_drops(1.0));
    let lost = client.cancel_operation(&cvm.id).await;
    sim.set_faults(Faults::default());
    assert!(matches!(lost, Err(Error::Transport { connect: false, .. })), "{lost:?}");
    let stats = sim.stats();
    let key = ("cancel".to_string(), cvm.id.clone());
    assert_eq!(stats.action_requests.get(&key), Some(&1), "sent once");
    assert_eq!(stats.actions_applied.get(&key), Some(&1));
    assert_eq!(stats.actions_applied_unanswered.get(&key), Some(&1));
    let none = client.cancel_operation(&cvm.id).await.unwrap();
    assert!(!none.cancelled, "the start was cancelled by the lost call");
}

//! The fault matrix: every fleet operation against every fault the simulator
//! injects, over loopback. Each case asserts the invariants, not a timing:
//! every id accounted for once, no id sent to the stop handler twice, never
//! more than five event streams, no hang past the deadline, errors typed.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use futures::StreamExt;
use phala_cloud::{
    Action, ActionReport, Client, Error, RetryPolicy, RollingOptions, StateEvent, StopReport, WaitAllOptions,
    WaitOutcome, WatchOptions,
};
use phala_cloud_sim::{Faults, SimHandle, Simulator};

/// A fault, and whether a client with retries is expected to get through it.
#[derive(Clone)]
struct Case {
    name: &'static str,
    faults: Faults,
    /// Faults end after this long (a burst); `None`: they last.
    burst: Option<Duration>,
    /// Reads are expected to succeed despite the fault.
    survivable: bool,
}

fn cases() -> Vec<Case> {
    let case = |name, faults, burst, survivable| Case {
        name,
        faults,
        burst,
        survivable,
    };
    vec![
        case(
            "5xx burst",
            Faults::default().with_server_errors(1.0),
            Some(Duration::from_millis(150)),
            true,
        ),
        case("5xx 20%", Faults::default().with_server_errors(0.2), None, true),
        case(
            "429 with Retry-After",
            Faults::default().with_rate_limits(0.3),
            None,
            true,
        ),
        case("dropped connections", Faults::default().with_drops(0.2), None, true),
        case("truncated bodies", Faults::default().with_truncation(0.2), None, true),
        case(
            "slow past the timeout",
            Faults::default().with_latency(Duration::from_millis(400), Duration::ZERO),
            None,
            false,
        ),
    ]
}

const REQUEST_TIMEOUT: Duration = Duration::from_millis(150);

fn client(sim: &SimHandle) -> Client {
    Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .request_timeout(REQUEST_TIMEOUT)
        .status_chunk_size(25)
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(12)
                .with_base_delay(Duration::from_millis(5))
                // Caps the simulator's `Retry-After: 1` too.
                .with_max_delay(Duration::from_millis(40))
                .with_deadline(Duration::from_secs(5)),
        )
        .build()
        .unwrap()
}

/// A fleet of running CVMs (the simulator's stops take 12 virtual seconds: 60 ms here).
async fn fleet(case: &Case) -> (SimHandle, Vec<(String, String)>) {
    let sim = Simulator::builder()
        .cvms(400)
        .apps(20)
        .seed(11)
        .time_scale(200.0)
        .start()
        .await
        .unwrap();
    let running = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && c.status == "running")
        .map(|c| (c.id, c.vm_uuid))
        .take(120)
        .collect();
    sim.set_faults(case.faults.clone());
    if let Some(burst) = case.burst {
        let handle = sim.fault_control();
        tokio::spawn(async move {
            tokio::time::sleep(burst).await;
            handle.set_faults(Faults::default());
        });
    }
    (sim, running)
}

/// Errors a caller can match on; a panic or a stringly error would not get here.
fn typed(e: &Error) -> bool {
    matches!(
        e,
        Error::Api(_) | Error::Timeout(_) | Error::Transport { .. } | Error::Decode { .. } | Error::Deadline { .. }
    )
}

/// The stop invariants: every id in exactly one bucket, none sent twice,
/// every stop applied without an answer reported as failed.
fn assert_stop_invariants(case: &str, sim: &SimHandle, ids: &[String], report: &StopReport) {
    assert_eq!(report.total, ids.len(), "{case}");
    assert!(report.is_consistent(), "{case}: {report:?}");
    let stats = sim.stats();
    assert!(
        stats.resent_stops().is_empty(),
        "{case}: resent {:?}",
        stats.resent_stops()
    );
    let failed: HashSet<&str> = report.failed.iter().map(|f| f.cvm_id.as_str()).collect();
    assert_eq!(failed.len(), report.failed.len(), "{case}: an id failed twice");
    for id in stats.stops_applied_unanswered.keys() {
        assert!(
            failed.contains(id.as_str()),
            "{case}: {id} applied unanswered but not failed"
        );
    }
    let applied: u32 = stats.stops_applied.values().sum();
    let answered = report.stopped as u32;
    assert!(answered <= applied, "{case}: more reported stopped than applied");
    for f in &report.failed {
        assert!(!f.error.to_string().is_empty(), "{case}: every failure says why");
    }
}

#[tokio::test]
async fn status_many_under_every_fault() {
    for case in cases() {
        let (sim, fleet) = fleet(&case).await;
        let uuids: Vec<String> = fleet.iter().map(|(_, u)| u.clone()).collect();
        let result = tokio::time::timeout(Duration::from_secs(20), client(&sim).status_many(&uuids))
            .await
            .unwrap_or_else(|_| panic!("{}: hung", case.name));
        match result {
            Ok(map) => {
                let got: BTreeSet<&str> = map.keys().collect();
                assert_eq!(
                    got,
                    uuids.iter().map(String::as_str).collect(),
                    "{}: every uuid answered",
                    case.name
                );
            }
            Err(e) => {
                assert!(!case.survivable, "{}: {e}", case.name);
                assert!(
                    matches!(e.last_attempt(), Error::Timeout(t) if *t == REQUEST_TIMEOUT) && e.is_timeout(),
                    "{}: {e:?}",
                    case.name
                );
                assert!(e.to_string().starts_with("timed out: "), "{}: {e}", case.name);
            }
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn stop_many_under_every_fault() {
    for case in cases() {
        let (sim, fleet) = fleet(&case).await;
        let mut ids: Vec<String> = fleet.iter().map(|(id, _)| id.clone()).collect();
        ids.push("cvm_does_not_exist".into());
        let report = tokio::time::timeout(Duration::from_secs(20), client(&sim).stop_many(&ids))
            .await
            .unwrap_or_else(|_| panic!("{}: hung", case.name));
        assert_stop_invariants(case.name, &sim, &ids, &report);
        if case.name == "slow past the timeout" {
            assert_eq!(report.failed.len(), ids.len(), "nothing answered in time");
            assert!(
                report
                    .failed
                    .iter()
                    .all(|f| f.error.is_timeout() && f.error.to_string().contains("timed out"))
            );
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn wait_all_under_every_fault() {
    for case in cases() {
        let (sim, fleet) = fleet(&case).await;
        let client = client(&sim);
        let uuids: Vec<String> = fleet.iter().map(|(_, u)| u.clone()).collect();
        // Stop with the faults off, so the wait alone meets them.
        sim.set_faults(Faults::default());
        let ids: Vec<&String> = fleet.iter().map(|(id, _)| id).collect();
        assert_eq!(client.stop_many(ids).await.stopped, fleet.len());
        sim.set_faults(case.faults.clone());
        let deadline = Duration::from_secs(if case.survivable { 10 } else { 1 });
        let opts = WaitAllOptions::default().interval(Duration::from_millis(20));
        let report = tokio::time::timeout(
            deadline + Duration::from_secs(10),
            client.wait_all(&uuids, phala_cloud::KnownStatus::Stopped, deadline, opts, |_| {}),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: hung past the deadline", case.name))
        .unwrap();
        let keys: BTreeSet<&String> = report.outcomes.keys().collect();
        assert_eq!(keys, uuids.iter().collect(), "{}: every uuid has an outcome", case.name);
        if case.survivable {
            assert!(report.all_reached(), "{}: {:?}", case.name, report.last_error);
        } else {
            assert!(
                report
                    .outcomes
                    .values()
                    .all(|o| matches!(o, WaitOutcome::TimedOut { .. }))
            );
            assert!(report.last_error.as_deref().unwrap_or_default().contains("timed out"));
        }
        assert_eq!(
            sim.stats().total("batch_stop") as usize,
            fleet.len().div_ceil(50),
            "{}: waiting stops nothing",
            case.name
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn watch_state_under_every_fault() {
    let mut cases = cases();
    cases.push(Case {
        name: "SSE cut mid-stream",
        faults: Faults::default().with_sse_drops(0.7),
        burst: None,
        survivable: true,
    });
    for case in cases {
        let (sim, fleet) = fleet(&case).await;
        let client = client(&sim);
        sim.set_faults(Faults::default());
        let watched: Vec<&String> = fleet.iter().map(|(id, _)| id).take(8).collect();
        assert_eq!(client.stop_many(&watched).await.stopped, watched.len());
        sim.set_faults(case.faults.clone());
        let deadline = Duration::from_secs(if case.survivable { 15 } else { 1 });
        let watches = watched.iter().map(|id| {
            let events = client.watch_state(
                id,
                phala_cloud::KnownStatus::Stopped,
                WatchOptions::default().deadline(deadline),
            );
            async move { events.collect::<Vec<_>>().await }
        });
        let all = tokio::time::timeout(deadline + Duration::from_secs(10), futures::future::join_all(watches))
            .await
            .unwrap_or_else(|_| panic!("{}: hung past the deadline", case.name));
        for events in all {
            let last = events.last().expect("a watch always says how it ended");
            if case.survivable {
                assert!(
                    matches!(last, Ok(StateEvent::Complete { .. })),
                    "{}: {last:?}",
                    case.name
                );
            } else {
                assert!(matches!(last, Err(Error::Deadline { .. })), "{}: {last:?}", case.name);
            }
            for e in events.iter().filter_map(|e| e.as_ref().err()) {
                assert!(typed(e), "{}: {e:?}", case.name);
            }
        }
        assert!(sim.stats().max_sse_peak() <= 5, "{}: more than five streams", case.name);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn wait_all_keeps_what_each_round_answered() {
    let case = cases().remove(0);
    let (sim, fleet) = fleet(&case).await;
    sim.set_faults(Faults::default());
    let ids: Vec<&String> = fleet.iter().map(|(id, _)| id).collect();
    let client = client(&sim);
    assert_eq!(client.stop_many(ids).await.stopped, fleet.len());
    // Half of the requests fail and nothing is retried: every round loses
    // some chunks. Their ids must wait for the next round, not count as missing.
    sim.set_faults(Faults::default().with_server_errors(0.5));
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .status_chunk_size(10)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let uuids: Vec<&String> = fleet.iter().map(|(_, u)| u).collect();
    let opts = WaitAllOptions::default()
        .interval(Duration::from_millis(20))
        .missing_rounds(1);
    let report = client
        .wait_all(
            &uuids,
            phala_cloud::KnownStatus::Stopped,
            Duration::from_secs(20),
            opts,
            |_| {},
        )
        .await
        .unwrap();
    assert!(report.all_reached(), "{:?}", report.outcomes);
    assert!(report.last_error.is_some(), "chunks did fail");
    sim.shutdown().await;
}

#[tokio::test]
async fn stop_and_wait_under_every_fault() {
    for case in cases().into_iter().filter(|c| c.survivable) {
        let (sim, fleet) = fleet(&case).await;
        let opts = WaitAllOptions::default().interval(Duration::from_millis(20));
        let (stopped, waited) = tokio::time::timeout(
            Duration::from_secs(30),
            client(&sim).stop_and_wait(fleet.iter().map(|(id, _)| id), Duration::from_secs(15), opts, |_| {}),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: hung", case.name))
        .unwrap();
        assert!(stopped.is_consistent(), "{}: {stopped:?}", case.name);
        // Chunks that failed may be sent again once their CVMs show idle;
        // a CVM whose stop was applied is never stopped a second time.
        let stats = sim.stats();
        assert!(
            stats.stops_applied.values().all(|n| *n == 1),
            "{}: a CVM was stopped twice",
            case.name
        );
        let stopped_now = sim.cvms().into_iter().filter(|c| c.status == "stopped").count();
        let reached = waited.count(|o| *o == WaitOutcome::Reached);
        assert!(reached <= stopped_now, "{}", case.name);
        let failed_ids: HashSet<&str> = stopped.failed.iter().map(|f| f.cvm_id.as_str()).collect();
        let expected = fleet.iter().filter(|(id, _)| !failed_ids.contains(id.as_str())).count();
        assert_eq!(reached, expected, "{}: every CVM not failed is stopped", case.name);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn stop_many_of_a_thousand_under_mixed_faults() {
    let sim = Simulator::builder()
        .cvms(1400)
        .apps(10)
        .seed(5)
        .time_scale(1000.0)
        .start()
        .await
        .unwrap();
    let mut ids: Vec<String> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace)
        .map(|c| c.id)
        .take(990)
        .collect();
    ids.extend((0..10).map(|i| format!("cvm_missing{i}")));
    assert_eq!(ids.len(), 1000);
    sim.set_faults(
        Faults::default()
            .with_server_errors(0.1)
            .with_drops(0.05)
            .with_truncation(0.05),
    );
    let report = client(&sim).stop_many(&ids).await;
    assert_stop_invariants("mixed faults", &sim, &ids, &report);
    let stats = sim.stats();
    assert!(stats.stops_applied.values().all(|&n| n == 1), "no CVM stopped twice");
    let failed: HashSet<&str> = report.failed.iter().map(|f| f.cvm_id.as_str()).collect();
    assert!(report.errors.iter().any(|e| e.cvm_id == "cvm_missing0") || failed.contains("cvm_missing0"));
    assert!(stats.faults.values().sum::<u64>() > 0, "faults were injected");
}

/// The fault cases for lifecycle calls: the shared ones, plus the transient
/// 409 without an error code the API sends while it settles (replayed).
fn lifecycle_cases() -> Vec<Case> {
    let mut all = cases();
    all.push(Case {
        name: "409 without error code",
        faults: Faults::default().with_conflicts(0.3),
        burst: None,
        survivable: true,
    });
    all
}

/// Faults whose every answer proves nothing was applied: a lifecycle call
/// (replayed only then) gets through them all.
fn writes_survive(case: &Case) -> bool {
    matches!(case.name, "429 with Retry-After" | "409 without error code")
}

/// The lifecycle invariants: every id once, nothing applied twice to a CVM,
/// every call applied without an answer reported as failed and flagged.
fn assert_action_invariants(case: &str, sim: &SimHandle, action: &str, ids: &[String], report: &ActionReport) {
    assert_eq!(report.total, ids.len(), "{case}/{action}");
    assert!(report.is_consistent(), "{case}/{action}: {report:?}");
    let seen: HashSet<&str> = report
        .done
        .iter()
        .map(|d| d.id.as_str())
        .chain(report.failed.iter().map(|f| f.id.as_str()))
        .collect();
    assert_eq!(seen.len(), ids.len(), "{case}/{action}: an id twice, or one lost");
    let stats = sim.stats();
    assert!(
        stats.applied_twice(action).is_empty(),
        "{case}: {action} applied twice to {:?}",
        stats.applied_twice(action)
    );
    let failed: HashSet<&str> = report.failed.iter().map(|f| f.id.as_str()).collect();
    for (a, id) in stats.actions_applied_unanswered.keys() {
        if a == action {
            assert!(
                failed.contains(id.as_str()),
                "{case}: {action} of {id} applied unanswered, not failed"
            );
            let f = report.failed.iter().find(|f| &f.id == id).unwrap();
            assert!(f.may_have_applied, "{case}: {f:?} should say it may have been applied");
        }
    }
    for f in &report.failed {
        assert!(!f.error.to_string().is_empty(), "{case}: every failure says why");
    }
}

#[tokio::test]
async fn lifecycle_many_under_every_fault() {
    for case in lifecycle_cases() {
        let (sim, _) = fleet(&case).await;
        let mine: Vec<phala_cloud_sim::CvmInfo> = sim
            .cvms()
            .into_iter()
            .filter(|c| c.in_main_workspace && !c.in_progress)
            .collect();
        let pick = |status: &str, skip: usize| -> Vec<String> {
            let mut ids: Vec<String> = mine
                .iter()
                .filter(|c| c.status == status)
                .skip(skip)
                .take(12)
                .map(|c| c.id.clone())
                .collect();
            ids.push(format!("cvm_missing_{status}_{skip}"));
            ids
        };
        let client = client(&sim);
        let calls = [
            (Action::Start, pick("stopped", 0)),
            (Action::Shutdown, pick("running", 0)),
            (Action::Restart { force: false }, pick("running", 12)),
            (Action::Delete, pick("running", 24)),
        ];
        for (action, ids) in calls {
            let report = tokio::time::timeout(Duration::from_secs(20), client.act_many(&ids, action))
                .await
                .unwrap_or_else(|_| panic!("{}: {action} hung", case.name));
            assert_action_invariants(case.name, &sim, action.name(), &ids, &report);
            let missing = report.failed.iter().find(|f| f.id.starts_with("cvm_missing")).unwrap();
            if writes_survive(&case) {
                assert_eq!(
                    report.done.len(),
                    ids.len() - 1,
                    "{}/{action}: {:?}",
                    case.name,
                    report.failed
                );
                assert_eq!(missing.status, Some(404), "{}", case.name);
            }
            if case.name == "slow past the timeout" {
                assert!(report.done.is_empty(), "nothing answered in time");
                assert!(report.failed.iter().all(|f| f.error.is_timeout() && f.may_have_applied));
            }
            for d in &report.done {
                assert!(sim.stats().applied(action.name(), &d.id) <= 1, "{}", case.name);
            }
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn rolling_restart_under_every_fault() {
    for case in lifecycle_cases() {
        let (sim, fleet) = fleet(&case).await;
        let ids: Vec<String> = fleet.iter().map(|(id, _)| id.clone()).take(9).collect();
        let opts = RollingOptions::default()
            .max_unavailable(3)
            .batch_timeout(Duration::from_secs(10))
            .wait(WaitAllOptions::default().interval(Duration::from_millis(20)));
        let mut batches = Vec::new();
        let report = tokio::time::timeout(
            Duration::from_secs(60),
            client(&sim).rolling_restart(&ids, &opts, |p| batches.push(p.clone())),
        )
        .await
        .unwrap_or_else(|_| panic!("{}: hung", case.name))
        .unwrap();
        assert!(report.is_consistent(), "{}: {report:?}", case.name);
        assert_eq!(report.total, ids.len());
        let stats = sim.stats();
        assert!(
            stats.restarting_peak <= 3,
            "{}: {} at once",
            case.name,
            stats.restarting_peak
        );
        assert!(
            stats.applied_twice("restart").is_empty(),
            "{}: a CVM restarted twice",
            case.name
        );
        assert_eq!(batches.len(), report.batches, "{}", case.name);
        // The rollout stops at the first failure: nothing after it was touched.
        if report.failed.is_empty() {
            assert!(report.untouched.is_empty(), "{}", case.name);
        } else {
            let failed_batch = report.batches;
            assert_eq!(
                report.untouched.len(),
                ids.len() - 3 * failed_batch.min(3),
                "{}",
                case.name
            );
        }
        for id in &report.untouched {
            assert_eq!(stats.applied("restart", id), 0, "{}: {id} was untouched", case.name);
        }
        for id in &report.restarted {
            assert_eq!(stats.applied("restart", id), 1, "{}: {id}", case.name);
        }
        if writes_survive(&case) {
            assert!(report.is_complete_success(), "{}: {report:?}", case.name);
        }
        sim.shutdown().await;
    }
}

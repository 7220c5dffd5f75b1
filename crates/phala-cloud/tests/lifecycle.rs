//! One CVM's lifecycle and its fleet versions, against the simulator over
//! loopback: the facade's calls go through the generated builders and come
//! back as the generated types, errors typed, reports whole.

use std::time::Duration;

use phala_cloud::{
    Action, ApiErrorKind, Client, CvmDetails, Error, KnownStatus, RetryPolicy, RollingOptions, WaitAllOptions,
};
use phala_cloud_sim::{SimHandle, Simulator};

async fn sim_at(time_scale: f64) -> SimHandle {
    Simulator::builder()
        .cvms(60)
        .apps(6)
        .seed(9)
        .time_scale(time_scale)
        .start()
        .await
        .unwrap()
}

/// Transitions in a few hundred milliseconds, for tests that wait for them.
async fn sim() -> SimHandle {
    sim_at(200.0).await
}

/// Transitions in real time (tens of seconds): a CVM made busy stays busy
/// for the whole test, whatever the machine's load.
async fn slow_sim() -> SimHandle {
    sim_at(1.0).await
}

fn client(sim: &SimHandle, version: &str) -> Client {
    Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .api_version(version)
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(5))
                .with_max_delay(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

fn idle(sim: &SimHandle, status: &str) -> Vec<phala_cloud_sim::CvmInfo> {
    sim.cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && !c.in_progress && c.status == status)
        .collect()
}

fn quick_wait() -> WaitAllOptions {
    WaitAllOptions::default().interval(Duration::from_millis(10))
}

#[tokio::test]
async fn details_come_in_either_shape_as_one_view() {
    let sim = sim().await;
    let cvm = &idle(&sim, "running")[0];
    let old = client(&sim, "2025-10-28").cvm(&cvm.vm_uuid).await.unwrap();
    let new = client(&sim, phala_cloud::DEFAULT_API_VERSION)
        .cvm(&cvm.name)
        .await
        .unwrap();
    assert!(matches!(old, CvmDetails::Basic(_)) && matches!(new, CvmDetails::Detail(_)));
    for d in [&old, &new] {
        assert_eq!(d.vm_uuid(), Some(cvm.vm_uuid.as_str()));
        assert_eq!(d.name(), cvm.name);
        assert_eq!(d.app_id(), Some(cvm.app_id.as_str()));
        assert_eq!(*d.status(), KnownStatus::Running);
        assert!(!d.in_progress() && d.vcpu().is_some() && d.node().is_some());
    }
    assert_eq!(new.id(), cvm.id);
    assert!(old.id().parse::<i64>().is_ok(), "older versions show the integer id");
    let missing = client(&sim, phala_cloud::DEFAULT_API_VERSION)
        .cvm("cvm_nope")
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), Some(ApiErrorKind::NotFound));
}

#[tokio::test]
async fn each_call_answers_with_the_record_and_a_busy_cvm_is_recognisable() {
    let sim = slow_sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let stopped = &idle(&sim, "stopped")[0];
    let vm = client.start(&stopped.id).await.unwrap();
    assert_eq!(vm.status, KnownStatus::Starting);
    assert_eq!(vm.vm_uuid.as_deref(), Some(stopped.vm_uuid.as_str()));
    // Busy starting: a restart is refused with a typed error, sent once.
    let busy = client.restart(&stopped.id, false).await.unwrap_err();
    assert!(busy.is_operation_in_progress(), "{busy:?}");
    assert_eq!(busy.kind(), Some(ApiErrorKind::OperationInProgress));
    assert!(busy.api().unwrap().error_code.is_some());
    let stats = sim.stats();
    assert_eq!(
        stats.action_requests[&("restart".to_string(), stopped.id.clone())],
        1,
        "not replayed"
    );
    assert_eq!(stats.applied("restart", &stopped.id), 0);
    // A force stop cancels the start.
    assert_eq!(client.stop(&stopped.id).await.unwrap().status, KnownStatus::Stopping);
    let running = &idle(&sim, "running")[0];
    assert_eq!(
        client.shutdown(&running.id).await.unwrap().status,
        KnownStatus::Stopping
    );
    let other = &idle(&sim, "running")[0];
    assert_eq!(
        client.restart(&other.id, true).await.unwrap().status,
        KnownStatus::Stopping
    );
    client.delete(&other.vm_uuid).await.unwrap();
    let gone = client.cvm(&other.id).await.unwrap_err();
    assert_eq!(gone.kind(), Some(ApiErrorKind::NotFound));
    assert!(client.status_many([&other.vm_uuid]).await.unwrap().is_empty());
}

#[tokio::test]
async fn fleet_calls_account_for_every_id_and_act_once() {
    let sim = slow_sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let mut ids: Vec<String> = idle(&sim, "running").into_iter().take(10).map(|c| c.id).collect();
    let busy = ids[0].clone();
    client.shutdown(&busy).await.unwrap();
    ids.extend([ids[1].clone(), "cvm_missing".into(), " ".into(), "..".into()]);
    let report = client.restart_many(&ids, false).await;
    assert_eq!(report.action, Action::Restart { force: false });
    assert_eq!(report.total, ids.len() - 1, "duplicates counted once");
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.done.len(), 9);
    let failed = |id: &str| report.failed.iter().find(|f| f.id == id).unwrap();
    assert!(failed(&busy).in_progress && !failed(&busy).may_have_applied);
    assert_eq!(failed("cvm_missing").status, Some(404));
    assert!(
        matches!(failed(" ").error, Error::InvalidInput(_)) && matches!(failed("..").error, Error::InvalidInput(_))
    );
    assert!(
        report
            .done
            .iter()
            .all(|d| d.cvm.as_ref().is_some_and(|vm| vm.status == KnownStatus::Stopping))
    );
    let stats = sim.stats();
    assert!(stats.applied_twice("restart").is_empty());
    assert_eq!(
        stats.total("restart_cvm"),
        11,
        "one request per valid id, none for the invalid ones"
    );

    let stopped: Vec<String> = idle(&sim, "stopped").into_iter().take(5).map(|c| c.id).collect();
    let started = client.start_many(&stopped).await;
    assert!(started.is_complete_success() && started.done.len() == 5);
    let deleted = client.delete_many(&stopped).await;
    assert!(deleted.is_complete_success() && deleted.done.iter().all(|d| d.cvm.is_none()));
    assert!(stopped.iter().all(|id| sim.stats().applied("delete", id) == 1));
    let again = client.delete_many(&stopped).await;
    assert!(again.failed.iter().all(|f| f.status == Some(404)) && again.failed.len() == 5);
    let none = client.shutdown_many(Vec::<String>::new()).await;
    assert!(none.is_consistent() && none.total == 0);
}

#[tokio::test]
async fn rolling_restart_keeps_to_max_unavailable_and_stops_at_the_first_failure() {
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let ids: Vec<String> = idle(&sim, "running").into_iter().take(8).map(|c| c.id).collect();
    let opts = RollingOptions::default()
        .max_unavailable(2)
        .batch_timeout(Duration::from_secs(30))
        .wait(quick_wait());
    let mut seen = Vec::new();
    let report = client
        .rolling_restart(&ids[..6], &opts, |p| seen.push((p.batch, p.restarted, p.remaining)))
        .await
        .unwrap();
    assert!(report.is_complete_success() && report.is_consistent(), "{report:?}");
    assert_eq!(report.restarted, ids[..6]);
    assert_eq!(seen, [(1, 2, 4), (2, 4, 2), (3, 6, 0)]);
    let stats = sim.stats();
    assert!(stats.restarting_peak <= 2, "never more than max_unavailable at once");
    assert!(ids[..6].iter().all(|id| stats.applied("restart", id) == 1));
    assert!(
        sim.cvms()
            .iter()
            .filter(|c| ids[..6].contains(&c.id))
            .all(|c| c.status == "running" && !c.in_progress)
    );

    // A CVM that is refused in the second batch (it is gone): batch one
    // goes, batch two fails on it (its partner still restarts and comes
    // back), the rest is untouched.
    let more: Vec<String> = idle(&sim, "running")
        .into_iter()
        .filter(|c| !ids.contains(&c.id))
        .take(6)
        .map(|c| c.id)
        .collect();
    client.delete(&more[3]).await.unwrap();
    let report = client.rolling_restart(&more, &opts, |_| {}).await.unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.restarted, more[..3]);
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].id == more[3] && report.failed[0].status == Some(404));
    assert!(!report.failed[0].may_have_applied);
    assert_eq!(report.untouched, more[4..]);
    assert_eq!(report.batches, 2);
    let stats = sim.stats();
    assert!(more[4..].iter().all(|id| stats.applied("restart", id) == 0));
    assert!(stats.restarting_peak <= 2);
}

#[tokio::test]
async fn rolling_restart_of_an_app_and_a_timeout_that_stops_the_rollout() {
    let sim = sim_at(2.0).await;
    let client = client(&sim, "2025-10-28");
    let app = idle(&sim, "running")[0].app_id.clone();
    let replicas = sim.cvms().into_iter().filter(|c| c.app_id == app).count();
    // A restart takes ~25 s here; a 50 ms batch timeout is a CVM that does
    // not come back in time, and the rollout stops after its first batch.
    let opts = RollingOptions::default()
        .batch_timeout(Duration::from_millis(50))
        .wait(quick_wait());
    let report = client.rolling_restart_app(&app, &opts, |_| {}).await.unwrap();
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!(report.total, replicas);
    assert_eq!(report.batches, 1);
    assert!(report.restarted.is_empty());
    // Restarted, then not running by the batch timeout: a typed timeout.
    let failure = &report.failed[0];
    assert!(
        matches!(&failure.error, Error::Deadline { target, .. } if target == "running"),
        "{failure:?}"
    );
    assert!(failure.error.is_timeout() && failure.may_have_applied, "{failure:?}");
    assert_eq!(report.untouched.len(), replicas - 1);
}

#[tokio::test]
async fn bad_input_is_refused_before_any_request() {
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    for id in ["", "  ", ".", "..", "a\u{7}b"] {
        for result in [
            client.start(id).await.map(|_| ()),
            client.restart(id, true).await.map(|_| ()),
            client.delete(id).await,
            client.cvm(id).await.map(|_| ()),
        ] {
            assert!(matches!(result, Err(Error::InvalidInput(_))), "{id:?}: {result:?}");
        }
    }
    for opts in [
        RollingOptions::default().max_unavailable(0),
        RollingOptions::default().batch_timeout(Duration::ZERO),
        RollingOptions::default().batch_timeout(Duration::from_secs(90_000)),
        RollingOptions::default().wait(WaitAllOptions::default().interval(Duration::ZERO)),
    ] {
        let r = client.rolling_restart(["cvm_a"], &opts, |_| {}).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{opts:?}");
        let r = client.rolling_restart_app("abc", &opts, |_| {}).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{opts:?}");
    }
    let r = client
        .rolling_restart(["cvm_a", " "], &RollingOptions::default(), |_| {})
        .await;
    assert!(matches!(r, Err(Error::InvalidInput(_))));
    assert_eq!(sim.stats().requests.values().sum::<u64>(), 0, "nothing was sent");
}

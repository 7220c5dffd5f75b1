//! Every facade call whose answer changes shape between API versions, run in
//! each version this client supports against the simulator, which answers
//! each with that version's shapes. Callers never match on a version: the
//! same assertions hold in all of them.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::TryStreamExt;
use phala_cloud::raw::types::CvmId;
use phala_cloud::raw::versions::{self, ApiVersion};
use phala_cloud::{Action, Client, KnownStatus, ListFilter, RetryPolicy, WaitAllOptions, WaitOutcome};
use phala_cloud_sim::{CvmInfo, SimHandle, Simulator};

async fn sim() -> SimHandle {
    Simulator::builder()
        .cvms(120)
        .apps(8)
        .seed(17)
        .time_scale(200.0)
        .start()
        .await
        .unwrap()
}

fn client(sim: &SimHandle, version: ApiVersion) -> Client {
    Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .api_version(version.as_str())
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(5))
                .with_max_delay(Duration::from_millis(20)),
        )
        .build()
        .unwrap()
}

/// Idle CVMs of the workspace in `status`, none handed out twice.
fn take(sim: &SimHandle, status: &str, used: &mut BTreeSet<String>, n: usize) -> Vec<CvmInfo> {
    let picked: Vec<CvmInfo> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && !c.in_progress && c.status == status && !used.contains(&c.id))
        .take(n)
        .collect();
    assert_eq!(picked.len(), n, "the simulated fleet has {n} idle {status} CVMs left");
    used.extend(picked.iter().map(|c| c.id.clone()));
    picked
}

/// The id a version shows: the hashed one from 2026-05-22 everywhere.
fn id_fits(version: ApiVersion, id: &CvmId, cvm: &CvmInfo) -> bool {
    match id {
        CvmId::String(s) => version.hashed_ids_everywhere() && s == &cvm.id,
        CvmId::Integer(_) => !version.hashed_ids_everywhere(),
    }
}

#[test]
fn the_default_is_the_newest_version() {
    assert_eq!(phala_cloud::DEFAULT_API_VERSION, "2026-06-23");
    assert_eq!(versions::supported().last(), Some(versions::DEFAULT));
}

#[tokio::test]
async fn reads_and_views_hold_in_every_version() {
    let sim = sim().await;
    let workspace: BTreeSet<(String, String, String)> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace)
        .map(|c| (c.vm_uuid, c.name, c.app_id))
        .collect();
    let running = sim
        .cvms()
        .into_iter()
        .find(|c| c.in_main_workspace && !c.in_progress && c.status == "running")
        .unwrap();
    for version in versions::supported() {
        let client = client(&sim, version);
        let v = version.as_str();

        // The list, whole and as a stream of pages, reads as one view.
        let listed = client.list_cvms(&ListFilter::default()).await.unwrap();
        let seen: BTreeSet<(String, String, String)> = listed
            .iter()
            .map(|c| {
                (
                    c.vm_uuid().unwrap().to_string(),
                    c.name().to_string(),
                    c.app_id().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(seen, workspace, "{v}");
        if version.lists_cvm_info() {
            assert!(
                listed.iter().all(|c| c.id().is_some_and(|id| id.starts_with("cvm_"))),
                "{v}"
            );
        }
        let streamed: Vec<_> = client.cvms(&ListFilter::default()).try_collect().await.unwrap();
        assert_eq!(streamed.len(), listed.len(), "{v}");

        // The detail, by hashed id, UUID and name.
        for key in [&running.id, &running.vm_uuid, &running.name] {
            let d = client.cvm(key).await.unwrap();
            assert_eq!(
                (d.vm_uuid(), d.name(), d.app_id()),
                (
                    Some(running.vm_uuid.as_str()),
                    running.name.as_str(),
                    Some(running.app_id.as_str())
                ),
                "{v}"
            );
            assert_eq!(*d.status(), KnownStatus::Running, "{v}");
            assert!(d.vcpu().is_some() && d.node().is_some(), "{v}");
            if version.lists_cvm_info() {
                assert_eq!(d.id(), running.id, "{v}");
            } else {
                assert!(d.id().parse::<i64>().is_ok(), "{v}: the integer id");
            }
        }

        // The state answer names the CVM by its hashed id in every version.
        let state = client.cvm_state(&running.vm_uuid).await.unwrap();
        assert_eq!(state.id.map(|i| i.to_text()), Some(running.id.clone()), "{v}");
        assert_eq!(state.status.to_string(), "running", "{v}");

        // An app's CVMs and the batch status.
        let replicas = client.app_cvms(&running.app_id).await.unwrap();
        assert!(
            replicas.iter().any(|c| c.vm_uuid() == Some(running.vm_uuid.as_str())),
            "{v}"
        );
        assert!(
            replicas.iter().all(|c| c.app_id() == Some(running.app_id.as_str())),
            "{v}"
        );
        let uuids: Vec<&String> = workspace.iter().map(|(u, _, _)| u).collect();
        let statuses = client.status_many(uuids).await.unwrap();
        assert_eq!(statuses.len(), workspace.len(), "{v}");
    }
}

#[tokio::test]
async fn lifecycle_and_waiting_hold_in_every_version() {
    let sim = sim().await;
    let mut used = BTreeSet::new();
    for version in versions::supported() {
        let client = client(&sim, version);
        let v = version.as_str();

        // Each call answers with the lifecycle record of its version.
        let stopped = &take(&sim, "stopped", &mut used, 1)[0];
        let record = client.start(&stopped.id).await.unwrap();
        assert!(id_fits(version, &record.id, stopped), "{v}: {:?}", record.id);
        assert_eq!(record.vm_uuid.as_deref(), Some(stopped.vm_uuid.as_str()), "{v}");
        // Waiting over the state event stream sees it through.
        let state = client
            .wait_for_state(&stopped.id, phala_cloud::KnownStatus::Running, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(state.status.to_string(), "running", "{v}");

        let [a, b, c, d] = <[CvmInfo; 4]>::try_from(take(&sim, "running", &mut used, 4)).unwrap();
        for (action, cvm) in [("stop", &a), ("shutdown", &b), ("restart", &c)] {
            let record = match action {
                "stop" => client.stop(&cvm.id).await,
                "shutdown" => client.shutdown(&cvm.id).await,
                _ => client.restart(&cvm.id, true).await,
            }
            .unwrap();
            assert!(id_fits(version, &record.id, cvm), "{v} {action}: {:?}", record.id);
            assert_eq!(record.vm_uuid.as_deref(), Some(cvm.vm_uuid.as_str()), "{v} {action}");
        }
        client.delete(&d.id).await.unwrap();

        // Fleet calls keep the records and account for every id.
        let more = take(&sim, "running", &mut used, 3);
        let ids: Vec<&String> = more.iter().map(|c| &c.id).collect();
        let report = client.act_many(ids, Action::Stop).await;
        assert!(
            report.is_consistent() && report.is_complete_success(),
            "{v}: {report:?}"
        );
        for done in &report.done {
            let cvm = more.iter().find(|c| c.id == done.id).unwrap();
            assert!(id_fits(version, &done.cvm.as_ref().unwrap().id, cvm), "{v}");
        }
        let uuids: Vec<&String> = more.iter().map(|c| &c.vm_uuid).chain([&a.vm_uuid]).collect();
        let waited = client
            .wait_all(
                uuids,
                phala_cloud::KnownStatus::Stopped,
                Duration::from_secs(60),
                WaitAllOptions::default().interval(Duration::from_millis(10)),
                |_| {},
            )
            .await
            .unwrap();
        assert!(
            waited.outcomes.values().all(|o| *o == WaitOutcome::Reached),
            "{v}: {waited:?}"
        );
    }
}

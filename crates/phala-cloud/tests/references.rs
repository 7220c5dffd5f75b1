//! Every fleet call takes a CVM by any of its names (hashed id, VM UUID,
//! app id, instance id, name) and gives the same answer for each; a
//! reference to nothing is a typed failure, never a silent absence.

use std::time::Duration;

use phala_cloud::{Client, Condition, Cvm, CvmRef, Error, KnownStatus, RetryPolicy, WaitAllOptions, WaitOutcome};
use phala_cloud_sim::{SimHandle, Simulator};

async fn sim() -> SimHandle {
    Simulator::builder()
        .cvms(40)
        .apps(40)
        .seed(21)
        .time_scale(200.0)
        .start()
        .await
        .unwrap()
}

fn client(sim: &SimHandle) -> Client {
    Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(5)))
        .build()
        .unwrap()
}

/// Running, idle CVMs that are their app's only CVM and whose name no other
/// CVM has: each of their names picks exactly them.
async fn singles(client: &Client) -> Vec<Cvm> {
    let all = client.list_cvms(&Default::default()).await.unwrap();
    let count = |f: &dyn Fn(&Cvm) -> bool| all.iter().filter(|c| f(c)).count();
    all.iter()
        .filter(|c| c.status() == &KnownStatus::Running && !c.in_progress())
        .filter(|c| count(&|o: &Cvm| o.app_id() == c.app_id()) == 1 && count(&|o: &Cvm| o.name() == c.name()) == 1)
        .filter(|c| c.instance_id().is_some())
        .cloned()
        .collect()
}

/// The five names of one CVM.
fn forms(cvm: &Cvm) -> [(&'static str, String); 5] {
    [
        ("hashed id", cvm.id().unwrap()),
        ("VM UUID", cvm.vm_uuid().unwrap().to_string()),
        ("app id", CvmRef::app(cvm.app_id().unwrap()).to_string()),
        ("instance id", cvm.instance_id().unwrap().to_string()),
        ("name", cvm.name().to_string()),
    ]
}

#[tokio::test]
async fn status_and_waits_take_every_form_and_answer_alike() {
    let sim = sim().await;
    let client = client(&sim);
    let cvm = singles(&client).await.remove(0);
    let uuid = cvm.vm_uuid().unwrap().to_string();
    for (form, reference) in forms(&cvm) {
        let map = client.status_many([&reference]).await.unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), [uuid.as_str()], "{form}");
        assert_eq!(map.get(&uuid).unwrap().status, KnownStatus::Running, "{form}");
        let waited = client
            .wait_all(
                [&reference],
                KnownStatus::Running,
                Duration::from_secs(10),
                Default::default(),
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            waited.outcomes.get(&uuid),
            Some(&WaitOutcome::Reached),
            "{form}: {waited:?}"
        );
    }
    // A `Cvm` from a listing is a reference too.
    assert_eq!(CvmRef::from(&cvm), CvmRef::Id(cvm.id().unwrap()));
    assert!(client.status_many([&cvm]).await.unwrap().contains_key(&uuid));
    sim.shutdown().await;
}

#[tokio::test]
async fn lifecycle_and_stop_take_every_form() {
    let sim = sim().await;
    let client = client(&sim);
    let cvms = singles(&client).await;
    assert!(cvms.len() >= 10, "the seed gives enough single CVMs: {}", cvms.len());
    // Each form stops its own CVM: one scheduled, nothing failed.
    for (cvm, (form, _)) in cvms[..5].iter().zip(forms(&cvms[0])) {
        let reference = forms(cvm).into_iter().find(|(f, _)| *f == form).unwrap().1;
        let report = client.stop_many([&reference]).await;
        assert!(
            report.is_consistent() && report.is_complete_success(),
            "{form}: {report:?}"
        );
        assert_eq!(
            (report.total, report.stopped + report.skipped),
            (1, 1),
            "{form}: {report:?}"
        );
    }
    // Each form restarts another one through the per-CVM lifecycle calls.
    for (cvm, (form, _)) in cvms[5..10].iter().zip(forms(&cvms[0])) {
        let reference = forms(cvm).into_iter().find(|(f, _)| *f == form).unwrap().1;
        let report = client.restart_many([&reference], false).await;
        assert!(report.is_consistent(), "{form}: {report:?}");
        assert_eq!((report.done.len(), report.failed.len()), (1, 0), "{form}: {report:?}");
    }
    // stop_and_wait takes references, not (id, uuid) pairs.
    let rest: Vec<String> = cvms[10..].iter().map(|c| c.name().to_string()).collect();
    let opts = WaitAllOptions::default().interval(Duration::from_millis(20));
    let (stopped, waited) = client
        .stop_and_wait(&rest, Duration::from_secs(20), opts, |_| {})
        .await
        .unwrap();
    assert!(stopped.is_consistent() && stopped.failed.is_empty(), "{stopped:?}");
    assert_eq!(waited.count(|o| *o == WaitOutcome::Reached), rest.len(), "{waited:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_reference_to_nothing_is_a_typed_failure() {
    let sim = sim().await;
    let client = client(&sim);
    let nothing = ["no-such-cvm", "app_ffffffffffffffffffffffffffffffffffffffff"];
    for reference in nothing {
        let e = client.status_many([reference]).await.unwrap_err();
        assert!(
            matches!(e, Error::NoSuchCvm(_)) && e.is_not_found(),
            "{reference}: {e:?}"
        );

        let report = client.stop_many([reference]).await;
        assert!(report.is_consistent(), "{report:?}");
        assert_eq!(report.failed.len(), 1, "{report:?}");
        assert_eq!(report.failed[0].cvm_id, reference);
        assert!(report.failed[0].error.is_not_found(), "{report:?}");

        let report = client.start_many([reference]).await;
        assert!(report.is_consistent() && report.done.is_empty(), "{report:?}");
        assert!(report.failed[0].error.is_not_found(), "{report:?}");

        let waited = client
            .wait_all(
                [reference],
                Condition::Settled,
                Duration::from_secs(5),
                Default::default(),
                |_| {},
            )
            .await
            .unwrap();
        assert_eq!(
            waited.outcomes.get(reference),
            Some(&WaitOutcome::NotFound),
            "{waited:?}"
        );
    }
    sim.shutdown().await;
}

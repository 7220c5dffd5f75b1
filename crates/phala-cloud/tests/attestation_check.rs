//! `AttestationCheck` against the simulator's attestations: a consistent
//! answer holds; one whose compose, event payload, RTMR3 or app id was
//! changed does not, and says what contradicts what.
#![cfg(feature = "cvms")]

use phala_cloud::raw::types::CvmAttestation;
use phala_cloud::{AttestationCheck, Client};
use phala_cloud_sim::Simulator;
use serde_json::Value;

fn tampered(att: &CvmAttestation, change: impl FnOnce(&mut Value)) -> CvmAttestation {
    let mut v = serde_json::to_value(att).unwrap();
    change(&mut v["tcb_info"]);
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn a_consistent_attestation_holds_and_every_tampering_is_named() {
    let sim = Simulator::builder().cvms(6).seed(3).start().await.unwrap();
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .build()
        .unwrap();
    let cvm = client.list_cvms(&Default::default()).await.unwrap().remove(0);
    let id = cvm.id().unwrap();
    let app = cvm.app_id().unwrap().to_string();
    let att = client.attestation(&id).await.unwrap();
    let check = AttestationCheck::of(&att, Some(&app));
    assert!(check.holds(), "{:?}", check.problems);
    assert_eq!(check.rtmr3, check.replayed_rtmr3);
    assert_eq!(check.attested_compose_hash, check.shown_compose_hash);
    assert_eq!(check.attested_app_id.as_deref(), Some(app.trim_start_matches("app_")));

    let other_compose = tampered(&att, |t| {
        let compose = t["app_compose"].as_str().unwrap().replace('}', ",\"x\":1}");
        t["app_compose"] = Value::String(compose);
    });
    let check = AttestationCheck::of(&other_compose, Some(&app));
    assert!(
        check.problems.iter().any(|p| p.contains("app compose shown hashes to")),
        "{:?}",
        check.problems
    );

    let other_payload = tampered(&att, |t| {
        let events = t["event_log"].as_array_mut().unwrap();
        let e = events.iter_mut().find(|e| e["event"] == "compose-hash").unwrap();
        e["event_payload"] = Value::String("00".repeat(32));
    });
    let problems = AttestationCheck::of(&other_payload, None).problems;
    assert!(
        problems.iter().any(|p| p.contains("not that of its name and payload")),
        "{problems:?}"
    );

    let other_rtmr = tampered(&att, |t| t["rtmr3"] = Value::String("00".repeat(48)));
    let problems = AttestationCheck::of(&other_rtmr, None).problems;
    assert!(problems.iter().any(|p| p.contains("does not replay")), "{problems:?}");

    let problems = AttestationCheck::of(&att, Some("app_0000000000000000000000000000000000000000")).problems;
    assert!(problems.iter().any(|p| p.contains("records app id")), "{problems:?}");
    sim.shutdown().await;
}

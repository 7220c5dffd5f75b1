//! Deploying against the simulator: every trust check passes on an honest
//! server, and each fault it can inject (a compose hash that is not ours,
//! an env key signed by another KMS) stops the deploy before the commit.

use std::time::Duration;

use phala_cloud::{AppCompose, Client, DeploySpec, EnvVars, Error, KmsSigner, RetryPolicy, SignerSource, TrustError};
use phala_cloud_sim::{Faults, SimHandle, Simulator};

async fn sim() -> SimHandle {
    Simulator::builder()
        .cvms(10)
        .apps(3)
        .seed(21)
        .time_scale(200.0)
        .start()
        .await
        .unwrap()
}

fn client(sim: &SimHandle, version: &str) -> Client {
    Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .api_version(version)
        .retry_policy(RetryPolicy::default().with_base_delay(Duration::from_millis(5)))
        .build()
        .unwrap()
}

const COMPOSE: &str = "services:\n  web:\n    image: nginx:1.27\n    environment:\n      - API_KEY\n";

fn spec(name: &str) -> DeploySpec {
    let env = EnvVars::parse("API_KEY=s3cr3t=value\nGREETING=héllo 🚀\n").unwrap();
    let compose = AppCompose::docker_compose(name, COMPOSE).with_allowed_envs(env.keys());
    DeploySpec::new(name, compose).env(env)
}

fn committed(sim: &SimHandle) -> u64 {
    sim.stats().total("commit_cvm")
}

#[tokio::test]
async fn a_deploy_is_checked_end_to_end_and_the_cvm_opens_its_env() {
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let before = sim.cvms().len();
    let deployed = client
        .deploy(&spec("web-app-1").wait(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(deployed.signer_source, SignerSource::KmsReported);
    assert_eq!(deployed.compose_hash, deployed.app_compose.hash());
    let key = deployed.env_key.as_ref().unwrap();
    assert_eq!(key.signer().unwrap().to_string(), sim.kms_signer());
    assert!(
        key.timestamp().is_some(),
        "the simulated KMS signs the timestamped form"
    );
    // The CVM exists, runs, and opened exactly our env.
    assert_eq!(sim.cvms().len(), before + 1);
    let uuid = deployed.cvm.vm_uuid.clone().unwrap();
    let details = client.cvm(&uuid).await.unwrap();
    assert_eq!(details.name(), "web-app-1");
    assert_eq!(details.status().to_string(), "running");
    assert_eq!(
        sim.deployed_env(&uuid).unwrap(),
        [
            ("API_KEY".to_string(), "s3cr3t=value".to_string()),
            ("GREETING".to_string(), "héllo 🚀".to_string())
        ]
    );
}

#[tokio::test]
async fn a_pinned_signer_is_used_and_older_versions_need_one() {
    let sim = sim().await;
    let pinned: KmsSigner = sim.kms_signer().parse().unwrap();
    for version in ["2025-10-28", "2026-01-21", "2026-05-22", "2026-06-23"] {
        let client = client(&sim, version);
        let name = format!("pin-{}", version.replace('-', ""));
        let deployed = client.deploy(&spec(&name).kms_signer(pinned)).await.unwrap();
        assert_eq!(deployed.signer_source, SignerSource::Pinned, "{version}");
        let unpinned = client.deploy(&spec(&format!("{name}-x"))).await;
        if client.version().kms_contract_centric() {
            assert!(unpinned.is_ok(), "{version}: {unpinned:?}");
        } else {
            let err = unpinned.unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput(m) if m.contains("reports no signer")),
                "{version}: {err:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_compose_hash_that_is_not_ours_stops_the_deploy_before_the_commit() {
    let sim = sim().await;
    sim.set_faults(Faults::default().with_wrong_compose_hash());
    let before = sim.cvms().len();
    let err = client(&sim, phala_cloud::DEFAULT_API_VERSION)
        .deploy(&spec("web-app-2"))
        .await
        .unwrap_err();
    match &err {
        Error::Trust(TrustError::ComposeHashMismatch { ours, server }) => assert_ne!(ours, server),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("it would run another compose"), "{err}");
    assert_eq!(committed(&sim), 0, "nothing committed");
    assert_eq!(sim.cvms().len(), before);
}

#[tokio::test]
async fn an_env_key_from_another_signer_is_never_sealed_to() {
    let sim = sim().await;
    sim.set_faults(Faults::default().with_foreign_kms_signer());
    for spec in [
        spec("web-app-3"),
        spec("web-app-4").kms_signer(sim.kms_signer().parse().unwrap()),
    ] {
        let err = client(&sim, phala_cloud::DEFAULT_API_VERSION)
            .deploy(&spec)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Trust(TrustError::SignerMismatch { .. })),
            "{err:?}"
        );
    }
    assert_eq!(committed(&sim), 0, "nothing committed");
    // Opting out seals to the key anyway, and says so.
    let deployed = client(&sim, phala_cloud::DEFAULT_API_VERSION)
        .deploy(&spec("web-app-5").trust_unverified_env_key())
        .await
        .unwrap();
    assert_eq!(deployed.signer_source, SignerSource::Unverified);
    assert!(deployed.env_key.unwrap().signer().is_none());
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_sent() {
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let env = EnvVars::parse("API_KEY=x\nOTHER=y\n").unwrap();
    let compose = AppCompose::docker_compose("web-app-6", COMPOSE).with_allowed_envs(["API_KEY"]);
    let cases = [
        DeploySpec::new("web-app-6", compose.clone()).env(env),
        DeploySpec::new("web", compose.clone()),
        DeploySpec::new("web-app-6", compose.with("surprise", true)),
    ];
    for spec in cases {
        let err = client.deploy(&spec).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }
    assert_eq!(sim.stats().total("provision_cvm"), 0);
}

#[tokio::test]
async fn updates_are_hash_checked_and_the_cvm_opens_the_new_env() {
    use phala_cloud::UpdateSpec;
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let deployed = client
        .deploy(&spec("web-app-7").wait(Duration::from_secs(60)))
        .await
        .unwrap();
    let uuid = deployed.cvm.vm_uuid.clone().unwrap();

    // The env only: the held compose stays, the CVM opens the new values.
    let env = EnvVars::parse("API_KEY=rotated\nGREETING=bonjour\n").unwrap();
    let updated = client
        .update(&uuid, &UpdateSpec::default().env(env).wait(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(updated.compose_hash, deployed.compose_hash, "same compose, same hash");
    assert!(updated.correlation_id.is_some());
    assert_eq!(updated.signer_source, SignerSource::KmsReported);
    assert_eq!(
        sim.deployed_env(&uuid).unwrap(),
        [
            ("API_KEY".to_string(), "rotated".to_string()),
            ("GREETING".to_string(), "bonjour".to_string())
        ]
    );

    // A new compose: its hash checked, then read back from the CVM.
    let compose = AppCompose::docker_compose("web-app-7", COMPOSE.replace("1.27", "1.28"))
        .with_allowed_envs(["API_KEY", "GREETING"]);
    let updated = client
        .update(
            &uuid,
            &UpdateSpec::default()
                .compose(compose.clone())
                .wait(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(updated.compose_hash, compose.hash());
    assert_ne!(updated.compose_hash, deployed.compose_hash);
    assert_eq!(client.compose_of(&uuid).await.unwrap().hash(), compose.hash());
    assert_eq!(sim.deployed_env(&uuid).unwrap()[0].1, "rotated", "the env is kept");

    // A server that would run another compose: refused, nothing applied.
    sim.set_faults(Faults::default().with_wrong_compose_hash());
    let other = AppCompose::docker_compose("web-app-7", COMPOSE.replace("1.27", "1.29"))
        .with_allowed_envs(["API_KEY", "GREETING"]);
    let err = client
        .update(&uuid, &UpdateSpec::default().compose(other))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Trust(TrustError::ComposeHashMismatch { .. })),
        "{err:?}"
    );
    assert_eq!(
        sim.stats().total("update_compose_file"),
        2,
        "the refused update was never applied"
    );
    assert_eq!(client.compose_of(&uuid).await.unwrap().hash(), compose.hash());
    sim.set_faults(Faults::default());

    // Bad input, refused before anything is sent.
    let sent = sim.stats().total("provision_update");
    let stray = EnvVars::parse("NOT_ALLOWED=1\n").unwrap();
    for bad in [UpdateSpec::default(), UpdateSpec::default().env(stray)] {
        let err = client.update(&uuid, &bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }
    assert_eq!(sim.stats().total("provision_update"), sent);
}

#[tokio::test]
async fn a_rolling_update_keeps_to_max_unavailable_and_accounts_for_every_id() {
    use phala_cloud::{RollingOptions, UpdateSpec, WaitAllOptions};
    let sim = Simulator::builder()
        .cvms(40)
        .apps(2)
        .seed(22)
        .time_scale(200.0)
        .start()
        .await
        .unwrap();
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let app = sim.cvms()[0].app_id.clone();
    let ids: Vec<String> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.app_id == app && c.in_main_workspace && c.status == "running" && !c.in_progress)
        .map(|c| c.id)
        .collect();
    assert!(ids.len() >= 5, "{ids:?}");
    let env = EnvVars::parse("API_KEY=v2\n").unwrap();
    let compose = AppCompose::docker_compose("replicated", COMPOSE).with_allowed_envs(env.keys());
    let spec = UpdateSpec::default().compose(compose.clone()).env(env);
    let opts = RollingOptions::default()
        .max_unavailable(2)
        .batch_timeout(Duration::from_secs(60))
        .wait(WaitAllOptions::default().interval(Duration::from_millis(10)));
    let mut batches = Vec::new();
    let report = client
        .rolling_update(&ids, &spec, &opts, |p| batches.push(p.batch))
        .await
        .unwrap();
    assert!(report.is_consistent() && report.is_complete_success(), "{report:?}");
    assert_eq!(report.restarted, ids);
    assert_eq!(batches.len(), ids.len().div_ceil(2));
    assert!(
        sim.stats().restarting_peak <= 2,
        "never more than max_unavailable at once"
    );
    for id in &ids {
        assert_eq!(
            sim.deployed_env(id).unwrap(),
            [("API_KEY".to_string(), "v2".to_string())]
        );
        assert_eq!(client.compose_of(id).await.unwrap().hash(), compose.hash());
    }
    // A spec that cannot apply is refused before any request.
    let sent = sim.stats().total("provision_update");
    let bad = UpdateSpec::default()
        .compose(compose)
        .env(EnvVars::parse("OTHER=1\n").unwrap());
    assert!(matches!(
        client.rolling_update(&ids, &bad, &opts, |_| {}).await,
        Err(Error::InvalidInput(_))
    ));
    assert_eq!(sim.stats().total("provision_update"), sent);
}

#[tokio::test]
async fn a_replica_runs_the_sources_checked_compose_and_env() {
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let deployed = client.deploy(&spec("web-app-8")).await.unwrap();
    let source = deployed.cvm.vm_uuid.clone().unwrap();
    let replica = client.replicate(&source, Some(11)).await.unwrap();
    assert_eq!(replica.compose_hash, deployed.compose_hash);
    let uuid = replica.cvm.vm_uuid.clone().unwrap();
    assert_ne!(uuid, source);
    assert_eq!(replica.cvm.app_id, deployed.app_id);
    assert_eq!(replica.cvm.teepod_id, 11);
    assert_eq!(sim.deployed_env(&uuid), sim.deployed_env(&source));
    // An unknown node is the API's 404; a bad id is refused before sending.
    let err = client.replicate(&source, Some(999)).await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");
    assert!(matches!(client.replicate("", None).await, Err(Error::InvalidInput(_))));
}

#[tokio::test]
async fn an_on_chain_kms_holds_the_update_until_the_hash_is_registered_and_committed() {
    use phala_cloud::UpdateSpec;
    use phala_cloud::raw::types::{KmsType, KnownKmsType};
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let deployed = client
        .deploy(
            &spec("web-app-9")
                .kms(KmsType::Known(KnownKmsType::Base))
                .wait(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let uuid = deployed.cvm.vm_uuid.clone().unwrap();
    let compose = AppCompose::docker_compose("web-app-9", COMPOSE.replace("1.27", "1.28"))
        .with_allowed_envs(["API_KEY", "GREETING"]);
    let err = client
        .update(&uuid, &UpdateSpec::default().compose(compose.clone()))
        .await
        .unwrap_err();
    let Error::OnChainHashRequired(pending) = err else {
        panic!("{err:?}")
    };
    assert_eq!(pending.compose_hash, compose.hash(), "the hash to register is ours");
    assert_eq!(pending.app_id, deployed.app_id);
    let token = pending.commit_token.as_ref().unwrap().expose().to_string();
    assert!(!format!("{pending:?}").contains(&token), "the token never prints");
    // Nothing applied yet.
    assert_eq!(client.compose_of(&uuid).await.unwrap().hash(), deployed.compose_hash);
    // Registered on chain (out of band), then committed with the token.
    let accepted = client.commit_update(&pending, "0xfeed").await.unwrap();
    assert_eq!(accepted.status.as_deref(), Some("in_progress"));
    assert_eq!(client.compose_of(&uuid).await.unwrap().hash(), compose.hash());
    // The token is one-time.
    let again = client.commit_update(&pending, "0xfeed").await.unwrap_err();
    assert_eq!(again.status(), Some(400), "{again:?}");
    // A hash the chain already allows applies at once.
    client
        .wait_for_state(&uuid, phala_cloud::KnownStatus::Running, Duration::from_secs(60))
        .await
        .unwrap();
    let updated = client
        .update(&uuid, &UpdateSpec::default().compose(compose.clone()))
        .await
        .unwrap();
    assert_eq!(updated.compose_hash, compose.hash());
}

#[tokio::test]
async fn a_revision_redeploys_after_its_compose_is_checked() {
    use phala_cloud::UpdateSpec;
    let sim = sim().await;
    let client = client(&sim, phala_cloud::DEFAULT_API_VERSION);
    let deployed = client
        .deploy(&spec("web-app-10").wait(Duration::from_secs(60)))
        .await
        .unwrap();
    let uuid = deployed.cvm.vm_uuid.clone().unwrap();
    let newer = AppCompose::docker_compose("web-app-10", COMPOSE.replace("1.27", "1.28"))
        .with_allowed_envs(["API_KEY", "GREETING"]);
    client
        .update(
            &uuid,
            &UpdateSpec::default()
                .compose(newer.clone())
                .wait(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    // Back to the first revision (the deploy's), from the revisions stream.
    let revisions: Vec<_> = futures::TryStreamExt::try_collect(client.app_revisions(&deployed.app_id))
        .await
        .unwrap();
    assert_eq!(revisions.len(), 2);
    let first = revisions.last().unwrap();
    assert_eq!(first.compose_hash, deployed.compose_hash.to_string());
    let redeployed = client
        .redeploy_revision(&deployed.app_id, &first.revision_id, &[])
        .await
        .unwrap();
    assert_eq!(redeployed.compose_hash, deployed.compose_hash.to_string());
    assert_eq!(redeployed.vm_uuids, std::slice::from_ref(&uuid));
    assert_eq!(client.compose_of(&uuid).await.unwrap().hash(), deployed.compose_hash);
    let missing = client
        .redeploy_revision(&deployed.app_id, "rev_nope", &[])
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404));
}

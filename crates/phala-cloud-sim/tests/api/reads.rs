//! Apps, the catalogue, the account, attestation and the deploy flow's reads.

use super::*;

/// `GET /apps` lists the workspace's apps (those with a live CVM there), a
/// page at a time, filtered by their CVMs; one app holds every CVM of it;
/// an unknown app is the service's 404; bad query values are 422s.
#[tokio::test]
async fn apps_are_listed_paged_filtered_and_found_from_the_fleet() {
    let sim = sim(40).await;
    let key = sim.api_key().to_string();
    let v = Some("2026-01-21");
    let mine = main_cvms(&sim);
    let apps: std::collections::BTreeSet<&str> = mine.iter().map(|c| c.app_id.as_str()).collect();
    let (s, _, all) = get(&sim, "/api/v1/apps?page_size=100", &key, v).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["total"], apps.len(), "{all}");
    let listed: std::collections::BTreeSet<&str> = all["dstack_apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, apps);
    let (_, _, page) = get(&sim, "/api/v1/apps?page=2&page_size=3", &key, v).await;
    assert_eq!(
        page["dstack_apps"].as_array().unwrap().len(),
        3.min(apps.len().saturating_sub(3))
    );
    assert_eq!(page["total_pages"], apps.len().div_ceil(3));
    let (_, _, none) = get(&sim, "/api/v1/apps?status=no-such-status", &key, v).await;
    assert_eq!(none["total"], 0, "{none}");
    let (_, _, found) = get(&sim, &format!("/api/v1/apps?search={}", mine[0].vm_uuid), &key, v).await;
    assert_eq!(found["dstack_apps"][0]["app_id"], mine[0].app_id.as_str(), "{found}");
    for bad in ["listed=maybe", "page=0", "page_size=101", "page=x"] {
        let (s, _, body) = get(&sim, &format!("/api/v1/apps?{bad}"), &key, v).await;
        assert_eq!(s, 422, "{bad}: {body}");
    }
    for (version, cvm_id) in [("2025-10-28", "vm_uuid"), ("2026-01-21", "id")] {
        let (s, _, app) = get(&sim, &format!("/api/v1/apps/{}", mine[0].app_id), &key, Some(version)).await;
        assert_eq!(s, 200, "{app}");
        let expected: std::collections::BTreeSet<String> = mine
            .iter()
            .filter(|c| c.app_id == mine[0].app_id)
            .map(|c| {
                if cvm_id == "id" {
                    c.id.clone()
                } else {
                    c.vm_uuid.clone()
                }
            })
            .collect();
        let got: std::collections::BTreeSet<String> = app["cvms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c[cvm_id].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, expected, "{version}");
        assert_eq!(app["cvm_count"], expected.len());
    }
    let (s, _, body) = get(&sim, &format!("/api/v1/apps/{}", "0".repeat(40)), &key, v).await;
    assert_eq!(
        (s, body["detail"]["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("ERR-02-001"))
    );
    // The partner's app is not the workspace key's to see.
    let partner = sim
        .cvms()
        .into_iter()
        .find(|c| !c.in_main_workspace && !apps.contains(c.app_id.as_str()));
    if let Some(partner) = partner {
        let (s, _, _) = get(&sim, &format!("/api/v1/apps/{}", partner.app_id), &key, v).await;
        assert_eq!(s, 404);
    }
    let (_, _, options) = get(&sim, "/api/v1/apps/filter-options", &key, v).await;
    let statuses = options["statuses"].as_array().unwrap();
    assert!(statuses.iter().any(|s| s == "running"), "{options}");
    assert!(
        options["regions"].as_array().is_some_and(|r| !r.is_empty()),
        "{options}"
    );
    sim.shutdown().await;
}

/// The KMS list, the catalog, the nodes and the account answer from the
/// simulated world, the same for a seed; unknown names are 404s, bad
/// booleans 422s.
#[tokio::test]
async fn catalog_nodes_and_account_reads_answer_from_the_simulated_world() {
    let sim = sim(20).await;
    let key = sim.api_key().to_string();
    let v = Some("2026-05-22");
    let (_, _, kms) = get(&sim, "/api/v1/kms", &key, v).await;
    assert_eq!(kms["total"], 1, "{kms}");
    let kms_id = kms["items"][0]["id"].as_str().unwrap().to_string();
    let (s, _, _) = get(&sim, &format!("/api/v1/kms/{kms_id}"), &key, v).await;
    assert_eq!(s, 200, "the listed KMS is found");
    let (_, _, onchain) = get(&sim, "/api/v1/kms?is_onchain=true", &key, v).await;
    assert_eq!(onchain["total"], 0, "{onchain}");
    let (_, _, types) = get(&sim, "/api/v1/instance-types", &key, v).await;
    let names: Vec<&str> = types["result"][0]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"tdx.small"), "{types}");
    let (s, _, _) = get(&sim, "/api/v1/instance-types/gpu", &key, v).await;
    assert_eq!(s, 404);
    let (_, _, images) = get(&sim, "/api/v1/os-images?is_dev=true", &key, v).await;
    assert!(
        images["items"].as_array().unwrap().iter().all(|i| i["is_dev"] == true),
        "{images}"
    );
    let (_, _, nodes) = get(&sim, "/api/v1/teepods/available", &key, v).await;
    let (_, _, graph) = get(&sim, "/api/v1/teepods/cvm-create-resources", &key, v).await;
    assert_eq!(nodes["nodes"], graph["nodes"], "the same nodes either way");
    assert_eq!(graph["kms_nodes"][0]["id"], kms_id.as_str());
    let (s, _, _) = get(&sim, "/api/v1/teepods/available?v03x_only=perhaps", &key, v).await;
    assert_eq!(s, 422);
    let (_, _, me) = get(&sim, "/api/v1/auth/me", &key, v).await;
    let (_, _, old_me) = get(&sim, "/api/v1/auth/me", &key, Some("2025-10-28")).await;
    assert_eq!(me["user"]["username"], old_me["username"], "{me} {old_me}");
    let (_, _, workspaces) = get(&sim, "/api/v1/workspaces", &key, v).await;
    let slugs: Vec<&str> = workspaces["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["main-team", "staging-team"], "the workspace key's two");
    assert_eq!(me["workspace"]["slug"], "main-team");
    let (s, _, _) = get(&sim, "/api/v1/workspaces/partner-team", &key, v).await;
    assert_eq!(s, 404, "not the workspace key's");
    let (_, _, quotas) = get(&sim, "/api/v1/workspaces/main-team/quotas", &key, v).await;
    let slots = &quotas["quotas"]["vm_slots"];
    assert_eq!(
        slots["limit"].as_i64().unwrap() - slots["remaining"].as_i64().unwrap(),
        main_cvms(&sim).len() as i64,
        "{quotas}"
    );
    let (_, _, again) = get(&sim, "/api/v1/teepods/available", &key, v).await;
    assert_eq!(nodes, again, "deterministic");
    sim.shutdown().await;
}

/// A running CVM's attestation holds together: the app compose it shows
/// hashes to the compose hash its event log records (the CVM's own compose
/// hash), the log names its app and instance, and RTMR3 replays from the
/// log. Its composition has a container per service of its compose.
#[tokio::test]
async fn attestation_is_internally_consistent_and_composition_follows_the_compose() {
    use sha2::{Digest, Sha256, Sha384};
    let sim = sim(12).await;
    let key = sim.api_key().to_string();
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    let (s, _, att) = get(&sim, &format!("/api/v1/cvms/{}/attestation", cvm.id), &key, None).await;
    assert_eq!(s, 200, "{att}");
    let tcb = &att["tcb_info"];
    let compose = tcb["app_compose"].as_str().unwrap();
    let hash = hex::encode(Sha256::digest(compose.as_bytes()));
    let log = tcb["event_log"].as_array().unwrap();
    let payload = |name: &str| {
        log.iter()
            .find(|e| e["event"] == name)
            .map(|e| e["event_payload"].as_str().unwrap().to_string())
    };
    assert_eq!(payload("compose-hash"), Some(hash.clone()));
    assert_eq!(payload("app-id").as_deref(), Some(cvm.app_id.as_str()));
    let (_, _, held) = get(&sim, &format!("/api/v1/cvms/{}/compose_file", cvm.id), &key, None).await;
    assert_eq!(
        serde_json::from_str::<Value>(compose).unwrap(),
        held,
        "the compose the CVM holds"
    );
    let mut rtmr3 = [0u8; 48].to_vec();
    for e in log.iter().filter(|e| e["imr"] == 3) {
        let mut digest = Sha384::new();
        digest.update((e["event_type"].as_u64().unwrap() as u32).to_le_bytes());
        digest.update(format!(":{}:", e["event"].as_str().unwrap()));
        digest.update(hex::decode(e["event_payload"].as_str().unwrap()).unwrap());
        let digest = digest.finalize();
        assert_eq!(hex::encode(digest), e["digest"].as_str().unwrap());
        rtmr3 = Sha384::digest([rtmr3.as_slice(), digest.as_slice()].concat()).to_vec();
    }
    assert_eq!(hex::encode(rtmr3), tcb["rtmr3"].as_str().unwrap());
    let (_, _, composition) = get(&sim, &format!("/api/v1/cvms/{}/composition", cvm.id), &key, None).await;
    let file = held["docker_compose_file"].as_str().unwrap();
    assert_eq!(composition["docker_compose_file"], file);
    assert_eq!(composition["containers"].as_array().unwrap().len(), 1, "{composition}");
    stop(&sim, &cvm.id).await;
    let (_, _, off) = get(&sim, &format!("/api/v1/cvms/{}/attestation", cvm.id), &key, None).await;
    assert_eq!(
        (off["is_online"].as_bool(), off["tcb_info"].is_null()),
        (Some(false), true),
        "{off}"
    );
    let (s, _, _) = get(&sim, "/api/v1/cvms/cvm_missing/composition", &key, None).await;
    assert_eq!(s, 404);
    sim.shutdown().await;
}

/// The app's KMS reads and the KMS's: off chain, the app's CVMs by node
/// (integer ids, then hashed from 2026-05-22), next app ids bounded.
#[tokio::test]
async fn app_and_kms_reads_follow_the_fleet_and_the_version() {
    let sim = sim(20).await;
    let key = sim.api_key().to_string();
    let mine = main_cvms(&sim);
    let app = &mine[0].app_id;
    let members: std::collections::BTreeSet<String> =
        mine.iter().filter(|c| &c.app_id == app).map(|c| c.id.clone()).collect();
    for (version, hashed) in [("2026-01-21", false), ("2026-05-22", true)] {
        let path = format!("/api/v1/apps/{app}/device-allowlist");
        let (s, _, list) = get(&sim, &path, &key, Some(version)).await;
        assert_eq!(s, 200, "{list}");
        let ids: Vec<&Value> = list["devices"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|d| d["cvm_ids"].as_array().unwrap())
            .collect();
        assert_eq!(ids.len(), members.len(), "{list}");
        assert!(ids.iter().all(|id| id.is_string() == hashed), "{version}: {list}");
        if hashed {
            let got: std::collections::BTreeSet<String> = ids.iter().map(|i| i.as_str().unwrap().to_string()).collect();
            assert_eq!(got, members);
        }
    }
    let (s, _, info) = get(&sim, &format!("/api/v1/apps/{app}/kms-info"), &key, None).await;
    assert_eq!((s, &info["is_onchain_kms"]), (StatusCode::OK, &json!(false)));
    let (s, _, _) = get(&sim, &format!("/api/v1/apps/{}/kms-info", "f".repeat(40)), &key, None).await;
    assert_eq!(s, 404);
    let (_, _, next) = get(&sim, "/api/v1/kms/phala/next_app_id?counts=3", &key, None).await;
    assert_eq!(next["app_ids"].as_array().unwrap().len(), 3, "{next}");
    let (s, _, _) = get(&sim, "/api/v1/kms/phala/next_app_id?counts=21", &key, None).await;
    assert_eq!(s, 422);
    let (s, _, _) = get(&sim, "/api/v1/kms/on-chain/moon", &key, None).await;
    assert_eq!(s, 400);
    let (s, _, _) = get(&sim, "/api/v1/kms/kms_missing/nodes", &key, None).await;
    assert_eq!(s, 404);
    sim.shutdown().await;
}

/// An update provisioned for a CVM is pending for its app until applied,
/// and its preview shows the compose the CVM runs beside the new one.
#[tokio::test]
async fn a_provisioned_update_is_pending_until_applied() {
    let sim = slow_sim(12).await;
    let key = sim.api_key().to_string();
    let cvm = main_cvms(&sim).into_iter().find(|c| c.status == "running").unwrap();
    let pending = format!("/api/v1/apps/{}/pending-updates", cvm.app_id);
    let (_, _, none) = get(&sim, &pending, &key, None).await;
    assert_eq!(none["items"], json!([]), "{none}");
    let body = json!({"name": "pending", "docker_compose_file": "services:\n  a:\n    image: x\n"});
    let (s, provisioned) = post(
        &sim,
        &format!("/api/v1/cvms/{}/compose_file/provision", cvm.id),
        &key,
        body,
    )
    .await;
    assert_eq!(s, 200, "{provisioned}");
    let hash = provisioned["compose_hash"].as_str().unwrap();
    let (_, _, one) = get(&sim, &pending, &key, None).await;
    assert_eq!(
        one["items"],
        json!([{"vm_uuid": cvm.vm_uuid, "compose_hash": hash, "on_chain": false, "instance_name": cvm.name}])
    );
    let preview = format!("{pending}/{}/{hash}/preview", cvm.vm_uuid);
    let (s, _, shown) = get(&sim, &preview, &key, None).await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["pending_docker_compose"], "services:\n  a:\n    image: x\n");
    assert!(
        shown["current_docker_compose"].as_str().unwrap().contains("services:"),
        "{shown}"
    );
    let (s, _, _) = get(
        &sim,
        &format!("{pending}/{}/{}/preview", cvm.vm_uuid, "0".repeat(64)),
        &key,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let resp = http()
        .patch(format!("{}/api/v1/cvms/{}/compose_file", sim.base_url(), cvm.id))
        .header("X-API-Key", &key)
        .json(&json!({"compose_hash": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let (_, _, after) = get(&sim, &pending, &key, None).await;
    assert_eq!(after["items"], json!([]), "applied: {after}");
    sim.shutdown().await;
}

/// An app's usage: one record per CVM, costs adding up, paged; bad dates
/// are 422s, a reversed range a 400. Its attestations hold each CVM's.
#[tokio::test]
async fn app_usage_and_attestations_cover_every_cvm_of_the_app() {
    let sim = slow_sim(20).await;
    let key = sim.api_key().to_string();
    let mine = main_cvms(&sim);
    let app = &mine[0].app_id;
    let count = mine.iter().filter(|c| &c.app_id == app).count();
    let (s, _, usage) = get(&sim, &format!("/api/v1/apps/{app}/usage"), &key, None).await;
    assert_eq!(s, 200, "{usage}");
    assert_eq!(usage["total"], count, "{usage}");
    let sum: f64 = usage["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cost"].as_f64().unwrap())
        .sum();
    assert!((sum - usage["total_cost"].as_f64().unwrap()).abs() < 1e-6, "{usage}");
    let (_, _, page) = get(&sim, &format!("/api/v1/apps/{app}/usage?limit=1&offset=1"), &key, None).await;
    assert_eq!(page["usage"].as_array().unwrap().len(), 1.min(count - 1), "{page}");
    for (query, status) in [
        ("start_date=yesterday", 422),
        ("limit=0", 422),
        ("offset=-1", 422),
        ("start_date=2026-02-01&end_date=2026-01-01", 400),
    ] {
        let (s, _, body) = get(&sim, &format!("/api/v1/apps/{app}/usage?{query}"), &key, None).await;
        assert_eq!(s.as_u16(), status, "{query}: {body}");
    }
    let (_, _, attestations) = get(&sim, &format!("/api/v1/apps/{app}/attestations"), &key, None).await;
    assert_eq!(
        attestations["instances"].as_array().unwrap().len(),
        count,
        "{attestations}"
    );
    for instance in attestations["instances"].as_array().unwrap() {
        assert_eq!(
            instance["tcb_info"].is_object(),
            instance["status"] == "running",
            "{instance}"
        );
    }
    sim.shutdown().await;
}

/// An update of an app whose KMS is on chain waits for its hash (465 with
/// a commit token); `GET .../commit-update?token=` tells what it will
/// commit, with the token as the only credential. Operation status follows
/// the CVM: idle, then the operation in flight.
#[tokio::test]
async fn a_waiting_commit_can_be_read_back_and_operation_status_follows_the_cvm() {
    let sim = slow_sim(6).await;
    let key = sim.api_key().to_string();
    let compose = json!({"name": "onchain", "docker_compose_file": "services:\n  a:\n    image: x\n"});
    let body = json!({"name": "onchain", "kms": "ethereum", "compose_file": compose});
    let (s, provisioned) = post(&sim, "/api/v1/cvms/provision", &key, body).await;
    assert_eq!(s, 200, "{provisioned}");
    let commit = json!({"app_id": provisioned["app_id"], "compose_hash": provisioned["compose_hash"]});
    let (s, vm) = post(&sim, "/api/v1/cvms", &key, commit).await;
    assert_eq!(s, 200, "{vm}");
    let uuid = vm["vm_uuid"].as_str().unwrap().to_string();
    let (_, _, idle) = get(&sim, &format!("/api/v1/cvms/{uuid}/operation-status"), &key, None).await;
    assert_eq!(idle["status"], "in_progress", "a new CVM is starting: {idle}");
    assert_eq!(idle["operation"]["operation_type"], "power_on", "{idle}");
    let update = json!({"name": "onchain", "docker_compose_file": "services:\n  b:\n    image: y\n"});
    let (_, updated) = post(
        &sim,
        &format!("/api/v1/cvms/{uuid}/compose_file/provision"),
        &key,
        update,
    )
    .await;
    let hash = updated["compose_hash"].as_str().unwrap().to_string();
    let resp = http()
        .patch(format!("{}/api/v1/cvms/{uuid}/compose_file", sim.base_url()))
        .header("X-API-Key", &key)
        .json(&json!({"compose_hash": hash}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 465);
    let body: Value = resp.json().await.unwrap();
    let token = body["details"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["field"] == "commit_token")
        .map(|d| d["value"].as_str().unwrap().to_string())
        .unwrap();
    let info = http()
        .get(format!(
            "{}/api/v1/cvms/{uuid}/commit-update?token={token}",
            sim.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200, "no API key needed");
    let info: Value = info.json().await.unwrap();
    assert_eq!(
        (info["compose_hash"].as_str(), info["vm_uuid"].as_str()),
        (Some(hash.as_str()), Some(uuid.as_str()))
    );
    let (s, _, _) = get(
        &sim,
        &format!("/api/v1/cvms/{uuid}/commit-update?token=nope"),
        &key,
        None,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, _) = get(&sim, &format!("/api/v1/cvms/{uuid}/commit-update"), &key, None).await;
    assert_eq!(s, 422);
    let (_, _, pending) = get(
        &sim,
        &format!("/api/v1/apps/{}/pending-updates", vm["app_id"].as_str().unwrap()),
        &key,
        None,
    )
    .await;
    assert_eq!(pending["items"][0]["on_chain"], true, "{pending}");
    sim.shutdown().await;
}

//! Every answer the simulator gives is checked against the document it
//! simulates, with the overlay applied (what the live service is known to
//! send), strictly: no field the document does not describe, no `null`
//! where the field is not nullable, every required field, the right types.
//! Phala's TypeScript SDK rejects `null` in optional string fields of the
//! state answer; this is the check that would have caught it. Each success
//! answer is also checked against the response schema the official SDKs
//! (TypeScript 0.2.9, Python 0.2.0, xtask/evidence) validate that call
//! with at that version, except where known.json records an SDK's mistake.

mod check;
mod writes;

use check::{answer_fits, check, document, same_operation, sdk_problems};
use phala_cloud_sim::Simulator;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn every_simulated_answer_fits_the_overlaid_document() {
    let doc = document();
    let sim = Simulator::builder()
        .cvms(60)
        .apps(6)
        .seed(3)
        .time_scale(50.0)
        .start()
        .await
        .unwrap();
    let mine: Vec<_> = sim.cvms().into_iter().filter(|c| c.in_main_workspace).collect();
    let pick = |status: &str, n: usize| {
        mine.iter()
            .filter(|c| c.status == status && !c.in_progress)
            .nth(n)
            .unwrap()
            .clone()
    };
    let uuids: Vec<&str> = mine.iter().map(|c| c.vm_uuid.as_str()).collect();
    let get = |template: &'static str, path: String| (Method::GET, template, path);
    let post = |template: &'static str, path: String| (Method::POST, template, path);
    let body = json!({"vm_uuids": uuids});
    for (k, version) in phala_cloud_api::versions::supported().enumerate() {
        let v = version.as_str();
        answer_fits(&sim, &doc, get("/api/v1/cvms", "/api/v1/cvms".into()), v, None).await;
        let mut pages = vec!["page=1&page_size=7", "page=3&page_size=25", "page=99"];
        if version.list_filter_accepted("family") {
            pages.extend([
                "family=cpu",
                "family=gpu",
                "instance_types=tdx.small&instance_types=tdx.large",
            ]);
        }
        for page in pages {
            let path = format!("/api/v1/cvms/paginated?{page}");
            answer_fits(&sim, &doc, get("/api/v1/cvms/paginated", path), v, None).await;
        }
        let app = format!("/api/v1/apps/{}/cvms", mine[0].app_id);
        answer_fits(&sim, &doc, get("/api/v1/apps/{app_id}/cvms", app), v, None).await;
        for cvm in [pick("running", 0), pick("stopped", 0)] {
            let path = format!("/api/v1/cvms/{}", cvm.id);
            answer_fits(&sim, &doc, get("/api/v1/cvms/{cvm_id}", path), v, None).await;
        }
        // States and statuses at rest, then in every transition.
        let status_batch = || post("/api/v1/status/batch", "/api/v1/status/batch".into());
        answer_fits(&sim, &doc, status_batch(), v, Some(body.clone())).await;
        let calls = [
            ("start", pick("stopped", 1 + k), None),
            ("stop", pick("running", 1 + 3 * k), None),
            ("shutdown", pick("running", 2 + 3 * k), None),
            ("restart", pick("running", 3 + 3 * k), Some(json!({"force": false}))),
        ];
        for (call, cvm, body) in calls {
            let template = format!("/api/v1/cvms/{{cvm_id}}/{call}");
            let template: &'static str = Box::leak(template.into_boxed_str());
            let path = format!("/api/v1/cvms/{}/{call}", cvm.id);
            answer_fits(&sim, &doc, post(template, path), v, body).await;
        }
        for cvm in &mine {
            let path = format!("/api/v1/cvms/{}/state", cvm.id);
            answer_fits(&sim, &doc, get("/api/v1/cvms/{cvm_id}/state", path), v, None).await;
        }
        answer_fits(&sim, &doc, status_batch(), v, Some(body.clone())).await;
        let ids: Vec<&str> = mine
            .iter()
            .skip(5 * k)
            .take(5)
            .map(|c| c.id.as_str())
            .chain(["cvm_missing"])
            .collect();
        let batch_stop = post("/api/v1/cvms/batch-stop", "/api/v1/cvms/batch-stop".into());
        answer_fits(&sim, &doc, batch_stop, v, Some(json!({"cvm_ids": ids}))).await;
    }
}

#[tokio::test]
async fn the_reads_fit_the_overlaid_document_in_every_version() {
    let doc = document();
    let sim = Simulator::builder().cvms(12).apps(3).seed(5).start().await.unwrap();
    let mine: Vec<_> = sim.cvms().into_iter().filter(|c| c.in_main_workspace).collect();
    let running = mine.iter().find(|c| c.status == "running").unwrap();
    let stopped = mine.iter().find(|c| c.status == "stopped").unwrap();
    for version in phala_cloud_api::versions::supported() {
        let v = version.as_str();
        for cvm in [running, stopped] {
            for read in [
                "docker-compose.yml",
                "pre-launch-script",
                "user_config",
                "network",
                "stats",
                "ports",
            ] {
                let template: &'static str = Box::leak(format!("/api/v1/cvms/{{cvm_id}}/{read}").into_boxed_str());
                let path = format!("/api/v1/cvms/{}/{read}", cvm.id);
                let answer = answer_fits(&sim, &doc, (Method::GET, template, path), v, None).await;
                if read == "docker-compose.yml" {
                    assert!(answer.as_str().unwrap().contains("services:"), "{answer}");
                }
                if read == "network" {
                    assert_eq!(answer["is_online"], cvm.status == "running", "{answer}");
                }
            }
        }
        for listing in ["/api/v1/user/ssh-keys", "/api/v1/workspace/webhooks"] {
            answer_fits(&sim, &doc, (Method::GET, listing, listing.to_string()), v, None).await;
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn webhook_answers_fit_the_overlaid_document_in_every_version() {
    let doc = document();
    let sim = Simulator::builder()
        .cvms(6)
        .seed(4)
        .time_scale(500.0)
        .start()
        .await
        .unwrap();
    let hooks = "/api/v1/workspace/webhooks";
    for version in phala_cloud_api::versions::supported() {
        let v = version.as_str();
        // Nobody listens there: its deliveries are recorded as they fail.
        let body = json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "name": "fidelity"});
        let created = answer_fits(&sim, &doc, (Method::POST, hooks, hooks.into()), v, Some(body)).await;
        let id = created["id"].as_str().unwrap();
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"), "{created}");
        let one = "/api/v1/workspace/webhooks/{webhook_id}";
        let at = |tail: &str| format!("{hooks}/{id}{tail}");
        answer_fits(&sim, &doc, (Method::GET, hooks, hooks.into()), v, None).await;
        answer_fits(&sim, &doc, (Method::GET, one, at("")), v, None).await;
        let update = json!({"name": null, "enabled": true, "events": ["cvm.stopped"]});
        answer_fits(&sim, &doc, (Method::PUT, one, at("")), v, Some(update)).await;
        for (tail, template) in [
            (
                "/reveal-secret",
                "/api/v1/workspace/webhooks/{webhook_id}/reveal-secret",
            ),
            (
                "/rotate-secret",
                "/api/v1/workspace/webhooks/{webhook_id}/rotate-secret",
            ),
        ] {
            let secret = answer_fits(&sim, &doc, (Method::POST, template, at(tail)), v, None).await;
            assert!(secret["secret"].as_str().unwrap().starts_with("whsec_"), "{secret}");
        }
        let test = "/api/v1/workspace/webhooks/{webhook_id}/test";
        let queued = answer_fits(&sim, &doc, (Method::POST, test, at("/test")), v, None).await;
        let event = queued["event_id"].as_str().unwrap();
        let resend = "/api/v1/workspace/webhooks/{webhook_id}/deliveries/{event_id}/resend";
        let path = at(&format!("/deliveries/{event}/resend"));
        answer_fits(&sim, &doc, (Method::POST, resend, path), v, None).await;
        let deliveries = "/api/v1/workspace/webhooks/{webhook_id}/deliveries";
        for query in ["", "?limit=1", "?limit=100&offset=1", "?offset=9"] {
            let path = at(&format!("/deliveries{query}"));
            answer_fits(&sim, &doc, (Method::GET, deliveries, path), v, None).await;
        }
        let stats = "/api/v1/workspace/webhooks/{webhook_id}/stats";
        answer_fits(&sim, &doc, (Method::GET, stats, at("/stats")), v, None).await;
        let gone = reqwest::Client::new()
            .delete(format!("{}{}", sim.base_url(), at("")))
            .header("X-API-Key", sim.api_key())
            .header("X-Phala-Version", v)
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), 204, "{v}");
        assert!(gone.bytes().await.unwrap().is_empty());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn deploy_answers_fit_the_overlaid_document_in_every_version() {
    let doc = document();
    // Real time: an idle CVM stays idle for the test, whatever the load.
    let sim = Simulator::builder()
        .cvms(30)
        .apps(2)
        .seed(4)
        .time_scale(1.0)
        .start()
        .await
        .unwrap();
    let post = |template: &'static str| (Method::POST, template, template.to_string());
    for (k, version) in phala_cloud_api::versions::supported().enumerate() {
        let v = version.as_str();
        let body = json!({"name": format!("fidelity-{k}"), "instance_type": "tdx.small",
                          "compose_file": {"name": format!("fidelity-{k}"), "docker_compose_file": "services: {}\n"}});
        let provisioned = answer_fits(&sim, &doc, post("/api/v1/cvms/provision"), v, Some(body)).await;
        let app_id = provisioned["app_id"].as_str().unwrap().to_string();
        let kms = provisioned["kms_id"].as_str().unwrap().to_string();
        let pubkey = (
            Method::GET,
            "/api/v1/kms/{kms_id}/pubkey/{app_id}",
            format!("/api/v1/kms/{kms}/pubkey/{app_id}"),
        );
        answer_fits(&sim, &doc, pubkey, v, None).await;
        let info = (Method::GET, "/api/v1/kms/{kms_id}", format!("/api/v1/kms/{kms}"));
        let info = answer_fits(&sim, &doc, info, v, None).await;
        assert_eq!(
            info.get("k256_pubkey").is_some(),
            version.kms_contract_centric(),
            "{v}: {info}"
        );
        let commit = json!({"app_id": app_id, "compose_hash": provisioned["compose_hash"]});
        let vm = answer_fits(&sim, &doc, post("/api/v1/cvms"), v, Some(commit)).await;
        let uuid = vm["vm_uuid"].as_str().unwrap();
        let compose = (
            Method::GET,
            "/api/v1/cvms/{cvm_id}/compose_file",
            format!("/api/v1/cvms/{uuid}/compose_file"),
        );
        answer_fits(&sim, &doc, compose, v, None).await;
        let list = (
            Method::GET,
            "/api/v1/apps/{app_id}/revisions",
            format!("/api/v1/apps/{app_id}/revisions"),
        );
        let revisions = answer_fits(&sim, &doc, list, v, None).await;
        let revision = revisions["revisions"][0]["revision_id"].as_str().unwrap().to_string();
        for raw in ["false", "true"] {
            let detail = (
                Method::GET,
                "/api/v1/apps/{app_id}/revisions/{revision_id}",
                format!("/api/v1/apps/{app_id}/revisions/{revision}?raw_compose_file={raw}"),
            );
            answer_fits(&sim, &doc, detail, v, None).await;
        }
        let replicas = (
            Method::POST,
            "/api/v1/cvms/{cvm_id}/replicas",
            format!("/api/v1/cvms/{uuid}/replicas"),
        );
        answer_fits(&sim, &doc, replicas, v, Some(json!({"node_id": 11}))).await;
        // An update of an idle running CVM: provision, then apply (202).
        let idle = sim
            .cvms()
            .into_iter()
            .filter(|c| c.in_main_workspace && c.status == "running" && !c.in_progress)
            .nth(k)
            .unwrap();
        let id = idle.id;
        let update = json!({"name": "fidelity", "docker_compose_file": "services: {x: {}}\n"});
        let template = "/api/v1/cvms/{cvm_id}/compose_file/provision";
        let path = format!("/api/v1/cvms/{id}/compose_file/provision");
        let provisioned = answer_fits(&sim, &doc, (Method::POST, template, path), v, Some(update)).await;
        let patch = json!({"compose_hash": provisioned["compose_hash"]});
        let apply = (
            Method::PATCH,
            "/api/v1/cvms/{cvm_id}/compose_file",
            format!("/api/v1/cvms/{id}/compose_file"),
        );
        let accepted = answer_fits(&sim, &doc, apply, v, Some(patch)).await;
        assert_eq!(accepted["status"], "in_progress", "{v}: {accepted}");
    }
}

/// A CVM's settings: a resize (200, a body the document leaves open) and
/// its visibility (the CVM's detail, that version's arm), in every version.
#[tokio::test]
async fn settings_answers_fit_the_overlaid_document_in_every_version() {
    let doc = document();
    // Real time: the CVMs resized stay where they are for the test.
    let sim = Simulator::builder().cvms(30).apps(3).seed(6).start().await.unwrap();
    let mine: Vec<_> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && !c.in_progress)
        .collect();
    let stopped = mine.iter().find(|c| c.status == "stopped").unwrap();
    let running: Vec<_> = mine.iter().filter(|c| c.status == "running").collect();
    let resources = "/api/v1/cvms/{cvm_id}/resources";
    let visibility = "/api/v1/cvms/{cvm_id}/visibility";
    for (k, version) in phala_cloud_api::versions::supported().enumerate() {
        let v = version.as_str();
        let path = format!("/api/v1/cvms/{}/resources", stopped.id);
        let vcpu = [1, 2, 4, 8, 16][k % 5];
        let body = json!({"vcpu": vcpu, "memory": 2048 * vcpu, "allow_restart": 0});
        let answer = answer_fits(&sim, &doc, (Method::PATCH, resources, path), v, Some(body)).await;
        assert_eq!(answer["status"], "completed", "{v}: {answer}");
        let path = format!("/api/v1/cvms/{}/resources", running[k].id);
        let body = json!({"disk_size": 100 + k, "allow_restart": true});
        let answer = answer_fits(&sim, &doc, (Method::PATCH, resources, path), v, Some(body)).await;
        assert_eq!(answer["status"], "in_progress", "{v}: {answer}");
        for cvm in [stopped, running[k]] {
            let path = format!("/api/v1/cvms/{}/visibility", cvm.id);
            let body = json!({"public_sysinfo": k % 2 == 0, "public_logs": true, "public_tcbinfo": false});
            let answer = answer_fits(&sim, &doc, (Method::PATCH, visibility, path), v, Some(body)).await;
            assert_eq!(answer["public_logs"], true, "{v}: {answer}");
        }
    }
    sim.shutdown().await;
}

#[test]
fn the_check_catches_nulls_unknown_fields_and_missing_ones() {
    let doc = document();
    let state = json!({"$ref": "#/components/schemas/CvmState"});
    let problems = |value: Value| {
        let mut p = Vec::new();
        check(&doc, &state, &value, "", &mut p);
        p
    };
    assert!(problems(json!({"status": "running", "uptime": "1h"})).is_empty());
    let null = problems(json!({"status": "running", "uptime": null}));
    assert!(
        null.iter().any(|p| p.contains("/uptime") && p.contains("null")),
        "{null:?}"
    );
    let unknown = problems(json!({"status": "running", "surprise": 1}));
    assert!(
        unknown
            .iter()
            .any(|p| p.contains("/surprise: a field the document does not describe")),
        "{unknown:?}"
    );
    let missing = problems(json!({"uptime": "1h"}));
    assert!(missing.iter().any(|p| p.contains("/status: required")), "{missing:?}");
    let status = json!({"$ref": "#/components/schemas/CvmStatus"});
    let mut p = Vec::new();
    check(&doc, &status, &json!({"vm_uuid": "u", "status": 3}), "", &mut p);
    assert!(!p.is_empty(), "a number is no status");
}

/// The apps, KMS, catalog and account reads, in every version, with and
/// without their query parameters.
#[tokio::test]
async fn app_kms_catalog_and_account_reads_fit_the_overlaid_document_in_every_version() {
    let doc = document();
    let sim = Simulator::builder().cvms(30).apps(4).seed(9).start().await.unwrap();
    let mine: Vec<_> = sim.cvms().into_iter().filter(|c| c.in_main_workspace).collect();
    let app = &mine[0].app_id;
    let get = |template: &'static str, path: String| (Method::GET, template, path);
    for version in phala_cloud_api::versions::supported() {
        let v = version.as_str();
        for query in [
            "",
            "?page=1&page_size=2",
            "?page=9",
            "?status=running&status=stopped&listed=false",
        ] {
            let apps = answer_fits(&sim, &doc, get("/api/v1/apps", format!("/api/v1/apps{query}")), v, None).await;
            assert!(apps["total"].as_u64().unwrap() >= 1, "{v}: {apps}");
        }
        let detail = get("/api/v1/apps/{app_id}", format!("/api/v1/apps/{app}"));
        let detail = answer_fits(&sim, &doc, detail, v, None).await;
        assert_eq!(detail["app_id"], *app, "{v}: {detail}");
        assert!(detail["cvm_count"].as_u64().unwrap() >= 1, "{v}: {detail}");
        let filters = "/api/v1/apps/filter-options";
        answer_fits(&sim, &doc, get(filters, filters.into()), v, None).await;
        for query in ["", "?is_onchain=false&page_size=1", "?is_onchain=true"] {
            let kms = answer_fits(&sim, &doc, get("/api/v1/kms", format!("/api/v1/kms{query}")), v, None).await;
            assert_eq!(
                kms["items"].get(0).is_some_and(|k| k.get("contract_address").is_some()),
                version.kms_contract_centric() && query != "?is_onchain=true",
                "{v}: {kms}"
            );
        }
        let catalog = [
            ("/api/v1/instance-types", "/api/v1/instance-types"),
            ("/api/v1/instance-types/{family}", "/api/v1/instance-types/cpu"),
            ("/api/v1/os-images", "/api/v1/os-images"),
            ("/api/v1/os-images", "/api/v1/os-images?is_dev=false&page=1&page_size=1"),
            ("/api/v1/teepods/available", "/api/v1/teepods/available"),
            ("/api/v1/teepods/available", "/api/v1/teepods/available?v03x_only=true"),
            (
                "/api/v1/teepods/cvm-create-resources",
                "/api/v1/teepods/cvm-create-resources",
            ),
            ("/api/v1/auth/me", "/api/v1/auth/me"),
            ("/api/v1/workspaces", "/api/v1/workspaces"),
            ("/api/v1/workspaces/{team_slug}", "/api/v1/workspaces/main-team"),
            (
                "/api/v1/workspaces/{team_slug}/nodes",
                "/api/v1/workspaces/main-team/nodes?page_size=3",
            ),
            (
                "/api/v1/workspaces/{team_slug}/quotas",
                "/api/v1/workspaces/main-team/quotas",
            ),
        ];
        for (template, path) in catalog {
            answer_fits(&sim, &doc, get(template, path.to_string()), v, None).await;
        }
        let more = [
            ("/api/v1/apps/{app_id}/kms-info", format!("/api/v1/apps/{app}/kms-info")),
            (
                "/api/v1/apps/{app_id}/device-allowlist",
                format!("/api/v1/apps/{app}/device-allowlist"),
            ),
            (
                "/api/v1/kms/{kms_id}/nodes",
                "/api/v1/kms/kms_phalaprod/nodes".to_string(),
            ),
            ("/api/v1/kms/on-chain/{chain}", "/api/v1/kms/on-chain/base".to_string()),
            (
                "/api/v1/kms/{kms_id}/info",
                "/api/v1/kms/kms_phalaprod/info".to_string(),
            ),
            ("/api/v1/attestations/nodes", "/api/v1/attestations/nodes".to_string()),
            (
                "/api/v1/apps/{app_id}/attestations/tcb-evaluation",
                format!("/api/v1/apps/{app}/attestations/tcb-evaluation"),
            ),
            (
                "/api/v1/apps/{app_id}/attestations",
                format!("/api/v1/apps/{app}/attestations"),
            ),
            ("/api/v1/apps/{app_id}/usage", format!("/api/v1/apps/{app}/usage")),
            (
                "/api/v1/apps/{app_id}/usage",
                format!(
                    "/api/v1/apps/{app}/usage?start_date=2026-01-01&end_date=2026-12-31T00:00:00Z&limit=2&offset=1"
                ),
            ),
            (
                "/api/v1/apps/{app_id}/pending-updates",
                format!("/api/v1/apps/{app}/pending-updates"),
            ),
            ("/api/v1/attestations/ppids", "/api/v1/attestations/ppids".to_string()),
            (
                "/api/v1/attestations/device_ids",
                "/api/v1/attestations/device_ids".to_string(),
            ),
            (
                "/api/v1/attestations/recent",
                "/api/v1/attestations/recent?limit=5".to_string(),
            ),
        ];
        for (template, path) in more {
            answer_fits(&sim, &doc, get(template, path), v, None).await;
        }
        // A CVM's reads, running and not.
        let running = mine.iter().find(|c| c.status == "running").unwrap();
        // Stopped or failed: neither changes by itself.
        let offline = mine
            .iter()
            .find(|c| c.status == "stopped" || c.status == "error")
            .unwrap();
        for cvm in [running, offline] {
            for read in [
                "attestation",
                "composition",
                "available-os-images",
                "firewall-status",
                "network-config",
                "operation-status",
            ] {
                let template: &'static str = Box::leak(format!("/api/v1/cvms/{{cvm_id}}/{read}").into_boxed_str());
                let path = format!("/api/v1/cvms/{}/{read}", cvm.id);
                let answer = answer_fits(&sim, &doc, get(template, path), v, None).await;
                if read == "attestation" || read == "composition" {
                    assert_eq!(answer["is_online"], cvm.status == "running", "{v} {read}: {answer}");
                }
            }
        }
    }
    sim.shutdown().await;
}

/// The SDK check is not vacuous: an answer missing what TypeScript
/// requires is refused, a field neither SDK models is not.
#[test]
fn the_sdk_check_finds_each_sdks_schema_and_refuses_what_it_would() {
    let quotas = "/api/v1/workspaces/{team_slug}/quotas";
    let refused = sdk_problems("GET", quotas, "2026-01-21", &json!({"team_slug": "main-team"}));
    assert!(refused.iter().any(|p| p.contains("@phala/cloud")), "{refused:?}");
    let me = json!({"username": "alice", "email": "a@example.com", "credits": 1.0, "granted_credits": 0.0,
                    "avatar": "", "team_name": "main", "team_tier": "pro", "surprise": true});
    assert_eq!(
        sdk_problems("GET", "/api/v1/auth/me", "2025-10-28", &me),
        Vec::<String>::new()
    );
    assert!(same_operation("/api/v1/apps/{app_id}", "/apps/{id}"));
    assert!(!same_operation("/api/v1/apps/{app_id}", "/apps/filter-options"));
}

//! The writes served from issue 28's last round (SSH keys, a CVM's
//! configuration, is-allowed checks, compose edits, new instances and
//! replicas, the older deploys, quote verification, device login): each
//! answer checked against the overlaid document (and the official SDKs'
//! schemas, `SDK_HELD`) in every API version, and each write read back.

use phala_cloud_sim::{CvmInfo, SimHandle, Simulator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::check::{answer_fits, document, request_fits};

/// A simulator in real time: CVMs an update restarts stay busy for the test.
async fn sim(seed: u64) -> SimHandle {
    Simulator::builder().cvms(80).apps(4).seed(seed).start().await.unwrap()
}

/// The main workspace's idle CVMs in `status`, in fleet order.
fn idle(sim: &SimHandle, status: &str) -> Vec<CvmInfo> {
    sim.cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && !c.in_progress && c.status == status)
        .collect()
}

fn versions() -> impl Iterator<Item = &'static str> {
    phala_cloud_api::versions::supported().map(|v| v.as_str())
}

fn op(method: Method, template: &'static str, path: impl Into<String>) -> (Method, &'static str, String) {
    (method, template, path.into())
}

#[tokio::test]
async fn ssh_keys_are_added_imported_synced_and_deleted() {
    let doc = document();
    let sim = sim(11).await;
    let keys = "/api/v1/user/ssh-keys";
    // An ed25519 key as ssh-keygen writes it.
    let line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@laptop";
    for (k, v) in versions().enumerate() {
        let created = answer_fits(
            &sim,
            &doc,
            op(Method::POST, keys, keys),
            v,
            Some(json!({"name": format!("laptop {k}"), "public_key": line})),
        )
        .await;
        assert_eq!(created["key_type"], "ed25519", "{v}: {created}");
        assert!(
            created["fingerprint"].as_str().unwrap().starts_with("SHA256:"),
            "{created}"
        );
        // The same key again, and a line that is no key: 400.
        let again = answer_fits(
            &sim,
            &doc,
            op(Method::POST, keys, keys),
            v,
            Some(json!({"name": "dup", "public_key": line})),
        )
        .await;
        assert!(
            again["detail"]["message"].as_str().unwrap().contains("already"),
            "{again}"
        );
        let bad = answer_fits(
            &sim,
            &doc,
            op(Method::POST, keys, keys),
            v,
            Some(json!({"name": "x", "public_key": "ssh-ed25519 nope"})),
        )
        .await;
        assert!(
            bad["detail"]["message"]
                .as_str()
                .unwrap()
                .contains("Invalid SSH public key"),
            "{bad}"
        );
        let import = "/api/v1/user/ssh-keys/github-profile";
        let imported = answer_fits(
            &sim,
            &doc,
            op(Method::POST, import, import),
            v,
            Some(json!({"github_username": "octocat"})),
        )
        .await;
        let expected_added = if k == 0 { 2 } else { 0 };
        assert_eq!(imported["keys_added"], expected_added, "{v}: {imported}");
        assert_eq!(imported["keys_skipped"], 2 - expected_added, "{v}: {imported}");
        let sync = "/api/v1/user/ssh-keys/github-sync";
        let synced = answer_fits(&sim, &doc, op(Method::POST, sync, sync), v, None).await;
        assert_eq!(
            (synced["synced_count"].as_u64(), synced["keys_removed"].as_u64()),
            (Some(2), Some(0)),
            "{synced}"
        );
        let listed = answer_fits(&sim, &doc, op(Method::GET, keys, keys), v, None).await;
        let listed = listed.as_array().unwrap();
        assert_eq!(listed.len(), 3, "{v}: one manual key and two from GitHub");
        // Deleted: gone from the list; deleting it again is a 404.
        let one = "/api/v1/user/ssh-keys/{key_id}";
        let path = format!("/api/v1/user/ssh-keys/{}", created["id"].as_str().unwrap());
        assert_eq!(
            answer_fits(&sim, &doc, op(Method::DELETE, one, &path), v, None).await,
            Value::Null
        );
        let gone = answer_fits(&sim, &doc, op(Method::DELETE, one, &path), v, None).await;
        assert_eq!(gone["detail"]["error_code"], "ERR-07-002", "{gone}");
    }
    // The CVMs' launch configuration carries the owner's keys.
    let cvm = &idle(&sim, "running")[0];
    let config = answer_fits(
        &sim,
        &doc,
        op(
            Method::GET,
            "/api/v1/cvms/{cvm_id}/user_config",
            format!("/api/v1/cvms/{}/user_config", cvm.id),
        ),
        "2026-06-23",
        None,
    )
    .await;
    assert_eq!(config["ssh_authorized_keys"].as_array().unwrap().len(), 2, "{config}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_cvms_configuration_is_set_and_read_back() {
    let doc = document();
    let sim = sim(12).await;
    let running = idle(&sim, "running");
    let stopped = idle(&sim, "stopped");
    for (k, v) in versions().enumerate() {
        let cvm = &running[k];
        let at = |rest: &str| format!("/api/v1/cvms/{}/{rest}", cvm.id);
        let name = format!("renamed-{k}");
        let renamed = answer_fits(
            &sim,
            &doc,
            op(Method::PATCH, "/api/v1/cvms/{cvm_id}/name", at("name")),
            v,
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(renamed, Value::Null);
        let bad = answer_fits(
            &sim,
            &doc,
            op(Method::PATCH, "/api/v1/cvms/{cvm_id}/name", at("name")),
            v,
            Some(json!({"name": "1-bad"})),
        )
        .await;
        assert_eq!(bad["detail"][0]["loc"], json!(["body", "name"]), "{v}: {bad}");
        let vm = answer_fits(
            &sim,
            &doc,
            op(Method::PATCH, "/api/v1/cvms/{cvm_id}/listed", at("listed")),
            v,
            Some(json!({"listed": true})),
        )
        .await;
        assert_eq!(vm["name"], name, "{v}: {vm}");
        let when = "2099-01-01T00:00:00Z";
        answer_fits(
            &sim,
            &doc,
            op(
                Method::PATCH,
                "/api/v1/cvms/{cvm_id}/scheduled-delete",
                at("scheduled-delete"),
            ),
            v,
            Some(json!({"scheduled_delete_at": when})),
        )
        .await;
        let past = answer_fits(
            &sim,
            &doc,
            op(
                Method::PATCH,
                "/api/v1/cvms/{cvm_id}/scheduled-delete",
                at("scheduled-delete"),
            ),
            v,
            Some(json!({"scheduled_delete_at": "2001-01-01T00:00:00Z"})),
        )
        .await;
        assert_eq!(past["detail"][0]["type"], "datetime_future", "{past}");
        let detail = answer_fits(
            &sim,
            &doc,
            op(
                Method::GET,
                "/api/v1/cvms/{cvm_id}",
                at("").trim_end_matches('/').to_string(),
            ),
            v,
            None,
        )
        .await;
        assert_eq!(detail["name"], name, "{v}");
        // Each version's detail shows what it has a field for.
        assert_eq!(detail["listed"], true, "{v}: {detail}");
        if let Some(at) = detail.get("scheduled_delete_at") {
            assert_eq!(at, when, "{v}");
        }
        let ports = answer_fits(
            &sim,
            &doc,
            op(Method::PUT, "/api/v1/cvms/{cvm_id}/ports", at("ports")),
            v,
            Some(json!({"ports": [{"vm_port": 8080}, {"vm_port": 53, "protocol": "udp"}]})),
        )
        .await;
        let ports = ports.as_array().unwrap().clone();
        assert_eq!(ports.len(), 2, "{v}");
        // A mapping kept keeps its host port; one given twice is refused.
        let again = answer_fits(
            &sim,
            &doc,
            op(Method::PUT, "/api/v1/cvms/{cvm_id}/ports", at("ports")),
            v,
            Some(json!({"ports": [{"vm_port": 8080}]})),
        )
        .await;
        assert_eq!(again[0]["host_port"], ports[0]["host_port"], "{v}");
        let twice = answer_fits(
            &sim,
            &doc,
            op(Method::PUT, "/api/v1/cvms/{cvm_id}/ports", at("ports")),
            v,
            Some(json!({"ports": [{"vm_port": 1}, {"vm_port": 1}]})),
        )
        .await;
        assert_eq!(twice["detail"]["error_code"], "ERR-03-017", "{twice}");
        let read = answer_fits(
            &sim,
            &doc,
            op(Method::GET, "/api/v1/cvms/{cvm_id}/ports", at("ports")),
            v,
            None,
        )
        .await;
        assert_eq!(read, again, "{v}");
        let kms = ["https://kms.example.com"];
        let network = answer_fits(
            &sim,
            &doc,
            op(
                Method::PATCH,
                "/api/v1/cvms/{cvm_id}/network-config",
                at("network-config"),
            ),
            v,
            Some(json!({"kms_urls": kms})),
        )
        .await;
        assert_eq!(network["kms_urls"], json!(kms), "{v}");
        assert_eq!(network["ports"].as_array().unwrap().len(), 1, "{v}: {network}");
        let refresh = answer_fits(
            &sim,
            &doc,
            op(Method::PATCH, "/api/v1/cvms/{cvm_id}/instance-id", at("instance-id")),
            v,
            Some(json!({})),
        )
        .await;
        assert_eq!(refresh["status"], "unchanged", "{v}: {refresh}");
        let all = "/api/v1/cvms/instance-ids";
        let named = json!({"cvm_ids": [cvm.id, stopped[k].vm_uuid, "cvm_nothing"], "missing_only": false});
        let batch = answer_fits(&sim, &doc, op(Method::PATCH, all, all), v, Some(named)).await;
        let statuses: Vec<&str> = batch["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["status"].as_str().unwrap())
            .collect();
        assert_eq!(
            statuses,
            ["unchanged", "skipped", "error"],
            "{v}: every id named is accounted for"
        );
        answer_fits(&sim, &doc, op(Method::PATCH, all, all), v, Some(json!({"limit": 501}))).await;
        let domains = json!({"domains": [{"domain": "app.example.com", "port": 443}]});
        let diagnosis = answer_fits(
            &sim,
            &doc,
            op(
                Method::POST,
                "/api/v1/cvms/{cvm_id}/customize-domain-diagnose",
                at("customize-domain-diagnose"),
            ),
            v,
            Some(domains),
        )
        .await;
        assert_eq!(
            diagnosis["results"][0]["records"][1]["expected_value"],
            format!("{}:443", cvm.app_id),
            "{diagnosis}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn is_allowed_answers_for_a_cvm_an_app_and_its_cvms() {
    let doc = document();
    let sim = sim(13).await;
    let cvm = idle(&sim, "running").remove(0);
    for v in versions() {
        let mine = answer_fits(
            &sim,
            &doc,
            op(
                Method::POST,
                "/api/v1/cvms/{cvm_id}/is-allowed",
                format!("/api/v1/cvms/{}/is-allowed", cvm.id),
            ),
            v,
            Some(json!({})),
        )
        .await;
        assert_eq!(
            mine["is_allowed"], true,
            "{v}: the compose a CVM runs is allowed: {mine}"
        );
        let hash = mine["compose_hash"].as_str().unwrap().to_string();
        let path = format!("/api/v1/apps/{}/is-allowed", cvm.app_id);
        let app = answer_fits(
            &sim,
            &doc,
            op(Method::POST, "/api/v1/apps/{app_id}/is-allowed", &path),
            v,
            Some(json!({"compose_hash": hash})),
        )
        .await;
        assert_eq!(app["is_allowed"], true, "{v}: {app}");
        let other = answer_fits(
            &sim,
            &doc,
            op(Method::POST, "/api/v1/apps/{app_id}/is-allowed", &path),
            v,
            Some(json!({"compose_hash": "00".repeat(32)})),
        )
        .await;
        assert_eq!(
            (other["compose_hash_allowed"].clone(), other["is_allowed"].clone()),
            (json!(false), json!(false)),
            "{other}"
        );
        let path = format!("/api/v1/apps/{}/cvms/is-allowed", cvm.app_id);
        let all = answer_fits(
            &sim,
            &doc,
            op(Method::POST, "/api/v1/apps/{app_id}/cvms/is-allowed", &path),
            v,
            None,
        )
        .await;
        let members = sim
            .cvms()
            .iter()
            .filter(|c| c.app_id == cvm.app_id && c.in_main_workspace)
            .count();
        assert_eq!(all["total"], members, "{v}: every CVM of the app: {all}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn compose_edits_restart_the_cvm_with_the_new_compose() {
    let doc = document();
    let sim = sim(14).await;
    let running = idle(&sim, "running");
    // Each CVM is updated once (an update restarts it, busy after).
    let mut used = std::collections::HashSet::new();
    let mut take = |app: Option<&str>| {
        let cvm = running
            .iter()
            .rev()
            .find(|c| app.is_none_or(|a| a == c.app_id) && !used.contains(&c.id))
            .unwrap()
            .clone();
        used.insert(cvm.id.clone());
        cvm
    };
    for v in versions() {
        // A docker compose as the official SDKs send it (the body, text/yaml).
        let cvm = take(None);
        let yaml = "services:\n  web:\n    image: nginx:1.27\n";
        let path = format!("/api/v1/cvms/{}/docker-compose", cvm.id);
        let answer = request_fits(
            &sim,
            &doc,
            op(Method::PATCH, "/api/v1/cvms/{cvm_id}/docker-compose", path),
            v,
            |r| r.header("content-type", "text/yaml").body(yaml),
        )
        .await;
        assert_eq!(answer["status"], "in_progress", "{v}: {answer}");
        let read = sim_get(&sim, &format!("/api/v1/cvms/{}/docker-compose.yml", cvm.id)).await;
        assert_eq!(read, json!(yaml), "{v}");
        // A pre-launch script as the document defines it (multipart `file`).
        let cvm = take(None);
        let path = format!("/api/v1/cvms/{}/pre-launch-script", cvm.id);
        let answer = request_fits(
            &sim,
            &doc,
            op(Method::PATCH, "/api/v1/cvms/{cvm_id}/pre-launch-script", path),
            v,
            |r| {
                let form = reqwest::multipart::Form::new().part(
                    "file",
                    reqwest::multipart::Part::text("echo ready\n").file_name("pre.sh"),
                );
                r.multipart(form)
            },
        )
        .await;
        assert_eq!(answer["status"], "in_progress", "{v}: {answer}");
        assert_eq!(
            sim_get(&sim, &format!("/api/v1/cvms/{}/pre-launch-script", cvm.id)).await,
            json!("echo ready\n")
        );
        // The one-step update: a whole compose with its hash.
        let cvm = take(None);
        let mut compose = sim_get(&sim, &format!("/api/v1/cvms/{}/compose_file", cvm.id)).await;
        compose["docker_compose_file"] = json!("services:\n  api:\n    image: api:2\n");
        let provisioned = sim_post(
            &sim,
            &format!("/api/v1/cvms/{}/compose_file/provision", cvm.id),
            json!(compose),
        )
        .await;
        let hash = provisioned["compose_hash"].as_str().unwrap();
        let path = format!("/api/v1/cvms/{}/compose_file", cvm.id);
        let template = "/api/v1/cvms/{cvm_id}/compose_file";
        let wrong = answer_fits(
            &sim,
            &doc,
            op(Method::POST, template, &path),
            v,
            Some(json!({"compose_file": compose, "compose_hash": "00"})),
        )
        .await;
        assert_eq!(wrong["detail"]["error_code"], "ERR-02-008", "{wrong}");
        let answer = answer_fits(
            &sim,
            &doc,
            op(Method::POST, template, &path),
            v,
            Some(json!({"compose_file": compose, "compose_hash": hash})),
        )
        .await;
        assert_eq!(answer["status"], "in_progress", "{v}: {answer}");
        // A revision of the app applied to one CVM: the first CVM's compose.
        let revisions = sim_get(&sim, &format!("/api/v1/apps/{}/revisions", cvm.app_id)).await;
        let revision = revisions["revisions"][0]["revision_id"].as_str().unwrap();
        let target = take(Some(&cvm.app_id));
        let path = format!("/api/v1/cvms/{}/revisions/{revision}/redeploy", target.id);
        let template = "/api/v1/cvms/{cvm_id}/revisions/{revision_id}/redeploy";
        let answer = answer_fits(&sim, &doc, op(Method::POST, template, path), v, None).await;
        assert_eq!(answer["status"], "in_progress", "{v}: {answer}");
        // Phala's CLI `cvms upgrade` (v0.3).
        let cvm = take(None);
        let manifest = json!({"name": cvm.name, "docker_compose_file": "services:\n  a:\n    image: a:3\n", "runner": "docker-compose"});
        let path = format!("/api/v1/cvms/{}/compose", cvm.id);
        let answer = answer_fits(
            &sim,
            &doc,
            op(Method::PUT, "/api/v1/cvms/{cvm_id}/compose", path),
            v,
            Some(json!({"compose_manifest": manifest, "allow_restart": true})),
        )
        .await;
        assert_eq!(answer, json!({}), "{v}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn new_instances_and_replicas_of_an_app() {
    let doc = document();
    let sim = sim(15).await;
    let running = idle(&sim, "running");
    for (k, v) in versions().enumerate() {
        let source = &running[k];
        let path = format!("/api/v1/apps/{}/cvms/{}/replicas", source.app_id, source.vm_uuid);
        let template = "/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas";
        let replica = answer_fits(&sim, &doc, op(Method::POST, template, &path), v, None).await;
        assert_eq!(replica["app_id"], source.app_id, "{v}: {replica}");
        // Prepare only: held under a token (465), committed with it once.
        let path = format!("/api/v1/cvms/{}/replicas", source.id);
        let held = request_fits(
            &sim,
            &doc,
            op(Method::POST, "/api/v1/cvms/{cvm_id}/replicas", path),
            v,
            |r| r.header("X-Prepare-Only", "true"),
        )
        .await;
        let fields = held["details"].as_array().unwrap();
        let token = fields.iter().find(|f| f["field"] == "commit_token").unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string();
        let commit = format!("/api/v1/cvms/{}/commit-replica?token={token}", source.id);
        let template = "/api/v1/cvms/{cvm_id}/commit-replica";
        let committed = answer_fits(&sim, &doc, op(Method::POST, template, &commit), v, None).await;
        assert_eq!(committed["app_id"], source.app_id, "{v}: {committed}");
        let used = answer_fits(&sim, &doc, op(Method::POST, template, &commit), v, None).await;
        assert_eq!(
            used["detail"][0]["loc"],
            json!(["query", "token"]),
            "{v}: a token commits once: {used}"
        );
        // The token is the credential: a commit needs no key.
        let held = sim_send(
            &sim,
            Method::POST,
            &format!("/api/v1/cvms/{}/replicas", source.id),
            true,
        )
        .await;
        let token = held["commit_token"].as_str().unwrap();
        let commit = format!("/api/v1/cvms/{}/commit-replica?token={token}", source.id);
        let keyless = sim_send(&sim, Method::POST, &commit, false).await;
        assert_eq!(keyless["app_id"], source.app_id, "{v}: {keyless}");
        let path = format!("/api/v1/apps/{}/instances", source.app_id);
        let body = json!({"compose_hash": sim_post(&sim, &format!("/api/v1/cvms/{}/is-allowed", source.id), json!({})).await["compose_hash"],
                          "docker_compose_file": "services:\n  b:\n    image: b:1\n"});
        let instance = answer_fits(
            &sim,
            &doc,
            op(Method::POST, "/api/v1/apps/{app_id}/instances", &path),
            v,
            Some(body),
        )
        .await;
        let created = instance["vm_uuid"].as_str().unwrap();
        let compose = sim_get(&sim, &format!("/api/v1/cvms/{created}/docker-compose.yml")).await;
        assert_eq!(compose, json!("services:\n  b:\n    image: b:1\n"), "{v}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_older_deploys_eliza_workloads_and_v03() {
    let doc = document();
    let sim = sim(16).await;
    for (k, v) in versions().enumerate() {
        let character = json!({"name": "Ada", "bio": ["helps"]}).to_string();
        let eliza = "/api/v1/cvms/provision/eliza";
        let body = json!({"name": format!("eliza-{k}"), "characterfile": character, "env_keys": ["OPENAI_API_KEY"]});
        let provisioned = answer_fits(&sim, &doc, op(Method::POST, eliza, eliza), v, Some(body)).await;
        let commit = json!({"app_id": provisioned["app_id"], "compose_hash": provisioned["compose_hash"]});
        let created = answer_fits(
            &sim,
            &doc,
            op(Method::POST, "/api/v1/cvms/eliza", "/api/v1/cvms/eliza"),
            v,
            Some(commit),
        )
        .await;
        assert_eq!(created["name"], format!("eliza-{k}"), "{v}: {created}");
        let bad = answer_fits(
            &sim,
            &doc,
            op(Method::POST, eliza, eliza),
            v,
            Some(json!({"name": "eliza-bad", "characterfile": "{", "env_keys": []})),
        )
        .await;
        assert_eq!(bad["detail"]["error_code"], "ERR-01-003", "{bad}");
        let workload = "/api/v1/cvms/workload";
        let body = json!({"name": format!("model-{k}"), "instance_type": "tdx.large", "model_id": "llama-3"});
        answer_fits(&sim, &doc, op(Method::POST, workload, workload), v, Some(body)).await;
        // v0.3: the key for a configuration, then the CVM from it.
        let config = json!({"name": format!("legacy-{k}"), "vcpu": 2, "memory": 4096, "disk_size": 60,
                            "compose_manifest": {"name": format!("legacy-{k}"), "docker_compose_file": "services:\n  x:\n    image: x\n"}});
        let step1 = "/api/v1/cvms/pubkey/from_cvm_configuration";
        let key = answer_fits(&sim, &doc, op(Method::POST, step1, step1), v, Some(config.clone())).await;
        let mut step2_body = config.clone();
        step2_body["app_env_encrypt_pubkey"] = key["app_env_encrypt_pubkey"].clone();
        step2_body["app_id_salt"] = key["app_id_salt"].clone();
        let step2 = "/api/v1/cvms/from_cvm_configuration";
        let cvm = answer_fits(&sim, &doc, op(Method::POST, step2, step2), v, Some(step2_body.clone())).await;
        assert_eq!(
            (cvm["vcpu"].as_i64(), cvm["disk_size"].as_i64()),
            (Some(2), Some(60)),
            "{v}: {cvm}"
        );
        step2_body["app_env_encrypt_pubkey"] = json!("11".repeat(32));
        let refused = sim_post(&sim, step2, step2_body).await;
        assert_eq!(
            refused["detail"]["error_code"], "ERR-02-008",
            "{v}: another app's key: {refused}"
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn quotes_are_parsed_and_device_logins_hand_out_the_key_once() {
    let doc = document();
    let sim = sim(17).await;
    let mut quote = vec![0u8; 48 + 584 + 4];
    quote[0] = 4;
    quote[2] = 2;
    quote[4] = 0x81;
    let verify = "/api/v1/attestations/verify";
    for v in versions() {
        let answer = answer_fits(
            &sim,
            &doc,
            op(Method::POST, verify, verify),
            v,
            Some(json!({"hex": format!("0x{}", hex::encode(&quote))})),
        )
        .await;
        assert_eq!(
            (answer["success"].clone(), answer["quote"]["header"]["tee_type"].clone()),
            (json!(false), json!(129)),
            "{answer}"
        );
        let form = request_fits(&sim, &doc, op(Method::POST, verify, verify), v, |r| {
            r.multipart(reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(quote.clone())))
        })
        .await;
        assert_eq!(form["checksum"], answer["checksum"], "{v}");
        answer_fits(
            &sim,
            &doc,
            op(Method::POST, verify, verify),
            v,
            Some(json!({"hex": "00ff"})),
        )
        .await;
        let code = "/api/v1/auth/device/code";
        let issued = answer_fits(
            &sim,
            &doc,
            op(Method::POST, code, code),
            v,
            Some(json!({"client_id": "phala-cli"})),
        )
        .await;
        let token = "/api/v1/auth/device/token";
        let grant =
            json!({"device_code": issued["device_code"], "grant_type": "urn:ietf:params:oauth:grant-type:device_code"});
        let got = answer_fits(&sim, &doc, op(Method::POST, token, token), v, Some(grant.clone())).await;
        assert_eq!(got["access_token"], sim.api_key(), "{v}");
        let again = sim_post(&sim, token, grant).await;
        assert_eq!(again["detail"]["error"], "invalid_grant", "{v}: {again}");
    }
    sim.shutdown().await;
}

async fn sim_get(sim: &SimHandle, path: &str) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{}{path}", sim.base_url()))
        .header("X-API-Key", sim.api_key())
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

async fn sim_post(sim: &SimHandle, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", sim.base_url()))
        .header("X-API-Key", sim.api_key())
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.json().await.unwrap()
}

/// A request with no body: prepare-only (`X-Prepare-Only`) and with the
/// key when `keyed`.
async fn sim_send(sim: &SimHandle, method: Method, path: &str, keyed: bool) -> Value {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", sim.base_url()));
    if keyed {
        req = req.header("X-API-Key", sim.api_key()).header("X-Prepare-Only", "true");
    }
    req.send().await.unwrap().json().await.unwrap()
}

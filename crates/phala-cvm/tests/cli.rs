//! The `phala-cvm` binary, run as a process, against the embedded simulator
//! (`--simulate`) and against canned real-world answers (httpmock).

mod common;

use common::{code, run, sim, stdout_json, text};

use httpmock::prelude::*;
use serde_json::{Value, json};

#[test]
fn list_in_both_formats() {
    let table = sim(&["list"]);
    assert_eq!(code(&table), 0, "{}", text(&table));
    let out = String::from_utf8_lossy(&table.stdout);
    assert!(out.starts_with("ID"), "{out}");
    assert!(out.lines().count() > 10);
    let json = sim(&["-o", "json", "list", "--status", "running"]);
    let list = stdout_json(&json);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "running" && c["id"].as_str().unwrap().starts_with("cvm_"))
    );
}

#[test]
fn status_and_state_in_both_formats() {
    let status = stdout_json(&sim(&["-o", "json", "status", "--all"]));
    assert!(status["statuses"].as_object().unwrap().len() > 10);
    assert_eq!(status["not_found"], json!([]));
    let table = sim(&["status", "--all"]);
    assert_eq!(code(&table), 0);
    assert!(String::from_utf8_lossy(&table.stdout).starts_with("VM_UUID"));
    let missing = sim(&["status", "00000000-0000-4000-a000-000000000000"]);
    assert_eq!(code(&missing), 3, "{}", text(&missing));
    let list = stdout_json(&sim(&["-o", "json", "list", "--status", "running"]));
    let name = list[0]["name"].as_str().unwrap();
    let state = stdout_json(&sim(&["-o", "json", "state", name]));
    assert_eq!(state["status"], "running");
    let table = sim(&["state", name]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("running"));
}

#[test]
fn commands_take_a_cvm_by_any_of_its_names() {
    let list = stdout_json(&sim(&["-o", "json", "list", "--status", "running"]));
    let cvm = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["in_progress"] != true)
        .expect("an idle running CVM");
    let uuid = cvm["vm_uuid"].as_str().unwrap();
    for field in ["id", "vm_uuid", "name"] {
        let reference = cvm[field].as_str().unwrap();
        let out = sim(&["-o", "json", "status", reference]);
        assert_eq!(code(&out), 0, "{field}: {}", text(&out));
        let status = stdout_json(&out);
        let keys: Vec<&String> = status["statuses"].as_object().unwrap().keys().collect();
        assert_eq!(keys, [uuid], "{field}");
        let out = sim(&[
            "-o",
            "json",
            "wait",
            reference,
            "--target",
            "running",
            "--timeout",
            "20",
        ]);
        assert_eq!(code(&out), 0, "{field}: {}", text(&out));
        let out = sim(&["-o", "json", "stop", reference]);
        assert_eq!(code(&out), 0, "{field}: {}", text(&out));
        assert_eq!(stdout_json(&out)["stop"]["total"], 1, "{field}");
    }
    // A table shows the CVM asked for by name.
    let table = sim(&["status", cvm["name"].as_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(uuid),
        "{}",
        text(&table)
    );
    // A name that is no CVM's: an error that says so (exit 1), nothing printed as a result.
    let out = sim(&["-o", "json", "status", "no-such-cvm"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(out.stdout.is_empty());
    let e: Value = serde_json::from_slice(&out.stderr).expect("the error as JSON on stderr");
    assert_eq!(e["error"]["kind"], "not_found", "{e}");
    assert_eq!(e["error"]["message"], "no CVM named \"no-such-cvm\"", "{e}");
    // In a stop report, it is that id's failure.
    let out = sim(&["-o", "json", "stop", "no-such-cvm"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let report = stdout_json(&out);
    assert_eq!(report["stop"]["failed"][0]["cvm_id"], "no-such-cvm", "{report}");
}

#[test]
fn state_watch_follows_events() {
    let list = stdout_json(&sim(&["-o", "json", "list", "--status", "running"]));
    let id = list[0]["id"].as_str().unwrap();
    let out = sim(&["-o", "json", "state", id, "--watch", "--target", "running"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "state");
    assert_eq!(events.last().unwrap()["event"], "complete");
    let out = sim(&["state", id, "--watch", "--target", "running"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete"));
}

#[test]
fn stop_all_refuses_without_yes_in_a_script() {
    let out = sim(&["stop", "--all"]);
    assert_eq!(code(&out), 2);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without --yes"),
        "{}",
        text(&out)
    );
}

#[test]
fn stop_all_wait_stops_the_whole_fleet() {
    let out = sim(&["-o", "json", "stop", "--all", "--wait", "--yes"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = stdout_json(&out);
    let stop = &report["stop"];
    let total = stop["total"].as_u64().unwrap();
    assert!(total > 20);
    assert_eq!(
        stop["stopped"].as_u64().unwrap() + stop["skipped"].as_u64().unwrap(),
        total
    );
    assert_eq!(report["wait"]["all_reached"], true);
    let table = sim(&["stop", "--all", "--wait", "--yes"]);
    let out = String::from_utf8_lossy(&table.stdout);
    assert!(out.contains("scheduled") && out.contains("reached"), "{out}");
}

#[test]
fn wait_that_cannot_finish_exits_3_and_says_which() {
    let out = sim(&["-o", "json", "wait", "--all", "--target", "running", "--timeout", "1"]);
    assert_eq!(code(&out), 3, "{}", text(&out));
    let report = stdout_json(&out);
    assert_eq!(report["all_reached"], false);
    assert!(!report["not_reached"].as_array().unwrap().is_empty());
}

#[test]
fn a_misspelt_target_is_refused_at_once_with_the_known_states() {
    for args in [
        &["wait", "--all", "--target", "stoped"][..],
        &["state", "cvm_x", "--watch", "--target", "stoped"][..],
    ] {
        // No key and no server: refused before anything is configured or sent.
        let out = run(args, &[]);
        assert_eq!(code(&out), 2, "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("stoped") && err.contains("pending, starting, running, stopping, stopped"),
            "{err}"
        );
    }
}

#[test]
fn an_api_version_this_client_cannot_read_is_refused_before_any_request() {
    for bad in ["2026-13-01", "2025-05-31", ""] {
        let out = sim(&["--api-version", bad, "list"]);
        assert_eq!(code(&out), 2, "{bad:?}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("is not one this client supports (2025-10-28, 2026-01-21"),
            "{err}"
        );
    }
    for good in ["2025-10-28", "2026-01-21", "LATEST"] {
        let out = sim(&["--api-version", good, "-o", "json", "list"]);
        assert_eq!(code(&out), 0, "{good}: {}", text(&out));
    }
}

#[test]
fn list_filters_by_instance_family_and_type_where_the_version_takes_them() {
    let count = |args: &[&str]| {
        let mut all = vec!["-o", "json", "list"];
        all.extend_from_slice(args);
        let out = sim(&all);
        assert_eq!(code(&out), 0, "{args:?}: {}", text(&out));
        stdout_json(&out).as_array().unwrap().len()
    };
    let total = count(&[]);
    assert_eq!(count(&["--family", "cpu"]), total);
    assert_eq!(count(&["--family", "gpu"]), 0, "the simulated fleet has no GPUs");
    let sizes = ["tdx.small", "tdx.medium", "tdx.large", "tdx.xlarge"];
    let each: Vec<usize> = sizes.iter().map(|s| count(&["--instance-type", s])).collect();
    assert_eq!(each.iter().sum::<usize>(), total, "{each:?}");
    assert_eq!(
        count(&["--instance-type", sizes[0], "--instance-type", sizes[1]]),
        each[0] + each[1]
    );
    // Refused before any request: an unknown family, a version without the
    // filter (flag or environment), a filter that cannot apply to --app.
    let bad = sim(&["list", "--family", "tpu"]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    let older = sim(&["--api-version", "2026-01-21", "list", "--family", "cpu"]);
    assert_eq!(code(&older), 2, "{}", text(&older));
    assert!(
        text(&older).contains("family needs API version 2026-05-22"),
        "{}",
        text(&older)
    );
    let from_env = run(
        &["--simulate", "--sim-cvms", "40", "list", "--instance-type", "tdx.small"],
        &[("PHALA_CLOUD_API_VERSION", "2026-01-21")],
    );
    assert_eq!(code(&from_env), 2, "{}", text(&from_env));
    let app = sim(&["list", "--app", "abc", "--family", "cpu"]);
    assert_eq!(code(&app), 2, "{}", text(&app));
}

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn deploy_checks_and_reports_what_it_hashed() {
    let out = sim(&[
        "-o",
        "json",
        "deploy",
        "--compose",
        &example("compose.yml"),
        "--env-file",
        &example("app.env"),
        "--name",
        "web-demo",
        "--wait",
        "--timeout",
        "120",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let done = stdout_json(&out);
    assert_eq!(done["cvm"]["name"], "web-demo");
    assert_eq!(done["env_keys"], json!(["API_KEY", "GREETING"]));
    assert_eq!(done["app_compose"]["allowed_envs"], json!(["API_KEY", "GREETING"]));
    assert_eq!(done["signer_source"], "kms_reported");
    // compose-hash, offline, hashes the same compose to the same hash.
    let hashed = run(
        &[
            "compose-hash",
            "--compose",
            &example("compose.yml"),
            "--env-file",
            &example("app.env"),
            "--name",
            "web-demo",
        ],
        &[],
    );
    assert_eq!(code(&hashed), 0, "{}", text(&hashed));
    assert_eq!(String::from_utf8_lossy(&hashed.stdout).trim(), done["compose_hash"]);
    // A bad env file or key is refused before anything is sent.
    let dir = std::env::temp_dir().join(format!("phala-cvm-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_env = dir.join("bad.env");
    std::fs::write(&bad_env, "A=1\nA=2\n").unwrap();
    let bad = sim(&[
        "deploy",
        "--compose",
        &example("compose.yml"),
        "--env-file",
        bad_env.to_str().unwrap(),
    ]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    assert!(
        text(&bad).contains("env line 2: env key A is given twice"),
        "{}",
        text(&bad)
    );
    let missing = sim(&["deploy", "--compose", "/nonexistent/compose.yml"]);
    assert_eq!(code(&missing), 2, "{}", text(&missing));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn update_checks_like_deploy_and_refuses_what_cannot_apply() {
    let cvm = first("running");
    let (id, name) = (cvm["id"].as_str().unwrap(), cvm["name"].as_str().unwrap());
    let out = sim(&[
        "-o",
        "json",
        "update",
        id,
        "--compose",
        &example("compose.yml"),
        "--env-file",
        &example("app.env"),
        "--wait",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let done = stdout_json(&out);
    assert_eq!(done["cvm_id"], id);
    assert_eq!(done["app_compose"]["name"], name, "the held compose's name is kept");
    let hashed = run(
        &[
            "compose-hash",
            "--compose",
            &example("compose.yml"),
            "--env-file",
            &example("app.env"),
            "--name",
            name,
        ],
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&hashed.stdout).trim(), done["compose_hash"]);
    let replica = sim(&["-o", "json", "replicate", id, "--node", "12"]);
    assert_eq!(code(&replica), 0, "{}", text(&replica));
    let replica = stdout_json(&replica);
    assert_eq!(replica["cvm"]["teepod_id"], 12);
    assert_eq!(replica["cvm"]["app_id"], cvm["app_id"]);
    // A commit with a token the service never gave is the API's refusal;
    // a hash that is not one is refused before sending.
    let bogus = sim(&[
        "commit-update",
        id,
        "--token",
        "t0k3n",
        "--compose-hash",
        &"ab".repeat(32),
        "--transaction-hash",
        "0x1",
    ]);
    assert_eq!(code(&bogus), 1, "{}", text(&bogus));
    let bad = sim(&[
        "commit-update",
        id,
        "--token",
        "t",
        "--compose-hash",
        "xyz",
        "--transaction-hash",
        "0x1",
    ]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    // Nothing to change, or no CVM named: usage errors.
    assert_eq!(code(&sim(&["update", id])), 2);
    assert_eq!(code(&sim(&["update", "--env-file", &example("app.env")])), 2);
}

#[test]
fn compose_hash_of_an_app_compose_matches_the_references_vector() {
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../phala-cloud/tests/vectors/compose_hash.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let case = &vectors["vectors"][2];
    let dir = std::env::temp_dir().join(format!("phala-cvm-hash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app-compose.json");
    std::fs::write(&file, case["app_compose"].to_string()).unwrap();
    let out = run(
        &["-o", "json", "compose-hash", "--app-compose", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let got = stdout_json(&out);
    assert_eq!(got["compose_hash"], case["compose_hash"]);
    assert_eq!(got["app_compose"], case["app_compose"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn env_encrypt_prints_only_the_ciphertext_and_refuses_bad_keys() {
    let key = "e3712d851a0e5d79b831c5e34ab22b41a198171de209b8b8faca23a11c624859";
    let out = run(
        &["env", "encrypt", "--pubkey", key, "--env-file", &example("app.env")],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let hex = String::from_utf8_lossy(&out.stdout);
    let hex = hex.trim();
    assert!(
        hex.len() > 2 * (32 + 12 + 16) && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{hex}"
    );
    assert!(!text(&out).contains("example-not-a-real-key"));
    for bad in ["abcd", &format!("{key}00"), "zz"] {
        let out = run(
            &["env", "encrypt", "--pubkey", bad, "--env-file", &example("app.env")],
            &[],
        );
        assert_eq!(code(&out), 2, "{bad}: {}", text(&out));
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn usage_and_api_errors_have_their_exit_codes() {
    assert_eq!(code(&run(&["stop"], &[])), 2, "stop needs ids, --all or --app");
    assert_eq!(code(&run(&["list"], &[])), 2, "no key");
    assert!(String::from_utf8_lossy(&run(&["list"], &[]).stderr).contains("PHALA_CLOUD_API_KEY"));
    let out = sim(&["state", "cvm_nope"]);
    assert_eq!(code(&out), 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: HTTP 404 ERR-03-001") && err.contains("request req_"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    let json = sim(&["-o", "json", "state", "cvm_nope"]);
    assert!(json.stdout.is_empty(), "stdout carries only results");
    let e: Value = serde_json::from_slice(&json.stderr).expect("the error as JSON on stderr");
    assert_eq!(e["error"]["kind"], "not_found");
    assert_eq!(
        (e["error"]["status"].as_u64(), e["error"]["error_code"].as_str()),
        (Some(404), Some("ERR-03-001"))
    );
}

#[test]
fn help_reads_well() {
    let out = run(&["--help"], &[]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "list",
        "status",
        "state",
        "stop",
        "wait",
        "get",
        "start",
        "shutdown",
        "restart",
        "delete",
        "--simulate",
        "Exit codes",
    ] {
        assert!(help.contains(word), "{word} missing from --help");
    }
    for sub in [
        "list", "status", "state", "stop", "wait", "get", "start", "shutdown", "restart", "delete",
    ] {
        assert_eq!(code(&run(&[sub, "--help"], &[])), 0);
    }
}

#[test]
fn real_world_payloads_decode_and_the_key_never_prints() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/cvms/paginated").query_param("page", "1");
        then.status(200).json_body(json!({"items": [
            {"id": 17, "hosted": {"id": "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a", "name": "old", "status": "running", "uptime": "1h", "app_id": "ab"}, "name": "old", "status": "running", "public_urls": [], "future_field": 1}
        ], "total": 2, "page": 1, "page_size": 100, "pages": 2}));
    });
    // Version shapes can differ page by page (a server mid-upgrade): each page decodes on its own.
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/cvms/paginated").query_param("page", "2");
        then.status(200).json_body(json!({"items": [
            {"id": "cvm_new", "vm_uuid": "uuid-b", "name": "new", "status": "hibernating", "resource": {"vcpu": 2}, "gateway": {}, "resource_usage": {"cpu_percent": 3.5}}
        ], "total": 2, "page": 2, "page_size": 100, "pages": 2}));
    });
    server.mock(|when, then| {
        when.method(POST).path("/api/v1/status/batch");
        then.status(200).json_body(json!({"6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a": {"vm_uuid": "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a", "status": "stopping", "in_progress": true, "events": null,
            "operation": {"type": "stop", "phase": "draining", "started_at": null, "correlation_id": "c1"},
            "resource_usage": {"cpu_percent": null, "memory_used_bytes": 5, "memory_total_bytes": null, "egress_bytes": null}, "new_thing": []}}));
    });
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/cvms/cvm_x/state");
        then.status(401).json_body(json!({"detail": "Not authenticated"}));
    });
    let base = server.base_url();
    let env = [
        ("PHALA_CLOUD_API_KEY", "phak_CANARY_never_print"),
        ("PHALA_CLOUD_API_PREFIX", base.as_str()),
    ];
    let list = run(&["-o", "json", "list"], &env);
    assert_eq!(code(&list), 0, "{}", text(&list));
    let list = stdout_json(&list);
    assert_eq!(
        (list[0]["id"].as_str(), list[0]["vm_uuid"].as_str()),
        (Some("17"), Some("6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a"))
    );
    assert_eq!(list[1]["status"], "hibernating");
    let status = run(&["-o", "json", "status", "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a"], &env);
    let status = stdout_json(&status);
    assert_eq!(
        status["statuses"]["6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a"]["operation"]["phase"],
        "draining"
    );
    let mut all = String::new();
    for args in [
        &["list"][..],
        &["status", "6e1c2a9e-0d9b-4f37-9a55-1f0c2b3d4e5a"],
        &["state", "cvm_x"],
        &["-o", "json", "state", "cvm_x"],
        &["--help"],
    ] {
        all.push_str(&text(&run(args, &env)));
    }
    assert!(all.contains("HTTP 401"));
    assert!(!all.contains("CANARY"), "the API key leaked: {all}");
}

#[test]
fn every_command_at_trace_never_prints_the_key() {
    const CANARY: &str = "phak_CANARY_cli_5e1d";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(async {
        phala_cloud_sim::Simulator::builder()
            .cvms(40)
            .seed(4)
            .time_scale(200.0)
            .api_key(CANARY)
            .faults(
                phala_cloud_sim::Faults::default()
                    .with_server_errors(0.15)
                    .with_rate_limits(0.05)
                    .with_drops(0.05)
                    .with_sse_drops(0.5),
            )
            .start()
            .await
            .unwrap()
    });
    let fleet = sim.cvms();
    let mine: Vec<_> = fleet.iter().filter(|c| c.in_main_workspace).collect();
    let (id, uuid, app) = (&mine[0].id, &mine[0].vm_uuid, &mine[0].app_id);
    let base = sim.base_url().to_string();
    let mut all = String::new();
    for key in [CANARY, "phak_CANARY_wrong_key"] {
        let env = [("PHALA_CLOUD_API_KEY", key), ("PHALA_CLOUD_API_PREFIX", base.as_str())];
        for args in [
            &["list"][..],
            &["-o", "json", "list", "--app", app],
            &["status", "--all"],
            &["-o", "json", "status", uuid],
            &["state", id],
            &["state", id, "--watch", "--target", "stopped", "--timeout", "3"],
            &["stop", id, "--yes"],
            &["-o", "json", "stop", "--all", "--wait", "--yes", "--timeout", "10"],
            &["wait", "--all", "--target", "running", "--timeout", "1"],
            &["get", id],
            &["start", id, "--wait", "--timeout", "5"],
            &[
                "-o",
                "json",
                "restart",
                "--app",
                app,
                "--rolling",
                "--yes",
                "--timeout",
                "10",
            ],
            &["shutdown", id, "--yes"],
            &["delete", id, "--yes"],
            &["state", ""],
        ] {
            let mut with_log = vec!["--log-level", "trace"];
            with_log.extend_from_slice(args);
            let o = run(&with_log, &env);
            all.push_str(&text(&o));
        }
    }
    assert!(
        all.contains("TRACE") || all.contains("DEBUG"),
        "logs were written: {all}"
    );
    assert!(all.contains("HTTP 401"), "the wrong key was refused");
    assert!(!all.contains("CANARY"), "the API key leaked: {all}");
    drop(sim);
}

fn first(status: &str) -> Value {
    let list = stdout_json(&sim(&["-o", "json", "list", "--status", status]));
    list[0].clone()
}

#[test]
fn get_shows_either_version_shape() {
    let cvm = first("running");
    let id = cvm["id"].as_str().unwrap();
    let new = stdout_json(&sim(&["-o", "json", "get", id]));
    assert_eq!(
        (new["id"].as_str(), new["status"].as_str()),
        (Some(id), Some("running"))
    );
    let old = stdout_json(&sim(&["-o", "json", "--api-version", "2025-10-28", "get", id]));
    assert!(old["id"].is_i64() && old["vm_uuid"] == cvm["vm_uuid"], "{old}");
    let table = sim(&["get", id]);
    let out = String::from_utf8_lossy(&table.stdout);
    assert!(out.starts_with("FIELD") && out.contains("vm_uuid"), "{out}");
    assert_eq!(code(&sim(&["get", "cvm_nope"])), 1);
}

#[test]
fn start_shutdown_restart_wait_and_report() {
    let stopped = first("stopped");
    let id = stopped["id"].as_str().unwrap();
    let out = sim(&["-o", "json", "start", id, "--wait", "--timeout", "60"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = stdout_json(&out);
    assert_eq!(report["result"]["action"]["action"], "start");
    assert_eq!(report["result"]["done"][0]["id"], id);
    assert_eq!(report["wait"]["all_reached"], true);
    let running = first("running");
    let id = running["id"].as_str().unwrap();
    let out = sim(&["shutdown", id, "--wait"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        table.contains("shutdown: 1 requested, 1 accepted") && table.contains("reached stopped"),
        "{table}"
    );
    let out = sim(&["restart", "--force", id, "cvm_nope"]);
    assert_eq!(code(&out), 3, "one failed: {}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("1 accepted, 1 failed") && table.contains("cvm_nope"),
        "{table}"
    );
}

#[test]
fn rolling_restart_of_an_app() {
    let app = first("running")["app_id"].as_str().unwrap().to_string();
    assert_eq!(
        code(&sim(&["restart", "--app", &app, "--rolling"])),
        2,
        "--app asks first"
    );
    let out = sim(&[
        "-o",
        "json",
        "restart",
        "--app",
        &app,
        "--rolling",
        "--max-unavailable",
        "2",
        "--yes",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = &stdout_json(&out)["rolling_restart"];
    let total = report["total"].as_u64().unwrap();
    assert!(total >= 2);
    assert_eq!(report["restarted"].as_array().unwrap().len() as u64, total);
    assert_eq!(report["batches"].as_u64().unwrap(), total.div_ceil(2));
    let bad = sim(&["restart", "--app", &app, "--rolling", "--max-unavailable", "0", "--yes"]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    assert!(text(&bad).contains("max_unavailable"));
    assert_eq!(
        code(&sim(&["restart", "x", "--max-unavailable", "2"])),
        2,
        "needs --rolling"
    );
    assert_eq!(
        code(&sim(&["start", "x", "--wait", "--timeout", "0"])),
        2,
        "timeout out of range"
    );
}

#[test]
fn delete_always_asks_and_says_how_many() {
    let cvm = first("running");
    let id = cvm["id"].as_str().unwrap();
    let refused = sim(&["delete", id]);
    assert_eq!(code(&refused), 2);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("refusing to delete 1 CVMs") && err.contains("--yes"),
        "{err}"
    );
    let out = sim(&["-o", "json", "delete", id, "--yes", "--wait"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = stdout_json(&out);
    assert_eq!(report["result"]["done"][0]["id"], id);
    assert_eq!(report["wait"]["all_reached"], true, "gone from batch status");
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef phala-cvm"),
        ("fish", "complete -c phala-cvm"),
    ] {
        let out = run(&["completions", shell], &[]);
        assert_eq!(code(&out), 0, "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script:.200}");
        assert!(script.contains("rolling"), "{shell}: subcommand flags are completed");
    }
    assert_eq!(code(&run(&["completions", "tcsh"], &[])), 2);
}

#[test]
fn list_streams_json_lines_and_history_follows_cancel() {
    let jsonl = run(&["--simulate", "--sim-cvms", "260", "-o", "jsonl", "list"], &[]);
    assert_eq!(code(&jsonl), 0, "{}", text(&jsonl));
    let lines: Vec<Value> = String::from_utf8_lossy(&jsonl.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON document per line"))
        .collect();
    assert!(lines.len() > 200, "every page: {}", lines.len());
    let distinct: std::collections::BTreeSet<&str> = lines.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(distinct.len(), lines.len());

    // One simulator across commands, so history sees what restart and cancel did.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(async {
        phala_cloud_sim::Simulator::builder()
            .cvms(30)
            .seed(8)
            .start()
            .await
            .unwrap()
    });
    let id = sim
        .cvms()
        .into_iter()
        .find(|c| c.in_main_workspace && c.status == "running" && !c.in_progress)
        .unwrap()
        .id;
    let base = sim.base_url().to_string();
    let env = [
        ("PHALA_CLOUD_API_KEY", sim.api_key()),
        ("PHALA_CLOUD_API_PREFIX", base.as_str()),
    ];
    assert_eq!(code(&run(&["restart", &id], &env)), 0);
    let cancelled = run(&["cancel", &id], &env);
    assert!(
        String::from_utf8_lossy(&cancelled.stdout).starts_with("cancelled op_"),
        "{}",
        text(&cancelled)
    );
    let again = run(&["-o", "json", "cancel", &id], &env);
    assert_eq!(stdout_json(&again)["cancelled"], false);
    // The simulator keeps a clock of its own (a fixed epoch), so an absolute time.
    let history = run(&["history", &id, "--since", "2026-01-01T00:00:00Z"], &env);
    let table = String::from_utf8_lossy(&history.stdout);
    assert!(
        table.starts_with("STARTED") && table.contains("restart") && table.contains("failed (Cancelled by user)"),
        "{table}"
    );
    let none = stdout_json(&run(&["-o", "json", "history", &id, "--type", "power_on"], &env));
    assert_eq!(none, json!([]));
    let bad = run(&["history", &id, "--since", "last tuesday"], &env);
    assert_eq!(code(&bad), 2, "{}", text(&bad));
    drop(sim);
}

#[test]
fn api_commands_cover_the_document_and_run_against_the_simulator() {
    // A command per operation: the help lists every one.
    let help = text(&run(&["api", "--help"], &[]));
    for name in [
        "list-cvms",
        "get-cvm",
        "list-webhooks",
        "update-cvm-docker-compose",
        "get-cvm-state",
        "upload-and-verify",
    ] {
        assert!(help.contains(&format!("  {name}\n")), "{name} missing from:\n{help}");
    }

    // A generated command, typed answer printed as JSON.
    let got = sim(&["api", "get-cvm", "--cvm-id", "web-1-0", "-o", "json"]);
    assert_eq!(code(&got), 0, "{}", text(&got));
    assert_eq!(stdout_json(&got)["name"], "web-1-0");
    // A query flag and the table form.
    let page = sim(&["api", "list-cvms-paginated", "--page-size", "2", "-o", "jsonl"]);
    assert_eq!(code(&page), 0, "{}", text(&page));
    assert!(text(&page).contains("\"page_size\":2"), "{}", text(&page));

    // The simulator's answer about what it does not hold: an SSH key never
    // added is a 404, exit 1 (tests/api_walk.rs runs every command).
    let missing = sim(&["api", "delete-user-ssh-key", "--key-id", "k1"]);
    assert_eq!(code(&missing), 1);
    let err = String::from_utf8_lossy(&missing.stderr).to_string();
    assert!(err.contains("404") && err.contains("ERR-07-002"), "{err}");
    // A webhook's deliveries are answered now: an unknown webhook is a 404.
    let unknown = sim(&["api", "list-deliveries", "--webhook-id", "wh_1"]);
    assert_eq!(code(&unknown), 1);
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("HTTP 404"),
        "{}",
        text(&unknown)
    );
    // One the simulator answers: no webhook registered.
    let none = sim(&["api", "list-webhooks", "-o", "json"]);
    assert_eq!(code(&none), 0, "{}", text(&none));
    assert_eq!(stdout_json(&none), json!([]));

    // The API's error keeps its code; a body file that cannot be read is a usage error.
    let absent = sim(&["api", "get-cvm", "--cvm-id", "nope", "-o", "json"]);
    assert_eq!(code(&absent), 1);
    let err: Value = serde_json::from_slice(&absent.stderr).unwrap();
    assert_eq!(err["error"]["status"], 404);
    let bad = sim(&["api", "create-webhook", "--json-body", "/nonexistent/body.json"]);
    assert_eq!(code(&bad), 2, "{}", text(&bad));

    // Hand-made commands: the state, and an upload (the CVM restarts with it).
    let state = sim(&["api", "get-cvm-state", "--cvm-id", "web-1-0"]);
    assert_eq!(code(&state), 0, "{}", text(&state));
    assert!(text(&state).contains("\"status\""), "{}", text(&state));
    let upload = sim(&[
        "api",
        "update-cvm-docker-compose",
        "--cvm-id",
        "web-1-0",
        "--file",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli.rs"),
    ]);
    assert_eq!(code(&upload), 0, "{}", text(&upload));
    assert!(text(&upload).contains("in_progress"), "{}", text(&upload));
}

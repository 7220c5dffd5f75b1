//! Every generated `api` command run against the embedded simulator: each
//! builds its request from flags (or `--json-body`) and the simulator
//! answers it. A command passes when it exits 0, or exits 1 with the
//! simulator's answer to what it was asked (a 4xx for a resource a fresh
//! simulator does not hold, such as a webhook id); never 501 (an operation
//! the simulator lacks), never a usage error of the command.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use common::{code, run, stdout_json, temp_dir, text};
use serde_json::{Value, json};

/// Each run starts its own simulator: same seed, same fleet.
fn sim(args: &[&str]) -> Output {
    let mut all = vec!["--simulate", "--sim-cvms", "16", "-o", "json"];
    all.extend_from_slice(args);
    run(&all, &[])
}

/// The operations `api --help` lists.
fn operations() -> Vec<String> {
    let help = text(&run(&["api", "--help"], &[]));
    let listed = help
        .split_once("Operations:")
        .map(|(_, rest)| rest.split("\nOptions:").next().unwrap_or_default().to_string())
        .unwrap_or_default();
    listed
        .lines()
        .filter_map(|l| l.strip_prefix("  "))
        .filter(|l| {
            !l.starts_with(' ')
                && !l.is_empty()
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
        // `api request METHOD PATH` is the raw request, not an operation.
        .filter(|l| *l != "request")
        .map(str::to_string)
        .collect()
}

/// The flags clap says are missing from a usage error.
fn missing_flags(out: &Output) -> Vec<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    err.split("were not provided:")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| l.starts_with("--"))
                .filter_map(|l| l.split_whitespace().next())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_api_command_reaches_the_simulator() {
    // The ids of the simulated fleet (seed 1), found once.
    let cvm = stdout_json(&sim(&["api", "get-cvm", "--cvm-id", "web-1-0"]));
    let (cvm_id, app_id, vm_uuid) = (
        cvm["id"].as_str().unwrap().to_string(),
        cvm["app_id"].as_str().unwrap().to_string(),
        cvm["vm_uuid"].as_str().unwrap().to_string(),
    );
    let dir = temp_dir("api-walk");
    let compose = json!({"name": "walk-app", "docker_compose_file": "services:\n  a:\n    image: a\n"});
    let file = dir.join("upload.txt");
    std::fs::write(&file, "services:\n  a:\n    image: a:2\n").unwrap();
    let file = file.to_string_lossy().to_string();
    // A value for each flag a command may require.
    let values: BTreeMap<&str, String> = BTreeMap::from([
        ("--cvm-id", cvm_id.clone()),
        ("--app-id", app_id.clone()),
        ("--vm-uuid", vm_uuid.clone()),
        ("--webhook-id", "wh_absent".into()),
        ("--kms-id", "kms_phalaprod".into()),
        ("--checksum", "00".repeat(32)),
        ("--team-slug", "main-team".into()),
        ("--revision-id", "rev_absent".into()),
        ("--key-id", "sk_absent".into()),
        ("--family", "cpu".into()),
        ("--event-id", "evt_absent".into()),
        ("--compose-hash", "00".repeat(32)),
        ("--chain", "base".into()),
        ("--token", "absent-token".into()),
        ("--file", file),
        ("--name", "walk-key".into()),
        (
            "--public-key",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl".into(),
        ),
        ("--github-username", "octocat".into()),
        ("--listed", "true".into()),
        ("--client-id", "phala-cli".into()),
        ("--device-code", "absent".into()),
        ("--grant-type", "urn:ietf:params:oauth:grant-type:device_code".into()),
        ("--os-image-name", "dstack-0.5.4".into()),
        ("--encrypted-env", String::new()),
        ("--public-sysinfo", "true".into()),
        ("--public-logs", "true".into()),
        ("--url", "http://127.0.0.1:9/hook".into()),
        ("--instance-type", "tdx.small".into()),
        ("--model-id", "llama-3".into()),
    ]);
    // The bodies of the commands that take one only as a file.
    let bodies: BTreeMap<&str, Value> = BTreeMap::from([
        (
            "provision-cvm-for-eliza",
            json!({"name": "walk-eliza", "characterfile": "{\"name\":\"Ada\"}", "env_keys": []}),
        ),
        ("provision-cvm", json!({"name": "walk-app", "compose_file": compose})),
        (
            "submit-cvm-compose-file-update",
            json!({"compose_file": compose, "compose_hash": "00"}),
        ),
        ("replicate-cvm", json!({})),
        ("batch-stop-cvms", json!({"cvm_ids": [cvm_id]})),
        ("batch-cvm-status", json!({"vm_uuids": [vm_uuid]})),
        ("set-port-mappings", json!({"ports": [{"vm_port": 8080}]})),
        (
            "diagnose-custom-domains",
            json!({"domains": [{"domain": "app.example.com", "port": 443}]}),
        ),
        ("apps-replicate-cvm", json!({})),
        ("redeploy-app-revision", json!({})),
        (
            "create-webhook",
            json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
        ),
        (
            "get-pubkey-from-cvm-configuration",
            json!({"name": "walk-legacy", "compose_manifest": compose}),
        ),
        (
            "create-cvm-from-configuration",
            json!({"name": "walk-legacy", "compose_manifest": compose, "app_id_salt": "00"}),
        ),
        (
            "upgrade-cvm-compose",
            json!({"compose_manifest": compose, "allow_restart": true}),
        ),
    ]);
    let mut failures = Vec::new();
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    let operations = operations();
    assert!(operations.len() >= 119, "{} operations listed", operations.len());
    for op in &operations {
        let mut args: Vec<String> = vec!["api".into(), op.clone()];
        if let Some(body) = bodies.get(op.as_str()) {
            let path = dir.join(format!("{op}.json"));
            std::fs::write(&path, body.to_string()).unwrap();
            args.extend(["--json-body".into(), path.to_string_lossy().to_string()]);
        }
        // Add what clap says is missing until it runs (each flag once).
        let out = loop {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = sim(&refs);
            let missing: Vec<String> = missing_flags(&out).into_iter().filter(|f| !args.contains(f)).collect();
            if code(&out) != 2 || missing.is_empty() {
                break out;
            }
            for flag in missing {
                let Some(value) = values.get(flag.as_str()) else {
                    failures.push(format!("{op}: no value for {flag}"));
                    break;
                };
                args.extend([flag.clone(), value.clone()]);
            }
            if failures.last().is_some_and(|f| f.starts_with(&format!("{op}:"))) {
                break out;
            }
        };
        match code(&out) {
            0 => *answered.entry("ok".into()).or_default() += 1,
            1 => {
                let err: Value = serde_json::from_slice(&out.stderr).unwrap_or(Value::Null);
                match err["error"]["status"].as_u64() {
                    Some(501) | None => failures.push(format!("{op}: {}", text(&out))),
                    Some(status) => *answered.entry(status.to_string()).or_default() += 1,
                }
            }
            _ => failures.push(format!("{op} ({}): {}", args.join(" "), text(&out))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} commands:\n{}",
        failures.len(),
        operations.len(),
        failures.join("\n")
    );
    // Most succeed outright; the rest are the simulator's answers about ids it does not hold.
    assert!(answered["ok"] * 3 > operations.len() * 2, "{answered:?}");
    eprintln!("{} commands: {answered:?}", operations.len());
}

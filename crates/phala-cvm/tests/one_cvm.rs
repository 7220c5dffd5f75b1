//! Commands on one CVM by name against the simulator: `ps`,
//! `attestation`, `upgrade` (the images it can move to), `ssh --dry-run`
//! and `api request`.

mod common;

use common::{code, sim, stdout_json, text};

/// The first simulated CVM's name and app id.
fn first() -> (String, String) {
    let listed = stdout_json(&sim(&["-o", "json", "list"]));
    let c = &listed[0];
    (c["name"].as_str().unwrap().into(), c["app_id"].as_str().unwrap().into())
}

#[test]
fn ps_attestation_and_upgrade_by_name() {
    let (name, app) = first();
    let ps = sim(&["ps", &name]);
    assert_eq!(code(&ps), 0, "{}", text(&ps));
    assert!(
        text(&ps).starts_with("NAME") && text(&ps).contains("running"),
        "{}",
        text(&ps)
    );
    let containers = stdout_json(&sim(&["-o", "json", "ps", &name]));
    assert!(containers["containers"][0]["log_endpoint"].is_string(), "{containers}");

    let att = sim(&["attestation", &name]);
    assert_eq!(code(&att), 0, "{}", text(&att));
    assert!(
        text(&att).contains("check: the event log replays to RTMR3"),
        "{}",
        text(&att)
    );
    let json = stdout_json(&sim(&["-o", "json", "attestation", &name]));
    assert_eq!(json["check"]["problems"], serde_json::json!([]));
    assert_eq!(
        json["check"]["attested_app_id"].as_str(),
        Some(app.trim_start_matches("app_"))
    );

    let config = stdout_json(&sim(&["-o", "json", "runtime-config", &name]));
    assert_eq!(config["hostname"], name.as_str(), "{config}");
    assert!(
        config["default_gateway_domain"]
            .as_str()
            .unwrap()
            .contains("phala.network")
    );

    let moved = sim(&["upgrade", &name, "--image", "dstack-dev-0.5.3"]);
    assert_eq!(code(&moved), 0, "{}", text(&moved));
    let unknown = sim(&["upgrade", &name, "--image", "no-such-image"]);
    assert_eq!(code(&unknown), 1);
    assert!(text(&unknown).contains("not available"), "{}", text(&unknown));

    let images = sim(&["upgrade", &name]);
    assert_eq!(code(&images), 0, "{}", text(&images));
    assert!(text(&images).contains("dstack-") && text(&images).contains("--image NAME"));
    assert_eq!(code(&sim(&["upgrade", "no-such-cvm"])), 1);
}

#[test]
fn ssh_dry_run_prints_the_gateway_command_in_both_versions() {
    let (name, app) = first();
    let app = app.trim_start_matches("app_").to_string();
    for version in ["2025-10-28", "2026-06-23"] {
        let out = sim(&[
            "--api-version",
            version,
            "ssh",
            &name,
            "--dry-run",
            "--",
            "-L",
            "8080:localhost:80",
            "uptime",
        ]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            line.starts_with("ssh -o 'ProxyCommand=openssl s_client -quiet -connect %h:%p 2>/dev/null'"),
            "{line}"
        );
        assert!(
            line.contains(&format!("-p 443 -L 8080:localhost:80 root@{app}-22.dstack-")),
            "{line}"
        );
        assert!(line.ends_with(".phala.network uptime"), "{line}");
    }
    let own_proxy = sim(&["ssh", &name, "--dry-run", "--", "-o", "ProxyCommand=nc %h %p"]);
    assert_eq!(code(&own_proxy), 2);
    let out = sim(&[
        "ssh",
        "app_0123456789abcdef0123456789abcdef01234567",
        "-g",
        "gw.example.com:8443",
        "--dry-run",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("-p 8443 root@0123456789abcdef0123456789abcdef01234567-22.gw.example.com"),
        "{}",
        text(&out)
    );
}

#[test]
fn api_request_sends_what_the_document_lacks_with_our_errors() {
    let (name, _) = first();
    let me = stdout_json(&sim(&["-o", "json", "api", "request", "GET", "/auth/me"]));
    assert_eq!(me["user"]["username"], "alice");
    let state = stdout_json(&sim(&[
        "-o",
        "json",
        "api",
        "request",
        "get",
        &format!("/api/v1/cvms/{name}/state"),
    ]));
    assert_eq!(state["name"], name.as_str());
    let missing = sim(&["api", "request", "GET", "/no/such/path"]);
    assert_eq!(code(&missing), 1);
    assert!(text(&missing).contains("HTTP 404"), "{}", text(&missing));
    let bad_body = sim(&["api", "request", "POST", "/cvms/x/stop", "--body", "{bad"]);
    assert_eq!(code(&bad_body), 2, "refused before anything is sent");
    let not_a_path = sim(&["api", "request", "GET", "https://evil.example/api"]);
    assert_eq!(code(&not_a_path), 2);
}

/// The first simulated CVM in `status`.
fn first_in(status: &str) -> String {
    let listed = stdout_json(&sim(&["-o", "json", "list"]));
    let c = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == status)
        .unwrap();
    c["name"].as_str().unwrap().to_string()
}

#[test]
fn resize_and_visibility_by_name() {
    let running = first_in("running");
    let refused = sim(&["resize", &running, "--vcpu", "4"]);
    assert_eq!(code(&refused), 1, "{}", text(&refused));
    assert!(
        text(&refused).contains("HTTP 400"),
        "a running CVM restarts only when allowed: {}",
        text(&refused)
    );
    let allowed = sim(&["resize", &running, "--vcpu", "4", "--memory", "8G", "--allow-restart"]);
    assert_eq!(code(&allowed), 0, "{}", text(&allowed));
    assert!(text(&allowed).contains("(it may restart)"));
    let shrink = sim(&["resize", &running, "--disk-size", "1", "--allow-restart"]);
    assert_eq!(code(&shrink), 1);
    assert!(text(&shrink).contains("only grow"), "{}", text(&shrink));
    assert_eq!(
        code(&sim(&["resize", &running])),
        2,
        "nothing to resize: refused before sending"
    );
    assert_eq!(code(&sim(&["resize", &running, "--memory", "8X"])), 2);

    let set = stdout_json(&sim(&[
        "-o",
        "json",
        "visibility",
        &running,
        "--public-logs",
        "true",
        "--public-sysinfo",
        "false",
    ]));
    assert_eq!(
        (set["public_logs"].as_bool(), set["public_sysinfo"].as_bool()),
        (Some(true), Some(false)),
        "{set}"
    );
}

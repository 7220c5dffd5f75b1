//! `login`, `whoami`, `profiles`, `logout` and `link`, sharing Phala's
//! CLI's credentials file and project file, against the simulator.

mod common;

use std::path::Path;

use common::{code, run_in, stdout_json, temp_dir, text};
use serde_json::{Value, json};

/// Runs with `dir` as the credentials directory and working directory.
fn in_dir(dir: &Path, args: &[&str]) -> std::process::Output {
    let creds = dir.to_str().unwrap();
    run_in(Some(dir), args, &[("PHALA_CLOUD_DIR", creds)])
}

fn credentials(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("credentials.json")).unwrap()).unwrap()
}

#[test]
fn login_then_whoami_profiles_and_logout() {
    let dir = temp_dir("login");
    let out = in_dir(&dir, &["--simulate", "--api-key", "phak_first", "login"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        text(&out).contains("logged in as alice (main-team): profile main-team"),
        "{}",
        text(&out)
    );
    let file = credentials(&dir);
    assert_eq!(file["schema_version"], 1);
    assert_eq!(file["current_profile"], "main-team");
    let p = &file["profiles"]["main-team"];
    assert_eq!(p["token"], "phak_first");
    assert_eq!(p["workspace"], json!({"name": "main-team", "slug": "main-team"}));
    assert_eq!(p["user"], json!({"username": "alice", "email": "alice@example.com"}));
    assert!(p["api_prefix"].as_str().unwrap().ends_with("/api/v1"));
    let stamp = p["updated_at"].as_str().unwrap();
    assert!(
        stamp.ends_with('Z') && stamp.len() == 24,
        "RFC 3339 with milliseconds: {stamp}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("credentials.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The stored key is the one sent: the simulator accepts only it.
    let who = in_dir(&dir, &["--simulate", "-o", "json", "whoami"]);
    assert_eq!(code(&who), 0, "{}", text(&who));
    let who = stdout_json(&who);
    assert_eq!(
        (who["username"].as_str(), who["profile"].as_str()),
        (Some("alice"), Some("main-team"))
    );
    assert!(
        !text(&in_dir(&dir, &["--simulate", "whoami"])).contains("phak_first"),
        "keys never print"
    );

    // A second login under another name becomes current; `use` switches back.
    let out = in_dir(
        &dir,
        &["--simulate", "--api-key", "phak_second", "--profile", "ci", "login"],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let listed = stdout_json(&in_dir(&dir, &["-o", "json", "profiles"]));
    let current: Vec<(&str, bool)> = listed["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["current"].as_bool().unwrap()))
        .collect();
    assert_eq!(current, [("ci", true), ("main-team", false)]);
    assert!(
        !text(&in_dir(&dir, &["profiles"])).contains("phak_"),
        "the table shows no token"
    );
    assert_eq!(code(&in_dir(&dir, &["profiles", "use", "main-team"])), 0);
    assert_eq!(credentials(&dir)["current_profile"], "main-team");
    let unknown = in_dir(&dir, &["profiles", "use", "nope"]);
    assert_eq!(code(&unknown), 2);
    assert!(text(&unknown).contains("stored: ci, main-team"), "{}", text(&unknown));

    // --profile picks the key: the simulator started for it accepts it.
    let who = stdout_json(&in_dir(
        &dir,
        &["--simulate", "--profile", "ci", "-o", "json", "whoami"],
    ));
    assert_eq!(who["profile"], "ci");

    assert_eq!(code(&in_dir(&dir, &["logout"])), 0);
    assert_eq!(credentials(&dir)["current_profile"], "ci");
    assert_eq!(code(&in_dir(&dir, &["logout"])), 0);
    assert!(
        !dir.join("credentials.json").exists(),
        "the last logout removes the file"
    );
    let out = in_dir(&dir, &["logout"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("not logged in"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file as Phala's CLI 1.1.18 writes it (`phala login`), with a field
/// this tool does not know: it is used as is and the field survives.
const PHALA_CLI_FILE: &str = r#"{
  "schema_version": 1,
  "current_profile": "alice-ws",
  "profiles": {
    "alice-ws": {
      "token": "phak_from_phala_cli",
      "api_prefix": "API_PREFIX",
      "workspace": { "name": "Alice WS", "slug": "alice-ws" },
      "user": { "username": "alice", "email": "a@x.io" },
      "updated_at": "2026-12-07T13:53:31.063Z",
      "future_field": { "kept": true }
    }
  },
  "future_top": [1, 2]
}"#;

#[test]
fn a_file_written_by_phalas_cli_is_used_and_a_bad_key_is_never_stored() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(
            phala_cloud_sim::Simulator::builder()
                .cvms(4)
                .api_key("phak_from_phala_cli")
                .start(),
        )
        .unwrap();
    let dir = temp_dir("phala-file");
    let prefix = format!("{}/api/v1", sim.base_url());
    std::fs::write(
        dir.join("credentials.json"),
        PHALA_CLI_FILE.replace("API_PREFIX", &prefix),
    )
    .unwrap();

    // No key, no URL given: both come from the profile.
    let who = in_dir(&dir, &["-o", "json", "whoami"]);
    assert_eq!(code(&who), 0, "{}", text(&who));
    assert_eq!(stdout_json(&who)["profile"], "alice-ws");
    let listed = in_dir(&dir, &["list"]);
    assert_eq!(code(&listed), 0, "{}", text(&listed));
    // By workspace name too, as Phala's CLI finds profiles.
    assert_eq!(code(&in_dir(&dir, &["--profile", "Alice WS", "whoami"])), 0);

    // A key the API refuses is not stored, and says why.
    let refused = in_dir(
        &dir,
        &["--base-url", sim.base_url(), "--profile", "bad", "login", "phak_wrong"],
    );
    assert_eq!(code(&refused), 1, "{}", text(&refused));
    assert!(text(&refused).contains("401"), "{}", text(&refused));
    let file = credentials(&dir);
    assert!(file["profiles"].get("bad").is_none());

    // A login beside it keeps what Phala's CLI wrote.
    let out = in_dir(
        &dir,
        &[
            "--base-url",
            sim.base_url(),
            "--profile",
            "second",
            "login",
            "phak_from_phala_cli",
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let file = credentials(&dir);
    assert_eq!(file["future_top"], json!([1, 2]));
    assert_eq!(file["profiles"]["alice-ws"]["future_field"], json!({"kept": true}));
    assert_eq!(file["profiles"]["alice-ws"]["token"], "phak_from_phala_cli");
    assert_eq!(file["current_profile"], "second");

    // An environment key wins over the profile; an unknown profile does not fall through.
    let env_key = run_in(
        Some(&dir),
        &["whoami"],
        &[
            ("PHALA_CLOUD_DIR", dir.to_str().unwrap()),
            ("PHALA_CLOUD_API_KEY", "phak_nope"),
        ],
    );
    assert_eq!(code(&env_key), 1, "the env key is sent, and refused");
    let unknown = in_dir(&dir, &["--profile", "nope", "whoami"]);
    assert_eq!(code(&unknown), 2);
    assert!(text(&unknown).contains("no profile \"nope\""), "{}", text(&unknown));

    // A file that is not JSON is named, never quoted.
    std::fs::write(dir.join("credentials.json"), "{\"profiles\": phak_secret_canary").unwrap();
    let broken = in_dir(&dir, &["whoami"]);
    assert_eq!(code(&broken), 2);
    assert!(text(&broken).contains("credentials.json") && !text(&broken).contains("canary"));
    std::fs::remove_dir_all(&dir).unwrap();
    rt.block_on(sim.shutdown());
}

#[test]
fn link_writes_phala_toml_and_commands_here_take_its_cvm() {
    let dir = temp_dir("link");
    let listed = stdout_json(&in_dir(&dir, &["--simulate", "--sim-cvms", "40", "-o", "json", "list"]));
    let name = listed[0]["name"].as_str().unwrap().to_string();
    let out = in_dir(&dir, &["--simulate", "--sim-cvms", "40", "link", &name]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let toml = std::fs::read_to_string(dir.join("phala.toml")).unwrap();
    assert!(
        toml.contains(&format!("name = \"{name}\"")) && toml.contains("app_id = \""),
        "{toml}"
    );
    let got = stdout_json(&in_dir(&dir, &["--simulate", "--sim-cvms", "40", "-o", "json", "get"]));
    assert_eq!(got["name"], name);
    let nowhere = temp_dir("unlinked");
    let out = in_dir(&nowhere, &["--simulate", "get"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("phala-cvm link"), "{}", text(&out));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&nowhere).unwrap();
}

#[test]
fn an_oidc_token_is_sent_as_a_bearer_token_when_no_key_is_stored() {
    let server = httpmock::MockServer::start();
    let me = server.mock(|when, then| {
        when.method(httpmock::Method::GET)
            .path("/api/v1/auth/me")
            .header("authorization", "Bearer ci-jwt")
            .header_missing("x-api-key");
        then.status(200).json_body(json!({
            "user": {"username": "ci", "email": "ci@example.com", "role": "user", "avatar": "",
                     "email_verified": true, "totp_enabled": false, "has_backup_codes": false, "flag_has_password": false},
            "workspace": {"id": "wks_1", "name": "ci-team", "slug": "ci-team", "tier": "pro", "role": "owner"},
            "credits": {"balance": "0", "granted_balance": "0", "is_post_paid": false, "outstanding_amount": null},
        }));
    });
    let dir = temp_dir("oidc");
    let out = run_in(
        Some(&dir),
        &["--base-url", &server.base_url(), "-o", "json", "whoami"],
        &[
            ("PHALA_CLOUD_DIR", dir.to_str().unwrap()),
            ("PHALA_OIDC_TOKEN", "ci-jwt"),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(stdout_json(&out)["username"], "ci");
    me.assert();
    assert!(!text(&out).contains("ci-jwt"), "the token never prints");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `deploy` at parity with Phala's CLI, against the simulator: the
//! compose's own settings (hashed), the env from -e and an SSH key, and
//! deploy on an existing name updating that CVM.

mod common;

use common::{code, sim, stdout_json, temp_dir, text};

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn deploy_flags_land_in_the_compose_and_the_sealed_env() {
    let dir = temp_dir("deploy-flags");
    let key = dir.join("id.pub");
    std::fs::write(&key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIexample user@host\n").unwrap();
    let script = dir.join("pre.sh");
    std::fs::write(&script, "echo prepared\n").unwrap();
    let compose = example("compose.yml");
    let out = sim(&[
        "-o",
        "json",
        "deploy",
        "-c",
        &compose,
        "-n",
        "flags-app",
        "-e",
        "FOO=bar",
        "-e",
        "BAZ=1",
        "--ssh-pubkey",
        key.to_str().unwrap(),
        "--pre-launch-script",
        script.to_str().unwrap(),
        "--no-public-logs",
        "--fs",
        "zfs",
        "--listed",
        "--dev-os",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let done = stdout_json(&out);
    let app = &done["app_compose"];
    let mut allowed: Vec<&str> = app["allowed_envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    allowed.sort();
    assert_eq!(allowed, ["BAZ", "DSTACK_AUTHORIZED_KEYS", "FOO"]);
    assert_eq!(done["env_keys"], app["allowed_envs"]);
    assert_eq!(
        (app["public_logs"].as_bool(), app["public_sysinfo"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(app["storage_fs"], "zfs");
    assert_eq!(app["pre_launch_script"], "echo prepared\n");
    assert!(
        !text(&out).contains("AAAAC3NzaC1"),
        "env values are sealed, never printed"
    );

    let not_a_key = sim(&[
        "deploy",
        "-c",
        &compose,
        "-n",
        "flags-app2",
        "--ssh-pubkey",
        script.to_str().unwrap(),
    ]);
    assert_eq!(code(&not_a_key), 2);
    assert!(text(&not_a_key).contains("not an SSH public key"));
    assert_eq!(code(&sim(&["deploy", "-c", &compose, "--fs", "btrfs"])), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn deploy_on_an_existing_name_updates_it() {
    let listed = stdout_json(&sim(&["-o", "json", "list"]));
    let (name, id) = (listed[0]["name"].as_str().unwrap(), listed[0]["id"].as_str().unwrap());
    let out = sim(&[
        "deploy",
        "-c",
        &example("compose.yml"),
        "-n",
        name,
        "-e",
        "GREETING=hi",
        "--node",
        "3",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&format!("updated {id}")), "{said}");
    assert!(said.contains("ignoring --node (for a new CVM only)"), "{said}");
    let by_id = sim(&["deploy", "-c", &example("compose.yml"), "--cvm-id", id]);
    assert_eq!(code(&by_id), 0, "{}", text(&by_id));
}

#[test]
fn deploy_places_the_cvm_where_asked() {
    let nodes = stdout_json(&sim(&["-o", "json", "nodes"]));
    let last = nodes["nodes"].as_array().unwrap().last().unwrap()["teepod_id"]
        .as_i64()
        .unwrap()
        .to_string();
    let out = sim(&[
        "-o",
        "json",
        "deploy",
        "-c",
        &example("compose.yml"),
        "-n",
        "placed-app",
        "--node",
        &last,
        "--disk-size",
        "80G",
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let cvm = &stdout_json(&out)["cvm"];
    assert_eq!(cvm["teepod"]["id"].to_string(), last);
    assert_eq!(cvm["disk_size"], 80);
    let nowhere = sim(&[
        "deploy",
        "-c",
        &example("compose.yml"),
        "-n",
        "placed-app",
        "--node",
        "99999",
    ]);
    assert_eq!(code(&nowhere), 1);
    assert!(text(&nowhere).contains("Node 99999 not found"), "{}", text(&nowhere));
}

//! `nodes`, `instance-types`, `os-images`, `kms` and `workspaces` against
//! the simulator: a table for people, the API's records under `-o json`.

mod common;

use common::{code, run, sim, stdout_json, text};

#[test]
fn discovery_commands_list_what_a_deploy_can_choose() {
    let nodes = stdout_json(&sim(&["-o", "json", "nodes"]));
    let first = &nodes["nodes"][0];
    assert!(first["teepod_id"].is_i64() && first["name"].is_string(), "{nodes}");
    let table = text(&sim(&["nodes"]));
    assert!(
        table.starts_with("ID  NAME") && table.contains(first["name"].as_str().unwrap()),
        "{table}"
    );

    let all = stdout_json(&sim(&["-o", "json", "instance-types"]));
    let ids: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"tdx.small"), "{ids:?}");
    let cpu = stdout_json(&sim(&["-o", "json", "instance-types", "cpu"]));
    assert!(cpu.as_array().unwrap().iter().all(|t| t["family"] == "cpu"));
    let missing = sim(&["instance-types", "nope"]);
    assert_eq!(code(&missing), 1);
    assert!(text(&missing).contains("404"), "{}", text(&missing));

    let images = stdout_json(&sim(&["-o", "json", "os-images"]));
    assert!(images.as_array().unwrap().iter().any(|i| i["is_dev"] == true));
    assert!(text(&sim(&["os-images"])).contains("dstack-dev-"));

    // The KMS list changed shape at 2026-06-23: contracts, then instances.
    let contracts = stdout_json(&sim(&["-o", "json", "kms"]));
    assert!(contracts[0]["contract_address"].is_string(), "{contracts}");
    let instances = stdout_json(&sim(&["--api-version", "2026-01-21", "-o", "json", "kms"]));
    assert!(instances[0]["url"].is_string(), "{instances}");
    assert!(text(&sim(&["--api-version", "2026-01-21", "kms"])).contains("URL"));

    let ws = stdout_json(&sim(&["-o", "json", "workspaces"]));
    let first = &ws[0];
    assert!(
        first["workspace"]["name"].is_string() && first["quotas"]["quotas"]["vcpu"]["limit"].is_number(),
        "{ws}"
    );
    let table = text(&sim(&["workspaces"]));
    assert!(table.contains("/64"), "remaining/limit: {table}");
}

#[test]
fn discovery_needs_a_key_like_every_api_command() {
    let out = run(&["nodes"], &[]);
    assert_eq!(code(&out), 2);
    assert!(text(&out).contains("phala-cvm login"), "{}", text(&out));
}

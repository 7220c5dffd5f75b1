//! The normaliser on real published documents: the bundled one and both full
//! upstream documents (about 90 operations each) must normalise and generate.

use std::path::PathBuf;

use phala_cloud_spec::{codegen, load_path, normalise};
use serde_json::Value;

fn shared(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/upstream")
        .join(name)
}

fn bundled() -> Value {
    load_path(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")).unwrap()
}

fn normalise_and_generate(doc: &Value) -> String {
    let normalised = normalise(doc).unwrap();
    assert_eq!(normalised["openapi"], "3.0.3");
    codegen::generate(&normalised).unwrap()
}

#[test]
fn upstream_2026_03_25_normalises_and_generates() {
    let code = normalise_and_generate(&load_path(shared("openapi-2026-03-25.json")).unwrap());
    assert!(code.contains("pub fn batch_stop_cvms(&self)"));
}

#[test]
fn upstream_2026_04_18_normalises_and_generates() {
    let code = normalise_and_generate(&load_path(shared("openapi-2026-04-18.json")).unwrap());
    assert!(code.contains("pub fn batch_cvm_status(&self)"));
}

#[test]
fn bundled_document_generates_five_readable_operations() {
    let code = normalise_and_generate(&bundled());
    for op in [
        "batch_cvm_status",
        "batch_stop_cvms",
        "list_cvms",
        "get_cvm_state",
        "get_app_cvms",
    ] {
        assert!(code.contains(&format!("pub fn {op}(&self)")), "{op} missing");
    }
    assert!(code.contains("pub struct CvmInfo"));
    assert!(!code.contains("teehouse"));
}

#[test]
fn bundled_document_keeps_published_bounds_and_ids() {
    let doc = bundled();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc.pointer("/components/schemas/BatchStopRequest/properties/cvm_ids/maxItems"),
        Some(&Value::from(50))
    );
    let params = doc
        .pointer("/paths/~1api~1v1~1cvms~1{cvm_id}~1state/get/parameters")
        .unwrap()
        .as_array()
        .unwrap();
    let bound = |name: &str, key: &str| params.iter().find(|p| p["name"] == name).unwrap()["schema"][key].clone();
    assert_eq!(
        (bound("interval", "minimum"), bound("interval", "maximum")),
        (Value::from(5), Value::from(30))
    );
    assert_eq!(
        (bound("timeout", "minimum"), bound("timeout", "maximum")),
        (Value::from(10), Value::from(600))
    );
    let mut ids: Vec<&str> = phala_cloud_spec::operations(&doc)
        .map(|(_, _, op)| op["operationId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        [
            "cancel_cvm_operation_api_v1_cvms__cvm_id__operations_cancel_post",
            "commit_cvm_update_api_v1_cvms__cvm_id__commit_update_post",
            "get_app_env_encrypt_pubkey_api_v1_kms__kms_id__pubkey__app_id__get",
            "get_app_revision_detail_api_v1_apps__app_id__revisions__revision_id__get",
            "get_app_revisions_api_v1_apps__app_id__revisions_get",
            "get_cvm_compose_file_api_v1_cvms__cvm_id__compose_file_get",
            "get_cvm_operations_api_v1_cvms__cvm_id__operations_get",
            "get_kms_info_api_v1_kms__kms_id__get",
            "handle_batch_cvm_status_api_v1_status_batch_post",
            "handle_batch_stop_cvms_api_v1_cvms_batch_stop_post",
            "handle_create_cvm_from_povision_api_v1_cvms_post",
            "handle_get_app_cvms_api_v1_apps__app_id__cvms_get",
            "handle_get_cvm_api_v1_cvms__cvm_id__get",
            "handle_get_cvm_state_api_v1_cvms__cvm_id__state_get",
            "handle_list_cvms_api_v1_cvms_get",
            "handle_list_cvms_paginated_api_v1_cvms_paginated_get",
            "handle_provision_cvm_api_v1_cvms_provision_post",
            "handle_remove_cvm_api_v1_cvms__cvm_id__delete",
            "handle_replicate_cvm_api_v1_cvms__cvm_id__replicas_post",
            "handle_restart_cvm_api_v1_cvms__cvm_id__restart_post",
            "handle_shutdown_cvm_api_v1_cvms__cvm_id__shutdown_post",
            "handle_start_cvm_api_v1_cvms__cvm_id__start_post",
            "handle_stop_cvm_api_v1_cvms__cvm_id__stop_post",
            "provision_for_cvm_compose_file_update_api_v1_cvms__cvm_id__compose_file_provision_post",
            "redeploy_app_revision_api_v1_apps__app_id__revisions__revision_id__redeploy_post",
            "trigger_cvm_compose_file_update_api_v1_cvms__cvm_id__compose_file_patch",
            "update_cvm_envs_api_v1_cvms__cvm_id__envs_patch",
        ]
    );
    let schemes: Vec<&String> = doc["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(schemes, ["OAuth2AuthorizationCodeBearer", "APIKeyHeader"]);
}

#[test]
fn the_bundled_operations_match_upstream_where_upstream_has_them() {
    // The seeds were rendered from the published document: every schema we
    // bundle that upstream 2026-04-18 also has must be identical to it, except
    // for the published changes the drift tooling reports.
    let up = load_path(shared("openapi-2026-04-18.json")).unwrap();
    let ours = bundled();
    let mut same = 0;
    for (name, schema) in ours["components"]["schemas"].as_object().unwrap() {
        if up["components"]["schemas"].get(name) == Some(schema) {
            same += 1;
        }
    }
    assert!(same >= 20, "only {same} schemas equal upstream");
}

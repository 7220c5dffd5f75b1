//! Every operation of the bundled document, called through the generated
//! client against a server that answers each one with what the document
//! promises (values made from its own schemas by `phala_cloud_spec::sample`),
//! and every answer decoded into the generated type. The server counts the
//! requests each operation received: an operation that no call reached
//! fails the test by name, so coverage is proven by traffic, not claimed.
//!
//! A new operation in the document fails here until a call is added below.

use std::sync::OnceLock;

use httpmock::{Method, Mock, MockServer};
use phala_cloud_api::{types, Client, Operation, Transport, Upload, MULTIPART_OPERATIONS, OPERATIONS};
use serde_json::Value;

/// The document the client was generated from: ours with the overlay, normalised.
fn prepared() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let doc = phala_cloud_spec::load_path(root.join("openapi.json")).unwrap();
        let overlay = phala_cloud_spec::Overlay::load_path(root.join("openapi.overlay.json")).unwrap();
        phala_cloud_spec::prepare(&doc, &overlay).unwrap()
    })
}

/// The value every path and required query parameter gets: `p-{name}`.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
        out.push_str(&rest[..open]);
        out.push_str(&format!("p-{}", &rest[open + 1..close]));
        rest = &rest[(close + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// A request body the operation accepts, typed.
fn body<T: serde::de::DeserializeOwned>(method: &str, path: &str) -> T {
    let value = phala_cloud_spec::sample::request_body(prepared(), method, path)
        .unwrap_or_else(|| panic!("{method} {path} takes no body"));
    serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{method} {path}: the sample body {value} is not its type: {e}"))
}

/// One mock per operation, answering its success status with a sample of its schema.
fn mock_every_operation(server: &MockServer) -> Vec<(&'static Operation, Mock<'_>)> {
    OPERATIONS
        .iter()
        .chain(MULTIPART_OPERATIONS)
        .map(|op| {
            let (status, answer) = phala_cloud_spec::sample::success_answer(prepared(), op.method, op.path)
                .unwrap_or_else(|| panic!("{} {} has no success answer", op.method, op.path));
            let mock = server.mock(|when, then| {
                when.method(op.method.parse::<Method>().unwrap())
                    .path(concrete(op.path));
                let then = then.status(status);
                if let Some((media, value)) = answer {
                    let text = match value {
                        Value::String(s) if !media.contains("json") => s,
                        other => other.to_string(),
                    };
                    then.header("content-type", media).body(text);
                }
            });
            (op, mock)
        })
        .collect()
}

/// Sends a builder's request; the answer must decode into the generated type.
macro_rules! answer {
    ($call:expr) => {{
        let call = stringify!($call);
        match $call.send().await {
            Ok(answer) => drop(answer),
            Err(e) => panic!("{call}: {e}"),
        }
    }};
}

#[tokio::test]
async fn every_operation_is_called_and_its_answer_decodes() {
    let server = MockServer::start_async().await;
    let mocks = mock_every_operation(&server);
    let client = Client::new(&server.base_url(), Transport::default());

    answer!(client
        .provision_cvm_for_eliza()
        .body(body::<types::ProvisionElizaRequest>(
            "POST",
            "/api/v1/cvms/provision/eliza"
        )));
    answer!(client.provision_cvm().body(body::<types::ProvisionDstackAppRequestV2>(
        "POST",
        "/api/v1/cvms/provision"
    )));
    answer!(client
        .create_cvm_for_workload()
        .body(body::<types::CreateWorkloadTappRequest>(
            "POST",
            "/api/v1/cvms/workload"
        )));
    answer!(client
        .create_cvm_from_povision()
        .body(body::<types::CreateTappRequest>("POST", "/api/v1/cvms")));
    answer!(client.list_cvms());
    answer!(client
        .create_eliza_from_provision()
        .body(body::<types::CreateTappRequest>("POST", "/api/v1/cvms/eliza")));
    answer!(client.get_cvm_compose_file().cvm_id("p-cvm_id"));
    answer!(client
        .trigger_cvm_compose_file_update()
        .cvm_id("p-cvm_id")
        .body(body::<types::ComposeFilePatch>(
            "PATCH",
            "/api/v1/cvms/{cvm_id}/compose_file"
        )));
    answer!(client
        .submit_cvm_compose_file_update()
        .cvm_id("p-cvm_id")
        .body(body::<types::ComposeFileUpdateRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/compose_file"
        )));
    answer!(client
        .provision_for_cvm_compose_file_update()
        .cvm_id("p-cvm_id")
        .body(body::<types::ProvisionComposeFileUpdateRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/compose_file/provision"
        )));
    answer!(client
        .replicate_cvm()
        .cvm_id("p-cvm_id")
        .body(Some(body::<types::ReplicateRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/replicas"
        ))));
    answer!(client.get_cvm_operations().cvm_id("p-cvm_id"));
    answer!(client.cancel_cvm_operation().cvm_id("p-cvm_id"));
    answer!(client.get_cvm_docker_compose().cvm_id("p-cvm_id"));
    answer!(client.get_cvm_prelaunch_script().cvm_id("p-cvm_id"));
    answer!(client.get_available_os_images().cvm_id("p-cvm_id"));
    answer!(client
        .update_cvm_os_image()
        .cvm_id("p-cvm_id")
        .body(body::<types::OsImagePatch>("PATCH", "/api/v1/cvms/{cvm_id}/os-image")));
    answer!(client
        .update_cvm_envs()
        .cvm_id("p-cvm_id")
        .body(body::<types::EnvsPatch>("PATCH", "/api/v1/cvms/{cvm_id}/envs")));
    answer!(client
        .redeploy_cvm_revision()
        .cvm_id("p-cvm_id")
        .revision_id("p-revision_id"));
    answer!(client
        .batch_refresh_cvm_instance_ids()
        .body(body::<types::BatchInstanceIdRefreshRequest>(
            "PATCH",
            "/api/v1/cvms/instance-ids"
        )));
    answer!(client.list_cvms_paginated());
    answer!(client
        .refresh_cvm_instance_id()
        .cvm_id("p-cvm_id")
        .body(body::<types::InstanceIdRefreshRequest>(
            "PATCH",
            "/api/v1/cvms/{cvm_id}/instance-id"
        )));
    answer!(client.get_cvm().cvm_id("p-cvm_id"));
    answer!(client.remove_cvm().cvm_id("p-cvm_id"));
    answer!(client
        .update_cvm_endpoint()
        .cvm_id("p-cvm_id")
        .body(body::<types::UpdateCvmRequest>("PATCH", "/api/v1/cvms/{cvm_id}")));
    answer!(client.get_cvm_stats().cvm_id("p-cvm_id"));
    answer!(client.get_cvm_attestation().cvm_id("p-cvm_id"));
    answer!(client.get_cvm_network_info().cvm_id("p-cvm_id"));
    answer!(client.start_cvm().cvm_id("p-cvm_id"));
    answer!(client.shutdown_cvm().cvm_id("p-cvm_id"));
    answer!(client.stop_cvm().cvm_id("p-cvm_id"));
    answer!(client
        .restart_cvm()
        .cvm_id("p-cvm_id")
        .body(body::<types::RestartPost>("POST", "/api/v1/cvms/{cvm_id}/restart")));
    answer!(client.get_operation_status().cvm_id("p-cvm_id"));
    answer!(client
        .update_cvm_name()
        .cvm_id("p-cvm_id")
        .body(body::<types::NamePatch>("PATCH", "/api/v1/cvms/{cvm_id}/name")));
    answer!(client
        .update_cvm_listed()
        .cvm_id("p-cvm_id")
        .body(body::<types::ListedPatch>("PATCH", "/api/v1/cvms/{cvm_id}/listed")));
    answer!(client
        .update_cvm_scheduled_delete()
        .cvm_id("p-cvm_id")
        .body(body::<types::ScheduledDeletePatch>(
            "PATCH",
            "/api/v1/cvms/{cvm_id}/scheduled-delete"
        )));
    answer!(client
        .batch_stop_cvms()
        .body(body::<types::BatchStopRequest>("POST", "/api/v1/cvms/batch-stop")));
    answer!(client
        .batch_cvm_status()
        .body(body::<types::BatchStatusRequest>("POST", "/api/v1/status/batch")));
    answer!(client.get_cvm_state().cvm_id("p-cvm_id"));
    answer!(client.get_network_config().cvm_id("p-cvm_id"));
    answer!(client
        .update_network_config()
        .cvm_id("p-cvm_id")
        .body(body::<types::UpdateNetworkConfigRequest>(
            "PATCH",
            "/api/v1/cvms/{cvm_id}/network-config"
        )));
    answer!(client.get_port_mappings().cvm_id("p-cvm_id"));
    answer!(client
        .set_port_mappings()
        .cvm_id("p-cvm_id")
        .body(body::<types::UpdatePortMappingsRequest>(
            "PUT",
            "/api/v1/cvms/{cvm_id}/ports"
        )));
    answer!(client.get_firewall_status().cvm_id("p-cvm_id"));
    answer!(client.get_commit_update_info().cvm_id("p-cvm_id").token("p-token"));
    answer!(client
        .commit_cvm_update()
        .cvm_id("p-cvm_id")
        .body(body::<types::CommitUpdateRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/commit-update"
        )));
    answer!(client
        .commit_cvm_replica()
        .cvm_id("p-cvm_id")
        .body(body::<types::CommitUpdateRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/commit-replica"
        )));
    answer!(client
        .diagnose_custom_domains()
        .cvm_id("p-cvm_id")
        .body(body::<types::DiagnoseDomainsRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/customize-domain-diagnose"
        )));
    answer!(client.get_cvm_user_config().cvm_id("p-cvm_id"));
    answer!(client.list_kms());
    answer!(client.get_kms_info().kms_id("p-kms_id"));
    answer!(client
        .get_app_env_encrypt_pubkey()
        .app_id("p-app_id")
        .kms_id("p-kms_id"));
    answer!(client.get_next_app_id());
    answer!(client.inspect_kms().kms_id("p-kms_id"));
    answer!(client.get_kms_onchain_detail().chain("p-chain"));
    answer!(client.list_dstack_apps());
    answer!(client.get_filter_options());
    answer!(client.get_dstack_app().app_id("p-app_id"));
    answer!(client.get_app_cvms().app_id("p-app_id"));
    answer!(client
        .apps_replicate_cvm()
        .app_id("p-app_id")
        .vm_uuid("p-vm_uuid")
        .body(Some(body::<types::ReplicateRequest>(
            "POST",
            "/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas"
        ))));
    answer!(client
        .create_app_instance()
        .app_id("p-app_id")
        .body(body::<types::CreateAppInstanceRequest>(
            "POST",
            "/api/v1/apps/{app_id}/instances"
        )));
    answer!(client.get_device_allowlist().app_id("p-app_id"));
    answer!(client.get_app_attestation().app_id("p-app_id"));
    answer!(client.get_app_tcb_evaluation().app_id("p-app_id"));
    answer!(client.get_app_revisions().app_id("p-app_id"));
    answer!(client
        .get_app_revision_detail()
        .app_id("p-app_id")
        .revision_id("p-revision_id"));
    answer!(client
        .redeploy_app_revision()
        .app_id("p-app_id")
        .revision_id("p-revision_id")
        .body(Some(body::<types::RedeployRevisionRequest>(
            "POST",
            "/api/v1/apps/{app_id}/revisions/{revision_id}/redeploy"
        ))));
    answer!(client.get_app_usage().app_id("p-app_id"));
    answer!(client
        .app_is_allowed()
        .app_id("p-app_id")
        .body(body::<types::AppIsAllowedRequest>(
            "POST",
            "/api/v1/apps/{app_id}/is-allowed"
        )));
    answer!(client.app_cvms_is_allowed().app_id("p-app_id"));
    answer!(client.get_app_kms_info().app_id("p-app_id"));
    answer!(client.get_pending_updates().app_id("p-app_id"));
    answer!(client
        .get_pending_update_preview()
        .app_id("p-app_id")
        .vm_uuid("p-vm_uuid")
        .compose_hash("p-compose_hash"));
    answer!(client.list_all_families());
    answer!(client.list_family_instance_types().family("p-family"));
    answer!(client.list_recent());
    answer!(client.view().checksum("p-checksum"));
    answer!(client.get_collateral().checksum("p-checksum"));
    answer!(client.get_raw().checksum("p-checksum"));
    answer!(client.check_raw_file().checksum("p-checksum"));
    answer!(client.list_ppids());
    answer!(client.list_device_ids());
    answer!(client.list_nodes());
    answer!(client.list_webhooks());
    answer!(client.create_webhook().body(body::<types::WebhookCreateRequest>(
        "POST",
        "/api/v1/workspace/webhooks"
    )));
    answer!(client.get_webhook().webhook_id("p-webhook_id"));
    answer!(client
        .update_webhook()
        .webhook_id("p-webhook_id")
        .body(body::<types::WebhookUpdateRequest>(
            "PUT",
            "/api/v1/workspace/webhooks/{webhook_id}"
        )));
    answer!(client.delete_webhook().webhook_id("p-webhook_id"));
    answer!(client.reveal_webhook_secret().webhook_id("p-webhook_id"));
    answer!(client.rotate_webhook_secret().webhook_id("p-webhook_id"));
    answer!(client.test_webhook().webhook_id("p-webhook_id"));
    answer!(client.list_deliveries().webhook_id("p-webhook_id"));
    answer!(client
        .resend_delivery()
        .webhook_id("p-webhook_id")
        .event_id("p-event_id"));
    answer!(client.webhook_stats().webhook_id("p-webhook_id"));
    answer!(client.get_user_ssh_keys());
    answer!(client
        .create_user_ssh_key()
        .body(body::<types::SshKeyCreateRequest>("POST", "/api/v1/user/ssh-keys")));
    answer!(client.delete_user_ssh_key().key_id("p-key_id"));
    answer!(client
        .import_github_profile_ssh_keys()
        .body(body::<types::GithubProfileImportRequest>(
            "POST",
            "/api/v1/user/ssh-keys/github-profile"
        )));
    answer!(client.sync_github_ssh_keys());

    // Evidence-only operations: no document publishes them, Phala's own tools call them.
    answer!(client.get_current_user());
    answer!(client.list_workspaces());
    answer!(client.get_workspace().team_slug("p-team_slug"));
    answer!(client
        .get_workspace_nodes()
        .team_slug("p-team_slug")
        .page(1)
        .page_size(10));
    answer!(client.get_workspace_quotas().team_slug("p-team_slug"));
    answer!(client.get_available_nodes());
    answer!(client.get_cvm_create_resources());
    answer!(client.list_os_images().is_dev(false).page(1).page_size(10));
    answer!(client.list_kms_contract_nodes().kms_id("p-kms_id"));
    answer!(client.get_cvm_composition().cvm_id("p-cvm_id"));
    answer!(client
        .update_cvm_visibility()
        .cvm_id("p-cvm_id")
        .body(body::<types::CvmVisibilityRequest>(
            "PATCH",
            "/api/v1/cvms/{cvm_id}/visibility"
        )));
    answer!(client
        .check_cvm_is_allowed()
        .cvm_id("p-cvm_id")
        .body(body::<types::CvmIsAllowedRequest>(
            "POST",
            "/api/v1/cvms/{cvm_id}/is-allowed"
        )));
    answer!(client
        .update_cvm_resources()
        .cvm_id("p-cvm_id")
        .body(body::<types::CvmResourcesRequest>(
            "PATCH",
            "/api/v1/cvms/{cvm_id}/resources"
        )));

    // Evidence-only operations that only Phala's CLI calls (device login, the legacy deploy).
    answer!(client
        .request_device_code()
        .body(body::<types::DeviceCodeRequest>("POST", "/api/v1/auth/device/code")));
    answer!(client
        .poll_device_token()
        .body(body::<types::DeviceTokenRequest>("POST", "/api/v1/auth/device/token")));
    answer!(client
        .get_pubkey_from_cvm_configuration()
        .body(body::<types::LegacyCvmConfiguration>(
            "POST",
            "/api/v1/cvms/pubkey/from_cvm_configuration"
        )));
    answer!(client
        .create_cvm_from_configuration()
        .body(body::<types::LegacyCvmConfiguration>(
            "POST",
            "/api/v1/cvms/from_cvm_configuration"
        )));
    answer!(client
        .upgrade_cvm_compose()
        .cvm_id("p-cvm_id")
        .body(body::<types::LegacyComposeUpgrade>(
            "PUT",
            "/api/v1/cvms/{cvm_id}/compose"
        )));

    // The uploads progenitor does not encode, made by hand.
    let upload = || Upload::new("file.txt", b"contents".to_vec());
    answer!(client.update_cvm_docker_compose().cvm_id("p-cvm_id").file(upload()));
    answer!(client
        .update_cvm_pre_launch_script()
        .cvm_id("p-cvm_id")
        .file(upload())
        .compose_hash("0a1b")
        .transaction_hash("0x2c"));
    answer!(client.upload_and_verify().file(upload()).hex("0a1b"));

    let missed: Vec<String> = mocks
        .iter()
        .filter(|(_, mock)| mock.calls() == 0)
        .map(|(op, _)| format!("{} {} ({})", op.method, op.path, op.name))
        .collect();
    assert!(missed.is_empty(), "operations no test calls: {missed:#?}");
    assert_eq!(mocks.len(), OPERATIONS.len() + MULTIPART_OPERATIONS.len());
}

/// Every operation of the document, and every one the overlay adds from
/// the evidence, has a typed call: generated, or one of the hand-made
/// uploads for the operations the normaliser sets aside.
#[test]
fn every_published_operation_has_a_call() {
    let key = |m: &str, p: &str| format!("{m} {p}");
    let operations = |doc: &Value| -> Vec<String> {
        let mut out: Vec<String> = phala_cloud_spec::operations(doc)
            .map(|(p, m, _)| key(&m.to_uppercase(), p))
            .collect();
        out.sort();
        out
    };
    let bundled = phala_cloud_spec::load_bytes(phala_cloud_api::OPENAPI_JSON.as_bytes(), "openapi.json").unwrap();
    let published = operations(&bundled);
    let overlay = phala_cloud_spec::Overlay::load_path(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.overlay.json"),
    )
    .unwrap();
    let all = operations(&phala_cloud_spec::apply_overlay(&bundled, &overlay).unwrap());
    let mut called: Vec<String> = OPERATIONS
        .iter()
        .chain(MULTIPART_OPERATIONS)
        .map(|op| key(op.method, op.path))
        .collect();
    called.sort();
    assert_eq!(called, all);
    let evidence_only = all.iter().filter(|op| !published.contains(op)).count();
    assert_eq!((published.len(), evidence_only), (102, 18), "published + evidence-only");
    // The hand-made calls are the operations set aside, under their ids.
    let set_aside = prepared()[phala_cloud_spec::normalise::DROPPED_OPERATIONS]
        .as_object()
        .unwrap();
    let mut ids: Vec<(String, &str)> = set_aside
        .iter()
        .map(|(key, op)| (key.clone(), op["operationId"].as_str().unwrap()))
        .collect();
    let mut hand_made: Vec<(String, &str)> = MULTIPART_OPERATIONS
        .iter()
        .map(|op| (key(op.method, op.path), op.name))
        .collect();
    ids.sort();
    hand_made.sort();
    assert_eq!(hand_made, ids);
}

#[test]
fn concrete_paths() {
    assert_eq!(
        concrete("/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas"),
        "/api/v1/apps/p-app_id/cvms/p-vm_uuid/replicas"
    );
    assert_eq!(concrete("/api/v1/cvms"), "/api/v1/cvms");
}

/// The overlay records why each answer the client leaves untyped is so, and
/// that record is complete: every success answer still without a schema is
/// listed, and everything listed is an operation of the document.
#[test]
fn every_untyped_answer_is_accounted_for_in_the_overlay() {
    let doc = prepared();
    let listed = doc["info"]["x-untyped-answers"].as_object().unwrap();
    let mut untyped = Vec::new();
    let set_aside = doc[phala_cloud_spec::normalise::DROPPED_OPERATIONS]
        .as_object()
        .unwrap();
    let mut all: Vec<(String, &Value)> = phala_cloud_spec::operations(doc)
        .map(|(p, m, op)| (format!("{} {p}", m.to_uppercase()), op))
        .collect();
    all.extend(set_aside.iter().map(|(k, op)| (k.clone(), op)));
    for (key, op) in &all {
        for (code, response) in op["responses"].as_object().unwrap() {
            let schema = response.pointer("/content/application~1json/schema");
            let bare = schema.and_then(Value::as_object).is_some_and(|s| {
                s.keys()
                    .all(|k| k.starts_with("x-") || k == "title" || k == "description")
            });
            if code.starts_with('2') && bare && !key.starts_with("HEAD ") {
                untyped.push(key.clone());
            }
        }
    }
    for key in &untyped {
        assert!(
            listed.contains_key(key),
            "{key} answers untyped and the overlay does not say why"
        );
    }
    for key in listed.keys() {
        assert!(
            all.iter().any(|(k, _)| k == key),
            "{key} is listed but not an operation"
        );
        assert!(
            untyped.contains(key),
            "{key} is listed as untyped but has a type now: drop it from the list"
        );
    }
    assert_eq!(untyped.len(), listed.len());
}

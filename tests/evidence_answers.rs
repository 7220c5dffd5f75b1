//! The answers the overlay corrected from the evidence decode as the newest
//! official SDK models them: each answer here is made from the Python SDK's
//! own pydantic model at API 2026-06-23 (its JSON Schema in
//! xtask/evidence/sdk-python.json, sampled by `phala_cloud_spec::sample`),
//! served over loopback and decoded by the generated client sent with
//! `X-Phala-Version: 2026-06-23`.

use httpmock::{Method, MockServer};
use phala_cloud_api::{types, Client, Transport};
use serde_json::{json, Value};

const VERSION: &str = "2026-06-23";

fn snapshot() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("xtask/evidence/sdk-python.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A pydantic schema as the sampler reads a normalised document: `#/$defs/X`
/// references as `#/components/schemas/X`, a tuple (`prefixItems`) as an
/// array of its first item type.
fn components_refs(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => (k.clone(), json!(r.replace("#/$defs/", "#/components/schemas/"))),
                    ("prefixItems", Value::Array(items)) => ("items".to_string(), components_refs(&items[0])),
                    _ => (k.clone(), components_refs(v)),
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(components_refs).collect()),
        other => other.clone(),
    }
}

/// An answer shaped as the Python SDK models `METHOD path` at 2026-06-23.
fn answer_as_python_models(snap: &Value, method: &str, path: &str) -> (String, Value) {
    let call = snap["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["method"] == method && c["path"] == path && c["sent_version"] == VERSION)
        .unwrap_or_else(|| panic!("{method} {path}: no call at {VERSION} in the snapshot"));
    let model = call["response"].as_str().unwrap().to_string();
    let schema = components_refs(&snap["schemas"][&model]);
    let doc = json!({"components": {"schemas": schema.get("$defs").cloned().unwrap_or(json!({}))}});
    let mut value = phala_cloud_spec::sample::sample(&doc, &schema);
    // The sampler fills every field; the ids this version hashes are strings.
    hashed_ids(&mut value);
    (model, value)
}

/// Where the model says "a string", give the value a hashed id's form.
fn hashed_ids(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if (k == "cvm_id" || k == "skipped_cvm_ids" || k == "cvm_ids") && !v.is_null() {
                    *v = match v {
                        Value::Array(_) => json!(["cvm_ykL5lbAn"]),
                        _ => json!("cvm_ykL5lbAn"),
                    };
                } else {
                    hashed_ids(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(hashed_ids),
        _ => {}
    }
}

fn client(server: &MockServer) -> Client {
    Client::new(&server.base_url(), Transport::default().api_version(VERSION).unwrap())
}

fn serve(server: &MockServer, method: &str, concrete: &str, answer: &Value) {
    server.mock(|when, then| {
        when.method(method.parse::<Method>().unwrap())
            .path(format!("/api/v1{concrete}"))
            .header("x-phala-version", VERSION);
        then.status(200).json_body(answer.clone());
    });
}

#[tokio::test]
async fn corrected_answers_decode_as_the_newest_sdk_models_them() {
    let snap = snapshot();
    let server = MockServer::start_async().await;
    let c = client(&server);

    // Hashed cvm ids from 2026-05-22: one instance-id refresh, a batch of them.
    let (model, a) = answer_as_python_models(&snap, "PATCH", "/cvms/{cvm_id}/instance-id");
    assert!(a["cvm_id"].is_string(), "{model}: {a}");
    serve(&server, "PATCH", "/cvms/cvm_ykL5lbAn/instance-id", &a);
    let one = c.refresh_cvm_instance_id().cvm_id("cvm_ykL5lbAn").send().await.unwrap();
    assert_eq!(one.cvm_id, types::CvmId::String("cvm_ykL5lbAn".into()), "{model}");

    let (model, a) = answer_as_python_models(&snap, "PATCH", "/cvms/instance-ids");
    serve(&server, "PATCH", "/cvms/instance-ids", &a);
    let many = c
        .batch_refresh_cvm_instance_ids()
        .body(types::BatchInstanceIdRefreshRequest::builder())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{model}: {e}"));
    assert!(!many.items.is_empty(), "{model}");
    assert!(matches!(many.items[0].cvm_id, types::CvmId::String(_)), "{model}");

    // An app's is-allowed results and skipped ids.
    let (model, a) = answer_as_python_models(&snap, "POST", "/apps/{app_id}/cvms/is-allowed");
    serve(&server, "POST", "/apps/app1/cvms/is-allowed", &a);
    let allowed = c.app_cvms_is_allowed().app_id("app1").send().await.unwrap();
    let results = allowed.results.as_deref().unwrap_or_default();
    assert!(matches!(results[0].cvm_id, types::CvmId::String(_)), "{model}");
    let skipped = allowed.skipped_cvm_ids.as_deref().unwrap_or_default();
    assert!(matches!(skipped[0], types::CvmId::String(_)), "{model}");

    // The device allowlist's CVMs.
    let (model, a) = answer_as_python_models(&snap, "GET", "/apps/{app_id}/device-allowlist");
    serve(&server, "GET", "/apps/app1/device-allowlist", &a);
    let list = c.get_device_allowlist().app_id("app1").send().await.unwrap();
    let devices = list.devices.as_deref().unwrap_or_default();
    assert!(
        matches!(
            devices[0].cvm_ids.as_deref().unwrap_or_default()[0],
            types::CvmId::String(_)
        ),
        "{model}"
    );

    // KMS contracts from 2026-06-23.
    let (model, a) = answer_as_python_models(&snap, "GET", "/kms");
    assert!(a["items"][0]["contract_address"].is_string(), "{model}: {a}");
    serve(&server, "GET", "/kms", &a);
    let kms = c.list_kms().send().await.unwrap_or_else(|e| panic!("{model}: {e}"));
    match kms.into_inner() {
        types::ListKmsResponse::ContractList(page) => {
            assert_eq!(
                page.items[0].contract_address,
                a["items"][0]["contract_address"].as_str().unwrap()
            )
        }
        other => panic!("{model} decoded as the node list: {other:?}"),
    }
}

#[tokio::test]
async fn evidence_only_operations_decode_as_the_newest_sdk_models_them() {
    let snap = snapshot();
    let server = MockServer::start_async().await;
    let c = client(&server);
    let cases = [
        ("GET", "/auth/me", "/auth/me"),
        ("GET", "/workspaces", "/workspaces"),
        ("GET", "/workspaces/{team_slug}", "/workspaces/team"),
        ("GET", "/workspaces/{team_slug}/nodes", "/workspaces/team/nodes"),
        ("GET", "/workspaces/{team_slug}/quotas", "/workspaces/team/quotas"),
        ("GET", "/teepods/available", "/teepods/available"),
        ("GET", "/teepods/cvm-create-resources", "/teepods/cvm-create-resources"),
        ("GET", "/os-images", "/os-images"),
        ("GET", "/kms/{slug}/nodes", "/kms/phala/nodes"),
        ("POST", "/cvms/{cvm_id}/is-allowed", "/cvms/cvm_ykL5lbAn/is-allowed"),
    ];
    for (method, sdk_path, concrete) in cases {
        let (_, a) = answer_as_python_models(&snap, method, sdk_path);
        serve(&server, method, concrete, &a);
    }
    macro_rules! decodes {
        ($call:expr) => {
            if let Err(e) = $call.send().await {
                panic!("{}: {e}", stringify!($call));
            }
        };
    }
    decodes!(c.get_current_user());
    decodes!(c.list_workspaces());
    decodes!(c.get_workspace().team_slug("team"));
    decodes!(c.get_workspace_nodes().team_slug("team"));
    decodes!(c.get_workspace_quotas().team_slug("team"));
    decodes!(c.get_available_nodes());
    decodes!(c.get_cvm_create_resources());
    decodes!(c.list_os_images());
    decodes!(c.list_kms_contract_nodes().kms_id("phala"));
    decodes!(c
        .check_cvm_is_allowed()
        .cvm_id("cvm_ykL5lbAn")
        .body(types::CvmIsAllowedRequest::builder().compose_hash(Some("0a".to_string()))));
}

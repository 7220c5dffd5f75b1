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
    // Every operation upstream publishes, under the id it publishes.
    let ids = |doc: &Value| {
        let mut ids: Vec<String> = phala_cloud_spec::operations(doc)
            .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_string())
            .collect();
        ids.sort_unstable();
        ids
    };
    let upstream = load_path(shared("openapi-2026-04-18.json")).unwrap();
    assert_eq!(ids(&doc), ids(&upstream));
    assert_eq!(ids(&doc).len(), 102);
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

//! The bundled overlay against the bundled document and the published ones.

use phala_cloud_spec::{Overlay, apply_overlay, load_path, prepare};
use serde_json::{Value, json};

fn root(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(name)
}

fn bundled() -> (Value, Overlay) {
    (
        load_path(root("openapi.json")).unwrap(),
        Overlay::load_path(root("openapi.overlay.json")).unwrap(),
    )
}

#[test]
fn every_action_applies_and_the_client_has_what_it_adds() {
    let (doc, overlay) = bundled();
    let applied = overlay.apply(&doc).unwrap();
    assert!(
        applied.unmatched().is_empty(),
        "stale actions: {:?}",
        applied.unmatched()
    );
    assert!(
        overlay.actions.iter().all(|a| a.description.len() > 40),
        "every action says why"
    );
    let code = phala_cloud_spec::codegen::generate(&prepare(&doc, &overlay).unwrap()).unwrap();
    for wanted in [
        "pub resource_usage: ::std::option::Option<ResourceUsage>",
        "pub operation: ::std::option::Option<CvmOperation>",
        "pub struct CvmState {",
        "pub struct CvmStateComplete {",
        "Unknown(::std::string::String)",
        "Integer(i64)",
    ] {
        assert!(code.contains(wanted), "generated code lacks {wanted}");
    }
    assert!(
        !code.contains("Variant0"),
        "an unnamed union variant reached the public API"
    );
    // The state endpoint answers as a byte stream, its JSON decoded by the caller.
    assert!(code.contains("ResponseValue<ByteStream>"));
}

#[test]
fn the_overlay_still_applies_to_the_newest_published_document() {
    let (_, overlay) = bundled();
    let upstream = load_path(root("../shared/upstream/openapi-2026-04-18.json")).unwrap();
    let applied = overlay.apply(&upstream).unwrap();
    assert!(applied.unmatched().is_empty(), "{:?}", applied.unmatched());
    assert!(
        overlay.carried_by(&upstream).is_empty(),
        "upstream carries none of it yet"
    );
}

#[test]
fn an_action_upstream_now_carries_is_reported_and_a_stale_one_fails() {
    let (doc, overlay) = bundled();
    let mut upstream = doc.clone();
    upstream["components"]["schemas"]["CvmStatus"]["properties"]["resource_usage"] =
        json!({"anyOf": [{"$ref": "#/components/schemas/ResourceUsage"}, {"type": "null"}]});
    upstream["components"]["schemas"]["CvmStatus"]["properties"]["operation"] =
        json!({"anyOf": [{"$ref": "#/components/schemas/CvmOperation"}, {"type": "null"}]});
    let carried: Vec<&str> = overlay
        .carried_by(&upstream)
        .iter()
        .map(|a| a.target.as_str())
        .collect();
    assert_eq!(carried, ["$.components.schemas.CvmStatus.properties"]);

    let mut gone = doc.clone();
    gone["paths"]
        .as_object_mut()
        .unwrap()
        .remove("/api/v1/cvms/{cvm_id}/state");
    let err = apply_overlay(&gone, &overlay).unwrap_err().to_string();
    assert!(err.contains("selects nothing"), "{err}");
}

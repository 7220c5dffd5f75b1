//! The evidence comparison on small documents: each severity rule, the
//! union arms, mistakes, ignores and acknowledgements of `known.json`.

use phala_cloud_spec::evidence::{EvidenceReport, Known, Severity, Snapshot, compare};
use serde_json::{Value, json};

fn doc() -> Value {
    let answer =
        |schema: Value| json!({"200": {"description": "ok", "content": {"application/json": {"schema": schema}}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/api/v1/cvms/{cvm_id}": {"get": {"responses": answer(json!({"$ref": "#/components/schemas/Cvm"}))}},
            "/api/v1/cvms/paginated": {"get": {
                "parameters": [{"name": "page", "in": "query", "schema": {"type": "integer"}}],
                "responses": answer(json!({"type": "array", "items": {"$ref": "#/components/schemas/Cvm"}}))}},
            "/api/v1/kms": {"get": {"responses": answer(json!({"anyOf": [
                {"$ref": "#/components/schemas/NodeList"},
                {"$ref": "#/components/schemas/ContractList"}]}))}},
            "/api/v1/untyped": {"get": {"responses": answer(json!({}))}},
        },
        "components": {"schemas": {
            "Cvm": {"type": "object", "required": ["id", "name"], "properties": {
                "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "name": {"type": "string"},
                "status": {"type": "string", "enum": ["running", "stopped"]},
                "vcpu": {"type": "integer"},
            }},
            "NodeList": {"type": "object", "properties": {"items": {"type": "array", "items": {
                "type": "object", "properties": {"id": {"type": "integer"}}}}}},
            "ContractList": {"type": "object", "properties": {"items": {"type": "array", "items": {
                "type": "object", "properties": {"contract_address": {"type": "string"}}}}}},
        }},
    })
}

fn snapshot(calls: Value, schemas: Value) -> Snapshot {
    serde_json::from_value(json!({
        "format": 1,
        "sdk": {"name": "sdk", "version": "1.0"},
        "versions": {"supported": ["2026-05-22", "2026-06-23"], "default": "2026-06-23"},
        "calls": calls,
        "schemas": schemas,
    }))
    .unwrap()
}

fn call(method: &str, path: &str, version: &str, response: Option<&str>) -> Value {
    json!({"sdk_method": "m", "method": method, "path": path, "api_version": version,
        "sent_version": version, "query": [], "body": null, "response": response})
}

/// The findings, hidden ones (SDK modelling) left out.
fn lines(r: &EvidenceReport) -> Vec<String> {
    all_lines(r).into_iter().filter(|l| !l.starts_with("Hidden")).collect()
}

fn all_lines(r: &EvidenceReport) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| {
            format!(
                "{:?}{} {} {}: {}",
                f.severity,
                if f.acknowledged.is_some() { " (ack)" } else { "" },
                f.operation,
                f.location,
                f.change
            )
        })
        .collect()
}

fn known(v: Value) -> Known {
    serde_json::from_value(v).unwrap()
}

#[test]
fn severities_follow_what_breaks_a_client() {
    let snap = snapshot(
        json!([call("GET", "/cvms/{id}", "2026-06-23", Some("Cvm"))]),
        json!({"Cvm": {"type": "object", "required": ["id", "gpu", "vcpu"], "additionalProperties": true, "properties": {
            "id": {"type": "string"},
            "name": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
            "vcpu": {"type": "number"},
            "gpu": {"type": "string"},
            "disk": {"type": "integer", "default": 0},
            "status": {"type": "string", "enum": ["running", "stopped", "paused"]},
        }}}),
    );
    let r = compare(&doc(), &[snap], &Known::default());
    let l = all_lines(&r);
    assert!(
        l.contains(
            &"Error GET /api/v1/cvms/{cvm_id} response.gpu: a field the SDK requires is missing here".to_string()
        ),
        "{l:#?}"
    );
    assert!(
        l.contains(
            &"Warning GET /api/v1/cvms/{cvm_id} response.disk: an optional field of the SDK is missing here"
                .to_string()
        ),
        "{l:#?}"
    );
    assert!(
        l.iter()
            .any(|x| x.starts_with("Error GET /api/v1/cvms/{cvm_id} response.vcpu: type conflict")),
        "{l:#?}"
    );
    assert!(
        l.iter().any(|x| x.starts_with(
            "Warning GET /api/v1/cvms/{cvm_id} response.status: values the SDK accepts that our enum lacks: paused"
        )),
        "{l:#?}"
    );
    // A string id fits our string-or-integer; an optional, nullable name is modelling.
    assert!(!l.iter().any(|x| x.contains("response.id")), "{l:#?}");
    assert!(
        l.iter()
            .any(|x| x.starts_with("Hidden GET /api/v1/cvms/{cvm_id} response.name")),
        "{l:#?}"
    );
    assert_eq!((r.errors(), r.warnings(), r.exit_code()), (2, 2, 2));
    assert!(
        r.to_text(false)
            .contains("[error] GET /api/v1/cvms/{cvm_id} response.gpu")
    );
    assert!(!r.to_text(false).contains("[hidden]"));
    assert!(r.to_markdown(true).contains("| hidden | `response.name`"));
}

#[test]
fn literal_segments_beat_parameters_and_requests_are_checked() {
    let mut c = call("GET", "/cvms/paginated", "2026-06-23", Some("Page"));
    c["query"] = json!(["page", "family"]);
    let snap = snapshot(
        json!([c]),
        json!({"Page": {"type": "array", "items": {"type": "object", "required": ["id", "name"],
            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}}),
    );
    let r = compare(&doc(), &[snap], &Known::default());
    assert_eq!(
        lines(&r),
        [
            "Warning GET /api/v1/cvms/paginated query parameter family: the SDK sends a query parameter we do not declare"
        ]
    );
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn union_arms_are_chosen_per_version_and_pinned_by_known() {
    let snap = snapshot(
        json!([
            call("GET", "/kms", "2026-05-22", Some("Nodes")),
            call("GET", "/kms", "2026-06-23", Some("Contracts"))
        ]),
        json!({
            "Nodes": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object",
                "required": ["id"], "properties": {"id": {"type": "integer"}}}}}},
            "Contracts": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object",
                "required": ["contract_address"], "properties": {"contract_address": {"type": "string"}}}}}},
        }),
    );
    // Unpinned, each version finds the arm it fits.
    let r = compare(&doc(), std::slice::from_ref(&snap), &Known::default());
    assert_eq!(lines(&r), Vec::<String>::new());
    // Pinned to the wrong arm, the 2026-06-23 answer does not fit.
    let pinned = known(
        json!({"union_arms": [{"operation": "GET /api/v1/kms", "api_versions": ["2026-06-23"],
        "arm": "NodeList", "reason": "test"}]}),
    );
    let r = compare(&doc(), &[snap], &pinned);
    assert_eq!(
        lines(&r),
        ["Error GET /api/v1/kms response.items[].contract_address: a field the SDK requires is missing here"]
    );
    assert_eq!(r.findings[0].api_versions.iter().collect::<Vec<_>>(), ["2026-06-23"]);
}

#[test]
fn missing_operations_versions_mistakes_ignores_and_acknowledgements() {
    let snap = snapshot(
        json!([
            call("GET", "/auth/me", "2026-06-23", None),
            call("GET", "/workspaces", "2026-06-23", None),
            call("GET", "/cvms/{id}", "2030-01-01", None),
            call("GET", "/cvms/{id}", "2025-10-28", Some("Wrong")),
            call("GET", "/cvms/{id}", "2026-05-22", Some("Cvm")),
            call("GET", "/untyped", "2026-05-22", Some("Cvm")),
        ]),
        json!({
            "Wrong": {"type": "integer"},
            "Cvm": {"type": "object", "required": ["id", "name"], "properties": {"id": {"type": "boolean"}, "name": {"type": "string"}}},
        }),
    );
    let k = known(json!({
        "api_versions": ["2025-10-28", "2026-05-22", "2026-06-23"],
        "sdk_mistakes": [{"sdk": "sdk@1.0", "api_versions": ["2025-10-28"], "reason": "maps it to newer models"}],
        "ignore": [{"sdk": "sdk", "call": "GET /workspaces", "reason": "not modelled"}],
        "acknowledged": [
            {"sdk": "sdk@1.0", "operation": "GET /api/v1/cvms/{cvm_id}", "api_versions": ["2026-05-22"],
             "location": "response.id", "change": "type conflict", "reason": "kept"},
            {"sdk": "sdk@1.0", "operation": "GET /api/v1/cvms/{cvm_id}", "location": "response.name",
             "change": "type conflict", "reason": "stale"},
        ],
    }));
    let r = compare(&doc(), &[snap], &k);
    let l = lines(&r);
    assert_eq!(
        l,
        [
            "Error (ack) GET /api/v1/cvms/{cvm_id} response.id: type conflict: the SDK reads boolean, we decode integer|string",
            "Error GET /api/v1/cvms/{cvm_id} response.name: acknowledged disagreement no longer reproduces (\"type conflict\"): remove it from known.json",
            "Error GET /auth/me operation: the SDK calls an operation we do not have",
            "Warning GET /api/v1/untyped response: untyped here (`{}`); the SDK types it",
            "Warning GET /cvms/{id} X-Phala-Version: the SDK sends API version 2030-01-01, which we do not know",
        ],
        "{l:#?}"
    );
    assert_eq!(r.errors(), 2);
    assert_eq!(r.not_evidence.len(), 1);
    assert_eq!(r.ignored.len(), 1);
    assert_eq!(
        r.clone().at_versions(&["2026-05-22".into()]).findings.len(),
        5,
        "the acknowledged one, the stale acknowledgement (every version), the untyped answer, two hidden"
    );
    assert!(r.findings.iter().any(|f| f.severity == Severity::Hidden));
}

//! The semantic diff on real published documents and on synthetic mutations.

use std::path::PathBuf;

use phala_cloud_spec::diff::{Class, DiffReport, diff};
use phala_cloud_spec::subset::{operation_keys, subset};
use phala_cloud_spec::{load_path, normalise};
use serde_json::{Value, json};

fn shared(name: &str) -> Value {
    load_path(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/upstream")
            .join(name),
    )
    .unwrap()
}

fn bundled() -> Value {
    load_path(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json")).unwrap()
}

fn lines(r: &DiffReport) -> Vec<String> {
    r.findings
        .iter()
        .map(|f| format!("{:?} {} | {} | {}", f.class, f.operation, f.location, f.change))
        .collect()
}

#[test]
fn upstream_march_to_april_on_our_operations() {
    // Our operations that March already published (cancel came in April).
    let march = shared("openapi-2026-03-25.json");
    let published = operation_keys(&march);
    let ours: Vec<_> = operation_keys(&bundled())
        .into_iter()
        .filter(|op| published.contains(op))
        .collect();
    let old = subset(&march, &ours).unwrap();
    let new = shared("openapi-2026-04-18.json");
    let report = diff(&old, &new, true);
    let expected = [
        "Compatible GET /api/v1/apps | response 200 application/json<1>.dstack_apps[]<0>.current_cvm.in_progress | optional field added",
        "Compatible GET /api/v1/apps | response 200 application/json<1>.dstack_apps[]<0>.current_cvm.logs | optional field added",
        "Compatible GET /api/v1/apps | response 200 application/json<1>.dstack_apps[]<0>.current_cvm.node_info.node_id | optional field added",
        "Compatible GET /api/v1/apps | response 200 application/json<1>.dstack_apps[]<0>.cvms[].in_progress | optional field added",
        "Compatible GET /api/v1/apps | response 200 application/json<1>.dstack_apps[]<0>.cvms[].logs | optional field added",
        "Compatible GET /api/v1/apps | response 200 application/json<1>.dstack_apps[]<0>.cvms[].node_info.node_id | optional field added",
        "Compatible GET /api/v1/apps/{app_id} | response 200 application/json<2>.current_cvm.in_progress | optional field added",
        "Compatible GET /api/v1/apps/{app_id} | response 200 application/json<2>.current_cvm.logs | optional field added",
        "Compatible GET /api/v1/apps/{app_id} | response 200 application/json<2>.current_cvm.node_info.node_id | optional field added",
        "Compatible GET /api/v1/apps/{app_id} | response 200 application/json<2>.cvms[].in_progress | optional field added",
        "Compatible GET /api/v1/apps/{app_id} | response 200 application/json<2>.cvms[].logs | optional field added",
        "Compatible GET /api/v1/apps/{app_id} | response 200 application/json<2>.cvms[].node_info.node_id | optional field added",
        "Compatible GET /api/v1/apps/{app_id}/cvms | response 200 application/json<0>[].hosted.events | optional field added",
        "Compatible GET /api/v1/apps/{app_id}/cvms | response 200 application/json<1>[].in_progress | optional field added",
        "Compatible GET /api/v1/apps/{app_id}/cvms | response 200 application/json<1>[].logs | optional field added",
        "Compatible GET /api/v1/apps/{app_id}/cvms | response 200 application/json<1>[].node_info.node_id | optional field added",
        "Compatible GET /api/v1/attestations/nodes | response 200 application/json[].node_id | optional field added",
        "Compatible GET /api/v1/cvms | response 200 application/json<0>[].hosted.events | optional field added",
        "Compatible GET /api/v1/cvms | response 200 application/json<1>[].in_progress | optional field added",
        "Compatible GET /api/v1/cvms | response 200 application/json<1>[].logs | optional field added",
        "Compatible GET /api/v1/cvms | response 200 application/json<1>[].node_info.node_id | optional field added",
        "Compatible GET /api/v1/cvms/paginated | response 200 application/json<0>.items[].hosted.events | optional field added",
        "Compatible GET /api/v1/cvms/paginated | response 200 application/json<1>.items[].in_progress | optional field added",
        "Compatible GET /api/v1/cvms/paginated | response 200 application/json<1>.items[].logs | optional field added",
        "Compatible GET /api/v1/cvms/paginated | response 200 application/json<1>.items[].node_info.node_id | optional field added",
        "Compatible GET /api/v1/cvms/{cvm_id} | response 200 application/json<1>.in_progress | optional field added",
        "Compatible GET /api/v1/cvms/{cvm_id} | response 200 application/json<1>.logs | optional field added",
        "Compatible GET /api/v1/cvms/{cvm_id} | response 200 application/json<1>.node_info.node_id | optional field added",
        "Compatible POST /api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas | header parameter X-Prepare-Only | optional parameter added",
        "Compatible POST /api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas | request body application/json.compose_hash | optional field added",
        "Compatible POST /api/v1/attestations/verify | response 200 application/json.node_provider | optional field added",
        "Compatible POST /api/v1/attestations/verify | response 200 application/json.verified_at | optional field added",
        "Compatible POST /api/v1/cvms/provision/eliza | request body application/json.kms_id | optional field added",
        "Compatible POST /api/v1/cvms/{cvm_id}/compose_file/provision | response 200 application/json.compose_hash_registered | optional field added",
        "Compatible POST /api/v1/cvms/{cvm_id}/replicas | header parameter X-Prepare-Only | optional parameter added",
        "Compatible POST /api/v1/cvms/{cvm_id}/replicas | request body application/json.compose_hash | optional field added",
        "Compatible POST /api/v1/status/batch | response 200 application/json{}.events | optional field added",
        "Compatible POST /api/v1/status/batch | response 200 application/json{}.shutdown_progress | optional field added",
        "Breaking POST /api/v1/user/ssh-keys | request body application/json.name | bound maxLength tightened: none -> 100",
        "Breaking POST /api/v1/user/ssh-keys | request body application/json.name | bound minLength tightened: none -> 1",
        "Breaking POST /api/v1/user/ssh-keys/github-profile | request body application/json.github_username | bound maxLength tightened: none -> 39",
        "Breaking POST /api/v1/user/ssh-keys/github-profile | request body application/json.github_username | bound minLength tightened: none -> 1",
    ];
    assert_eq!(lines(&report), expected);
    // April bounded SSH key names and GitHub user names: breaking for a request.
    assert_eq!(report.severity(), 2);
    assert!(
        report.not_bundled.len() > 5,
        "upstream's other operations are listed as information"
    );
}

#[test]
fn bundled_against_newest_upstream_and_itself() {
    let ours = bundled();
    assert_eq!(diff(&ours, &ours, true), DiffReport::default());
    let report = diff(&ours, &shared("openapi-2026-04-18.json"), true);
    println!("{}", report.to_text());
    assert_eq!(report.breaking(), 0, "{}", report.to_text());
}

#[test]
fn nullability_forms_and_renamed_components_are_no_change() {
    let ours = bundled();
    // The normalised form (3.0 `nullable`, `allOf` wrappers, short component names) describes the same API.
    let normalised = normalise(&ours).unwrap();
    let report = diff(&ours, &normalised, true);
    // Only what normalisation deliberately changes may show: opened enums, dropped patterns, body-less
    // errors (4xx and 5xx), optional response fields with a default that now also take `null`,
    // parameters that no longer take `null` (absence says it), and the list answers' union of two
    // arrays, now one array of a union (only the roots of those answers).
    let list_root = |l: &str| {
        ["response 200 application/json", "response 200 application/json[]"].contains(&l)
            || ["<0>", "<1>"]
                .iter()
                .any(|arm| l == format!("response 200 application/json{arm}"))
    };
    // A union of arrays is one array now, and what was below its arms is below the array.
    let merged: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.change.starts_with("type changed: union of") && f.change.ends_with("-> array"))
        .map(|f| format!("{} {}", f.operation, f.location))
        .collect();
    let under_merged = |f: &phala_cloud_spec::diff::Finding| {
        let at = format!("{} {}", f.operation, f.location);
        merged
            .iter()
            .any(|m| at == *m || at.starts_with(&format!("{m}<")) || at.starts_with(&format!("{m}[]")))
    };
    // Operations progenitor cannot send (multipart bodies) are dropped, and listed.
    let dropped = |f: &phala_cloud_spec::diff::Finding| {
        f.change == "operation removed"
            && normalised["x-normalise-dropped"].as_array().is_some_and(|d| {
                d.iter()
                    .filter_map(Value::as_str)
                    .any(|d| d.starts_with(&format!("{}:", f.operation)))
            })
    };
    // A union arm upstream repeats (FastAPI's version unions share one) is kept once.
    let repeated_arm = |f: &phala_cloud_spec::diff::Finding| {
        let Some((method, path)) = f.operation.split_once(' ') else {
            return false;
        };
        let Some(arm) = f
            .location
            .strip_prefix("response 200 application/json<")
            .and_then(|r| r.strip_suffix('>'))
            .and_then(|i| i.parse::<usize>().ok())
        else {
            return false;
        };
        let pointer = format!(
            "/paths/{}/{}/responses/200/content/application~1json/schema/anyOf",
            path.replace('~', "~0").replace('/', "~1"),
            method.to_lowercase()
        );
        ours.pointer(&pointer)
            .and_then(Value::as_array)
            .is_some_and(|arms| arms.get(arm).is_some_and(|a| arms[..arm].contains(a)))
    };
    let real: Vec<_> = report
        .findings
        .iter()
        .filter(|f| {
            let deliberate = under_merged(f)
                || repeated_arm(f)
                // A HEAD answer has no body.
                || (f.operation.starts_with("HEAD ") && f.change == "content type removed")
                || dropped(f)
                || f.change.contains("enum")
                || f.change.contains("response status 4")
                || f.change.contains("response status 5")
                || (f.change == "no longer nullable" && f.location.contains("parameter "))
                || (f.change == "became nullable" && f.location.starts_with("response "))
                || list_root(&f.location);
            !deliberate
        })
        .collect();
    assert!(real.is_empty(), "{real:#?}");
}

#[test]
fn the_two_full_upstream_documents_diff() {
    let started = std::time::Instant::now();
    let report = diff(
        &shared("openapi-2026-03-25.json"),
        &shared("openapi-2026-04-18.json"),
        false,
    );
    println!(
        "full diff: {} findings in {:?}",
        report.findings.len(),
        started.elapsed()
    );
    assert!(report.findings.len() > 10);
}

/// One mutation of the bundled document and the class it must get.
fn mutated(f: impl FnOnce(&mut Value)) -> DiffReport {
    let old = bundled();
    let mut new = old.clone();
    f(&mut new);
    diff(&old, &new, true)
}

fn only(report: &DiffReport) -> (Class, String, String) {
    assert_eq!(report.findings.len(), 1, "{:#?}", report.findings);
    let f = &report.findings[0];
    (f.class, f.location.clone(), f.change.clone())
}

const STATUS: &str = "/components/schemas/CvmStatus";
const STATE_PARAMS: &str = "/paths/~1api~1v1~1cvms~1{cvm_id}~1state/get/parameters";

#[test]
fn synthetic_mutations_are_classified() {
    let r = mutated(|d| {
        d["paths"]
            .as_object_mut()
            .unwrap()
            .shift_remove("/api/v1/cvms/batch-stop");
    });
    assert_eq!(
        only(&r),
        (Class::Breaking, "operation".into(), "operation removed".into())
    );
    let r = mutated(|d| d.pointer_mut(STATUS).unwrap()["properties"]["cpu"] = json!({"type": "number"}));
    assert_eq!(only(&r).0, Class::Compatible);
    let r = mutated(|d| d.pointer_mut(STATUS).unwrap()["required"] = json!(["vm_uuid"]));
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "response 200 application/json{}.status".into(),
            "became optional".into()
        )
    );
    let r = mutated(|d| d.pointer_mut(STATUS).unwrap()["properties"]["in_progress"] = json!({"type": "string"}));
    assert_eq!(only(&r).0, Class::Breaking);
    let r = mutated(|d| {
        d.pointer_mut(STATUS).unwrap()["properties"]["status"] =
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
    });
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "response 200 application/json{}.status".into(),
            "became nullable".into()
        )
    );
    let r = mutated(|d| {
        let s = d.pointer_mut("/components/schemas/BatchStopRequest").unwrap();
        s["properties"]["reason"] = json!({"type": "string"});
        s["required"] = json!(["cvm_ids", "reason"]);
    });
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "request body application/json.reason".into(),
            "required field added".into()
        )
    );
    let r = mutated(|d| {
        d.pointer_mut("/components/schemas/BatchStopRequest/properties/cvm_ids")
            .unwrap()["maxItems"] = json!(20)
    });
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "request body application/json.cvm_ids".into(),
            "bound maxItems tightened: 50 -> 20".into()
        )
    );
    let r = mutated(|d| d.pointer_mut(STATE_PARAMS).unwrap()[3]["schema"]["maximum"] = json!(900));
    assert_eq!(
        only(&r),
        (
            Class::Compatible,
            "query parameter timeout".into(),
            "bound maximum loosened: 600 -> 900".into()
        )
    );
    let r = mutated(|d| {
        d.pointer_mut(STATE_PARAMS)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "verbose", "in": "query", "schema": {"type": "boolean"}}))
    });
    assert_eq!(
        only(&r),
        (
            Class::Compatible,
            "query parameter verbose".into(),
            "optional parameter added".into()
        )
    );
    let r = mutated(|d| d.pointer_mut(STATE_PARAMS).unwrap()[2]["required"] = json!(true));
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "query parameter interval".into(),
            "became required".into()
        )
    );
    let r = mutated(|d| {
        d.pointer_mut(STATE_PARAMS).unwrap().as_array_mut().unwrap().remove(2);
    });
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "query parameter interval".into(),
            "parameter removed".into()
        )
    );
    let r = mutated(|d| {
        d.pointer_mut("/components/schemas/KmsType/enum")
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(json!("solana"))
    });
    assert!(
        !r.findings.is_empty()
            && r.findings
                .iter()
                .all(|f| f.class == Class::Compatible && f.change == "enum values added: solana"),
        "{:#?}",
        r.findings
    );
    let r = mutated(|d| {
        d["paths"]["/api/v1/cvms/batch-stop"]["post"]["responses"]["409"] = json!({"description": "Conflict"})
    });
    assert_eq!(
        only(&r),
        (
            Class::Compatible,
            "response 409".into(),
            "response status 409 added".into()
        )
    );
    let r = mutated(|d| {
        d["paths"]["/api/v1/cvms/batch-stop"]["post"]["responses"]
            .as_object_mut()
            .unwrap()
            .shift_remove("200");
    });
    assert_eq!(
        only(&r),
        (
            Class::Breaking,
            "response 200".into(),
            "response status 200 removed".into()
        )
    );
    let r = mutated(|d| {
        let content = d["paths"]["/api/v1/status/batch"]["post"]["responses"]["200"]["content"]
            .as_object_mut()
            .unwrap();
        let schema = content["application/json"].clone();
        content.insert("application/msgpack".into(), schema);
    });
    assert_eq!(
        only(&r),
        (
            Class::Compatible,
            "response 200 application/msgpack".into(),
            "content type added".into()
        )
    );
}

#[test]
fn markdown_and_json_renderings() {
    let r = mutated(|d| d.pointer_mut(STATUS).unwrap()["required"] = json!(["vm_uuid"]));
    let md = r.to_markdown();
    assert!(
        md.starts_with("## OpenAPI drift") && md.contains("🔴 breaking") && md.contains("`POST /api/v1/status/batch`"),
        "{md}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["findings"][0]["class"], "breaking");
}

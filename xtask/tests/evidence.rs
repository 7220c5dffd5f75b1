//! `spec evidence` on the committed snapshots, its exit codes, and `spec
//! diff` saying when a document starts publishing an evidence-only operation.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn xtask(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("phala-evidence-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_committed_evidence_has_no_error_at_the_versions_we_default_to() {
    let (code, out, err) = xtask(&[
        "spec",
        "evidence",
        "--api-version",
        "2026-05-22",
        "--api-version",
        "2026-06-23",
        "--fail-on",
        "error",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\n0 errors"), "{out}");
    assert!(
        out.contains("phala-cloud@0.2.0") && out.contains("@phala/cloud@0.2.9"),
        "{out}"
    );
    // The whole report (every version) has no unacknowledged error either.
    let (code, out, err) = xtask(&["spec", "evidence", "--fail-on", "error", "--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert!(report["calls_compared"].as_u64().unwrap() > 300, "{out}");
}

#[test]
fn exit_codes_follow_the_severity_and_a_broken_setup_is_3() {
    let dir = scratch("codes");
    std::fs::write(dir.join("known.json"), r#"{"api_versions": ["2026-06-23"]}"#).unwrap();
    let snapshot = |schema: Value| {
        json!({"format": 1, "sdk": {"name": "fixture-sdk", "version": "1.0.0", "language": "python"},
            "versions": {"supported": ["2026-06-23"], "default": "2026-06-23"},
            "calls": [{"sdk_method": "get_current_user", "method": "GET", "path": "/auth/me",
                "api_version": "2026-06-23", "sent_version": "2026-06-23", "query": [], "body": null,
                "response": "User"}],
            "schemas": {"User": schema}})
    };
    let run = |schema: Value, extra: &[&str]| {
        std::fs::write(dir.join("sdk.json"), snapshot(schema).to_string()).unwrap();
        let mut args = vec!["spec", "evidence", "--evidence", dir.to_str().unwrap()];
        args.extend_from_slice(extra);
        xtask(&args)
    };
    let fits = json!({"type": "object", "properties": {"user": {"type": "object"}}});
    assert_eq!(run(fits, &[]).0, 0);
    let optional = json!({"type": "object", "properties": {"shoe_size": {"type": "integer"}}});
    assert_eq!(run(optional.clone(), &[]).0, 1);
    assert_eq!(run(optional, &["--fail-on", "error"]).0, 0);
    let conflict = json!({"type": "object", "required": ["user"], "properties": {"user": {"type": "integer"}}});
    let (code, out, _) = run(conflict.clone(), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("[error] GET /api/v1/auth/me response.user: type conflict"),
        "{out}"
    );
    let (code, out, _) = run(conflict.clone(), &["--format", "markdown"]);
    assert_eq!(code, 2);
    assert!(out.contains("### `GET /api/v1/auth/me`"), "{out}");
    assert_eq!(run(conflict, &["--fail-on", "never"]).0, 0);
    let (code, _, err) = xtask(&["spec", "evidence", "--evidence", "does/not/exist"]);
    assert_eq!(code, 3, "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn diff_says_when_an_evidence_only_operation_is_published() {
    let dir = scratch("published");
    let mut upstream: Value = serde_json::from_slice(&std::fs::read(root().join("openapi.json")).unwrap()).unwrap();
    upstream["paths"]["/api/v1/auth/me"] = json!({"get": {"operationId": "me", "responses": {"200": {
        "description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}}}});
    let path = dir.join("upstream.json");
    std::fs::write(&path, upstream.to_string()).unwrap();
    let (_, out, err) = xtask(&["spec", "diff", "--from", path.to_str().unwrap()]);
    assert!(
        err.contains("upstream now publishes GET /api/v1/auth/me, which the overlay adds from the evidence"),
        "{out}{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

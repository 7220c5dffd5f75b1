//! `spec diff` exits as the README says: 0 no drift, 1 compatible drift
//! only, 2 breaking drift; `--fail-on` narrows it for CI.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn bundled() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("openapi.json")).unwrap()).unwrap()
}

/// Writes `doc` as an upstream stand-in and diffs the bundled document against it.
fn diff(name: &str, doc: &Value, extra: &[&str]) -> (i32, String) {
    let dir = root().join("target/diff-exit-codes");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root())
        .args(["spec", "diff", "--from", path.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn exit_codes_follow_the_kind_of_drift() {
    let same = bundled();
    let (code, out) = diff("same", &same, &[]);
    assert_eq!(code, 0, "{out}");

    // A new optional field in an answer: compatible for a client.
    let mut compatible = bundled();
    compatible["components"]["schemas"]["CvmStatus"]["properties"]["drift_note"] = json!({"type": "string"});
    let (code, out) = diff("compatible", &compatible, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("0 breaking, 1 compatible"), "{out}");
    assert_eq!(diff("compatible", &compatible, &["--fail-on", "breaking"]).0, 0);

    // A bundled operation gone upstream: breaking.
    let mut breaking = compatible.clone();
    breaking["paths"]["/api/v1/cvms/{cvm_id}"]
        .as_object_mut()
        .unwrap()
        .remove("delete");
    let (code, out) = diff("breaking", &breaking, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("[breaking] DELETE /api/v1/cvms/{cvm_id}"), "{out}");
    assert_eq!(diff("breaking", &breaking, &["--fail-on", "breaking"]).0, 2);
    assert_eq!(diff("breaking", &breaking, &["--fail-on", "never"]).0, 0);
}

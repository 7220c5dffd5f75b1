//! A field Phala adds to the document reaches facade users by regeneration
//! alone. A compile-level check: the `drift_probe` example reads a field
//! that only an extra overlay (standing in for a newer published document)
//! adds to `CvmStatus`; it compiles with that overlay and fails without it.
//!
//! It runs `cargo check` in its own target directory (`target/proof`),
//! so the first run builds the dependencies once; later runs are incremental.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check_probe(extra_overlay: Option<&Path>) -> (bool, String) {
    let root = workspace();
    let mut cmd = Command::new(env!("CARGO"));
    cmd.current_dir(&root)
        .args([
            "check",
            "--quiet",
            "--locked",
            "-p",
            "phala-cloud",
            "--example",
            "drift_probe",
            "--features",
            "drift-probe",
        ])
        .env("CARGO_TARGET_DIR", root.join("target/proof"))
        .env_remove("RUSTFLAGS")
        .env_remove("PHALA_CLOUD_API_EXTRA_OVERLAY");
    if let Some(path) = extra_overlay {
        cmd.env("PHALA_CLOUD_API_EXTRA_OVERLAY", path);
    }
    let out = cmd.output().expect("cargo runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_field_added_to_the_document_reaches_facade_users_by_regeneration_alone() {
    let dir = workspace().join("target/proof");
    std::fs::create_dir_all(&dir).unwrap();
    let overlay = dir.join("newer-document.overlay.json");
    let added = serde_json::json!({
        "overlay": "1.0.0",
        "info": {"title": "a newer published document", "version": "1"},
        "actions": [{
            "target": "$.components.schemas.CvmStatus.properties",
            "description": "an optional field as Phala would publish it (FastAPI 3.1 form)",
            "update": {"drift_probe_note": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "Drift Probe Note"}}
        }]
    });
    std::fs::write(&overlay, serde_json::to_vec_pretty(&added).unwrap()).unwrap();

    let (ok, stderr) = check_probe(Some(&overlay));
    assert!(ok, "the facade did not carry the new field:\n{stderr}");
    let (ok, stderr) = check_probe(None);
    assert!(
        !ok,
        "the probe compiled without the new field: the check proves nothing"
    );
    assert!(stderr.contains("drift_probe_note"), "{stderr}");
}

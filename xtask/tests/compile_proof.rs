//! The regeneration loop proves compilation: `spec check --compile` and
//! `spec update` type-check the crate generated from a candidate document
//! (in `target/proof`), and a document whose code would not compile is
//! refused before it replaces the bundled one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn upstream() -> PathBuf {
    root().join("../shared/upstream/openapi-2026-04-18.json")
}

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("xtask runs")
}

fn scratch(name: &str) -> PathBuf {
    let dir = root().join("target/proof/tests");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Our overlay plus one action that gives `GET /cvms` an array-valued
/// header parameter: progenitor generates it, and renders it with
/// `to_string`, which a `Vec` does not have.
fn breaking_overlay() -> PathBuf {
    let mut overlay: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("openapi.overlay.json")).unwrap()).unwrap();
    overlay["actions"].as_array_mut().unwrap().push(serde_json::json!({
        "target": "$.paths['/api/v1/cvms'].get",
        "description": "a header progenitor generates but cannot render",
        "update": {"parameters": [{"name": "X-Probe", "in": "header", "required": false,
                                    "schema": {"type": "array", "items": {"type": "string"}}}]}
    }));
    let path = scratch("breaking.overlay.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&overlay).unwrap()).unwrap();
    path
}

#[test]
fn code_that_does_not_compile_is_refused_before_it_lands() {
    let overlay = breaking_overlay();
    let overlay = overlay.to_str().unwrap();

    let checked = xtask(&["spec", "check", "--compile", "--overlay", overlay]);
    let stderr = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(checked.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("does not compile") && stderr.contains("Display"),
        "{stderr}"
    );
    // Generating alone said nothing was wrong.
    assert!(String::from_utf8_lossy(&checked.stdout).contains(": ok ("));

    // The bundled document without the operation the update adds back.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("openapi.json")).unwrap()).unwrap();
    doc["paths"]
        .as_object_mut()
        .unwrap()
        .shift_remove("/api/v1/cvms/{cvm_id}/network");
    let bundled = serde_json::to_vec_pretty(&doc).unwrap();
    let target = scratch("refused.openapi.json");
    std::fs::write(&target, &bundled).unwrap();
    let updated = xtask(&[
        "spec",
        "update",
        "--from",
        upstream().to_str().unwrap(),
        "--add",
        "GET /api/v1/cvms/{cvm_id}/network",
        "--path",
        target.to_str().unwrap(),
        "--overlay",
        overlay,
    ]);
    let stderr = String::from_utf8_lossy(&updated.stderr);
    assert_eq!(updated.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("not written") && stderr.contains("does not compile"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&target).unwrap(),
        bundled,
        "the refused document replaced the old one"
    );
}

/// Every operation Phala publishes generates code that compiles. Slow (a
/// crate of ~130,000 generated lines): `.ci/run` runs it explicitly.
#[test]
#[ignore = "slow: run by .ci/run with --ignored"]
fn the_whole_published_document_compiles() {
    // Starting from one operation, so that the update writes (and first
    // compiles) the whole document even though the bundled one is whole now.
    let target = scratch("full.openapi.json");
    let mut start: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root().join("openapi.json")).unwrap()).unwrap();
    start["paths"]
        .as_object_mut()
        .unwrap()
        .retain(|path, _| path == "/api/v1/cvms");
    std::fs::write(&target, serde_json::to_vec_pretty(&start).unwrap()).unwrap();
    let updated = xtask(&[
        "spec",
        "update",
        "--all",
        "--from",
        upstream().to_str().unwrap(),
        "--path",
        target.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&updated.stdout);
    assert!(
        updated.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&updated.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&target).unwrap()).unwrap();
    let published: serde_json::Value = serde_json::from_slice(&std::fs::read(upstream()).unwrap()).unwrap();
    let count = |d: &serde_json::Value| {
        d["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().keys())
            .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
            .count()
    };
    assert_eq!(count(&doc), count(&published), "every published operation is covered");
    assert!(stdout.contains("updated"), "{stdout}");
}

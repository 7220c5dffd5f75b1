//! Generates the raw client from `openapi.json` and `openapi.overlay.json`.
//!
//! The document (exactly as Phala publishes it) gets the overlay (what the
//! live service sends beyond it), is normalised by `phala-cloud-spec`
//! (OpenAPI 3.1 -> what progenitor accepts, tolerant response types) and
//! handed to progenitor. Only a change to either file (or to this script or
//! its dependencies, which cargo tracks itself) reruns generation.
//!
//! With the `httpmock` feature it also generates progenitor's typed mocks
//! (`mock.rs`); with `schemars`, every type derives `JsonSchema`.
//!
//! `PHALA_CLOUD_API_EXTRA_OVERLAY` names one more overlay file, applied after
//! ours: how a test proves that a field added to the document reaches facade
//! users by regeneration alone. `PHALA_CLOUD_API_DOCUMENT` and
//! `PHALA_CLOUD_API_OVERLAY` replace the two files: how `cargo xtask spec
//! check --compile` proves a candidate document builds before it lands.

use std::path::PathBuf;

use phala_cloud_spec::codegen;

const EXTRA_OVERLAY: &str = "PHALA_CLOUD_API_EXTRA_OVERLAY";
const DOCUMENT: &str = "PHALA_CLOUD_API_DOCUMENT";
const OVERLAY: &str = "PHALA_CLOUD_API_OVERLAY";

/// The file an environment variable names, or the default.
fn input(var: &str, default: &str) -> PathBuf {
    println!("cargo::rerun-if-env-changed={var}");
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    println!("cargo::rerun-if-changed={}", path.display());
    path
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed={EXTRA_OVERLAY}");
    if let Err(message) = generate() {
        println!("cargo::error={message}");
    }
}

fn generate() -> Result<(), String> {
    let document = input(DOCUMENT, "openapi.json");
    let overlay = input(OVERLAY, "openapi.overlay.json");
    let mut doc = phala_cloud_spec::load_path(&document).map_err(|e| e.to_string())?;
    if let Some(extra) = std::env::var_os(EXTRA_OVERLAY) {
        println!("cargo::rerun-if-changed={}", PathBuf::from(&extra).display());
        let extra = phala_cloud_spec::Overlay::load_path(&extra).map_err(|e| e.to_string())?;
        doc = phala_cloud_spec::apply_overlay(&doc, &extra).map_err(|e| e.to_string())?;
    }
    let overlay = phala_cloud_spec::Overlay::load_path(&overlay).map_err(|e| e.to_string())?;
    let name = document.display();
    let prepared = phala_cloud_spec::prepare(&doc, &overlay).map_err(|e| format!("{name}: {e}"))?;
    // Features reach a build script as CARGO_FEATURE_* (cargo reruns it when they change).
    let feature = |name: &str| std::env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let settings = codegen::settings_for(codegen::Derives::default().schemars(feature("SCHEMARS")));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let write = |file: &str, code: String| {
        let out = out_dir.join(file);
        std::fs::write(&out, code).map_err(|e| format!("{}: {e}", out.display()))
    };
    write(
        "codegen.rs",
        codegen::generate_with(&prepared, &settings).map_err(|e| format!("{name}: {e}"))?,
    )?;
    if feature("HTTPMOCK") {
        let mock = codegen::generate_httpmock(&prepared, &settings, "crate").map_err(|e| format!("{name}: {e}"))?;
        write("mock.rs", mock)?;
    }
    Ok(())
}

//! Generates the raw client from `openapi.json` and `openapi.overlay.json`.
//!
//! The document (exactly as Phala publishes it) gets the overlay (what the
//! live service sends beyond it), is normalised by `phala-cloud-spec`
//! (OpenAPI 3.1 -> what progenitor accepts, tolerant response types) and
//! handed to progenitor. Only a change to either file (or to this script or
//! its dependencies, which cargo tracks itself) reruns generation.
//!
//! `PHALA_CLOUD_API_EXTRA_OVERLAY` names one more overlay file, applied after
//! ours: how a test proves that a field added to the document reaches facade
//! users by regeneration alone.

use std::path::PathBuf;

const EXTRA_OVERLAY: &str = "PHALA_CLOUD_API_EXTRA_OVERLAY";

fn main() {
    println!("cargo::rerun-if-changed=openapi.json");
    println!("cargo::rerun-if-changed=openapi.overlay.json");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed={EXTRA_OVERLAY}");
    if let Err(message) = generate() {
        println!("cargo::error={message}");
    }
}

fn generate() -> Result<(), String> {
    let mut doc = phala_cloud_spec::load_path("openapi.json").map_err(|e| e.to_string())?;
    if let Some(extra) = std::env::var_os(EXTRA_OVERLAY) {
        println!("cargo::rerun-if-changed={}", PathBuf::from(&extra).display());
        let extra = phala_cloud_spec::Overlay::load_path(&extra).map_err(|e| e.to_string())?;
        doc = phala_cloud_spec::apply_overlay(&doc, &extra).map_err(|e| e.to_string())?;
    }
    let overlay = phala_cloud_spec::Overlay::load_path("openapi.overlay.json").map_err(|e| e.to_string())?;
    let prepared = phala_cloud_spec::prepare(&doc, &overlay).map_err(|e| format!("openapi.json: {e}"))?;
    let code = phala_cloud_spec::codegen::generate(&prepared).map_err(|e| format!("openapi.json: {e}"))?;
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("codegen.rs");
    std::fs::write(&out, code).map_err(|e| format!("{}: {e}", out.display()))
}

//! Generates the raw client from `openapi.json`.
//!
//! The document is normalised by `phala-cloud-spec` (OpenAPI 3.1 as Phala
//! publishes it -> what progenitor accepts) and handed to progenitor. Only a
//! change to the document (or to this script or its dependencies, which
//! cargo tracks itself) reruns generation.

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=openapi.json");
    println!("cargo::rerun-if-changed=build.rs");
    if let Err(message) = generate() {
        println!("cargo::error={message}");
    }
}

fn generate() -> Result<(), String> {
    let doc = phala_cloud_spec::load_path("openapi.json").map_err(|e| e.to_string())?;
    let normalised = phala_cloud_spec::normalise(&doc).map_err(|e| format!("openapi.json: {e}"))?;
    let code = phala_cloud_spec::codegen::generate(&normalised).map_err(|e| format!("openapi.json: {e}"))?;
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?).join("codegen.rs");
    std::fs::write(&out, code).map_err(|e| format!("{}: {e}", out.display()))
}

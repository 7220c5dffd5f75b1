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
use serde_json::Value;

/// The operations the `phala-cloud` facade sends: the `core` feature, on by
/// default. Every other operation is generated under the feature of its
/// group (the document's first tag: `cvms`, `apps`, `kms`, ...) or `full`.
const CORE: &[&str] = &[
    "POST /api/v1/cvms/provision",
    "POST /api/v1/cvms",
    "GET /api/v1/cvms",
    "GET /api/v1/cvms/{cvm_id}/compose_file",
    "PATCH /api/v1/cvms/{cvm_id}/compose_file",
    "POST /api/v1/cvms/{cvm_id}/compose_file/provision",
    "POST /api/v1/cvms/{cvm_id}/replicas",
    "GET /api/v1/cvms/{cvm_id}/operations",
    "POST /api/v1/cvms/{cvm_id}/operations/cancel",
    "PATCH /api/v1/cvms/{cvm_id}/envs",
    "GET /api/v1/cvms/paginated",
    "GET /api/v1/cvms/{cvm_id}",
    "DELETE /api/v1/cvms/{cvm_id}",
    "POST /api/v1/cvms/{cvm_id}/start",
    "POST /api/v1/cvms/{cvm_id}/shutdown",
    "POST /api/v1/cvms/{cvm_id}/stop",
    "POST /api/v1/cvms/{cvm_id}/restart",
    "POST /api/v1/cvms/batch-stop",
    "POST /api/v1/status/batch",
    "GET /api/v1/cvms/{cvm_id}/state",
    "POST /api/v1/cvms/{cvm_id}/commit-update",
    "GET /api/v1/kms/{kms_id}",
    "GET /api/v1/kms/{kms_id}/pubkey/{app_id}",
    "GET /api/v1/apps/{app_id}/cvms",
    "GET /api/v1/apps/{app_id}/revisions",
    "GET /api/v1/apps/{app_id}/revisions/{revision_id}",
    "POST /api/v1/apps/{app_id}/revisions/{revision_id}/redeploy",
];

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
    let feature = |name: &str| {
        let var = format!("CARGO_FEATURE_{}", name.to_uppercase().replace('-', "_"));
        std::env::var_os(var).is_some()
    };
    let prepared = enabled_operations(&prepared, &feature).map_err(|e| format!("{name}: {e}"))?;
    let settings = codegen::settings_for(codegen::Derives::default().schemars(feature("SCHEMARS")));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let write = |file: &str, code: String| {
        let out = out_dir.join(file);
        std::fs::write(&out, code).map_err(|e| format!("{}: {e}", out.display()))
    };
    let code = codegen::generate_with(&prepared, &settings).map_err(|e| format!("{name}: {e}"))?;
    let table = codegen::generated_operations(&code).map_err(|e| format!("{name}: {e}"))?;
    write("operations.rs", operation_table(&prepared, &table))?;
    write("codegen.rs", code)?;
    if feature("cli") {
        write(
            "cli.rs",
            codegen::generate_cli(&prepared, &settings, "crate").map_err(|e| format!("{name}: {e}"))?,
        )?;
    }
    if feature("HTTPMOCK") {
        let mock = codegen::generate_httpmock(&prepared, &settings, "crate").map_err(|e| format!("{name}: {e}"))?;
        write("mock.rs", mock)?;
    }
    Ok(())
}

/// The prepared document cut down to the operations of the enabled features
/// (every one with `full`) and the schemas they reach.
fn enabled_operations(prepared: &Value, feature: &dyn Fn(&str) -> bool) -> Result<Value, String> {
    use phala_cloud_spec::subset;
    let core: Vec<(String, String)> = CORE
        .iter()
        .map(|op| subset::parse_operation(op).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let all = subset::operation_groups(prepared);
    for op in &core {
        if !all.iter().any(|(m, p, _)| (m, p) == (&op.0, &op.1)) {
            return Err(format!("the core operation {} {} is not in the document", op.0, op.1));
        }
    }
    let wanted: Vec<(String, String)> = all
        .into_iter()
        .filter(|(m, p, group)| {
            feature("full")
                || (feature("core") && core.iter().any(|c| (&c.0, &c.1) == (m, p)))
                || group.as_deref().is_some_and(feature)
        })
        .map(|(m, p, _)| (m, p))
        .collect();
    subset::subset(prepared, &wanted).map_err(|e| e.to_string())
}

/// `OPERATIONS`: what this build generated, as the code names it.
fn operation_table(prepared: &Value, table: &[codegen::GeneratedOperation]) -> String {
    let groups = phala_cloud_spec::subset::operation_groups(prepared);
    let mut out = String::from("&[\n");
    for op in table {
        let group = groups
            .iter()
            .find(|(m, p, _)| (m, p) == (&op.method, &op.path))
            .and_then(|(_, _, g)| g.clone())
            .unwrap_or_default();
        out.push_str(&format!(
            "    Operation {{ method: {:?}, path: {:?}, name: {:?}, group: {:?} }},\n",
            op.method, op.path, op.name, group
        ));
    }
    out.push(']');
    out
}

//! `cargo xtask spec evidence`: loads the overlaid document, the committed
//! SDK snapshots and the hand-kept `known.json`, and compares them
//! (`phala_cloud_spec::evidence`).

use std::path::Path;

use phala_cloud_spec::Overlay;
use phala_cloud_spec::evidence::{EvidenceReport, Known, Snapshot, compare};

/// The hand-kept file beside the snapshots.
pub const KNOWN: &str = "known.json";

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The snapshots in `dir` (every `*.json` but [`KNOWN`]), by file name.
pub fn snapshots(dir: &Path) -> Result<Vec<Snapshot>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with(KNOWN))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no snapshots (run scripts/evidence/*.sh)", dir.display()));
    }
    files.iter().map(|f| read::<Snapshot>(f)).collect()
}

/// Compares `document` + `overlay` with the evidence in `dir`.
pub fn run(document: &Path, overlay: &Path, dir: &Path) -> Result<EvidenceReport, String> {
    let doc = phala_cloud_spec::load_path(document).map_err(|e| e.to_string())?;
    let overlay = Overlay::load_path(overlay).map_err(|e| e.to_string())?;
    let doc = phala_cloud_spec::apply_overlay(&doc, &overlay).map_err(|e| e.to_string())?;
    let known: Known = read(&dir.join(KNOWN))?;
    let snapshots = snapshots(dir)?;
    if let Some(snap) = snapshots.iter().find(|s| s.format != 1) {
        return Err(format!(
            "{}: snapshot format {} (this tool reads 1)",
            snap.sdk.name, snap.format
        ));
    }
    Ok(compare(&doc, &snapshots, &known))
}

//! Load, normalise, subset and diff Phala Cloud OpenAPI documents.
//!
//! Phala publishes OpenAPI 3.1 as FastAPI writes it; the code generator
//! (progenitor 0.15 over openapiv3 2.2 and typify 0.8) accepts OpenAPI 3.0.
//! [`normalise()`] bridges the two as a pure function on `serde_json::Value`,
//! so the same passes serve the build script, the xtask and the tests.
//!
//! The generated client is built from `openapi.json` (as Phala publishes it)
//! with an [`Overlay`] applied first (what the live service sends beyond the
//! document): see [`prepare`].
//!
//! ```
//! let doc = serde_json::json!({
//!     "openapi": "3.1.0",
//!     "info": {"title": "t", "version": "1"},
//!     "paths": {},
//! });
//! let out = phala_cloud_spec::normalise(&doc).unwrap();
//! assert_eq!(out["openapi"], "3.0.3");
//! ```

mod check;
pub mod diff;
mod error;
pub mod evidence;
#[cfg(feature = "fetch")]
pub mod fetch;
mod load;
pub mod normalise;
pub mod overlay;
pub mod sample;
pub mod subset;
mod walk;

#[cfg(feature = "codegen")]
pub mod codegen;
#[cfg(feature = "codegen")]
mod codegen_docs;
#[cfg(feature = "codegen")]
mod codegen_trim;

pub use check::check_document;
pub use error::SpecError;
pub use load::{load_bytes, load_path, validate_document};
pub use normalise::{PASSES, Pass, normalise};
pub use overlay::Overlay;
pub use walk::{HTTP_METHODS, operations};

/// `doc` with every action of `overlay` applied. Fails when an action selects
/// nothing: it is stale or mistyped, and what it meant to add would silently
/// be missing from the generated client.
pub fn apply_overlay(doc: &serde_json::Value, overlay: &Overlay) -> Result<serde_json::Value, SpecError> {
    let applied = overlay.apply(doc)?;
    let unmatched = applied.unmatched();
    if let Some(stale) = unmatched.first() {
        return Err(SpecError::Overlay {
            origin: overlay.origin.clone(),
            reason: format!(
                "target {} selects nothing ({} of {} actions are stale); the first says: {}",
                stale.target,
                unmatched.len(),
                overlay.actions.len(),
                stale.description
            ),
        });
    }
    Ok(applied.doc)
}

/// The document the client is generated from: `doc` with `overlay` applied
/// ([`apply_overlay`]), then normalised.
pub fn prepare(doc: &serde_json::Value, overlay: &Overlay) -> Result<serde_json::Value, SpecError> {
    normalise(&apply_overlay(doc, overlay)?)
}

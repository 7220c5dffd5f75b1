//! Load, normalise, subset and diff Phala Cloud OpenAPI documents.
//!
//! Phala publishes OpenAPI 3.1 as FastAPI writes it; the code generator
//! (progenitor 0.15 over openapiv3 2.2 and typify 0.8) accepts OpenAPI 3.0.
//! [`normalise`] bridges the two as a pure function on `serde_json::Value`,
//! so the same passes serve the build script, the xtask and the tests.
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
#[cfg(feature = "fetch")]
pub mod fetch;
mod load;
pub mod normalise;
pub mod subset;
mod walk;

#[cfg(feature = "codegen")]
pub mod codegen;

pub use check::check_document;
pub use error::SpecError;
pub use load::{load_bytes, load_path, validate_document};
pub use normalise::{PASSES, Pass, normalise};
pub use walk::{HTTP_METHODS, operations};

use std::path::PathBuf;

/// Everything that can go wrong while loading or transforming a document.
///
/// Each variant names where the problem is (a file, a line, a JSON pointer),
/// so a failing build prints one line a maintainer can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not JSON.
    #[error("{origin}:{line}:{column}: not JSON: {message}")]
    Json {
        origin: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// JSON, but not an OpenAPI 3.x document.
    #[error("{origin}: not an OpenAPI 3 document: {reason}")]
    NotOpenApi { origin: String, reason: String },
    /// The document could not be fetched.
    #[error("{origin}: {reason}")]
    Fetch { origin: String, reason: String },
    /// A construct that no normalisation pass handles.
    #[error("{pointer}: unsupported construct: {construct}")]
    Unsupported { pointer: String, construct: String },
    /// A `$ref` that points nowhere.
    #[error("{pointer}: dangling $ref {reference}")]
    DanglingRef { pointer: String, reference: String },
    /// An overlay that is not OpenAPI Overlay 1.0, or an action that cannot apply.
    #[error("{origin}: {reason}")]
    Overlay { origin: String, reason: String },
    /// The code generator rejected the document.
    #[error("code generation failed{}: {message}", location.as_ref().map(|l| format!(" at {l}")).unwrap_or_default())]
    Codegen { location: Option<String>, message: String },
}

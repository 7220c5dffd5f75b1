//! Reading a document from disk or bytes, with errors that say where.

use std::path::Path;

use serde_json::Value;

use crate::SpecError;

/// Reads and parses an OpenAPI document from a file.
pub fn load_path(path: impl AsRef<Path>) -> Result<Value, SpecError> {
    let (doc, origin) = read_json(path.as_ref())?;
    validate_document(&doc, &origin)?;
    Ok(doc)
}

/// Parses an OpenAPI document from bytes; `origin` names it in errors.
pub fn load_bytes(bytes: &[u8], origin: &str) -> Result<Value, SpecError> {
    let doc = parse_json(bytes, origin)?;
    validate_document(&doc, origin)?;
    Ok(doc)
}

/// Any JSON file (a document, an overlay), with the path as its origin.
pub(crate) fn read_json(path: &Path) -> Result<(Value, String), SpecError> {
    let bytes = std::fs::read(path).map_err(|source| SpecError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let origin = path.display().to_string();
    Ok((parse_json(&bytes, &origin)?, origin))
}

/// JSON, or an error naming `origin`, line and column.
fn parse_json(bytes: &[u8], origin: &str) -> Result<Value, SpecError> {
    serde_json::from_slice(bytes).map_err(|e| SpecError::Json {
        origin: origin.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string().split(" at line").next().unwrap_or_default().to_string(),
    })
}

/// Checks that `doc` looks like an OpenAPI 3.0 or 3.1 document.
pub fn validate_document(doc: &Value, origin: &str) -> Result<(), SpecError> {
    let fail = |reason: &str| {
        Err(SpecError::NotOpenApi {
            origin: origin.to_string(),
            reason: reason.to_string(),
        })
    };
    let Some(obj) = doc.as_object() else {
        return fail("the top level is not an object");
    };
    match obj.get("openapi").and_then(Value::as_str) {
        None => return fail("no `openapi` version field"),
        Some(v) if !(v.starts_with("3.0.") || v.starts_with("3.1.")) => {
            return fail(&format!("version {v} is not 3.0 or 3.1"));
        }
        Some(_) => {}
    }
    if !obj.get("info").is_some_and(Value::is_object) {
        return fail("no `info` object");
    }
    match obj.get("paths") {
        Some(Value::Object(_)) => Ok(()),
        Some(_) => fail("`paths` is not an object"),
        None if obj.contains_key("webhooks") || obj.contains_key("components") => Ok(()),
        None => fail("no `paths` object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_json_names_line_and_column() {
        let err = load_bytes(b"{\n  \"openapi\": 3.1,,\n}", "openapi.json").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("openapi.json:2:"), "{text}");
        assert!(text.contains("not JSON"), "{text}");
    }

    #[test]
    fn not_openapi_is_refused() {
        let err = load_bytes(br#"{"swagger": "2.0", "info": {}, "paths": {}}"#, "x.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.json: not an OpenAPI 3 document: no `openapi` version field"
        );
        let err = load_bytes(br#"{"openapi": "4.0.0", "info": {}, "paths": {}}"#, "x.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.json: not an OpenAPI 3 document: version 4.0.0 is not 3.0 or 3.1"
        );
        let err = load_bytes(b"[1, 2]", "x.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.json: not an OpenAPI 3 document: the top level is not an object"
        );
    }

    #[test]
    fn missing_file_is_an_io_error() {
        let err = load_path("/nonexistent/openapi.json").unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/openapi.json: cannot read"));
    }
}

//! Structural checks of a bundled document: every `$ref` resolves and every
//! component schema is used.

use serde_json::Value;

use crate::SpecError;
use crate::walk::{for_each_ref, reachable_schemas, schema_ref_name, unescape};

/// Problems that make a bundled document unfit to ship, all of them.
pub fn check_document(doc: &Value) -> Vec<SpecError> {
    let mut problems = Vec::new();
    let mut refs = Vec::new();
    for_each_ref(doc, &mut |r| refs.push(r.to_string()));
    for r in &refs {
        let resolves = r.strip_prefix('#').is_some_and(|p| doc.pointer(p).is_some());
        if !resolves {
            problems.push(SpecError::DanglingRef {
                pointer: "document".into(),
                reference: r.clone(),
            });
        }
    }
    let roots: Vec<String> = crate::operations(doc)
        .flat_map(|(_, _, op)| {
            let mut names = Vec::new();
            for_each_ref(op, &mut |r| names.extend(schema_ref_name(r).map(unescape)));
            names
        })
        .collect();
    let used = reachable_schemas(doc, roots);
    if let Some(schemas) = doc.pointer("/components/schemas").and_then(Value::as_object) {
        for name in schemas.keys().filter(|n| !used.contains(*n)) {
            problems.push(SpecError::Unsupported {
                pointer: format!("/components/schemas/{}", crate::walk::escape(name)),
                construct: "schema not used by any operation".into(),
            });
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dangling_and_unused_are_reported() {
        let doc = json!({
            "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/a": {"get": {"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Gone"}}}}}}}},
            "components": {"schemas": {"Unused": {"type": "string"}}}
        });
        let problems: Vec<String> = check_document(&doc).iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "document: dangling $ref #/components/schemas/Gone",
                "/components/schemas/Unused: unsupported construct: schema not used by any operation"
            ]
        );
    }

    #[test]
    fn the_bundled_document_is_clean() {
        let doc = crate::load_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json")).unwrap();
        assert!(check_document(&doc).is_empty());
    }
}

//! Cutting a document down to some operations and exactly the schemas they reach.

use serde_json::{Map, Value};

use crate::normalise::DROPPED_OPERATIONS;
use crate::walk::{for_each_ref, reachable_schemas, schema_ref_name, unescape};
use crate::{HTTP_METHODS, SpecError};

/// `(METHOD, /path)` of every operation in `doc`, in document order.
pub fn operation_keys(doc: &Value) -> Vec<(String, String)> {
    crate::operations(doc)
        .map(|(p, m, _)| (m.to_uppercase(), p.to_string()))
        .collect()
}

/// The Cargo feature an operation's group is generated under: its first
/// tag, lower-cased, spaces as `-` (`SSH Keys` -> `ssh-keys`).
pub fn group_feature(tag: &str) -> String {
    tag.trim().to_lowercase().replace([' ', '_'], "-")
}

/// `(METHOD, /path, group)` of every operation, those the normaliser set
/// aside included, where the group is [`group_feature`] of its first tag
/// (`None` when it has no tag).
pub fn operation_groups(doc: &Value) -> Vec<(String, String, Option<String>)> {
    let group = |op: &Value| {
        op.get("tags")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            .map(group_feature)
    };
    let dropped = doc
        .get(DROPPED_OPERATIONS)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, op)| parse_operation(key).ok().map(|(m, p)| (m, p, group(op))));
    crate::operations(doc)
        .map(|(p, m, op)| (m.to_uppercase(), p.to_string(), group(op)))
        .chain(dropped)
        .collect()
}

/// Parses `"METHOD /path"`.
pub fn parse_operation(s: &str) -> Result<(String, String), SpecError> {
    let mut parts = s.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), None) if HTTP_METHODS.contains(&m.to_lowercase().as_str()) && p.starts_with('/') => {
            Ok((m.to_uppercase(), p.to_string()))
        }
        _ => Err(SpecError::NotOpenApi {
            origin: "operation".into(),
            reason: format!("{s:?} is not `METHOD /path`"),
        }),
    }
}

/// The document with only `ops` (all must exist) and the components they
/// reach, transitively; everything else at the top level kept as is.
pub fn subset(doc: &Value, ops: &[(String, String)]) -> Result<Value, SpecError> {
    let mut paths = Map::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        let wanted: Vec<&str> = HTTP_METHODS
            .iter()
            .copied()
            .filter(|m| item.get(*m).is_some() && ops.iter().any(|(om, op)| op == path && om.eq_ignore_ascii_case(m)))
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let kept: Map<String, Value> = item
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !HTTP_METHODS.contains(&k.as_str()) || wanted.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        paths.insert(path.clone(), Value::Object(kept));
    }
    // Operations the normaliser set aside (multipart bodies) stay beside the
    // paths when wanted, and so do the schemas they reach.
    let dropped: Map<String, Value> = doc
        .get(DROPPED_OPERATIONS)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(key, _)| parse_operation(key).is_ok_and(|op| ops.contains(&op)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (m, p) in ops {
        let found =
            paths.get(p).and_then(|i| i.get(m.to_lowercase())).is_some() || dropped.contains_key(&format!("{m} {p}"));
        if !found {
            return Err(SpecError::NotOpenApi {
                origin: "upstream".into(),
                reason: format!("has no operation {m} {p}"),
            });
        }
    }
    let mut roots = Vec::new();
    for kept in [&paths, &dropped] {
        for_each_ref(&Value::Object(kept.clone()), &mut |r| {
            roots.extend(schema_ref_name(r).map(unescape))
        });
    }
    let keep = reachable_schemas(doc, roots);
    let mut out = doc.as_object().cloned().unwrap_or_default();
    out.insert("paths".into(), Value::Object(paths));
    if let Some(components) = out.get_mut("components").and_then(Value::as_object_mut) {
        if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
            schemas.retain(|name, _| keep.contains(name));
        }
        for key in [
            "responses",
            "parameters",
            "examples",
            "requestBodies",
            "headers",
            "links",
            "callbacks",
            "pathItems",
        ] {
            components.shift_remove(key);
        }
    }
    out.shift_remove("webhooks");
    if out.contains_key(DROPPED_OPERATIONS) {
        let lines = out.get("x-normalise-dropped").and_then(Value::as_array).cloned();
        let kept_lines: Vec<Value> = lines
            .into_iter()
            .flatten()
            .filter(|l| {
                l.as_str()
                    .is_some_and(|l| dropped.keys().any(|k| l.starts_with(&format!("{k}:"))))
            })
            .collect();
        out.insert("x-normalise-dropped".into(), Value::Array(kept_lines));
        out.insert(DROPPED_OPERATIONS.into(), Value::Object(dropped));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_exactly_the_reachable_schemas() {
        let doc = json!({
            "openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {
                "/a": {"get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}},
                       "post": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/C"}}}}}}},
                "/b": {"get": {"responses": {}}}
            },
            "components": {"schemas": {"A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}}, "B": {}, "C": {}}}
        });
        let out = subset(&doc, &[("GET".into(), "/a".into())]).unwrap();
        assert_eq!(out["paths"].as_object().unwrap().keys().collect::<Vec<_>>(), ["/a"]);
        assert!(out["paths"]["/a"].get("post").is_none());
        assert_eq!(
            out["components"]["schemas"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["A", "B"]
        );
        assert_eq!(subset(&out, &[("GET".into(), "/a".into())]).unwrap(), out, "idempotent");
        assert!(subset(&doc, &[("GET".into(), "/zzz".into())]).is_err());
        assert_eq!(
            parse_operation("get /a").unwrap(),
            ("GET".to_string(), "/a".to_string())
        );
        assert!(parse_operation("/a").is_err());
    }
}

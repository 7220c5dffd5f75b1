//! OpenAPI Overlay 1.0: what the live service sends beyond the published
//! document, kept apart from it so the bundled copy stays exactly what Phala
//! publishes (and `spec update` / `spec diff` keep working on it).
//!
//! Targets are RFC 9535 JSONPath expressions (evaluated by `serde_json_path`).
//! Actions apply in order, each to the result of the ones before: `remove`
//! deletes every node the target selects; `update` merges into each one
//! (objects recursively, arrays appended, anything else replaced).
//!
//! ```
//! use serde_json::json;
//! let overlay = phala_cloud_spec::Overlay::from_value(&json!({
//!     "overlay": "1.0.0",
//!     "info": {"title": "t", "version": "1"},
//!     "actions": [{"target": "$.info", "description": "why", "update": {"x-note": "added"}}],
//! }), "example").unwrap();
//! let doc = json!({"openapi": "3.1.0", "info": {"title": "api", "version": "1"}, "paths": {}});
//! let applied = overlay.apply(&doc).unwrap();
//! assert_eq!(applied.doc["info"]["x-note"], "added");
//! assert!(applied.unmatched().is_empty());
//! ```

use std::path::Path;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::SpecError;

/// A parsed overlay document.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// `info.title`.
    pub title: String,
    /// Where it was read from, for messages.
    pub origin: String,
    /// The actions, in the order they apply.
    pub actions: Vec<Action>,
}

/// One action of an overlay.
#[derive(Debug, Clone)]
pub struct Action {
    /// The JSONPath expression, as written.
    pub target: String,
    /// Why the action exists, with its evidence.
    pub description: String,
    /// What is merged into every selected node.
    pub update: Option<Value>,
    /// Whether every selected node is removed.
    pub remove: bool,
    path: JsonPath,
}

/// The document after an overlay, and how many nodes each action selected.
#[derive(Debug, Clone)]
pub struct Applied<'a> {
    /// The resulting document.
    pub doc: Value,
    /// `(action, nodes it selected)`, in order.
    pub matches: Vec<(&'a Action, usize)>,
}

impl Applied<'_> {
    /// Actions whose target selected nothing: stale, or mistyped.
    pub fn unmatched(&self) -> Vec<&Action> {
        self.matches.iter().filter(|(_, n)| *n == 0).map(|(a, _)| *a).collect()
    }
}

fn invalid(origin: &str, reason: impl Into<String>) -> SpecError {
    SpecError::Overlay {
        origin: origin.to_string(),
        reason: reason.into(),
    }
}

impl Overlay {
    /// Reads an overlay file (JSON).
    pub fn load_path(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let (value, origin) = crate::load::read_json(path.as_ref())?;
        Self::from_value(&value, &origin)
    }

    /// Checks `value` is an Overlay 1.0 document and parses every target.
    pub fn from_value(value: &Value, origin: &str) -> Result<Self, SpecError> {
        let version = value.get("overlay").and_then(Value::as_str).unwrap_or_default();
        if !version.starts_with("1.0") {
            return Err(invalid(origin, format!("`overlay` must be 1.0.x, found {version:?}")));
        }
        let title = value
            .pointer("/info/title")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(origin, "`info.title` is missing"))?;
        if value.pointer("/info/version").and_then(Value::as_str).is_none() {
            return Err(invalid(origin, "`info.version` is missing"));
        }
        let list = value
            .get("actions")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(origin, "`actions` must be a list"))?;
        let actions = list
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let at = |reason: String| invalid(origin, format!("action #{i}: {reason}"));
                let target = a
                    .get("target")
                    .and_then(Value::as_str)
                    .ok_or_else(|| at("`target` is missing".into()))?;
                let path = JsonPath::parse(target).map_err(|e| at(format!("target {target:?}: {e}")))?;
                let description = a
                    .get("description")
                    .and_then(Value::as_str)
                    .filter(|d| !d.trim().is_empty())
                    .ok_or_else(|| at("every action says why in `description`".into()))?;
                let remove = a.get("remove").and_then(Value::as_bool).unwrap_or(false);
                let update = a.get("update").cloned();
                if remove == update.is_some() {
                    return Err(at("needs exactly one of `update` or `remove: true`".into()));
                }
                Ok(Action {
                    target: target.to_string(),
                    description: description.to_string(),
                    update,
                    remove,
                    path,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Overlay {
            title: title.to_string(),
            origin: origin.to_string(),
            actions,
        })
    }

    /// Applies every action to a copy of `doc`, in order.
    pub fn apply(&self, doc: &Value) -> Result<Applied<'_>, SpecError> {
        let mut out = doc.clone();
        let mut matches = Vec::with_capacity(self.actions.len());
        for action in &self.actions {
            let pointers: Vec<String> = action
                .path
                .query_located(&out)
                .locations()
                .map(|l| l.to_json_pointer())
                .collect();
            // Deepest and last first, so removing one node never moves another.
            for pointer in pointers.iter().rev() {
                if action.remove {
                    remove_at(&mut out, pointer);
                } else if let (Some(node), Some(update)) = (out.pointer_mut(pointer), &action.update) {
                    merge(node, update);
                }
            }
            matches.push((action, pointers.len()));
        }
        Ok(Applied { doc: out, matches })
    }

    /// Update actions that `upstream` already carries: each selects at least
    /// one node there, and merging changes none of them. Such an action can go.
    pub fn carried_by<'a>(&'a self, upstream: &Value) -> Vec<&'a Action> {
        self.actions
            .iter()
            .filter(|a| {
                let Some(update) = &a.update else { return false };
                let nodes = a.path.query(upstream).all();
                !nodes.is_empty() && nodes.iter().all(|n| contains(n, update))
            })
            .collect()
    }
}

impl Overlay {
    /// The operations (`METHOD /path`) that applying the overlay to `doc`
    /// adds: those no published document lists, taken from the evidence.
    pub fn operations_added(&self, doc: &Value) -> Result<Vec<String>, SpecError> {
        let names = |d: &Value| -> std::collections::BTreeSet<String> {
            crate::operations(d)
                .map(|(p, m, _)| format!("{} {p}", m.to_uppercase()))
                .collect()
        };
        let before = names(doc);
        Ok(names(&self.apply(doc)?.doc)
            .into_iter()
            .filter(|op| !before.contains(op))
            .collect())
    }
}

/// Merges `update` into `node` as Overlay 1.0 says.
fn merge(node: &mut Value, update: &Value) {
    match (node, update) {
        (Value::Object(target), Value::Object(source)) => {
            for (k, v) in source {
                match target.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    Some(existing) if existing.is_array() => merge(existing, v),
                    _ => {
                        target.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(list), Value::Array(items)) => list.extend(items.iter().cloned()),
        (Value::Array(list), item) => list.push(item.clone()),
        (node, value) => *node = value.clone(),
    }
}

/// Whether merging `update` into `node` would change nothing.
fn contains(node: &Value, update: &Value) -> bool {
    match (node, update) {
        (Value::Object(n), Value::Object(u)) => u.iter().all(|(k, v)| n.get(k).is_some_and(|nv| contains(nv, v))),
        (Value::Array(n), Value::Array(u)) => u.iter().all(|item| n.contains(item)),
        (a, b) => a == b,
    }
}

fn remove_at(doc: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let key = crate::walk::unescape(last);
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.shift_remove(&key);
        }
        Some(Value::Array(list)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < list.len()
            {
                list.remove(i);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn overlay(actions: Value) -> Overlay {
        Overlay::from_value(
            &json!({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": actions}),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn updates_merge_removes_delete_and_order_holds() {
        let doc = json!({"components": {"schemas": {
            "A": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
            "B": {"type": "object", "properties": {"x": {"type": "string"}}}
        }}});
        let o = overlay(json!([
            {"target": "$.components.schemas.A.properties", "description": "new field", "update": {"y": {"type": "integer"}}},
            {"target": "$.components.schemas.A.required", "description": "list grows", "update": "y"},
            {"target": "$.components.schemas[*].properties.x", "description": "gone", "remove": true},
            {"target": "$.components.schemas.Nope", "description": "stale", "update": {"a": 1}},
        ]));
        let applied = o.apply(&doc).unwrap();
        assert_eq!(
            applied.doc["components"]["schemas"]["A"],
            json!({"type": "object", "properties": {"y": {"type": "integer"}}, "required": ["x", "y"]})
        );
        assert_eq!(applied.doc["components"]["schemas"]["B"]["properties"], json!({}));
        let counts: Vec<usize> = applied.matches.iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, [1, 1, 2, 0]);
        assert_eq!(applied.unmatched().len(), 1);
        assert_eq!(applied.unmatched()[0].description, "stale");
    }

    #[test]
    fn carried_when_upstream_already_has_it() {
        let o = overlay(json!([
            {"target": "$.components.schemas.A.properties", "description": "d", "update": {"y": {"type": "integer"}}},
            {"target": "$.components.schemas.A.properties", "description": "e", "update": {"z": {"type": "integer"}}},
            {"target": "$.components.schemas.Gone", "description": "f", "update": {}},
        ]));
        let upstream =
            json!({"components": {"schemas": {"A": {"properties": {"y": {"type": "integer", "title": "Y"}}}}}});
        let carried: Vec<&str> = o.carried_by(&upstream).iter().map(|a| a.description.as_str()).collect();
        assert_eq!(carried, ["d"]);
    }

    #[test]
    fn malformed_overlays_are_refused_with_where() {
        let bad = |v: Value| Overlay::from_value(&v, "o.json").unwrap_err().to_string();
        assert!(bad(json!({"overlay": "2.0.0"})).contains("1.0.x"));
        let base =
            |actions: Value| json!({"overlay": "1.0.0", "info": {"title": "t", "version": "1"}, "actions": actions});
        assert!(bad(base(json!([{"target": "$[", "description": "d", "remove": true}]))).contains("action #0: target"));
        assert!(bad(base(json!([{"target": "$", "remove": true}]))).contains("description"));
        assert!(bad(base(json!([{"target": "$", "description": "d"}]))).contains("exactly one"));
    }
}

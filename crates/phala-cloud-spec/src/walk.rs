//! Visiting every schema of a document, with where it sits.

use serde_json::Value;

/// The HTTP methods a path item may hold, in OpenAPI's order.
pub const HTTP_METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Which side of the wire a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Parameters and request bodies: what the client sends.
    Request,
    /// Responses: what the client decodes.
    Response,
    /// A named component; its side follows from who references it.
    Component,
}

/// Where a visited schema sits.
pub(crate) struct Place<'a> {
    /// JSON pointer of the schema.
    pub pointer: &'a str,
    pub side: Side,
    /// The name of the component this schema is (or is inside of).
    pub component: Option<&'a str>,
    /// True for the root of a named component schema.
    pub is_component_root: bool,
}

/// Escapes one JSON pointer segment.
pub(crate) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// `(path, method, operation)` for every operation of a document, in order.
pub fn operations(doc: &Value) -> impl Iterator<Item = (&str, &str, &Value)> {
    doc.get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|paths| paths.iter())
        .flat_map(|(path, item)| {
            HTTP_METHODS
                .iter()
                .filter_map(move |m| item.get(*m).map(|op| (path.as_str(), *m, op)))
        })
}

/// Keywords whose value is one subschema.
const ONE: [&str; 11] = [
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
];
/// Keywords whose value is a list of subschemas.
const LIST: [&str; 4] = ["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to subschemas.
const MAP: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Visits `schema` and all its subschemas, children before parents.
fn walk_schema(
    schema: &mut Value,
    pointer: &mut String,
    side: Side,
    component: Option<&str>,
    root: bool,
    f: &mut dyn FnMut(&mut Value, &Place),
) {
    let len = pointer.len();
    if let Some(obj) = schema.as_object_mut() {
        for key in ONE {
            match obj.get_mut(key) {
                Some(sub @ Value::Object(_)) => {
                    pointer.push_str(&format!("/{key}"));
                    walk_schema(sub, pointer, side, component, false, f);
                    pointer.truncate(len);
                }
                Some(Value::Array(list)) if key == "items" => {
                    for (i, sub) in list.iter_mut().enumerate() {
                        pointer.push_str(&format!("/{key}/{i}"));
                        walk_schema(sub, pointer, side, component, false, f);
                        pointer.truncate(len);
                    }
                }
                _ => {}
            }
        }
        for key in LIST {
            if let Some(Value::Array(list)) = obj.get_mut(key) {
                for (i, sub) in list.iter_mut().enumerate() {
                    pointer.push_str(&format!("/{key}/{i}"));
                    walk_schema(sub, pointer, side, component, false, f);
                    pointer.truncate(len);
                }
            }
        }
        for key in MAP {
            if let Some(Value::Object(map)) = obj.get_mut(key) {
                for (name, sub) in map.iter_mut() {
                    pointer.push_str(&format!("/{key}/{}", escape(name)));
                    walk_schema(sub, pointer, side, component, false, f);
                    pointer.truncate(len);
                }
            }
        }
    }
    let place = Place {
        pointer: pointer.as_str(),
        side,
        component,
        is_component_root: root,
    };
    f(schema, &place);
}

/// Visits the schemas under `content.*.schema` of a request body, response or parameter.
fn walk_content(holder: &mut Value, pointer: &mut String, side: Side, f: &mut dyn FnMut(&mut Value, &Place)) {
    let len = pointer.len();
    if let Some(schema) = holder.get_mut("schema") {
        pointer.push_str("/schema");
        walk_schema(schema, pointer, side, None, false, f);
        pointer.truncate(len);
    }
    if let Some(Value::Object(content)) = holder.get_mut("content") {
        for (media, body) in content.iter_mut() {
            if let Some(schema) = body.get_mut("schema") {
                pointer.push_str(&format!("/content/{}/schema", escape(media)));
                walk_schema(schema, pointer, side, None, false, f);
                pointer.truncate(len);
            }
        }
    }
    if let Some(Value::Object(headers)) = holder.get_mut("headers") {
        for (name, header) in headers.iter_mut() {
            pointer.push_str(&format!("/headers/{}", escape(name)));
            walk_content(header, pointer, side, f);
            pointer.truncate(len);
        }
    }
}

fn walk_list(
    list: Option<&mut Value>,
    pointer: &mut String,
    key: &str,
    side: Side,
    f: &mut dyn FnMut(&mut Value, &Place),
) {
    let len = pointer.len();
    if let Some(Value::Array(items)) = list {
        for (i, item) in items.iter_mut().enumerate() {
            pointer.push_str(&format!("/{key}/{i}"));
            walk_content(item, pointer, side, f);
            pointer.truncate(len);
        }
    }
}

fn walk_named(
    map: Option<&mut Value>,
    pointer: &mut String,
    key: &str,
    side: Side,
    f: &mut dyn FnMut(&mut Value, &Place),
) {
    let len = pointer.len();
    if let Some(Value::Object(items)) = map {
        for (name, item) in items.iter_mut() {
            pointer.push_str(&format!("/{key}/{}", escape(name)));
            walk_content(item, pointer, side, f);
            pointer.truncate(len);
        }
    }
}

/// Visits every schema of the document, children before parents.
pub(crate) fn for_each_schema(doc: &mut Value, f: &mut dyn FnMut(&mut Value, &Place)) {
    let mut pointer;
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for (path, item) in paths.iter_mut() {
            pointer = format!("/paths/{}", escape(path));
            walk_list(item.get_mut("parameters"), &mut pointer, "parameters", Side::Request, f);
            for method in HTTP_METHODS {
                let Some(op) = item.get_mut(method) else { continue };
                let base = format!("/paths/{}/{method}", escape(path));
                pointer.clone_from(&base);
                walk_list(op.get_mut("parameters"), &mut pointer, "parameters", Side::Request, f);
                if let Some(body) = op.get_mut("requestBody") {
                    pointer.push_str("/requestBody");
                    walk_content(body, &mut pointer, Side::Request, f);
                    pointer.clone_from(&base);
                }
                walk_named(op.get_mut("responses"), &mut pointer, "responses", Side::Response, f);
            }
        }
    }
    let Some(Value::Object(components)) = doc.get_mut("components") else {
        return;
    };
    for (key, side) in [
        ("parameters", Side::Request),
        ("requestBodies", Side::Request),
        ("responses", Side::Response),
        ("headers", Side::Response),
    ] {
        pointer = "/components".to_string();
        walk_named(components.get_mut(key), &mut pointer, key, side, f);
    }
    if let Some(Value::Object(schemas)) = components.get_mut("schemas") {
        for (name, schema) in schemas.iter_mut() {
            pointer = format!("/components/schemas/{}", escape(name));
            walk_schema(schema, &mut pointer, Side::Component, Some(name), true, f);
        }
    }
}

/// Calls `f` on every `$ref` string of a (sub)document.
pub(crate) fn for_each_ref(value: &Value, f: &mut dyn FnMut(&str)) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => f(r),
                    _ => for_each_ref(v, f),
                }
            }
        }
        Value::Array(list) => list.iter().for_each(|v| for_each_ref(v, f)),
        _ => {}
    }
}

/// Rewrites every `$ref` string of a (sub)document through `f`.
pub(crate) fn rewrite_refs(value: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(new) = f(r) {
                            *r = new;
                        }
                    }
                    (_, v) => rewrite_refs(v, f),
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|v| rewrite_refs(v, f)),
        _ => {}
    }
}

/// The component name a local schema `$ref` points to.
pub(crate) fn schema_ref_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/components/schemas/")
}

/// Names of the component schemas reachable from `roots`, transitively.
pub(crate) fn reachable_schemas(
    doc: &Value,
    roots: impl IntoIterator<Item = String>,
) -> std::collections::BTreeSet<String> {
    let schemas = doc.pointer("/components/schemas").and_then(Value::as_object);
    let mut seen = std::collections::BTreeSet::new();
    let mut stack: Vec<String> = roots.into_iter().collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.and_then(|s| s.get(&name)) {
            for_each_ref(schema, &mut |r| {
                if let Some(n) = schema_ref_name(r) {
                    stack.push(unescape(n));
                }
            });
        }
    }
    seen
}

/// Undoes [`escape`].
pub(crate) fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Component schemas a response reaches, transitively.
pub(crate) fn response_schemas(doc: &Value) -> std::collections::BTreeSet<String> {
    side_schemas(doc, &["responses"], &["responses", "headers"])
}

/// Component schemas a parameter or request body reaches, transitively.
pub(crate) fn request_schemas(doc: &Value) -> std::collections::BTreeSet<String> {
    side_schemas(doc, &["parameters", "requestBody"], &["parameters", "requestBodies"])
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    for_each_ref(value, &mut |r| {
        if let Some(n) = schema_ref_name(r) {
            into.push(unescape(n));
        }
    })
}

/// Component schemas reached from `op_keys` of every operation and path
/// item (path-level parameters apply to all its operations) and from
/// `component_keys` of `components`, transitively.
fn side_schemas(doc: &Value, op_keys: &[&str], component_keys: &[&str]) -> std::collections::BTreeSet<String> {
    let mut roots = Vec::new();
    let path_items = doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values());
    for holder in path_items.chain(operations(doc).map(|(_, _, op)| op)) {
        for key in op_keys {
            if let Some(v) = holder.get(*key) {
                collect_refs(v, &mut roots);
            }
        }
    }
    for key in component_keys {
        if let Some(v) = doc.pointer(&format!("/components/{key}")) {
            collect_refs(v, &mut roots);
        }
    }
    reachable_schemas(doc, roots)
}

/// Adds the JSON types `schema` declares (`type` as a string or a list,
/// OpenAPI 3.0's `nullable`) to `types`, `null` aside; whether it allows null.
pub(crate) fn declared_types(schema: &Value, types: &mut std::collections::BTreeSet<String>) -> bool {
    let mut nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    let named: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for t in named {
        if t == "null" {
            nullable = true;
        } else {
            types.insert(t.to_string());
        }
    }
    nullable
}

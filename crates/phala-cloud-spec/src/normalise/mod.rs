//! Normalising a FastAPI OpenAPI 3.1 document into the OpenAPI 3.0 subset
//! that progenitor 0.15 (openapiv3 2.2, typify 0.8) generates good code from.
//!
//! Each pass is a plain function on the whole document, listed in [`PASSES`]
//! in the order [`normalise`] applies them; each was found necessary by
//! trying, and each says why in its doc comment. The passes are general: they
//! hold for any FastAPI document, not only for the operations we bundle.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::SpecError;
use crate::walk::{
    self, Side, escape, for_each_schema, operations, request_schemas, response_schemas, rewrite_refs, schema_ref_name,
};

/// One normalisation step.
#[derive(Clone, Copy)]
pub struct Pass {
    /// Short identifier, used in tests and diagnostics.
    pub name: &'static str,
    /// What it does and why.
    pub why: &'static str,
    /// The transformation.
    pub run: fn(&mut Value),
}

impl std::fmt::Debug for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pass").field("name", &self.name).finish()
    }
}

/// The passes [`normalise`] applies, in order.
pub const PASSES: &[Pass] = &[
    Pass {
        name: "openapi_version",
        why: "progenitor refuses anything but 3.0.x",
        run: openapi_version,
    },
    Pass {
        name: "null_unions",
        why: "3.1 `anyOf [X, null]` and `type: [T, null]` become 3.0 `nullable`; progenitor panics on `type: null`",
        run: null_unions,
    },
    Pass {
        name: "described_refs",
        why: "3.0 ignores what stands beside a `$ref`, and openapiv3 drops it: a property's description (given by the document or the overlay) is kept as `allOf: [$ref]` beside it, the same type to typify",
        run: described_refs,
    },
    Pass {
        name: "parameter_nulls",
        why: "a parameter cannot carry null (an absent one says \"no value\"); progenitor already makes optional parameters an `Option` and renders a nullable header's `Option<Option<T>>` with `to_string`, which does not compile",
        run: parameter_nulls,
    },
    Pass {
        name: "const_to_enum",
        why: "openapiv3 drops `const`, and typify then rejects the defaults",
        run: const_to_enum,
    },
    Pass {
        name: "string_enum_unions",
        why: "unions of string enums become one enum, an enum united with a plain string becomes a string; typify rejects their defaults otherwise",
        run: string_enum_unions,
    },
    Pass {
        name: "tuples",
        why: "3.0 has no `prefixItems` (Python tuples); a tuple becomes an array of its one item type, or of any value",
        run: tuples,
    },
    Pass {
        name: "array_unions",
        why: "a union of array types becomes an array of a union of their items: typify otherwise makes a struct that decodes no array, or buffers a whole answer per shape",
        run: array_unions,
    },
    Pass {
        name: "answer_alternatives",
        why: "an answer that is `anyOf` named objects with the same fields (two page shapes) becomes a struct of flattened optional arms that decodes everything twice; as `oneOf` it is an enum whose first fitting arm wins",
        run: answer_alternatives,
    },
    Pass {
        name: "inline_titles",
        why: "typify names inline types by `title` and merges equal names into one wrong type",
        run: inline_titles,
    },
    Pass {
        name: "examples",
        why: "3.1 `examples` lists become the 3.0 `example`",
        run: examples,
    },
    Pass {
        name: "exclusive_bounds",
        why: "numeric `exclusiveMinimum/Maximum` become the 3.0 boolean form",
        run: exclusive_bounds,
    },
    Pass {
        name: "head_answers",
        why: "an answer to HEAD has no body (RFC 9110); FastAPI documents the GET's JSON for it, which the client would then fail to decode from the empty body",
        run: head_answers,
    },
    Pass {
        name: "bodyless_responses",
        why: "progenitor wants one success and one error body type per operation; body-less responses beside typed ones of their class are dropped and still arrive as unexpected responses with their status",
        run: bodyless_responses,
    },
    Pass {
        name: "request_content_types",
        why: "progenitor encodes JSON, form-urlencoded, octet-stream and text bodies only; other request types are dropped, and an operation left with none is removed and listed in `x-normalise-dropped`",
        run: request_content_types,
    },
    Pass {
        name: "event_streams",
        why: "progenitor decodes JSON whenever an answer lists it, and would read an endless event stream whole; an answer that can be `text/event-stream` becomes a byte stream, its JSON schema kept for the caller to decode",
        run: event_streams,
    },
    Pass {
        name: "lenient_responses",
        why: "what the service sends and the document does not know (a new field, enum value or id format) must still decode, and be kept: response objects keep unknown fields, response enums get an unknown arm; request-side schemas stay strict",
        run: lenient_responses,
    },
    Pass {
        name: "readable_names",
        why: "`teehouse__..._CVMInfo` and FastAPI operationIds make unreadable Rust names",
        run: readable_names,
    },
    Pass {
        name: "union_arm_titles",
        why: "typify names the variants of an untagged union `Variant0`, `Variant1` unless its arms have titles",
        run: union_arm_titles,
    },
];

/// Normalises `doc` (OpenAPI 3.0 or 3.1) into what progenitor accepts.
///
/// Pure: `doc` is not modified. Fails if `doc` is not an OpenAPI 3 document,
/// or if a construct survives that no pass handles (named by JSON pointer).
pub fn normalise(doc: &Value) -> Result<Value, SpecError> {
    crate::validate_document(doc, "document")?;
    let mut out = doc.clone();
    for pass in PASSES {
        (pass.run)(&mut out);
    }
    check_openapi_30(&mut out)?;
    Ok(out)
}

/// `openapi: 3.1.x` becomes `3.0.3`; 3.1-only top-level members go.
pub fn openapi_version(doc: &mut Value) {
    if let Some(obj) = doc.as_object_mut() {
        if obj
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("3.1"))
        {
            obj.insert("openapi".into(), json!("3.0.3"));
        }
        obj.shift_remove("webhooks");
        obj.shift_remove("jsonSchemaDialect");
    }
    if let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) {
        components.shift_remove("pathItems");
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        && v.as_object()
            .is_some_and(|o| o.keys().all(|k| k == "type" || k == "title" || k == "description"))
}

/// `anyOf`/`oneOf` with a `{type: null}` arm become the other arm(s) plus
/// `nullable: true`; a lone `$ref` arm becomes `allOf: [$ref]` since 3.0
/// ignores siblings of `$ref`. `type: [T, "null"]` becomes `type: T` + `nullable`.
pub fn null_unions(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        if let Some(Value::Array(types)) = obj.get("type").cloned() {
            let rest: Vec<Value> = types.iter().filter(|t| t.as_str() != Some("null")).cloned().collect();
            if rest.len() < types.len() {
                obj.insert("nullable".into(), Value::Bool(true));
            }
            match rest.as_slice() {
                [one] => {
                    obj.insert("type".into(), one.clone());
                }
                [] => {}
                many => {
                    obj.shift_remove("type");
                    obj.insert("anyOf".into(), many.iter().map(|t| json!({ "type": t })).collect());
                }
            }
        }
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(arms)) = obj.get(key) else {
                continue;
            };
            let rest: Vec<Value> = arms.iter().filter(|a| !is_null_schema(a)).cloned().collect();
            if rest.len() == arms.len() || rest.is_empty() {
                continue;
            }
            obj.insert("nullable".into(), Value::Bool(true));
            if let [arm] = rest.as_slice() {
                obj.shift_remove(key);
                match arm.as_object() {
                    Some(a) if a.contains_key("$ref") => {
                        let all = obj.entry("allOf").or_insert_with(|| json!([]));
                        if let Some(list) = all.as_array_mut() {
                            list.push(arm.clone());
                        }
                    }
                    Some(a) => {
                        for (k, v) in a {
                            if !obj.contains_key(k) {
                                obj.insert(k.clone(), v.clone());
                            }
                        }
                    }
                    None => {}
                }
            } else {
                obj.insert(key.into(), Value::Array(rest));
            }
        }
    });
    // Unions are handled; what is left of `type: null` stands alone.
    for_each_schema(doc, &mut |schema, _| {
        if let Some(obj) = schema
            .as_object_mut()
            .filter(|o| o.get("type").and_then(Value::as_str) == Some("null"))
        {
            obj.shift_remove("type");
            obj.insert("nullable".into(), Value::Bool(true));
        }
    });
}

/// `{$ref, description, ...}` becomes `{allOf: [{$ref}], description, ...}`.
pub fn described_refs(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut().filter(|o| o.len() > 1) else {
            return;
        };
        if let Some(reference) = obj.shift_remove("$ref") {
            obj.insert("allOf".into(), json!([{ "$ref": reference }]));
        }
    });
}

/// A parameter's own schema loses `nullable` (left by [`null_unions`] from
/// FastAPI's `anyOf [T, null]` for `T | None = None`): headers, queries and
/// paths have no null on the wire, only absence, which an optional
/// parameter already expresses.
pub fn parameter_nulls(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, place| {
        let mut segments = place.pointer.rsplit('/');
        let own = place.side == Side::Request
            && place.component.is_none()
            && segments.next() == Some("schema")
            && segments.nth(1) == Some("parameters");
        if let Some(obj) = schema.as_object_mut().filter(|_| own) {
            obj.shift_remove("nullable");
        }
    });
}

/// `const: v` becomes `enum: [v]`.
pub fn const_to_enum(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        if let Some(v) = obj.shift_remove("const") {
            obj.entry("enum").or_insert_with(|| json!([v]));
        }
    });
}

/// A union whose arms are all string schemas collapses into one: an enum of
/// all values when every arm is an enum, otherwise a plain string.
pub fn string_enum_unions(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(arms)) = obj.get(key) else {
                continue;
            };
            let all_strings = !arms.is_empty()
                && arms
                    .iter()
                    .all(|a| a.get("type").and_then(Value::as_str) == Some("string") && a.get("$ref").is_none());
            if !all_strings {
                continue;
            }
            let mut values: Vec<Value> = Vec::new();
            let mut open = false;
            for arm in arms {
                match arm.get("enum").and_then(Value::as_array) {
                    Some(list) => list.iter().for_each(|v| {
                        if !values.contains(v) {
                            values.push(v.clone());
                        }
                    }),
                    None => open = true,
                }
            }
            obj.shift_remove(key);
            obj.insert("type".into(), json!("string"));
            if !open {
                obj.insert("enum".into(), Value::Array(values));
            }
        }
    });
}

/// Every answer to a HEAD request loses its `content`: it never has a body.
pub fn head_answers(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let responses = item.pointer_mut("/head/responses").and_then(Value::as_object_mut);
        for response in responses.into_iter().flat_map(|r| r.values_mut()) {
            if let Some(response) = response.as_object_mut() {
                response.shift_remove("content");
            }
        }
    }
}

/// `prefixItems` (a tuple) becomes `items`: the item schema when all positions
/// share it, otherwise any value; `minItems`/`maxItems` keep the length.
pub fn tuples(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        let Some(Value::Array(items)) = obj.shift_remove("prefixItems") else {
            return;
        };
        let item = match items.first() {
            Some(first) if items.iter().all(|i| i == first) => first.clone(),
            _ => json!({}),
        };
        obj.entry("items").or_insert(item);
    });
}

/// A union whose arms are all arrays becomes one array of a union of their
/// items: typify otherwise makes a struct that decodes no array (`anyOf`),
/// or an untagged enum of lists that buffers a whole answer to try each
/// shape in turn (`oneOf`). Item by item, only one item is buffered at a time.
pub fn array_unions(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        for key in ["anyOf", "oneOf"] {
            let arrays = matches!(obj.get(key), Some(Value::Array(arms)) if arms.len() > 1 && arms.iter().all(|a| a.get("type").and_then(Value::as_str) == Some("array") && a.get("items").is_some()));
            if arrays && let Some(Value::Array(arms)) = obj.shift_remove(key) {
                // Lengths: the loosest of the arms' bounds, when every arm has one.
                let bound = |k: &str, pick: fn(u64, u64) -> u64| {
                    arms.iter()
                        .map(|a| a.get(k).and_then(Value::as_u64))
                        .try_fold(None, |acc: Option<u64>, b| {
                            b.map(|b| Some(acc.map_or(b, |a| pick(a, b))))
                        })
                        .flatten()
                };
                let (min, max) = (bound("minItems", u64::min), bound("maxItems", u64::max));
                let items = without_repeats(arms.into_iter().filter_map(|mut a| a.get_mut("items").map(Value::take)));
                obj.insert("type".into(), json!("array"));
                // Arms of one item type (a tuple of 3 or 4 integers) are one array of it.
                let item = match <[Value; 1]>::try_from(items) {
                    Ok([one]) => one,
                    Err(items) => json!({ "oneOf": items }),
                };
                obj.insert("items".into(), item);
                if let Some(min) = min {
                    obj.insert("minItems".into(), json!(min));
                }
                if let Some(max) = max {
                    obj.insert("maxItems".into(), json!(max));
                }
            }
        }
    });
}

/// `values` in order, each one once.
fn without_repeats(values: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for value in values {
        if !out.contains(&value) {
            out.push(value);
        }
    }
    out
}

/// An answer's `anyOf` whose arms are all references becomes `oneOf`: the
/// shapes a version-dependent answer takes (FastAPI writes a Python union
/// as `anyOf`). typify makes an untagged enum of a `oneOf`; of an `anyOf`
/// of objects it cannot tell apart, a struct of flattened optional arms.
/// Only answers: a request body keeps saying what it accepts.
pub fn answer_alternatives(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, place| {
        if place.side != Side::Response {
            return;
        }
        let Some(obj) = schema.as_object_mut() else { return };
        let all_refs = matches!(obj.get("anyOf"), Some(Value::Array(arms)) if arms.len() > 1 && arms.iter().all(|a| a.get("$ref").is_some()));
        if all_refs
            && !obj.contains_key("oneOf")
            && let Some(Value::Array(arms)) = obj.shift_remove("anyOf")
        {
            // FastAPI repeats an arm two version unions share: once is enough.
            obj.insert("oneOf".into(), Value::Array(without_repeats(arms)));
        }
    });
}

/// `title` is removed from every schema that is not a named component.
pub fn inline_titles(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, place| {
        if !place.is_component_root
            && let Some(obj) = schema.as_object_mut()
        {
            obj.shift_remove("title");
        }
    });
}

/// `examples: [a, ...]` in a schema becomes `example: a`.
pub fn examples(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        if let Some(Value::Array(list)) = obj.get("examples") {
            let first = list.first().cloned();
            obj.shift_remove("examples");
            if let Some(first) = first {
                obj.entry("example").or_insert(first);
            }
        }
    });
}

/// `exclusiveMinimum: n` becomes `minimum: n, exclusiveMinimum: true` (same for maximum).
pub fn exclusive_bounds(doc: &mut Value) {
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        for (exclusive, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
            if let Some(n @ Value::Number(_)) = obj.get(exclusive).cloned() {
                obj.insert(bound.into(), n);
                obj.insert(exclusive.into(), Value::Bool(true));
            }
        }
    });
}

fn is_error_status(code: &str) -> bool {
    code == "default" || code.starts_with('4') || code.starts_with('5')
}

fn has_body(response: &Value) -> bool {
    response
        .get("content")
        .and_then(Value::as_object)
        .is_some_and(|c| !c.is_empty())
        || response.get("$ref").is_some()
}

/// Calls `f` on the `responses` map of every operation.
fn for_each_responses(doc: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        for method in walk::HTTP_METHODS {
            if let Some(responses) = item
                .get_mut(method)
                .and_then(|op| op.get_mut("responses"))
                .and_then(Value::as_object_mut)
            {
                f(responses);
            }
        }
    }
}

/// Where an operation has a success (or error) response with a body, its
/// body-less success (or error) responses are dropped.
pub fn bodyless_responses(doc: &mut Value) {
    for_each_responses(doc, &mut |responses| {
        for class in [is_error_status as fn(&str) -> bool, |c: &str| c.starts_with('2')] {
            if responses.iter().any(|(code, r)| class(code) && has_body(r)) {
                responses.retain(|code, r| !class(code) || has_body(r));
            }
        }
    });
}

/// Request body media types progenitor can encode.
const ENCODABLE: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/octet-stream",
    "text/plain",
    "text/x-markdown",
];

fn encodable(media: &str) -> bool {
    let base = media.split(';').next().unwrap_or(media).trim();
    ENCODABLE.contains(&base)
}

/// Request bodies keep only the media types progenitor can encode; an
/// operation whose body had none of them is removed, and recorded.
pub fn request_content_types(doc: &mut Value) {
    let mut dropped = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for method in walk::HTTP_METHODS {
                let Some(content) = item
                    .get_mut(method)
                    .and_then(|op| op.pointer_mut("/requestBody/content"))
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                if content.keys().any(|media| encodable(media)) {
                    content.retain(|media, _| encodable(media));
                    continue;
                }
                // Nothing progenitor can send: the operation is set aside whole.
                let types: Vec<String> = content.keys().cloned().collect();
                let op = item.shift_remove(method).unwrap_or_default();
                dropped.push((
                    json!(format!(
                        "{} {path}: request body {}",
                        method.to_uppercase(),
                        types.join(", ")
                    )),
                    format!("{} {path}", method.to_uppercase()),
                    op,
                ));
            }
        }
        paths.retain(|_, item| {
            item.as_object()
                .is_none_or(|i| walk::HTTP_METHODS.iter().any(|m| i.contains_key(*m)))
        });
    }
    if !dropped.is_empty()
        && let Some(obj) = doc.as_object_mut()
    {
        let (list, kept): (Vec<Value>, Map<String, Value>) =
            dropped.into_iter().map(|(line, key, op)| (line, (key, op))).unzip();
        obj.insert("x-normalise-dropped".into(), Value::Array(list));
        // Kept whole, so a hand-made call still finds the types its answers
        // have (their schemas stay reachable, and renamed as the rest).
        obj.insert(DROPPED_OPERATIONS.into(), Value::Object(kept));
    }
}

/// Where [`request_content_types`] keeps the operations it drops, by
/// `"METHOD /path"`.
pub const DROPPED_OPERATIONS: &str = "x-normalise-dropped-operations";

/// Media types of an answer that can be an event stream.
const EVENT_STREAM: &str = "text/event-stream";

/// A success answer that lists `text/event-stream` keeps only that media
/// type; the schemas of the others stay reachable under `x-json-schema`.
pub fn event_streams(doc: &mut Value) {
    for_each_responses(doc, &mut |responses| {
        for (_, response) in responses.iter_mut().filter(|(code, _)| code.starts_with('2')) {
            let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
                continue;
            };
            let Some(mut stream) = content.get(EVENT_STREAM).cloned() else {
                continue;
            };
            let others: Map<String, Value> = std::mem::take(content)
                .into_iter()
                .filter(|(media, _)| media != EVENT_STREAM)
                .filter_map(|(media, body)| Some((media, body.get("schema")?.clone())))
                .collect();
            if let Some(obj) = stream.as_object_mut().filter(|_| !others.is_empty()) {
                obj.insert("x-json-schema".into(), Value::Object(others));
            }
            content.insert(EVENT_STREAM.into(), stream);
        }
    });
}

/// The name of the component holding the known values of open enum `name`.
pub fn known_values_name(name: &str) -> String {
    format!("Known{name}")
}

/// The extension that marks the schema of an unknown field's value. typify
/// renders a plain `additionalProperties: {}` as a `serde_json::Map`, an
/// `IndexMap` of 72 bytes in every decoded object even when empty (the
/// workspace needs serde_json's `preserve_order`); [`crate::codegen`] maps
/// this marker to `serde_json::Value`, so that `extra` is a
/// `BTreeMap<String, Value>` of 24 bytes that allocates nothing when empty.
pub const UNKNOWN_FIELD: &str = "x-unknown-field";

/// The `additionalProperties` schema of a response object: any value.
pub fn unknown_field_schema() -> Value {
    json!({ UNKNOWN_FIELD: true })
}

fn is_string_enum(schema: &Value) -> bool {
    schema
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|l| l.iter().all(|v| v.is_string() || v.is_null()))
}

/// Response-side schemas are made tolerant, so that what a newer service
/// sends still decodes and nothing it sends is lost:
/// - objects with `properties` keep unknown fields (`additionalProperties`
///   of any value, which typify turns into a flattened `extra` map; see
///   [`UNKNOWN_FIELD`]);
/// - a string enum component `E` becomes an open enum: `oneOf` of
///   `Known: KnownE` (the values) and `Unknown: string`, an untagged Rust
///   enum whose `Unknown` arm keeps a new value; inline string enums become
///   strings with their values in `x-known-values`;
/// - `pattern`s go (an id in a new format).
///
/// Schemas a request reaches stay strict, even when a response reaches them
/// too, except string enum components (open either way: see above).
pub fn lenient_responses(doc: &mut Value) {
    let response = response_schemas(doc);
    let request = request_schemas(doc);
    let mut open_enums: Vec<(String, Value)> = Vec::new();
    for_each_schema(doc, &mut |schema, place| {
        let lenient = match place.side {
            Side::Response => true,
            Side::Request => false,
            Side::Component => place.component.is_some_and(|c| {
                response.contains(c)
                    && (!request.contains(c)
                        // A string enum a response reaches stays open even
                        // when a request reaches it too: it serialises the
                        // same, and a new value must not break decoding.
                        || (place.is_component_root && is_string_enum(schema)))
            }),
        };
        let Some(obj) = schema.as_object_mut().filter(|_| lenient) else {
            return;
        };
        obj.shift_remove("pattern");
        let any_value = match obj.get("additionalProperties") {
            None | Some(Value::Bool(_)) => true,
            Some(Value::Object(schema)) => schema.is_empty(),
            Some(_) => false,
        };
        if obj.contains_key("properties") && any_value {
            obj.insert("additionalProperties".into(), unknown_field_schema());
        }
        // An optional field sent as `null` decodes as absent. Only fields with
        // a default or of array type need saying so: typify makes the
        // others `Option` already, which takes `null`.
        let required: BTreeSet<String> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        if let Some(Value::Object(props)) = obj.get_mut("properties") {
            for (name, prop) in props.iter_mut() {
                let Some(p) = prop.as_object_mut() else { continue };
                let defaulted = p.contains_key("default") || p.get("type").and_then(Value::as_str) == Some("array");
                if !required.contains(name) && defaulted && !p.contains_key("$ref") {
                    p.insert("nullable".into(), Value::Bool(true));
                }
            }
        }
        let string_enum = obj.get("type").and_then(Value::as_str) == Some("string")
            || obj
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().all(Value::is_string));
        if string_enum && let Some(values) = obj.shift_remove("enum") {
            let values: Vec<Value> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter(|v| !v.is_null())
                .cloned()
                .collect();
            match (place.is_component_root, place.component) {
                (true, Some(name)) => {
                    let known = known_values_name(name);
                    open_enums.push((known.clone(), json!({"type": "string", "enum": values})));
                    obj.shift_remove("type");
                    obj.insert(
                        "oneOf".into(),
                        json!([
                            {"title": "Known", "allOf": [{"$ref": format!("#/components/schemas/{}", escape(&known))}]},
                            {"title": "Unknown", "type": "string"}
                        ]),
                    );
                }
                _ => {
                    obj.insert("type".into(), json!("string"));
                    obj.insert("x-known-values".into(), Value::Array(values));
                }
            }
        }
    });
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (name, schema) in open_enums {
            schemas.entry(name).or_insert(schema);
        }
    }
}

/// Arms of a `oneOf`/`anyOf` get a `title` (which typify uses as the
/// variant name) when they have none and naming them creates no type: a
/// primitive is named by its type, an array by its items plus `List`.
/// Arms that are `$ref`s are already named after their component; inline
/// objects are left alone (a title would name a new type).
pub fn union_arm_titles(doc: &mut Value) {
    fn arm_name(arm: &Value) -> Option<String> {
        if let Some(r) = arm.get("$ref").and_then(Value::as_str) {
            return schema_ref_name(r).map(|n| walk::unescape(n).rsplit("__").next().unwrap_or_default().to_string());
        }
        match arm.get("type").and_then(Value::as_str)? {
            "array" => Some(format!("{}List", arm.get("items").and_then(arm_name)?)),
            "object" => None,
            other => {
                let mut chars = other.chars();
                let first = chars.next()?;
                Some(first.to_uppercase().chain(chars).collect())
            }
        }
    }
    for_each_schema(doc, &mut |schema, _| {
        let Some(obj) = schema.as_object_mut() else { return };
        for key in ["oneOf", "anyOf"] {
            let Some(Value::Array(arms)) = obj.get_mut(key) else {
                continue;
            };
            let names: Vec<Option<String>> = arms.iter().map(arm_name).collect();
            let distinct: BTreeSet<&String> = names.iter().flatten().collect();
            if distinct.len() != arms.len() {
                continue;
            }
            for (arm, name) in arms.iter_mut().zip(names) {
                if let (Some(a), Some(name)) = (arm.as_object_mut(), name)
                    && !a.contains_key("title")
                    && !a.contains_key("$ref")
                {
                    a.insert("title".into(), Value::String(name));
                }
            }
        }
    });
}

/// The last `__` segment of a FastAPI-qualified schema name.
fn short_schema_name(name: &str) -> &str {
    name.rsplit("__").next().unwrap_or(name)
}

/// FastAPI builds operationIds as `{function}{path with non-word chars as _}_{method}`;
/// this recovers `{function}` without a leading `handle_`.
fn short_operation_id(id: &str, path: &str, method: &str) -> Option<String> {
    let mangled: String = path
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    let stem = id.strip_suffix(&format!("{mangled}_{method}"))?;
    let stem = stem.strip_prefix("handle_").unwrap_or(stem);
    (!stem.is_empty()).then(|| stem.to_string())
}

/// Short names for things whose full names are unreadable, stable whichever
/// of them a build keeps: `(full, short, qualifiers)` in, full -> new name out.
/// A short name used once is taken as is. When several want it, the one with
/// the fewest qualifiers (module segments, path segments) keeps it and the
/// others are told apart by theirs (`qualify`), as all of them are on a tie;
/// if that still collides, every one of them keeps its full name.
fn choose_names(
    items: Vec<(String, String, Vec<String>)>,
    taken: &BTreeSet<String>,
    qualify: impl Fn(&[String], &str) -> String,
) -> BTreeMap<String, String> {
    let mut groups: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    for (full, short, qualifiers) in items {
        groups.entry(short).or_default().push((full, qualifiers));
    }
    let mut chosen = BTreeMap::new();
    for (short, group) in groups {
        let fewest = group.iter().map(|(_, q)| q.len()).min().unwrap_or(0);
        let holders = group.iter().filter(|(_, q)| q.len() == fewest).count();
        let mut names: Vec<(String, String)> = group
            .iter()
            .map(|(full, q)| {
                let name = if group.len() == 1 || (holders == 1 && q.len() == fewest) {
                    short.clone()
                } else {
                    qualify(q, &short)
                };
                (full.clone(), name)
            })
            .collect();
        let distinct: BTreeSet<&String> = names.iter().map(|(_, n)| n).collect();
        let clash = distinct.len() < names.len()
            || names
                .iter()
                .any(|(full, n)| n != full && taken.contains(n) && !group.iter().any(|(f, _)| f == n));
        if clash {
            names = group.iter().map(|(full, _)| (full.clone(), full.clone())).collect();
        }
        chosen.extend(names);
    }
    chosen
}

/// Segments every list in `lists` begins with, and ends with, dropped.
fn distinct_segments(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    let common = |f: &dyn Fn(&Vec<String>, usize) -> Option<String>| {
        (0..)
            .take_while(|&i| {
                let first = lists.first().and_then(|l| f(l, i));
                first.is_some() && lists.iter().all(|l| f(l, i) == first)
            })
            .count()
    };
    let prefix = common(&|l, i| l.get(i).cloned());
    let suffix = common(&|l, i| l.len().checked_sub(i + 1).and_then(|j| l.get(j)).cloned());
    lists
        .iter()
        .map(|l| {
            let end = l.len().saturating_sub(suffix).max(prefix.min(l.len()));
            l[prefix.min(l.len())..end].to_vec()
        })
        .collect()
}

fn pascal(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Qualified component names lose their module path and FastAPI operationIds
/// their path and method suffix. When two would get the same name, the one
/// with the shorter module path (or path) keeps it and the other is prefixed
/// with what sets it apart (`apps__v20251028__schemas__CvmBasicInfo` beside
/// `cvms__management__CvmBasicInfo` becomes `AppsV20251028CvmBasicInfo`);
/// names depend on the whole document, so a build of some operations names
/// each type and method as a build of all of them does.
pub fn readable_names(doc: &mut Value) {
    let names: Vec<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default();
    let taken: BTreeSet<String> = names.iter().cloned().collect();
    let mut by_short: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for name in names.iter().filter(|n| n.contains("__")) {
        by_short.entry(short_schema_name(name)).or_default().push(name);
    }
    let mut items = Vec::new();
    for group in by_short.values() {
        let modules: Vec<Vec<String>> = group
            .iter()
            .map(|n| {
                let mut segs: Vec<String> = n.split("__").map(str::to_string).collect();
                segs.pop();
                segs
            })
            .collect();
        for (full, q) in group.iter().zip(distinct_segments(&modules)) {
            items.push(((*full).clone(), short_schema_name(full).to_string(), q));
        }
    }
    let renames: BTreeMap<String, String> = choose_names(items, &taken, |q, short| {
        q.iter()
            .filter(|s| *s != "schemas")
            .map(|s| pascal(s))
            .collect::<String>()
            + short
    })
    .into_iter()
    .filter(|(full, new)| full != new)
    .collect();
    if !renames.is_empty() {
        if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
            let old = std::mem::take(schemas);
            *schemas = old
                .into_iter()
                .map(|(k, v)| (renames.get(&k).cloned().unwrap_or(k), v))
                .collect::<Map<_, _>>();
        }
        rewrite_refs(doc, &|r| {
            let name = walk::unescape(schema_ref_name(r)?);
            renames
                .get(&name)
                .map(|n| format!("#/components/schemas/{}", escape(n)))
        });
    }

    // Operations set aside (multipart uploads) are named as the others: a hand-made call bears the name.
    let set_aside: Vec<(String, String, String, String)> = doc
        .get(DROPPED_OPERATIONS)
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(key, op)| {
            let (method, path) = key.split_once(' ')?;
            let pointer = format!("/{}/{}/operationId", escape(DROPPED_OPERATIONS), escape(key));
            Some((
                pointer,
                path.to_string(),
                method.to_lowercase(),
                op.get("operationId")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let located: Vec<(String, String, String, String)> = operations(doc)
        .filter_map(|(path, method, op)| {
            let pointer = format!("/paths/{}/{method}/operationId", escape(path));
            Some((
                pointer,
                path.to_string(),
                method.to_string(),
                op.get("operationId")?.as_str()?.to_string(),
            ))
        })
        .chain(set_aside)
        .collect();
    let all_ids: BTreeSet<String> = located.iter().map(|(_, _, _, id)| id.clone()).collect();
    let mut pointers: BTreeMap<String, String> = BTreeMap::new();
    let items: Vec<(String, String, Vec<String>)> = located
        .iter()
        .filter_map(|(pointer, path, method, id)| {
            let short = short_operation_id(id, path, method)?;
            pointers.insert(id.clone(), pointer.clone());
            let literal = path
                .trim_start_matches("/api/v1/")
                .split('/')
                .filter(|s| !s.is_empty() && !s.starts_with('{'))
                .map(|s| s.replace('-', "_"))
                .collect();
            Some((id.clone(), short, literal))
        })
        .collect();
    let chosen = choose_names(items, &all_ids, |q, short| match q.first() {
        Some(first) => format!("{first}_{short}"),
        None => short.to_string(),
    });
    for (id, short) in chosen {
        if let Some(slot) = pointers.get(&id).and_then(|p| doc.pointer_mut(p)) {
            *slot = Value::String(short);
        }
    }
}

/// Fails on what OpenAPI 3.0 cannot express and no pass rewrote.
fn check_openapi_30(doc: &mut Value) -> Result<(), SpecError> {
    let mut first: Option<SpecError> = None;
    for_each_schema(doc, &mut |schema, place| {
        if first.is_some() {
            return;
        }
        let Some(obj) = schema.as_object() else { return };
        let found = match obj.get("type") {
            Some(Value::Array(_)) => Some("a list of types".to_string()),
            Some(Value::String(t)) if t == "null" => Some("`type: null` outside a union".to_string()),
            _ => [
                "const",
                "prefixItems",
                "$defs",
                "dependentSchemas",
                "unevaluatedProperties",
                "unevaluatedItems",
                "if",
                "contentSchema",
            ]
            .iter()
            .find(|k| obj.contains_key(**k))
            .map(|k| format!("`{k}`")),
        };
        let external = obj.get("$ref").and_then(Value::as_str).filter(|r| !r.starts_with("#/"));
        if let Some(construct) = found.or(external.map(|r| format!("external $ref {r}"))) {
            first = Some(SpecError::Unsupported {
                pointer: place.pointer.to_string(),
                construct,
            });
        }
    });
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc_with_schema(schema: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {"/api/v1/things": {"get": {
                "operationId": "handle_list_things_api_v1_things_get",
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}}
            }}},
            "components": {"schemas": {"Thing": schema}}
        })
    }

    fn thing(doc: &Value) -> &Value {
        doc.pointer("/components/schemas/Thing").unwrap()
    }

    #[test]
    fn openapi_version_downgrades_31_only() {
        let mut doc = json!({"openapi": "3.1.0", "webhooks": {}});
        openapi_version(&mut doc);
        assert_eq!(doc, json!({"openapi": "3.0.3"}));
        let mut doc = json!({"openapi": "3.0.2"});
        openapi_version(&mut doc);
        assert_eq!(doc["openapi"], "3.0.2");
    }

    #[test]
    fn answer_alternatives_become_one_of() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        let ok = "/paths/~1api~1v1~1things/get/responses/200/content/application~1json/schema";
        *doc.pointer_mut(ok).unwrap() = json!({"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Other"}, {"$ref": "#/components/schemas/Thing"}]});
        doc["components"]["schemas"]["Other"] = json!({"type": "object", "properties": {"anyOf_field": {"anyOf": [{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Thing"}]}}});
        answer_alternatives(&mut doc);
        assert_eq!(
            doc.pointer(ok).unwrap()["oneOf"],
            json!([{"$ref": "#/components/schemas/Thing"}, {"$ref": "#/components/schemas/Other"}]),
            "a repeated arm once"
        );
        assert!(doc.pointer(ok).unwrap().get("anyOf").is_none());
        // Inside a component (whose side depends on who uses it), and mixed arms, stay as they are.
        assert!(
            doc["components"]["schemas"]["Other"]["properties"]["anyOf_field"]
                .get("anyOf")
                .is_some()
        );
    }

    #[test]
    fn parameters_lose_null_but_keep_optional() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        }}));
        let op = doc.pointer_mut("/paths/~1api~1v1~1things/get").unwrap();
        op["parameters"] = json!([
            {"name": "X-Compose-Hash", "in": "header", "required": false,
             "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X-Compose-Hash"}},
            {"name": "filter", "in": "query", "schema": {"anyOf": [{"type": "object", "properties": {
                "parameters": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}, {"type": "null"}]}},
        ]);
        null_unions(&mut doc);
        parameter_nulls(&mut doc);
        let params = doc.pointer("/paths/~1api~1v1~1things/get/parameters").unwrap();
        assert_eq!(
            params[0]["schema"],
            json!({"title": "X-Compose-Hash", "type": "string"})
        );
        assert_eq!(params[0]["required"], false, "still optional: absence says no value");
        assert_eq!(params[1]["schema"].get("nullable"), None);
        // Schemas inside a parameter's schema, and response schemas, keep theirs.
        assert_eq!(params[1]["schema"]["properties"]["parameters"]["nullable"], true);
        assert_eq!(thing(&doc)["properties"]["note"]["nullable"], true);
    }

    #[test]
    fn null_unions_become_nullable() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "A", "default": "x"},
            "b": {"anyOf": [{"$ref": "#/components/schemas/Other"}, {"type": "null"}]},
            "c": {"type": ["integer", "null"]},
            "d": {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
            "e": {"type": ["string", "integer"]},
            "f": {"type": "null", "title": "F"},
        }}));
        null_unions(&mut doc);
        let p = &thing(&doc)["properties"];
        assert_eq!(
            p["a"],
            json!({"title": "A", "default": "x", "nullable": true, "type": "string"})
        );
        assert_eq!(
            p["b"],
            json!({"nullable": true, "allOf": [{"$ref": "#/components/schemas/Other"}]})
        );
        assert_eq!(p["c"], json!({"type": "integer", "nullable": true}));
        assert_eq!(
            p["d"],
            json!({"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": true})
        );
        assert_eq!(p["e"], json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}));
        assert_eq!(p["f"], json!({"title": "F", "nullable": true}));
    }

    #[test]
    fn const_becomes_enum() {
        let mut doc = doc_with_schema(json!({"type": "string", "const": "node", "default": "node"}));
        const_to_enum(&mut doc);
        assert_eq!(
            thing(&doc),
            &json!({"type": "string", "default": "node", "enum": ["node"]})
        );
    }

    #[test]
    fn string_enum_unions_merge() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "fs": {"anyOf": [{"type": "string", "enum": ["ext4"]}, {"type": "string", "enum": ["zfs"]}], "default": "zfs"},
            "mode": {"anyOf": [{"type": "string", "enum": ["listed", "all"]}, {"type": "string"}], "default": "listed"},
            "mixed": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        }}));
        string_enum_unions(&mut doc);
        let p = &thing(&doc)["properties"];
        assert_eq!(
            p["fs"],
            json!({"default": "zfs", "type": "string", "enum": ["ext4", "zfs"]})
        );
        assert_eq!(p["mode"], json!({"default": "listed", "type": "string"}));
        assert_eq!(p["mixed"], json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}));
    }

    #[test]
    fn tuples_become_arrays() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "v": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "integer"}], "minItems": 2, "maxItems": 2},
            "m": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}]},
        }}));
        tuples(&mut doc);
        let p = &thing(&doc)["properties"];
        assert_eq!(
            p["v"],
            json!({"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "integer"}})
        );
        assert_eq!(p["m"], json!({"type": "array", "items": {}}));
    }

    #[test]
    fn head_answers_have_no_body() {
        let mut doc = doc_with_schema(json!({}));
        doc["paths"]["/raw"] = json!({
            "head": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {}}}}}},
            "get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {}}}}}}
        });
        head_answers(&mut doc);
        assert_eq!(
            doc["paths"]["/raw"]["head"]["responses"]["200"],
            json!({"description": ""})
        );
        assert!(doc["paths"]["/raw"]["get"]["responses"]["200"].get("content").is_some());
    }

    #[test]
    fn array_unions_become_arrays_of_unions() {
        let mut doc = doc_with_schema(json!({"anyOf": [
            {"type": "array", "items": {"type": "string"}},
            {"type": "array", "items": {"type": "integer"}}
        ]}));
        array_unions(&mut doc);
        assert_eq!(
            thing(&doc),
            &json!({"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}})
        );
        let mut doc = doc_with_schema(json!({"anyOf": [
            {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4},
            {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3}
        ]}));
        array_unions(&mut doc);
        assert_eq!(
            thing(&doc),
            &json!({"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 4})
        );
        let mut doc = doc_with_schema(json!({"anyOf": [{"type": "array"}, {"type": "string"}]}));
        array_unions(&mut doc);
        assert!(thing(&doc).get("anyOf").is_some());
    }

    #[test]
    fn inline_titles_go_component_titles_stay() {
        let mut doc = doc_with_schema(
            json!({"title": "Thing", "type": "object", "properties": {"object_type": {"title": "Object Type", "type": "string"}}}),
        );
        doc["paths"]["/api/v1/things"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
            json!({"title": "Response", "type": "array", "items": {"$ref": "#/components/schemas/Thing"}});
        inline_titles(&mut doc);
        assert_eq!(thing(&doc)["title"], "Thing");
        assert!(thing(&doc)["properties"]["object_type"].get("title").is_none());
        assert!(
            doc.pointer("/paths/~1api~1v1~1things/get/responses/200/content/application~1json/schema/title")
                .is_none()
        );
    }

    #[test]
    fn examples_become_example() {
        let mut doc = doc_with_schema(json!({"type": "string", "examples": ["a", "b"]}));
        examples(&mut doc);
        assert_eq!(thing(&doc), &json!({"type": "string", "example": "a"}));
    }

    #[test]
    fn exclusive_bounds_become_30_form() {
        let mut doc = doc_with_schema(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10}));
        exclusive_bounds(&mut doc);
        assert_eq!(
            thing(&doc),
            &json!({"type": "number", "exclusiveMinimum": true, "exclusiveMaximum": true, "minimum": 0, "maximum": 10})
        );
    }

    #[test]
    fn bodyless_responses_dropped_only_beside_typed_ones() {
        let mut doc = json!({"paths": {
            "/a": {"post": {"responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": {}}}},
                "202": {"description": "accepted"},
                "400": {"description": "bad"},
                "401": {"description": "auth"},
                "422": {"description": "v", "content": {"application/json": {"schema": {}}}}
            }}},
            "/b": {"get": {"responses": {"200": {"description": "ok"}, "404": {"description": "gone"}}}}
        }});
        bodyless_responses(&mut doc);
        let a: Vec<&String> = doc
            .pointer("/paths/~1a/post/responses")
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(a, ["200", "422"]);
        assert!(doc.pointer("/paths/~1b/get/responses/404").is_some());
    }

    #[test]
    fn request_content_types_keep_what_progenitor_encodes() {
        let mut doc = json!({"paths": {
            "/upload": {"post": {"requestBody": {"content": {"multipart/form-data": {"schema": {}}}}, "responses": {}}},
            "/both": {"put": {"requestBody": {"content": {"multipart/form-data": {}, "application/json": {"schema": {}}}}, "responses": {}}}
        }});
        request_content_types(&mut doc);
        assert!(doc["paths"].get("/upload").is_none());
        assert_eq!(
            doc["x-normalise-dropped"],
            json!(["POST /upload: request body multipart/form-data"])
        );
        let kept: Vec<&String> = doc
            .pointer("/paths/~1both/put/requestBody/content")
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(kept, ["application/json"]);
    }

    #[test]
    fn an_enum_both_sides_reach_stays_open_while_objects_both_reach_stay_strict() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "kms_type": {"$ref": "#/components/schemas/KmsType"},
            "shared": {"$ref": "#/components/schemas/Body"}
        }}));
        doc["components"]["schemas"]["KmsType"] = json!({"type": "string", "enum": ["phala", "base"]});
        doc["components"]["schemas"]["Body"] =
            json!({"type": "object", "properties": {"kms": {"$ref": "#/components/schemas/KmsType"}}});
        doc["paths"]["/api/v1/things"]["get"]["requestBody"] =
            json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}});
        lenient_responses(&mut doc);
        assert!(doc["components"]["schemas"]["KmsType"]["oneOf"].is_array(), "{doc:#}");
        assert!(
            doc["components"]["schemas"]["Body"]
                .get("additionalProperties")
                .is_none(),
            "{doc:#}"
        );
    }

    #[test]
    fn lenient_responses_open_enums_and_drop_patterns_on_response_side_only() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "kms_type": {"$ref": "#/components/schemas/KmsType"},
            "id": {"type": "string", "pattern": "^cvm_.+"}
        }}));
        doc["components"]["schemas"]["KmsType"] = json!({"type": "string", "enum": ["phala", "base"]});
        doc["components"]["schemas"]["Mode"] = json!({"type": "string", "enum": ["fast", "slow"]});
        doc["paths"]["/api/v1/things"]["get"]["parameters"] = json!([{"name": "mode", "in": "query", "schema": {"$ref": "#/components/schemas/Mode"}},
            {"name": "id", "in": "query", "schema": {"type": "string", "pattern": "^x"}}]);
        doc["components"]["schemas"]["Thing"]["properties"]["inline"] = json!({"type": "string", "enum": ["a", "b"]});
        doc["components"]["schemas"]["Body"] = json!({"type": "object", "properties": {"k": {"type": "string"}}});
        doc["paths"]["/api/v1/things"]["get"]["requestBody"] =
            json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}});
        lenient_responses(&mut doc);
        assert_eq!(
            doc["components"]["schemas"]["KmsType"],
            json!({"oneOf": [
                {"title": "Known", "allOf": [{"$ref": "#/components/schemas/KnownKmsType"}]},
                {"title": "Unknown", "type": "string"}
            ]})
        );
        assert_eq!(
            doc["components"]["schemas"]["KnownKmsType"],
            json!({"type": "string", "enum": ["phala", "base"]})
        );
        assert_eq!(
            thing(&doc)["properties"]["inline"],
            json!({"type": "string", "x-known-values": ["a", "b"]})
        );
        assert_eq!(
            thing(&doc)["additionalProperties"],
            unknown_field_schema(),
            "response objects keep unknown fields"
        );
        assert!(thing(&doc)["properties"]["id"].get("pattern").is_none());
        assert_eq!(doc["components"]["schemas"]["Mode"]["enum"], json!(["fast", "slow"]));
        assert!(
            doc["components"]["schemas"]["Body"]
                .get("additionalProperties")
                .is_none(),
            "request bodies stay strict"
        );
        assert_eq!(
            doc["paths"]["/api/v1/things"]["get"]["parameters"][1]["schema"]["pattern"],
            "^x"
        );
    }

    #[test]
    fn event_streams_become_byte_streams_keeping_their_json_schema() {
        let mut doc = json!({"paths": {"/s": {"get": {"responses": {
            "200": {"description": "ok", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/State"}},
                "text/event-stream": {"schema": {"type": "string"}}
            }},
            "422": {"description": "v", "content": {"application/json": {"schema": {}}}}
        }}}}});
        event_streams(&mut doc);
        let responses = &doc["paths"]["/s"]["get"]["responses"];
        assert_eq!(
            responses["200"]["content"],
            json!({"text/event-stream": {"schema": {"type": "string"},
                   "x-json-schema": {"application/json": {"$ref": "#/components/schemas/State"}}}})
        );
        assert!(responses["422"]["content"].get("application/json").is_some());
    }

    #[test]
    fn union_arms_are_named_unless_that_would_create_a_type() {
        let mut doc = doc_with_schema(json!({"oneOf": [
            {"type": "array", "items": {"$ref": "#/components/schemas/pkg__HostedCvm"}},
            {"type": "array", "items": {"$ref": "#/components/schemas/Info"}}
        ]}));
        doc["components"]["schemas"]["Id"] = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
        doc["components"]["schemas"]["Mixed"] = json!({"oneOf": [{"type": "object"}, {"type": "string"}]});
        doc["components"]["schemas"]["Same"] =
            json!({"anyOf": [{"type": "string"}, {"type": "string", "format": "x"}]});
        union_arm_titles(&mut doc);
        let titles = |name: &str| -> Vec<Value> {
            doc["components"]["schemas"][name]
                .as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| *k == "oneOf" || *k == "anyOf")
                .unwrap()
                .1
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.get("title").cloned().unwrap_or(Value::Null))
                .collect()
        };
        assert_eq!(titles("Thing"), [json!("HostedCvmList"), json!("InfoList")]);
        assert_eq!(titles("Id"), [json!("String"), json!("Integer")]);
        assert_eq!(
            titles("Mixed"),
            [Value::Null, Value::Null],
            "an inline object arm would become a type"
        );
        assert_eq!(titles("Same"), [Value::Null, Value::Null], "equal names are not given");
    }

    #[test]
    fn readable_names_shorten_unless_they_collide() {
        let mut doc = doc_with_schema(json!({"type": "object", "properties": {
            "a": {"$ref": "#/components/schemas/teehouse__v1__CVMInfo"},
            "b": {"$ref": "#/components/schemas/pkg__one__Dup"},
            "c": {"$ref": "#/components/schemas/pkg__two__Dup"},
            "d": {"$ref": "#/components/schemas/pkg__apps__v2__schemas__Info"},
            "e": {"$ref": "#/components/schemas/pkg__cvms__Info"},
        }}));
        for n in [
            "teehouse__v1__CVMInfo",
            "pkg__one__Dup",
            "pkg__two__Dup",
            "pkg__apps__v2__schemas__Info",
            "pkg__cvms__Info",
        ] {
            doc["components"]["schemas"][n] = json!({"type": "object"});
        }
        doc["paths"]["/api/v1/cvms/{cvm_id}/batch-stop"] = json!({"post": {"operationId": "handle_batch_stop_cvms_api_v1_cvms__cvm_id__batch_stop_post", "responses": {}}});
        doc["paths"]["/api/v1/cvms/{cvm_id}/replicas"] = json!({"post": {"operationId": "handle_replicate_cvm_api_v1_cvms__cvm_id__replicas_post", "responses": {}}});
        doc["paths"]["/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas"] = json!({"post": {"operationId": "handle_replicate_cvm_api_v1_apps__app_id__cvms__vm_uuid__replicas_post", "responses": {}}});
        readable_names(&mut doc);
        let names: Vec<&String> = doc["components"]["schemas"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["Thing", "CVMInfo", "OneDup", "TwoDup", "AppsV2Info", "Info"]);
        assert_eq!(thing(&doc)["properties"]["a"]["$ref"], "#/components/schemas/CVMInfo");
        assert_eq!(
            thing(&doc)["properties"]["d"]["$ref"],
            "#/components/schemas/AppsV2Info"
        );
        assert_eq!(
            doc["paths"]["/api/v1/cvms/{cvm_id}/replicas"]["post"]["operationId"],
            "replicate_cvm"
        );
        assert_eq!(
            doc["paths"]["/api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas"]["post"]["operationId"],
            "apps_replicate_cvm"
        );
        assert_eq!(doc["paths"]["/api/v1/things"]["get"]["operationId"], "list_things");
        assert_eq!(
            doc["paths"]["/api/v1/cvms/{cvm_id}/batch-stop"]["post"]["operationId"],
            "batch_stop_cvms"
        );
    }

    #[test]
    fn leftover_31_constructs_are_named() {
        let doc = doc_with_schema(json!({"type": "object", "properties": {"x": {"unevaluatedProperties": false}}}));
        let err = normalise(&doc).unwrap_err().to_string();
        assert_eq!(
            err,
            "/components/schemas/Thing/properties/x: unsupported construct: `unevaluatedProperties`"
        );
    }

    #[test]
    fn normalise_is_pure_and_idempotent() {
        let doc = doc_with_schema(
            json!({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}),
        );
        let before = doc.clone();
        let once = normalise(&doc).unwrap();
        assert_eq!(doc, before);
        assert_eq!(normalise(&once).unwrap(), once);
    }
}

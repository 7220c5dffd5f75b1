//! Normalising a FastAPI OpenAPI 3.1 document into the OpenAPI 3.0 subset
//! that progenitor 0.15 (openapiv3 2.2, typify 0.8) generates good code from.
//!
//! Each pass is a plain function on the whole document, listed in [`PASSES`]
//! in the order [`normalise`] applies them; each was found necessary by
//! trying, and each says why in its doc comment. The passes are general: they
//! hold for any FastAPI document, not only for the operations we bundle.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::SpecError;

mod names;
use crate::walk::{self, Side, escape, for_each_schema, request_schemas, response_schemas};
pub use names::{readable_names, union_arm_titles};

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
mod tests;

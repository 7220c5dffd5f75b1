//! Values a schema accepts, made from the schema alone: a server that
//! answers every operation with what its document promises (the raw
//! client's every-operation test), and request bodies to send it.
//!
//! Works on a normalised (OpenAPI 3.0) document. Objects get every property
//! (optional ones too, so their decoding is exercised) down to a depth, then
//! only the required ones; unions take their first arm; strings honour
//! `enum`, `format` and length bounds, numbers their bounds.

use serde_json::{Map, Value, json};

use crate::walk::{schema_ref_name, unescape};

/// How deep optional properties are filled in; below it, only required ones.
const FULL_DEPTH: usize = 4;
/// Past this depth a schema that still refers to itself gives up (`null`).
const MAX_DEPTH: usize = 24;

/// A value `schema` (found in `doc`) accepts.
pub fn sample(doc: &Value, schema: &Value) -> Value {
    at(doc, schema, 0)
}

/// What an operation answers on success: status, media type and a value
/// its schema accepts (`None` for a body-less answer). `None` when the
/// operation is not in `doc` or has no success answer.
pub fn success_answer(doc: &Value, method: &str, path: &str) -> Option<(u16, Option<(String, Value)>)> {
    let op = operation(doc, method, path)?;
    let responses = op.get("responses")?.as_object()?;
    let (status, response) = responses
        .iter()
        .filter_map(|(code, r)| Some((code.parse::<u16>().ok()?, r)))
        .find(|(code, _)| (200..300).contains(code))?;
    let body = response
        .get("content")
        .and_then(Value::as_object)
        .and_then(|c| c.iter().next())
        .map(|(media, m)| (media.clone(), m.get("schema").map_or(Value::Null, |s| sample(doc, s))));
    Some((status, body))
}

/// A request body an operation accepts, if it takes one.
pub fn request_body(doc: &Value, method: &str, path: &str) -> Option<Value> {
    let media = operation(doc, method, path)?
        .pointer("/requestBody/content")?
        .as_object()?;
    let (_, m) = media.iter().next()?;
    Some(sample(doc, m.get("schema")?))
}

/// The operation, among the paths or those the normaliser set aside.
fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    let key = format!("{} {path}", method.to_uppercase());
    doc.get("paths")
        .and_then(|p| p.get(path)?.get(method.to_lowercase()))
        .or_else(|| doc.get(crate::normalise::DROPPED_OPERATIONS)?.get(key))
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..MAX_DEPTH {
        let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(schema_ref_name) else {
            break;
        };
        match doc.pointer("/components/schemas").and_then(|s| s.get(unescape(name))) {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

fn at(doc: &Value, schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let schema = resolve(doc, schema);
    let Some(obj) = schema.as_object() else {
        return Value::Null;
    };
    if let Some(value) = obj.get("default").filter(|d| !d.is_null()) {
        return value.clone();
    }
    if let Some(first) = obj.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(example) = obj.get("example").filter(|e| !e.is_null()) {
        return example.clone();
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(arm) = obj.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return at(doc, arm, depth + 1);
        }
    }
    if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            match at(doc, part, depth + 1) {
                Value::Object(fields) => merged.extend(fields),
                other if parts.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    let bound = |k: &str| obj.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
    match obj.get("type").and_then(Value::as_str) {
        Some("string") => string(
            obj.get("format").and_then(Value::as_str),
            bound("minLength"),
            obj.get("maxLength").and_then(Value::as_u64),
        ),
        Some("integer") => json!(number(obj).round() as i64),
        Some("number") => json!(number(obj)),
        Some("boolean") => json!(true),
        Some("array") => {
            let item = obj.get("items").map_or(Value::Null, |i| at(doc, i, depth + 1));
            Value::Array(vec![item; bound("minItems").max(1)])
        }
        _ if obj.contains_key("properties") || obj.get("type").and_then(Value::as_str) == Some("object") => {
            let required: Vec<&str> = obj
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut out = Map::new();
            for (name, property) in obj.get("properties").and_then(Value::as_object).into_iter().flatten() {
                if depth < FULL_DEPTH || required.contains(&name.as_str()) {
                    out.insert(name.clone(), at(doc, property, depth + 1));
                }
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

fn number(obj: &Map<String, Value>) -> f64 {
    let min = obj.get("minimum").and_then(Value::as_f64);
    let max = obj.get("maximum").and_then(Value::as_f64);
    let exclusive = obj.get("exclusiveMinimum").and_then(Value::as_bool) == Some(true);
    match (min, max) {
        (Some(min), _) if exclusive => min + 1.0,
        (Some(min), _) => min.max(1.0).min(max.unwrap_or(f64::MAX)),
        (None, Some(max)) => max.min(1.0),
        (None, None) => 1.0,
    }
}

fn string(format: Option<&str>, min: usize, max: Option<u64>) -> Value {
    let text = match format {
        Some("date-time") => "2026-06-23T12:00:00Z".to_string(),
        Some("date") => "2026-06-23".to_string(),
        Some("uuid") => "0a1b2c3d-0000-4000-8000-000000000001".to_string(),
        Some("email") => "user@example.com".to_string(),
        Some("uri" | "url") => "https://example.com/".to_string(),
        Some("ipv4") => "10.0.0.1".to_string(),
        _ => {
            let mut s = "sample".to_string();
            while s.len() < min {
                s.push('x');
            }
            if let Some(max) = max {
                s.truncate(max as usize);
            }
            s
        }
    };
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_follow_the_schema() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "integer", "minimum": 5},
                "name": {"type": "string", "minLength": 8, "maxLength": 9},
                "at": {"type": "string", "format": "date-time"},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "next": {"$ref": "#/components/schemas/Node"},
                "either": {"oneOf": [{"type": "boolean"}, {"type": "string"}]}
            }}
        }}});
        let node = sample(&doc, &json!({"$ref": "#/components/schemas/Node"}));
        assert_eq!(node["id"], 5);
        assert_eq!(node["name"], "samplexx");
        assert_eq!(node["at"], "2026-06-23T12:00:00Z");
        assert_eq!(node["kind"], "a");
        assert_eq!(node["tags"], json!(["sample", "sample"]));
        assert_eq!(node["either"], true);
        // Optional fields stop at FULL_DEPTH; the required id goes on.
        let mut deepest = &node;
        let mut levels = 0;
        while let Some(next) = deepest.get("next") {
            deepest = next;
            levels += 1;
        }
        assert!(levels > 0 && levels < MAX_DEPTH, "{levels}");
        assert_eq!(deepest["id"], 5);
    }
}

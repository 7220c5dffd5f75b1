//! Comparing what an official SDK accepts with what our document declares,
//! one JSON Schema against another, by what breaks a client.
//!
//! Both sides are JSON Schema 2020-12 (OpenAPI 3.1 is; pydantic and zod
//! converters emit it), each resolved against its own root: `#/$defs/...`
//! or `#/definitions/...` in an SDK schema, `#/components/schemas/...` in
//! the document.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::Severity;
use crate::walk::declared_types;

/// One raw difference at a location of a schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Difference {
    pub location: String,
    pub change: String,
    pub severity: Severity,
}

/// A schema with `$ref`s, `allOf` and nullable unions folded away.
#[derive(Default)]
struct Shape<'a> {
    /// Non-null JSON types; empty means any.
    types: BTreeSet<String>,
    nullable: bool,
    /// Alternatives that are not primitives (objects, arrays), when more than one.
    arms: Vec<&'a Value>,
    properties: BTreeMap<&'a str, &'a Value>,
    required: BTreeSet<&'a str>,
    /// `additionalProperties` as a schema (a map's values).
    additional: Option<&'a Value>,
    items: Option<&'a Value>,
    enums: Option<BTreeSet<String>>,
    /// The component or `$defs` name the schema was reached by, if any.
    name: Option<String>,
}

/// Follows `$ref` chains inside `root`; the last name seen.
pub(crate) fn resolve<'a>(root: &'a Value, mut v: &'a Value) -> (&'a Value, Option<String>) {
    let mut name = None;
    for _ in 0..32 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            break;
        };
        name = r.rsplit('/').next().map(|n| n.replace("~1", "/").replace("~0", "~"));
        match r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            Some(next) => v = next,
            None => break,
        }
    }
    (v, name)
}

fn is_primitive(s: &Value) -> bool {
    s.get("properties").is_none()
        && s.get("items").is_none()
        && s.get("additionalProperties").is_none_or(|a| !a.is_object())
        && s.get("anyOf").is_none()
        && s.get("oneOf").is_none()
        && s.get("allOf").is_none()
        && !matches!(s.get("type").and_then(Value::as_str), Some("object" | "array"))
}

fn enum_text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

fn shape<'a>(root: &'a Value, schema: &'a Value) -> Shape<'a> {
    let mut out = Shape::default();
    fold(root, schema, &mut out, 0);
    if !out.properties.is_empty() && out.types.is_empty() {
        out.types.insert("object".into());
    }
    out
}

fn fold<'a>(root: &'a Value, schema: &'a Value, out: &mut Shape<'a>, depth: usize) {
    if depth > 16 {
        return;
    }
    let (s, name) = resolve(root, schema);
    if out.name.is_none() {
        out.name = name;
    }
    if declared_types(s, &mut out.types) {
        out.nullable = true;
    }
    let values = s
        .get("enum")
        .and_then(Value::as_array)
        .map(|l| l.iter().collect::<Vec<_>>())
        .or_else(|| s.get("const").map(|c| vec![c]));
    if let Some(values) = values {
        let set = out.enums.get_or_insert_with(BTreeSet::new);
        for v in values {
            if v.is_null() {
                out.nullable = true;
            } else {
                set.insert(enum_text(v));
            }
        }
    }
    let required: BTreeSet<&str> = s
        .get("required")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.properties.insert(k, v);
        }
    }
    out.required.extend(required);
    if let Some(items) = s.get("items").filter(|i| i.is_object()) {
        out.items = Some(items);
    }
    if let Some(a) = s
        .get("additionalProperties")
        .filter(|a| a.as_object().is_some_and(|o| o.keys().any(|k| !k.starts_with("x-"))))
    {
        out.additional = Some(a);
    }
    for part in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        fold(root, part, out, depth + 1);
    }
    let mut arms: Vec<&'a Value> = Vec::new();
    for key in ["anyOf", "oneOf"] {
        for arm in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            let (resolved, _) = resolve(root, arm);
            if resolved.get("type").and_then(Value::as_str) == Some("null") {
                out.nullable = true;
            } else {
                arms.push(arm);
            }
        }
    }
    let resolved: Vec<&Value> = arms.iter().map(|a| resolve(root, a).0).collect();
    if arms.len() == 1 || (!arms.is_empty() && resolved.iter().all(|a| is_primitive(a))) {
        // One arm, or primitives only (`string | integer`, string enums): one shape.
        for arm in arms {
            fold(root, arm, out, depth + 1);
        }
    } else {
        out.arms.extend(arms);
    }
}

/// Compares the schema an SDK validates answers with (`sdk` in `sdk_root`)
/// with ours (`ours` in `doc`), from a client's point of view: what the
/// service sends (as the SDK reads it) must decode into our type.
pub(crate) struct Comparison<'a> {
    pub sdk_root: &'a Value,
    pub doc: &'a Value,
    /// For a union at the top of our answer: the arm (by component name)
    /// this version answers with.
    pub pinned_arm: Option<&'a str>,
    /// The SDK's `number` is any number, integers included (zod's
    /// `z.number()`): reading one where we decode integers is modelling.
    pub any_number: bool,
    pub out: Vec<Difference>,
    stack: Vec<(String, String)>,
}

impl<'a> Comparison<'a> {
    pub fn new(sdk_root: &'a Value, doc: &'a Value, pinned_arm: Option<&'a str>, any_number: bool) -> Self {
        Comparison {
            sdk_root,
            doc,
            pinned_arm,
            any_number,
            out: Vec::new(),
            stack: Vec::new(),
        }
    }

    fn push(&mut self, location: &str, change: String, severity: Severity) {
        self.out.push(Difference {
            location: location.to_string(),
            change,
            severity,
        });
    }

    /// Compares and records the differences; `loc` names the top.
    pub fn compare(&mut self, loc: &str, sdk: &'a Value, ours: &'a Value) {
        let s = shape(self.sdk_root, sdk);
        let d = shape(self.doc, ours);
        let key = (s.name.clone().unwrap_or_default(), d.name.clone().unwrap_or_default());
        if !key.0.is_empty() && !key.1.is_empty() {
            if self.stack.contains(&key) || self.stack.len() > 24 {
                return;
            }
            self.stack.push(key.clone());
        }
        self.shapes(loc, (sdk, &s), (ours, &d));
        if self.stack.last() == Some(&key) {
            self.stack.pop();
        }
    }

    /// A trial comparison: the differences `sdk` against `ours` would give.
    fn trial(&self, loc: &str, sdk: &'a Value, ours: &'a Value, pinned: Option<&'a str>) -> Vec<Difference> {
        let mut c = Comparison {
            sdk_root: self.sdk_root,
            doc: self.doc,
            pinned_arm: pinned,
            any_number: self.any_number,
            out: Vec::new(),
            stack: self.stack.clone(),
        };
        c.compare(loc, sdk, ours);
        c.out
    }

    fn shapes(&mut self, loc: &str, (sdk, s): (&'a Value, &Shape<'a>), (ours, d): (&'a Value, &Shape<'a>)) {
        if !s.arms.is_empty() {
            // Each shape the SDK accepts must decode here.
            for (i, arm) in s.arms.iter().enumerate() {
                let found = self.trial(&format!("{loc}<sdk {i}>"), arm, ours, self.pinned_arm);
                self.out.extend(found);
            }
            return;
        }
        if !d.arms.is_empty() {
            let pinned = self.pinned_arm.take();
            let chosen = match pinned {
                Some(name) => d
                    .arms
                    .iter()
                    .find(|a| resolve(self.doc, a).1.as_deref() == Some(name))
                    .copied(),
                None => None,
            };
            if let (Some(name), None) = (pinned, chosen) {
                self.push(
                    loc,
                    format!("the pinned union arm {name} is not one of ours"),
                    Severity::Error,
                );
            }
            let best = match chosen {
                Some(arm) => self.trial(loc, sdk, arm, None),
                None => d
                    .arms
                    .iter()
                    .map(|arm| self.trial(loc, sdk, arm, None))
                    .min_by_key(|found| score(found))
                    .unwrap_or_default(),
            };
            self.out.extend(best);
            return;
        }
        self.pinned_arm = None;
        if !s.types.is_empty() && !d.types.is_empty() {
            let accepted = |t: &String| d.types.contains(t) || (t == "integer" && d.types.contains("number"));
            let shown = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join("|");
            let any_number = self.any_number && s.types.contains("number") && d.types.contains("integer");
            if !s.types.iter().any(accepted) && !any_number {
                self.push(
                    loc,
                    format!(
                        "type conflict: the SDK reads {}, we decode {}",
                        shown(&s.types),
                        shown(&d.types)
                    ),
                    Severity::Error,
                );
                return;
            }
            if !s.types.iter().all(accepted) {
                self.push(
                    loc,
                    format!(
                        "the SDK also accepts {}, we decode {}",
                        shown(&s.types),
                        shown(&d.types)
                    ),
                    Severity::Hidden,
                );
            }
        }
        if s.nullable && !d.nullable && !d.types.is_empty() {
            self.push(loc, "nullable in the SDK, not here".into(), Severity::Hidden);
        }
        match (&s.enums, &d.enums) {
            (Some(sv), Some(dv)) => {
                let extra: Vec<&String> = sv.difference(dv).collect();
                if !extra.is_empty() {
                    let list = extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                    // The generated enums of answers keep an unknown arm
                    // (the normaliser's lenient_responses): these decode, unnamed.
                    self.push(
                        loc,
                        format!("values the SDK accepts that our enum lacks: {list}"),
                        Severity::Warning,
                    );
                }
            }
            (Some(_), None) => self.push(loc, "a closed enum in the SDK, open here".into(), Severity::Hidden),
            _ => {}
        }
        for (k, sv) in &s.properties {
            let child = format!("{loc}.{k}");
            match d.properties.get(k) {
                Some(dv) => {
                    if d.required.contains(k) && !s.required.contains(k) {
                        self.push(
                            &child,
                            "optional (or defaulted) in the SDK, required here".into(),
                            Severity::Hidden,
                        );
                    }
                    self.compare(&child, sv, dv);
                }
                None => match d.additional {
                    Some(values) => self.compare(&child, sv, values),
                    None if d.properties.is_empty() && d.items.is_none() => {}
                    None if s.required.contains(k) => self.push(
                        &child,
                        "a field the SDK requires is missing here".into(),
                        Severity::Error,
                    ),
                    None => self.push(
                        &child,
                        "an optional field of the SDK is missing here".into(),
                        Severity::Warning,
                    ),
                },
            }
        }
        for k in d.properties.keys().filter(|k| !s.properties.contains_key(*k)) {
            if !s.properties.is_empty() {
                self.push(&format!("{loc}.{k}"), "not in the SDK's model".into(), Severity::Hidden);
            }
        }
        if let (Some(sv), Some(dv)) = (s.additional, d.additional) {
            self.compare(&format!("{loc}{{}}"), sv, dv);
        }
        if let (Some(si), Some(di)) = (s.items, d.items) {
            self.compare(&format!("{loc}[]"), si, di);
        }
    }
}

/// Fewer errors first, then fewer warnings.
pub(crate) fn score(found: &[Difference]) -> (usize, usize) {
    let count = |sev| found.iter().filter(|d| d.severity == sev).count();
    (count(Severity::Error), count(Severity::Warning))
}

/// The alternatives of a union at the top of `schema` (each a shape the
/// answer may take), or `schema` itself when it is not one.
pub(crate) fn alternatives<'a>(root: &'a Value, schema: &'a Value) -> Vec<&'a Value> {
    let s = shape(root, schema);
    if s.arms.is_empty() { vec![schema] } else { s.arms }
}

/// Whether `schema` says nothing (`{}`, or only annotations).
pub(crate) fn is_untyped(root: &Value, schema: &Value) -> bool {
    let (s, _) = resolve(root, schema);
    s.as_object().is_none_or(|o| {
        o.keys()
            .all(|k| matches!(k.as_str(), "title" | "description" | "default" | "examples") || k.starts_with("x-"))
    })
}

/// Whether `schema` is only `null` (an SDK that expects no answer).
pub(crate) fn is_null(root: &Value, schema: &Value) -> bool {
    let s = shape(root, schema);
    s.nullable && s.types.is_empty() && s.arms.is_empty() && s.properties.is_empty()
}

//! Semantic diff of the operations two documents share, classified for a client.
//!
//! Each operation is flattened into facts keyed by a readable location
//! (`response 200: [].hosted.events`), with `$ref`s resolved and 3.1
//! nullability normalised, so that `anyOf [X, null]` versus `nullable`, or a
//! component renamed with the same shape, is no change at all.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::walk::{HTTP_METHODS, declared_types, schema_ref_name, unescape};

/// How a finding affects a client generated from the old document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Code or requests that worked may now fail.
    Breaking,
    /// Works as before; regenerating adds something.
    Compatible,
    /// Worth knowing, no effect on the bundled client.
    Info,
}

/// One semantic difference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    /// `METHOD /path`.
    pub operation: String,
    /// Where inside the operation, e.g. `response 200: {}.events`.
    pub location: String,
    /// What changed, e.g. `field added (optional)`.
    pub change: String,
    pub class: Class,
}

/// All findings of a diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiffReport {
    pub findings: Vec<Finding>,
    /// Operations upstream has that the old document does not cover.
    pub not_bundled: Vec<String>,
}

impl DiffReport {
    pub fn breaking(&self) -> usize {
        self.findings.iter().filter(|f| f.class == Class::Breaking).count()
    }
    pub fn compatible(&self) -> usize {
        self.findings.iter().filter(|f| f.class == Class::Compatible).count()
    }
    /// 0: no drift, 1: compatible drift only, 2: breaking drift.
    pub fn severity(&self) -> u8 {
        if self.breaking() > 0 {
            2
        } else if self.compatible() > 0 {
            1
        } else {
            0
        }
    }

    /// Plain text, one finding per line.
    pub fn to_text(&self) -> String {
        let mut out = format!("{} breaking, {} compatible\n", self.breaking(), self.compatible());
        for f in &self.findings {
            let class = match f.class {
                Class::Breaking => "breaking",
                Class::Compatible => "compatible",
                Class::Info => "info",
            };
            out.push_str(&format!("[{class}] {} {}: {}\n", f.operation, f.location, f.change));
        }
        if !self.not_bundled.is_empty() {
            out.push_str(&format!(
                "{} upstream operations are not bundled\n",
                self.not_bundled.len()
            ));
        }
        out
    }

    /// Markdown for a CI comment: a summary, then a table per operation.
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("## OpenAPI drift\n\n");
        out.push_str(&format!(
            "**{}** breaking, **{}** compatible change(s) in the bundled operations.\n",
            self.breaking(),
            self.compatible()
        ));
        let mut by_op: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in &self.findings {
            by_op.entry(&f.operation).or_default().push(f);
        }
        for (op, findings) in by_op {
            out.push_str(&format!("\n### `{op}`\n\n| | where | change |\n|---|---|---|\n"));
            for f in findings {
                let mark = match f.class {
                    Class::Breaking => "🔴 breaking",
                    Class::Compatible => "🟢 compatible",
                    Class::Info => "ℹ️ info",
                };
                out.push_str(&format!(
                    "| {mark} | `{}` | {} |\n",
                    f.location.replace('|', "\\|"),
                    f.change.replace('|', "\\|")
                ));
            }
        }
        if !self.not_bundled.is_empty() {
            out.push_str(&format!(
                "\n<details><summary>{} upstream operations not bundled</summary>\n\n",
                self.not_bundled.len()
            ));
            for op in &self.not_bundled {
                out.push_str(&format!("- `{op}`\n"));
            }
            out.push_str("\n</details>\n");
        }
        out
    }
}

/// Facts about one location of an operation.
#[derive(Debug, Clone, Default, PartialEq)]
struct Facts {
    types: BTreeSet<String>,
    nullable: bool,
    /// For a property or parameter: whether it is required.
    required: Option<bool>,
    enums: Option<BTreeSet<String>>,
    format: Option<String>,
    bounds: BTreeMap<&'static str, f64>,
}

/// Which side of the wire a location is on.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Request,
    Response,
}

struct Flattener<'a> {
    doc: &'a Value,
    out: BTreeMap<String, (Side, Facts)>,
    /// The enclosing location of each nested one.
    parents: BTreeMap<String, String>,
}

type Flat = (BTreeMap<String, (Side, Facts)>, BTreeMap<String, String>);

const BOUNDS: [&str; 8] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

impl<'a> Flattener<'a> {
    fn resolve(&self, v: &'a Value) -> (&'a Value, Option<String>) {
        let mut cur = v;
        let mut name = None;
        for _ in 0..32 {
            match cur.get("$ref").and_then(Value::as_str) {
                Some(r) => {
                    name = schema_ref_name(r).map(unescape);
                    match r.strip_prefix('#').and_then(|p| self.doc.pointer(p)) {
                        Some(next) => cur = next,
                        None => break,
                    }
                }
                None => break,
            }
        }
        (cur, name)
    }

    /// Records `schema` at `loc` and everything below it.
    fn schema(&mut self, loc: &str, schema: &'a Value, side: Side, required: Option<bool>, stack: &mut Vec<String>) {
        let (schema, name) = self.resolve(schema);
        if let Some(n) = &name {
            if stack.contains(n) {
                self.out.insert(
                    loc.to_string(),
                    (
                        side,
                        Facts {
                            types: [format!("<recursive {n}>")].into(),
                            required,
                            ..Facts::default()
                        },
                    ),
                );
                return;
            }
            stack.push(n.clone());
        }
        let mut facts = Facts {
            required,
            ..Facts::default()
        };
        let mut variants: Vec<&Value> = Vec::new();
        let mut merged: Vec<&Value> = vec![schema];
        for key in ["anyOf", "oneOf"] {
            if let Some(arms) = schema.get(key).and_then(Value::as_array) {
                for arm in arms {
                    let (resolved, _) = self.resolve(arm);
                    if resolved.get("type").and_then(Value::as_str) == Some("null") {
                        facts.nullable = true;
                    } else {
                        variants.push(arm);
                    }
                }
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            merged.extend(all.iter().map(|a| self.resolve(a).0));
        }
        // A union of string schemas is one string (an enum if every arm is one).
        let arms: Vec<&Value> = variants.iter().map(|v| self.resolve(v).0).collect();
        if arms.len() > 1
            && arms
                .iter()
                .all(|a| a.get("type").and_then(Value::as_str) == Some("string"))
        {
            facts.types.insert("string".into());
            if arms.iter().all(|a| a.get("enum").is_some() || a.get("const").is_some()) {
                let set = facts.enums.get_or_insert_with(BTreeSet::new);
                for arm in &arms {
                    for e in arm
                        .get("enum")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .chain(arm.get("const"))
                    {
                        set.insert(e.as_str().map(str::to_string).unwrap_or_else(|| e.to_string()));
                    }
                }
            }
            variants.clear();
        }
        if variants.len() == 1 {
            merged.push(self.resolve(variants[0]).0);
            variants.clear();
        }
        let mut properties: BTreeMap<String, (&Value, bool)> = BTreeMap::new();
        let mut items: Option<&Value> = None;
        let mut additional: Option<&Value> = None;
        for s in &merged {
            if declared_types(s, &mut facts.types) {
                facts.nullable = true;
            }
            let values: Option<Vec<&Value>> = s
                .get("enum")
                .and_then(Value::as_array)
                .map(|l| l.iter().collect())
                .or_else(|| s.get("const").map(|c| vec![c]));
            if let Some(values) = values {
                let set = facts.enums.get_or_insert_with(BTreeSet::new);
                for v in values.into_iter().filter(|v| !v.is_null()) {
                    set.insert(v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                }
            }
            if let Some(f) = s.get("format").and_then(Value::as_str) {
                facts.format = Some(f.to_string());
            }
            for b in BOUNDS {
                if let Some(n) = s.get(b).and_then(Value::as_f64) {
                    facts.bounds.insert(b, n);
                }
            }
            let req: BTreeSet<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|l| l.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    properties.insert(k.clone(), (v, req.contains(k.as_str())));
                }
            }
            if let Some(i) = s.get("items").filter(|i| i.is_object()) {
                items = Some(i);
            }
            if let Some(a) = s
                .get("additionalProperties")
                // A schema of only extensions (`x-...`) allows any value, as `{}` does.
                .filter(|a| a.as_object().is_some_and(|o| o.keys().any(|k| !k.starts_with("x-"))))
            {
                additional = Some(a);
            }
        }
        if !properties.is_empty() && facts.types.is_empty() {
            facts.types.insert("object".into());
        }
        if !variants.is_empty() {
            facts.types.insert(format!("union of {}", variants.len()));
        }
        self.out.insert(loc.to_string(), (side, facts));
        for (k, (v, req)) in properties {
            self.child(loc, format!("{loc}.{k}"), v, side, Some(req), stack);
        }
        if let Some(i) = items {
            self.child(loc, format!("{loc}[]"), i, side, None, stack);
        }
        if let Some(a) = additional {
            self.child(loc, format!("{loc}{{}}"), a, side, None, stack);
        }
        for (i, v) in variants.into_iter().enumerate() {
            self.child(loc, format!("{loc}<{i}>"), v, side, None, stack);
        }
        if name.is_some() {
            stack.pop();
        }
    }

    fn child(
        &mut self,
        parent: &str,
        loc: String,
        schema: &'a Value,
        side: Side,
        required: Option<bool>,
        stack: &mut Vec<String>,
    ) {
        self.parents.insert(loc.clone(), parent.to_string());
        self.schema(&loc, schema, side, required, stack);
    }

    /// Records a parameter or body: its schema, or a bare location without one.
    fn schema_or_leaf(&mut self, loc: &str, schema: Option<&'a Value>, side: Side, required: Option<bool>) {
        match schema {
            Some(s) => self.schema(loc, s, side, required, &mut Vec::new()),
            None => {
                self.out.insert(
                    loc.to_string(),
                    (
                        side,
                        Facts {
                            required,
                            ..Facts::default()
                        },
                    ),
                );
            }
        }
    }

    fn operation(&mut self, item: &'a Value, op: &'a Value) {
        let params = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten());
        for p in params {
            let (p, _) = self.resolve(p);
            let (Some(name), Some(place)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str),
            ) else {
                continue;
            };
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            let loc = format!("{place} parameter {name}");
            self.schema_or_leaf(&loc, p.get("schema"), Side::Request, Some(required));
        }
        if let Some(body) = op.get("requestBody").map(|b| self.resolve(b).0) {
            let required = body.get("required").and_then(Value::as_bool).unwrap_or(false);
            for (media, content) in body.get("content").and_then(Value::as_object).into_iter().flatten() {
                let loc = format!("request body {media}");
                self.schema_or_leaf(&loc, content.get("schema"), Side::Request, Some(required));
            }
        }
        for (code, resp) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
            let resp = self.resolve(resp).0;
            let loc = format!("response {code}");
            self.out.insert(loc.clone(), (Side::Response, Facts::default()));
            for (media, content) in resp.get("content").and_then(Value::as_object).into_iter().flatten() {
                let parent = loc.clone();
                let loc = format!("{loc} {media}");
                self.parents.insert(loc.clone(), parent);
                self.schema_or_leaf(&loc, content.get("schema"), Side::Response, None);
            }
        }
    }
}

fn flatten<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> Flat {
    let mut f = Flattener {
        doc,
        out: BTreeMap::new(),
        parents: BTreeMap::new(),
    };
    f.operation(item, op);
    (f.out, f.parents)
}

fn operations_of(doc: &Value) -> BTreeMap<String, (&Value, &Value)> {
    let mut out = BTreeMap::new();
    for (path, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for m in HTTP_METHODS {
            if let Some(op) = item.get(m) {
                out.insert(format!("{} {path}", m.to_uppercase()), (item, op));
            }
        }
    }
    out
}

fn is_success(loc: &str) -> bool {
    loc.strip_prefix("response ").is_some_and(|c| c.starts_with('2'))
}

/// Compares the operations of `old` with the same operations in `new`.
///
/// With `only_old_operations`, operations `new` adds are listed in
/// `not_bundled` instead of being findings (for a bundled subset against the
/// full upstream document).
pub fn diff(old: &Value, new: &Value, only_old_operations: bool) -> DiffReport {
    let old_ops = operations_of(old);
    let new_ops = operations_of(new);
    let mut findings = Vec::new();
    let mut not_bundled = Vec::new();
    let finding = |op: &str, loc: &str, change: String, class: Class| Finding {
        operation: op.to_string(),
        location: loc.to_string(),
        change,
        class,
    };
    for (name, (item, op)) in &old_ops {
        let Some((new_item, new_op)) = new_ops.get(name) else {
            findings.push(finding(name, "operation", "operation removed".into(), Class::Breaking));
            continue;
        };
        let a = flatten(old, item, op);
        let b = flatten(new, new_item, new_op);
        compare(name, &a, &b, &mut findings);
    }
    for name in new_ops.keys().filter(|n| !old_ops.contains_key(*n)) {
        if only_old_operations {
            not_bundled.push(name.clone());
        } else {
            findings.push(finding(name, "operation", "operation added".into(), Class::Compatible));
        }
    }
    findings.sort();
    DiffReport { findings, not_bundled }
}

/// What an added or removed location is: a response status, a content
/// type (a request body, or directly under a status), or a field or parameter.
enum Level<'a> {
    Status(&'a str),
    ContentType,
    Member,
}

fn level<'a>(loc: &'a str, parents: &BTreeMap<String, String>) -> Level<'a> {
    let top = !parents.contains_key(loc);
    match loc.strip_prefix("response ") {
        Some(code) if top => Level::Status(code),
        _ if top && loc.starts_with("request body ")
            || parents
                .get(loc)
                .is_some_and(|p| !parents.contains_key(p) && p.starts_with("response ")) =>
        {
            Level::ContentType
        }
        _ => Level::Member,
    }
}

fn compare(op: &str, (a, pa): &Flat, (b, pb): &Flat, out: &mut Vec<Finding>) {
    let push = |out: &mut Vec<Finding>, loc: &str, change: String, class: Class| {
        out.push(Finding {
            operation: op.to_string(),
            location: loc.to_string(),
            change,
            class,
        })
    };
    // A location whose parent was added or removed is reported with its parent only.
    let parent_in = |loc: &str, parents: &BTreeMap<String, String>, other: &BTreeMap<String, (Side, Facts)>| {
        parents.get(loc).is_some_and(|p| !other.contains_key(p))
    };
    for (loc, (side, fa)) in a {
        match b.get(loc) {
            None if parent_in(loc, pa, b) => {}
            None => {
                let (change, class) = match level(loc, pa) {
                    Level::Status(code) => {
                        let class = if is_success(loc) {
                            Class::Breaking
                        } else {
                            Class::Compatible
                        };
                        (format!("response status {code} removed"), class)
                    }
                    Level::ContentType => ("content type removed".to_string(), Class::Breaking),
                    Level::Member => match (side, fa.required) {
                        (Side::Response, Some(true)) => ("required field removed".into(), Class::Breaking),
                        (Side::Response, _) => ("optional field removed".into(), Class::Compatible),
                        (Side::Request, _) if loc.contains(" parameter ") => {
                            ("parameter removed".into(), Class::Breaking)
                        }
                        (Side::Request, _) => ("request field removed".into(), Class::Breaking),
                    },
                };
                push(out, loc, change, class);
            }
            Some((_, fb)) => compare_facts(*side, fa, fb, &mut |change, class| push(out, loc, change, class)),
        }
    }
    for (loc, (side, fb)) in b {
        if a.contains_key(loc) || parent_in(loc, pb, a) {
            continue;
        }
        let (change, class) = match level(loc, pb) {
            Level::Status(code) => (format!("response status {code} added"), Class::Compatible),
            Level::ContentType => ("content type added".to_string(), Class::Compatible),
            Level::Member => {
                let what = if loc.contains(" parameter ") {
                    "parameter"
                } else {
                    "field"
                };
                match (side, fb.required) {
                    (Side::Request, Some(true)) => (format!("required {what} added"), Class::Breaking),
                    (Side::Request, _) => (format!("optional {what} added"), Class::Compatible),
                    (Side::Response, Some(true)) => ("required field added".into(), Class::Compatible),
                    (Side::Response, _) => ("optional field added".into(), Class::Compatible),
                }
            }
        };
        push(out, loc, change, class);
    }
}

fn compare_facts(side: Side, a: &Facts, b: &Facts, report: &mut dyn FnMut(String, Class)) {
    let req = side == Side::Request;
    if a.types != b.types && !a.types.is_empty() && !b.types.is_empty() {
        let show = |t: &BTreeSet<String>| t.iter().cloned().collect::<Vec<_>>().join("|");
        report(
            format!("type changed: {} -> {}", show(&a.types), show(&b.types)),
            Class::Breaking,
        );
    }
    match (a.required, b.required) {
        (Some(true), Some(false)) => report(
            "became optional".into(),
            if req { Class::Compatible } else { Class::Breaking },
        ),
        (Some(false), Some(true)) => report(
            "became required".into(),
            if req { Class::Breaking } else { Class::Compatible },
        ),
        _ => {}
    }
    if a.nullable != b.nullable {
        let loosened = b.nullable;
        let class = if loosened == req {
            Class::Compatible
        } else {
            Class::Breaking
        };
        report(
            if loosened {
                "became nullable".into()
            } else {
                "no longer nullable".into()
            },
            class,
        );
    }
    if a.format != b.format {
        report(
            format!(
                "format changed: {} -> {}",
                a.format.as_deref().unwrap_or("none"),
                b.format.as_deref().unwrap_or("none")
            ),
            Class::Breaking,
        );
    }
    match (&a.enums, &b.enums) {
        (Some(x), Some(y)) => {
            let added: Vec<&String> = y.difference(x).collect();
            let removed: Vec<&String> = x.difference(y).collect();
            if !added.is_empty() {
                // Requests accept more; responses may send values a closed enum rejects (ours are open).
                report(format!("enum values added: {}", join(&added)), Class::Compatible);
            }
            if !removed.is_empty() {
                report(
                    format!("enum values removed: {}", join(&removed)),
                    if req { Class::Breaking } else { Class::Compatible },
                );
            }
        }
        (None, Some(y)) => report(
            format!("restricted to enum: {}", join(&y.iter().collect::<Vec<_>>())),
            if req { Class::Breaking } else { Class::Compatible },
        ),
        (Some(_), None) => report("enum restriction removed".into(), Class::Compatible),
        (None, None) => {}
    }
    let keys: BTreeSet<&&str> = a.bounds.keys().chain(b.bounds.keys()).collect();
    for k in keys {
        let (x, y) = (a.bounds.get(*k), b.bounds.get(*k));
        if x == y {
            continue;
        }
        let lower = k.starts_with("min") || k.starts_with("exclusiveMin");
        let tightened = match (x, y) {
            (None, Some(_)) => true,
            (Some(_), None) => false,
            (Some(x), Some(y)) => (lower && y > x) || (!lower && y < x),
            (None, None) => false,
        };
        let show = |v: Option<&f64>| v.map(|n| n.to_string()).unwrap_or_else(|| "none".into());
        let class = if tightened && req {
            Class::Breaking
        } else {
            Class::Compatible
        };
        report(
            format!(
                "bound {k} {}: {} -> {}",
                if tightened { "tightened" } else { "loosened" },
                show(x),
                show(y)
            ),
            class,
        );
    }
}

fn join(v: &[&String]) -> String {
    v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

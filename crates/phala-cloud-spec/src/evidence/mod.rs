//! Evidence: what Phala's official SDKs and CLI say the live API sends,
//! compared with the overlaid document, per operation and per API version.
//!
//! The document is not the API: no document has been published since the
//! service moved two versions, so a drift check between documents is blind
//! to what breaks users. The SDKs' models are the best public evidence of
//! what the service answers; their snapshots (`xtask/evidence/*.json`, made
//! by `scripts/evidence/`) are compared here offline. A small hand-kept
//! file ([`Known`]) holds what cannot be derived.
//!
//! Severity follows what breaks a client generated from our document: a
//! type conflict, or a field an SDK requires that we lack, is an
//! [`Severity::Error`]; an optional field we lack is a
//! [`Severity::Warning`]; what only reflects an SDK's modelling (defaults,
//! nullability, skeletal models, closed enums we keep open) is
//! [`Severity::Hidden`].
//!
//! ```
//! use phala_cloud_spec::evidence::{Known, Snapshot, compare};
//! use serde_json::json;
//! let doc = json!({"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {
//!     "/api/v1/auth/me": {"get": {"responses": {"200": {"description": "ok",
//!         "content": {"application/json": {"schema": {"type": "object",
//!             "properties": {"username": {"type": "string"}}}}}}}}}}});
//! let snapshot: Snapshot = serde_json::from_value(json!({
//!     "format": 1,
//!     "sdk": {"name": "phala-cloud", "version": "0.2.0"},
//!     "versions": {"supported": ["2026-06-23"], "default": "2026-06-23"},
//!     "calls": [{"sdk_method": "get_current_user", "method": "GET", "path": "/auth/me",
//!         "api_version": "2026-06-23", "sent_version": "2026-06-23", "response": "User"}],
//!     "schemas": {"User": {"type": "object", "required": ["username", "email"],
//!         "properties": {"username": {"type": "integer"}, "email": {"type": "string"}}}},
//! })).unwrap();
//! let known = Known::default();
//! let report = compare(&doc, &[snapshot], &known);
//! assert_eq!(report.errors(), 2); // username: a type conflict; email: required, missing
//! assert_eq!(report.exit_code(), 2);
//! ```

mod report;
mod shape;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use report::{EvidenceReport, Finding};
use shape::{Comparison, Difference, alternatives, is_null, is_untyped, resolve, score};

/// How much a finding matters to a client generated from our document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Decoding what the service sends fails, or a field it sends is unreachable.
    Error,
    /// Something the service may send (or take) is missing here.
    Warning,
    /// Only reflects how the SDK models it (shown with `--show-hidden`).
    Hidden,
}

/// One official SDK (or CLI) snapshot, as `scripts/evidence/` write them.
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// The package: `sdk` in SDK snapshots, `cli` in the CLI's.
    #[serde(alias = "cli")]
    pub sdk: Package,
    #[serde(default)]
    pub versions: Option<Versions>,
    #[serde(default)]
    pub calls: Vec<Call>,
    /// The CLI's snapshot: calls per command.
    #[serde(default)]
    pub commands: Vec<Command>,
    /// Response schemas by name, each self-contained (its own `$defs`).
    #[serde(default)]
    pub schemas: BTreeMap<String, Value>,
}

/// A package on a registry.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// `python`, `typescript`, ...
    #[serde(default)]
    pub language: Option<String>,
}

/// The API versions an SDK supports, and its default.
#[derive(Debug, Clone, Deserialize)]
pub struct Versions {
    pub supported: Vec<String>,
    pub default: String,
}

/// One request an SDK method sends.
#[derive(Debug, Clone, Deserialize)]
pub struct Call {
    /// The SDK method (for a CLI call: the SDK action behind it, if any).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sdk_method: String,
    pub method: String,
    /// Relative to the API prefix (`/api/v1`), parameters as `{name}`.
    pub path: String,
    /// The client's configured version.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The `X-Phala-Version` sent (a pinned one may differ).
    #[serde(default)]
    pub sent_version: Option<String>,
    #[serde(default)]
    pub query: Vec<String>,
    /// Top-level JSON body keys, `"multipart"`, or null.
    #[serde(default)]
    pub body: Value,
    /// A key of [`Snapshot::schemas`]; `None`: the SDK validates nothing.
    #[serde(default)]
    pub response: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A CLI command and the requests it sends.
#[derive(Debug, Clone, Deserialize)]
pub struct Command {
    pub command: String,
    pub calls: Vec<Call>,
}

/// The hand-kept part of the evidence (`xtask/evidence/known.json`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// The API versions we know (an SDK sending another is reported).
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// SDK releases known to answer a version with the wrong models: their
    /// calls at those versions are not evidence.
    #[serde(default)]
    pub sdk_mistakes: Vec<Mistake>,
    /// Which arm of a union at the top of our answer a version answers with.
    #[serde(default)]
    pub union_arms: Vec<UnionArm>,
    /// Disagreements we keep on purpose, each with its reason.
    #[serde(default)]
    pub acknowledged: Vec<Acknowledged>,
    /// SDK calls we do not model at all, each with its reason.
    #[serde(default)]
    pub ignore: Vec<Ignore>,
}

/// A known SDK mistake.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mistake {
    /// `name@version` of the SDK release.
    pub sdk: String,
    pub api_versions: Vec<String>,
    pub reason: String,
}

/// The arm of a union a version answers with.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnionArm {
    /// `METHOD /api/v1/path`, as in our document.
    pub operation: String,
    pub api_versions: Vec<String>,
    /// The component name of the arm.
    pub arm: String,
    pub reason: String,
}

/// An acknowledged disagreement: findings it matches are reported as such.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledged {
    /// `name@version` of the SDK release.
    pub sdk: String,
    pub operation: String,
    /// Versions it holds at; empty: every version.
    #[serde(default)]
    pub api_versions: Vec<String>,
    /// Where: the finding's location, or one that contains it
    /// (`response<sdk 1>` covers `response<sdk 1>.app_id`).
    pub location: String,
    /// A part of the finding's change text (empty: any change there).
    pub change: String,
    pub reason: String,
}

/// An SDK call we do not model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ignore {
    /// `name@version`, or `name` for every release.
    pub sdk: String,
    /// `METHOD /path` as the SDK sends it (relative to `/api/v1`).
    pub call: String,
    pub reason: String,
}

impl Known {
    fn mistaken(&self, sdk: &str, version: &str) -> Option<&Mistake> {
        self.sdk_mistakes
            .iter()
            .find(|m| m.sdk == sdk && m.api_versions.iter().any(|v| v == version))
    }

    fn arm(&self, operation: &str, version: &str) -> Option<&str> {
        self.union_arms
            .iter()
            .find(|u| u.operation == operation && u.api_versions.iter().any(|v| v == version))
            .map(|u| u.arm.as_str())
    }

    fn ignored(&self, sdk: &Package, call: &str) -> Option<&Ignore> {
        let full = format!("{}@{}", sdk.name, sdk.version);
        self.ignore
            .iter()
            .find(|i| (i.sdk == full || i.sdk == sdk.name) && i.call == call)
    }
}

/// Our operation a call reaches: `METHOD /api/v1/...` as in the document.
fn find_operation(doc: &Value, method: &str, path: &str) -> Option<(String, String)> {
    let method = method.to_ascii_lowercase();
    let wanted: Vec<&str> = path
        .split('?')
        .next()
        .unwrap_or(path)
        .trim_matches('/')
        .split('/')
        .collect();
    let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
    let mut best: Option<(usize, String)> = None;
    for (template, item) in doc.get("paths").and_then(Value::as_object).into_iter().flatten() {
        if item.get(&method).is_none() {
            continue;
        }
        let Some(rest) = template.strip_prefix("/api/v1") else {
            continue;
        };
        let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
        if segments.len() != wanted.len() {
            continue;
        }
        let mut literal = 0;
        let matched = segments.iter().zip(&wanted).all(|(ours, theirs)| {
            if is_param(ours) {
                true
            } else if ours == theirs {
                literal += 1;
                true
            } else {
                false
            }
        });
        if matched && best.as_ref().is_none_or(|(l, _)| literal > *l) {
            best = Some((literal, template.clone()));
        }
    }
    best.map(|(_, t)| (method, t))
}

/// The JSON schemas of an operation's answers: successes first.
fn answers(op: &Value) -> (Vec<&Value>, Vec<&Value>) {
    let mut ok = Vec::new();
    let mut other = Vec::new();
    for (code, resp) in op.get("responses").and_then(Value::as_object).into_iter().flatten() {
        let Some(schema) = resp.pointer("/content/application~1json/schema") else {
            continue;
        };
        if code.starts_with('2') {
            ok.push(schema);
        } else {
            other.push(schema);
        }
    }
    (ok, other)
}

struct Raw {
    sdk: String,
    operation: String,
    sdk_method: String,
    version: String,
    diff: Difference,
}

/// Compares every call of `snapshots` with `doc` (the overlaid document, in
/// OpenAPI 3.1 as published: not normalised).
pub fn compare(doc: &Value, snapshots: &[Snapshot], known: &Known) -> EvidenceReport {
    let mut raw = Vec::new();
    let mut report = EvidenceReport::default();
    for snap in snapshots {
        let sdk = format!("{}@{}", snap.sdk.name, snap.sdk.version);
        report.sdks.push(sdk.clone());
        let command_calls = snap.commands.iter().flat_map(|c| {
            c.calls.iter().map(move |call| {
                let mut call = call.clone();
                call.sdk_method = match call.sdk_method.as_str() {
                    "" => c.command.clone(),
                    action => format!("{} ({action})", c.command),
                };
                call
            })
        });
        let calls: Vec<Call> = snap.calls.iter().cloned().chain(command_calls).collect();
        for call in &calls {
            let version = call
                .sent_version
                .clone()
                .or_else(|| call.api_version.clone())
                .unwrap_or_else(|| "default".into());
            let configured = call.api_version.as_deref().unwrap_or(&version);
            if let Some(m) = known.mistaken(&sdk, configured) {
                report
                    .not_evidence
                    .insert(format!("{sdk} at {configured}: {}", m.reason));
                continue;
            }
            let mut push = |operation: &str, diff: Difference| {
                raw.push(Raw {
                    sdk: sdk.clone(),
                    operation: operation.to_string(),
                    sdk_method: call.sdk_method.clone(),
                    version: version.clone(),
                    diff,
                })
            };
            if !known.api_versions.is_empty() && version != "default" && !known.api_versions.contains(&version) {
                push(
                    &format!("{} {}", call.method, call.path),
                    Difference {
                        location: "X-Phala-Version".into(),
                        change: format!("the SDK sends API version {version}, which we do not know"),
                        severity: Severity::Warning,
                    },
                );
            }
            let sent = format!("{} {}", call.method.to_ascii_uppercase(), call.path);
            if let Some(ignore) = known.ignored(&snap.sdk, &sent) {
                report.ignored.insert(format!("{sent} ({sdk}): {}", ignore.reason));
                continue;
            }
            let Some((method, template)) = find_operation(doc, &call.method, &call.path) else {
                push(
                    &sent,
                    Difference {
                        location: "operation".into(),
                        change: "the SDK calls an operation we do not have".into(),
                        severity: Severity::Error,
                    },
                );
                continue;
            };
            let operation = format!("{} {template}", method.to_ascii_uppercase());
            report.calls_compared += 1;
            let op = &doc["paths"][&template][&method];
            for d in request(doc, &doc["paths"][&template], op, call) {
                push(&operation, d);
            }
            let Some(schema) = call.response.as_ref().map(|name| {
                snap.schemas
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| serde_json::json!({"x-missing": name}))
            }) else {
                report.unvalidated += 1;
                continue;
            };
            let any_number = snap.sdk.language.as_deref() == Some("typescript");
            for d in response(doc, op, &schema, known.arm(&operation, &version), any_number) {
                push(&operation, d);
            }
        }
    }
    report.absorb(raw, known);
    report
}

/// What the SDK sends that our operation does not take.
fn request(doc: &Value, item: &Value, op: &Value, call: &Call) -> Vec<Difference> {
    let mut out = Vec::new();
    let params: BTreeSet<&str> = item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(op.get("parameters").and_then(Value::as_array).into_iter().flatten())
        .filter(|p| p.get("in").and_then(Value::as_str) == Some("query"))
        .filter_map(|p| p.get("name").and_then(Value::as_str))
        .collect();
    for q in call.query.iter().filter(|q| !params.contains(q.as_str())) {
        out.push(Difference {
            location: format!("query parameter {q}"),
            change: "the SDK sends a query parameter we do not declare".into(),
            severity: Severity::Warning,
        });
    }
    let content = op.pointer("/requestBody/content");
    match &call.body {
        Value::String(s) if s == "multipart" && content.and_then(|c| c.get("multipart/form-data")).is_none() => {
            out.push(Difference {
                location: "request body".into(),
                change: "the SDK sends a multipart form we do not declare".into(),
                severity: Severity::Warning,
            });
        }
        Value::Array(keys) => match content.and_then(|c| c.pointer("/application~1json/schema")) {
            None => out.push(Difference {
                location: "request body".into(),
                change: "the SDK sends a JSON body we do not declare".into(),
                severity: Severity::Warning,
            }),
            Some(schema) if !is_untyped(doc, schema) => {
                let declared = body_fields(doc, schema);
                for k in keys.iter().filter_map(Value::as_str) {
                    if !declared.contains(k) {
                        out.push(Difference {
                            location: format!("request body .{k}"),
                            change: "the SDK sends a field we do not declare".into(),
                            severity: Severity::Warning,
                        });
                    }
                }
            }
            Some(_) => {}
        },
        _ => {}
    }
    out
}

/// Field names a request body schema declares (through `$ref` and `allOf`).
fn body_fields(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![schema];
    while let Some(s) = stack.pop() {
        let (s, _) = resolve(doc, s);
        out.extend(
            s.get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
        for key in ["allOf", "anyOf", "oneOf"] {
            stack.extend(s.get(key).and_then(Value::as_array).into_iter().flatten());
        }
    }
    out
}

/// How the SDK's model of the answer fits ours.
fn response(
    doc: &Value,
    op: &Value,
    snapshot_schema: &Value,
    pinned: Option<&str>,
    any_number: bool,
) -> Vec<Difference> {
    if let Some(name) = snapshot_schema.get("x-missing") {
        return vec![Difference {
            location: "response".into(),
            change: format!("the snapshot names a schema it does not hold: {name}"),
            severity: Severity::Error,
        }];
    }
    if snapshot_schema.get("x-unrepresentable").is_some() || is_untyped(snapshot_schema, snapshot_schema) {
        return Vec::new();
    }
    if is_null(snapshot_schema, snapshot_schema) {
        return Vec::new();
    }
    let (ok, other) = answers(op);
    let Some(first) = ok.first() else {
        return vec![Difference {
            location: "response".into(),
            change: "the SDK validates a JSON answer our document does not declare".into(),
            severity: Severity::Warning,
        }];
    };
    if is_untyped(doc, first) {
        return vec![Difference {
            location: "response".into(),
            change: "untyped here (`{}`); the SDK types it".into(),
            severity: Severity::Warning,
        }];
    }
    let mut out = Vec::new();
    let arms = alternatives(snapshot_schema, snapshot_schema);
    let several = arms.len() > 1;
    for (i, arm) in arms.into_iter().enumerate() {
        let loc = if several {
            format!("response<sdk {i}>")
        } else {
            "response".to_string()
        };
        // A union the SDK accepts may include an error answer (a 465 body):
        // each of its shapes fits the closest of our answers.
        let candidates = if several {
            ok.iter().chain(&other).collect::<Vec<_>>()
        } else {
            vec![first]
        };
        let best = candidates
            .into_iter()
            .map(|ours| {
                let mut c = Comparison::new(snapshot_schema, doc, pinned, any_number);
                c.compare(&loc, arm, ours);
                c.out
            })
            .min_by_key(|found| score(found))
            .unwrap_or_default();
        out.extend(best);
    }
    out
}

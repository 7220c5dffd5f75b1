//! The evidence report: findings merged across versions and methods,
//! acknowledgements applied, and its text, markdown and JSON forms.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Known, Raw, Severity};

/// One difference between an SDK and our document, at one or more versions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `METHOD /api/v1/path` (ours), or the SDK's call when we lack it.
    pub operation: String,
    /// Where, e.g. `response.items[].id` or `query parameter page`.
    pub location: String,
    pub change: String,
    /// `name@version` of the SDK release.
    pub sdk: String,
    /// The API versions it was seen at.
    pub api_versions: BTreeSet<String>,
    /// The SDK methods (or CLI commands) that showed it.
    pub sdk_methods: BTreeSet<String>,
    /// Why it is kept, when `known.json` acknowledges it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<String>,
}

/// All findings of [`super::compare`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvidenceReport {
    /// The SDK releases compared.
    pub sdks: Vec<String>,
    pub findings: Vec<Finding>,
    /// Calls matched to one of our operations.
    pub calls_compared: usize,
    /// Calls whose answer the SDK does not validate.
    pub unvalidated: usize,
    /// SDK calls left out as known mistakes, with the reason.
    pub not_evidence: BTreeSet<String>,
    /// SDK calls we do not model, with the reason.
    pub ignored: BTreeSet<String>,
}

impl EvidenceReport {
    /// Merges raw differences and applies the acknowledgements; one that
    /// matches nothing any more is an error (it no longer reproduces).
    pub(super) fn absorb(&mut self, raw: Vec<Raw>, known: &Known) {
        type Key = (Severity, String, String, String, String);
        let mut merged: BTreeMap<Key, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
        for r in raw {
            let key = (r.diff.severity, r.operation, r.diff.location, r.diff.change, r.sdk);
            let entry = merged.entry(key).or_default();
            entry.0.insert(r.version);
            entry.1.insert(r.sdk_method);
        }
        let mut used = vec![false; known.acknowledged.len()];
        for ((severity, operation, location, change, sdk), (api_versions, sdk_methods)) in merged {
            let ack = known.acknowledged.iter().enumerate().find(|(_, a)| {
                a.sdk == sdk
                    && a.operation == operation
                    && within(&location, &a.location)
                    && change.contains(&a.change)
                    && (a.api_versions.is_empty() || api_versions.iter().all(|v| a.api_versions.contains(v)))
            });
            if let Some((i, _)) = ack {
                used[i] = true;
            }
            self.findings.push(Finding {
                severity,
                operation,
                location,
                change,
                sdk,
                api_versions,
                sdk_methods,
                acknowledged: ack.map(|(_, a)| a.reason.clone()),
            });
        }
        for (a, _) in known.acknowledged.iter().zip(&used).filter(|(_, u)| !**u) {
            self.findings.push(Finding {
                severity: Severity::Error,
                operation: a.operation.clone(),
                location: a.location.clone(),
                change: format!(
                    "acknowledged disagreement no longer reproduces (\"{}\"): remove it from known.json",
                    a.change
                ),
                sdk: a.sdk.clone(),
                api_versions: a.api_versions.iter().cloned().collect(),
                sdk_methods: BTreeSet::new(),
                acknowledged: None,
            });
        }
        self.findings.sort();
    }

    /// Keeps only findings seen at one of `versions` (all when empty).
    pub fn at_versions(mut self, versions: &[String]) -> Self {
        if !versions.is_empty() {
            self.findings
                .retain(|f| f.api_versions.is_empty() || f.api_versions.iter().any(|v| versions.contains(v)));
        }
        self
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity && f.acknowledged.is_none())
            .count()
    }

    /// Unacknowledged errors.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Unacknowledged warnings.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    /// 0 clean (or acknowledged only), 1 warnings, 2 errors.
    pub fn exit_code(&self) -> u8 {
        if self.errors() > 0 {
            2
        } else if self.warnings() > 0 {
            1
        } else {
            0
        }
    }

    fn shown(&self, hidden: bool) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| hidden || f.severity != Severity::Hidden)
    }

    fn summary(&self) -> String {
        let acknowledged = self.findings.iter().filter(|f| f.acknowledged.is_some()).count();
        let hidden = self.count(Severity::Hidden);
        format!(
            "{} errors, {} warnings, {acknowledged} acknowledged, {hidden} hidden (SDK modelling); \
             {} calls compared, {} not validated by the SDK, {} not evidence, {} ignored",
            self.errors(),
            self.warnings(),
            self.calls_compared,
            self.unvalidated,
            self.not_evidence.len(),
            self.ignored.len()
        )
    }

    /// Plain text, one finding per line.
    pub fn to_text(&self, hidden: bool) -> String {
        let mut out = format!("evidence: {}\n{}\n", self.sdks.join(", "), self.summary());
        for f in self.shown(hidden) {
            let mark = match (&f.acknowledged, f.severity) {
                (Some(_), _) => "acknowledged",
                (None, Severity::Error) => "error",
                (None, Severity::Warning) => "warning",
                (None, Severity::Hidden) => "hidden",
            };
            out.push_str(&format!(
                "[{mark}] {} {}: {} ({} at {}; {})\n",
                f.operation,
                f.location,
                f.change,
                f.sdk,
                join(&f.api_versions),
                join(&f.sdk_methods)
            ));
            if let Some(why) = &f.acknowledged {
                out.push_str(&format!("    because: {why}\n"));
            }
        }
        for line in self.not_evidence.iter().chain(&self.ignored) {
            out.push_str(&format!("[skipped] {line}\n"));
        }
        out
    }

    /// Markdown for a pull request: a summary, then a table per operation.
    pub fn to_markdown(&self, hidden: bool) -> String {
        let mut out = format!("## What the official SDKs say\n\n{}\n\n", self.summary());
        out.push_str(&format!("Compared: {}.\n", self.sdks.join(", ")));
        let mut by_op: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
        for f in self.shown(hidden) {
            by_op.entry(&f.operation).or_default().push(f);
        }
        let cell = |s: &str| s.replace('|', "\\|");
        for (op, findings) in by_op {
            out.push_str(&format!(
                "\n### `{op}`\n\n| | where | what | SDK | versions |\n|---|---|---|---|---|\n"
            ));
            for f in findings {
                let mark = match (&f.acknowledged, f.severity) {
                    (Some(_), _) => "acknowledged",
                    (None, Severity::Error) => "🔴 error",
                    (None, Severity::Warning) => "🟡 warning",
                    (None, Severity::Hidden) => "hidden",
                };
                let what = match &f.acknowledged {
                    Some(why) => format!("{} (kept: {why})", f.change),
                    None => f.change.clone(),
                };
                out.push_str(&format!(
                    "| {mark} | `{}` | {} | {} | {} |\n",
                    cell(&f.location),
                    cell(&what),
                    f.sdk,
                    join(&f.api_versions)
                ));
            }
        }
        if !self.not_evidence.is_empty() || !self.ignored.is_empty() {
            out.push_str("\n<details><summary>Left out</summary>\n\n");
            for line in self.not_evidence.iter().chain(&self.ignored) {
                out.push_str(&format!("- {}\n", cell(line)));
            }
            out.push_str("\n</details>\n");
        }
        out
    }
}

/// `location` is `under`, or somewhere inside it (`under.field`, `under[]`, ...).
fn within(location: &str, under: &str) -> bool {
    location
        .strip_prefix(under)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[', '{', '<']))
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

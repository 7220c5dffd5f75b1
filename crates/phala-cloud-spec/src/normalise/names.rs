//! The passes that name things: union arms (typify's variant names) and
//! schemas and operations (the Rust type and method names).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::DROPPED_OPERATIONS;
use crate::walk::{self, escape, for_each_schema, operations, rewrite_refs, schema_ref_name};

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

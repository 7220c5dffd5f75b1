//! Apps: the list (each version's shape, paged and filtered), one app,
//! the list's filter options, and their revisions (list, detail, redeploy).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::deploy;
use crate::fleet::Fleet;
use crate::state::{
    Authed, Caller, Inner, Shared, api_error, boolean, bounded, optional_body_of, page_of, query_pairs,
};

fn revision_json(inner: &Inner, r: &crate::deploy::Revision) -> Value {
    let cvm = &inner.fleet.cvms[r.idx];
    json!({
        "revision_id": r.id, "app_id": r.app_id, "vm_uuid": cvm.vm_uuid, "compose_hash": r.compose_hash,
        "created_at": r.created_at, "trace_id": null, "operation_type": r.operation,
    })
}

/// `GET /apps/{app_id}/revisions`: newest first, paged.
pub(crate) async fn app_revisions(
    State(shared): State<Arc<Shared>>,
    Authed { caller, .. }: Authed,
    Path(app_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    // The document's bounds: page >= 1, 1 <= page_size <= 1000 (default 50).
    let page = match bounded(&query, "page", 1, 1, u64::MAX) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let page_size = match bounded(&query, "page_size", 50, 1, 1000) {
        Ok(v) => v as usize,
        Err(r) => return r,
    };
    let inner = shared.lock();
    let mine: Vec<&crate::deploy::Revision> = inner
        .deployments
        .revisions
        .iter()
        .rev()
        .filter(|r| r.app_id == app_id && caller.sees(&inner.fleet, r.idx))
        .collect();
    let items: Vec<Value> = mine
        .iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .map(|r| revision_json(&inner, r))
        .collect();
    axum::Json(json!({
        "revisions": items, "total": mine.len(), "page": page, "page_size": page_size,
        "total_pages": mine.len().div_ceil(page_size),
    }))
    .into_response()
}

pub(crate) fn find_revision<'a>(
    inner: &'a Inner,
    caller: &Caller,
    app_id: &str,
    revision_id: &str,
) -> Option<&'a crate::deploy::Revision> {
    inner
        .deployments
        .revisions
        .iter()
        .find(|r| r.id == revision_id && r.app_id == app_id && caller.sees(&inner.fleet, r.idx))
}

/// `GET /apps/{app_id}/revisions/{revision_id}`: with the compose, as an
/// object or (`raw_compose_file=true`) the exact JSON text hashed.
pub(crate) async fn app_revision(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path((app_id, revision_id)): Path<(String, String)>,
    axum::extract::Query(query): axum::extract::Query<std::collections::BTreeMap<String, String>>,
) -> Response {
    let inner = shared.lock();
    let Some(r) = find_revision(&inner, &caller, &app_id, &revision_id) else {
        return api_error(StatusCode::NOT_FOUND, "ERR-02-020", "Revision not found", &rid);
    };
    let raw = query.get("raw_compose_file").is_some_and(|v| v == "true");
    let compose = if raw {
        Value::String(deploy::canonical_json(&r.compose))
    } else {
        Value::Object(r.compose.clone())
    };
    let mut detail = revision_json(&inner, r);
    if let Value::Object(map) = &mut detail {
        map.insert("compose_file".into(), compose);
        map.insert("encrypted_env".into(), json!(""));
        map.insert("user_config".into(), json!(""));
    }
    axum::Json(detail).into_response()
}

/// `POST /apps/{app_id}/revisions/{revision_id}/redeploy`: the revision's
/// compose applied again to the CVMs asked for (its own CVM by default).
pub(crate) async fn redeploy_revision(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path((app_id, revision_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let request: Option<phala_cloud_api::types::RedeployRevisionRequest> = match optional_body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (mut inner, now) = shared.now();
    let Some(revision) = find_revision(&inner, &caller, &app_id, &revision_id).cloned() else {
        return api_error(StatusCode::NOT_FOUND, "ERR-02-020", "Revision not found", &rid);
    };
    let targets: Vec<usize> = match request.and_then(|r| r.vm_uuids) {
        None => vec![revision.idx],
        Some(uuids) => {
            let mut found = Vec::new();
            for uuid in &uuids {
                match inner
                    .fleet
                    .index_of_uuid(uuid)
                    .filter(|&i| inner.fleet.cvms[i].app_id == app_id)
                {
                    Some(i) => found.push(i),
                    None => {
                        let msg = format!("CVM {uuid} is not a CVM of app {app_id}");
                        return api_error(StatusCode::BAD_REQUEST, "ERR-02-021", &msg, &rid);
                    }
                }
            }
            found
        }
    };
    let mut last = None;
    for idx in targets {
        let env = inner.deployments.kept_env(idx);
        let response = crate::routes::deploy::apply(&mut inner, &shared, idx, revision.compose.clone(), env, now, &rid);
        if response.status() != StatusCode::ACCEPTED {
            return response;
        }
        last = Some(response);
    }
    last.unwrap_or_else(|| api_error(StatusCode::BAD_REQUEST, "ERR-02-021", "No CVM to redeploy", &rid))
}

/// The apps of workspace `ws`: each app's index in `fleet.apps` with its
/// live CVMs (fleet indices, oldest first), in the order of `fleet.apps`.
fn apps_of(fleet: &Fleet, ws: usize) -> Vec<(usize, Vec<usize>)> {
    let index: BTreeMap<&str, usize> = fleet.apps.iter().enumerate().map(|(i, a)| (a.as_str(), i)).collect();
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in fleet.in_workspace(ws) {
        if let Some(&app) = index.get(fleet.cvms[i].app_id.as_str()) {
            members.entry(app).or_default().push(i);
        }
    }
    members.into_iter().collect()
}

/// The app `{app_id}` names (bare, `app_`- or `0x`-prefixed, any case) and
/// its CVMs the caller sees; `None` when it has none.
pub(crate) fn find_app(fleet: &Fleet, caller: &Caller, app_id: &str) -> Option<(usize, Vec<usize>)> {
    let bare = app_id
        .strip_prefix("app_")
        .or_else(|| app_id.strip_prefix("0x"))
        .unwrap_or(app_id);
    let app = fleet.apps.iter().position(|a| a.eq_ignore_ascii_case(bare))?;
    let members: Vec<usize> = fleet
        .live()
        .filter(|&i| fleet.cvms[i].app_id == fleet.apps[app] && caller.sees(fleet, i))
        .collect();
    (!members.is_empty()).then_some((app, members))
}

/// The CVM filters of `GET /apps`: an app is listed when one of its CVMs
/// passes them all.
struct AppFilter {
    search: Option<String>,
    statuses: Vec<String>,
    listed: Option<bool>,
    base_image: Option<String>,
    instance_type: Option<String>,
    kms_slug: Option<String>,
    kms_type: Option<String>,
    node: Option<String>,
    region: Option<String>,
}

impl AppFilter {
    fn passes(&self, fleet: &Fleet, app: usize, idx: usize) -> bool {
        let cvm = &fleet.cvms[idx];
        let node = &fleet.nodes[cvm.node];
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have));
        let found = self.search.as_deref().is_none_or(|q| {
            let q = q.to_lowercase();
            [
                fleet.app_names[app].as_str(),
                &cvm.name,
                &cvm.app_id,
                &cvm.vm_uuid,
                &cvm.instance_id,
            ]
            .iter()
            .any(|f| f.to_lowercase().contains(&q))
        });
        found
            && (self.statuses.is_empty() || self.statuses.contains(&cvm.status))
            && self.listed.is_none_or(|l| !l)
            && is(&self.base_image, "dstack-0.5.3")
            && is(&self.instance_type, &cvm.instance_type())
            && is(&self.kms_slug, crate::deploy::KMS_SLUG)
            && is(&self.kms_type, "phala")
            && self.node.as_deref().is_none_or(|n| node.name.contains(n))
            && is(&self.region, &node.region)
    }
}

/// `GET /apps`: the workspace's apps, a page at a time (`page` from 1,
/// `page_size` 1-100, default 20), filtered by their CVMs;
/// `{dstack_apps, page, page_size, total, total_pages}`.
pub(crate) async fn list_apps(
    State(shared): State<Arc<Shared>>,
    Authed { caller, .. }: Authed,
    RawQuery(raw): RawQuery,
) -> Response {
    let (pairs, query) = query_pairs(raw.as_deref());
    let (page, page_size) = match (
        bounded(&query, "page", 1, 1, u64::MAX),
        bounded(&query, "page_size", 20, 1, 100),
    ) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let listed = match boolean(&query, "listed") {
        Ok(l) => l,
        Err(r) => return r,
    };
    let text = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    let filter = AppFilter {
        search: text("search"),
        statuses: pairs
            .iter()
            .filter(|(k, _)| k == "status")
            .map(|(_, v)| v.clone())
            .collect(),
        listed,
        base_image: text("base_image"),
        instance_type: text("instance_type"),
        kms_slug: text("kms_slug"),
        kms_type: text("kms_type"),
        node: text("node"),
        region: text("region"),
    };
    let (inner, _) = shared.now();
    let fleet = &inner.fleet;
    let apps: Vec<(usize, Vec<usize>)> = apps_of(fleet, caller.workspace)
        .into_iter()
        .filter(|(app, members)| members.iter().any(|&i| filter.passes(fleet, *app, i)))
        .collect();
    let (shown, pages) = page_of(&apps, page, page_size);
    // Each app embeds its CVMs' records (twice): written one app at a time.
    let items = shown
        .iter()
        .map(|(app, members)| fleet.app_json(*app, members, caller.cvminfo));
    let mut body = b"{\"dstack_apps\":".to_vec();
    body.extend(crate::state::json_array_text(items));
    let rest = json!({"page": page, "page_size": page_size, "total": apps.len(), "total_pages": pages}).to_string();
    body.push(b',');
    body.extend_from_slice(&rest.as_bytes()[1..]);
    crate::state::json_text_response(body)
}

/// The 404 of an app that does not exist or that the caller may not see.
pub(crate) fn app_not_found(app_id: &str, rid: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ERR-02-001",
        &format!("App {app_id} not found"),
        rid,
    )
}

/// `GET /apps/{app_id}`: the app with its CVMs, in the caller's version's shape.
pub(crate) async fn get_app(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    let (inner, _) = shared.now();
    match find_app(&inner.fleet, &caller, &app_id) {
        Some((app, members)) => axum::Json(inner.fleet.app_json(app, &members, caller.cvminfo)).into_response(),
        None => app_not_found(&app_id, &rid),
    }
}

/// `GET /apps/filter-options`: the values the list's filters can take in
/// the caller's workspace, each sorted.
pub(crate) async fn filter_options(State(shared): State<Arc<Shared>>, Authed { caller, .. }: Authed) -> Response {
    let (inner, _) = shared.now();
    let fleet = &inner.fleet;
    let mut seen: [std::collections::BTreeSet<String>; 4] = Default::default();
    for &i in fleet.in_workspace(caller.workspace) {
        let cvm = &fleet.cvms[i];
        let node = &fleet.nodes[cvm.node];
        for (set, value) in seen.iter_mut().zip([
            cvm.status.clone(),
            cvm.instance_type(),
            node.region.clone(),
            node.name.clone(),
        ]) {
            set.insert(value);
        }
    }
    let [statuses, instance_types, regions, nodes] = seen;
    let any = !statuses.is_empty();
    let only = |value: &str| if any { vec![value.to_string()] } else { Vec::new() };
    axum::Json(json!({
        "statuses": statuses, "image_versions": only("dstack-0.5.3"), "instance_types": instance_types,
        "kms_slugs": only(crate::deploy::KMS_SLUG), "kms_types": only("phala"), "regions": regions, "nodes": nodes,
    }))
    .into_response()
}

/// `GET /apps/{app_id}/kms-info`: the simulated KMS is not on chain.
pub(crate) async fn app_kms_info(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    if find_app(&shared.lock().fleet, &caller, &app_id).is_none() {
        return app_not_found(&app_id, &rid);
    }
    axum::Json(json!({
        "is_onchain_kms": false, "chain_id": null, "kms_contract_address": null, "app_contract_address": null,
        "deployer_address": null, "deployer_type": null, "is_contract": false, "safe_app_url": null,
    }))
    .into_response()
}

/// `GET /apps/{app_id}/device-allowlist`: each node the app's CVMs run on,
/// with those CVMs (integer ids before 2026-05-22, hashed after); nothing
/// is allowed on chain, the KMS not being there.
pub(crate) async fn device_allowlist(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    let inner = shared.lock();
    let fleet = &inner.fleet;
    let Some((_, members)) = find_app(fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let mut by_node: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
    for i in members {
        let cvm = &fleet.cvms[i];
        let id = if caller.hashed_ids {
            json!(cvm.id)
        } else {
            json!(cvm.numeric_id)
        };
        by_node.entry(cvm.node).or_default().push(id);
    }
    let devices: Vec<Value> = by_node
        .into_iter()
        .map(|(node, cvm_ids)| {
            let n = &fleet.nodes[node];
            json!({"device_id": deploy::device_id(n.id), "node_name": n.name, "cvm_ids": cvm_ids,
                   "allowed_onchain": false, "status": "not_onchain"})
        })
        .collect();
    axum::Json(json!({
        "is_onchain_kms": false, "allow_any_device": null, "chain_id": null, "app_contract_address": null,
        "devices": devices,
    }))
    .into_response()
}

/// The app's updates not yet applied, sorted by CVM and hash: those
/// waiting for their hash on chain (`on_chain`), and those provisioned but
/// not yet applied. Each: (fleet index, compose hash, on chain, compose).
fn pending_of<'a>(
    inner: &'a Inner,
    members: &[usize],
) -> Vec<(usize, &'a str, bool, &'a serde_json::Map<String, Value>)> {
    let d = &inner.deployments;
    let waiting = d
        .pending_commits
        .values()
        .map(|p| (p.idx, p.compose_hash.as_str(), true, &p.compose));
    let provisioned = d
        .updates
        .iter()
        .map(|((idx, hash), compose)| (*idx, hash.as_str(), false, compose));
    let mut all: Vec<_> = waiting
        .chain(provisioned)
        .filter(|(idx, ..)| members.contains(idx))
        .collect();
    // One entry per CVM and hash; one waiting on chain says so.
    all.sort_by(|a, b| (&inner.fleet.cvms[a.0].vm_uuid, a.1, !a.2).cmp(&(&inner.fleet.cvms[b.0].vm_uuid, b.1, !b.2)));
    all.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    all
}

/// `GET /apps/{app_id}/pending-updates`.
pub(crate) async fn pending_updates(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    let inner = shared.lock();
    let Some((_, members)) = find_app(&inner.fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let items: Vec<Value> = pending_of(&inner, &members)
        .into_iter()
        .map(|(idx, hash, on_chain, _)| {
            let cvm = &inner.fleet.cvms[idx];
            json!({"vm_uuid": cvm.vm_uuid, "compose_hash": hash, "on_chain": on_chain, "instance_name": cvm.name})
        })
        .collect();
    axum::Json(json!({"items": items})).into_response()
}

/// `GET /apps/{app_id}/pending-updates/{vm_uuid}/{compose_hash}/preview`:
/// the docker compose and pre-launch script the CVM runs, and those the
/// update brings.
pub(crate) async fn pending_update_preview(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path((app_id, vm_uuid, compose_hash)): Path<(String, String, String)>,
) -> Response {
    let inner = shared.lock();
    let Some((_, members)) = find_app(&inner.fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let found = pending_of(&inner, &members)
        .into_iter()
        .find(|(idx, hash, ..)| inner.fleet.cvms[*idx].vm_uuid == vm_uuid && *hash == compose_hash);
    let Some((idx, _, _, pending)) = found else {
        return api_error(StatusCode::NOT_FOUND, "ERR-02-022", "Pending update not found", &rid);
    };
    let current = deploy::held_compose(&inner.deployments, &inner.fleet, idx);
    let text = |compose: &serde_json::Map<String, Value>, key: &str| {
        compose.get(key).and_then(Value::as_str).map(str::to_string)
    };
    axum::Json(json!({
        "current_docker_compose": text(&current, "docker_compose_file"),
        "pending_docker_compose": text(pending, "docker_compose_file"),
        "current_pre_launch_script": text(&current, "pre_launch_script"),
        "pending_pre_launch_script": text(pending, "pre_launch_script"),
    }))
    .into_response()
}

/// A `start_date`/`end_date` query value: an RFC 3339 time, or a date (its midnight, UTC).
fn query_time(query: &BTreeMap<String, String>, name: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, Response> {
    let Some(text) = query.get(name) else { return Ok(None) };
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
            Some(day.and_hms_opt(0, 0, 0)?.and_utc())
        });
    match parsed {
        Some(t) => Ok(Some(t)),
        None => Err(crate::state::validation_error(
            &["query", name],
            "Input should be a valid datetime",
            "datetime_from_date_parsing",
            Value::String(text.clone()),
        )),
    }
}

/// `GET /apps/{app_id}/usage`: one compute record per CVM of the app for
/// the time it existed within `start_date`..`end_date` (default: since it
/// was created, until now), at its instance type's hourly rate; `limit`
/// (1-5000, default 500) records from `offset`.
pub(crate) async fn app_usage(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<BTreeMap<String, String>>,
) -> Response {
    let (limit, offset) = match (
        bounded(&query, "limit", 500, 1, 5000),
        bounded(&query, "offset", 0, 0, u64::MAX),
    ) {
        (Ok(l), Ok(o)) => (l, o),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let (start, end) = match (query_time(&query, "start_date"), query_time(&query, "end_date")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return api_error(
            StatusCode::BAD_REQUEST,
            "ERR-02-030",
            "start_date is after end_date",
            &rid,
        );
    }
    let (inner, now) = shared.now();
    let fleet = &inner.fleet;
    let Some((app, members)) = find_app(fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let clock = fleet.clock(now, shared.origin);
    let secs = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let records: Vec<(f64, Value)> = members
        .iter()
        .filter_map(|&i| {
            let cvm = &fleet.cvms[i];
            let from = start.map_or(cvm.created_at, |s| s.max(cvm.created_at));
            let to = end.map_or(clock, |e| e.min(clock));
            let minutes = (to - from).num_seconds() as f64 / 60.0;
            if minutes <= 0.0 {
                return None;
            }
            let kind = cvm.instance_type();
            let rate: f64 = deploy::INSTANCE_TYPES
                .iter()
                .find(|(name, _, _)| *name == kind)
                .and_then(|(_, _, rate)| rate.parse().ok())
                .unwrap_or(0.0);
            let cost = (rate * minutes / 60.0 * 1e6).round() / 1e6;
            let record = json!({
                "instance_id": cvm.instance_id, "project_id": app + 1, "team_id": cvm.workspace + 1,
                "timestamp": secs(to), "event_type": "compute", "cost": cost, "details": null, "usage_type": kind,
                "billing_start": secs(from), "billing_end": secs(to), "duration_minutes": minutes,
                "billing_key": format!("{}:{}", cvm.vm_uuid, from.timestamp()),
                "billing_hour": to.format("%Y-%m-%dT%H:00:00Z").to_string(),
                "billing_day": to.format("%Y-%m-%d").to_string(),
            });
            Some((cost, record))
        })
        .collect();
    let total_cost: f64 = records.iter().map(|(c, _)| c).sum();
    let usage: Vec<&Value> = records
        .iter()
        .map(|(_, r)| r)
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    axum::Json(json!({"usage": usage, "total": records.len(), "total_cost": total_cost})).into_response()
}

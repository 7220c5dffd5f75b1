//! A CVM's configuration after creation: its name, whether it is listed,
//! when it is deleted, the KMS and gateway it reaches and the ports mapped
//! on its node, its instance id read again from the node, and a check of
//! the DNS records its custom domains need. Kept in [`crate::records`].

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::fleet::{Acted, Action};
use crate::records::Port;
use crate::routes::reads;
use crate::state::{
    Authed, Caller, Inner, OPERATION_IN_PROGRESS, Shared, api_error, body_and_cvm, body_of, locate_for,
    validation_error,
};

#[derive(Deserialize)]
struct Rename {
    name: String,
}

/// `PATCH /cvms/{cvm_id}/name`: 204. The name follows the rules of a new
/// CVM's (422). The document answers nothing else: a name another CVM of
/// the workspace has is taken (clients that find CVMs by name then see two).
pub(crate) async fn rename(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (Rename, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(refused) = crate::routes::deploy::refused_name(&request.name) {
        return refused;
    }
    let (idx, fleet) = (at.idx, &mut at.inner.fleet);
    fleet.cvms[idx].name = request.name;
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct Listed {
    listed: bool,
}

/// `PATCH /cvms/{cvm_id}/listed`: whether the CVM is listed publicly; the VM record.
pub(crate) async fn set_listed(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (Listed, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let idx = at.idx;
    at.inner.records.settings.entry(idx).or_default().listed = request.listed;
    axum::Json(at.inner.fleet.vm_json(idx, at.caller.hashed_ids)).into_response()
}

#[derive(Deserialize)]
struct ScheduledDelete {
    #[serde(default)]
    scheduled_delete_at: Option<String>,
}

/// `PATCH /cvms/{cvm_id}/scheduled-delete`: a time to delete the CVM at
/// (RFC 3339, in the future: 422 otherwise), or `null` to cancel; the VM
/// record. The detail shows it.
pub(crate) async fn schedule_delete(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (ScheduledDelete, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let when = match request
        .scheduled_delete_at
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
    {
        None => None,
        Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
        Some(Err(_)) => {
            let msg = "Input should be a valid datetime";
            return validation_error(
                &["body", "scheduled_delete_at"],
                msg,
                "datetime_parsing",
                json!(request.scheduled_delete_at),
            );
        }
    };
    let now = at.inner.fleet.clock(at.now, shared.origin);
    if when.is_some_and(|t| t <= now) {
        // The document answers nothing but 422 for a value it refuses.
        let msg = format!("Input should be in the future (now: {})", now.to_rfc3339());
        let field = &["body", "scheduled_delete_at"];
        return validation_error(field, &msg, "datetime_future", json!(request.scheduled_delete_at));
    }
    let idx = at.idx;
    at.inner.records.settings.entry(idx).or_default().scheduled_delete_at =
        when.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    axum::Json(at.inner.fleet.vm_json(idx, at.caller.hashed_ids)).into_response()
}

#[derive(Deserialize)]
struct NetworkConfig {
    #[serde(default)]
    kms_urls: Option<Vec<String>>,
    #[serde(default)]
    gateway_urls: Option<Vec<String>>,
    #[serde(default)]
    restart: bool,
}

/// An HTTP(S) URL with a host.
fn is_url(text: &str) -> bool {
    let rest = text.strip_prefix("https://").or_else(|| text.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !host.contains(char::is_whitespace)
    })
}

/// `PATCH /cvms/{cvm_id}/network-config`: the KMS and gateway URLs the CVM
/// reaches (a list given replaces the held one; each an HTTP(S) URL, none
/// empty: 400), restarting it when asked (409 while it is busy); the
/// configuration as `GET` answers it.
pub(crate) async fn network_config(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (NetworkConfig, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    for (name, urls) in [("kms_urls", &request.kms_urls), ("gateway_urls", &request.gateway_urls)] {
        if let Some(urls) = urls {
            if urls.is_empty() {
                return api_error(StatusCode::BAD_REQUEST, "ERR-03-016", &format!("{name} is empty"), &rid);
            }
            if let Some(bad) = urls.iter().find(|u| !is_url(u)) {
                let msg = format!("{name}: {bad:?} is not an http(s) URL");
                return api_error(StatusCode::BAD_REQUEST, "ERR-03-016", &msg, &rid);
            }
        }
    }
    let (idx, now) = (at.idx, at.now);
    if request.restart
        && at
            .inner
            .fleet
            .act(idx, Action::Restart { force: false }, now, shared.origin)
            == Acted::Busy
    {
        return api_error(
            StatusCode::CONFLICT,
            OPERATION_IN_PROGRESS,
            "Another operation is in progress on this CVM",
            &rid,
        );
    }
    let settings = at.inner.records.settings.entry(idx).or_default();
    if request.kms_urls.is_some() {
        settings.kms_urls = request.kms_urls;
    }
    if request.gateway_urls.is_some() {
        settings.gateway_urls = request.gateway_urls;
    }
    axum::Json(reads::network_config(&at.inner, idx)).into_response()
}

#[derive(Deserialize)]
struct PortEntry {
    vm_port: i64,
    #[serde(default = "tcp")]
    protocol: String,
}

fn tcp() -> String {
    "tcp".into()
}

#[derive(Deserialize)]
struct PortMappings {
    ports: Vec<PortEntry>,
}

/// The first host port the simulated nodes hand out.
const FIRST_HOST_PORT: i64 = 30000;

/// `PUT /cvms/{cvm_id}/ports`: the CVM's mapped ports become exactly those
/// asked (a port mapped before keeps its host port); each VM port 1-65535,
/// `tcp` or `udp`, once (400 otherwise); 409 while the CVM is busy. The
/// mappings as `GET` answers them.
pub(crate) async fn set_ports(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, mut at): (PortMappings, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let refuse = |msg: String| api_error(StatusCode::BAD_REQUEST, "ERR-03-017", &msg, &rid);
    let mut asked: Vec<(i64, String)> = Vec::new();
    for p in &request.ports {
        let protocol = p.protocol.to_ascii_lowercase();
        if !(1..=65535).contains(&p.vm_port) {
            return refuse(format!("vm_port {} is not a port (1-65535)", p.vm_port));
        }
        if protocol != "tcp" && protocol != "udp" {
            return refuse(format!("protocol {:?} is not tcp or udp", p.protocol));
        }
        if asked.contains(&(p.vm_port, protocol.clone())) {
            return refuse(format!("{}/{protocol} is given twice", p.vm_port));
        }
        asked.push((p.vm_port, protocol));
    }
    let idx = at.idx;
    if at.inner.fleet.cvms[idx].operation.is_some() {
        return api_error(
            StatusCode::CONFLICT,
            OPERATION_IN_PROGRESS,
            "Another operation is in progress on this CVM",
            &rid,
        );
    }
    let records = &mut at.inner.records;
    let held = records.settings.get(&idx).map(|s| s.ports.clone()).unwrap_or_default();
    let mut ports = Vec::with_capacity(asked.len());
    for (vm_port, protocol) in asked {
        let port = match held.iter().find(|p| p.vm_port == vm_port && p.protocol == protocol) {
            Some(p) => p.clone(),
            None => {
                records.next_port += 1;
                let n = records.next_port;
                Port {
                    id: format!("pm_{}", &hex::encode(Sha256::digest(format!("port {n}")))[..10]),
                    host_port: FIRST_HOST_PORT + n as i64 % 30000,
                    vm_port,
                    protocol,
                }
            }
        };
        ports.push(port);
    }
    records.settings.entry(idx).or_default().ports = ports;
    axum::Json(reads::ports(&at.inner, idx)).into_response()
}

/// Read for its types (a wrong one is a 422); the simulated node's id never
/// differs, so neither flag changes the answer.
#[derive(Deserialize, Default)]
#[serde(default)]
#[allow(dead_code)]
struct Refresh {
    overwrite: bool,
    dry_run: bool,
}

/// One CVM's instance id read again from its node (`InstanceIdRefreshResult`).
/// The simulated node reports the id the CVM has, so a running CVM is
/// `unchanged`; one not running cannot be asked (`skipped`).
fn refresh_one(inner: &Inner, caller: &Caller, idx: usize, identifier: &str, running_only: bool) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let id = if caller.hashed_ids {
        json!(cvm.id)
    } else {
        json!(cvm.numeric_id)
    };
    let running = cvm.status == "running";
    let (status, source, reason) = if running {
        ("unchanged", "teepod_state", None)
    } else if running_only {
        ("skipped", "none", Some(format!("CVM is {}, not running", cvm.status)))
    } else {
        (
            "skipped",
            "none",
            Some(format!("CVM is {}: its node holds no instance id to read", cvm.status)),
        )
    };
    json!({
        "cvm_id": id, "identifier": identifier, "status": status,
        "old_instance_id": cvm.instance_id, "new_instance_id": running.then_some(&cvm.instance_id),
        "source": source, "verified_with_gateway": false, "reason": reason,
    })
}

/// `PATCH /cvms/{cvm_id}/instance-id`: the CVM's instance id read from its node.
pub(crate) async fn refresh_instance_id(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    if let Err(r) = crate::state::optional_body_of::<Refresh>(&body) {
        return r;
    }
    match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => axum::Json(refresh_one(&at.inner, &at.caller, at.idx, &cvm_id, false)).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(default)]
struct BatchRefresh {
    cvm_ids: Option<Vec<String>>,
    running_only: bool,
    missing_only: bool,
    #[allow(dead_code)] // read for its type (a wrong one is a 422), not used by the simulator
    overwrite: bool,
    limit: i64,
    #[allow(dead_code)] // read for its type (a wrong one is a 422), not used by the simulator
    dry_run: bool,
}

impl Default for BatchRefresh {
    fn default() -> Self {
        Self {
            cvm_ids: None,
            running_only: true,
            missing_only: true,
            overwrite: false,
            limit: 100,
            dry_run: false,
        }
    }
}

/// `PATCH /cvms/instance-ids`: [`refresh_one`] for the CVMs named (any
/// form of id; an admin's may be in any workspace) or the workspace's, at
/// most `limit` (1-500). Every id named has an item: one that names no CVM
/// the caller may see is an `error`. With `missing_only` (the default) a
/// CVM that has an instance id is `skipped`: every simulated CVM has one.
pub(crate) async fn refresh_instance_ids(
    State(shared): State<Arc<Shared>>,
    Authed { caller, .. }: Authed,
    body: Bytes,
) -> Response {
    // The document requires a body here (`{}` takes every default).
    let request: BatchRefresh = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    if !(1..=500).contains(&request.limit) {
        let (msg, kind) = if request.limit < 1 {
            ("Input should be greater than or equal to 1", "greater_than_equal")
        } else {
            ("Input should be less than or equal to 500", "less_than_equal")
        };
        return validation_error(&["body", "limit"], msg, kind, json!(request.limit));
    }
    let (inner, _) = shared.now();
    let fleet = &inner.fleet;
    let named: Vec<(String, Option<usize>)> = match &request.cvm_ids {
        Some(ids) => ids
            .iter()
            .map(|id| (id.clone(), fleet.find(id).filter(|&i| caller.sees(fleet, i))))
            .collect(),
        None => fleet
            .in_workspace(caller.workspace)
            .iter()
            .filter(|&&i| !fleet.cvms[i].deleted)
            .map(|&i| (fleet.cvms[i].id.clone(), Some(i)))
            .collect(),
    };
    let total = named.len();
    let limit = request.limit as usize;
    let mut items = Vec::new();
    for (identifier, found) in named.iter().take(limit) {
        let item = match found {
            None => json!({
                "cvm_id": if caller.hashed_ids { json!(identifier) } else { json!(0) },
                "identifier": identifier, "status": "error", "old_instance_id": null, "new_instance_id": null,
                "source": "none", "verified_with_gateway": false, "reason": format!("CVM {identifier} not found"),
            }),
            Some(i) => {
                let cvm = &fleet.cvms[*i];
                if request.running_only && cvm.status != "running" {
                    refresh_one(&inner, &caller, *i, identifier, true)
                } else if request.missing_only && !cvm.instance_id.is_empty() {
                    let mut item = refresh_one(&inner, &caller, *i, identifier, false);
                    item["status"] = json!("skipped");
                    item["new_instance_id"] = Value::Null;
                    item["source"] = json!("none");
                    item["reason"] = json!("The CVM has an instance id (missing_only)");
                    item
                } else {
                    refresh_one(&inner, &caller, *i, identifier, false)
                }
            }
        };
        items.push(item);
    }
    let count = |s: &str| items.iter().filter(|i| i["status"] == s).count();
    axum::Json(json!({
        "total": total, "scanned": items.len(), "updated": count("updated"), "unchanged": count("unchanged"),
        "skipped": count("skipped"), "conflicts": count("conflict"), "errors": count("error"), "items": items,
    }))
    .into_response()
}

#[derive(Deserialize)]
struct DomainCheck {
    domain: String,
    port: i64,
}

#[derive(Deserialize)]
struct Diagnose {
    domains: Vec<DomainCheck>,
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens.
fn valid_domain(name: &str) -> bool {
    let labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// `POST /cvms/{cvm_id}/customize-domain-diagnose`: for each domain, the
/// records dstack's gateway needs (a CNAME to the gateway, a TXT naming the
/// app and port) and what DNS holds. The simulator has no DNS: nothing is
/// found, and each domain is reported invalid, as for a domain not yet set up.
pub(crate) async fn diagnose_domains(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let (request, at): (Diagnose, _) = match body_and_cvm(&shared, caller, &rid, &cvm_id, &body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if request.domains.is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "ERR-03-018", "No domain to diagnose", &rid);
    }
    let cvm = &at.inner.fleet.cvms[at.idx];
    let region = at
        .inner
        .fleet
        .nodes
        .get(cvm.node)
        .map_or("us-west", |n| n.region.as_str());
    let mut results = Vec::new();
    for d in &request.domains {
        let domain = d.domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if !valid_domain(&domain) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "ERR-03-018",
                &format!("{:?} is not a domain name", d.domain),
                &rid,
            );
        }
        if !(1..=65535).contains(&d.port) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "ERR-03-018",
                &format!("{} is not a port (1-65535)", d.port),
                &rid,
            );
        }
        let record = |kind: &str, query: String, expected: String| {
            json!({"record_type": kind, "query_name": query, "expected_value": expected, "actual_value": null,
                   "is_valid": false, "is_deprecated": false, "warning_message": null})
        };
        results.push(json!({
            "domain": domain, "port": d.port, "is_valid": false, "caa_check": null,
            "records": [
                record("CNAME", domain.clone(), format!("_.dstack-{region}.phala.network")),
                record("TXT", format!("_dstack-app-address.{domain}"), format!("{}:{}", cvm.app_id, d.port)),
            ],
        }));
    }
    axum::Json(json!({"results": results})).into_response()
}

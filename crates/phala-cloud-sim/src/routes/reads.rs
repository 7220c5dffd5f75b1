//! Read operations about the CVMs the simulator holds: the files a CVM
//! runs with, its launch configuration (with its owner's SSH keys), network
//! and system state, its port mappings.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::{Inner, RequestId, Shared, locate};

/// What a CVM read answers for the CVM at an index of the fleet.
pub(crate) type Answer = fn(&Inner, usize) -> Value;

/// A handler answering `GET /cvms/{cvm_id}/...` with `answer(fleet, index)`
/// for the CVM the caller may see, built under the fleet's lock.
pub(crate) fn cvm_read(
    answer: Answer,
) -> impl Fn(State<Arc<Shared>>, axum::Extension<RequestId>, HeaderMap, Path<String>) -> std::future::Ready<Response>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(shared), axum::Extension(RequestId(rid)), headers, Path(cvm_id)| {
        std::future::ready(match locate(&shared, &headers, &rid, &cvm_id) {
            Ok(at) => axum::Json(answer(&at.inner, at.idx)).into_response(),
            Err(r) => r,
        })
    }
}

/// One of the strings of the held app compose (`docker_compose_file`,
/// `pre_launch_script`), empty when it has none.
fn compose_text(inner: &Inner, idx: usize, key: &str) -> Value {
    let compose = crate::deploy::held_compose(&inner.deployments, &inner.fleet, idx);
    Value::String(compose.get(key).and_then(Value::as_str).unwrap_or_default().to_string())
}

pub(crate) fn docker_compose(inner: &Inner, idx: usize) -> Value {
    compose_text(inner, idx, "docker_compose_file")
}

pub(crate) fn pre_launch_script(inner: &Inner, idx: usize) -> Value {
    compose_text(inner, idx, "pre_launch_script")
}

/// The node's gateway domain, as the CVM detail names it.
fn gateway_domain(inner: &Inner, idx: usize) -> String {
    let cvm = &inner.fleet.cvms[idx];
    let region = inner.fleet.nodes.get(cvm.node).map_or("us-west", |n| n.region.as_str());
    format!("dstack-{region}.phala.network")
}

pub(crate) fn user_config(inner: &Inner, idx: usize) -> Value {
    json!({
        "hostname": inner.fleet.cvms[idx].name,
        "ssh_authorized_keys": inner.fleet.cvms[idx]
            .user
            .map(|u| crate::routes::ssh_keys::authorized_keys(inner, u))
            .unwrap_or_default(),
        "default_gateway_domain": gateway_domain(inner, idx),
    })
}

pub(crate) fn network(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let online = cvm.status == "running";
    let domain = gateway_domain(inner, idx);
    json!({
        "is_online": online,
        "is_public": true,
        "error": (!online).then(|| format!("CVM is {}", cvm.status)),
        "internal_ip": online.then(|| format!("10.0.{}.{}", cvm.node % 256, idx % 254 + 1)),
        "latest_handshake": None::<String>,
        "public_urls": online.then(|| json!([{
            "app": format!("https://{}.{domain}", cvm.app_id),
            "instance": format!("https://{}.{domain}", cvm.instance_id),
        }])),
    })
}

pub(crate) fn stats(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    json!({
        "is_online": cvm.status == "running",
        "is_public": true,
        "error": None::<String>,
        "sysinfo": None::<Value>,
        "status": cvm.status,
        "in_progress": cvm.operation.is_some(),
        "boot_progress": None::<String>,
        "boot_error": cvm.boot_error,
    })
}

/// The ports mapped on the node (`PUT /cvms/{cvm_id}/ports`); none until
/// some are: the simulator's CVMs are reached through the gateway.
pub(crate) fn ports(inner: &Inner, idx: usize) -> Value {
    let host = host_address(inner, idx);
    let ports = inner
        .records
        .settings
        .get(&idx)
        .map(|s| s.ports.as_slice())
        .unwrap_or_default();
    Value::Array(
        ports
            .iter()
            .map(|p| {
                json!({"id": p.id, "host_port": p.host_port, "vm_port": p.vm_port, "protocol": p.protocol,
                       "host_address": host})
            })
            .collect(),
    )
}

/// The address of the node a CVM runs on, where its mapped ports listen.
pub(crate) fn host_address(inner: &Inner, idx: usize) -> String {
    format!("10.1.0.{}", inner.fleet.cvms[idx].node % 254 + 1)
}

/// The firewall is there while the CVM runs.
pub(crate) fn firewall_status(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let running = cvm.status == "running";
    json!({"available": running, "reason": (!running).then(|| format!("CVM is {}", cvm.status))})
}

/// The KMS and gateway the CVM reaches (as set by `PATCH
/// /cvms/{cvm_id}/network-config`, else the node's), and its mapped ports.
pub(crate) fn network_config(inner: &Inner, idx: usize) -> Value {
    let settings = inner.records.settings.get(&idx);
    let kms = settings
        .and_then(|s| s.kms_urls.clone())
        .unwrap_or_else(|| vec!["https://kms.phala.network".into()]);
    let gateway = settings
        .and_then(|s| s.gateway_urls.clone())
        .unwrap_or_else(|| vec![format!("https://gateway.{}", gateway_domain(inner, idx))]);
    let ports: Vec<Value> = ports(inner, idx)
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({"host_port": p["host_port"], "vm_port": p["vm_port"], "protocol": p["protocol"],
                        "host_address": p["host_address"]})
        })
        .collect();
    json!({"kms_urls": kms, "gateway_urls": gateway, "ports": ports})
}

/// `GET /cvms/{cvm_id}/operation-status`: idle, or the operation in flight
/// as the operation history records it.
pub(crate) fn operation_status(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let current = cvm
        .operation
        .as_ref()
        .and_then(|op| cvm.history.iter().rev().find(|r| r.correlation_id == op.correlation_id));
    json!({
        "status": if current.is_some() { "in_progress" } else { "idle" },
        "cvm_status": cvm.status,
        "operation": current.map(|r| inner.fleet.record_json(idx, r)),
    })
}

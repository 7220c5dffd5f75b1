//! What a deploy chooses from: instance types and their families, OS
//! images, the nodes with room left (`teepods/available`) and the whole
//! graph of nodes, KMSes, gateways and instance types a deploy form shows
//! (`teepods/cvm-create-resources`).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::deploy::{INSTANCE_TYPES, KMS_ID, OS_IMAGES, device_id, kms_info_json, os_image_hash};
use crate::fleet::Fleet;
use crate::state::{Authed, Inner, Shared, api_error, authenticate, boolean, bounded, page_of};

/// What one simulated node holds in all: vCPUs, memory (MB), CVMs.
const NODE_VCPU: i64 = 128;
const NODE_MEMORY_MB: i64 = 512 * 1024;
const NODE_SLOTS: i64 = 100;

/// The one family of the simulated instance types.
const FAMILY: &str = "cpu";

fn instance_type_json((name, vcpu, rate): (&str, i64, &str)) -> Value {
    json!({
        "id": name, "name": name, "description": format!("{vcpu} vCPU, {} GB memory, Intel TDX", 2 * vcpu),
        "vcpu": vcpu, "memory_mb": 2048 * vcpu, "hourly_rate": rate, "requires_gpu": false,
        "default_disk_size_gb": 40, "family": FAMILY,
    })
}

/// `GET /instance-types`: every family with its types (one, `cpu`).
pub(crate) async fn all_families(_: Authed) -> Response {
    let items: Vec<Value> = INSTANCE_TYPES.into_iter().map(instance_type_json).collect();
    axum::Json(json!({"result": [{"name": FAMILY, "total": items.len(), "items": items}]})).into_response()
}

/// `GET /instance-types/{family}`: a family's types; 404 for a family
/// with none (`gpu`: the simulator has no GPU).
pub(crate) async fn family(Authed { rid, .. }: Authed, Path(family): Path<String>) -> Response {
    if !family.eq_ignore_ascii_case(FAMILY) {
        let msg = format!("Instance type family {family} not found or empty");
        return api_error(StatusCode::NOT_FOUND, crate::codes::INSTANCE_TYPE_NOT_FOUND, &msg, &rid);
    }
    let items: Vec<Value> = INSTANCE_TYPES.into_iter().map(instance_type_json).collect();
    axum::Json(json!({"items": items, "total": items.len(), "family": FAMILY})).into_response()
}

fn os_image_json((name, version, is_dev): (&str, [u8; 3], bool)) -> Value {
    json!({
        "name": name, "slug": name, "version": format!("{}.{}.{}", version[0], version[1], version[2]),
        "is_dev": is_dev, "requires_gpu": false, "os_image_hash": os_image_hash(name),
    })
}

/// `GET /os-images`: the OS images, a page at a time (`page` from 1,
/// `page_size` from 1, default 20), `is_dev` filtering.
pub(crate) async fn os_images(_: Authed, Query(query): Query<BTreeMap<String, String>>) -> Response {
    let (page, page_size, dev) = match (
        bounded(&query, "page", 1, 1, u64::MAX),
        bounded(&query, "page_size", 20, 1, u64::MAX),
        boolean(&query, "is_dev"),
    ) {
        (Ok(p), Ok(s), Ok(d)) => (p, s, d),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    let all: Vec<Value> = OS_IMAGES
        .into_iter()
        .filter(|&(_, _, is_dev)| dev.is_none_or(|d| d == is_dev))
        .map(os_image_json)
        .collect();
    let (items, pages) = page_of(&all, page, page_size);
    axum::Json(json!({"items": items, "total": all.len(), "page": page, "page_size": page_size, "pages": pages}))
        .into_response()
}

/// The OS images a node runs, as a node lists them.
fn node_images() -> Vec<Value> {
    OS_IMAGES
        .into_iter()
        .map(|(name, version, is_dev)| {
            json!({"name": name, "is_dev": is_dev, "version": version, "os_image_hash": os_image_hash(name)})
        })
        .collect()
}

/// Every node with what it has left, counting the live CVMs placed on it.
pub(crate) fn nodes_json(fleet: &Fleet) -> Vec<Value> {
    let mut used = vec![(0i64, 0i64, 0i64); fleet.nodes.len()];
    for i in fleet.live() {
        let cvm = &fleet.cvms[i];
        if let Some(u) = used.get_mut(cvm.node) {
            *u = (u.0 + cvm.vcpu, u.1 + cvm.memory_mb, u.2 + 1);
        }
    }
    fleet
        .nodes
        .iter()
        .zip(used)
        .map(|(node, (vcpu, memory, count))| {
            let left = |total: i64, taken: i64| (total - taken).max(0);
            json!({
                "teepod_id": node.id, "name": node.name, "listed": true,
                "resource_score": 1.0 - count as f64 / NODE_SLOTS as f64,
                "remaining_vcpu": left(NODE_VCPU, vcpu), "remaining_memory": left(NODE_MEMORY_MB, memory),
                "remaining_cvm_slots": left(NODE_SLOTS, count), "images": node_images(),
                "region_identifier": node.region, "default_kms": KMS_ID, "kms_list": [KMS_ID],
                "device_id": device_id(node.id), "device_ids": [], "fmspc": "B0C06F000000",
                "support_onchain_kms": false,
            })
        })
        .collect()
}

/// The most one CVM may have: vCPUs, memory (MB), disk (GB).
pub(crate) const MAX_VCPU: i64 = 32;
pub(crate) const MAX_MEMORY_MB: i64 = 65536;
pub(crate) const MAX_DISK_GB: i64 = 500;

/// The caller's limits per CVM and in all.
fn capacity() -> Value {
    json!({"max_vcpu": MAX_VCPU, "max_memory": MAX_MEMORY_MB, "max_disk": MAX_DISK_GB, "max_instances": 50})
}

fn no_gpus() -> Value {
    json!({"has_public_gpus": false, "has_reserved_gpus": false, "public_gpu_count": 0, "reserved_gpu_count": 0})
}

/// `GET /teepods/available`: the nodes a CVM can be placed on and the KMS
/// they use; `v03x_only` asks for nodes of the legacy deploy (none here).
pub(crate) async fn available_nodes(
    State(shared): State<Arc<Shared>>,
    _: Authed,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let legacy = match boolean(&query, "v03x_only") {
        Ok(l) => l == Some(true),
        Err(r) => return r,
    };
    let (inner, _) = shared.now();
    let nodes = if legacy { Vec::new() } else { nodes_json(&inner.fleet) };
    axum::Json(json!({
        "tier": "pro", "capacity": capacity(), "gpu_availability": no_gpus(), "nodes": nodes,
        "kms_list": [kms_info_json()],
    }))
    .into_response()
}

/// `GET /teepods/cvm-create-resources`: nodes, the KMS, a gateway per
/// node, which KMS each node serves and the instance types, with string
/// ids (which every version's shape takes).
pub(crate) async fn create_resources(State(shared): State<Arc<Shared>>, _: Authed) -> Response {
    let images: Vec<&str> = OS_IMAGES.iter().map(|(name, _, _)| *name).collect();
    let (inner, _) = shared.now();
    let fleet = &inner.fleet;
    let kms = kms_info_json();
    let kms_node = json!({
        "id": KMS_ID, "slug": kms["slug"], "url": kms["url"], "version": kms["version"], "kms_type": "phala",
        "chain_id": null, "kms_contract_address": null, "kms_contract_id": "phala", "gateway_app_id": null,
        "supported_os_images": images,
    });
    let relations: Vec<Value> = fleet
        .nodes
        .iter()
        .map(|n| {
            json!({"teepod_id": n.id, "kms_id": KMS_ID, "kms_type": "phala", "kms_contract_id": "phala",
                   "kms_contract_address": null, "supported_os_images": images})
        })
        .collect();
    let gateways: Vec<Value> = fleet
        .nodes
        .iter()
        .map(|n| {
            json!({"id": format!("gw_{}", n.id), "kms_contract_id": "phala", "enabled": true, "teepod_id": n.id,
                   "domain_suffix": format!("dstack-{}.phala.network", n.region), "rpc_url": null})
        })
        .collect();
    let types: Vec<Value> = INSTANCE_TYPES
        .iter()
        .enumerate()
        .map(|(i, (name, vcpu, _))| {
            json!({"id": name, "name": name, "vcpu": vcpu, "memory_mb": 2048 * vcpu, "default_disk_size_gb": 40,
                   "requires_gpu": false, "requires_gpu_count": 0, "family": FAMILY, "display_order": i})
        })
        .collect();
    axum::Json(json!({
        "tier": "pro", "capacity": capacity(), "gpu_availability": no_gpus(), "nodes": nodes_json(fleet),
        "kms_nodes": [kms_node], "node_kms_relations": relations, "gateway_nodes": gateways, "instance_types": types,
    }))
    .into_response()
}

/// `GET /cvms/{cvm_id}/available-os-images`: the OS image versions a CVM
/// can move to, newest first, each with its production and development
/// build; the CVM runs the production 0.5.3.
pub(crate) fn available_os_images(_: &Inner, _: usize) -> Value {
    let mut versions: Vec<[u8; 3]> = OS_IMAGES.iter().map(|(_, v, _)| *v).collect();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    versions.dedup();
    let variant = |version: [u8; 3], dev: bool| {
        OS_IMAGES
            .iter()
            .find(|(_, v, d)| *v == version && *d == dev)
            .map(|(name, _, _)| {
                json!({"name": name, "slug": name, "os_image_hash": os_image_hash(name), "is_current": *name == "dstack-0.5.3"})
            })
    };
    versions
        .into_iter()
        .map(|v| json!({"version": v, "prod": variant(v, false), "dev": variant(v, true)}))
        .collect()
}

/// `GET /attestations/nodes`: every node as the attestation explorer lists it.
pub(crate) async fn attestation_nodes(State(shared): State<Arc<Shared>>, _: Authed) -> Response {
    let inner = shared.lock();
    let nodes: Vec<Value> = inner
        .fleet
        .nodes
        .iter()
        .map(|n| {
            json!({
                "object_type": "node", "id": n.id, "node_id": n.id, "name": n.name, "region": n.region,
                "device_id": device_id(n.id), "ppid": format!("{:032x}", n.id), "status": "ONLINE", "version": "0.5.3",
                "device_ids": [{"device_id": device_id(n.id), "algorithm_version": "v1", "enabled": true, "os_image_ids": []}],
            })
        })
        .collect();
    axum::Json(Value::Array(nodes)).into_response()
}

/// The public attestation explorer's listings beyond the nodes: each
/// node's PPID or device id with its name.
fn node_keys(shared: &Shared, key: &str) -> Value {
    let inner = shared.lock();
    let keys: Vec<Value> = inner
        .fleet
        .nodes
        .iter()
        .map(|n| {
            let value = if key == "ppid" {
                format!("{:032x}", n.id)
            } else {
                device_id(n.id)
            };
            json!({key: value, "node_name": n.name})
        })
        .collect();
    Value::Array(keys)
}

/// `GET /attestations/ppids`.
pub(crate) async fn attestation_ppids(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    headers: HeaderMap,
) -> Response {
    match authenticate(&shared, &headers, &rid) {
        Ok(_) => axum::Json(node_keys(&shared, "ppid")).into_response(),
        Err(r) => r,
    }
}

/// `GET /attestations/device_ids`.
pub(crate) async fn attestation_device_ids(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    headers: HeaderMap,
) -> Response {
    match authenticate(&shared, &headers, &rid) {
        Ok(_) => axum::Json(node_keys(&shared, "device_id")).into_response(),
        Err(r) => r,
    }
}

/// `GET /attestations/recent`: the quotes verified lately (`skip` from 0,
/// `limit` 1-100): none, as nothing has been uploaded to verify.
pub(crate) async fn recent_attestations(_: Authed, Query(query): Query<BTreeMap<String, String>>) -> Response {
    match (
        bounded(&query, "skip", 0, 0, u64::MAX),
        bounded(&query, "limit", 20, 1, 100),
    ) {
        (Ok(_), Ok(_)) => axum::Json(json!([])).into_response(),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

/// A quote by checksum (`raw`, `view`, `collateral`; HEAD `raw`): none is
/// stored, as nothing has been uploaded to verify.
pub(crate) async fn quote_not_found(Authed { rid, .. }: Authed, Path(checksum): Path<String>) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "ERR-07-001",
        &format!("Quote {checksum} not found"),
        &rid,
    )
}

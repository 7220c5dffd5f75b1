//! What a CVM proves and runs: its attestation (TCB measurements whose
//! RTMR3 replays from the event log, which records the app id, the compose
//! hash of the app compose shown beside it and the instance id; the app's
//! certificate) and its composition (the containers of its compose); an
//! app's attestations (each of its CVMs') and their TCB evaluation.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha384};

use crate::deploy::{self, canonical_json, compose_hash, held_compose};
use crate::routes::apps::{app_not_found, find_app};
use crate::state::{Authed, Inner, Shared};

/// The event type dstack records its runtime events under.
const RUNTIME_EVENT: u32 = 0x0800_0001;

/// A measurement that stands for `what` (48 bytes, hex).
fn measurement(what: &str) -> String {
    hex::encode(Sha384::digest(what.as_bytes()))
}

/// The digest an event is extended into its register with: SHA-384 of its
/// type (4 bytes, little endian), `:`, its name, `:`, its payload.
pub(crate) fn event_digest(event_type: u32, event: &str, payload: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update(event_type.to_le_bytes());
    h.update(b":");
    h.update(event.as_bytes());
    h.update(b":");
    h.update(payload);
    h.finalize().into()
}

/// A register replayed from zero over `digests`: each extends it as
/// SHA-384(register || digest).
pub(crate) fn replay<'a>(digests: impl IntoIterator<Item = &'a [u8; 48]>) -> [u8; 48] {
    digests.into_iter().fold([0u8; 48], |register, digest| {
        let mut h = Sha384::new();
        h.update(register);
        h.update(digest);
        h.finalize().into()
    })
}

pub(crate) fn tcb_info(inner: &Inner, idx: usize, compose: &Map<String, Value>) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let hash = compose_hash(compose);
    let events = [
        ("system-preparing", String::new()),
        ("app-id", cvm.app_id.clone()),
        ("compose-hash", hash),
        ("instance-id", cvm.instance_id.clone()),
        ("boot-mr-done", String::new()),
        ("system-ready", String::new()),
    ];
    let digests: Vec<[u8; 48]> = events
        .iter()
        .map(|(event, payload)| event_digest(RUNTIME_EVENT, event, &hex::decode(payload).unwrap_or_default()))
        .collect();
    let log: Vec<Value> = events
        .iter()
        .zip(&digests)
        .map(|((event, payload), digest)| {
            json!({"imr": 3, "event_type": RUNTIME_EVENT, "digest": hex::encode(digest), "event": event,
                   "event_payload": payload})
        })
        .collect();
    json!({
        "mrtd": measurement("mrtd dstack-0.5.3"),
        "rootfs_hash": hex::encode(Sha256::digest(b"rootfs dstack-0.5.3")),
        "rtmr0": measurement("rtmr0 dstack-0.5.3"),
        "rtmr1": measurement("rtmr1 dstack-0.5.3"),
        "rtmr2": measurement("rtmr2 dstack-0.5.3"),
        "rtmr3": hex::encode(replay(&digests)),
        "event_log": log,
        "app_compose": canonical_json(compose),
    })
}

pub(crate) fn certificate(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let region = inner.fleet.nodes.get(cvm.node).map_or("us-west", |n| n.region.as_str());
    let domain = format!("{}.dstack-{region}.phala.network", cvm.app_id);
    let secs = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let fingerprint = hex::encode(Sha256::digest(format!(
        "certificate {} {}",
        cvm.app_id, cvm.instance_id
    )));
    json!({
        "subject": {"common_name": domain, "organization": "Dstack App", "country": null, "state": null, "locality": null},
        "issuer": {"common_name": "Dstack KMS CA", "organization": "Dstack", "country": null},
        "serial_number": fingerprint[..32].to_string(),
        "not_before": secs(cvm.created_at),
        "not_after": secs(cvm.created_at + chrono::Duration::days(365)),
        "version": "v3",
        "fingerprint": fingerprint,
        "signature_algorithm": "ecdsa-with-SHA256",
        "sans": [domain],
        "is_ca": false,
        "position_in_chain": 0,
        "quote": null,
        "app_id": cvm.app_id,
        "cert_usage": "app",
    })
}

/// `GET /cvms/{cvm_id}/attestation`: measured while it runs; an offline
/// CVM says so, with its compose and nothing measured.
pub(crate) fn attestation(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let compose = held_compose(&inner.deployments, &inner.fleet, idx);
    let online = cvm.status == "running";
    json!({
        "is_online": online,
        "is_public": true,
        "error": (!online).then(|| format!("CVM is {}", cvm.status)),
        "name": cvm.name,
        "app_certificates": online.then(|| vec![certificate(inner, idx)]),
        "tcb_info": online.then(|| tcb_info(inner, idx, &compose)),
        "compose_file": canonical_json(&compose),
    })
}

/// `GET /cvms/{cvm_id}/composition`: the compose the CVM holds and, while
/// it runs, one container per service, each with its log endpoint.
pub(crate) fn composition(inner: &Inner, idx: usize) -> Value {
    let cvm = &inner.fleet.cvms[idx];
    let compose = held_compose(&inner.deployments, &inner.fleet, idx);
    let file = compose
        .get("docker_compose_file")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let online = cvm.status == "running";
    let started = cvm.running_since.unwrap_or(cvm.created_at);
    let urls = inner.fleet.log_urls.as_ref();
    let containers: Vec<Value> = crate::logs::containers(&inner.deployments, &inner.fleet, idx)
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id,
                "names": [format!("/{}", c.name)],
                "image_id": format!("sha256:{}", hex::encode(Sha256::digest(c.image.as_bytes()))),
                "image": c.image,
                "command": null,
                "created": started.timestamp(),
                "state": "running",
                "status": "Up",
                "log_endpoint": urls.map(|u| u.container(idx, cvm, &c.name)),
            })
        })
        .collect();
    json!({
        "is_online": online,
        "is_public": true,
        "error": (!online).then(|| format!("CVM is {}", cvm.status)),
        "docker_compose_file": file,
        "manifest_version": compose.get("manifest_version").filter(|v| v.is_number()).cloned().unwrap_or(json!(2)),
        "version": "0.5.3",
        "runner": compose.get("runner").and_then(Value::as_str).unwrap_or("docker-compose"),
        "features": ["kms", "tproxy-net"],
        "containers": online.then_some(containers),
    })
}

/// `GET /apps/{app_id}/attestations/tcb-evaluation`: every CVM of the app
/// runs the current OS image on an up-to-date platform.
pub(crate) async fn tcb_evaluation(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    let (inner, _) = shared.now();
    let fleet = &inner.fleet;
    let Some((app, members)) = find_app(fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let instances: Vec<Value> = members
        .iter()
        .map(|&i| {
            let cvm = &fleet.cvms[i];
            let node_id = fleet.nodes[cvm.node].id;
            json!({
                "vm_uuid": cvm.vm_uuid, "name": cvm.name, "instance_id": cvm.instance_id, "status": cvm.status,
                "image_version": "dstack-0.5.3", "ppid": format!("{:032x}", node_id), "device_id": deploy::device_id(node_id),
                "evaluation_update": "early", "evaluation_ok": true, "evaluation_status": "UpToDate", "error": null,
            })
        })
        .collect();
    axum::Json(json!({"app_id": fleet.apps[app], "update": "early", "instances": instances})).into_response()
}

/// `GET /apps/{app_id}/attestations`: the app's KMS and each of its CVMs
/// as its own attestation shows it (measured while running).
pub(crate) async fn app_attestations(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(app_id): Path<String>,
) -> Response {
    let (inner, _) = shared.now();
    let fleet = &inner.fleet;
    let Some((app, members)) = find_app(fleet, &caller, &app_id) else {
        return app_not_found(&app_id, &rid);
    };
    let instances: Vec<Value> = members
        .iter()
        .map(|&i| {
            let cvm = &fleet.cvms[i];
            let node_id = fleet.nodes[cvm.node].id;
            let compose = deploy::held_compose(&inner.deployments, fleet, i);
            let online = cvm.status == "running";
            json!({
                "vm_uuid": cvm.vm_uuid, "name": cvm.name, "status": cvm.status, "instance_id": cvm.instance_id,
                "device_id": deploy::device_id(node_id), "ppid": format!("{node_id:032x}"),
                "image_version": "dstack-0.5.3", "compose_file": deploy::canonical_json(&compose), "quote": null,
                "app_certificates": online.then(|| vec![certificate(&inner, i)]),
                "tcb_info": online.then(|| tcb_info(&inner, i, &compose)),
                "error": (!online).then(|| format!("CVM is {}", cvm.status)),
            })
        })
        .collect();
    let region = members
        .first()
        .map_or("us-west", |&i| fleet.nodes[fleet.cvms[i].node].region.as_str());
    let kms = deploy::kms_info_json();
    axum::Json(json!({
        "app_id": fleet.apps[app],
        "contract_address": "",
        "kms_info": {
            "contract_address": "", "chain_id": null, "version": kms["version"], "url": kms["url"],
            "gateway_app_id": null, "gateway_app_url": format!("https://gateway.dstack-{region}.phala.network"),
            "kms_type": "phala",
        },
        "instances": instances,
        "kms_guest_agent_info": null,
        "gateway_guest_agent_info": null,
        "qemu_version": "8.2.2",
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_register_replays_from_zero() {
        let a = event_digest(RUNTIME_EVENT, "app-id", b"\x01");
        let once = replay([&a]);
        let mut h = Sha384::new();
        h.update([0u8; 48]);
        h.update(a);
        assert_eq!(once.as_slice(), h.finalize().as_slice());
        assert_ne!(replay([&a, &a]), once);
    }
}

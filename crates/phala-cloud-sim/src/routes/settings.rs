//! A CVM's settings: its size (`PATCH /cvms/{cvm_id}/resources`, Phala's
//! CLI `cvms resize`) and which of its logs and system information are
//! public (`PATCH /cvms/{cvm_id}/visibility`).

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::fleet::{Acted, Action};
use crate::routes::catalog::{MAX_DISK_GB, MAX_MEMORY_MB, MAX_VCPU};
use crate::state::{Authed, Located, OPERATION_IN_PROGRESS, Shared, api_error, locate_for, validation_error};

/// A resize the service refuses: a disk that would shrink, a size past
/// the limits, nothing asked.
const RESIZE_REFUSED: &str = "ERR-03-011";

/// A running CVM that resizing would restart, without `allow_restart`.
const RESTART_NOT_ALLOWED: &str = "ERR-03-012";

/// A JSON object body, or the 422 FastAPI answers for anything else.
fn object_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        validation_error(
            &["body"],
            &format!("JSON decode error: {e}"),
            "json_invalid",
            Value::Null,
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(validation_error(
            &["body"],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
            other,
        )),
    }
}

/// An optional integer field of at least 1 (`null` or absent: `None`).
fn positive(body: &Map<String, Value>, name: &str) -> Result<Option<i64>, Response> {
    let Some(value) = body.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    match value.as_i64() {
        Some(n) if n >= 1 => Ok(Some(n)),
        Some(_) => Err(validation_error(
            &["body", name],
            "Input should be greater than or equal to 1",
            "greater_than_equal",
            value.clone(),
        )),
        None => Err(validation_error(
            &["body", name],
            "Input should be a valid integer",
            "int_type",
            value.clone(),
        )),
    }
}

/// An optional boolean field as pydantic reads one: `true`/`false`, or the
/// integers 1 and 0 (Phala's CLI sends `allow_restart` as 1 or 0).
fn boolean_field(body: &Map<String, Value>, name: &str) -> Result<Option<bool>, Response> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(n) if n.as_u64() == Some(1) => Ok(Some(true)),
        Some(n) if n.as_u64() == Some(0) => Ok(Some(false)),
        Some(other) => Err(validation_error(
            &["body", name],
            "Input should be a valid boolean",
            "bool_type",
            other.clone(),
        )),
    }
}

/// A required boolean field: a 422 `missing` when absent.
fn required_boolean(body: &Map<String, Value>, name: &str) -> Result<bool, Response> {
    boolean_field(body, name)?.ok_or_else(|| {
        validation_error(
            &["body", name],
            "Field required",
            "missing",
            Value::Object(body.clone()),
        )
    })
}

/// What a resize asks for (`CvmResourcesRequest`).
struct Resize {
    vcpu: Option<i64>,
    memory: Option<i64>,
    disk_size: Option<i64>,
    instance_type: Option<String>,
    allow_restart: bool,
}

fn resize_request(body: &Bytes) -> Result<Resize, Response> {
    let map = object_body(body)?;
    let instance_type = match map.get("instance_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(validation_error(
                &["body", "instance_type"],
                "Input should be a valid string",
                "string_type",
                other.clone(),
            ));
        }
    };
    Ok(Resize {
        vcpu: positive(&map, "vcpu")?,
        memory: positive(&map, "memory")?,
        disk_size: positive(&map, "disk_size")?,
        instance_type,
        allow_restart: boolean_field(&map, "allow_restart")?.unwrap_or(false),
    })
}

/// `PATCH /cvms/{cvm_id}/resources`: the new size shows at once in the
/// CVM's detail and listings. A stopped CVM takes it at its next start; a
/// running one restarts to take it, only with `allow_restart` (else 400,
/// nothing changed). A disk only grows; each size stays within the limits
/// of `GET /teepods/available`. 200 with `{status, message,
/// correlation_id}`: `in_progress` and the restart's correlation id when
/// it restarts, `completed` otherwise; 409 while another operation runs.
pub(crate) async fn update_resources(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let request = match resize_request(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let Located {
        mut inner, now, idx, ..
    } = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let id = inner.fleet.cvms[idx].id.clone();
    inner.requested("resize", &id);
    let refuse = |msg: &str| api_error(StatusCode::BAD_REQUEST, RESIZE_REFUSED, msg, &rid);
    let (mut vcpu, mut memory) = (request.vcpu, request.memory);
    if let Some(name) = &request.instance_type {
        let Some(v) = crate::deploy::vcpus_of(name) else {
            let msg = format!("Unknown instance type {name}");
            return api_error(
                StatusCode::BAD_REQUEST,
                crate::codes::INSTANCE_TYPE_NOT_FOUND,
                &msg,
                &rid,
            );
        };
        vcpu = vcpu.or(Some(v));
        memory = memory.or(Some(2048 * v));
    }
    if vcpu.is_none() && memory.is_none() && request.disk_size.is_none() {
        return refuse("Nothing to resize: give vcpu, memory, disk_size or instance_type");
    }
    let cvm = &inner.fleet.cvms[idx];
    let now_size = (cvm.vcpu, cvm.memory_mb, cvm.disk_gb);
    let size = (
        vcpu.unwrap_or(cvm.vcpu),
        memory.unwrap_or(cvm.memory_mb),
        request.disk_size.unwrap_or(cvm.disk_gb),
    );
    for (asked, max, what) in [
        (size.0, MAX_VCPU, "vcpu"),
        (size.1, MAX_MEMORY_MB, "memory (MB)"),
        (size.2, MAX_DISK_GB, "disk_size (GB)"),
    ] {
        if asked > max {
            return refuse(&format!("{what} {asked} is over the limit of {max}"));
        }
    }
    if size.2 < now_size.2 {
        return refuse(&format!(
            "Disk size can only grow: the CVM has {} GB, {} GB asked",
            now_size.2, size.2
        ));
    }
    if cvm.operation.is_some() {
        return api_error(
            StatusCode::CONFLICT,
            OPERATION_IN_PROGRESS,
            "Another operation is already in progress on this CVM",
            &rid,
        );
    }
    let changed = size != now_size;
    let restart = changed && cvm.status == "running";
    if restart && !request.allow_restart {
        return api_error(
            StatusCode::BAD_REQUEST,
            RESTART_NOT_ALLOWED,
            "The CVM is running and a resize restarts it: send allow_restart to resize it now, or stop it first",
            &rid,
        );
    }
    if !changed {
        return axum::Json(json!({"status": "completed", "message": "Nothing to change", "correlation_id": null}))
            .into_response();
    }
    let cvm = &mut inner.fleet.cvms[idx];
    (cvm.vcpu, cvm.memory_mb, cvm.disk_gb) = size;
    let body = if restart {
        // Idle (checked above): the restart is applied.
        if inner
            .fleet
            .act(idx, Action::Restart { force: false }, now, shared.origin)
            == Acted::Applied
        {
            let restarting = inner.fleet.restarting();
            inner.stats.restarting_peak = inner.stats.restarting_peak.max(restarting);
        }
        let correlation = inner.fleet.cvms[idx].history.last().map(|r| r.correlation_id.clone());
        json!({"status": "in_progress", "message": "Resize applied; the CVM restarts to take it",
               "correlation_id": correlation})
    } else {
        json!({"status": "completed", "message": "Resize applied; the CVM takes it at its next start",
               "correlation_id": null})
    };
    inner.applied("resize", id, axum::Json(body).into_response())
}

/// `PATCH /cvms/{cvm_id}/visibility`: sets whether the CVM's logs and
/// system information (and, when given, its TCB information) are public;
/// answers the CVM's detail as `GET /cvms/{cvm_id}` does at that version.
pub(crate) async fn update_visibility(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(cvm_id): Path<String>,
    body: Bytes,
) -> Response {
    let parsed = object_body(&body).and_then(|map| {
        Ok((
            required_boolean(&map, "public_sysinfo")?,
            required_boolean(&map, "public_logs")?,
            boolean_field(&map, "public_tcbinfo")?,
        ))
    });
    let (sysinfo, logs, tcbinfo) = match parsed {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Located {
        mut inner, idx, caller, ..
    } = match locate_for(&shared, caller, &rid, &cvm_id) {
        Ok(at) => at,
        Err(r) => return r,
    };
    let visibility = &mut inner.fleet.cvms[idx].visibility;
    visibility.public_sysinfo = sysinfo;
    visibility.public_logs = logs;
    if let Some(tcb) = tcbinfo {
        visibility.public_tcbinfo = tcb;
    }
    axum::Json(inner.detail(idx, caller.cvminfo)).into_response()
}

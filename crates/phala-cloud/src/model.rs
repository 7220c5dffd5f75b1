//! Typed values as Phala really sends them: unknown fields kept, `null`
//! where the document says absent, integer ids from old versions, new status
//! strings, and both the flat and the nested operation forms.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::error::snippet;
use serde_json::{Map, Value};

/// A CVM status. The set is open: unknown values are kept in `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Status {
    /// Created, not yet scheduled.
    Pending,
    /// Booting.
    Starting,
    /// Up.
    Running,
    /// Shutting down.
    Stopping,
    /// Down.
    Stopped,
    /// Failed; no operation will leave it by itself.
    Error,
    /// A status this crate does not know yet.
    Other(String),
}

impl Status {
    /// The status as the API spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Pending => "pending",
            Status::Starting => "starting",
            Status::Running => "running",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Error => "error",
            Status::Other(s) => s,
        }
    }

    /// A state no operation will leave by itself.
    pub fn is_failed(&self) -> bool {
        matches!(self, Status::Error) || matches!(self, Status::Other(s) if s == "exited" || s == "offline")
    }
}

impl From<&str> for Status {
    fn from(s: &str) -> Self {
        match s {
            "pending" => Status::Pending,
            "starting" => Status::Starting,
            "running" => Status::Running,
            "stopping" => Status::Stopping,
            "stopped" => Status::Stopped,
            "error" => Status::Error,
            other => Status::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(Status::from(s.as_str()))
    }
}

/// `null` decodes as the default.
pub(crate) fn null_default<'de, D: Deserializer<'de>, T: Default + Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string or an integer (older API versions sent integer ids), as a string.
pub(crate) fn string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// A guest event (`boot.progress`, `shutdown.progress`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GuestEvent {
    #[serde(default, deserialize_with = "null_default")]
    /// Event name, e.g. `boot.progress`.
    pub event: String,
    #[serde(default, deserialize_with = "null_default")]
    /// Event payload.
    pub body: String,
    /// Milliseconds since the Unix epoch.
    #[serde(default, deserialize_with = "null_default")]
    pub timestamp: i64,
}

/// An operation in flight, from the nested `operation` object or the flat fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Operation {
    #[serde(rename = "type", default)]
    /// Operation kind, e.g. `stop`.
    pub kind: Option<String>,
    #[serde(default)]
    /// Phase within the operation, when the server reports one.
    pub phase: Option<String>,
    #[serde(default)]
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    #[serde(default)]
    /// Correlates the operation's log lines and events.
    pub correlation_id: Option<String>,
}

/// Resource usage, sent by newer servers; any field may be null.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ResourceUsage {
    /// CPU use in percent.
    pub cpu_percent: Option<f64>,
    /// Memory in use.
    pub memory_used_bytes: Option<u64>,
    /// Memory available to the CVM.
    pub memory_total_bytes: Option<u64>,
    /// Bytes sent out.
    pub egress_bytes: Option<u64>,
}

/// One entry of the batch status answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CvmStatus {
    #[serde(default, deserialize_with = "null_default")]
    /// The VM UUID this entry is about.
    pub vm_uuid: String,
    /// Platform status.
    pub status: Status,
    #[serde(default)]
    /// Uptime as the VMM formats it.
    pub uptime: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    /// An operation is still running, even if `status` already shows its target.
    pub in_progress: bool,
    #[serde(default)]
    /// Boot progress text.
    pub boot_progress: Option<String>,
    #[serde(default)]
    /// Why boot failed.
    pub boot_error: Option<String>,
    #[serde(default)]
    /// Shutdown progress text.
    pub shutdown_progress: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    /// The last guest events (the VMM keeps 20).
    pub events: Vec<GuestEvent>,
    #[serde(default)]
    /// The operation in flight, in the nested form of newer servers.
    pub operation: Option<Operation>,
    #[serde(default)]
    /// The operation in flight (flat form).
    pub operation_type: Option<String>,
    #[serde(default)]
    /// When the operation in flight started (flat form).
    pub operation_started_at: Option<String>,
    #[serde(default)]
    /// Correlation id of the operation in flight (flat form).
    pub correlation_id: Option<String>,
    #[serde(default)]
    /// Resource usage, from newer servers.
    pub resource_usage: Option<ResourceUsage>,
    /// Fields this version of the crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CvmStatus {
    /// The operation in flight, whichever form the server used.
    pub fn current_operation(&self) -> Option<Operation> {
        if let Some(op) = &self.operation {
            return Some(op.clone());
        }
        (self.operation_type.is_some() || self.correlation_id.is_some()).then(|| Operation {
            kind: self.operation_type.clone(),
            phase: None,
            started_at: self.operation_started_at.clone(),
            correlation_id: self.correlation_id.clone(),
        })
    }

    /// True when the CVM is at `target` and no operation is running.
    pub fn reached(&self, target: &Status) -> bool {
        &self.status == target && !self.in_progress
    }
}

/// The immediate state of one CVM (`GET /cvms/{id}/state`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CvmState {
    #[serde(default, deserialize_with = "string_or_int")]
    /// The hashed id; integer ids from old versions as text.
    pub id: Option<String>,
    #[serde(default)]
    /// CVM name.
    pub name: Option<String>,
    /// Platform status.
    pub status: Status,
    #[serde(default)]
    /// Status derived from the operation in flight.
    pub derived_status: Option<Status>,
    #[serde(default)]
    /// Instance id.
    pub instance_id: Option<String>,
    #[serde(default)]
    /// Uptime as the VMM formats it.
    pub uptime: Option<String>,
    #[serde(default)]
    /// When it last exited.
    pub exited_at: Option<String>,
    #[serde(default)]
    /// Boot progress text.
    pub boot_progress: Option<String>,
    #[serde(default)]
    /// Why boot failed.
    pub boot_error: Option<String>,
    #[serde(default)]
    /// Shutdown progress text.
    pub shutdown_progress: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    /// An operation is still running (when the server says).
    pub in_progress: bool,
    #[serde(flatten)]
    /// Fields this version of the crate does not know.
    pub extra: Map<String, Value>,
}

/// The batch status answer: vm_uuid to status.
pub type StatusMap = BTreeMap<String, CvmStatus>;

/// One CVM from either list shape (`HostedCvm` before 2026-01-21, `CVMInfo` after).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Cvm {
    /// The hashed id (`cvm_...`) when the shape carries it; integers from old versions as text.
    pub id: Option<String>,
    /// The VM UUID (what batch status takes).
    pub vm_uuid: Option<String>,
    /// CVM name.
    pub name: String,
    /// The app it is a replica of.
    pub app_id: Option<String>,
    /// Platform status.
    pub status: Status,
    /// An operation is still running.
    pub in_progress: bool,
    /// Node name.
    pub node: Option<String>,
    /// Virtual CPUs.
    pub vcpu: Option<i64>,
    /// Memory in MiB.
    pub memory_mb: Option<i64>,
    /// The item exactly as the server sent it, kept as text: a parsed copy
    /// of every item would cost several times the answer's size. Parse it
    /// with [`Cvm::raw_value`] or `serde_json::from_str(cvm.raw.get())`.
    pub raw: Box<RawValue>,
}

impl PartialEq for Cvm {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.id,
            &self.vm_uuid,
            &self.name,
            &self.app_id,
            &self.status,
            self.in_progress,
            &self.node,
            self.vcpu,
            self.memory_mb,
            self.raw.get(),
        ) == (
            &other.id,
            &other.vm_uuid,
            &other.name,
            &other.app_id,
            &other.status,
            other.in_progress,
            &other.node,
            other.vcpu,
            other.memory_mb,
            other.raw.get(),
        )
    }
}

/// The fields of a list item that [`Cvm`] reads, from either shape; any
/// JSON type is accepted for each, and everything else is skipped unparsed.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ListItem {
    id: Value,
    vm_uuid: Value,
    name: Value,
    app_id: Value,
    status: Value,
    in_progress: Value,
    hosted: Value,
    node: Value,
    node_info: Value,
    vcpu: Value,
    memory: Value,
    resource: Value,
}

impl Cvm {
    /// Reads an item of either shape, keeping its text. Fails only when the
    /// item is not a JSON object (or repeats a field this type reads).
    pub fn from_raw(raw: Box<RawValue>) -> Result<Self, serde_json::Error> {
        let item: ListItem = serde_json::from_str(raw.get())?;
        Ok(Self::from_item(item, raw))
    }

    /// Reads an item of either shape from a parsed value.
    pub fn from_value(value: Value) -> Self {
        let raw = serde_json::value::to_raw_value(&value).unwrap_or_default();
        let item = serde_json::from_value(value).unwrap_or_default();
        Self::from_item(item, raw)
    }

    /// Decodes a list answer (`GET /cvms`, `GET /apps/{id}/cvms`) of either
    /// shape. Each item is read for its fields and kept as text, never parsed
    /// whole, so memory stays near the answer's size.
    pub fn decode_list(body: &[u8]) -> Result<Vec<Cvm>, crate::Error> {
        Self::decode_list_answer(200, body)
    }

    pub(crate) fn decode_list_answer(status: u16, body: &[u8]) -> Result<Vec<Cvm>, crate::Error> {
        let fail = |message: String| crate::Error::decode(status, message, body);
        let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| fail(e.to_string()))?;
        items
            .into_iter()
            .map(|item| {
                if !item.get().starts_with('{') {
                    let item = snippet(item.get().as_bytes());
                    return Err(fail(format!("list item is not an object: {item}")));
                }
                Cvm::from_raw(item.to_owned()).map_err(|e| fail(format!("list item: {e}")))
            })
            .collect()
    }

    /// The raw item parsed.
    pub fn raw_value(&self) -> Value {
        serde_json::from_str(self.raw.get()).unwrap_or(Value::Null)
    }

    fn from_item(item: ListItem, raw: Box<RawValue>) -> Self {
        let s = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let i = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
        let in_progress = item.in_progress.as_bool().unwrap_or(false);
        if let hosted @ Value::Object(_) = &item.hosted {
            Cvm {
                id: s(&item.id),
                vm_uuid: s(&hosted["id"]),
                name: s(&item.name).or_else(|| s(&hosted["name"])).unwrap_or_default(),
                app_id: s(&hosted["app_id"]),
                status: Status::from(item.status.as_str().or(hosted["status"].as_str()).unwrap_or_default()),
                in_progress,
                node: item.node["name"].as_str().map(str::to_string),
                vcpu: i(&item.vcpu),
                memory_mb: i(&item.memory),
                raw,
            }
        } else {
            Cvm {
                id: s(&item.id),
                vm_uuid: s(&item.vm_uuid),
                name: s(&item.name).unwrap_or_default(),
                app_id: s(&item.app_id),
                status: Status::from(item.status.as_str().unwrap_or_default()),
                in_progress,
                node: item.node_info["name"].as_str().map(str::to_string),
                vcpu: i(&item.resource["vcpu"]),
                memory_mb: item.resource["memory_in_gb"]
                    .as_f64()
                    .map(|g| (g * 1024.0).round() as i64),
                raw,
            }
        }
    }
}

/// One failed entry of a stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StopError {
    /// The hashed CVM id.
    pub cvm_id: String,
    /// Why it failed.
    pub error: String,
}

/// What `stop_many` did with every id it was given.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct StopReport {
    /// Ids requested (after removing duplicates).
    pub total: usize,
    /// Scheduled for stop.
    pub stopped: usize,
    /// Already stopping/stopped, in progress, or managed elsewhere.
    pub skipped: usize,
    /// Per-id errors the server reported.
    pub errors: Vec<StopError>,
    /// Ids whose chunk failed as a whole, with why.
    pub failed: Vec<StopError>,
    /// Requests sent.
    pub requests: usize,
    /// Stops sent again for CVMs that were skipped while busy (`stop_and_wait`).
    pub resent: usize,
}

impl StopReport {
    /// Every id is accounted for exactly once.
    pub fn is_consistent(&self) -> bool {
        self.stopped + self.skipped + self.errors.len() + self.failed.len() == self.total
    }

    /// Nothing failed.
    pub fn is_complete_success(&self) -> bool {
        self.errors.is_empty() && self.failed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_decodes_real_world_payloads() {
        let s: CvmStatus = serde_json::from_value(json!({
            "vm_uuid": "u", "status": "hibernating", "in_progress": null, "events": null, "brand_new": 1,
            "operation": {"type": "stop", "phase": "draining", "started_at": "2026-01-01T00:00:00Z", "correlation_id": "c"},
            "resource_usage": {"cpu_percent": 12.5, "memory_used_bytes": null, "memory_total_bytes": 1024, "egress_bytes": null}
        }))
        .unwrap();
        assert_eq!(s.status, Status::Other("hibernating".into()));
        assert!(!s.in_progress && s.events.is_empty());
        assert_eq!(s.extra["brand_new"], 1);
        assert_eq!(s.current_operation().unwrap().phase.as_deref(), Some("draining"));
        assert_eq!(s.resource_usage.unwrap().cpu_percent, Some(12.5));
        let flat: CvmStatus = serde_json::from_value(
            json!({"vm_uuid": "u", "status": "stopping", "operation_type": "stop", "correlation_id": "c"}),
        )
        .unwrap();
        assert_eq!(flat.current_operation().unwrap().kind.as_deref(), Some("stop"));
    }

    #[test]
    fn cvm_reads_both_shapes_and_integer_ids() {
        let hosted = Cvm::from_value(
            json!({"id": 42, "hosted": {"id": "uuid-1", "app_id": "ab", "status": "running", "name": "w"}, "name": "w", "status": "running", "node": {"name": "n1"}, "vcpu": 2}),
        );
        assert_eq!(
            (hosted.id.as_deref(), hosted.vm_uuid.as_deref(), hosted.node.as_deref()),
            (Some("42"), Some("uuid-1"), Some("n1"))
        );
        let info = Cvm::from_value(
            json!({"id": "cvm_1", "vm_uuid": "uuid-2", "name": "x", "status": "stopped", "in_progress": true, "resource": {"vcpu": 4, "memory_in_gb": 2.0}}),
        );
        assert_eq!(
            (
                info.id.as_deref(),
                info.status.clone(),
                info.in_progress,
                info.memory_mb
            ),
            (Some("cvm_1"), Status::Stopped, true, Some(2048))
        );
    }
}

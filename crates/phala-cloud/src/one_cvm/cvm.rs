//! One CVM, whatever shape the pinned API version lists it in: a view over
//! the generated `HostedCvm` (before 2026-01-21) and `CvmInfo` (from then
//! on). The generated value is kept whole, so every field the document has
//! (and every unknown one, in `extra`) stays reachable.

use serde::Serialize;

use crate::Status;
use crate::raw::types::{
    CvmBasicInfo, CvmInfo, CvmInfoDetail, GetAppCvmsResponseItem, GetCvmResponse, HostedCvm, ListCvmsResponseItem,
};

/// One CVM from either list shape. The accessors read the fields both
/// shapes have; match on the variants for the rest.
///
/// The variants hold the generated items by value, as the generated answer
/// does: a list converts in place, where boxing every item would keep the
/// answer's buffer and a copy of every item alive at once (bench scenario 4).
/// So the two sizes differ as the generated records do (1560 and 1800 bytes
/// since the evidence added `app_url`, `runner`, ... to `CVMInfo`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
#[allow(clippy::large_enum_variant)]
pub enum Cvm {
    /// The `HostedCvm` shape (API versions before 2026-01-21).
    Hosted(HostedCvm),
    /// The `CVMInfo` shape (API versions from 2026-01-21).
    Info(CvmInfo),
}

/// An integer or a string from a JSON value, as text.
fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Cvm {
    /// The items of a `GET /cvms` answer, in order.
    pub fn from_list(answer: Vec<ListCvmsResponseItem>) -> Vec<Cvm> {
        answer
            .into_iter()
            .map(|item| match item {
                ListCvmsResponseItem::HostedCvm(c) => Cvm::Hosted(c),
                ListCvmsResponseItem::CvmInfo(c) => Cvm::Info(c),
            })
            .collect()
    }

    /// The items of a `GET /apps/{app_id}/cvms` answer, in order.
    pub fn from_app_list(answer: Vec<GetAppCvmsResponseItem>) -> Vec<Cvm> {
        answer
            .into_iter()
            .map(|item| match item {
                GetAppCvmsResponseItem::HostedCvm(c) => Cvm::Hosted(c),
                GetAppCvmsResponseItem::CvmInfo(c) => Cvm::Info(c),
            })
            .collect()
    }

    /// The hashed id (`cvm_...`), what batch stop takes. The `HostedCvm`
    /// shape does not document it; servers that send it anyway are read.
    /// Integer ids of older versions come as text.
    pub fn id(&self) -> Option<String> {
        match self {
            Cvm::Hosted(c) => c.extra.get("id").and_then(text),
            Cvm::Info(c) => Some(c.id.to_text()),
        }
    }

    /// The VM UUID, what batch status takes.
    pub fn vm_uuid(&self) -> Option<&str> {
        match self {
            Cvm::Hosted(c) => Some(&c.hosted.id),
            Cvm::Info(c) => c.vm_uuid.as_deref(),
        }
    }

    /// The CVM's name.
    pub fn name(&self) -> &str {
        match self {
            Cvm::Hosted(c) => &c.name,
            Cvm::Info(c) => &c.name,
        }
    }

    /// The instance id, once the CVM has one.
    pub fn instance_id(&self) -> Option<&str> {
        match self {
            Cvm::Hosted(c) => c.hosted.instance_id.as_deref(),
            Cvm::Info(c) => c.instance_id.as_deref(),
        }
    }

    /// The app it is a replica of.
    pub fn app_id(&self) -> Option<&str> {
        match self {
            Cvm::Hosted(c) => Some(&c.hosted.app_id),
            Cvm::Info(c) => c.app_id.as_deref(),
        }
    }

    /// Platform status.
    pub fn status(&self) -> &Status {
        match self {
            Cvm::Hosted(c) => &c.status,
            Cvm::Info(c) => &c.status,
        }
    }

    /// An operation is still running.
    pub fn in_progress(&self) -> bool {
        match self {
            Cvm::Hosted(c) => c.in_progress.unwrap_or(false),
            Cvm::Info(c) => c.in_progress.unwrap_or(false),
        }
    }

    /// The node's name.
    pub fn node(&self) -> Option<&str> {
        match self {
            Cvm::Hosted(c) => c.node.as_ref().map(|n| n.name.as_str()),
            Cvm::Info(c) => c.node_info.as_ref().and_then(|n| n.name.as_deref()),
        }
    }

    /// Virtual CPUs.
    pub fn vcpu(&self) -> Option<i64> {
        match self {
            Cvm::Hosted(c) => c.vcpu,
            Cvm::Info(c) => c.resource.vcpu,
        }
    }

    /// Memory in MiB.
    pub fn memory_mb(&self) -> Option<i64> {
        match self {
            Cvm::Hosted(c) => c.memory,
            Cvm::Info(c) => c.resource.memory_in_gb.map(|g| (g * 1024.0).round() as i64),
        }
    }
}

/// One CVM's details (`GET /cvms/{cvm_id}`), whatever shape the pinned API
/// version answers: a view over the generated `CvmBasicInfo` (before
/// 2026-01-21) and `CvmInfoDetail` (from then on), kept whole (boxed: one
/// value, and the two differ in size by more than 1 KiB).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum CvmDetails {
    /// The flat shape of API versions before 2026-01-21 (integer `id`).
    Basic(Box<CvmBasicInfo>),
    /// The `CVMInfoDetail` shape of API versions from 2026-01-21.
    Detail(Box<CvmInfoDetail>),
}

impl From<GetCvmResponse> for CvmDetails {
    fn from(answer: GetCvmResponse) -> Self {
        match answer {
            GetCvmResponse::BasicInfo(c) => CvmDetails::Basic(Box::new(c)),
            GetCvmResponse::InfoDetail(c) => CvmDetails::Detail(Box::new(c)),
        }
    }
}

impl CvmDetails {
    /// The id: hashed (`cvm_...`) from 2026-01-21, the internal integer before.
    pub fn id(&self) -> String {
        match self {
            CvmDetails::Basic(c) => c.id.to_string(),
            CvmDetails::Detail(c) => c.id.clone(),
        }
    }

    /// The VM UUID, what batch status takes.
    pub fn vm_uuid(&self) -> Option<&str> {
        match self {
            CvmDetails::Basic(c) => c.vm_uuid.as_deref(),
            CvmDetails::Detail(c) => c.vm_uuid.as_deref(),
        }
    }

    /// The CVM's name.
    pub fn name(&self) -> &str {
        match self {
            CvmDetails::Basic(c) => &c.name,
            CvmDetails::Detail(c) => &c.name,
        }
    }

    /// The app it is a replica of.
    pub fn app_id(&self) -> Option<&str> {
        match self {
            CvmDetails::Basic(c) => Some(&c.app_id),
            CvmDetails::Detail(c) => c.app_id.as_deref(),
        }
    }

    /// Platform status.
    pub fn status(&self) -> &Status {
        match self {
            CvmDetails::Basic(c) => &c.status,
            CvmDetails::Detail(c) => &c.status,
        }
    }

    /// An operation is still running.
    pub fn in_progress(&self) -> bool {
        match self {
            CvmDetails::Basic(c) => c.in_progress.unwrap_or(false),
            CvmDetails::Detail(c) => c.in_progress.unwrap_or(false),
        }
    }

    /// The public instance id.
    pub fn instance_id(&self) -> Option<&str> {
        match self {
            CvmDetails::Basic(c) => c.instance_id.as_deref(),
            CvmDetails::Detail(c) => c.instance_id.as_deref(),
        }
    }

    /// The node's name.
    pub fn node(&self) -> Option<&str> {
        match self {
            CvmDetails::Basic(c) => c.teepod.as_ref().map(|n| n.name.as_str()),
            CvmDetails::Detail(c) => c.node_info.as_ref().and_then(|n| n.name.as_deref()),
        }
    }

    /// Virtual CPUs.
    pub fn vcpu(&self) -> Option<i64> {
        match self {
            CvmDetails::Basic(c) => Some(c.vcpu),
            CvmDetails::Detail(c) => c.resource.vcpu,
        }
    }

    /// Memory in MiB.
    pub fn memory_mb(&self) -> Option<i64> {
        match self {
            CvmDetails::Basic(c) => Some(c.memory),
            CvmDetails::Detail(c) => c.resource.memory_in_gb.map(|g| (g * 1024.0).round() as i64),
        }
    }

    /// The dstack gateway's domain (`host` or `host:port`) its app is
    /// reached through: `gateway_domain` before 2026-01-21,
    /// `gateway.base_domain` after.
    pub fn gateway_domain(&self) -> Option<&str> {
        match self {
            CvmDetails::Basic(c) => c.gateway_domain.as_deref(),
            CvmDetails::Detail(c) => c.gateway.base_domain.as_deref(),
        }
        .filter(|d| !d.trim().is_empty())
    }

    /// Whether it runs a dev OS image (the ones with an SSH daemon), when
    /// the answer says.
    pub fn is_dev_os(&self) -> Option<bool> {
        match self {
            CvmDetails::Basic(c) => c.base_image.as_deref().map(|i| i.contains("dev")),
            CvmDetails::Detail(c) => c.os.as_ref().and_then(|o| o.is_dev),
        }
    }
}

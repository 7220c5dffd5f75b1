//! What the simulator keeps beside the fleet for the rarer writes: the
//! users' SSH keys, the settings a CVM was given after it was created (kept
//! apart so a fleet of 100,000 CVMs pays nothing for them), and the device
//! codes of a login in progress.

use std::collections::HashMap;

/// A registered SSH key (`SshKeyResponse`).
#[derive(Debug, Clone)]
pub(crate) struct SshKey {
    pub id: String,
    /// The index of its user in `fleet.users`.
    pub user: usize,
    pub name: String,
    pub public_key: String,
    pub fingerprint: String,
    pub key_type: String,
    /// `manual` or `github`.
    pub source: &'static str,
    /// The GitHub user it was imported from.
    pub github_user: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub last_synced_at: Option<String>,
}

/// A port of the CVM published on its node (`PortMappingResponse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Port {
    pub id: String,
    pub host_port: i64,
    pub vm_port: i64,
    pub protocol: String,
}

/// What a CVM was set to after its creation; absent: the defaults.
#[derive(Debug, Clone, Default)]
pub(crate) struct CvmSettings {
    pub listed: bool,
    pub scheduled_delete_at: Option<String>,
    pub ports: Vec<Port>,
    pub kms_urls: Option<Vec<String>>,
    pub gateway_urls: Option<Vec<String>>,
}

/// A device login waiting for its token (RFC 8628).
#[derive(Debug, Clone)]
pub(crate) struct DeviceLogin {
    /// The key the login hands out: the caller stands for a user who approved.
    pub api_key: String,
    pub expires_at: tokio::time::Instant,
}

/// The records, behind the simulator's one lock.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub ssh_keys: Vec<SshKey>,
    pub next_ssh_key: u64,
    pub settings: HashMap<usize, CvmSettings>,
    pub next_port: u64,
    pub device_logins: HashMap<String, DeviceLogin>,
    pub next_device: u64,
}

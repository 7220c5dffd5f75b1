//! Deploying, the server's side: provision (the compose completed with the
//! document's defaults, cached and hashed the dstack way; an app id; the
//! app's env key signed by the simulated KMS), commit (the env opened with
//! the app's private key, as the CVM would), the KMS answers, and the
//! compose a CVM holds. Written apart from the client's code, so a bug
//! there is not mirrored here.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use k256::ecdsa::SigningKey;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sha3::Keccak256;
use x25519_dalek::{PublicKey, StaticSecret};

/// The simulated KMS: its signer, and the env keys of the apps it serves.
pub(crate) struct Kms {
    signer: SigningKey,
    /// Another KMS's signer, for the `foreign_kms_signer` fault.
    stranger: SigningKey,
    seed: [u8; 32],
}

impl std::fmt::Debug for Kms {
    /// Its keys are secrets, even simulated ones.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kms { .. }")
    }
}

/// The KMS id (and slug) provision answers with.
pub(crate) const KMS_ID: &str = "kms_phalaprod";
pub(crate) const KMS_SLUG: &str = "phala-prod";

fn derive(seed: &[u8], label: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(label.as_bytes());
    h.finalize().into()
}

fn signing_key(seed: &[u8], label: &str) -> SigningKey {
    // A SHA-256 output is a valid scalar but for a 2^-128 chance; try the next.
    (0u32..)
        .find_map(|n| SigningKey::from_bytes(&derive(seed, &format!("{label}{n}")).into()).ok())
        .unwrap_or_else(|| unreachable!("some derived scalar is valid"))
}

impl Kms {
    pub fn new(seed: u64) -> Self {
        let seed = derive(&seed.to_be_bytes(), "phala-cloud-sim kms");
        Self {
            signer: signing_key(&seed, "signer"),
            stranger: signing_key(&seed, "stranger"),
            seed,
        }
    }

    /// The signer's compressed public key, `0x` hex (as `k256_pubkey`).
    pub fn signer_hex(&self) -> String {
        format!(
            "0x{}",
            hex::encode(self.signer.verifying_key().to_encoded_point(true).as_bytes())
        )
    }

    /// The app's env private key: only the "CVM" (this module) holds it.
    fn env_secret(&self, app_id: &str) -> StaticSecret {
        StaticSecret::from(derive(&self.seed, &format!("env {app_id}")))
    }

    pub fn env_public_hex(&self, app_id: &str) -> String {
        hex::encode(PublicKey::from(&self.env_secret(app_id)).as_bytes())
    }

    /// `{public_key, signature, timestamp}`, the timestamped (v1) form,
    /// signed now (real time: the client checks its age against its clock).
    pub fn pubkey_answer(&self, app_id: &str, foreign: bool) -> Result<Value, String> {
        let app =
            hex::decode(app_id.strip_prefix("0x").unwrap_or(app_id)).map_err(|_| "app_id is not hex".to_string())?;
        let public = PublicKey::from(&self.env_secret(app_id));
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut message = b"dstack-env-encrypt-pubkey:".to_vec();
        message.extend_from_slice(&app);
        message.extend_from_slice(&timestamp.to_be_bytes());
        message.extend_from_slice(public.as_bytes());
        let key = if foreign { &self.stranger } else { &self.signer };
        let (sig, recovery) = key
            .sign_digest_recoverable(Keccak256::new_with_prefix(&message))
            .map_err(|e| e.to_string())?;
        let mut bytes = sig.to_bytes().to_vec();
        bytes.push(recovery.to_byte());
        Ok(
            json!({"public_key": hex::encode(public.as_bytes()), "signature": hex::encode(bytes), "timestamp": timestamp}),
        )
    }

    /// Opens a sealed env as the CVM does: `{"env":[{"key","value"}]}`.
    pub fn open_env(&self, app_id: &str, sealed_hex: &str) -> Result<Vec<(String, String)>, String> {
        let bytes = hex::decode(sealed_hex.strip_prefix("0x").unwrap_or(sealed_hex)).map_err(|_| "not hex")?;
        if bytes.len() < 32 + 12 + 16 {
            return Err("shorter than a key, a nonce and a tag".into());
        }
        let (ephemeral, rest) = bytes.split_at(32);
        let (nonce, ciphertext) = rest.split_at(12);
        let mut peer = [0u8; 32];
        peer.copy_from_slice(ephemeral);
        let shared = self.env_secret(app_id).diffie_hellman(&PublicKey::from(peer));
        let plain = Aes256Gcm::new_from_slice(shared.as_bytes())
            .map_err(|_| "bad key")?
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| "it does not open with the app's env key")?;
        let doc: Value = serde_json::from_slice(&plain).map_err(|_| "the plaintext is not JSON")?;
        doc["env"]
            .as_array()
            .ok_or("the plaintext has no `env` list")?
            .iter()
            .map(|e| match (e["key"].as_str(), e["value"].as_str()) {
                (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
                _ => Err("an env entry is not {key, value}".to_string()),
            })
            .collect()
    }
}

/// dstack's compose hash: SHA-256 of [`canonical_json`].
pub(crate) fn compose_hash(compose: &Map<String, Value>) -> String {
    hex::encode(Sha256::digest(canonical_json(compose).as_bytes()))
}

/// The JSON dstack hashes: keys sorted recursively, no whitespace.
pub(crate) fn canonical_json(compose: &Map<String, Value>) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut text = String::new();
    canonical(&Value::Object(compose.clone()), &mut text);
    text
}

/// A provision waiting for its commit.
#[derive(Debug, Clone)]
pub(crate) struct Provisioned {
    pub compose: Map<String, Value>,
    pub name: String,
    pub vcpu: i64,
    pub instance_type: String,
    pub workspace: usize,
    /// The node asked for (by id or region), else the first.
    pub node: usize,
    /// The disk size asked for, in GB.
    pub disk_gb: Option<i64>,
    /// The app's KMS is on chain: updates need their hash registered.
    pub on_chain: bool,
    /// The CVM its commit created, once committed (a commit is idempotent).
    pub committed: Option<usize>,
}

/// What a deployed CVM holds: its compose, and its env as the CVM opened it.
#[derive(Debug, Clone)]
pub(crate) struct Deployed {
    pub compose: Map<String, Value>,
    pub env: Vec<(String, String)>,
    /// Compose hashes the app's on-chain KMS allows; `None` for an app
    /// whose KMS is not on chain.
    pub on_chain: Option<Vec<String>>,
}

/// A revision of an app: the compose one of its CVMs was deployed or
/// updated with.
#[derive(Debug, Clone)]
pub(crate) struct Revision {
    pub id: String,
    pub app_id: String,
    pub idx: usize,
    pub compose: Map<String, Value>,
    pub compose_hash: String,
    pub operation: &'static str,
    pub created_at: String,
}

/// An update waiting for its hash to be registered on chain.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommit {
    pub idx: usize,
    pub compose_hash: String,
    pub compose: Map<String, Value>,
    pub env: Vec<(String, String)>,
}

/// A new CVM of an app waiting for its commit token (a prepare-only
/// request, or a compose hash its on-chain KMS must allow first).
#[derive(Debug, Clone)]
pub(crate) struct PendingReplica {
    pub source: usize,
    pub node: usize,
    pub compose_hash: String,
    pub compose: Map<String, Value>,
    pub env: Vec<(String, String)>,
}

/// Provisions by (app id, compose hash), and what each deployed CVM holds.
#[derive(Default)]
pub(crate) struct Deployments {
    pub provisions: HashMap<(String, String), Provisioned>,
    pub deployed: HashMap<usize, Deployed>,
    /// Composes provisioned for an update of a CVM, by compose hash.
    pub updates: HashMap<(usize, String), Map<String, Value>>,
    /// Updates waiting for on-chain registration, by one-time commit token.
    pub pending_commits: HashMap<String, PendingCommit>,
    /// Replicas waiting for their commit, by one-time commit token.
    pub pending_replicas: HashMap<String, PendingReplica>,
    /// Every revision, oldest first.
    pub revisions: Vec<Revision>,
    pub next_app: u64,
}

impl Deployments {
    /// The env CVM `idx` holds (none for a generated CVM never updated):
    /// what an update keeps when it brings no new one.
    pub fn kept_env(&self, idx: usize) -> Vec<(String, String)> {
        self.deployed.get(&idx).map(|d| d.env.clone()).unwrap_or_default()
    }
}

/// The simulated instance types (all of the `cpu` family): name, vCPUs,
/// hourly rate in USD. Memory is 2 GiB a vCPU, disk 40 GB by default.
pub(crate) const INSTANCE_TYPES: [(&str, i64, &str); 4] = [
    ("tdx.small", 1, "0.058"),
    ("tdx.medium", 2, "0.116"),
    ("tdx.large", 4, "0.232"),
    ("tdx.xlarge", 8, "0.464"),
];

/// The vCPUs of a simulated instance type.
pub(crate) fn vcpus_of(instance_type: &str) -> Option<i64> {
    INSTANCE_TYPES
        .iter()
        .find(|(name, _, _)| *name == instance_type)
        .map(|&(_, vcpu, _)| vcpu)
}

/// The simulated OS images: name, version, development build.
pub(crate) const OS_IMAGES: [(&str, [u8; 3], bool); 3] = [
    ("dstack-0.5.3", [0, 5, 3], false),
    ("dstack-dev-0.5.3", [0, 5, 3], true),
    ("dstack-0.4.2", [0, 4, 2], false),
];

/// The measurement of an OS image, as a provision reports it.
pub(crate) fn os_image_hash(name: &str) -> String {
    hex::encode(Sha256::digest(name.as_bytes()))
}

/// The device id of the simulated node with id `node_id`.
pub(crate) fn device_id(node_id: i64) -> String {
    hex::encode(Sha256::digest(format!("device {node_id}")))
}

/// A CVM name as the service accepts it: 5-63 characters, a letter first,
/// then letters, digits and hyphens.
pub(crate) fn valid_name(name: &str) -> bool {
    (5..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The KMS a provision names, as the CVM detail and the 465 carry it.
pub(crate) fn kms_info_json() -> Value {
    json!({"id": KMS_ID, "slug": KMS_SLUG, "url": "https://kms.phala.network", "version": "0.5.3",
           "chain_id": null, "kms_contract_address": null, "gateway_app_id": null})
}

/// Whether `kms_id` (an id or a slug) names the simulated KMS.
pub(crate) fn known_kms(kms_id: &str) -> bool {
    kms_id == KMS_ID || kms_id == KMS_SLUG
}

/// The compose a CVM holds: what it was deployed or updated with, or for the
/// generated fleet one like it would have been deployed with.
pub(crate) fn held_compose(deployments: &Deployments, fleet: &crate::fleet::Fleet, idx: usize) -> Map<String, Value> {
    if let Some(d) = deployments.deployed.get(&idx) {
        return d.compose.clone();
    }
    let cvm = &fleet.cvms[idx];
    let file = format!("services:\n  app:\n    image: ghcr.io/example/{}:latest\n", cvm.name);
    stored_compose(json!({"name": cvm.name, "docker_compose_file": file})).unwrap_or_default()
}

/// An app compose as the service stores it: read as the document's
/// `AppComposeV2`, its defaults filled in; `None` when it is not one.
pub(crate) fn stored_compose(compose: Value) -> Option<Map<String, Value>> {
    match serde_json::from_value::<phala_cloud_api::types::AppComposeV2>(compose).map(serde_json::to_value) {
        Ok(Ok(Value::Object(map))) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_of_sorted_compact_json() {
        let compose = json!({"runner": "bash", "b": {"z": 1, "a": "é"}})
            .as_object()
            .unwrap()
            .clone();
        let expected = hex::encode(Sha256::digest(r#"{"b":{"a":"é","z":1},"runner":"bash"}"#.as_bytes()));
        assert_eq!(compose_hash(&compose), expected);
    }

    #[test]
    fn names_follow_the_service_rule() {
        assert!(valid_name("web-app1"));
        for bad in ["web", "1webapp", "web_app", &"a".repeat(64)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

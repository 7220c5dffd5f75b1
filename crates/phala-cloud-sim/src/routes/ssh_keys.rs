//! The user's SSH keys (`/user/ssh-keys`): added by hand (checked as
//! OpenSSH checks a public key line), imported from a GitHub profile or
//! synced with it. The simulator has no GitHub: a profile's keys are
//! derived from the user name, so an import answers the same keys every
//! time. The CVMs' `user_config` lists the keys of the user who owns them.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::records::SshKey;
use crate::routes::account::user_of;
use crate::state::{Authed, Inner, Shared, api_error, body_of, validation_error};

/// A key the service refuses: not an OpenSSH public key line, or one the user has.
const KEY_REFUSED: &str = "ERR-07-001";

/// The key types OpenSSH writes, and what the service calls each.
const KEY_TYPES: [(&str, &str); 7] = [
    ("ssh-ed25519", "ed25519"),
    ("ssh-rsa", "rsa"),
    ("ecdsa-sha2-nistp256", "ecdsa"),
    ("ecdsa-sha2-nistp384", "ecdsa"),
    ("ecdsa-sha2-nistp521", "ecdsa"),
    ("sk-ssh-ed25519@openssh.com", "ed25519-sk"),
    ("sk-ecdsa-sha2-nistp256@openssh.com", "ecdsa-sk"),
];

/// Keys a GitHub profile holds in the simulator.
const KEYS_PER_PROFILE: usize = 2;

fn key_json(inner: &Inner, key: &SshKey) -> Value {
    json!({
        "id": key.id,
        "user_id": inner.fleet.users[key.user].id,
        "name": key.name,
        "public_key": key.public_key,
        "fingerprint": key.fingerprint,
        "key_type": key.key_type,
        "source": key.source,
        "key_metadata": key.github_user.as_ref().map(|u| json!({"github_username": u})),
        "last_synced_at": key.last_synced_at,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
    })
}

/// A public key line's type (the service's name for it) and SHA-256
/// fingerprint, as `ssh-keygen -l` prints it; `Err` says why it is not one.
pub(crate) fn parse_public_key(line: &str) -> Result<(String, String), String> {
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err("a public key is `TYPE BASE64 [COMMENT]`".into());
    };
    let Some((_, name)) = KEY_TYPES.iter().find(|(t, _)| *t == kind) else {
        return Err(format!("unsupported key type {kind:?}"));
    };
    let bytes = STANDARD.decode(blob).map_err(|_| "the key is not base64".to_string())?;
    // The blob starts with its own type, length-prefixed.
    let inner_type = bytes
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| bytes.get(4..4 + n));
    if inner_type != Some(kind.as_bytes()) {
        return Err(format!("the key's data is not a {kind} key"));
    }
    let fingerprint = format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(&bytes)));
    Ok(((*name).to_string(), fingerprint))
}

/// The OpenSSH line of a deterministic ed25519 key derived from `seed`.
fn derived_key(seed: &str, comment: &str) -> String {
    let kind = b"ssh-ed25519";
    let mut blob = Vec::with_capacity(51);
    blob.extend_from_slice(&(kind.len() as u32).to_be_bytes());
    blob.extend_from_slice(kind);
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&Sha256::digest(seed.as_bytes()));
    format!("ssh-ed25519 {} {comment}", STANDARD.encode(blob))
}

/// The keys GitHub user `name` has in the simulator.
fn profile_keys(name: &str) -> Vec<String> {
    (0..KEYS_PER_PROFILE)
        .map(|i| {
            derived_key(
                &format!("github {} {i}", name.to_ascii_lowercase()),
                &format!("{name}@github"),
            )
        })
        .collect()
}

/// A GitHub user name: 1-39 letters, digits and single hyphens, no hyphen at either end.
fn valid_github_user(name: &str) -> bool {
    (1..=39).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn now_text(shared: &Shared, inner: &Inner) -> String {
    inner
        .fleet
        .clock(tokio::time::Instant::now(), shared.origin)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Adds a key for `user`; `None` when the user has it already (by fingerprint).
fn add(
    shared: &Shared,
    inner: &mut Inner,
    user: usize,
    (name, line): (&str, &str),
    github_user: Option<&str>,
) -> Result<Option<usize>, String> {
    let (key_type, fingerprint) = parse_public_key(line)?;
    if inner
        .records
        .ssh_keys
        .iter()
        .any(|k| k.user == user && k.fingerprint == fingerprint)
    {
        return Ok(None);
    }
    inner.records.next_ssh_key += 1;
    let n = inner.records.next_ssh_key;
    let at = now_text(shared, inner);
    inner.records.ssh_keys.push(SshKey {
        id: format!("sk_{}", &hex::encode(Sha256::digest(format!("ssh key {n}")))[..12]),
        user,
        name: name.to_string(),
        public_key: line.trim().to_string(),
        fingerprint,
        key_type,
        source: if github_user.is_some() { "github" } else { "manual" },
        github_user: github_user.map(str::to_string),
        created_at: at.clone(),
        updated_at: at.clone(),
        last_synced_at: github_user.map(|_| at),
    });
    Ok(Some(inner.records.ssh_keys.len() - 1))
}

/// What reading a GitHub profile into a user's keys did.
struct Imported {
    added: usize,
    /// Keys the user had already.
    held: usize,
    errors: Vec<String>,
    /// The profile's key lines.
    lines: Vec<String>,
}

/// Adds the keys of GitHub user `github` the user `user` lacks.
fn import_profile(shared: &Shared, inner: &mut Inner, user: usize, github: &str) -> Imported {
    let lines = profile_keys(github);
    let (mut added, mut held, mut errors) = (0, 0, Vec::new());
    for (i, line) in lines.iter().enumerate() {
        match add(
            shared,
            inner,
            user,
            (&format!("{github} (GitHub) {}", i + 1), line),
            Some(github),
        ) {
            Ok(Some(_)) => added += 1,
            Ok(None) => held += 1,
            Err(why) => errors.push(why),
        }
    }
    Imported {
        added,
        held,
        errors,
        lines,
    }
}

/// `GET /user/ssh-keys`: the caller's keys, oldest first.
pub(crate) async fn list(State(shared): State<Arc<Shared>>, Authed { caller, .. }: Authed) -> Response {
    let inner = shared.lock();
    let user = user_of(&inner.fleet, &caller);
    let keys: Vec<Value> = inner
        .records
        .ssh_keys
        .iter()
        .filter(|k| k.user == user)
        .map(|k| key_json(&inner, k))
        .collect();
    axum::Json(Value::Array(keys)).into_response()
}

#[derive(Deserialize)]
struct CreateKey {
    name: String,
    public_key: String,
}

/// `POST /user/ssh-keys`: 201 with the key; 400 for a line that is not a
/// public key or a key the user has.
pub(crate) async fn create(State(shared): State<Arc<Shared>>, Authed { caller, rid }: Authed, body: Bytes) -> Response {
    let request: CreateKey = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        let msg = "String should have between 1 and 100 characters";
        return validation_error(&["body", "name"], msg, "string_too_short", json!(request.name));
    }
    let mut inner = shared.lock();
    let user = user_of(&inner.fleet, &caller);
    match add(&shared, &mut inner, user, (name, &request.public_key), None) {
        Ok(Some(i)) => (
            StatusCode::CREATED,
            axum::Json(key_json(&inner, &inner.records.ssh_keys[i])),
        )
            .into_response(),
        Ok(None) => api_error(
            StatusCode::BAD_REQUEST,
            KEY_REFUSED,
            "This SSH key is already registered",
            &rid,
        ),
        Err(why) => api_error(
            StatusCode::BAD_REQUEST,
            KEY_REFUSED,
            &format!("Invalid SSH public key: {why}"),
            &rid,
        ),
    }
}

/// `DELETE /user/ssh-keys/{key_id}`: 204; 404 for a key the caller does not have.
pub(crate) async fn delete(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(key_id): Path<String>,
) -> Response {
    let mut inner = shared.lock();
    let user = user_of(&inner.fleet, &caller);
    let keys = &mut inner.records.ssh_keys;
    match keys.iter().position(|k| k.user == user && k.id == key_id) {
        Some(i) => {
            keys.remove(i);
            StatusCode::NO_CONTENT.into_response()
        }
        None => api_error(
            StatusCode::NOT_FOUND,
            "ERR-07-002",
            &format!("SSH key {key_id} not found"),
            &rid,
        ),
    }
}

#[derive(Deserialize)]
struct GithubImport {
    github_username: String,
}

/// `POST /user/ssh-keys/github-profile`: the profile's keys added, those
/// the user has skipped.
pub(crate) async fn import_github(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    body: Bytes,
) -> Response {
    let request: GithubImport = match body_of(&body) {
        Ok(r) => r,
        Err(r) => return r,
    };
    let github = request.github_username.trim();
    if !valid_github_user(github) {
        let msg = format!("{github:?} is not a GitHub user name");
        return api_error(StatusCode::BAD_REQUEST, KEY_REFUSED, &msg, &rid);
    }
    let mut inner = shared.lock();
    let user = user_of(&inner.fleet, &caller);
    let imported = import_profile(&shared, &mut inner, user, github);
    axum::Json(
        json!({"github_username": github, "keys_added": imported.added, "keys_skipped": imported.held,
                      "errors": imported.errors}),
    )
    .into_response()
}

/// `POST /user/ssh-keys/github-sync`: every GitHub profile the user
/// imported read again: missing keys added, held ones marked synced, keys
/// the profile no longer has removed. 400 when nothing was imported.
pub(crate) async fn sync_github(State(shared): State<Arc<Shared>>, Authed { caller, rid }: Authed) -> Response {
    let mut inner = shared.lock();
    let user = user_of(&inner.fleet, &caller);
    let mut profiles: Vec<String> = inner
        .records
        .ssh_keys
        .iter()
        .filter(|k| k.user == user)
        .filter_map(|k| k.github_user.clone())
        .collect();
    profiles.sort();
    profiles.dedup();
    if profiles.is_empty() {
        let msg = "No GitHub profile linked: import one with POST /user/ssh-keys/github-profile first";
        return api_error(StatusCode::BAD_REQUEST, KEY_REFUSED, msg, &rid);
    }
    let at = now_text(&shared, &inner);
    let (mut added, mut updated, mut errors, mut wanted) = (0, 0, Vec::new(), Vec::new());
    for github in &profiles {
        let imported = import_profile(&shared, &mut inner, user, github);
        added += imported.added;
        updated += imported.held;
        errors.extend(imported.errors);
        wanted.extend(imported.lines);
    }
    let synced = wanted.len();
    let before = inner.records.ssh_keys.len();
    inner
        .records
        .ssh_keys
        .retain(|k| k.user != user || k.source != "github" || wanted.contains(&k.public_key));
    let removed = before - inner.records.ssh_keys.len();
    for key in inner
        .records
        .ssh_keys
        .iter_mut()
        .filter(|k| k.user == user && k.source == "github")
    {
        key.last_synced_at = Some(at.clone());
        key.updated_at = at.clone();
    }
    axum::Json(json!({
        "synced_count": synced, "keys_added": added, "keys_updated": updated, "keys_removed": removed, "errors": errors,
    }))
    .into_response()
}

/// The public key lines of user `user`, for the CVMs' `user_config`.
pub(crate) fn authorized_keys(inner: &Inner, user: usize) -> Vec<String> {
    inner
        .records
        .ssh_keys
        .iter()
        .filter(|k| k.user == user)
        .map(|k| k.public_key.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_parse_as_openssh_keys() {
        let line = derived_key("seed", "me@host");
        let (kind, fingerprint) = parse_public_key(&line).unwrap();
        assert_eq!(kind, "ed25519");
        assert!(
            fingerprint.starts_with("SHA256:") && fingerprint.len() == 7 + 43,
            "{fingerprint}"
        );
        // GitHub names are case-insensitive: the same keys.
        let blobs = |name| {
            profile_keys(name)
                .iter()
                .map(|k| k.split(' ').nth(1).unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(blobs("Octo"), blobs("octo"));
    }

    #[test]
    fn lines_that_are_not_keys_say_why() {
        for (line, why) in [
            ("", "TYPE BASE64"),
            ("ssh-dss AAAA", "unsupported"),
            ("ssh-ed25519 !!!", "not base64"),
            // The blob of an RSA key under an ed25519 label.
            ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAgQ", "not base64"),
            ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAAAgQ==", "not a ssh-ed25519 key"),
        ] {
            let err = parse_public_key(line).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
        }
        assert!(valid_github_user("octo-cat") && !valid_github_user("-x") && !valid_github_user("a b"));
    }
}

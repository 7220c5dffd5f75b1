//! `deploy`, `compose-hash` and `env encrypt`: deploying with the facade's
//! trust checks, and the two local steps for scripts that deploy otherwise.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use phala_cloud::{AppCompose, Client, DeploySpec, EnvEncryptKey, EnvVars, Error, UpdateSpec, VerifiedEnvKey};
use serde_json::json;

use crate::cli::{Command, EnvCommand, Format};
use crate::output::Out;

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))
}

fn env_from(path: Option<&Path>) -> Result<EnvVars, Error> {
    match path {
        Some(p) => EnvVars::parse(&read(p)?).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", p.display())),
            other => other,
        }),
        None => Ok(EnvVars::new()),
    }
}

/// A docker-compose file's text; an empty one is refused.
fn docker_compose_text(path: &Path) -> Result<String, Error> {
    let text = read(path)?;
    if text.trim().is_empty() {
        return Err(Error::InvalidInput(format!("{} is empty", path.display())));
    }
    Ok(text)
}

/// The app compose `deploy` sends for a docker-compose file: the document's
/// defaults, the env file's keys as allowed_envs.
fn compose_from(compose: &Path, name: Option<&str>, env: &EnvVars) -> Result<(String, AppCompose), Error> {
    let file = docker_compose_text(compose)?;
    let name = match name {
        Some(n) => n.to_string(),
        None => compose
            .file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
            .ok_or_else(|| Error::InvalidInput("no --name, and the file has no usable name".into()))?,
    };
    let app = AppCompose::docker_compose(name.clone(), file).with_allowed_envs(env.keys());
    Ok((name, app))
}

/// The commands that need no client; `None` for the others.
pub fn local(command: &Command, out: &Out) -> Option<Result<(), Error>> {
    match command {
        Command::ComposeHash {
            compose,
            name,
            env_file,
            app_compose,
            normalize,
        } => Some((|| {
            let app = match (compose, app_compose) {
                (Some(file), _) => compose_from(file, name.as_deref(), &env_from(env_file.as_deref())?)?.1,
                (None, Some(json)) => {
                    let text = read(json)?;
                    let value = serde_json::from_str(&text)
                        .map_err(|e| Error::InvalidInput(format!("{} is not JSON: {e}", json.display())))?;
                    AppCompose::from_json(value)?
                }
                (None, None) => return Err(Error::InvalidInput("--compose or --app-compose".into())),
            };
            let app = if *normalize { app.normalized() } else { app };
            match out.format {
                Format::Table => outln!("{}", app.hash()),
                _ => out.json(&json!({"compose_hash": app.hash(), "app_compose": app})),
            }
            Ok(())
        })()),
        Command::Env {
            command: EnvCommand::Encrypt { pubkey, env_file },
        } => Some((|| {
            let key: EnvEncryptKey = pubkey.parse()?;
            let env = match env_file {
                Some(p) => env_from(Some(p))?,
                None => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .map_err(|e| Error::InvalidInput(format!("cannot read standard input: {e}")))?;
                    EnvVars::parse(&text)?
                }
            };
            if env.is_empty() {
                return Err(Error::InvalidInput("no env variables to seal".into()));
            }
            outln!("{}", env.seal(&VerifiedEnvKey::trust_unverified(key))?);
            Ok(())
        })()),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn deploy(
    client: &Client,
    out: &Out,
    compose: &Path,
    env_file: Option<&Path>,
    name: Option<&str>,
    instance_type: Option<&str>,
    kms_signer: Option<&str>,
    trust_unverified: bool,
    wait: Option<Duration>,
) -> Result<(), Error> {
    let env = env_from(env_file)?;
    let (name, app) = compose_from(compose, name, &env)?;
    let mut spec = DeploySpec::new(name, app).env(env);
    if let Some(t) = instance_type {
        spec = spec.instance_type(t);
    }
    if let Some(s) = kms_signer {
        spec = spec.kms_signer(s.parse()?);
    }
    if trust_unverified {
        spec = spec.trust_unverified_env_key();
    }
    if let Some(d) = wait {
        spec = spec.wait(d);
    }
    let done = client.deploy(&spec).await?;
    let signer = done.env_key.as_ref().and_then(|k| k.signer()).map(|s| s.to_string());
    match out.format {
        Format::Table => {
            let cvm = &done.cvm;
            outln!(
                "deployed {}: {} ({}), app {}",
                cvm.name,
                cvm.id.to_text(),
                cvm.vm_uuid.as_deref().unwrap_or("-"),
                done.app_id
            );
            outln!(
                "compose hash {} (the server's answer and the CVM's copy match it)",
                done.compose_hash
            );
            match (&signer, spec.env.is_empty()) {
                (_, true) => outln!("no env"),
                (Some(s), false) => outln!(
                    "env sealed to a key signed by {s} ({})",
                    serde_json::to_value(done.signer_source)
                        .unwrap_or_default()
                        .as_str()
                        .unwrap_or("")
                ),
                (None, false) => {
                    outln!("env sealed to a key whose signature was NOT checked (--trust-unverified-env-key)")
                }
            }
        }
        _ => out.json(&json!({
            "cvm": done.cvm,
            "app_id": done.app_id,
            "compose_hash": done.compose_hash,
            "app_compose": done.app_compose,
            "env_keys": spec.env.keys().collect::<Vec<_>>(),
            "kms_signer": signer,
            "signer_source": done.signer_source,
        })),
    }
    Ok(())
}

/// What `update` was asked to change.
pub struct UpdateHow<'a> {
    pub compose: Option<&'a Path>,
    pub env_file: Option<&'a Path>,
    pub name: Option<&'a str>,
    pub kms_signer: Option<&'a str>,
    pub trust_unverified: bool,
}

/// The update for the given CVMs: a new compose wraps the file as `deploy`
/// does, named as the held compose of the first CVM unless --name says,
/// allowing the env file's keys (or the held ones when there is none).
pub async fn update_spec(client: &Client, targets: &[String], how: &UpdateHow<'_>) -> Result<UpdateSpec, Error> {
    let env = how.env_file.map(|p| env_from(Some(p))).transpose()?;
    let mut spec = UpdateSpec::default();
    if let Some(file) = how.compose {
        let first = targets
            .first()
            .ok_or_else(|| Error::InvalidInput("no CVM to update".into()))?;
        let held = client.compose_of(first).await?;
        let name = match how.name {
            Some(n) => n.to_string(),
            None => held
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        };
        let text = docker_compose_text(file)?;
        let keys: Vec<String> = match &env {
            Some(e) => e.keys().map(str::to_string).collect(),
            None => held
                .get("allowed_envs")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|k| k.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        };
        spec = spec.compose(AppCompose::docker_compose(name, text).with_allowed_envs(keys));
    }
    if let Some(env) = env {
        spec = spec.env(env);
    }
    if let Some(s) = how.kms_signer {
        spec = spec.kms_signer(s.parse()?);
    }
    if how.trust_unverified {
        spec = spec.trust_unverified_env_key();
    }
    spec.validate()?;
    Ok(spec)
}

/// One CVM updated, and what was checked. `Ok(false)` when an on-chain
/// KMS holds it: what to register and how to finish is printed (the commit
/// token is the caller's own credential, so it goes to stdout, the result).
pub async fn update_one(client: &Client, out: &Out, id: &str, spec: &UpdateSpec) -> Result<bool, Error> {
    let done = match client.update(id, spec).await {
        Ok(done) => done,
        Err(Error::OnChainHashRequired(p)) => {
            let token = p.commit_token.as_ref().map(|t| t.expose().to_string());
            match out.format {
                Format::Table => {
                    outln!(
                        "app {}'s KMS is on chain: register compose hash {} (device {}) on chain, then run",
                        p.app_id,
                        p.compose_hash,
                        p.device_id.as_deref().unwrap_or("-")
                    );
                    outln!(
                        "  phala-cvm commit-update {id} --token {} --compose-hash {} --transaction-hash TX",
                        token.as_deref().unwrap_or("<none sent>"),
                        p.compose_hash
                    );
                }
                _ => out.json(&json!({
                    "status": "on_chain_hash_required",
                    "cvm_id": p.cvm_id,
                    "app_id": p.app_id,
                    "compose_hash": p.compose_hash,
                    "device_id": p.device_id,
                    "commit_token": token,
                    "commit_url": p.commit_url.as_ref().map(|u| u.expose().to_string()),
                    "app_compose": p.app_compose,
                })),
            }
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let signer = done.env_key.as_ref().and_then(|k| k.signer()).map(|s| s.to_string());
    match out.format {
        Format::Table => {
            outln!(
                "updated {}: compose hash {} (the server's answer and the CVM's copy match it){}",
                done.cvm_id,
                done.compose_hash,
                done.correlation_id
                    .as_deref()
                    .map(|c| format!(", operation {c}"))
                    .unwrap_or_default()
            );
            match (&signer, spec.env.is_some()) {
                (_, false) => {}
                (Some(s), true) => outln!("env sealed to a key signed by {s}"),
                (None, true) => {
                    outln!("env sealed to a key whose signature was NOT checked (--trust-unverified-env-key)")
                }
            }
        }
        _ => out.json(&json!({
            "cvm_id": done.cvm_id,
            "app_id": done.app_id,
            "compose_hash": done.compose_hash,
            "app_compose": done.app_compose,
            "correlation_id": done.correlation_id,
            "kms_signer": signer,
            "signer_source": done.signer_source,
        })),
    }
    Ok(true)
}

/// `commit-update`: the held update, committed with its token.
pub async fn commit_update(
    client: &Client,
    out: &Out,
    id: &str,
    token: &str,
    compose_hash: &str,
    transaction_hash: &str,
) -> Result<(), Error> {
    let hash: phala_cloud::ComposeHash = compose_hash.parse()?;
    let pending = phala_cloud::OnChainPending::new(id, hash, token);
    let accepted = client.commit_update(&pending, transaction_hash).await?;
    match out.format {
        Format::Table => outln!(
            "committed: {} {}",
            accepted.status.as_deref().unwrap_or("accepted"),
            accepted.correlation_id.as_deref().unwrap_or("")
        ),
        _ => out.json(&accepted),
    }
    Ok(())
}

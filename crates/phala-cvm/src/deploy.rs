//! `deploy`, `compose-hash` and `env encrypt`: deploying with the facade's
//! trust checks, and the two local steps for scripts that deploy otherwise.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use phala_cloud::{
    AppCompose, Client, DeploySpec, EnvEncryptKey, EnvVars, Error, RollingOptions, UpdateSpec, VerifiedEnvKey,
    WaitAllOptions,
};
use serde_json::json;

use crate::cli::{Command, EnvCommand, Format, UpdateArgs};
use crate::deploy_flags::{DeployArgs, env_file};
use crate::output::{Out, safe};
use crate::run::Outcome;

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| Error::InvalidInput(format!("cannot read {}: {e}", path.display())))
}

fn env_from(path: Option<&Path>) -> Result<EnvVars, Error> {
    Ok(path.map(env_file).transpose()?.unwrap_or_default())
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

/// Deploys a new CVM, or updates the one `--cvm-id` or the name names
/// (as Phala's CLI does); both with every trust check.
pub async fn deploy(client: &Client, out: &Out, args: &DeployArgs) -> Result<Outcome, Error> {
    let env = args.env()?;
    let existing = match (&args.cvm_id, &args.name) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(name)) => match client.cvm(name).await {
            Ok(found) => Some(found.id()),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e),
        },
        (None, None) => None,
    };
    if let Some(target) = existing {
        let ignored = args.create_only();
        if !ignored.is_empty() {
            eprintln!(
                "note: updating {}: ignoring {} (for a new CVM only)",
                safe(&target),
                ignored.join(", ")
            );
        }
        let how = UpdateHow {
            compose: Some(&args.compose),
            env,
            name: None,
            kms_signer: args.kms_signer.as_deref(),
            trust_unverified: args.trust_unverified_env_key,
            shape: &|app| args.shape_compose(app),
        };
        let targets = [target];
        let mut spec = update_spec(client, &targets, &how).await?;
        if args.wait {
            spec = spec.wait(Duration::from_secs(args.timeout));
        }
        return Ok(if update_one(client, out, &targets[0], &spec).await? {
            Outcome::Done
        } else {
            Outcome::Partial
        });
    }
    let env = env.unwrap_or_default();
    let (name, app) = compose_from(&args.compose, args.name.as_deref(), &env)?;
    let mut spec = DeploySpec::new(name, args.shape_compose(app)?)
        .env(env)
        .provision(|p| args.shape_provision(p));
    if let Some(t) = &args.instance_type {
        spec = spec.instance_type(t);
    }
    if let Some(s) = &args.kms_signer {
        spec = spec.kms_signer(s.parse()?);
    }
    if args.trust_unverified_env_key {
        spec = spec.trust_unverified_env_key();
    }
    if args.wait {
        spec = spec.wait(Duration::from_secs(args.timeout));
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
    Ok(Outcome::Done)
}

/// What `update` was asked to change.
pub struct UpdateHow<'a> {
    pub compose: Option<&'a Path>,
    pub env: Option<EnvVars>,
    pub name: Option<&'a str>,
    pub kms_signer: Option<&'a str>,
    pub trust_unverified: bool,
    /// The compose's own settings (deploy's flags), applied to a new compose.
    pub shape: &'a dyn Fn(AppCompose) -> Result<AppCompose, Error>,
}

/// The update for the given CVMs: a new compose wraps the file as `deploy`
/// does, named as the held compose of the first CVM unless --name says,
/// allowing the env file's keys (or the held ones when there is none).
pub async fn update_spec(client: &Client, targets: &[String], how: &UpdateHow<'_>) -> Result<UpdateSpec, Error> {
    let env = how.env.clone();
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
        spec = spec.compose((how.shape)(
            AppCompose::docker_compose(name, text).with_allowed_envs(keys),
        )?);
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

/// Replicates a CVM and prints where the replica runs.
pub async fn replicate(client: &Client, out: &Out, cvm_id: &str, node: Option<i64>) -> Result<Outcome, Error> {
    let done = client.replicate(cvm_id, node).await?;
    match out.format {
        Format::Table => outln!(
            "replicated {cvm_id} as {} ({}) on node {}, compose hash {} (the source's and the replica's copy match it)",
            done.cvm.id.to_text(),
            done.cvm.vm_uuid.as_deref().unwrap_or("-"),
            done.cvm.teepod.as_ref().map_or("-", |n| n.name.as_str()),
            done.compose_hash
        ),
        _ => out.json(&json!({"cvm": done.cvm, "compose_hash": done.compose_hash})),
    }
    Ok(Outcome::Done)
}

/// Updates one CVM, or rolls an update over several.
pub async fn update(client: &Client, out: &Out, args: &UpdateArgs, interval: Duration) -> Result<Outcome, Error> {
    let (targets, _) = crate::select::select_cvms(client, "update", &args.select, false).await?;
    let how = UpdateHow {
        compose: args.compose.as_deref(),
        env: args.env_file.as_deref().map(env_file).transpose()?,
        name: args.name.as_deref(),
        kms_signer: args.kms_signer.as_deref(),
        trust_unverified: args.trust_unverified_env_key,
        shape: &|app| Ok(app),
    };
    let spec = update_spec(client, &targets, &how).await?;
    if args.rolling || targets.len() > 1 {
        let opts = RollingOptions::default()
            .max_unavailable(args.max_unavailable)
            .batch_timeout(Duration::from_secs(args.wait.timeout))
            .wait(WaitAllOptions::default().interval(interval));
        let lines = out.progress;
        let report = client
            .rolling_update(&targets, &spec, &opts, |p| {
                if lines {
                    eprintln!(
                        "rolling update: batch {}/{}: {} updated, {} failed, {} to go ({:.1?})",
                        p.batch, p.batches, p.restarted, p.failed, p.remaining, p.elapsed
                    );
                }
            })
            .await?;
        crate::lifecycle::print_rolling(out, "rolling update", &report);
        Ok(if report.is_complete_success() {
            Outcome::Done
        } else {
            Outcome::Partial
        })
    } else {
        let spec = if args.wait.wait {
            spec.wait(Duration::from_secs(args.wait.timeout))
        } else {
            spec
        };
        Ok(if update_one(client, out, &targets[0], &spec).await? {
            Outcome::Done
        } else {
            Outcome::Partial
        })
    }
}

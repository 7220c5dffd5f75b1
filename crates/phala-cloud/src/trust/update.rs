//! Updating a running CVM's compose or env with the deploy's trust checks:
//! the new compose is provisioned and its hash checked before anything
//! changes, the env is sealed to a verified key, and the compose the CVM
//! holds afterwards is read back and compared.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::future::join_all;

use crate::client::Replay;
use crate::compose::{AppCompose, ComposeHash, first_difference};
use crate::deploy::{KeyTrust, SignerSource};
use crate::env_seal::EnvVars;
use crate::fleet::ActionFailure;
use crate::kms_key::{KmsSigner, VerifiedEnvKey};
use sha2::{Digest, Sha256};

use crate::raw::types::{AppRevisionDetailResponseComposeFile, RedeployRevisionRequest};
use crate::raw::types::{CommitUpdateRequest, ComposeFilePatch, InProgressResponse, ProvisionComposeFileUpdateRequest};
use crate::rolling::{BatchActed, RollingOptions, RollingProgress, RollingReport};
use crate::secret::Secret;
use crate::{Client, Error, TrustError};

/// What to change. At least one of `compose` and `env`.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct UpdateSpec {
    /// The new app compose (hashed exactly as sent); `None` keeps the one
    /// the CVM holds.
    pub compose: Option<AppCompose>,
    /// New env variables, replacing the old ones; their keys must be in
    /// the (new) compose's `allowed_envs`.
    pub env: Option<EnvVars>,
    /// The KMS signer to trust (else the KMS contract's own, 2026-06-23 on).
    pub kms_signer: Option<KmsSigner>,
    /// Seal the env to a key whose signature was not checked.
    pub trust_unverified_env_key: bool,
    /// Wait until the CVM runs again, at most this long.
    pub wait: Option<Duration>,
}

impl UpdateSpec {
    /// A new compose.
    pub fn compose(mut self, compose: AppCompose) -> Self {
        self.compose = Some(compose);
        self
    }
    /// New env variables.
    pub fn env(mut self, env: EnvVars) -> Self {
        self.env = Some(env);
        self
    }
    /// Pins the KMS signer.
    pub fn kms_signer(mut self, signer: KmsSigner) -> Self {
        self.kms_signer = Some(signer);
        self
    }
    /// Seals the env without checking the key's signature (explicit opt-out).
    pub fn trust_unverified_env_key(mut self) -> Self {
        self.trust_unverified_env_key = true;
        self
    }
    /// Waits until the CVM runs again, at most `deadline`.
    pub fn wait(mut self, deadline: Duration) -> Self {
        self.wait = Some(deadline);
        self
    }
}

/// An update waiting for its compose hash to be registered on chain (the
/// service answered 465): what to register, and the one-time token that
/// finishes it ([`Client::commit_update`]). The hash is ours: checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OnChainPending {
    /// The CVM, as given.
    pub cvm_id: String,
    /// The app whose on-chain KMS must allow the hash.
    pub app_id: String,
    /// The compose hash to register (the server's answer, equal to ours).
    pub compose_hash: ComposeHash,
    /// The device the CVM runs on, which the KMS must allow too.
    pub device_id: Option<String>,
    /// The one-time commit token (a credential: never printed).
    pub commit_token: Option<Secret>,
    /// Where the service lets the update be committed in a browser (it
    /// carries the token, so it is a credential too).
    pub commit_url: Option<Secret>,
    /// The compose that was sent.
    pub app_compose: AppCompose,
}

impl OnChainPending {
    /// A held update to commit, from what was printed when it was held
    /// (e.g. by `phala-cvm update`): the CVM, the hash and the token.
    pub fn new(cvm_id: impl Into<String>, compose_hash: ComposeHash, commit_token: impl Into<String>) -> Self {
        Self {
            cvm_id: cvm_id.into(),
            app_id: String::new(),
            compose_hash,
            device_id: None,
            commit_token: Some(Secret::new(commit_token.into())),
            commit_url: None,
            app_compose: AppCompose::from_json(serde_json::json!({"runner": "docker-compose"}))
                .unwrap_or_else(|_| AppCompose::docker_compose("", "")),
        }
    }
}

/// A revision redeployed, and what was checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Redeployed {
    /// The revision's compose hash, which each CVM now holds.
    pub compose_hash: String,
    /// The CVMs redeployed.
    pub vm_uuids: Vec<String>,
    /// The redeploy's correlation id.
    pub correlation_id: Option<String>,
}

/// An update accepted, and what was checked.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Updated {
    /// The CVM, as given.
    pub cvm_id: String,
    /// The app.
    pub app_id: String,
    /// The compose hash the CVM now runs with (ours, as the server confirmed).
    pub compose_hash: ComposeHash,
    /// The compose it holds.
    pub app_compose: AppCompose,
    /// The update's correlation id, to follow it in the operation history.
    pub correlation_id: Option<String>,
    /// The env key sealed to, if the env changed.
    pub env_key: Option<VerifiedEnvKey>,
    /// Where the trusted signer came from.
    pub signer_source: SignerSource,
}

impl UpdateSpec {
    /// What can be checked before any request: something to change, a
    /// compose the request carries as given, env keys the compose allows.
    pub fn validate(&self) -> Result<(), Error> {
        if self.compose.is_none() && self.env.is_none() {
            return Err(Error::InvalidInput(
                "an update changes the compose, the env, or both".into(),
            ));
        }
        if let Some(compose) = &self.compose {
            let request = compose.to_request()?;
            if let Some(env) = &self.env {
                env.check_allowed(&request.allowed_envs)?;
            }
        }
        Ok(())
    }
}

impl Client {
    /// Updates CVMs at most `max_unavailable` at a time, as
    /// [`Client::rolling_restart`] restarts them: each batch updated (every
    /// CVM with the checks of [`Client::update`]), then waited for until
    /// running, the rollout stopping at the first CVM refused, failed or
    /// timed out. In the report, `restarted` lists the CVMs updated and
    /// running again. Errors only for invalid input, before any request.
    pub async fn rolling_update<I, S>(
        &self,
        cvm_ids: I,
        spec: &UpdateSpec,
        opts: &RollingOptions,
        mut progress: impl FnMut(&RollingProgress),
    ) -> Result<RollingReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        spec.validate()?;
        // The rollout waits for each batch; one update need not.
        let once = UpdateSpec {
            wait: None,
            ..spec.clone()
        };
        let once = &once;
        self.roll(cvm_ids, opts, &mut progress, |batch| async move {
            let results = join_all(batch.iter().map(|id| self.update(id, once))).await;
            let mut refused = BTreeMap::new();
            let mut accepted = Vec::new();
            for (id, result) in batch.into_iter().zip(results) {
                match result {
                    Ok(_) => accepted.push((id, None)),
                    Err(e) => {
                        refused.insert(id.clone(), ActionFailure::new(id, &e));
                    }
                }
            }
            let uuid_of = self.uuids_of(accepted, &mut refused).await;
            BatchActed { uuid_of, refused }
        })
        .await
    }

    /// Updates the replicas of one app (see [`Client::rolling_update`]).
    pub async fn rolling_update_app(
        &self,
        app_id: &str,
        spec: &UpdateSpec,
        opts: &RollingOptions,
        progress: impl FnMut(&RollingProgress),
    ) -> Result<RollingReport, Error> {
        spec.validate()?;
        opts.validate()?;
        let ids = self.replica_ids(app_id).await?;
        self.rolling_update(ids, spec, opts, progress).await
    }

    /// Updates a CVM's compose, env, or both: provision the compose (the
    /// held one when only the env changes), check the server's hash is
    /// ours, seal the env to a verified key, apply, then read back the
    /// compose the CVM holds and check it. A failed check is
    /// [`Error::Trust`]; before the apply, nothing changed. An app whose KMS
    /// is on chain answers 465 (the hash must be registered on chain
    /// first): that is [`Error::OnChainHashRequired`], to finish with
    /// [`Client::commit_update`].
    pub async fn update(&self, id: &str, spec: &UpdateSpec) -> Result<Updated, Error> {
        Self::check_id(id, "CVM id")?;
        spec.validate()?;
        let target = match &spec.compose {
            Some(c) => c.clone(),
            None => self.held_compose(id).await?,
        };
        // The compose exactly as a provision carries it, plus the update's
        // one instruction (which is not part of the compose or its hash).
        let mut request: ProvisionComposeFileUpdateRequest =
            serde_json::from_value(serde_json::to_value(target.to_request()?).unwrap_or_default())
                .map_err(|e| Error::InvalidInput(format!("the app compose does not fit an update: {e}")))?;
        request.update_env_vars = Some(spec.env.is_some());
        // Checked again here: with no new compose, against the held one.
        if let Some(env) = &spec.env {
            env.check_allowed(&request.allowed_envs)?;
        }
        let ours = target.hash();
        let call = self
            .raw()
            .provision_for_cvm_compose_file_update()
            .cvm_id(id)
            .body(request);
        let provisioned = self
            .send("update_provision", Replay::Idempotent, || call.clone().send())
            .await?;
        if !provisioned.compose_hash.eq_ignore_ascii_case(&ours.to_string()) {
            return Err(TrustError::ComposeHashMismatch {
                ours: ours.to_string(),
                server: provisioned.compose_hash,
            }
            .into());
        }
        let app_id = provisioned.app_id.clone();

        let (env_key, signer_source, encrypted_env) = match &spec.env {
            Some(env) if !env.is_empty() => {
                let kms = provisioned
                    .kms_info
                    .as_ref()
                    .map(|k| k.id.clone())
                    .ok_or_else(|| Error::InvalidInput("the update's provision answer names no KMS".into()))?;
                let trust = KeyTrust {
                    pinned: spec.kms_signer,
                    unverified: spec.trust_unverified_env_key,
                };
                let (key, source) = self.env_key(trust, &kms, &app_id, None).await?;
                let sealed = env.seal(&key)?;
                (Some(key), source, Some(sealed))
            }
            _ => (None, SignerSource::NoEnv, None),
        };

        let patch = ComposeFilePatch::builder()
            .compose_hash(ours.to_string())
            .encrypted_env(encrypted_env)
            .env_keys(spec.env.as_ref().map(|e| e.keys().map(str::to_string).collect()))
            .update_env_vars(Some(spec.env.is_some()));
        let patch = ComposeFilePatch::try_from(patch).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let call = self.raw().trigger_cvm_compose_file_update().cvm_id(id).body(patch);
        let accepted = match self.send("update", Replay::IfNotApplied, || call.clone().send()).await {
            Ok(accepted) => accepted,
            Err(e) => return Err(on_chain_pending(e, id, &app_id, &ours, &target)),
        };

        // Waited for first, so the compose read back is the one it restarted with.
        if let Some(deadline) = spec.wait {
            self.wait_for_state(id, crate::raw::types::KnownStatus::Running, deadline)
                .await?;
        }
        let held = self.held_compose(id).await?;
        if let Some(field) = first_difference(target.as_map(), held.as_map()) {
            return Err(TrustError::ComposeChanged {
                cvm: id.to_string(),
                field,
            }
            .into());
        }
        Ok(Updated {
            cvm_id: id.to_string(),
            app_id,
            compose_hash: ours,
            app_compose: target,
            correlation_id: accepted.correlation_id,
            env_key,
            signer_source,
        })
    }

    /// Finishes an update whose compose hash was registered on chain: sends
    /// the commit token with the hash and the registering transaction
    /// (`"already-registered"` if it was). Answers the update in progress.
    pub async fn commit_update(
        &self,
        pending: &OnChainPending,
        transaction_hash: &str,
    ) -> Result<InProgressResponse, Error> {
        let token = pending
            .commit_token
            .as_ref()
            .ok_or_else(|| Error::InvalidInput("the service sent no commit token for this update".into()))?;
        Self::check_id(transaction_hash, "transaction hash")?;
        let body = CommitUpdateRequest {
            token: token.expose().to_string(),
            compose_hash: pending.compose_hash.to_string(),
            transaction_hash: transaction_hash.to_string(),
        };
        let call = self.raw().commit_cvm_update().cvm_id(&pending.cvm_id).body(body);
        // The token is one-time: never sent twice.
        self.send("commit_update", Replay::IfNotApplied, || call.clone().send())
            .await
    }

    /// Redeploys an app revision to `vm_uuids` (the revision's own CVM when
    /// empty): the revision's compose, fetched as the exact text the
    /// service hashed, must hash to the revision's `compose_hash`, and each
    /// CVM must hold that compose afterwards ([`Error::Trust`] otherwise;
    /// before the redeploy, nothing changed).
    pub async fn redeploy_revision(
        &self,
        app_id: &str,
        revision_id: &str,
        vm_uuids: &[String],
    ) -> Result<Redeployed, Error> {
        Self::check_id(app_id, "app id")?;
        Self::check_id(revision_id, "revision id")?;
        for uuid in vm_uuids {
            Self::check_id(uuid, "VM UUID")?;
        }
        let call = self
            .raw()
            .get_app_revision_detail()
            .app_id(app_id)
            .revision_id(revision_id)
            .raw_compose_file(true);
        let revision = self
            .send("app_revision", Replay::Idempotent, || call.clone().send())
            .await?;
        let ours = match &revision.compose_file {
            Some(AppRevisionDetailResponseComposeFile::String(text)) => hex::encode(Sha256::digest(text.as_bytes())),
            Some(AppRevisionDetailResponseComposeFile::Object(map)) => {
                AppCompose::from_json(serde_json::Value::Object(map.clone()))?
                    .hash()
                    .to_string()
            }
            None => {
                return Err(Error::InvalidInput(format!(
                    "revision {revision_id} carries no compose to check"
                )));
            }
        };
        if !ours.eq_ignore_ascii_case(&revision.compose_hash) {
            return Err(TrustError::ComposeHashMismatch {
                ours,
                server: revision.compose_hash,
            }
            .into());
        }
        let body = (!vm_uuids.is_empty()).then(|| RedeployRevisionRequest {
            vm_uuids: Some(vm_uuids.to_vec()),
        });
        let call = self
            .raw()
            .redeploy_app_revision()
            .app_id(app_id)
            .revision_id(revision_id)
            .body(body);
        let accepted = self
            .send("redeploy", Replay::IfNotApplied, || call.clone().send())
            .await?;
        let targets = if vm_uuids.is_empty() {
            vec![revision.vm_uuid.clone()]
        } else {
            vm_uuids.to_vec()
        };
        for uuid in &targets {
            let held = self.held_compose(uuid).await?.hash().to_string();
            if held != ours {
                return Err(TrustError::ComposeChanged {
                    cvm: uuid.clone(),
                    field: "compose_hash".into(),
                }
                .into());
            }
        }
        Ok(Redeployed {
            compose_hash: ours,
            vm_uuids: targets,
            correlation_id: accepted.correlation_id,
        })
    }

    /// The app compose a CVM holds.
    pub async fn compose_of(&self, id: &str) -> Result<AppCompose, Error> {
        Self::check_id(id, "CVM id")?;
        self.held_compose(id).await
    }

    async fn held_compose(&self, id: &str) -> Result<AppCompose, Error> {
        let call = self.raw().get_cvm_compose_file().cvm_id(id);
        let held = self
            .send("compose_file", Replay::Idempotent, || call.clone().send())
            .await?;
        AppCompose::from_json(held)
    }
}

/// A 465 answer as what it asks for, its compose hash checked against ours;
/// any other error as it is.
fn on_chain_pending(e: Error, id: &str, app_id: &str, ours: &ComposeHash, target: &AppCompose) -> Error {
    let Some(api) = e.api().filter(|a| a.status == 465) else {
        return e;
    };
    // Structured errors carry the fields as `details: [{field, value}]`.
    let field = |name: &str| {
        api.details
            .as_ref()?
            .as_array()?
            .iter()
            .find(|d| d["field"] == name)
            .map(|d| d["value"].clone())
    };
    let text = |name: &str| field(name).and_then(|v| v.as_str().map(str::to_string));
    let server = text("compose_hash").unwrap_or_default();
    if !server.eq_ignore_ascii_case(&ours.to_string()) {
        return TrustError::ComposeHashMismatch {
            ours: ours.to_string(),
            server,
        }
        .into();
    }
    Error::OnChainHashRequired(Box::new(OnChainPending {
        cvm_id: id.to_string(),
        app_id: text("app_id").unwrap_or_else(|| app_id.to_string()),
        compose_hash: *ours,
        device_id: text("device_id"),
        commit_token: text("commit_token").map(Secret::new),
        commit_url: text("commit_url").map(Secret::new),
        app_compose: target.clone(),
    }))
}

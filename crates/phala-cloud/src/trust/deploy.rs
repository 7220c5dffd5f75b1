//! Deploying a CVM with its trust checks: the compose hash the server will
//! measure is ours, the env key was signed by the KMS we trust, the env is
//! sealed on the client, and the compose the CVM holds is what we sent.
//! Phala's SDKs leave each of these to the caller; here nothing is
//! committed until they hold.

use std::time::{Duration, SystemTime};

use crate::client::Replay;
use crate::compose::{AppCompose, ComposeHash, first_difference};
use crate::env_seal::{EnvEncryptKey, EnvVars};
use crate::kms_key::{KmsSigner, VerifiedEnvKey, verify_env_key};
use crate::raw::types::{CreateTappRequest, GetKmsInfoResponse, KmsType, ProvisionDstackAppRequestV2, Vm};
use crate::{Client, Error, TrustError};

/// What to deploy. The compose is hashed exactly as it is sent.
///
/// ```
/// use phala_cloud::{AppCompose, DeploySpec, EnvVars};
///
/// let env = EnvVars::parse("API_KEY=s3cret\n")?;
/// let compose = AppCompose::docker_compose("web-app", "services:\n  web:\n    image: nginx\n")
///     .with_allowed_envs(env.keys());
/// let spec = DeploySpec::new("web-app", compose).env(env).instance_type("tdx.small");
/// # Ok::<(), phala_cloud::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeploySpec {
    /// The CVM name (5-63 characters: a letter, then letters, digits, hyphens).
    pub name: String,
    /// The app compose.
    pub compose: AppCompose,
    /// Env variables, sealed on the client (their keys must be in the
    /// compose's `allowed_envs`).
    pub env: EnvVars,
    /// Instance type (`tdx.small` when none, as Phala's SDKs).
    pub instance_type: Option<String>,
    /// The KMS signer to trust. Without one the KMS contract's own
    /// `k256_pubkey` is used (API 2026-06-23 on): weaker, since the same
    /// service reports it.
    pub kms_signer: Option<KmsSigner>,
    /// Seal the env to a key whose signature was not checked. Off unless set.
    pub trust_unverified_env_key: bool,
    /// Wait until the CVM runs, at most this long.
    pub wait: Option<Duration>,
    /// The KMS kind (`phala` when none). An on-chain KMS (`ethereum`,
    /// `base`) makes later updates wait for their hash to be registered.
    pub kms: Option<KmsType>,
    /// Every other field of the provision request (node, region, image,
    /// disk size, listed, dev OS, ...): the generated builder itself, so a
    /// field Phala adds is reachable here by regeneration alone. The
    /// name, compose and env keys are the spec's own and overwrite it.
    pub provision: ProvisionBuilder,
}

/// The generated provision request's builder.
pub type ProvisionBuilder = crate::raw::types::builder::ProvisionDstackAppRequestV2;

impl DeploySpec {
    /// A CVM named `name` running `compose`, no env.
    ///
    /// Two names, on purpose: `name` is the CVM's (what lists show and
    /// references use; 5-63 characters starting with a letter), the
    /// compose's is the app's, hashed into its compose hash and measured
    /// into the CVM. They may differ (replicas of one app keep one compose
    /// hash under different CVM names); usually they are the same.
    pub fn new(name: impl Into<String>, compose: AppCompose) -> Self {
        Self {
            name: name.into(),
            compose,
            env: EnvVars::new(),
            instance_type: None,
            kms_signer: None,
            trust_unverified_env_key: false,
            wait: None,
            kms: None,
            provision: ProvisionDstackAppRequestV2::builder(),
        }
    }

    /// Sets fields of the provision request on its generated builder.
    ///
    /// ```
    /// # use phala_cloud::{AppCompose, DeploySpec};
    /// let spec = DeploySpec::new("web-app", AppCompose::docker_compose("web-app", "services: {}\n"))
    ///     .provision(|p| p.teepod_id(Some(3)).region(Some("us-west".to_string())).disk_size(Some(80)));
    /// ```
    pub fn provision(mut self, set: impl FnOnce(ProvisionBuilder) -> ProvisionBuilder) -> Self {
        self.provision = set(self.provision);
        self
    }
    /// The KMS kind.
    pub fn kms(mut self, kms: KmsType) -> Self {
        self.kms = Some(kms);
        self
    }
    /// Env variables to seal.
    pub fn env(mut self, env: EnvVars) -> Self {
        self.env = env;
        self
    }
    /// The instance type.
    pub fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.instance_type = Some(t.into());
        self
    }
    /// Pins the KMS signer the env key must be signed by.
    pub fn kms_signer(mut self, signer: KmsSigner) -> Self {
        self.kms_signer = Some(signer);
        self
    }
    /// Seals the env without checking the key's signature (explicit opt-out).
    pub fn trust_unverified_env_key(mut self) -> Self {
        self.trust_unverified_env_key = true;
        self
    }
    /// Waits until the CVM runs, at most `deadline`.
    pub fn wait(mut self, deadline: Duration) -> Self {
        self.wait = Some(deadline);
        self
    }
}

/// Where the signer an env key was checked against came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignerSource {
    /// Pinned by the caller.
    Pinned,
    /// The KMS contract's `k256_pubkey`, as the service reports it.
    KmsReported,
    /// Not checked (the caller opted out).
    Unverified,
    /// No env, so no key was needed.
    NoEnv,
}

/// A deployed CVM and what was checked on the way.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Deployed {
    /// The commit's answer (the generated `VM` record).
    pub cvm: Vm,
    /// The app id the service assigned.
    pub app_id: String,
    /// The compose hash, ours and the server's.
    pub compose_hash: ComposeHash,
    /// The exact compose hashed and sent.
    pub app_compose: AppCompose,
    /// The env key sealed to, with who signed it, if there was an env.
    pub env_key: Option<VerifiedEnvKey>,
    /// Where the trusted signer came from.
    pub signer_source: SignerSource,
}

/// How an env key is to be trusted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyTrust {
    /// The signer the caller pinned.
    pub pinned: Option<KmsSigner>,
    /// The caller opted out of verification.
    pub unverified: bool,
}

/// A CVM name as the service accepts it.
fn check_name(name: &str) -> Result<(), Error> {
    let ok = (5..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "CVM name {name:?}: 5-63 characters, a letter first, then letters, digits and hyphens"
        )))
    }
}

impl Client {
    /// Deploys a CVM: provision, check the server's compose hash is ours,
    /// fetch the app's env key and check its KMS signature, seal the env,
    /// commit, read back the compose the CVM holds and check it is ours,
    /// then optionally wait until it runs. A failed check is
    /// [`Error::Trust`]; before the commit, nothing is committed.
    pub async fn deploy(&self, spec: &DeploySpec) -> Result<Deployed, Error> {
        check_name(&spec.name)?;
        let compose_request = spec.compose.to_request()?;
        spec.env.check_allowed(&compose_request.allowed_envs)?;
        let ours = spec.compose.hash();

        let mut body = spec
            .provision
            .clone()
            .name(spec.name.clone())
            .compose_file(compose_request)
            .env_keys(spec.env.keys().map(str::to_string).collect::<Vec<_>>());
        if let Some(t) = &spec.instance_type {
            body = body.instance_type(Some(t.clone()));
        }
        if let Some(kms) = &spec.kms {
            body = body.kms(Some(kms.clone()));
        }
        let mut body = ProvisionDstackAppRequestV2::try_from(body).map_err(|e| Error::InvalidInput(e.to_string()))?;
        // No size at all: the smallest type, as Phala's SDKs default.
        if body.instance_type.is_none() && body.vcpu.is_none() && body.memory.is_none() {
            body.instance_type = Some("tdx.small".into());
        }
        let request = self.raw().provision_cvm().body(body);
        // Provisioning only caches the compose: repeating it is harmless.
        let provisioned = self
            .send("provision", Replay::Idempotent, || request.clone().send())
            .await?;
        if !provisioned.compose_hash.eq_ignore_ascii_case(&ours.to_string()) {
            return Err(TrustError::ComposeHashMismatch {
                ours: ours.to_string(),
                server: provisioned.compose_hash,
            }
            .into());
        }
        let app_id = provisioned
            .app_id
            .clone()
            .ok_or_else(|| Error::InvalidInput("the provision answer has no app_id".into()))?;

        let (env_key, signer_source, encrypted_env) = if spec.env.is_empty() {
            (None, SignerSource::NoEnv, None)
        } else {
            let kms = provisioned
                .kms_id
                .clone()
                .or_else(|| {
                    provisioned
                        .kms_info
                        .as_ref()
                        .and_then(|k| k.get("id")?.as_str().map(str::to_string))
                })
                .ok_or_else(|| Error::InvalidInput("the provision answer names no KMS".into()))?;
            let trust = KeyTrust {
                pinned: spec.kms_signer,
                unverified: spec.trust_unverified_env_key,
            };
            let (key, source) = self
                .env_key(trust, &kms, &app_id, provisioned.app_env_encrypt_pubkey.as_deref())
                .await?;
            let sealed = spec.env.seal(&key)?;
            (Some(key), source, Some(sealed))
        };

        let commit = CreateTappRequest::builder()
            .app_id(app_id.clone())
            .compose_hash(ours.to_string())
            .encrypted_env(encrypted_env)
            .env_keys((!spec.env.is_empty()).then(|| spec.env.keys().map(str::to_string).collect()))
            .kms_id(provisioned.kms_id.clone());
        let commit = CreateTappRequest::try_from(commit).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let request = self.raw().create_cvm_from_povision().body(commit);
        // Committing the same app and compose again answers the same CVM.
        let cvm = self
            .send("commit", Replay::Idempotent, || request.clone().send())
            .await?;

        // The compose the CVM now holds must be the one we hashed.
        let id = cvm.vm_uuid.clone().unwrap_or_else(|| cvm.id.to_text());
        let held = self.compose_of(&id).await?;
        if let Some(field) = first_difference(spec.compose.as_map(), held.as_map()) {
            return Err(TrustError::ComposeChanged { cvm: id, field }.into());
        }
        if let Some(deadline) = spec.wait {
            self.wait_for_state(&id, crate::raw::types::KnownStatus::Running, deadline)
                .await?;
        }
        Ok(Deployed {
            cvm,
            app_id,
            compose_hash: ours,
            app_compose: spec.compose.clone(),
            env_key,
            signer_source,
        })
    }

    /// The app's env key from its KMS, checked against the pinned signer or
    /// the one the KMS contract reports, unless the caller opted out.
    pub(crate) async fn env_key(
        &self,
        trust: KeyTrust,
        kms: &str,
        app_id: &str,
        provisioned_key: Option<&str>,
    ) -> Result<(VerifiedEnvKey, SignerSource), Error> {
        let request = self.raw().get_app_env_encrypt_pubkey().kms_id(kms).app_id(app_id);
        let answer = self
            .send("kms_pubkey", Replay::Idempotent, || request.clone().send())
            .await?;
        let key: EnvEncryptKey = answer.public_key.parse()?;
        if let Some(other) = provisioned_key {
            let other: EnvEncryptKey = other.parse()?;
            if other != key {
                return Err(TrustError::EnvKeyMismatch {
                    provisioned: other.to_string(),
                    kms: key.to_string(),
                }
                .into());
            }
        }
        if trust.unverified {
            return Ok((VerifiedEnvKey::trust_unverified(key), SignerSource::Unverified));
        }
        let (signer, source) = match trust.pinned {
            Some(pinned) => (pinned, SignerSource::Pinned),
            None => {
                let request = self.raw().get_kms_info().kms_id(kms);
                let info = self
                    .send("kms_info", Replay::Idempotent, || request.clone().send())
                    .await?;
                let reported = match info {
                    GetKmsInfoResponse::Contract(c) => c.k256_pubkey,
                    GetKmsInfoResponse::Info(_) => None,
                };
                let reported = reported.ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "KMS {kms} reports no signer at API version {}: pin one (DeploySpec::kms_signer) \
                         or use 2026-06-23, whose KMS answer carries k256_pubkey",
                        self.api_version()
                    ))
                })?;
                (reported.parse()?, SignerSource::KmsReported)
            }
        };
        let verified = verify_env_key(
            app_id,
            &key,
            &answer.signature,
            answer.timestamp,
            &signer,
            SystemTime::now(),
        )?;
        Ok((verified, source))
    }
}

//! `deploy`'s flags, at parity with Phala's CLI, and where each lands:
//! the app compose (hashed and measured: visibility, file system,
//! pre-launch script), the provision request (placement, image, disk,
//! listing, dev OS) through the generated builder, or the sealed env.

use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;
use phala_cloud::raw::types::AppComposeV2StorageFs;
use phala_cloud::{AppCompose, EnvVars, Error, ProvisionBuilder};

use crate::deploy::read;

/// `deploy` flags.
#[derive(ClapArgs, Debug)]
pub struct DeployArgs {
    /// The docker-compose file.
    #[arg(short = 'c', long, value_name = "FILE")]
    pub compose: PathBuf,
    /// Env variables (KEY=VALUE lines), sealed on this machine; their
    /// keys become the compose's allowed_envs.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// An env variable, KEY=VALUE (or a file of them); repeatable, beside --env-file.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// CVM name (default: the compose file's name without extension). An
    /// existing CVM of this name is updated, as Phala's CLI does.
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,
    /// Update this CVM (any reference) instead of creating one.
    #[arg(long, value_name = "CVM")]
    pub cvm_id: Option<String>,
    /// Instance type (default tdx.small).
    #[arg(short = 't', long, value_name = "TYPE")]
    pub instance_type: Option<String>,
    /// The node to run on (see `nodes`).
    #[arg(long, visible_alias = "node-id", value_name = "NODE_ID")]
    pub node: Option<i64>,
    /// The region to run in (us-west, ...).
    #[arg(short = 'r', long, value_name = "REGION")]
    pub region: Option<String>,
    /// Disk size: GB, or with a unit (100G, 1T).
    #[arg(long, value_name = "SIZE", value_parser = crate::settings::gigabytes)]
    pub disk_size: Option<std::num::NonZeroU64>,
    /// The OS image (see `os-images`).
    #[arg(long, value_name = "NAME")]
    pub image: Option<String>,
    /// The CVM's data file system.
    #[arg(long, value_name = "FS", value_parser = ["ext4", "zfs"])]
    pub fs: Option<String>,
    /// A script run before the containers start (part of the compose hash).
    #[arg(long, value_name = "FILE")]
    pub pre_launch_script: Option<PathBuf>,
    /// Anyone may read the CVM's logs (the default).
    #[arg(long, overrides_with = "no_public_logs")]
    pub public_logs: bool,
    /// Only the owner may read the CVM's logs.
    #[arg(long)]
    pub no_public_logs: bool,
    /// Anyone may read the CVM's system info (the default).
    #[arg(long, overrides_with = "no_public_sysinfo")]
    pub public_sysinfo: bool,
    /// Only the owner may read the CVM's system info.
    #[arg(long)]
    pub no_public_sysinfo: bool,
    /// List the app publicly.
    #[arg(long)]
    pub listed: bool,
    /// Prefer a dev OS image (one with an SSH daemon).
    #[arg(long, overrides_with = "no_dev_os")]
    pub dev_os: bool,
    /// Refuse a dev OS image.
    #[arg(long)]
    pub no_dev_os: bool,
    /// A public key authorised for root over ssh (sealed as the env
    /// variable DSTACK_AUTHORIZED_KEYS).
    #[arg(long, value_name = "FILE")]
    pub ssh_pubkey: Option<PathBuf>,
    /// The KMS signer to trust (secp256k1 public key, hex); default: the
    /// one the KMS contract reports (API 2026-06-23 on).
    #[arg(long, value_name = "HEX")]
    pub kms_signer: Option<String>,
    /// Seal the env to a key whose signature is not checked.
    #[arg(long)]
    pub trust_unverified_env_key: bool,
    /// Then wait until it runs.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,
}

/// The env variable dstack reads root's authorised SSH keys from.
pub const AUTHORIZED_KEYS_ENV: &str = "DSTACK_AUTHORIZED_KEYS";

/// Parses an env file's text, naming the file in its errors.
pub fn env_file(path: &Path) -> Result<EnvVars, Error> {
    EnvVars::parse(&read(path)?).map_err(|e| match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", path.display())),
        other => other,
    })
}

impl DeployArgs {
    /// The env: the file, then each `-e` (a later key wins), then the SSH
    /// key. `None` when none was given (an update then keeps the env held).
    pub fn env(&self) -> Result<Option<EnvVars>, Error> {
        if self.env_file.is_none() && self.env.is_empty() && self.ssh_pubkey.is_none() {
            return Ok(None);
        }
        let mut text = match &self.env_file {
            Some(p) => read(p)?,
            None => String::new(),
        };
        for e in &self.env {
            let line = if e.contains('=') {
                e.clone()
            } else {
                read(Path::new(e))?
            };
            text.push('\n');
            text.push_str(&line);
        }
        let mut env = EnvVars::parse(&text)?;
        if let Some(p) = &self.ssh_pubkey {
            let key = read(p)?;
            let key = key.trim();
            if !key.starts_with("ssh-") && !key.starts_with("ecdsa-") && !key.starts_with("sk-") {
                return Err(Error::InvalidInput(format!("{}: not an SSH public key", p.display())));
            }
            env.insert(AUTHORIZED_KEYS_ENV, key)?;
        }
        Ok(Some(env))
    }

    /// The compose's own settings from the flags: visibility, file system,
    /// pre-launch script (each hashed into the compose hash).
    pub fn shape_compose(&self, mut app: AppCompose) -> Result<AppCompose, Error> {
        if self.public_logs || self.no_public_logs {
            app = app.with("public_logs", self.public_logs && !self.no_public_logs);
        }
        if self.public_sysinfo || self.no_public_sysinfo {
            app = app.with("public_sysinfo", self.public_sysinfo && !self.no_public_sysinfo);
        }
        if let Some(fs) = &self.fs {
            let fs: AppComposeV2StorageFs = fs.parse().map_err(|e| Error::InvalidInput(format!("--fs: {e}")))?;
            app = app.with("storage_fs", fs.to_string());
        }
        if let Some(p) = &self.pre_launch_script {
            app = app.with_pre_launch_script(read(p)?);
        }
        Ok(app)
    }

    /// The provision request's placement and options, on its generated builder.
    pub fn shape_provision(&self, mut p: ProvisionBuilder) -> ProvisionBuilder {
        if let Some(node) = self.node {
            p = p.teepod_id(Some(node));
        }
        if let Some(region) = &self.region {
            p = p.region(Some(region.clone()));
        }
        if let Some(disk) = self.disk_size {
            p = p.disk_size(Some(i64::try_from(disk.get()).unwrap_or(i64::MAX)));
        }
        if let Some(image) = &self.image {
            p = p.image(Some(image.clone()));
        }
        if self.listed {
            p = p.listed(true);
        }
        if self.dev_os || self.no_dev_os {
            p = p.prefer_dev(Some(self.dev_os && !self.no_dev_os));
        }
        p
    }

    /// Flags that only a new CVM takes (an update says it ignores them,
    /// where Phala's CLI ignores them silently).
    pub fn create_only(&self) -> Vec<&'static str> {
        let given = [
            (self.node.is_some(), "--node"),
            (self.region.is_some(), "--region"),
            (self.disk_size.is_some(), "--disk-size"),
            (self.image.is_some(), "--image"),
            (self.listed, "--listed"),
            (self.dev_os || self.no_dev_os, "--dev-os"),
            (self.instance_type.is_some(), "--instance-type"),
        ];
        given.into_iter().filter(|(g, _)| *g).map(|(_, f)| f).collect()
    }
}

//! The command line.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use phala_cloud::KnownStatus;
use phala_cloud::raw::types::ListCvmsPaginatedFamily;

/// Manage fleets of Phala Cloud CVMs: list, status, state, start, stop,
/// shutdown, restart (rolling too), delete and wait, whole fleets at once.
///
/// Configuration comes from the same environment variables as Phala's SDKs
/// (PHALA_CLOUD_API_KEY, PHALA_CLOUD_API_PREFIX, PHALA_CLOUD_WORKSPACE);
/// flags override them. With --simulate, an embedded simulator with a seeded
/// fleet answers instead, so every command works with no account.
///
/// Exit codes: 0 success, 1 API or network error, 2 usage error,
/// 3 some CVMs failed or did not reach the target.
#[derive(Parser, Debug)]
#[command(name = "phala-cvm", version, propagate_version = true)]
pub struct Args {
    /// Run against an embedded simulator (seeded fleet, accelerated time).
    #[arg(long, global = true)]
    pub simulate: bool,
    /// CVMs in the simulated fleet.
    #[arg(long, global = true, default_value_t = 120, value_name = "N")]
    pub sim_cvms: usize,
    /// Seed of the simulated fleet.
    #[arg(long, global = true, default_value_t = 1, value_name = "SEED")]
    pub sim_seed: u64,
    /// Simulated containers also print hostile log lines (terminal escapes,
    /// one line this many bytes long, bytes that are not UTF-8).
    #[arg(long, global = true, hide = true, value_name = "BYTES")]
    pub sim_hostile_logs: Option<usize>,
    /// API origin, with or without /api/v1.
    #[arg(long, global = true, env = "PHALA_CLOUD_API_PREFIX", value_name = "URL")]
    pub base_url: Option<String>,
    /// API key (prefer the environment variable: flags show up in `ps`).
    #[arg(
        long,
        global = true,
        env = "PHALA_CLOUD_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// The stored profile to use (see `profiles`); default: the project's
    /// (phala.toml), else the current one. A key given outright wins.
    #[arg(long, global = true, env = "PHALA_CLOUD_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Workspace, sent as X-Phala-Workspace.
    #[arg(long, global = true, env = "PHALA_CLOUD_WORKSPACE", value_name = "WORKSPACE")]
    pub workspace: Option<String>,
    /// API version (X-Phala-Version): 2025-10-28, 2026-01-21, 2026-05-22,
    /// 2026-06-23 or LATEST; another is refused before any request.
    #[arg(long, global = true, env = "PHALA_CLOUD_API_VERSION", default_value = phala_cloud::DEFAULT_API_VERSION, value_name = "V", value_parser = api_version)]
    pub api_version: String,
    /// Output: a table for people, JSON (or JSON Lines) for scripts.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    /// Show progress on stderr even when it is not a terminal.
    #[arg(long, global = true)]
    pub progress: bool,
    /// Log to stderr at this level: retries and reconnects at warn, each
    /// request at debug. Credentials are never logged.
    #[arg(long, global = true, env = "PHALA_CVM_LOG", value_enum, default_value_t = LogLevel::Off, value_name = "LEVEL")]
    pub log_level: LogLevel,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn filter(self) -> tracing_subscriber::filter::LevelFilter {
        use tracing_subscriber::filter::LevelFilter;
        match self {
            LogLevel::Off => LevelFilter::OFF,
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    /// JSON Lines: streams (list, history) print one document per line as
    /// it arrives; other commands print their one document on one line.
    Jsonl,
}

/// The instance family, as the generated type reads it (its values come from
/// the overlaid document).
fn family(s: &str) -> Result<ListCvmsPaginatedFamily, String> {
    s.parse()
        .map_err(|e: phala_cloud::raw::types::error::ConversionError| e.to_string())
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Any operation of the API, generated from its document: a command per
    /// operation, its parameters as flags, a body from flags or --json-body FILE.
    #[command(subcommand_value_name = "OPERATION", subcommand_help_heading = "Operations")]
    Api(crate::api::ApiArgs),
    /// Check an API key and store it as a profile, in the credentials file
    /// Phala's CLI reads (PHALA_CLOUD_DIR, else ~/.phala-cloud): the key
    /// from the argument, --api-key or PHALA_CLOUD_API_KEY, else asked for.
    Login {
        /// The key (prefer the prompt or standard input: arguments show up in `ps`).
        key: Option<String>,
    },
    /// Remove a stored profile (--profile, else the current one).
    Logout,
    /// List the stored profiles, or make one current.
    Profiles {
        #[command(subcommand)]
        command: Option<crate::account::ProfilesCommand>,
    },
    /// Who the key in use belongs to, its workspace, and which profile.
    Whoami,
    /// Link this directory to a CVM (phala.toml, as Phala's CLI writes it):
    /// commands run here then take it when no CVM is named.
    Link {
        /// Hashed id, VM UUID, app_APPID, instance id or name.
        cvm: String,
    },
    /// The nodes this workspace may deploy to, with capacity left.
    Nodes,
    /// Instance types: every family's, or one family's (cpu, gpu, ...).
    InstanceTypes {
        /// Only this family.
        family: Option<String>,
    },
    /// The OS images CVMs can run.
    OsImages,
    /// The KMS instances (contracts from API 2026-06-23 on).
    Kms,
    /// The workspaces the key may act in, with quotas left (remaining/limit).
    Workspaces,
    /// A CVM's logs: a container's (default), or its serial console, stdout
    /// or stderr; -f follows. Lines from the CVM are shown escaped, never
    /// interpreted (--raw opts out); an endless line is cut with a marker.
    Logs(crate::logs::LogsArgs),
    /// A CVM's containers (name, image, created, status, state).
    Ps {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm: Option<String>,
    },
    /// A CVM's attestation, checked here: each RTMR3 event's digest, the
    /// log's replay to RTMR3, the compose hash and app id it records.
    /// Exit 3 when the answer contradicts itself.
    Attestation {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm: Option<String>,
    },
    /// ssh into a CVM (dev OS) through its dstack gateway over TLS, as
    /// Phala's CLI does (needs ssh and openssl); arguments after -- go to ssh.
    Ssh(crate::ssh::SshArgs),
    /// Change a CVM's vCPUs, memory, disk or instance type.
    Resize(crate::settings::ResizeArgs),
    /// Who may read a CVM's logs, system info and TCB info.
    Visibility(crate::settings::VisibilityArgs),
    /// A CVM's runtime configuration: hostname, SSH keys injected at launch,
    /// default gateway domain.
    RuntimeConfig {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm: Option<String>,
    },
    /// Move a CVM to another OS image; without --image, list those it can
    /// move to.
    Upgrade {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm: Option<String>,
        /// The OS image name (see `upgrade CVM` or `os-images`).
        #[arg(long, value_name = "NAME")]
        image: Option<String>,
    },
    /// List CVMs (both API response shapes, one table).
    List {
        /// Only the CVMs (replicas) of this app.
        #[arg(long, value_name = "APP_ID")]
        app: Option<String>,
        /// Only CVMs with this status.
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Only CVMs of this instance family: all, cpu or gpu (API 2026-05-22 on).
        #[arg(long, value_name = "FAMILY", value_parser = family, conflicts_with = "app")]
        family: Option<ListCvmsPaginatedFamily>,
        /// Only CVMs of this instance type, e.g. tdx.small; repeat for several
        /// (API 2026-05-22 on).
        #[arg(long = "instance-type", value_name = "TYPE", conflicts_with = "app")]
        instance_types: Vec<String>,
    },
    /// Batch status of any number of CVMs (by any reference).
    Status {
        #[command(flatten)]
        select: UuidSelect,
    },
    /// The state of one CVM, or follow it over Server-Sent Events.
    State {
        /// Hashed id, VM UUID, app_APPID (the app id with an app_ prefix), instance id or name. Default: the CVM phala.toml here links to.
        cvm_id: Option<String>,
        /// Follow state events until --target is reached.
        #[arg(long, requires = "target")]
        watch: bool,
        /// Status to wait for with --watch.
        #[arg(long, value_name = "STATUS", value_parser = known_status())]
        target: Option<KnownStatus>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        timeout: u64,
    },
    /// Stop CVMs: any number, in chunks of 50.
    Stop {
        /// Hashed CVM ids (cvm_...).
        #[arg(value_name = "CVM_ID", conflicts_with_all = ["all", "app"], required_unless_present_any = ["all", "app"])]
        ids: Vec<String>,
        /// Every CVM of the workspace.
        #[arg(long, conflicts_with = "app")]
        all: bool,
        /// Every CVM of this app.
        #[arg(long, value_name = "APP_ID")]
        app: Option<String>,
        /// Then wait until they are stopped.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        timeout: u64,
        /// Do not ask for confirmation (needed for --all/--app in scripts).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// A CVM's operation history, newest first (all of it: no pages).
    History {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm_id: Option<String>,
        /// Only operations started since: an RFC 3339 time, or an age like 30m, 12h, 7d.
        #[arg(long, value_name = "WHEN", value_parser = parse_since)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only operations of this type (power_on, power_off, shutdown, restart, ...); repeatable.
        #[arg(long = "type", value_name = "TYPE")]
        types: Vec<String>,
    },
    /// Cancel the operation in flight on a CVM.
    Cancel {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm_id: Option<String>,
    },
    /// Details of one CVM (either API version's shape).
    Get {
        /// Hashed id, VM UUID, app_APPID (the app id with an app_ prefix), instance id or name. Default: the CVM phala.toml here links to.
        cvm_id: Option<String>,
    },
    /// Start stopped CVMs (one request per CVM).
    Start {
        #[command(flatten)]
        select: CvmSelect,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Shut CVMs down gracefully (slower than stop).
    Shutdown {
        #[command(flatten)]
        select: CvmSelect,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Restart CVMs: all at once, or a few at a time with --rolling.
    Restart {
        #[command(flatten)]
        select: CvmSelect,
        #[command(flatten)]
        wait: WaitFlags,
        /// Skip the graceful shutdown.
        #[arg(long)]
        force: bool,
        /// Restart --max-unavailable CVMs at a time, each batch running
        /// again before the next; stop at the first failure.
        #[arg(long)]
        rolling: bool,
        /// CVMs restarting at once with --rolling.
        #[arg(long, default_value_t = 1, value_name = "N", requires = "rolling")]
        max_unavailable: usize,
    },
    /// Delete CVMs for good. Always asks first, unless --yes.
    Delete {
        #[command(flatten)]
        select: CvmSelect,
        #[command(flatten)]
        wait: WaitFlags,
    },
    /// Print a shell completion script (e.g. `phala-cvm completions bash >
    /// /etc/bash_completion.d/phala-cvm`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Deploy a CVM from a docker-compose file, checked end to end: the
    /// server's compose hash must be ours, the env key signed by the KMS,
    /// the env sealed here, the compose the CVM holds ours.
    Deploy(crate::deploy_flags::DeployArgs),
    /// Update CVMs' compose, env or both, checked like deploy (the server's
    /// compose hash must be ours, the env key signed by the KMS, the held
    /// compose read back). Several CVMs (or --app/--all) roll --max-unavailable
    /// at a time.
    Update(UpdateArgs),
    /// Finish an update an on-chain KMS held (HTTP 465) once its compose
    /// hash is registered on chain: `update` printed the token and hash.
    CommitUpdate {
        /// The CVM `update` named.
        cvm_id: String,
        /// The one-time commit token `update` printed.
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// The compose hash registered on chain.
        #[arg(long, value_name = "HASH")]
        compose_hash: String,
        /// The registering transaction (or `already-registered`).
        #[arg(long, value_name = "TX")]
        transaction_hash: String,
    },
    /// Replicate a CVM: another CVM of its app, with the compose it holds
    /// (hashed here and named to the server) and its env; the replica's
    /// compose is read back and compared.
    Replicate {
        /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
        cvm_id: Option<String>,
        /// The node to put the replica on (default: the source's).
        #[arg(long, value_name = "NODE_ID")]
        node: Option<i64>,
    },
    /// Print the compose hash dstack measures (64 hex digits; `-o json`
    /// adds the exact app compose hashed). Needs no account.
    ComposeHash {
        /// A docker-compose file, wrapped as `deploy` wraps it.
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "app_compose",
            conflicts_with = "app_compose"
        )]
        compose: Option<PathBuf>,
        /// With --compose: the name (default: the file's name without extension).
        #[arg(long, value_name = "NAME", requires = "compose")]
        name: Option<String>,
        /// With --compose: its keys become allowed_envs, as in `deploy`.
        #[arg(long, value_name = "FILE", requires = "compose")]
        env_file: Option<PathBuf>,
        /// A whole app compose (JSON), hashed as it is.
        #[arg(long, value_name = "FILE.json")]
        app_compose: Option<PathBuf>,
        /// Hash the normalised form (what the SDKs' `normalize` option drops).
        #[arg(long)]
        normalize: bool,
    },
    /// Env variables, sealed on this machine.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
    /// Wait until CVMs (by any reference) reach a status.
    Wait {
        #[command(flatten)]
        select: UuidSelect,
        /// The status to reach.
        #[arg(long, value_name = "STATUS", value_parser = known_status())]
        target: KnownStatus,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        timeout: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// Seal env variables to an app's env-encryption public key; prints the
    /// hex ciphertext (the `encrypted_env` of the API), nothing else. The key
    /// is trusted as given: check where it came from.
    Encrypt {
        /// The app's X25519 env-encryption public key (32 bytes of hex).
        #[arg(long, value_name = "HEX")]
        pubkey: String,
        /// KEY=VALUE lines (default: standard input).
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
    },
}

/// Which CVMs a lifecycle command acts on.
#[derive(ClapArgs, Debug)]
pub struct CvmSelect {
    /// Hashed ids (cvm_...), VM UUIDs, app_APPID, instance ids or names.
    #[arg(value_name = "CVM_ID", conflicts_with_all = ["all", "app"], required_unless_present_any = ["all", "app"])]
    pub ids: Vec<String>,
    /// Every CVM of the workspace.
    #[arg(long, conflicts_with = "app")]
    pub all: bool,
    /// Every CVM (replica) of this app.
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// Do not ask for confirmation (needed for --all/--app and delete in scripts).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Waiting after a lifecycle command.
#[derive(ClapArgs, Debug)]
pub struct WaitFlags {
    /// Then wait until they are there (running, stopped, or gone).
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (per batch with --rolling).
    #[arg(long, default_value_t = 600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,
}

#[derive(ClapArgs, Debug)]
pub struct UuidSelect {
    /// CVMs: hashed id, VM UUID, app_APPID (all of the app's CVMs), instance id or name.
    #[arg(value_name = "CVM", conflicts_with = "all", required_unless_present = "all")]
    pub uuids: Vec<String>,
    /// Every CVM of the workspace.
    #[arg(long)]
    pub all: bool,
}

/// An RFC 3339 time, or an age (`90s`, `30m`, `12h`, `7d`) before now.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is neither an RFC 3339 time nor an age like 30m"))?;
    let age = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?}: the unit must be s, m, h or d, and the age in range"))?;
    chrono::Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| format!("{text:?} is too far back"))
}

/// A version this client reads, as sent (`LATEST` resolved to the newest).
fn api_version(v: &str) -> Result<String, String> {
    phala_cloud::raw::versions::ApiVersion::parse_supported(v)
        .map(|v| v.as_str().to_string())
        .map_err(|e| e.to_string())
}

/// A status the API knows: anything else is refused before a request is
/// sent (exit 2, the known ones listed), and shells complete the names.
fn known_status() -> impl clap::builder::TypedValueParser<Value = KnownStatus> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(KnownStatus::ALL.map(|k| k.as_str()))
        .try_map(|s: String| KnownStatus::parse_listed(&s))
}

#[derive(ClapArgs, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub select: CvmSelect,
    #[command(flatten)]
    pub wait: WaitFlags,
    /// The new docker-compose file (default: keep the one held).
    #[arg(long, value_name = "FILE", required_unless_present = "env_file")]
    pub compose: Option<PathBuf>,
    /// New env variables (KEY=VALUE lines), sealed on this machine; with
    /// --compose their keys become its allowed_envs.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// With --compose: the app name in it (default: the one held).
    #[arg(long, value_name = "NAME", requires = "compose")]
    pub name: Option<String>,
    /// The KMS signer to trust (secp256k1 public key, hex).
    #[arg(long, value_name = "HEX")]
    pub kms_signer: Option<String>,
    /// Seal the env to a key whose signature is not checked.
    #[arg(long)]
    pub trust_unverified_env_key: bool,
    /// Update --max-unavailable CVMs at a time, each batch running again
    /// before the next; stop at the first failure (implied by several CVMs).
    #[arg(long)]
    pub rolling: bool,
    /// CVMs updating at once.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub max_unavailable: usize,
}

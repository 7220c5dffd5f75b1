//! What a simulator instance looks like: fleet size, time, keys, faults.

use std::time::Duration;

/// Faults injected on demand; all off by default.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Faults {
    /// Added to every response.
    pub latency: Duration,
    /// Up to this much more, uniformly.
    pub latency_jitter: Duration,
    /// Share of requests answered 500/502/503 without doing anything.
    pub server_error_rate: f64,
    /// Share of requests answered 429 with `Retry-After`, without doing anything.
    pub rate_limit_rate: f64,
    /// Share of requests answered 409 without `error_code` (a transient
    /// conflict, as the service sends while it settles), doing nothing.
    pub conflict_rate: f64,
    /// Share of requests whose connection drops after the handler ran.
    pub drop_rate: f64,
    /// Share of requests whose body is cut short (after the handler ran).
    pub truncate_rate: f64,
    /// Share of SSE streams cut after their first event.
    pub sse_drop_rate: f64,
    /// Provision answers a compose hash that is not the compose's: a
    /// server that would run something else.
    pub wrong_compose_hash: bool,
    /// Env keys come signed by another KMS's key.
    pub foreign_kms_signer: bool,
}

impl Faults {
    /// Fixed latency plus up to `jitter` more on every response.
    pub fn with_latency(mut self, latency: Duration, jitter: Duration) -> Self {
        self.latency = latency;
        self.latency_jitter = jitter;
        self
    }
    /// Share of requests answered 500/502/503, doing nothing.
    pub fn with_server_errors(mut self, rate: f64) -> Self {
        self.server_error_rate = rate;
        self
    }
    /// Share of requests answered 429 with `Retry-After`, doing nothing.
    pub fn with_rate_limits(mut self, rate: f64) -> Self {
        self.rate_limit_rate = rate;
        self
    }
    /// Share of requests answered 409 without `error_code`, doing nothing.
    pub fn with_conflicts(mut self, rate: f64) -> Self {
        self.conflict_rate = rate;
        self
    }
    /// Share of responses whose connection drops after the work was done.
    pub fn with_drops(mut self, rate: f64) -> Self {
        self.drop_rate = rate;
        self
    }
    /// Share of responses cut in half after the work was done.
    pub fn with_truncation(mut self, rate: f64) -> Self {
        self.truncate_rate = rate;
        self
    }
    /// Share of SSE streams cut after their first event.
    pub fn with_sse_drops(mut self, rate: f64) -> Self {
        self.sse_drop_rate = rate;
        self
    }
    /// Provision answers a compose hash that is not the compose's.
    pub fn with_wrong_compose_hash(mut self) -> Self {
        self.wrong_compose_hash = true;
        self
    }
    /// Env keys come signed by another KMS's key.
    pub fn with_foreign_kms_signer(mut self) -> Self {
        self.foreign_kms_signer = true;
        self
    }
}

/// Everything a simulator is started with. Build it with [`crate::Simulator::builder`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimConfig {
    /// CVMs in the fleet.
    pub cvms: usize,
    /// Apps they are spread over (replicas).
    pub apps: usize,
    /// Same seed, same fleet and fault sequence.
    pub seed: u64,
    /// Virtual seconds per real second: 100 makes a 5 s SSE interval last 50 ms.
    pub time_scale: f64,
    /// The workspace key; generated from the seed when `None`.
    pub api_key: Option<String>,
    /// The admin key; generated from the seed when `None`.
    pub admin_key: Option<String>,
    /// Virtual time a stop takes (jittered by `transition_jitter`).
    pub stop_duration: Duration,
    /// Virtual time a graceful shutdown takes (the stop part of a restart
    /// too, unless forced): slower than a stop.
    pub shutdown_duration: Duration,
    /// Virtual time a start takes.
    pub start_duration: Duration,
    /// Relative jitter of transition durations, 0..1.
    pub transition_jitter: f64,
    /// The API version applied to requests without `X-Phala-Version`.
    pub default_version: String,
    /// SSE streams one key may hold at once.
    pub max_sse_per_key: usize,
    /// Faults injected from the start.
    pub faults: Faults,
    /// Port to bind on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// When set, each CVM's first container prints hostile lines at every
    /// start, the longest this many bytes: see
    /// [`crate::SimulatorBuilder::hostile_logs`].
    pub hostile_logs: Option<usize>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            cvms: 24,
            apps: 6,
            seed: 1,
            time_scale: 1.0,
            api_key: None,
            admin_key: None,
            stop_duration: Duration::from_secs(12),
            shutdown_duration: Duration::from_secs(30),
            start_duration: Duration::from_secs(20),
            transition_jitter: 0.5,
            default_version: "2025-10-28".into(),
            max_sse_per_key: 5,
            faults: Faults::default(),
            port: 0,
            hostile_logs: None,
        }
    }
}

impl SimConfig {
    /// Real time for a virtual duration.
    pub fn real(&self, virtual_time: Duration) -> Duration {
        virtual_time.div_f64(self.time_scale.max(1e-6))
    }
}

/// API versions the service knows, oldest first: the names of
/// [`phala_cloud_api::versions::VERSIONS`], the one list.
pub const KNOWN_VERSIONS: [&str; 5] = {
    use phala_cloud_api::versions::VERSIONS;
    assert!(
        VERSIONS.len() == 5,
        "a version was added: KNOWN_VERSIONS follows the list"
    );
    [
        VERSIONS[0].version.as_str(),
        VERSIONS[1].version.as_str(),
        VERSIONS[2].version.as_str(),
        VERSIONS[3].version.as_str(),
        VERSIONS[4].version.as_str(),
    ]
};

/// The first version whose lists answer `CVMInfo[]`.
pub const CVMINFO_SINCE: &str = phala_cloud_api::versions::ApiVersion::V2026_01_21.as_str();

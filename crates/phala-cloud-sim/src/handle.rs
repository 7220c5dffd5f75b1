//! Starting, inspecting and stopping a simulator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::{Faults, SimConfig};
use crate::fleet::Fleet;
use crate::rng::Rng;
use crate::server;
use crate::state::{Inner, KeyInfo, Shared};
use crate::stats::Stats;

/// Entry point: `Simulator::builder()...start().await`.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Configure a simulator.
    pub fn builder() -> SimulatorBuilder {
        SimulatorBuilder {
            config: SimConfig::default(),
        }
    }
}

/// Configures a simulator before it starts.
#[derive(Debug, Clone)]
pub struct SimulatorBuilder {
    config: SimConfig,
}

impl SimulatorBuilder {
    /// Number of CVMs in the fleet.
    pub fn cvms(mut self, n: usize) -> Self {
        self.config.cvms = n;
        self
    }
    /// Number of apps the CVMs are spread over (replicas).
    pub fn apps(mut self, n: usize) -> Self {
        self.config.apps = n.max(1);
        self
    }
    /// Same seed, same fleet, same fault sequence.
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = seed;
        self
    }
    /// Virtual seconds per real second (`100.0`: a 12 s stop takes 120 ms).
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.config.time_scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        self
    }
    /// The workspace API key to accept.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }
    /// The admin API key to accept.
    pub fn admin_key(mut self, key: impl Into<String>) -> Self {
        self.config.admin_key = Some(key.into());
        self
    }
    /// Virtual duration of a stop (jittered).
    pub fn stop_duration(mut self, d: Duration) -> Self {
        self.config.stop_duration = d;
        self
    }
    /// Virtual duration of a graceful shutdown (jittered).
    pub fn shutdown_duration(mut self, d: Duration) -> Self {
        self.config.shutdown_duration = d;
        self
    }
    /// Virtual duration of a start (jittered).
    pub fn start_duration(mut self, d: Duration) -> Self {
        self.config.start_duration = d;
        self
    }
    /// Relative jitter of transitions, 0..1.
    pub fn transition_jitter(mut self, j: f64) -> Self {
        self.config.transition_jitter = j.clamp(0.0, 1.0);
        self
    }
    /// The API version for requests without `X-Phala-Version`.
    pub fn default_version(mut self, v: impl Into<String>) -> Self {
        self.config.default_version = v.into();
        self
    }
    /// Faults to inject from the start.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.config.faults = faults;
        self
    }
    /// Port on 127.0.0.1 (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.config.port = port;
        self
    }
    /// Makes the logs carry hostile content, for testing code that shows
    /// untrusted log lines. At every start of every CVM, its first
    /// container (the first service of its compose) prints, on stdout:
    /// - a line of terminal escapes that would retitle the window
    ///   (`ESC ]0;pwned BEL`), clear the screen (`ESC [2J`), colour text and
    ///   write the clipboard (`ESC ]52;c;... BEL`);
    /// - one line of `long_line_bytes` bytes (`0123456789abcdef` repeated,
    ///   no newline inside: the newline comes after the last byte);
    ///
    /// and on stderr a line with bytes that are not UTF-8 (`\xff\xfe...`).
    /// The serial console (`syslog_endpoint`, `ch=serial`) prints the
    /// escape line too, at the end of its boot. Read them raw with `ansi`
    /// (`text&bare&ansi`, or the base64 NDJSON); without `ansi`, `text&bare`
    /// and the syslog strip escape sequences, as the service does.
    pub fn hostile_logs(mut self, long_line_bytes: usize) -> Self {
        self.config.hostile_logs = Some(long_line_bytes);
        self
    }
    /// Replaces the whole configuration.
    pub fn config(mut self, config: SimConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds the port, generates the fleet and starts serving.
    pub async fn start(self) -> std::io::Result<SimHandle> {
        let config = self.config;
        let mut rng = Rng::new(config.seed.wrapping_mul(31).wrapping_add(17));
        let api_key = config
            .api_key
            .clone()
            .unwrap_or_else(|| format!("phak_sim_{}", rng.alnum(24)));
        let admin_key = config
            .admin_key
            .clone()
            .unwrap_or_else(|| format!("phak_admin_{}", rng.alnum(24)));
        let partner_key = format!("phak_partner_{}", rng.alnum(24));
        let mut keys = BTreeMap::new();
        keys.insert(
            api_key.clone(),
            KeyInfo {
                label: "workspace",
                workspaces: vec![0, 1],
                admin: false,
            },
        );
        keys.insert(
            partner_key.clone(),
            KeyInfo {
                label: "partner",
                workspaces: vec![2],
                admin: false,
            },
        );
        keys.insert(
            admin_key.clone(),
            KeyInfo {
                label: "admin",
                workspaces: vec![0],
                admin: true,
            },
        );
        let mut fleet = Fleet::generate(&config);
        let webhooks = crate::webhooks::Store::new(config.seed);
        let faults = config.faults.clone();
        let (listener, addr) = server::bind(config.port).await?;
        let base_url = format!("http://{addr}");
        fleet.log_urls = Some(crate::logs::LogUrls::new(&base_url, config.seed));
        let kms = Arc::new(crate::deploy::Kms::new(config.seed));
        fleet.kms = Some(kms.clone());
        let logs = crate::logs::Store::new(config.seed, config.hostile_logs);
        let shared = Arc::new(Shared {
            kms,
            config,
            origin: Instant::now(),
            keys,
            inner: Mutex::new(Inner {
                fleet,
                rng,
                stats: Stats::default(),
                faults,
                next_request: 0,
                deployments: Default::default(),
                webhooks,
                logs,
                records: Default::default(),
            }),
            hub: Default::default(),
            logs_wake: tokio::sync::watch::channel(()).0,
        });
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let pump = crate::webhooks::run_pump(shared.clone());
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            // The webhook pump lives as long as the server.
            tokio::select! {
                _ = serve => {}
                () = pump => {}
            }
        });
        Ok(SimHandle {
            base_url,
            api_key,
            admin_key,
            partner_key,
            shared,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// One CVM as tests see it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CvmInfo {
    /// Hashed id (`cvm_...`).
    pub id: String,
    /// VM UUID.
    pub vm_uuid: String,
    /// Name.
    pub name: String,
    /// App id (40 hex digits).
    pub app_id: String,
    /// Status now.
    pub status: String,
    /// An operation is in flight.
    pub in_progress: bool,
    /// True when the workspace key sees it (its default workspace).
    pub in_main_workspace: bool,
    /// When the operation in flight finishes (real time), so benchmarks can
    /// measure how soon a client notices.
    pub operation_done_at: Option<std::time::Instant>,
}

/// Changes a running simulator's faults; cheap to clone and `Send`.
#[derive(Clone)]
pub struct FaultControl(Arc<Shared>);

impl FaultControl {
    /// Replaces the faults injected from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.0.lock().faults = faults;
    }
}

impl std::fmt::Debug for FaultControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultControl").finish_non_exhaustive()
    }
}

/// A running simulator. Dropping it stops the server too.
pub struct SimHandle {
    base_url: String,
    api_key: String,
    admin_key: String,
    partner_key: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// `http://127.0.0.1:PORT`, without `/api/v1`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    /// The key of the main workspace's user.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }
    /// The admin key.
    pub fn admin_key(&self) -> &str {
        &self.admin_key
    }
    /// A key of another workspace, whose CVMs the main key cannot touch.
    pub fn partner_key(&self) -> &str {
        &self.partner_key
    }
    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }
    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }
    /// Replaces the faults injected from now on.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.lock().faults = faults;
    }
    /// A handle that changes faults from another task, e.g. to end a burst.
    pub fn fault_control(&self) -> FaultControl {
        FaultControl(self.shared.clone())
    }
    /// The fleet as it is now (transitions applied).
    pub fn cvms(&self) -> Vec<CvmInfo> {
        let (inner, _) = self.shared.now();
        let fleet = &inner.fleet;
        fleet
            .live()
            .map(|i| &fleet.cvms[i])
            .map(|c| CvmInfo {
                id: c.id.clone(),
                vm_uuid: c.vm_uuid.clone(),
                name: c.name.clone(),
                app_id: c.app_id.clone(),
                status: c.status.clone(),
                in_progress: c.operation.is_some(),
                in_main_workspace: c.workspace == 0,
                operation_done_at: c.operation.as_ref().map(|op| op.done_at.into_std()),
            })
            .collect()
    }
    /// The env a deployed CVM opened from its `encrypted_env`, as the CVM
    /// sees it (key, value), by any id form; `None` for a CVM not deployed
    /// through provision and commit.
    pub fn deployed_env(&self, id: &str) -> Option<Vec<(String, String)>> {
        let inner = self.shared.lock();
        let idx = inner.fleet.find(id)?;
        inner.deployments.deployed.get(&idx).map(|d| d.env.clone())
    }

    /// The simulated KMS's signer (compressed secp256k1 key, `0x` hex): the
    /// one its env keys are signed by, to pin in a client.
    pub fn kms_signer(&self) -> String {
        self.shared.kms.signer_hex()
    }

    /// Deletes a CVM (by any id form); true if it existed. Open streams on it get an `error` event.
    pub fn remove_cvm(&self, id: &str) -> bool {
        let mut inner = self.shared.lock();
        match inner.fleet.find(id) {
            Some(idx) => {
                inner.fleet.remove(idx);
                drop(inner);
                self.shared.hub.poke();
                self.shared.logs_wake.send_replace(());
                true
            }
            None => false,
        }
    }
    /// Stops serving and waits for the server task (at most 2 s for open streams).
    pub async fn shutdown(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        self.shared.hub.close();
        // Log streams end: they see the simulator closed.
        self.shared.logs_wake.send_replace(());
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.shared.hub.close();
        self.shared.logs_wake.send_replace(());
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

//! The simulated fleet and its state machine over (virtual) time.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::SimConfig;
use crate::rng::Rng;

/// One guest event, as the VMM reports it.
#[derive(Debug, Clone)]
pub struct Event {
    pub event: String,
    pub body: String,
    pub timestamp_ms: i64,
}

/// An operation in flight.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `start`, `stop`, `shutdown` or `restart`.
    pub kind: &'static str,
    pub target: &'static str,
    /// A restart's switch from stopping to starting.
    pub halfway: Option<Instant>,
    pub started_at: DateTime<Utc>,
    pub started: Instant,
    pub done_at: Instant,
    pub correlation_id: String,
    /// The status before it began: where a cancel leaves the CVM.
    pub from: String,
}

impl Operation {
    /// When `tick` must next look at it: its halfway point, else its end.
    fn wake_at(&self) -> Instant {
        self.halfway.unwrap_or(self.done_at)
    }
}

/// One operation as the history endpoint reports it.
#[derive(Debug, Clone)]
pub struct OpRecord {
    pub correlation_id: String,
    pub kind: &'static str,
    pub target: &'static str,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// `in_progress`, `completed` or `failed`.
    pub status: &'static str,
    pub error: Option<String>,
    /// (event type, time, CVM state then).
    pub events: Vec<(String, DateTime<Utc>, String)>,
}

/// Records kept per CVM, newest last.
const HISTORY_LIMIT: usize = 500;

/// One CVM.
#[derive(Debug, Clone)]
pub struct Cvm {
    pub id: String,
    /// The internal database id older API versions show.
    pub numeric_id: i64,
    pub vm_uuid: String,
    pub name: String,
    pub app_id: String,
    pub instance_id: String,
    pub workspace: usize,
    pub user: Option<usize>,
    pub node: usize,
    pub status: String,
    pub operation: Option<Operation>,
    pub events: Vec<Event>,
    pub running_since: Option<DateTime<Utc>>,
    pub exited_at: Option<DateTime<Utc>>,
    pub boot_error: Option<String>,
    /// Operations begun on it, oldest first (at most [`HISTORY_LIMIT`]).
    pub history: Vec<OpRecord>,
    pub vcpu: i64,
    pub memory_mb: i64,
    pub disk_gb: i64,
    pub created_at: DateTime<Utc>,
    /// Deleted: kept in place (so indices and fleet order hold) but gone
    /// from every lookup and listing; see [`Fleet::remove`].
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct User {
    pub numeric_id: i64,
    pub id: String,
    pub username: String,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: i64,
    pub name: String,
    pub region: String,
}

/// The history's name of an operation kind.
pub fn op_type(kind: &str) -> &'static str {
    match kind {
        "start" => "power_on",
        "stop" => "power_off",
        "shutdown" => "shutdown",
        "restart" => "restart",
        _ => "other",
    }
}

/// A per-CVM lifecycle call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Shutdown,
    Restart { force: bool },
}

/// What a lifecycle call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    Applied,
    /// Already there (or on its way): answered with the record, nothing done.
    Nothing,
    /// Another operation is in flight: 409.
    Busy,
}

/// The whole simulated world.
#[derive(Debug)]
pub struct Fleet {
    pub cvms: Vec<Cvm>,
    pub workspaces: Vec<Workspace>,
    pub users: Vec<User>,
    pub nodes: Vec<Node>,
    pub apps: Vec<String>,
    rng: Rng,
    stop_duration: Duration,
    shutdown_duration: Duration,
    start_duration: Duration,
    jitter: f64,
    time_scale: f64,
    epoch: DateTime<Utc>,
    correlation: u64,
    /// Hashed id -> index.
    by_id: HashMap<String, usize>,
    /// VM UUID -> index.
    by_uuid: HashMap<String, usize>,
    /// CVMs with an operation in flight, by the instant each next needs
    /// `tick` (a restart's halfway, else the end): a request pays for the
    /// transitions due, not for every operation in flight.
    wake: BTreeSet<(Instant, usize)>,
    /// Restarts in flight, kept as they begin and end (stats read it on
    /// every applied call).
    restarts: usize,
    /// Indices of each workspace's CVMs, in fleet order: a page of a
    /// workspace's list is a slice of it, whatever the fleet's size.
    by_workspace: Vec<Vec<usize>>,
}

const WORDS: [&str; 12] = [
    "web", "api", "worker", "oracle", "relay", "indexer", "agent", "gateway", "vault", "miner", "bot", "llm",
];
const REGIONS: [&str; 4] = ["us-west", "us-east", "eu-central", "ap-southeast"];

fn now_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Cvm {
    /// Its simulated instance type, from its size (every one a CPU type).
    pub fn instance_type(&self) -> String {
        format!(
            "tdx.{}",
            ["small", "medium", "large", "xlarge"][self.vcpu.trailing_zeros() as usize % 4]
        )
    }
}

impl Fleet {
    /// A fleet of `config.cvms` CVMs over `config.apps` apps; same seed, same fleet.
    pub fn generate(config: &SimConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let epoch = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let workspaces: Vec<Workspace> = ["main", "staging", "partner"]
            .iter()
            .map(|name| Workspace {
                id: format!("wks_{}", rng.alnum(8)),
                name: format!("{name}-team"),
            })
            .collect();
        let users: Vec<User> = ["alice", "bob", "carol"]
            .iter()
            .enumerate()
            .map(|(i, name)| User {
                numeric_id: 1000 + i as i64,
                id: format!("usr_{}", rng.alnum(8)),
                username: name.to_string(),
            })
            .collect();
        let nodes: Vec<Node> = (0..4)
            .map(|i| Node {
                id: 10 + i as i64,
                name: format!("prod{}-{}", i + 1, REGIONS[i % 4]),
                region: REGIONS[i % 4].into(),
            })
            .collect();
        let apps: Vec<String> = (0..config.apps.max(1)).map(|_| rng.hex(40)).collect();
        let app_names: Vec<String> = (0..apps.len())
            .map(|i| format!("{}-{}", WORDS[i % WORDS.len()], i / WORDS.len() + 1))
            .collect();
        let mut fleet = Fleet {
            cvms: Vec::with_capacity(config.cvms),
            workspaces,
            users,
            nodes,
            apps,
            rng,
            stop_duration: config.stop_duration,
            shutdown_duration: config.shutdown_duration,
            start_duration: config.start_duration,
            jitter: config.transition_jitter,
            time_scale: config.time_scale.max(1e-6),
            epoch,
            correlation: 0,
            by_id: HashMap::new(),
            by_uuid: HashMap::new(),
            wake: BTreeSet::new(),
            restarts: 0,
            by_workspace: Vec::new(),
        };
        let now = Instant::now();
        for i in 0..config.cvms {
            let app = i % fleet.apps.len();
            // Most CVMs live in the main workspace; an app stays in one workspace.
            let workspace = match app % 10 {
                8 => 1,
                9 => 2,
                _ => 0,
            };
            let roll = fleet.rng.unit();
            let status = if roll < 0.80 {
                "running"
            } else if roll < 0.92 {
                "stopped"
            } else if roll < 0.97 {
                "starting"
            } else {
                "error"
            };
            let created_at = epoch - chrono::Duration::hours(24 + fleet.rng.below(24 * 90) as i64);
            let mut cvm = Cvm {
                id: format!("cvm_{}", fleet.rng.alnum(8)),
                numeric_id: 5000 + i as i64,
                vm_uuid: fleet.rng.uuid(),
                name: format!("{}-{}", app_names[app], i / fleet.apps.len()),
                app_id: fleet.apps[app].clone(),
                instance_id: fleet.rng.hex(40),
                workspace,
                user: if fleet.rng.chance(0.05) {
                    None
                } else {
                    Some(workspace.min(2))
                },
                node: fleet.rng.below(4),
                status: status.into(),
                operation: None,
                events: vec![Event {
                    event: "instance.info".into(),
                    body: "created".into(),
                    timestamp_ms: now_ms(created_at),
                }],
                running_since: None,
                exited_at: None,
                boot_error: None,
                history: Vec::new(),
                vcpu: [1, 2, 4, 8][fleet.rng.below(4)],
                memory_mb: [2048, 4096, 8192, 16384][fleet.rng.below(4)],
                disk_gb: [20, 40, 80][fleet.rng.below(3)],
                created_at,
                deleted: false,
            };
            match status {
                "running" => {
                    cvm.running_since =
                        Some(epoch - chrono::Duration::minutes(5 + fleet.rng.below(60 * 24 * 30) as i64));
                    cvm.events.push(Event {
                        event: "boot.progress".into(),
                        body: "done".into(),
                        timestamp_ms: now_ms(cvm.running_since.unwrap_or(epoch)),
                    });
                }
                "stopped" => {
                    cvm.exited_at = Some(epoch - chrono::Duration::minutes(fleet.rng.below(60 * 24) as i64));
                    cvm.events.push(Event {
                        event: "shutdown.progress".into(),
                        body: "stopped".into(),
                        timestamp_ms: now_ms(cvm.exited_at.unwrap_or(epoch)),
                    });
                }
                "error" => {
                    cvm.boot_error = Some("failed to mount encrypted disk".into());
                    cvm.events.push(Event {
                        event: "boot.error".into(),
                        body: "failed to mount encrypted disk".into(),
                        timestamp_ms: now_ms(epoch),
                    });
                }
                _ => {}
            }
            fleet.cvms.push(cvm);
            if status == "starting" {
                let idx = fleet.cvms.len() - 1;
                fleet.begin(idx, "start", "running", "stopped".into(), now, epoch, false);
            }
        }
        fleet.reindex();
        fleet
    }

    /// Builds the lookup tables, once the fleet is generated (the clock and
    /// the restart count are kept by `begin` as operations start).
    fn reindex(&mut self) {
        self.by_id = self.cvms.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
        self.by_uuid = self
            .cvms
            .iter()
            .enumerate()
            .map(|(i, c)| (c.vm_uuid.clone(), i))
            .collect();
        self.by_workspace = vec![Vec::new(); self.workspaces.len()];
        for (i, c) in self.cvms.iter().enumerate() {
            self.by_workspace[c.workspace].push(i);
        }
    }

    /// A CVM deployed now (a committed provision, a replica): booting, in
    /// workspace `workspace`, on node `node`; returns its index.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &mut self,
        name: &str,
        app_id: &str,
        workspace: usize,
        node: usize,
        vcpu: i64,
        now: Instant,
        origin: Instant,
    ) -> usize {
        let at = self.clock(now, origin);
        let idx = self.cvms.len();
        let cvm = Cvm {
            id: format!("cvm_{}", self.rng.alnum(8)),
            numeric_id: 5000 + idx as i64,
            vm_uuid: self.rng.uuid(),
            name: name.to_string(),
            app_id: app_id.to_string(),
            instance_id: self.rng.hex(40),
            workspace,
            user: Some(workspace.min(2)),
            node,
            status: "stopped".into(),
            operation: None,
            events: Vec::new(),
            running_since: None,
            exited_at: None,
            boot_error: None,
            history: Vec::new(),
            vcpu,
            memory_mb: 1024 * 2 * vcpu,
            disk_gb: 40,
            created_at: at,
            deleted: false,
        };
        self.by_id.insert(cvm.id.clone(), idx);
        self.by_uuid.insert(cvm.vm_uuid.clone(), idx);
        if let Some(members) = self.by_workspace.get_mut(workspace) {
            members.push(idx);
        }
        if !self.apps.iter().any(|a| a == app_id) {
            self.apps.push(app_id.to_string());
        }
        self.cvms.push(cvm);
        self.push_event(idx, "instance.info", "created", at);
        self.begin(idx, "start", "running", "stopped".into(), now, at, false);
        idx
    }

    /// The indices of workspace `ws`'s CVMs, in fleet order.
    pub fn in_workspace(&self, ws: usize) -> &[usize] {
        self.by_workspace.get(ws).map_or(&[], Vec::as_slice)
    }

    /// Deletes CVM `idx`: out of the lookups, its workspace's index and the
    /// clock, and skipped by every scan ([`Fleet::live`]). Its slot stays, so
    /// no other index moves: a delete costs its workspace's index, not a
    /// rebuild of every table (a whole-fleet delete stays linear).
    pub fn remove(&mut self, idx: usize) {
        if self.cvms[idx].deleted {
            return;
        }
        self.take_operation(idx);
        let cvm = &mut self.cvms[idx];
        cvm.deleted = true;
        cvm.history = Vec::new();
        cvm.events = Vec::new();
        self.by_id.remove(&cvm.id);
        self.by_uuid.remove(&cvm.vm_uuid);
        let members = &mut self.by_workspace[cvm.workspace];
        if let Ok(at) = members.binary_search(&idx) {
            members.remove(at);
        }
    }

    /// The indices of the CVMs not deleted, in fleet order.
    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.cvms.len()).filter(|&i| !self.cvms[i].deleted)
    }

    /// The index of a hashed id.
    pub fn index_of_id(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The index of a VM UUID.
    pub fn index_of_uuid(&self, uuid: &str) -> Option<usize> {
        self.by_uuid.get(uuid).copied()
    }

    /// Wall-clock time of the simulation, advanced by virtual time.
    pub fn clock(&self, now: Instant, origin: Instant) -> DateTime<Utc> {
        let elapsed = now.saturating_duration_since(origin).mul_f64(self.time_scale);
        self.epoch + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn push_event(&mut self, idx: usize, event: &str, body: &str, at: DateTime<Utc>) {
        let events = &mut self.cvms[idx].events;
        events.push(Event {
            event: event.into(),
            body: body.into(),
            timestamp_ms: now_ms(at),
        });
        if events.len() > 20 {
            let extra = events.len() - 20;
            events.drain(..extra);
        }
    }

    /// Puts an operation in flight on CVM `idx`: how long it takes depends
    /// on its kind (a restart is a stop, graceful unless forced, then a start).
    /// `from` is the status before it began: where a cancel leaves the CVM.
    #[allow(clippy::too_many_arguments)]
    fn begin(
        &mut self,
        idx: usize,
        kind: &'static str,
        target: &'static str,
        from: String,
        now: Instant,
        at: DateTime<Utc>,
        force: bool,
    ) {
        let stop_part = if force {
            self.stop_duration
        } else {
            self.shutdown_duration
        };
        let mut jittered = |d: Duration| self.rng.jitter(d, self.jitter).div_f64(self.time_scale);
        let (halfway, total) = match kind {
            "stop" => (None, jittered(self.stop_duration)),
            "shutdown" => (None, jittered(self.shutdown_duration)),
            "restart" => {
                let down = jittered(stop_part);
                (Some(now + down), down + jittered(self.start_duration))
            }
            _ => (None, jittered(self.start_duration)),
        };
        self.correlation += 1;
        let correlation_id = format!("op_{:08x}{}", self.correlation, self.rng.hex(8));
        let cvm = &mut self.cvms[idx];
        cvm.history.push(OpRecord {
            correlation_id: correlation_id.clone(),
            kind,
            target,
            started_at: at,
            completed_at: None,
            status: "in_progress",
            error: None,
            events: vec![(format!("instance.{}.start", op_type(kind)), at, cvm.status.clone())],
        });
        if cvm.history.len() > HISTORY_LIMIT {
            cvm.history.remove(0);
        }
        let op = Operation {
            kind,
            target,
            // A restart of a stopped CVM has nothing to stop.
            halfway: halfway.filter(|_| cvm.status != "starting"),
            started_at: at,
            started: now,
            done_at: now + total,
            correlation_id,
            from,
        };
        self.wake.insert((op.wake_at(), idx));
        self.restarts += usize::from(kind == "restart");
        self.cvms[idx].operation = Some(op);
    }

    /// Takes CVM `idx`'s operation in flight off the clock.
    fn take_operation(&mut self, idx: usize) -> Option<Operation> {
        let op = self.cvms[idx].operation.take()?;
        self.wake.remove(&(op.wake_at(), idx));
        self.restarts -= usize::from(op.kind == "restart");
        Some(op)
    }

    /// Ends the record of CVM `idx`'s operation `correlation_id`.
    fn close_record(&mut self, idx: usize, correlation_id: &str, at: DateTime<Utc>, outcome: Result<(), &str>) {
        let cvm = &mut self.cvms[idx];
        let state = cvm.status.clone();
        if let Some(record) = cvm
            .history
            .iter_mut()
            .rev()
            .find(|r| r.correlation_id == correlation_id)
        {
            let (status, event) = match outcome {
                Ok(()) => ("completed", "done"),
                Err(_) => ("failed", "cancelled"),
            };
            record.status = status;
            record.error = outcome.err().map(str::to_string);
            record.completed_at = Some(at);
            record
                .events
                .push((format!("instance.{}.{event}", op_type(record.kind)), at, state));
        }
    }

    /// Cancels CVM `idx`'s operation in flight, leaving it where it was
    /// before (a restart past its stop leaves it stopped); its correlation
    /// id, or `None` when nothing was in flight.
    pub fn cancel(&mut self, idx: usize, now: Instant, origin: Instant) -> Option<String> {
        let at = self.clock(now, origin);
        let op = self.take_operation(idx)?;
        let cvm = &mut self.cvms[idx];
        cvm.status = if op.kind == "restart" && cvm.status == "starting" {
            "stopped".into()
        } else {
            op.from.clone()
        };
        self.close_record(idx, &op.correlation_id, at, Err("Cancelled by user"));
        Some(op.correlation_id)
    }

    /// Applies every transition due by `now`, in the order they fell due.
    pub fn tick(&mut self, now: Instant, origin: Instant) {
        let at = self.clock(now, origin);
        while let Some(&(when, idx)) = self.wake.first() {
            if when > now {
                break;
            }
            self.wake.pop_first();
            let cvm = &mut self.cvms[idx];
            let Some(op) = cvm.operation.as_mut() else {
                continue;
            };
            let done_at = op.done_at;
            // Its key was the halfway point when it had one: due now.
            if op.halfway.take().is_some() && cvm.status == "stopping" {
                cvm.status = "starting".into();
                cvm.exited_at = Some(at);
                cvm.running_since = None;
                self.push_event(idx, "shutdown.progress", "stopped", at);
                self.push_event(idx, "boot.progress", "0%", at);
                if let Some(record) = self.cvms[idx].history.last_mut() {
                    record
                        .events
                        .push(("instance.restart.stopped".into(), at, "stopped".into()));
                }
            }
            if now < done_at {
                self.wake.insert((done_at, idx));
                continue;
            }
            let Some(op) = self.take_operation(idx) else {
                continue;
            };
            let cvm = &mut self.cvms[idx];
            cvm.status = op.target.into();
            match op.target {
                "stopped" => {
                    cvm.exited_at = Some(at);
                    cvm.running_since = None;
                    self.push_event(idx, "shutdown.progress", "stopped", at);
                }
                _ => {
                    cvm.running_since = Some(at);
                    self.push_event(idx, "boot.progress", "done", at);
                }
            }
            self.close_record(idx, &op.correlation_id, at, Ok(()));
        }
    }

    /// Starts stopping CVM `idx` (batch stop); false when it is already
    /// stopping, stopped or busy.
    pub fn stop(&mut self, idx: usize, now: Instant, origin: Instant) -> bool {
        let cvm = &self.cvms[idx];
        if cvm.operation.is_some() || matches!(cvm.status.as_str(), "stopping" | "stopped") {
            return false;
        }
        self.apply(idx, Action::Stop, now, origin);
        true
    }

    /// What `action` does to CVM `idx` now: applied, nothing to do, or
    /// refused because another operation is in flight.
    pub fn act(&mut self, idx: usize, action: Action, now: Instant, origin: Instant) -> Acted {
        let cvm = &self.cvms[idx];
        let busy = cvm.operation.is_some();
        let status = cvm.status.as_str();
        let acted = match action {
            // A force stop cancels whatever is in flight.
            Action::Stop if matches!(status, "stopped") && !busy => Acted::Nothing,
            Action::Stop
                if status == "stopping" && busy && cvm.operation.as_ref().is_some_and(|o| o.kind == "stop") =>
            {
                Acted::Nothing
            }
            Action::Stop => Acted::Applied,
            _ if busy => Acted::Busy,
            Action::Start if status == "running" => Acted::Nothing,
            Action::Shutdown if status == "stopped" => Acted::Nothing,
            Action::Start | Action::Shutdown | Action::Restart { .. } => Acted::Applied,
        };
        if acted == Acted::Applied {
            self.apply(idx, action, now, origin);
        }
        acted
    }

    fn apply(&mut self, idx: usize, action: Action, now: Instant, origin: Instant) {
        let at = self.clock(now, origin);
        // Where a cancel would leave it: where it was, or where the
        // operation this one supersedes started from.
        let from = match &self.cvms[idx].operation {
            Some(op) => op.from.clone(),
            None => self.cvms[idx].status.clone(),
        };
        if let Some(superseded) = self.take_operation(idx) {
            self.close_record(idx, &superseded.correlation_id, at, Err("Cancelled by a force stop"));
        }
        let (kind, target, status, force) = match action {
            Action::Start => ("start", "running", "starting", false),
            Action::Stop => ("stop", "stopped", "stopping", true),
            Action::Shutdown => ("shutdown", "stopped", "stopping", false),
            Action::Restart { force } => ("restart", "running", "stopping", force),
        };
        // A restart of a stopped CVM has nothing to stop.
        let status = if kind == "restart" && self.cvms[idx].status == "stopped" {
            "starting"
        } else {
            status
        };
        self.cvms[idx].status = status.into();
        self.cvms[idx].boot_error = None;
        self.begin(idx, kind, target, from, now, at, force);
        if status == "starting" {
            self.push_event(idx, "boot.progress", "0%", at);
        } else {
            self.push_event(idx, "shutdown.progress", "0%", at);
        }
    }

    /// CVMs restarting right now (stopping or starting on the way back).
    pub fn restarting(&self) -> usize {
        self.restarts
    }

    /// The progress of an operation in flight, as a percentage string.
    fn progress(op: &Operation, now: Instant) -> String {
        let total = op.done_at.saturating_duration_since(op.started).as_secs_f64().max(1e-9);
        let done = now.saturating_duration_since(op.started).as_secs_f64();
        format!("{}%", ((done / total) * 100.0).clamp(0.0, 99.0) as u32)
    }

    fn uptime(&self, idx: usize, at: DateTime<Utc>) -> Option<String> {
        let since = self.cvms[idx].running_since?;
        let secs = (at - since).num_seconds().max(0);
        Some(match secs {
            s if s >= 86_400 => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
            s if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
            s => format!("{}m{}s", s / 60, s % 60),
        })
    }

    fn events_json(&self, idx: usize) -> Value {
        self.cvms[idx]
            .events
            .iter()
            .map(|e| json!({"event": e.event, "body": e.body, "timestamp": e.timestamp_ms}))
            .collect()
    }

    /// `CvmStatus` for the batch status endpoint.
    pub fn status_json(&self, idx: usize, now: Instant, origin: Instant) -> Value {
        let at = self.clock(now, origin);
        let cvm = &self.cvms[idx];
        let op = cvm.operation.as_ref();
        json!({
            "vm_uuid": cvm.vm_uuid,
            "status": cvm.status,
            "uptime": self.uptime(idx, at),
            "in_progress": op.is_some(),
            "boot_progress": if cvm.status == "running" && op.is_none() { Some("done".to_string()) } else { self.phase_progress(idx, "starting", now) },
            "boot_error": cvm.boot_error,
            "shutdown_progress": self.phase_progress(idx, "stopping", now).or_else(|| (cvm.status == "stopped").then(|| "done".to_string())),
            "events": self.events_json(idx),
            "operation_type": op.map(|o| o.kind),
            "operation_started_at": op.map(|o| o.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "correlation_id": op.map(|o| o.correlation_id.clone()),
        })
    }

    /// The progress of the operation in flight while the CVM is in `phase`
    /// (`starting` or `stopping`).
    fn phase_progress(&self, idx: usize, phase: &str, now: Instant) -> Option<String> {
        let cvm = &self.cvms[idx];
        let op = cvm.operation.as_ref().filter(|_| cvm.status == phase)?;
        Some(Self::progress(op, now))
    }

    /// The immediate state object of `GET /cvms/{id}/state`. Optional fields
    /// without a value are left out, as the service does: Phala's TypeScript
    /// SDK declares them optional strings and rejects `null`.
    pub fn state_json(&self, idx: usize, now: Instant, origin: Instant) -> Value {
        let at = self.clock(now, origin);
        let cvm = &self.cvms[idx];
        let mut state = json!({
            "id": cvm.id,
            "name": cvm.name,
            "status": cvm.status,
            "derived_status": cvm.status,
            "instance_id": cvm.instance_id,
        });
        let optional = [
            ("uptime", self.uptime(idx, at)),
            (
                "exited_at",
                cvm.exited_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            ),
            ("boot_progress", self.phase_progress(idx, "starting", now)),
            ("boot_error", cvm.boot_error.clone()),
            ("shutdown_progress", self.phase_progress(idx, "stopping", now)),
        ];
        if let Value::Object(map) = &mut state {
            for (name, value) in optional {
                if let Some(v) = value {
                    map.insert(name.into(), Value::String(v));
                }
            }
        }
        state
    }

    /// One `HostedCvm` (API versions before 2026-01-21).
    pub fn hosted_json(&self, idx: usize, now: Instant, origin: Instant) -> Value {
        let at = self.clock(now, origin);
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        let gateway = format!("{}.dstack-{}.phala.network", cvm.app_id, node.region);
        json!({
            "hosted": {
                "id": cvm.vm_uuid,
                "name": cvm.name,
                "status": cvm.status,
                "uptime": self.uptime(idx, at).unwrap_or_default(),
                "app_url": format!("https://{gateway}"),
                "app_id": cvm.app_id,
                "instance_id": cvm.instance_id,
                "exited_at": cvm.exited_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "boot_progress": if cvm.status == "running" { Some("done") } else { None },
                "boot_error": cvm.boot_error,
                "shutdown_progress": None::<String>,
                "image_version": "dstack-0.5.3",
                "events": self.events_json(idx),
            },
            "name": cvm.name,
            "managed_user": cvm.user.map(|u| json!({"id": self.users[u].numeric_id, "username": self.users[u].username})),
            "node": {"id": node.id, "name": node.name, "region_identifier": node.region},
            "listed": false,
            "status": cvm.status,
            "in_progress": cvm.operation.is_some(),
            "dapp_dashboard_url": format!("https://{gateway}/dashboard"),
            "syslog_endpoint": None::<String>,
            "allow_upgrade": true,
            "project_id": None::<String>,
            "project_type": "webapp",
            "billing_period": "hourly",
            "kms_info": {"id": "kms_phalaprod", "slug": "phala-prod", "url": "https://kms.phala.network", "version": "0.5.3",
                         "chain_id": None::<i64>, "kms_contract_address": None::<String>, "gateway_app_id": None::<String>},
            "contract_address": None::<String>,
            "deployer_address": None::<String>,
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "gateway_domain": format!("dstack-{}.phala.network", node.region),
            "public_urls": [{"app": format!("https://{gateway}"), "instance": format!("https://{}.{gateway}", cvm.instance_id)}],
        })
    }

    /// One `CVMInfo` (API versions from 2026-01-21).
    pub fn info_json(&self, idx: usize) -> Value {
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        let ws = &self.workspaces[cvm.workspace];
        let op = cvm.operation.as_ref();
        json!({
            "id": cvm.id,
            "name": cvm.name,
            "app_id": cvm.app_id,
            "vm_uuid": cvm.vm_uuid,
            "instance_id": cvm.instance_id,
            "resource": {"instance_type": cvm.instance_type(),
                         "vcpu": cvm.vcpu, "memory_in_gb": cvm.memory_mb as f64 / 1024.0, "disk_in_gb": cvm.disk_gb, "gpus": 0,
                         "compute_billing_price": "0.058000", "billing_period": "hourly"},
            "node_info": {"object_type": "node", "id": node.id, "node_id": node.id, "name": node.name, "region": node.region,
                          "device_id": None::<String>, "ppid": None::<String>, "status": "ONLINE", "version": "0.5.3"},
            "os": {"name": "dstack", "version": "0.5.3", "is_dev": false, "os_image_hash": None::<String>},
            "kms_type": "phala",
            "kms_info": None::<Value>,
            "status": cvm.status,
            "in_progress": op.is_some(),
            "progress": op.map(|o| json!({"target": o.target, "started_at": o.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "correlation_id": o.correlation_id})),
            "compose_hash": None::<String>,
            "docker_compose_hash": None::<String>,
            "pre_launch_script_hash": None::<String>,
            "gateway": {"base_domain": format!("dstack-{}.phala.network", node.region), "cname": None::<String>},
            "logs": {"serial": None::<String>, "stdout": None::<String>, "stderr": None::<String>, "container_log_base": None::<String>},
            "services": [],
            "endpoints": [{"app": format!("https://{}.dstack-{}.phala.network", cvm.app_id, node.region), "instance": format!("https://{}.dstack-{}.phala.network", cvm.instance_id, node.region)}],
            "public_logs": false,
            "public_sysinfo": false,
            "public_tcbinfo": true,
            "gateway_enabled": true,
            "secure_time": false,
            "storage_fs": "zfs",
            "workspace": {"object_type": "workspace", "id": ws.id, "name": ws.name, "slug": ws.name, "avatar_url": None::<String>},
            "creator": cvm.user.map(|u| json!({"object_type": "user", "id": self.users[u].id, "username": self.users[u].username, "avatar_url": None::<String>})),
            "created_at": cvm.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "deleted_at": None::<String>,
            "listed": false,
            "project_type": "webapp",
        })
    }

    /// One operation record of `GET /cvms/{cvm_id}/operations`.
    pub fn record_json(&self, idx: usize, r: &OpRecord) -> Value {
        let cvm = &self.cvms[idx];
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let user = cvm.user.map(|u| &self.users[u]);
        json!({
            "correlation_id": r.correlation_id,
            "operation_type": op_type(r.kind),
            "target_state": r.target,
            "triggered_by": user.map_or(0, |u| u.numeric_id),
            "triggered_by_username": user.map(|u| u.username.clone()),
            "triggered_by_email": None::<String>,
            "started_at": ts(r.started_at),
            "completed_at": r.completed_at.map(ts),
            "duration_ms": r.completed_at.map(|c| (c - r.started_at).num_milliseconds()),
            "status": r.status,
            "error_message": r.error,
            "sub_operations": [op_type(r.kind)],
            "events": r.events.iter().map(|(e, t, s)| json!({"event_type": e, "timestamp": ts(*t), "state": s})).collect::<Vec<_>>(),
            "instance_name": cvm.name,
            "compose_hash": None::<String>,
        })
    }

    /// The `VM` record the lifecycle calls answer with. `vm_uuid`,
    /// `instance_id` and `encrypted_env_pubkey` are always present (null when
    /// unknown): Phala's TypeScript SDK requires the keys.
    /// `hashed`: the hashed id (API versions from 2026-05-22), else the integer.
    pub fn vm_json(&self, idx: usize, hashed: bool) -> Value {
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        json!({
            "id": if hashed { json!(cvm.id) } else { json!(cvm.numeric_id) },
            "name": cvm.name,
            "status": cvm.status,
            "teepod_id": node.id,
            "teepod": {"id": node.id, "name": node.name},
            "user_id": cvm.user.map(|u| self.users[u].numeric_id),
            "app_id": cvm.app_id,
            "vm_uuid": cvm.vm_uuid,
            "instance_id": cvm.instance_id,
            "app_url": format!("https://{}.dstack-{}.phala.network", cvm.app_id, node.region),
            "base_image": "dstack-0.5.3",
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "manifest_version": 2,
            "version": "0.5.3",
            "runner": "docker-compose",
            "features": ["kms", "tproxy-net"],
            "created_at": cvm.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "encrypted_env_pubkey": None::<String>,
        })
    }

    /// `GET /cvms/{cvm_id}`: the flat `CvmBasicInfo` before 2026-01-21, the
    /// `CVMInfoDetail` (the list item plus `compose_file`) from then on.
    pub fn detail_json(&self, idx: usize, cvminfo: bool) -> Value {
        if cvminfo {
            let mut info = self.info_json(idx);
            if let Value::Object(map) = &mut info {
                map.insert("compose_file".into(), Value::Null);
            }
            return info;
        }
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        let gateway = format!("{}.dstack-{}.phala.network", cvm.app_id, node.region);
        json!({
            "id": cvm.numeric_id,
            "name": cvm.name,
            "status": cvm.status,
            "in_progress": cvm.operation.is_some(),
            "teepod_id": node.id,
            "teepod": {"id": node.id, "name": node.name, "region_identifier": node.region},
            "app_id": cvm.app_id,
            "vm_uuid": cvm.vm_uuid,
            "instance_id": cvm.instance_id,
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "base_image": "dstack-0.5.3",
            "encrypted_env_pubkey": None::<String>,
            "listed": false,
            "project_id": None::<String>,
            "project_type": "webapp",
            "instance_type": cvm.instance_type(),
            "public_sysinfo": false,
            "public_logs": false,
            "dapp_dashboard_url": format!("https://{gateway}/dashboard"),
            "syslog_endpoint": None::<String>,
            "kms_info": {"id": "kms_phalaprod", "slug": "phala-prod", "url": "https://kms.phala.network", "version": "0.5.3",
                         "chain_id": None::<i64>, "kms_contract_address": None::<String>, "gateway_app_id": None::<String>},
            "contract_address": None::<String>,
            "deployer_address": None::<String>,
            "scheduled_delete_at": None::<String>,
            "public_urls": [{"app": format!("https://{gateway}"), "instance": format!("https://{}.{gateway}", cvm.instance_id)}],
            "gateway_domain": format!("dstack-{}.phala.network", node.region),
        })
    }

    /// Finds a CVM by any accepted form of `{cvm_id}`: hashed id, VM UUID with
    /// or without dashes, `app_<app id>`, instance id or name.
    pub fn find(&self, key: &str) -> Option<usize> {
        if let Some(i) = self.index_of_id(key).or_else(|| self.index_of_uuid(key)) {
            return Some(i);
        }
        // The rarer forms scan the fleet, without allocating per CVM.
        fn undashed(s: &str) -> impl Iterator<Item = u8> + '_ {
            s.bytes().filter(|&b| b != b'-')
        }
        let uuid_like = undashed(key).count() == 32;
        let app = key.strip_prefix("app_");
        self.live().find(|&i| {
            let c = &self.cvms[i];
            (uuid_like && undashed(&c.vm_uuid).eq(undashed(key)))
                || app.is_some_and(|a| a == c.app_id)
                || c.instance_id == key
                || c.name == key
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Operations in flight on the clock, one entry each, and the restarts
    /// among them counted.
    fn on_clock(fleet: &Fleet) -> bool {
        let busy = fleet.cvms.iter().filter(|c| c.operation.is_some()).count();
        let restarts = fleet
            .cvms
            .iter()
            .filter(|c| c.operation.as_ref().is_some_and(|o| o.kind == "restart"))
            .count();
        fleet.wake.len() == busy
            && fleet.restarting() == restarts
            && fleet
                .wake
                .iter()
                .all(|&(at, i)| fleet.cvms[i].operation.as_ref().is_some_and(|op| op.wake_at() == at))
    }

    /// A deleted CVM is gone from every lookup, scan and index, its
    /// operation off the clock, and no other CVM's index moves.
    #[test]
    fn a_delete_leaves_every_other_index_in_place() {
        let mut fleet = Fleet::generate(&SimConfig::default());
        let origin = Instant::now();
        let idx = (0..fleet.cvms.len())
            .find(|&i| fleet.cvms[i].status == "running" && fleet.cvms[i].operation.is_none())
            .expect("a running CVM");
        assert_eq!(
            fleet.act(idx, Action::Restart { force: false }, origin, origin),
            Acted::Applied
        );
        let gone = fleet.cvms[idx].clone();
        let others: Vec<(usize, String)> = fleet
            .live()
            .filter(|&i| i != idx)
            .map(|i| (i, fleet.cvms[i].id.clone()))
            .collect();
        let members = fleet.in_workspace(gone.workspace).len();
        let undashed = gone.vm_uuid.replace('-', "");
        let keys = [&gone.id, &gone.vm_uuid, &undashed, &gone.name, &gone.instance_id];
        for key in keys {
            assert_eq!(fleet.find(key), Some(idx), "{key}");
        }
        fleet.remove(idx);
        fleet.remove(idx);
        for key in keys {
            assert_eq!(fleet.find(key), None, "{key}");
        }
        assert!(!fleet.live().any(|i| i == idx));
        assert!(!fleet.in_workspace(gone.workspace).contains(&idx));
        assert_eq!(fleet.in_workspace(gone.workspace).len(), members - 1);
        assert!(fleet.wake.iter().all(|&(_, i)| i != idx) && on_clock(&fleet));
        for (i, id) in others {
            assert_eq!(fleet.find(&id), Some(i));
        }
    }

    /// `tick` applies exactly the transitions due, a restart's halfway
    /// included, and a superseded operation leaves the clock. Instants are
    /// passed in: nothing here waits.
    #[test]
    fn tick_applies_what_is_due_and_nothing_else() {
        let config = SimConfig {
            cvms: 40,
            transition_jitter: 0.0,
            ..SimConfig::default()
        };
        let mut fleet = Fleet::generate(&config);
        let origin = Instant::now();
        let running: Vec<usize> = (0..fleet.cvms.len())
            .filter(|&i| fleet.cvms[i].status == "running" && fleet.cvms[i].operation.is_none())
            .take(3)
            .collect();
        let [stop, graceful, forced] = running[..] else {
            panic!("the fleet has fewer than 3 running CVMs")
        };
        let s = |secs: u64| origin + Duration::from_secs(secs);
        assert_eq!(fleet.act(stop, Action::Stop, origin, origin), Acted::Applied);
        assert_eq!(
            fleet.act(graceful, Action::Restart { force: false }, origin, origin),
            Acted::Applied
        );
        assert_eq!(
            fleet.act(forced, Action::Restart { force: true }, origin, origin),
            Acted::Applied
        );
        assert!(on_clock(&fleet));
        let status = |fleet: &Fleet, i: usize| fleet.cvms[i].status.clone();

        fleet.tick(s(11), origin);
        assert_eq!(
            [status(&fleet, stop), status(&fleet, graceful), status(&fleet, forced)],
            ["stopping"; 3]
        );

        // 12 s: the stop is done and the forced restart is halfway.
        fleet.tick(s(12), origin);
        assert_eq!(status(&fleet, stop), "stopped");
        assert_eq!(status(&fleet, forced), "starting");
        assert_eq!(status(&fleet, graceful), "stopping");
        assert!(fleet.cvms[stop].operation.is_none() && on_clock(&fleet));

        // A force stop supersedes the graceful restart: its entry goes.
        assert_eq!(fleet.act(graceful, Action::Stop, s(13), origin), Acted::Applied);
        assert!(on_clock(&fleet));

        // The stop begun at 13 s ends at 25 s; the forced restart (12 s down, 20 s up) at 32 s.
        fleet.tick(s(24), origin);
        assert_eq!(status(&fleet, graceful), "stopping");
        fleet.tick(s(25), origin);
        assert_eq!(status(&fleet, graceful), "stopped");
        assert_eq!(status(&fleet, forced), "starting");
        fleet.tick(s(32), origin);
        assert_eq!(status(&fleet, forced), "running");
        assert!(on_clock(&fleet));
        let history = &fleet.cvms[graceful].history;
        assert_eq!(history[history.len() - 2].status, "failed", "the superseded restart");
        assert_eq!(history[history.len() - 1].status, "completed");
    }
}

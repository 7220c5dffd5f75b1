//! The simulated fleet and its state machine over (virtual) time.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

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

/// A CVM's status changed (webhooks deliver these): `from` is `None` for a
/// CVM just created, `to` is `deleted` for one just deleted.
#[derive(Debug, Clone)]
pub struct Change {
    pub idx: usize,
    pub from: Option<String>,
    pub to: String,
    /// The operation that moved it, if any (`start`, `stop`, ...).
    pub operation: Option<&'static str>,
    pub at: DateTime<Utc>,
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
    /// The OS image it runs (`PATCH /cvms/{cvm_id}/os-image` changes it).
    pub base_image: String,
    pub created_at: DateTime<Utc>,
    /// Which of its logs and system information are public.
    pub visibility: Visibility,
    /// Deleted: kept in place (so indices and fleet order hold) but gone
    /// from every lookup and listing; see [`Fleet::remove`].
    pub deleted: bool,
}

/// The OS image a CVM runs unless moved.
pub const DEFAULT_IMAGE: &str = "dstack-0.5.3";

/// Which of a CVM's logs and system information are public
/// (`PATCH /cvms/{cvm_id}/visibility`); the service's defaults: logs and
/// system information private, TCB information public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visibility {
    pub public_logs: bool,
    pub public_sysinfo: bool,
    pub public_tcbinfo: bool,
}

impl Default for Visibility {
    fn default() -> Self {
        Self {
            public_logs: false,
            public_sysinfo: false,
            public_tcbinfo: true,
        }
    }
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
    /// Each app's name, by the index of its id in `apps`.
    pub app_names: Vec<String>,
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
    /// Status changes not yet taken by [`Fleet::take_changes`]; `None`
    /// while nobody observes them (no webhook registered), so an
    /// unobserved fleet keeps nothing.
    changes: Option<Vec<Change>>,
    /// The simulated time of the last [`Fleet::tick`] (a delete's time).
    last_tick: DateTime<Utc>,
    /// Where the CVMs' logs are served (`syslog_endpoint`, the
    /// containers' `log_endpoint`); `None` before the server has a port.
    pub log_urls: Option<crate::logs::LogUrls>,
    /// The KMS, for the app env keys records name (`encrypted_env_pubkey`).
    pub kms: Option<std::sync::Arc<crate::deploy::Kms>>,
}

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
            base_image: DEFAULT_IMAGE.into(),
            created_at: at,
            visibility: Visibility::default(),
            deleted: false,
        };
        self.by_id.insert(cvm.id.clone(), idx);
        self.by_uuid.insert(cvm.vm_uuid.clone(), idx);
        if let Some(members) = self.by_workspace.get_mut(workspace) {
            members.push(idx);
        }
        if !self.apps.iter().any(|a| a == app_id) {
            self.apps.push(app_id.to_string());
            self.app_names.push(name.to_string());
        }
        self.cvms.push(cvm);
        self.push_event(idx, "instance.info", "created", at);
        self.note(idx, None, "starting", Some("start"), at);
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
        let from = self.cvms[idx].status.clone();
        self.note(idx, Some(from), "deleted", Some("delete"), self.last_tick);
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
        let to = if op.kind == "restart" && cvm.status == "starting" {
            "stopped".to_string()
        } else {
            op.from.clone()
        };
        let from = std::mem::replace(&mut cvm.status, to.clone());
        if from != to {
            self.note(idx, Some(from), &to, Some(op.kind), at);
        }
        self.close_record(idx, &op.correlation_id, at, Err("Cancelled by user"));
        Some(op.correlation_id)
    }

    /// Applies every transition due by `now`, in the order they fell due.
    pub fn tick(&mut self, now: Instant, origin: Instant) {
        let at = self.clock(now, origin);
        self.last_tick = at;
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
                let kind = op.kind;
                cvm.status = "starting".into();
                self.note(idx, Some("stopping".into()), "starting", Some(kind), at);
                let cvm = &mut self.cvms[idx];
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
            let from = std::mem::replace(&mut self.cvms[idx].status, op.target.into());
            self.note(idx, Some(from), op.target, Some(op.kind), at);
            let cvm = &mut self.cvms[idx];
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
        let previous = std::mem::replace(&mut self.cvms[idx].status, status.into());
        if previous != status {
            self.note(idx, Some(previous), status, Some(kind), at);
        }
        self.cvms[idx].boot_error = None;
        self.begin(idx, kind, target, from, now, at, force);
        if status == "starting" {
            self.push_event(idx, "boot.progress", "0%", at);
        } else {
            self.push_event(idx, "shutdown.progress", "0%", at);
        }
    }

    /// Records a status change, if anyone observes them.
    fn note(&mut self, idx: usize, from: Option<String>, to: &str, operation: Option<&'static str>, at: DateTime<Utc>) {
        if let Some(changes) = self.changes.as_mut() {
            changes.push(Change {
                idx,
                from,
                to: to.to_string(),
                operation,
                at,
            });
        }
    }

    /// Starts (or stops) keeping status changes for [`Fleet::take_changes`].
    pub fn observe(&mut self, on: bool) {
        match (on, self.changes.is_some()) {
            (true, false) => self.changes = Some(Vec::new()),
            (false, true) => self.changes = None,
            _ => {}
        }
    }

    /// The status changes since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<Change> {
        self.changes.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// When the next transition in flight falls due, if any.
    pub fn next_wake(&self) -> Option<Instant> {
        self.wake.first().map(|&(when, _)| when)
    }

    /// CVMs restarting right now (stopping or starting on the way back).
    pub fn restarting(&self) -> usize {
        self.restarts
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

mod generate;
mod json;

#[cfg(test)]
mod tests;

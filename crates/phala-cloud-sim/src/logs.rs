//! A CVM's logs, for real: what its serial console, its VM's stdout and
//! stderr (the `syslog_endpoint` channels) and each container of its
//! compose print, and the URLs that serve them (`routes::logs`).
//!
//! Lines come from the seed and the CVM, the same whenever they are read:
//! boot lines on the serial console (and the VM's stdout and stderr) as a
//! run begins, a few start lines per container, then a line every
//! [`APP_PERIOD`] (virtual) per container on stdout or stderr and a
//! heartbeat on the console every [`SERIAL_PERIOD`], shutdown lines when
//! the run ends (when the operation that takes the CVM down begins). Each
//! line carries its simulated timestamp.
//!
//! Lines are made lazily: a CVM's log is caught up ([`catch_up`]) to the
//! simulated now when something reads it, so a fleet nobody reads costs
//! nothing. A CVM keeps at most [`RETAINED`] lines per channel (per
//! container channel too), older ones dropped; a CVM running for months
//! before its first read shows its boot, then its last [`CATCH_UP`]
//! periodic lines of each series.
//! Runs that begin and end between two reads are not seen (the log goes
//! from the run that was to the run that is).

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::deploy::{Deployments, held_compose};
use crate::fleet::{Cvm, Fleet};
use crate::rng::Rng;
use crate::state::Inner;

/// Lines kept per channel of a CVM (and per channel of each container).
pub(crate) const RETAINED: usize = 2_000;

/// Periodic lines made at most per series when a log is caught up over a
/// long time (a CVM up for months before its first read): half of what is
/// kept, so the run's boot and start lines are kept too.
const CATCH_UP: i64 = RETAINED as i64 / 2;

/// Virtual time between two lines of one container.
pub(crate) const APP_PERIOD: Duration = Duration::seconds(5);

/// Virtual time between two heartbeats of the serial console.
const SERIAL_PERIOD: Duration = Duration::seconds(60);

/// How long before a run the serial console boots.
const BOOT_SPAN: Duration = Duration::seconds(5);

/// A line's channel: the CVM's console, or the stdout or stderr of the VM
/// (syslog) or of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Serial,
    Stdout,
    Stderr,
}

impl Channel {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "serial" => Some(Self::Serial),
            "stdout" => Some(Self::Stdout),
            "stderr" => Some(Self::Stderr),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Serial => "serial",
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// One line, without its newline. `seq` orders every line of a CVM (all
/// channels) by time.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub text: Bytes,
}

/// A container of a CVM's compose: `{project}-{service}-1`, as docker
/// compose names it, and its id.
#[derive(Debug, Clone)]
pub(crate) struct Container {
    pub name: String,
    pub service: String,
    pub image: String,
    pub id: String,
}

/// The services of a docker compose file, with their images: the keys
/// indented one level under a top-level `services:` (block style); one
/// `app` service when none is found that way.
pub(crate) fn services(file: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut inside = false;
    for line in file.lines() {
        let body = line.trim_end();
        if body.is_empty() || body.trim_start().starts_with('#') {
            continue;
        }
        let indent = body.len() - body.trim_start().len();
        if indent == 0 {
            inside = body == "services:";
            continue;
        }
        if !inside {
            continue;
        }
        let text = body.trim_start();
        if indent == 2 && text.ends_with(':') {
            out.push((
                text.trim_end_matches(':').trim_matches(['"', '\'']).to_string(),
                String::new(),
            ));
        } else if let (Some(last), Some(image)) = (out.last_mut(), text.strip_prefix("image:")) {
            last.1 = image.trim().trim_matches(['"', '\'']).to_string();
        }
    }
    if out.is_empty() {
        out.push(("app".into(), String::new()));
    }
    out
}

/// The containers CVM `idx` runs: one per service of the compose it holds.
pub(crate) fn containers(deployments: &Deployments, fleet: &Fleet, idx: usize) -> Vec<Container> {
    let cvm = &fleet.cvms[idx];
    let compose = held_compose(deployments, fleet, idx);
    let file = compose
        .get("docker_compose_file")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let project = compose.get("name").and_then(Value::as_str).unwrap_or(&cvm.name);
    services(file)
        .into_iter()
        .map(|(service, image)| {
            let name = format!("{project}-{service}-1");
            let id = hex::encode(Sha256::digest(format!("container {} {name}", cvm.instance_id)));
            let image = if image.is_empty() { "unknown".to_string() } else { image };
            Container {
                name,
                service,
                image,
                id,
            }
        })
        .collect()
}

/// Where a simulator serves its CVMs' logs, and their tokens: each CVM's
/// token is its fleet index and a MAC of it under a key derived from the
/// seed, so a token names one CVM and cannot be made up.
#[derive(Debug, Clone)]
pub(crate) struct LogUrls {
    base: String,
    key: [u8; 32],
}

impl LogUrls {
    /// Log URLs on `base_url` (`http://127.0.0.1:PORT`).
    pub fn new(base_url: &str, seed: u64) -> Self {
        Self {
            base: base_url.trim_end_matches('/').to_string(),
            key: Sha256::digest(format!("phala-cloud-sim log tokens {seed}")).into(),
        }
    }

    fn mac(&self, idx: usize, cvm: &Cvm) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(idx.to_le_bytes());
        h.update(cvm.id.as_bytes());
        hex::encode(&h.finalize()[..16])
    }

    /// CVM `idx`'s token.
    pub fn token(&self, idx: usize, cvm: &Cvm) -> String {
        format!("{idx:x}-{}", self.mac(idx, cvm))
    }

    /// The fleet index a token names, if it is one of ours (deleted CVMs included).
    pub fn index(&self, fleet: &Fleet, token: &str) -> Option<usize> {
        let (idx, mac) = token.split_once('-')?;
        if idx.is_empty() || idx.len() > 16 {
            return None;
        }
        let idx = usize::from_str_radix(idx, 16).ok()?;
        let cvm = fleet.cvms.get(idx)?;
        (self.mac(idx, cvm) == mac).then_some(idx)
    }

    /// `syslog_endpoint`: the CVM's console and VM output (`&ch=` picks).
    pub fn syslog(&self, idx: usize, cvm: &Cvm) -> String {
        format!("{}/logs/syslog?token={}", self.base, self.token(idx, cvm))
    }

    /// A container's `log_endpoint`; with `name` empty, the base a
    /// container's name is appended to (`container_log_base`).
    pub fn container(&self, idx: usize, cvm: &Cvm, name: &str) -> String {
        let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
        format!(
            "{}/logs/containers?token={}&container={name}",
            self.base,
            self.token(idx, cvm)
        )
    }
}

/// One container's output.
#[derive(Debug)]
pub(crate) struct ContainerLog {
    pub name: String,
    pub service: String,
    pub image: String,
    pub id: String,
    pub stdout: VecDeque<Line>,
    pub stderr: VecDeque<Line>,
}

impl ContainerLog {
    /// Whether `key` names it: its name (with or without docker's `/`), its
    /// id, or 12 or more leading digits of its id.
    pub fn is(&self, key: &str) -> bool {
        self.name == key.strip_prefix('/').unwrap_or(key)
            || self.id == key
            || (key.len() >= 12 && self.id.starts_with(key))
    }
}

/// Everything one CVM printed that is kept.
#[derive(Debug, Default)]
pub(crate) struct CvmLog {
    pub serial: VecDeque<Line>,
    pub stdout: VecDeque<Line>,
    pub stderr: VecDeque<Line>,
    /// The containers of its current (or last) run.
    pub containers: Vec<ContainerLog>,
    next_seq: u64,
    /// Lines are made up to here; `None` before the first look.
    until: Option<DateTime<Utc>>,
    /// The run being logged: when it began (the CVM's `running_since`).
    run: Option<DateTime<Utc>>,
    /// The last run seen begin, so a run boots once.
    seen: Option<DateTime<Utc>>,
}

/// Where a line made goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Serial,
    VmStdout,
    VmStderr,
    Container(usize, bool),
}

/// What a CVM prints, from the seed and the CVM: lines made, not yet kept.
struct Printer<'a> {
    seed: u64,
    cvm: &'a Cvm,
    hostile: Option<&'a Bytes>,
    out: Vec<(DateTime<Utc>, Target, Bytes)>,
}

/// `[    12.345678]`, as the kernel stamps its console lines.
fn uptime(since_boot: Duration) -> String {
    let us = since_boot.num_microseconds().unwrap_or(0).max(0);
    format!("[{:5}.{:06}]", us / 1_000_000, us % 1_000_000)
}

/// The `k`th time of a series `base + k * period` (the end of time past it).
fn nth(base: DateTime<Utc>, period: Duration, k: i64) -> DateTime<Utc> {
    let offset = Duration::milliseconds(period.num_milliseconds().saturating_mul(k.max(0)));
    base.checked_add_signed(offset).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The first `k` of a series `base + k * period` at or after `from`.
fn first_at_or_after(base: DateTime<Utc>, period: Duration, from: DateTime<Utc>) -> i64 {
    let offset = (from - base).num_milliseconds();
    let period = period.num_milliseconds().max(1);
    if offset <= 0 { 0 } else { (offset + period - 1) / period }
}

/// The lines every run of a CVM prints when it brings up its containers
/// with hostile content: escapes that retitle and clear a terminal, write
/// its clipboard and colour it; bytes that are not UTF-8.
pub(crate) const HOSTILE_ESCAPES: &[u8] =
    b"\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[31mALERT: terminal taken over\x1b[0m \x1b]52;c;cHduZWQ=\x07";
pub(crate) const HOSTILE_BYTES: &[u8] = b"not UTF-8: \xff\xfe\xfd\xc3 end";

impl Printer<'_> {
    fn print(&mut self, at: DateTime<Utc>, target: Target, text: impl Into<Bytes>) {
        self.out.push((at, target, text.into()));
    }

    fn hash(&self, what: &str, start: DateTime<Utc>) -> u64 {
        let digest = Sha256::digest(format!(
            "{} {} {what} {}",
            self.seed,
            self.cvm.id,
            start.timestamp_millis()
        ));
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }

    /// The console's boot, the VM's start, and each container's first lines.
    fn boot(&mut self, start: DateTime<Utc>, not_before: DateTime<Utc>, containers: &[ContainerLog]) {
        let cvm = self.cvm;
        let mut rng = Rng::new(self.hash("boot", start));
        let mut lines = vec![
            "Linux version 6.9.0-dstack (builder@dstack) (gcc 13.2.0) #1 SMP PREEMPT_DYNAMIC".to_string(),
            format!(
                "Command line: console=ttyS0 init=/init panic=1 dstack.app_id={}",
                cvm.app_id
            ),
            "tdx: Guest detected".into(),
            format!("Memory: {}K available", cvm.memory_mb * 1024),
            format!("smpboot: Allowing {} CPUs", cvm.vcpu),
            "systemd[1]: systemd 255 running in system mode".into(),
            format!("systemd[1]: Hostname set to <{}>.", cvm.name),
            "dstack-prepare.sh[412]: Unsealing the data disk with keys from the KMS".into(),
            format!(
                "dstack-prepare.sh[412]: app id {}, instance id {}",
                cvm.app_id, cvm.instance_id
            ),
            "dstack-guest-agent[530]: Listening on 0.0.0.0:8090".into(),
        ];
        lines.extend(
            containers
                .iter()
                .map(|c| format!("app-compose.sh[601]:  Container {}  Started", c.name)),
        );
        lines.push("systemd[1]: Reached target multi-user.target - Multi-User System.".into());
        let boot = start - BOOT_SPAN;
        let step = BOOT_SPAN.num_milliseconds() / (lines.len() as i64 + 1);
        for (i, line) in lines.into_iter().enumerate() {
            let since = Duration::milliseconds(step * i as i64 + rng.below(step.max(1) as usize) as i64);
            let text = format!("{} {line}", uptime(since));
            self.print((boot + since).max(not_before), Target::Serial, text);
        }
        let qemu = format!(
            "qemu-system-x86_64: VM {} started: {} vCPU, {} MB memory, TDX enabled",
            cvm.vm_uuid, cvm.vcpu, cvm.memory_mb
        );
        self.print(boot.max(not_before), Target::VmStdout, qemu);
        let warning = "qemu-system-x86_64: warning: host doesn't support requested feature: CPUID.80000001H:ECX.svm";
        self.print(boot.max(not_before), Target::VmStderr, warning);
        for (i, c) in containers.iter().enumerate() {
            let at = start + Duration::milliseconds(100 * i as i64);
            let image = format!("{} starting (image {})", c.service, c.image);
            self.print(at, Target::Container(i, false), image);
            let port = 3000 + rng.below(6000);
            let ready = format!("{} ready, listening on 0.0.0.0:{port}", c.service);
            self.print(at + Duration::milliseconds(300), Target::Container(i, false), ready);
        }
        if let (Some(long), false) = (self.hostile, containers.is_empty()) {
            let long = long.clone();
            self.print(start - Duration::milliseconds(1), Target::Serial, HOSTILE_ESCAPES);
            self.print(
                start + Duration::milliseconds(500),
                Target::Container(0, false),
                HOSTILE_ESCAPES,
            );
            self.print(
                start + Duration::milliseconds(600),
                Target::Container(0, true),
                HOSTILE_BYTES,
            );
            self.print(start + Duration::milliseconds(700), Target::Container(0, false), long);
        }
    }

    /// A boot that failed: the console up to the error.
    fn failed_boot(&mut self, at: DateTime<Utc>, error: &str) {
        let boot = at - BOOT_SPAN;
        let lines = [
            "Linux version 6.9.0-dstack (builder@dstack) (gcc 13.2.0) #1 SMP PREEMPT_DYNAMIC".to_string(),
            "tdx: Guest detected".into(),
            "dstack-prepare.sh[412]: Unsealing the data disk with keys from the KMS".into(),
            format!("dstack-prepare.sh[412]: error: {error}"),
            "systemd[1]: dstack-prepare.service: Failed with result 'exit-code'.".into(),
        ];
        for (i, line) in lines.into_iter().enumerate() {
            let since = Duration::milliseconds(900 * i as i64);
            self.print(boot + since, Target::Serial, format!("{} {line}", uptime(since)));
        }
        self.print(
            at,
            Target::VmStderr,
            format!("qemu-system-x86_64: guest failed to boot: {error}"),
        );
    }

    /// The periodic lines of the run begun at `start` due in `[from, to)`:
    /// the last [`CATCH_UP`] of each series at most.
    fn running(&mut self, start: DateTime<Utc>, containers: &[ContainerLog], from: DateTime<Utc>, to: DateTime<Utc>) {
        if to <= from {
            return;
        }
        let window = |base: DateTime<Utc>, period: Duration| {
            let hi = first_at_or_after(base, period, to);
            let lo = first_at_or_after(base, period, from).max(hi - CATCH_UP);
            lo..hi
        };
        let heartbeat = start + Duration::seconds(30);
        let seed = self.hash("load", start);
        for k in window(heartbeat, SERIAL_PERIOD) {
            let at = nth(heartbeat, SERIAL_PERIOD, k);
            let load = Rng::new(seed ^ k as u64).below(300);
            let text = format!(
                "{} dstack-guest-agent[530]: {} containers up, load {}.{:02}",
                uptime(at - start + BOOT_SPAN),
                containers.len(),
                load / 100,
                load % 100
            );
            self.print(at, Target::Serial, text);
        }
        for (i, c) in containers.iter().enumerate() {
            let base = series_base(start, i);
            let seed = self.hash(&c.name, start);
            for k in window(base, APP_PERIOD) {
                let at = nth(base, APP_PERIOD, k);
                let (stderr, text) = app_line(&c.service, Rng::new(seed ^ k as u64).next_u64());
                self.print(at, Target::Container(i, stderr), text);
            }
        }
    }

    /// The end of the run begun at `start`, at `at`.
    fn shutdown(&mut self, start: DateTime<Utc>, at: DateTime<Utc>, containers: &[ContainerLog]) {
        let up = at - start + BOOT_SPAN;
        self.print(
            at,
            Target::Serial,
            format!("{} systemd[1]: Stopping app-compose.service...", uptime(up)),
        );
        for (i, c) in containers.iter().enumerate() {
            let text = format!("{} received SIGTERM, shutting down", c.service);
            self.print(at, Target::Container(i, false), text);
            let stopped = format!("{} app-compose.sh[601]:  Container {}  Stopped", uptime(up), c.name);
            self.print(at, Target::Serial, stopped);
        }
        self.print(at, Target::Serial, format!("{} reboot: Power down", uptime(up)));
        self.print(
            at,
            Target::VmStdout,
            "qemu-system-x86_64: terminating on signal 15 from pid 1",
        );
    }
}

/// When container `i`'s periodic lines of the run begun at `start` begin.
fn series_base(start: DateTime<Utc>, i: usize) -> DateTime<Utc> {
    start + Duration::milliseconds(2000 + 317 * i as i64)
}

/// One periodic line of a container: on stderr now and then.
fn app_line(service: &str, h: u64) -> (bool, String) {
    const PATHS: [&str; 6] = [
        "/",
        "/health",
        "/api/v1/items",
        "/api/v1/orders",
        "/metrics",
        "/api/v1/users/me",
    ];
    const METHODS: [&str; 5] = ["GET", "GET", "GET", "POST", "PUT"];
    const STATUSES: [u16; 7] = [200, 200, 200, 201, 204, 304, 404];
    let ms = (h >> 8) % 250;
    let request = (h >> 32) as u32;
    match h % 7 {
        0 => (
            true,
            format!("WARN  {service}: slow upstream answer: {ms}ms (request {request:08x})"),
        ),
        1 if h.is_multiple_of(3) => (
            true,
            format!("ERROR {service}: upstream connection reset, retrying (request {request:08x})"),
        ),
        _ => (
            false,
            format!(
                "INFO  {service}: {} {} {} {ms}ms (request {request:08x})",
                METHODS[(h >> 4) as usize % METHODS.len()],
                PATHS[(h >> 12) as usize % PATHS.len()],
                STATUSES[(h >> 20) as usize % STATUSES.len()]
            ),
        ),
    }
}

impl CvmLog {
    /// The number after the last line's `seq` (0: no line yet).
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether a run is being logged (lines keep coming).
    pub fn running(&self) -> bool {
        self.run.is_some()
    }

    /// A syslog channel's lines.
    pub fn channel(&self, channel: Channel) -> &VecDeque<Line> {
        match channel {
            Channel::Serial => &self.serial,
            Channel::Stdout => &self.stdout,
            Channel::Stderr => &self.stderr,
        }
    }

    /// When the next periodic line falls due, while a run is logged.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        let (start, until) = (self.run?, self.until?);
        let heartbeat = start + Duration::seconds(30);
        let serial = nth(
            heartbeat,
            SERIAL_PERIOD,
            first_at_or_after(heartbeat, SERIAL_PERIOD, until),
        );
        let apps = (0..self.containers.len()).map(|i| {
            let base = series_base(start, i);
            nth(base, APP_PERIOD, first_at_or_after(base, APP_PERIOD, until))
        });
        apps.chain([serial]).min()
    }

    /// Keeps the lines printed, in time order, each numbered.
    fn keep(&mut self, mut printed: Vec<(DateTime<Utc>, Target, Bytes)>) {
        printed.sort_by_key(|(at, target, _)| (*at, *target));
        for (at, target, text) in printed {
            let line = Line {
                seq: self.next_seq,
                at,
                text,
            };
            self.next_seq += 1;
            let lines = match target {
                Target::Serial => &mut self.serial,
                Target::VmStdout => &mut self.stdout,
                Target::VmStderr => &mut self.stderr,
                Target::Container(i, stderr) => match self.containers.get_mut(i) {
                    Some(c) if stderr => &mut c.stderr,
                    Some(c) => &mut c.stdout,
                    None => continue,
                },
            };
            lines.push_back(line);
            if lines.len() > RETAINED {
                lines.pop_front();
            }
        }
    }

    /// The containers of a run: those of `now`, keeping what the ones of
    /// the same name printed before (docker compose recreates them).
    fn set_containers(&mut self, now: Vec<Container>) {
        let mut old = std::mem::take(&mut self.containers);
        self.containers = now
            .into_iter()
            .map(|c| match old.iter().position(|o| o.name == c.name) {
                Some(at) => {
                    let mut kept = old.swap_remove(at);
                    (kept.id, kept.service, kept.image) = (c.id, c.service, c.image);
                    kept
                }
                None => ContainerLog {
                    name: c.name,
                    service: c.service,
                    image: c.image,
                    id: c.id,
                    stdout: VecDeque::new(),
                    stderr: VecDeque::new(),
                },
            })
            .collect();
    }
}

/// CVMs whose logs are kept at most: the least recently read is dropped
/// past it (and made again from the seed if read again), so reading the
/// logs of a whole fleet does not keep them all.
pub(crate) const LOGS_KEPT: usize = 32;

/// The logs of the CVMs read last, by fleet index.
#[derive(Debug)]
pub(crate) struct Store {
    seed: u64,
    /// The long line of hostile content, when the simulator prints it.
    hostile: Option<Bytes>,
    logs: HashMap<usize, CvmLog>,
    /// When each kept log was last read (a count of reads).
    last_read: HashMap<usize, u64>,
    reads: u64,
    /// Streams following each CVM's log: those logs are kept.
    followers: HashMap<usize, usize>,
}

impl Store {
    /// `hostile_line_bytes`: print hostile content, with one line that long.
    pub fn new(seed: u64, hostile_line_bytes: Option<usize>) -> Self {
        let pattern = b"0123456789abcdef";
        let hostile = hostile_line_bytes.map(|n| Bytes::from_iter((0..n).map(|i| pattern[i % pattern.len()])));
        Self {
            seed,
            hostile,
            logs: HashMap::new(),
            last_read: HashMap::new(),
            reads: 0,
            followers: HashMap::new(),
        }
    }

    /// One more (`1`) or one fewer (`-1`) stream following CVM `idx`'s log.
    pub fn follow(&mut self, idx: usize, change: isize) {
        let n = self.followers.entry(idx).or_default();
        *n = n.saturating_add_signed(change);
        if *n == 0 {
            self.followers.remove(&idx);
        }
    }

    /// Marks CVM `idx`'s log read now; drops the least recently read past [`LOGS_KEPT`].
    fn touch(&mut self, idx: usize) {
        self.reads += 1;
        self.last_read.insert(idx, self.reads);
        if self.logs.len() > LOGS_KEPT
            && let Some((&oldest, _)) = self
                .last_read
                .iter()
                .filter(|(i, _)| **i != idx && !self.followers.contains_key(*i))
                .min_by_key(|(_, at)| **at)
        {
            self.forget(oldest);
        }
    }

    pub fn get(&self, idx: usize) -> Option<&CvmLog> {
        self.logs.get(&idx)
    }

    /// Drops a deleted CVM's log.
    pub fn forget(&mut self, idx: usize) {
        self.logs.remove(&idx);
        self.last_read.remove(&idx);
    }
}

/// When the run begun at `start` ended: when the first operation begun
/// since began (a stop, shutdown, restart or update), else when the CVM
/// last exited, else `now`.
fn run_end(cvm: &Cvm, start: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let begun = cvm.history.iter().find(|r| r.started_at >= start).map(|r| r.started_at);
    begun.or(cvm.exited_at.filter(|e| *e >= start)).unwrap_or(now).min(now)
}

/// Brings CVM `idx`'s log up to `now` (simulated): the end of a run that
/// ended since the last look, the boot of one that began, and the lines of
/// the one running due by `now`.
pub(crate) fn catch_up(inner: &mut Inner, idx: usize, now: DateTime<Utc>) {
    let Inner {
        fleet,
        deployments,
        logs,
        ..
    } = inner;
    let cvm = &fleet.cvms[idx];
    let log = logs.logs.entry(idx).or_default();
    let mut printer = Printer {
        seed: logs.seed,
        cvm,
        hostile: logs.hostile.as_ref(),
        out: Vec::new(),
    };
    let running = cvm.status == "running";
    if log.until.is_none() {
        log.set_containers(containers(deployments, fleet, idx));
        log.until = Some(now);
        match (cvm.running_since, cvm.exited_at) {
            // Up (or on its way down): its run from the start.
            (Some(start), _) => {
                printer.boot(start, start - BOOT_SPAN, &log.containers);
                (log.run, log.seen, log.until) = (Some(start), Some(start), Some(start));
            }
            // Down: its last run, the hour before it exited.
            (None, Some(end)) => {
                let start = end - Duration::hours(1);
                printer.boot(start, start - BOOT_SPAN, &log.containers);
                printer.running(start, &log.containers, start, end);
                printer.shutdown(start, end, &log.containers);
            }
            (None, None) => {
                if let (Some(error), Some(event)) = (&cvm.boot_error, cvm.events.last()) {
                    let at = DateTime::from_timestamp_millis(event.timestamp_ms).unwrap_or(now);
                    printer.failed_boot(at.min(now), error);
                }
            }
        }
    }
    let until = log.until.unwrap_or(now);
    if let Some(start) = log.run
        && !(running && cvm.running_since == Some(start))
    {
        let end = run_end(cvm, start, now).max(until);
        printer.running(start, &log.containers, until, end);
        printer.shutdown(start, end, &log.containers);
        (log.run, log.until) = (None, Some(end));
    }
    if let (true, None, Some(start)) = (running, log.run, cvm.running_since) {
        let not_before = log.until.unwrap_or(now);
        if log.seen != Some(start) {
            // Flush what was printed for the old containers first.
            let printed = std::mem::take(&mut printer.out);
            log.keep(printed);
            log.set_containers(containers(deployments, fleet, idx));
            printer.boot(start, not_before, &log.containers);
            log.seen = Some(start);
        }
        // (A run a cancelled stop resumes goes on from here.)
        (log.run, log.until) = (Some(start), Some(not_before.max(start)));
    }
    if let (Some(start), Some(from)) = (log.run, log.until) {
        printer.running(start, &log.containers, from, now);
        log.until = Some(now.max(from));
    }
    let printed = printer.out;
    log.keep(printed);
    logs.touch(idx);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_are_read_from_a_block_style_compose() {
        let file = "services:\n  web:\n    image: nginx:1\n  db:\n    image: \"postgres:16\"\n    ports: []\nvolumes:\n  data:\n";
        assert_eq!(
            services(file),
            [
                ("web".to_string(), "nginx:1".to_string()),
                ("db".to_string(), "postgres:16".to_string())
            ]
        );
        assert_eq!(services("services: {x: {}}\n"), [("app".to_string(), String::new())]);
    }

    #[test]
    fn a_series_counts_from_its_base() {
        let base = DateTime::from_timestamp(1_000, 0).unwrap();
        let p = Duration::seconds(5);
        assert_eq!(first_at_or_after(base, p, base - p), 0);
        assert_eq!(first_at_or_after(base, p, base), 0);
        assert_eq!(first_at_or_after(base, p, base + Duration::milliseconds(1)), 1);
        assert_eq!(first_at_or_after(base, p, base + p * 3), 3);
    }

    #[test]
    fn a_channel_keeps_its_last_lines_only() {
        let mut log = CvmLog::default();
        let at = DateTime::from_timestamp(1_000, 0).unwrap();
        let printed = (0..RETAINED + 50).map(|i| (at + Duration::seconds(i as i64), Target::Serial, Bytes::from("x")));
        log.keep(printed.collect());
        assert_eq!(log.serial.len(), RETAINED);
        assert_eq!(log.serial.front().map(|l| l.seq), Some(50));
        assert_eq!(log.next_seq(), (RETAINED + 50) as u64);
    }

    #[test]
    fn app_lines_go_to_both_channels_and_never_hold_a_newline() {
        let lines: Vec<(bool, String)> = (0..200u64).map(|k| app_line("web", Rng::new(k).next_u64())).collect();
        assert!(lines.iter().any(|l| l.0) && lines.iter().any(|l| !l.0));
        assert!(lines.iter().all(|(_, t)| !t.contains('\n') && t.contains("web")));
    }
}

//! Scenario 9: the simulator binary at scale. A fleet of 100,000 CVMs with
//! its apps listed, webhooks delivering to a loopback receiver in this
//! process, logs read and followed, and thousands of state changes; the
//! simulator process's peak resident memory (`VmHWM`) and the time from a
//! state change to its webhook delivery.
//!
//! "The state change" is the simulator applying it. A stop or start applies
//! its first change (running -> stopping, stopped -> starting) inside the
//! request, and the server wakes the delivery pump as the request ends; the
//! change that completes it (-> stopped, -> running) is applied by the pump
//! when it falls due. The simulator runs at a time scale of 100,000, so a
//! transition (12 or 20 virtual seconds, jittered by half) is due 0.06-0.3 ms
//! after the request: both deliveries are timed from just before the
//! request is sent, which counts the request itself too (an upper bound).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod process;
mod receiver;
mod report;

use process::*;
pub(crate) use process::{SimProcess, mib};
use receiver::*;
pub use report::{section, sim_only};

/// The API version the bench speaks: `CVMInfo` items with hashed ids and log URLs.
const API_VERSION: &str = "2026-01-21";
const API_KEY: &str = "bench-key";
/// Virtual seconds per real second: transitions are due within 0.3 ms.
const TIME_SCALE: &str = "100000";
/// How long a wait for deliveries lasts before the ones not arrived count
/// as missing.
const GUARD: Duration = Duration::from_secs(30);
/// The peak resident memory the simulator must stay within.
const GOAL_MIB: f64 = 256.0;
/// The longest a delivery may take after its state change.
const GOAL_MS: f64 = 100.0;

/// How much the scenario does.
struct Sizes {
    cvms: usize,
    apps: usize,
    /// Apps read one by one (`GET /apps/{id}`, and its CVMs).
    apps_read: usize,
    /// CVMs whose serial console is followed for the whole run.
    follows: usize,
    /// CVMs whose serial console and container log are read once (last 100 lines).
    log_reads: usize,
    /// CVMs stopped by the batch endpoint, 50 per request.
    batch_stopped: usize,
    /// Of those, started again one by one.
    restarted: usize,
    /// Single-CVM changes timed one at a time (half stops, half starts).
    timed: usize,
}

impl Sizes {
    fn new(quick: bool) -> Self {
        if quick {
            Sizes {
                cvms: 2_000,
                apps: 20,
                apps_read: 5,
                follows: 2,
                log_reads: 5,
                batch_stopped: 200,
                restarted: 50,
                timed: 20,
            }
        } else {
            Sizes {
                cvms: 100_000,
                apps: 1_000,
                apps_read: 50,
                follows: 8,
                log_reads: 50,
                batch_stopped: 10_000,
                restarted: 2_000,
                timed: 200,
            }
        }
    }
}

/// The simulator's API, as the bench calls it.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: Arc<str>,
    requests: Arc<AtomicU64>,
}

impl Api {
    fn new(base: &str) -> Result<Api, String> {
        // Our reqwest has no TLS crypto provider of its own; plain HTTP
        // needs none, but the client's builder wants one installed.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').into(),
            requests: Arc::default(),
        })
    }

    /// `METHOD /api/v1{path}`; its JSON answer (`null` for none), 2xx only.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .header("X-API-Key", API_KEY)
            .header("X-Phala-Version", API_VERSION);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("{method} {path}: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{method} {path}: {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
            ));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.call(reqwest::Method::POST, path, body).await
    }

    /// GETs an absolute URL (a log endpoint); the bytes of its answer.
    async fn fetch(&self, url: &str) -> Result<usize, String> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = self.http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: {}", resp.status()));
        }
        Ok(resp.bytes().await.map_err(|e| format!("GET {url}: {e}"))?.len())
    }

    fn taken(&self) -> u64 {
        self.requests.swap(0, Ordering::Relaxed)
    }
}

/// A CVM as the paged list shows it.
#[derive(Clone)]
struct Listed {
    id: String,
    name: String,
    idle_running: bool,
    serial: String,
    container_base: String,
}

/// The memory of the simulator after each step, and what the step did.
struct Steps {
    pid: u32,
    api: Api,
    rows: Vec<Value>,
    started: Instant,
    cpu: f64,
    /// The receiver's thread, once it runs, and its CPU time so far.
    receiver: Option<(String, f64)>,
}

impl Steps {
    fn record(&mut self, step: &str, did: String) -> Result<(), String> {
        let (rss, hwm) = memory(self.pid)?;
        let cpu = cpu_secs(self.pid);
        self.rows.push(json!({
            "step": step,
            "did": did,
            "requests": self.api.taken(),
            "s": round2(self.started.elapsed().as_secs_f64()),
            "sim_cpu_s": round2(cpu - self.cpu),
            "sim_fds": open_fds(self.pid),
            "receiver_cpu_s": self.receiver.as_mut().map_or(0.0, |(tid, last)| {
                let now = thread_cpu_secs(tid);
                round2(now - std::mem::replace(last, now))
            }),
            "rss_mib": mib(rss),
            "hwm_mib": mib(hwm),
        }));
        self.started = Instant::now();
        self.cpu = cpu;
        Ok(())
    }
}

/// Runs scenario 9 on the simulator binary `sim_bin`.
pub fn run(sim_bin: &Path, quick: bool) -> Result<Value, String> {
    let sizes = Sizes::new(quick);
    let (cvms, apps) = (sizes.cvms.to_string(), sizes.apps.to_string());
    let sim = SimProcess::start(
        sim_bin,
        &[
            "--cvms",
            &cvms,
            "--apps",
            &apps,
            "--time-scale",
            TIME_SCALE,
            "--api-key",
            API_KEY,
        ],
    )?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let mut r = rt.block_on(scenario(&sim, &sizes))?;
    rt.shutdown_timeout(Duration::from_secs(5));
    let maxrss = sim.stop()?;
    r["wait4_maxrss_mib"] = json!(mib(maxrss));
    r["quick"] = json!(quick);
    Ok(r)
}

async fn scenario(sim: &SimProcess, sizes: &Sizes) -> Result<Value, String> {
    let api = Api::new(&sim.url)?;
    let mut steps = Steps {
        pid: sim.pid(),
        api: api.clone(),
        rows: Vec::new(),
        started: Instant::now(),
        cpu: cpu_secs(sim.pid()),
        receiver: None,
    };
    steps.record(
        "start",
        format!("{} CVMs over {} apps generated", sizes.cvms, sizes.apps),
    )?;

    // The whole fleet the key sees, a page of 100 at a time.
    let mut fleet: Vec<Listed> = Vec::new();
    let mut page = 1;
    loop {
        let answer = api.get(&format!("/cvms/paginated?page={page}&page_size=100")).await?;
        for c in answer["items"].as_array().into_iter().flatten() {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            fleet.push(Listed {
                id: text(&c["id"]),
                name: text(&c["name"]),
                idle_running: c["status"] == "running" && c["in_progress"] == false,
                serial: text(&c["logs"]["serial"]),
                container_base: text(&c["logs"]["container_log_base"]),
            });
        }
        if page >= answer["pages"].as_u64().unwrap_or(0) {
            break;
        }
        page += 1;
    }
    steps.record(
        "list the fleet",
        format!("{} CVMs of the key's workspace, pages of 100", fleet.len()),
    )?;

    // Apps: every page, then some one by one with their CVMs.
    let mut app_ids = Vec::new();
    let mut page = 1;
    loop {
        let answer = api.get(&format!("/apps?page={page}&page_size=100")).await?;
        for a in answer["dstack_apps"].as_array().into_iter().flatten() {
            app_ids.push(a["app_id"].as_str().unwrap_or_default().to_string());
        }
        if page >= answer["total_pages"].as_u64().unwrap_or(0) {
            break;
        }
        page += 1;
    }
    for app in app_ids.iter().take(sizes.apps_read) {
        api.get(&format!("/apps/{app}")).await?;
        api.get(&format!("/apps/{app}/cvms")).await?;
    }
    steps.record(
        "list apps",
        format!(
            "{} apps, pages of 100; {} read with their CVMs",
            app_ids.len(),
            sizes.apps_read.min(app_ids.len())
        ),
    )?;

    // Webhooks: every event to one receiver path, the stops and the starts
    // to two others.
    let receiver = Arc::new(Receiver {
        arrivals: Mutex::default(),
        seen: tokio::sync::watch::channel(0).0,
    });
    let (hook_base, stop_receiver, receiver_tid) = start_receiver(receiver.clone())?;
    steps.receiver = Some((receiver_tid.clone(), thread_cpu_secs(&receiver_tid)));
    let mut hook_ids = Vec::new();
    for (name, events) in [
        ("all", json!(["*"])),
        ("stopped", json!(["cvm.stopped"])),
        ("started", json!(["cvm.started"])),
    ] {
        let created = api
            .post(
                "/workspace/webhooks",
                Some(json!({"url": format!("{hook_base}/hook/{name}"), "events": events, "name": format!("bench-{name}")})),
            )
            .await?;
        hook_ids.push(created["id"].as_str().unwrap_or_default().to_string());
    }
    api.get("/workspace/webhooks").await?;
    steps.record("register webhooks", "3 webhooks to the loopback receiver".into())?;

    // Disjoint sets of idle running CVMs for each use.
    let mut idle = fleet.iter().filter(|c| c.idle_running).cloned();
    let mut take = |n: usize| -> Result<Vec<Listed>, String> {
        let got: Vec<Listed> = idle.by_ref().take(n).collect();
        if got.len() < n {
            return Err(format!("only {} idle running CVMs for {n} more", got.len()));
        }
        Ok(got)
    };
    let followed = take(sizes.follows)?;
    let read = take(sizes.log_reads)?;
    let batch = take(sizes.batch_stopped)?;
    let timed = take(sizes.timed / 2)?;
    drop(fleet);

    // Logs: some consoles followed for the rest of the run, others read once.
    let follow_lines = Arc::new(AtomicU64::new(0));
    let mut follows = Vec::new();
    for c in &followed {
        let (http, url, lines) = (
            api.http.clone(),
            format!("{}&follow=true&tail=10", c.serial),
            follow_lines.clone(),
        );
        api.requests.fetch_add(1, Ordering::Relaxed);
        follows.push(tokio::spawn(async move {
            let Ok(mut resp) = http.get(&url).send().await else {
                return;
            };
            while let Ok(Some(chunk)) = resp.chunk().await {
                lines.fetch_add(chunk.iter().filter(|&&b| b == b'\n').count() as u64, Ordering::Relaxed);
            }
        }));
    }
    let mut log_bytes = 0;
    for c in &read {
        log_bytes += api.fetch(&format!("{}&tail=100", c.serial)).await?;
        log_bytes += api
            .fetch(&format!("{}{}-app-1&tail=100&text", c.container_base, c.name))
            .await?;
    }
    // Let the follows run a moment.
    tokio::time::sleep(Duration::from_secs(1)).await;
    steps.record(
        "logs",
        format!(
            "{} consoles followed (from here to the end); {} CVMs' console and container read once, last 100 lines ({} KiB)",
            followed.len(),
            read.len(),
            log_bytes / 1024
        ),
    )?;

    // Thousands of changes: a batch stop, then some started again one by one.
    let mut sent = Vec::with_capacity(batch.len());
    for chunk in batch.chunks(50) {
        let ids: Vec<&str> = chunk.iter().map(|c| c.id.as_str()).collect();
        let t0 = Instant::now();
        let answer = api.post("/cvms/batch-stop", Some(json!({"cvm_ids": ids}))).await?;
        if answer["stopped"].as_u64() != Some(chunk.len() as u64) {
            return Err(format!("batch stop: {answer}"));
        }
        sent.extend(chunk.iter().map(|c| (c.id.clone(), t0)));
    }
    let (mut burst, mut missing_burst) = (Vec::with_capacity(sent.len()), 0);
    let until = deadline();
    for (id, t0) in &sent {
        match receiver
            .arrival(&key("all", id, "cvm.stopped", "stopped"), *t0, until)
            .await
        {
            Some(at) => burst.push(at.duration_since(*t0).as_secs_f64() * 1000.0),
            None => missing_burst += 1,
        }
    }
    let restart: Arc<Vec<String>> = Arc::new(batch.iter().take(sizes.restarted).map(|c| c.id.clone()).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started_at = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (api, restart, next) = (api.clone(), restart.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = restart.get(i) else {
                    return Ok::<(), String>(());
                };
                api.post(&format!("/cvms/{id}/start"), None).await?;
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| e.to_string())??;
    }
    let (mut missing_restart, until) = (0, deadline());
    for id in restart.iter() {
        for hook in ["all", "started"] {
            let k = key(hook, id, "cvm.started", "running");
            missing_restart += usize::from(receiver.arrival(&k, started_at, until).await.is_none());
        }
    }
    let burst = spread(burst);
    steps.record(
        "many state changes",
        format!(
            "{} CVMs batch-stopped (50 per request), {} started again one by one (8 at a time)",
            batch.len(),
            restart.len()
        ),
    )?;

    // Single changes, one at a time: each delivery timed from just before
    // its request is sent.
    let (mut first, mut completed, mut answered, mut missing_timed) = (Vec::new(), Vec::new(), Vec::new(), 0);
    for c in &timed {
        for (action, moving, event, done) in [
            ("stop", "stopping", "cvm.stopped", "stopped"),
            ("start", "starting", "cvm.started", "running"),
        ] {
            let t0 = Instant::now();
            api.post(&format!("/cvms/{}/{action}", c.id), None).await?;
            answered.push(t0.elapsed().as_secs_f64() * 1000.0);
            let until = tokio::time::Instant::now() + Duration::from_secs(10);
            let ms = |t: Instant| t.duration_since(t0).as_secs_f64() * 1000.0;
            match receiver
                .arrival(&key("all", &c.id, "cvm.status.changed", moving), t0, until)
                .await
            {
                Some(a) => first.push(ms(a)),
                None => missing_timed += 1,
            }
            match receiver.arrival(&key("all", &c.id, event, done), t0, until).await {
                Some(b) => completed.push(ms(b)),
                None => missing_timed += 1,
            }
        }
    }
    steps.record(
        "timed changes",
        format!("{} single stops and starts, one at a time", timed.len() * 2),
    )?;

    // What the webhooks recorded.
    let (mut failed, mut total, mut errors) = (0, 0, BTreeMap::<String, u64>::new());
    for id in &hook_ids {
        let recent = api
            .get(&format!("/workspace/webhooks/{id}/deliveries?limit=100"))
            .await?;
        for d in recent
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["status"] == "failed")
        {
            let e = d["error_message"].as_str().unwrap_or_default();
            // The reason without the address that varies.
            let e: String = e.chars().take(120).collect();
            *errors.entry(e).or_default() += 1;
        }
        let stats = api.get(&format!("/workspace/webhooks/{id}/stats")).await?;
        failed += stats["failed_count"].as_u64().unwrap_or(0);
        total += stats["total"].as_u64().unwrap_or(0);
    }
    steps.record(
        "read deliveries",
        "each webhook's last 100 deliveries and its stats".into(),
    )?;
    let (_, hwm) = memory(sim.pid())?;

    // Beyond the scenario: the whole workspace in one unpaged answer.
    let t0 = Instant::now();
    let unpaged = api.get("/cvms").await?;
    let unpaged_n = unpaged.as_array().map_or(0, Vec::len);
    drop(unpaged);
    let unpaged_s = round2(t0.elapsed().as_secs_f64());
    let (unpaged_rss, unpaged_hwm) = memory(sim.pid())?;

    for f in &follows {
        f.abort();
    }
    let _ = stop_receiver.send(());
    let a = receiver.lock();
    Ok(json!({
        "cvms": sizes.cvms,
        "apps": sizes.apps,
        "time_scale": TIME_SCALE,
        "api_version": API_VERSION,
        "steps": steps.rows,
        "peak_mib": mib(hwm),
        "follows": followed.len(),
        "follow_lines": follow_lines.load(Ordering::Relaxed),
        "deliveries": a.per_hook,
        "deliveries_other": a.other,
        "deliveries_failed": failed,
        "deliveries_recorded": total,
        "failure_reasons": errors,
        "missing": {"burst": missing_burst, "restart": missing_restart, "timed": missing_timed},
        "latency": {
            "request_ms": spread(answered),
            "first": spread(first),
            "completed": spread(completed),
            "burst": burst,
            "burst_cvms": sent.len(),
        },
        "unpaged": {"cvms": unpaged_n, "s": unpaged_s, "rss_mib": mib(unpaged_rss), "hwm_mib": mib(unpaged_hwm)},
    }))
}

//! Benchmarks, run by `cargo xtask bench` in release; prints one JSON document.
//!
//!     cargo run --release -p phala-cloud --example bench -- [--quick]
//!
//! Every ratio compares two figures measured in this same run.

use std::time::{Duration, Instant};

use futures::StreamExt;

use phala_cloud::raw::types::{CvmStatus, ListCvmsResponseItem};
use phala_cloud::{Client, Cvm, RetryPolicy, StateEvent, StatusMap, WaitAllOptions, WatchOptions};
use phala_cloud_sim::{Faults, Simulator};
use serde_json::{Value, json};

/// Counts live and peak heap bytes, for the decode scenario.
mod layers;

#[path = "../../tests/support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn fleet_stop(quick: bool) -> Value {
    let ids_n = if quick { 1000 } else { 10_000 };
    let latency = Duration::from_millis(20);
    let sim = Simulator::builder()
        .cvms(ids_n * 5 / 4 + 100)
        .apps(100)
        .seed(3)
        .start()
        .await
        .unwrap();
    let ids: Vec<String> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace)
        .map(|c| c.id)
        .take(ids_n)
        .collect();
    sim.set_faults(Faults::default().with_latency(latency, Duration::ZERO));
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .concurrency(8)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let started = Instant::now();
    let report = client.stop_many(&ids).await;
    let facade = started.elapsed().as_secs_f64();
    assert!(report.is_consistent() && report.failed.is_empty());
    let requests = ids.len().div_ceil(50);
    let ideal = requests as f64 / 8.0 * latency.as_secs_f64();
    // The naive loop: one raw-client request per chunk, one after another.
    let raw = client.raw();
    let naive_ids: Vec<String> = if quick { ids.clone() } else { ids[..2000].to_vec() };
    let started = Instant::now();
    for chunk in naive_ids.chunks(50) {
        raw.batch_stop_cvms()
            .body(phala_cloud::raw::types::BatchStopRequest::builder().cvm_ids(chunk.to_vec()))
            .send()
            .await
            .unwrap();
    }
    let naive = started.elapsed().as_secs_f64() * ids.len() as f64 / naive_ids.len() as f64;
    sim.shutdown().await;
    json!({"ids": ids.len(), "requests": requests, "latency_ms": 20, "concurrency": 8, "facade_s": round3(facade), "ideal_s": round3(ideal), "vs_ideal": round2(facade / ideal), "naive_sequential_s": round3(naive), "speedup_vs_naive": round2(naive / facade)})
}

/// A fleet of `n` running CVMs, all just told to stop: they reach `stopped`
/// at random times (12 virtual seconds, +-50%) within a window of a few
/// real seconds. Returns the simulator, the VM UUIDs and hashed ids, and the
/// real instant of the last transition.
async fn stopping_fleet(n: usize, scale: f64) -> (phala_cloud_sim::SimHandle, Vec<String>, Vec<String>, Instant) {
    let sim = Simulator::builder()
        .cvms(n * 2)
        .apps(50)
        .seed(21)
        .time_scale(scale)
        .start()
        .await
        .unwrap();
    let fleet: Vec<_> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && c.status == "running")
        .take(n)
        .collect();
    assert_eq!(fleet.len(), n, "enough running CVMs");
    let ids: Vec<String> = fleet.iter().map(|c| c.id.clone()).collect();
    let uuids: Vec<String> = fleet.iter().map(|c| c.vm_uuid.clone()).collect();
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .build()
        .unwrap();
    assert_eq!(client.stop_many(&ids).await.stopped, n);
    let ours: std::collections::HashSet<&String> = ids.iter().collect();
    let last = sim
        .cvms()
        .into_iter()
        .filter(|c| ours.contains(&c.id))
        .filter_map(|c| c.operation_done_at)
        .max()
        .expect("stops in flight");
    (sim, uuids, ids, last)
}

async fn fleet_wait(quick: bool) -> Value {
    let (n, scale, interval) = if quick {
        (100, 20.0, Duration::from_millis(200))
    } else {
        (1000, 4.0, Duration::from_secs(1))
    };
    let chunk = 100;
    let mut polls = Vec::new();
    for _ in 0..if quick { 1 } else { 3 } {
        let (sim, uuids, _, last) = stopping_fleet(n, scale).await;
        let client = Client::builder()
            .base_url(sim.base_url())
            .api_key(sim.api_key())
            .status_chunk_size(chunk)
            .build()
            .unwrap();
        let before = sim.stats().total("status_batch");
        let mut per_round = Vec::new();
        let mut seen = before;
        let report = client
            .wait_all(
                &uuids,
                phala_cloud::KnownStatus::Stopped,
                Duration::from_secs(120),
                WaitAllOptions::default().interval(interval),
                |_| {
                    let now = sim.stats().total("status_batch");
                    per_round.push(now - seen);
                    seen = now;
                },
            )
            .await
            .unwrap();
        let done = Instant::now();
        assert!(report.all_reached());
        let requests = sim.stats().total("status_batch") - before;
        polls.push((
            requests,
            report.rounds,
            per_round.iter().copied().max().unwrap_or(0),
            signed_secs(done, last),
        ));
        sim.shutdown().await;
    }
    for (_, _, max_per_round, _) in &polls {
        assert!(
            *max_per_round as usize <= n.div_ceil(chunk),
            "a round sent more than ceil(N / chunk)"
        );
    }
    polls.sort_by(|a, b| a.3.total_cmp(&b.3));
    let (requests, rounds, max_per_round, lag) = polls[polls.len() / 2];

    // The same fleet watched one CVM at a time, within the five-stream limit.
    let (sim, _, ids, last) = stopping_fleet(n, scale).await;
    let client = Client::builder()
        .base_url(sim.base_url())
        .api_key(sim.api_key())
        .build()
        .unwrap();
    let watches = ids.iter().map(|id| {
        let events = client.watch_state(
            id,
            phala_cloud::KnownStatus::Stopped,
            WatchOptions::default().deadline(Duration::from_secs(120)),
        );
        async move {
            let events: Vec<_> = events.collect().await;
            matches!(events.last(), Some(Ok(StateEvent::Complete { .. })))
        }
    });
    let completed = futures::future::join_all(watches).await;
    let done = Instant::now();
    assert!(completed.iter().all(|c| *c));
    let stats = sim.stats();
    let sse_requests = stats.total("cvm_state_sse") + stats.total("cvm_state");
    let sse_peak = stats.max_sse_peak();
    sim.shutdown().await;
    json!({
        "cvms": n, "chunk": chunk, "interval_ms": interval.as_millis() as u64,
        "wait_all": {"requests": requests, "rounds": rounds, "max_requests_per_round": max_per_round,
                     "goal_per_round": n.div_ceil(chunk), "last_transition_to_done_s": round3(lag)},
        "per_cvm_watch": {"requests": sse_requests, "sse_peak": sse_peak, "poll_interval_s": 5,
                          "last_transition_to_done_s": round3(signed_secs(done, last))},
    })
}

/// `a - b` in seconds, negative when `a` is earlier.
fn signed_secs(a: Instant, b: Instant) -> f64 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_secs_f64(),
        None => -b.duration_since(a).as_secs_f64(),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn decode(quick: bool) -> Value {
    let n = if quick { 1000 } else { 10_000 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (hosted, info, status) = rt.block_on(async {
        let sim = Simulator::builder().cvms(n * 5 / 4).apps(50).start().await.unwrap();
        phala_cloud_api::install_crypto_provider();
        let http = reqwest::Client::new();
        let get = |v: &'static str| {
            http.get(format!("{}/api/v1/cvms", sim.base_url()))
                .header("X-API-Key", sim.api_key())
                .header("X-Phala-Version", v)
                .send()
        };
        let hosted = get("2025-10-28").await.unwrap().bytes().await.unwrap().to_vec();
        let info = get("2026-01-21").await.unwrap().bytes().await.unwrap().to_vec();
        let uuids: Vec<String> = sim
            .cvms()
            .into_iter()
            .filter(|c| c.in_main_workspace)
            .map(|c| c.vm_uuid)
            .collect();
        let status = http
            .post(format!("{}/api/v1/status/batch", sim.base_url()))
            .header("X-API-Key", sim.api_key())
            .json(&json!({"vm_uuids": uuids}))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec();
        sim.shutdown().await;
        (hosted, info, status)
    });
    let mut out = Vec::new();
    let measure = |name: &str, bytes: &[u8], f: &dyn Fn(&[u8]) -> usize| {
        let mut times = Vec::new();
        let mut peak = 0;
        for _ in 0..if quick { 2 } else { 7 } {
            let base = counting_alloc::start();
            let started = Instant::now();
            let count = f(bytes);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            peak = counting_alloc::peak_since(base);
            assert!(count > 0);
        }
        json!({"payload": name, "json_bytes": bytes.len(), "median_ms": round2(median(times)), "peak_heap_bytes": peak, "peak_vs_json": round2(peak as f64 / bytes.len() as f64)})
    };
    let list = |b: &[u8]| Cvm::from_list(serde_json::from_slice::<Vec<ListCvmsResponseItem>>(b).unwrap()).len();
    out.push(measure("list, HostedCvm shape", &hosted, &list));
    out.push(measure("list, CVMInfo shape", &info, &list));
    out.push(measure("status map", &status, &|b| {
        serde_json::from_slice::<StatusMap>(b).unwrap().len()
    }));
    // What a decoded status map keeps once decoding is done, per entry,
    // beside the JSON it came from: the facade's StatusMap and the
    // BTreeMap<String, CvmStatus> it replaced, decoded from the same bytes.
    let entries = serde_json::from_slice::<Value>(&status)
        .ok()
        .and_then(|v| v.as_object().map(|m| m.len()))
        .unwrap_or(0)
        .max(1);
    let retained = |form: &str, keep: &dyn Fn(&[u8]) -> Box<dyn std::any::Any>| {
        let base = counting_alloc::start();
        let kept = keep(&status);
        let bytes = counting_alloc::retained_since(base);
        drop(kept);
        json!({"form": form, "entries": entries, "json_bytes_per_entry": round2(status.len() as f64 / entries as f64),
            "retained_bytes_per_entry": round2(bytes as f64 / entries as f64),
            "retained_vs_json": round2(bytes as f64 / status.len() as f64)})
    };
    let lean = retained("`StatusMap` (sorted Vec of `CvmStatus`)", &|b| {
        Box::new(serde_json::from_slice::<StatusMap>(b).unwrap())
    });
    let tree = retained("`BTreeMap<String, CvmStatus>` (before)", &|b| {
        Box::new(serde_json::from_slice::<std::collections::BTreeMap<String, CvmStatus>>(b).unwrap())
    });
    json!({"cvms": n, "results": out, "retained": [lean, tree],
        "cvm_status_size": std::mem::size_of::<CvmStatus>()})
}

/// Peak resident memory of this process, from `VmHWM` (Linux), in bytes.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Restarts the peak resident memory count at what is resident now (Linux:
/// writing 5 to `clear_refs`); false where that is not possible.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Counts the facade's requests by operation, from its `request done` and
/// `request failed` debug events: measured on the client side, where the
/// simulator runs in another process.
mod request_count {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, Layer};

    pub static COUNTS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

    pub struct Counter;

    struct Op(Option<String>, bool);
    impl Visit for Op {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "op" {
                self.0 = Some(value.to_string());
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            match field.name() {
                "op" => self.0 = Some(format!("{value:?}").trim_matches('"').to_string()),
                "message" => self.1 = format!("{value:?}").starts_with("request "),
                _ => {}
            }
        }
    }

    impl<S: tracing::Subscriber> Layer<S> for Counter {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut op = Op(None, false);
            event.record(&mut op);
            if let (Some(name), true) = (op.0, op.1) {
                *COUNTS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name)
                    .or_default() += 1;
            }
        }
    }

    /// Requests of `op` since the last call to `take`.
    pub fn take(op: &str) -> u64 {
        COUNTS.lock().unwrap_or_else(|e| e.into_inner()).remove(op).unwrap_or(0)
    }
}

/// The simulator binary (built by `cargo xtask bench`) serving `n` CVMs.
struct SimProcess {
    child: std::process::Child,
    url: String,
}

impl SimProcess {
    fn start(bin: &str, n: usize) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(bin)
            .args([
                "--port",
                "0",
                "--cvms",
                &n.to_string(),
                "--apps",
                "1000",
                "--time-scale",
                "1000",
            ])
            .args(["--api-key", "bench-key"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the simulator binary starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("Phala Cloud simulator listening on ")
                    .map(|r| r.split_whitespace().next().unwrap_or_default().to_string())
            })
            .expect("the simulator says where it listens");
        // Keep reading what it prints, or its next line would meet a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        SimProcess { child, url }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Scenario 6: a fleet of 100,000 (80,000 in the caller's workspace), the
/// simulator in its own process so the heap counted is the client's.
fn scale(quick: bool) -> Value {
    let Ok(bin) = std::env::var("PHALA_SIM_BIN") else {
        return json!({"skipped": "PHALA_SIM_BIN not set (cargo xtask bench sets it)"});
    };
    let n = if quick { 2_000 } else { 100_000 };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = |url: &str| {
        Client::builder()
            .base_url(url)
            .api_key("bench-key")
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap()
    };
    // Listing: peak heap at a tenth of the fleet and at the whole, counting only.
    let mut listing = Vec::new();
    for size in [n / 10, n] {
        let sim = SimProcess::start(&bin, size);
        let c = client(&sim.url);
        let _ = request_count::take("list_cvms_paginated");
        let base = counting_alloc::start();
        let started = Instant::now();
        let count = rt.block_on(c.cvms(&Default::default()).fold(0usize, |n, c| async move {
            assert!(c.is_ok(), "{c:?}");
            n + 1
        }));
        let secs = started.elapsed().as_secs_f64();
        let peak = counting_alloc::peak_since(base);
        listing.push(json!({"fleet": size, "listed": count, "s": round2(secs),
            "requests": request_count::take("list_cvms_paginated"), "peak_heap_bytes": peak}));
    }
    // Status of a fleet named by hashed id or by name: one listing pass to
    // resolve them, then the batch requests; never a request per id.
    let by_reference = {
        let sim = SimProcess::start(&bin, if quick { 250 } else { 12_500 });
        let c = client(&sim.url);
        let listed: Vec<Cvm> = rt.block_on(c.list_cvms(&Default::default())).unwrap();
        let _ = (
            request_count::take("list_cvms_paginated"),
            request_count::take("status_batch"),
        );
        let forms: [(&str, Vec<String>); 3] = [
            (
                "VM UUID",
                listed.iter().filter_map(|c| c.vm_uuid().map(str::to_string)).collect(),
            ),
            ("hashed id", listed.iter().filter_map(Cvm::id).collect()),
            ("name", listed.iter().map(|c| c.name().to_string()).collect()),
        ];
        let rows: Vec<Value> = forms
            .iter()
            .map(|(form, refs)| {
                let started = Instant::now();
                let map = rt.block_on(c.status_many(refs)).unwrap();
                json!({"form": form, "cvms": refs.len(), "answered": map.len(), "s": round2(started.elapsed().as_secs_f64()),
                       "listing_requests": request_count::take("list_cvms_paginated"),
                       "status_requests": request_count::take("status_batch"),
                       "goal": if *form == "VM UUID" { 0 } else { listed.len().div_ceil(100) } + refs.len().div_ceil(100)})
            })
            .collect();
        json!(rows)
    };
    // The whole run on the full fleet, peak resident memory counted from
    // here: list (keeping the ids and uuids, as a caller would), status,
    // stop, wait. `rss_after` is the process's peak so far after each step.
    let sim = SimProcess::start(&bin, n);
    let c = client(&sim.url);
    let rss_counted = reset_peak_rss();
    let rss_before = peak_rss();
    let base = counting_alloc::start();
    let started = Instant::now();
    let (mut ids, mut uuids) = (Vec::new(), Vec::new());
    rt.block_on(c.cvms(&Default::default()).for_each(|cvm| {
        let cvm = cvm.unwrap();
        ids.push(cvm.id().unwrap_or_default());
        uuids.push(cvm.vm_uuid().unwrap_or_default().to_string());
        async {}
    }));
    let list = json!({"s": round2(started.elapsed().as_secs_f64()), "listed": ids.len(),
        "requests": request_count::take("list_cvms_paginated"), "peak_heap_bytes": counting_alloc::peak_since(base),
        "rss_after": peak_rss()});

    let base = counting_alloc::start();
    let started = Instant::now();
    let map = rt.block_on(c.status_many(&uuids)).unwrap();
    let status = json!({"s": round2(started.elapsed().as_secs_f64()), "answered": map.len(),
        "requests": request_count::take("status_batch"), "goal": uuids.len().div_ceil(100),
        "peak_heap_bytes": counting_alloc::peak_since(base), "retained_bytes": counting_alloc::retained_since(base),
        "rss_after": peak_rss()});
    drop(map);

    // The stream, keeping nothing: memory is the chunks in flight.
    let base = counting_alloc::start();
    let started = Instant::now();
    let (mut answered, mut unknown, mut failed) = (0, 0, 0);
    rt.block_on(c.statuses(&uuids).for_each(|chunk| {
        match chunk {
            Ok(chunk) => {
                answered += chunk.statuses.len();
                unknown += chunk.unknown.len();
            }
            Err(e) => failed += e.vm_uuids.len(),
        }
        async {}
    }));
    let stream = json!({"s": round2(started.elapsed().as_secs_f64()), "answered": answered, "unknown": unknown,
        "failed": failed, "requests": request_count::take("status_batch"), "goal": uuids.len().div_ceil(100),
        "peak_heap_bytes": counting_alloc::peak_since(base), "rss_after": peak_rss()});

    let base = counting_alloc::start();
    let started = Instant::now();
    let report = rt.block_on(c.stop_many(&ids));
    let stop = json!({"s": round2(started.elapsed().as_secs_f64()), "stopped": report.stopped, "skipped": report.skipped,
        "failed": report.failed.len() + report.errors.len(), "consistent": report.is_consistent(),
        "requests": request_count::take("batch_stop"), "goal": ids.len().div_ceil(50),
        "peak_heap_bytes": counting_alloc::peak_since(base), "rss_after": peak_rss()});
    let started = Instant::now();
    let opts = WaitAllOptions::default().interval(Duration::from_millis(200));
    let waited = rt
        .block_on(c.wait_all(
            &uuids,
            phala_cloud::KnownStatus::Stopped,
            Duration::from_secs(120),
            opts,
            |_| {},
        ))
        .unwrap();
    let wait = json!({"s": round2(started.elapsed().as_secs_f64()), "reached": waited.count(|o| *o == phala_cloud::WaitOutcome::Reached),
        "rounds": waited.rounds, "requests": request_count::take("status_batch"), "rss_after": peak_rss()});
    json!({"cvms": n, "workspace": ids.len(), "listing": listing, "by_reference": by_reference, "list": list, "status": status,
        "statuses": stream, "stop": stop, "wait": wait,
        "rss": {"counted_from_here": rss_counted, "before": rss_before, "goal_bytes": 128u64 << 20}})
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    // `--only NAME` runs one scenario (overhead, sse, listing, fleet_stop, fleet_wait, decode, scale).
    let only = value_of("--only");
    // `--skip NAME` runs every scenario but that one.
    let skip = value_of("--skip");
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name) && skip.as_deref() != Some(name);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut out = serde_json::Map::new();
    out.insert("quick".into(), json!(quick));
    if wanted("overhead") {
        out.insert(
            "overhead".into(),
            rt.block_on(counting_alloc::paused(layers::overhead(quick))),
        );
    }
    if wanted("sse") {
        out.insert("sse".into(), rt.block_on(counting_alloc::paused(layers::sse(quick))));
    }
    if wanted("listing") {
        out.insert(
            "listing".into(),
            rt.block_on(counting_alloc::paused(layers::listing(quick))),
        );
    }
    if wanted("fleet_stop") {
        out.insert("fleet_stop".into(), rt.block_on(fleet_stop(quick)));
    }
    if wanted("fleet_wait") {
        out.insert("fleet_wait".into(), rt.block_on(fleet_wait(quick)));
    }
    drop(rt);
    if wanted("decode") {
        out.insert("decode".into(), decode(quick));
    }
    if wanted("scale") {
        // Requests are counted from the facade's debug events, on this
        // thread only: the other scenarios run without a subscriber.
        use tracing_subscriber::layer::SubscriberExt;
        let subscriber = tracing_subscriber::registry()
            .with(request_count::Counter)
            .with(tracing_subscriber::filter::LevelFilter::DEBUG);
        out.insert(
            "scale".into(),
            tracing::subscriber::with_default(subscriber, || scale(quick)),
        );
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(out)).unwrap());
}

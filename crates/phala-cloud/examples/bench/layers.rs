//! Scenario 1: what each layer costs per call, per event and per listed
//! CVM, against fixed-answer servers where client cost shows: the facade,
//! the generated client (with its transport hooks), and hand-written
//! reqwest code decoding into the same generated types.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use eventsource_stream::Eventsource;
use futures::{StreamExt, TryStreamExt};
use phala_cloud::raw::types::{CvmState, CvmStatus, ListCvmsPaginatedResponse};
use phala_cloud::{Client, StateEvent, WatchOptions};
use phala_cloud_sim::Simulator;
use serde_json::{Value, json};

use crate::{median, round2};

/// The API version the fixed answers are shaped for.
const VERSION: &str = "2026-01-21";

async fn serve(app: axum::Router) -> String {
    // Every scenario here builds plain reqwest clients too.
    phala_cloud_api::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A server that answers every status batch with the same 50 entries.
async fn fixed_server() -> (String, Vec<String>) {
    let uuids: Vec<String> = (0..50).map(|i| format!("00000000-0000-4000-a000-{i:012}")).collect();
    let body: serde_json::Map<String, Value> = uuids
        .iter()
        .map(|u| {
            (
                u.clone(),
                json!({"vm_uuid": u, "status": "running", "uptime": "1h", "in_progress": false, "events": []}),
            )
        })
        .collect();
    let body = Value::Object(body).to_string();
    let app = axum::Router::new().route(
        "/api/v1/status/batch",
        axum::routing::post(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    (serve(app).await, uuids)
}

/// Calls per second of `call`, `concurrency` tasks each making `per` calls.
async fn rate<F, Fut>(concurrency: usize, per: usize, call: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = usize> + Send,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let call = call.clone();
            tokio::spawn(async move {
                for _ in 0..per {
                    assert_eq!(call().await, 50);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per * concurrency) as f64 / started.elapsed().as_secs_f64()
}

/// Per-call cost of the three layers against a fixed-answer server, where
/// client cost shows: the facade, the generated client (with its hooks),
/// and a hand-written reqwest call decoding into the same generated type.
pub async fn overhead(quick: bool) -> Value {
    let (base, uuids) = fixed_server().await;
    let client = Client::builder()
        .base_url(&base)
        .api_key("bench")
        .api_version(VERSION)
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/status/batch");
    // Many short rounds rather than a few long ones: a ratio is taken within
    // each round (its three layers ran back to back), and the median of
    // those is robust to a round the machine disturbed.
    let (n, rounds) = if quick { (320, 3) } else { (320, 61) };
    let mut results = Vec::new();
    for (label, concurrency) in [("sequential", 1usize), ("64 in flight", 64)] {
        let (mut facade, mut raw, mut manual) = (Vec::new(), Vec::new(), Vec::new());
        let per = n / concurrency;
        // The three run in turn, each round starting with the next one, so
        // that none always runs first (warm-up) or last.
        for round in 0..rounds {
            // BENCH_VARIANT=facade|raw|hand runs one layer alone (to profile it).
            let only = std::env::var("BENCH_VARIANT").ok();
            for variant in (0..3).map(|i| (i + round) % 3) {
                if only.as_deref().is_some_and(|o| o != ["facade", "raw", "hand"][variant]) {
                    continue;
                }
                match variant {
                    0 => {
                        // The ids come from a shared list: the facade takes them
                        // by reference, the generated client as the owned list
                        // its body needs.
                        let (c, u) = (client.clone(), std::sync::Arc::new(uuids.clone()));
                        facade.push(
                            rate(concurrency, per, move || {
                                let (c, u) = (c.clone(), u.clone());
                                async move { c.status_many(u.iter()).await.unwrap().len() }
                            })
                            .await,
                        );
                    }
                    1 => {
                        let (c, u) = (client.clone(), std::sync::Arc::new(uuids.clone()));
                        raw.push(
                            rate(concurrency, per, move || {
                                let (c, u) = (c.clone(), u.clone());
                                async move {
                                    let request = phala_cloud::raw::types::BatchStatusRequest { vm_uuids: u.to_vec() };
                                    c.raw().batch_cvm_status().body(request).send().await.unwrap().len()
                                }
                            })
                            .await,
                        );
                    }
                    _ => {
                        // The same input as the raw client's: the generated
                        // request type, built from the shared list.
                        let (h, url, u) = (http.clone(), url.clone(), std::sync::Arc::new(uuids.clone()));
                        manual.push(
                            rate(concurrency, per, move || {
                                let (h, url, u) = (h.clone(), url.clone(), u.clone());
                                async move {
                                    let request = phala_cloud::raw::types::BatchStatusRequest { vm_uuids: u.to_vec() };
                                    let resp = h
                                        .post(&url)
                                        .header("X-API-Key", "bench")
                                        .header("X-Phala-Version", VERSION)
                                        .json(&request)
                                        .send()
                                        .await
                                        .unwrap();
                                    let bytes = resp.bytes().await.unwrap();
                                    // The generated client's answer type.
                                    serde_json::from_slice::<BTreeMap<String, CvmStatus>>(&bytes)
                                        .unwrap()
                                        .len()
                                }
                            })
                            .await,
                        );
                    }
                }
            }
        }
        results.push(json!({"mode": label, "rounds": rounds, "calls_per_round": per * concurrency,
                            "facade_rps": median(facade.clone()).round(), "raw_rps": median(raw.clone()).round(), "hand_written_rps": median(manual.clone()).round(),
                            "facade_vs_raw": ratios(&facade, &raw), "raw_vs_hand_written": ratios(&raw, &manual), "facade_vs_hand_written": ratios(&facade, &manual)}));
    }
    json!(results)
}

/// `a / b` round by round (both measured in the same round): the median
/// and the spread (lowest and highest).
fn ratios(a: &[f64], b: &[f64]) -> Value {
    let mut r: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    r.sort_by(|x, y| x.total_cmp(y));
    match (r.first(), r.last()) {
        (Some(lo), Some(hi)) => json!({"median": round2(median(r.clone())), "min": round2(*lo), "max": round2(*hi)}),
        _ => Value::Null,
    }
}

/// A state endpoint that streams `n` `state` events, then `complete`.
async fn sse_server(n: usize) -> String {
    let state = json!({"id": "cvm_bench", "name": "bench-0", "status": "starting", "in_progress": true,
                       "boot_progress": "loading", "uptime": "0s", "instance_id": "i-0"})
    .to_string();
    let mut body = String::with_capacity(n * (state.len() + 24));
    for _ in 0..n {
        body.push_str("event: state\ndata: ");
        body.push_str(&state);
        body.push_str("\n\n");
    }
    body.push_str("event: complete\ndata: {\"status\": \"running\", \"elapsed\": 1.0}\n\n");
    let app = axum::Router::new().route(
        "/api/v1/cvms/{id}/state",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "text/event-stream")], body) }
        }),
    );
    serve(app).await
}

/// Events decoded per second: `watch_state` against a hand-written
/// `eventsource-stream` loop over the same answer, both decoding each
/// `state` event into the generated `CvmState`. One stream at a time.
pub async fn sse(quick: bool) -> Value {
    // Short rounds, many of them, as for the calls above: 9 rounds of 20000
    // events gave medians 0.93 to 0.97 from one run to the next.
    let (n, rounds) = if quick { (2_000, 3) } else { (5_000, 31) };
    let base = sse_server(n).await;
    let client = Client::builder()
        .base_url(&base)
        .api_key("bench")
        .api_version(VERSION)
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("{base}/api/v1/cvms/cvm_bench/state?target=running");
    let (mut facade, mut manual) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for variant in (0..2).map(|i| (i + round) % 2) {
            let started = Instant::now();
            let events = if variant == 0 {
                let mut events = std::pin::pin!(client.watch_state(
                    "cvm_bench",
                    phala_cloud::KnownStatus::Running,
                    WatchOptions::default()
                ));
                let mut states = 0;
                while let Some(event) = events.next().await {
                    match event.unwrap() {
                        StateEvent::State(_) => states += 1,
                        StateEvent::Complete { .. } => break,
                        other => panic!("unexpected event {other:?}"),
                    }
                }
                states
            } else {
                let answer = http
                    .get(&url)
                    .header("X-API-Key", "bench")
                    .header("X-Phala-Version", VERSION)
                    .header("Accept", "text/event-stream")
                    .send()
                    .await
                    .unwrap();
                let mut events = answer.bytes_stream().eventsource();
                let mut states = 0;
                while let Some(event) = events.next().await {
                    let event = event.unwrap();
                    match event.event.as_str() {
                        "state" => {
                            std::hint::black_box(serde_json::from_str::<CvmState>(&event.data).unwrap());
                            states += 1;
                        }
                        "complete" => break,
                        _ => {}
                    }
                }
                states
            };
            assert_eq!(events, n);
            let rate = n as f64 / started.elapsed().as_secs_f64();
            if variant == 0 {
                facade.push(rate)
            } else {
                manual.push(rate)
            }
        }
    }
    json!({"events_per_stream": n, "rounds": rounds, "facade_eps": median(facade.clone()).round(),
           "hand_written_eps": median(manual.clone()).round(), "facade_vs_hand_written": ratios(&facade, &manual)})
}

/// A paged list endpoint serving `pages` (page `n` at index `n - 1`).
async fn listing_server(pages: Vec<String>) -> String {
    let pages = std::sync::Arc::new(pages);
    let app = axum::Router::new().route(
        "/api/v1/cvms/paginated",
        axum::routing::get(
            move |axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| {
                let pages = pages.clone();
                async move {
                    let n: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                    let body = pages.get(n.wrapping_sub(1)).cloned().unwrap_or_default();
                    ([("content-type", "application/json")], body)
                }
            },
        ),
    );
    serve(app).await
}

/// Pages of `cvms` CVMs (100 a page) as the simulator answers them.
async fn sample_pages(cvms: usize) -> Vec<String> {
    phala_cloud_api::install_crypto_provider();
    let sim = Simulator::builder()
        .cvms(cvms * 5 / 4)
        .apps(50)
        .seed(5)
        .start()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let mut pages = Vec::new();
    loop {
        let n = pages.len() + 1;
        let page = http
            .get(format!(
                "{}/api/v1/cvms/paginated?page={n}&page_size=100",
                sim.base_url()
            ))
            .header("X-API-Key", sim.api_key())
            .header("X-Phala-Version", VERSION)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let total: usize = serde_json::from_str::<Value>(&page).unwrap()["pages"].as_u64().unwrap() as usize;
        pages.push(page);
        if pages.len() >= total {
            break;
        }
    }
    sim.shutdown().await;
    pages
}

/// CVMs listed per second: the facade's `cvms()` stream (one page at a
/// time, and its default of pages fetched ahead) against a hand-written
/// loop over the pages, decoding into the generated page type.
pub async fn listing(quick: bool) -> Value {
    let (cvms, rounds) = if quick { (1_000, 3) } else { (10_000, 9) };
    let pages = sample_pages(cvms).await;
    let base = listing_server(pages).await;
    let client = |concurrency: usize| {
        Client::builder()
            .base_url(&base)
            .api_key("bench")
            .api_version(VERSION)
            .concurrency(concurrency)
            .build()
            .unwrap()
    };
    let (one, ahead) = (client(1), client(8));
    let http = reqwest::Client::new();
    let (mut single, mut windowed, mut manual) = (Vec::new(), Vec::new(), Vec::new());
    let mut listed = 0;
    for round in 0..rounds {
        for variant in (0..3).map(|i| (i + round) % 3) {
            let started = Instant::now();
            let count = match variant {
                0 | 1 => {
                    let c = if variant == 0 { &one } else { &ahead };
                    c.cvms(&Default::default())
                        .try_fold(0usize, |n, _| async move { Ok(n + 1) })
                        .await
                        .unwrap()
                }
                _ => {
                    let (mut count, mut page, mut pages) = (0, 1, 1);
                    while page <= pages {
                        let body = http
                            .get(format!("{base}/api/v1/cvms/paginated"))
                            .query(&[("page", page), ("page_size", 100)])
                            .header("X-API-Key", "bench")
                            .header("X-Phala-Version", VERSION)
                            .send()
                            .await
                            .unwrap()
                            .bytes()
                            .await
                            .unwrap();
                        let (items, total) = match serde_json::from_slice::<ListCvmsPaginatedResponse>(&body).unwrap() {
                            ListCvmsPaginatedResponse::CvmInfos(p) => (p.items.len(), p.pages),
                            ListCvmsPaginatedResponse::HostedCvms(p) => (p.items.len(), p.pages),
                        };
                        count += items;
                        pages = total;
                        page += 1;
                    }
                    count
                }
            };
            listed = count;
            let rate = count as f64 / started.elapsed().as_secs_f64();
            [&mut single, &mut windowed, &mut manual][variant].push(rate);
        }
    }
    json!({"cvms": listed, "rounds": rounds,
           "facade_one_page_cps": median(single.clone()).round(), "facade_8_ahead_cps": median(windowed.clone()).round(),
           "hand_written_cps": median(manual.clone()).round(),
           "one_page_vs_hand_written": ratios(&single, &manual), "ahead_vs_hand_written": ratios(&windowed, &manual)})
}

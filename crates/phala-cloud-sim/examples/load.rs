//! Load: 64 concurrent clients hammering `POST /status/batch` (50 uuids each)
//! on loopback for 10 s; prints requests/s and any error.
//!
//!     cargo run --release -p phala-cloud-sim --example load [SECONDS] [CLIENTS]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let sim = phala_cloud_sim::Simulator::builder()
        .cvms(1000)
        .apps(50)
        .start()
        .await?;
    let uuids: Vec<String> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace)
        .map(|c| c.vm_uuid)
        .take(50)
        .collect();
    let body = serde_json::json!({ "vm_uuids": uuids }).to_string();
    let url = format!("{}/api/v1/status/batch", sim.base_url());
    let (ok, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    phala_cloud_api::install_crypto_provider();
    for _ in 0..clients {
        let (http, url, body, key) = (
            reqwest::Client::new(),
            url.clone(),
            body.clone(),
            sim.api_key().to_string(),
        );
        let (ok, errors) = (ok.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = http
                    .post(&url)
                    .header("X-API-Key", &key)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                let good = match r {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if good {
                    ok.fetch_add(1, Ordering::Relaxed)
                } else {
                    errors.fetch_add(1, Ordering::Relaxed)
                };
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let (ok, errors) = (ok.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    println!(
        "{clients} clients, {secs} s: {ok} ok, {errors} errors, {:.0} requests/s",
        ok as f64 / secs as f64
    );
    sim.shutdown().await;
    if errors > 0 { std::process::exit(1) } else { Ok(()) }
}

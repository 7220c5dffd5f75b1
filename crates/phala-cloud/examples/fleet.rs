//! Stop a whole fleet and wait for it, against the embedded simulator (or a
//! real account when `PHALA_CLOUD_API_KEY` is set).
//!
//!     cargo run -p phala-cloud --example fleet

use std::time::Duration;

use phala_cloud::{Client, WaitAllOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (client, _sim) = if std::env::var_os("PHALA_CLOUD_API_KEY").is_some() {
        (Client::from_env()?, None)
    } else {
        let sim = phala_cloud_sim::Simulator::builder()
            .cvms(300)
            .apps(12)
            .time_scale(60.0)
            .start()
            .await?;
        let client = Client::builder()
            .base_url(sim.base_url())
            .api_key(sim.api_key())
            .build()?;
        (client, Some(sim))
    };
    let cvms = client.list_cvms(&Default::default()).await?;
    let running: Vec<_> = cvms
        .iter()
        .filter(|c| *c.status() == phala_cloud::KnownStatus::Running)
        .collect();
    println!("{} CVMs, {} running", cvms.len(), running.len());
    let ids: Vec<String> = running.iter().filter_map(|c| c.id()).collect();
    let report = client.stop_many(&ids).await;
    println!(
        "stop: {} scheduled, {} skipped, {} errors, {} failed in {} requests",
        report.stopped,
        report.skipped,
        report.errors.len(),
        report.failed.len(),
        report.requests
    );
    let uuids: Vec<String> = running.iter().filter_map(|c| c.vm_uuid().map(str::to_string)).collect();
    let opts = WaitAllOptions::default().interval(Duration::from_millis(200));
    let waited = client
        .wait_all(
            &uuids,
            phala_cloud::KnownStatus::Stopped,
            Duration::from_secs(120),
            opts,
            |p| {
                eprintln!(
                    "round {}: {} stopped, {} pending, {} failed",
                    p.round, p.reached, p.pending, p.failed
                )
            },
        )
        .await?;
    println!(
        "all stopped: {} after {} rounds ({:.1?})",
        waited.all_reached(),
        waited.rounds,
        waited.elapsed
    );
    Ok(())
}

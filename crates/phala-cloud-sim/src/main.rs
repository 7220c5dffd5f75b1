//! `phala-cloud-sim`: serve a simulated Phala Cloud API on loopback.

use std::time::Duration;

use clap::Parser;
use phala_cloud_sim::{Faults, Simulator};

/// A stateful local Phala Cloud CVM API for trying and testing clients.
#[derive(Parser, Debug)]
#[command(name = "phala-cloud-sim", version)]
struct Args {
    /// Print the operations the simulator implements (`METHOD /path`, one
    /// per line: every one of its document) and exit; one it lacks answers 501.
    #[arg(long)]
    list_operations: bool,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// CVMs in the fleet.
    #[arg(long, default_value_t = 24)]
    cvms: usize,
    /// Apps the CVMs are spread over.
    #[arg(long, default_value_t = 6)]
    apps: usize,
    /// Seed: same seed, same fleet.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Virtual seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// The workspace API key to accept (default: generated).
    #[arg(long)]
    api_key: Option<String>,
    /// The admin API key to accept (default: generated).
    #[arg(long)]
    admin_key: Option<String>,
    /// API version for requests without X-Phala-Version.
    #[arg(long, default_value = "2025-10-28")]
    default_version: String,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Up to this much more latency, in milliseconds.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Share of requests answered 500/502/503 (0..1).
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests answered 429 (0..1).
    #[arg(long, default_value_t = 0.0)]
    rate_limit_rate: f64,
    /// Share of responses whose connection drops (0..1).
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Share of responses cut short (0..1).
    #[arg(long, default_value_t = 0.0)]
    truncate_rate: f64,
    /// Share of SSE streams cut after their first event (0..1).
    #[arg(long, default_value_t = 0.0)]
    sse_drop_rate: f64,
    /// Each CVM's first container prints hostile log lines at every start
    /// (terminal escapes, bytes that are not UTF-8, one line this many bytes long).
    #[arg(long, value_name = "BYTES")]
    hostile_logs: Option<usize>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.list_operations {
        for op in phala_cloud_sim::IMPLEMENTED_OPERATIONS {
            println!("{op}");
        }
        return;
    }
    let faults = Faults::default()
        .with_latency(
            Duration::from_millis(args.latency_ms),
            Duration::from_millis(args.jitter_ms),
        )
        .with_server_errors(args.error_rate)
        .with_rate_limits(args.rate_limit_rate)
        .with_drops(args.drop_rate)
        .with_truncation(args.truncate_rate)
        .with_sse_drops(args.sse_drop_rate);
    let mut builder = Simulator::builder()
        .port(args.port)
        .cvms(args.cvms)
        .apps(args.apps)
        .seed(args.seed)
        .time_scale(args.time_scale)
        .default_version(args.default_version)
        .faults(faults);
    if let Some(k) = args.api_key {
        builder = builder.api_key(k);
    }
    if let Some(k) = args.admin_key {
        builder = builder.admin_key(k);
    }
    if let Some(bytes) = args.hostile_logs {
        builder = builder.hostile_logs(bytes);
    }
    let sim = match builder.start().await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("phala-cloud-sim: cannot listen on 127.0.0.1:{}: {e}", args.port);
            std::process::exit(1);
        }
    };
    println!("Phala Cloud simulator listening on {}", sim.base_url());
    println!("  PHALA_CLOUD_API_PREFIX={}/api/v1", sim.base_url());
    println!("  PHALA_CLOUD_API_KEY={}", sim.api_key());
    println!("  admin key: {}", sim.admin_key());
    println!("  partner workspace key: {}", sim.partner_key());
    println!(
        "  {} CVMs over {} apps, seed {}, time scale {}",
        args.cvms, args.apps, args.seed, args.time_scale
    );
    wait_for_signal().await;
    eprintln!("shutting down");
    sim.shutdown().await;
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

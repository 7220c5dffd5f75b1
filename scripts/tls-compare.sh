#!/usr/bin/env bash
# The TLS provider choice, measured (BENCHMARKS.md scenario 5): two scratch
# crates with our reqwest features, one on rustls + aws-lc (reqwest's
# default), one on rustls + ring (what we use), each built clean in its own
# target directory, debug then release; then, if an HTTPS URL is given, the
# cost of a TLS handshake plus one request with each, side by side.
#
#   scripts/tls-compare.sh [https://127.0.0.1:PORT/]
set -euo pipefail
cd "$(dirname "$0")/.."
base=target/tls-compare
mkdir -p "$base"
make_crate() { # name, reqwest tls feature, extra dependency line, provider install line
    mkdir -p "$base/$1/src"
    cat > "$base/$1/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.1.0"
edition = "2021"
[workspace]
[dependencies]
reqwest = { version = "0.13", default-features = false, features = ["json", "stream", "$2", "http2", "query"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "time"] }
$3
TOML
    cat > "$base/$1/src/main.rs" <<RUST
#[tokio::main]
async fn main() {
    $4
    let url = std::env::args().nth(1).expect("url");
    let n = 300;
    let started = std::time::Instant::now();
    for _ in 0..n {
        // A new client each time: a full handshake per request.
        let c = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
        let _ = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    }
    println!("{}: {:.3} ms per handshake + request", env!("CARGO_PKG_NAME"), started.elapsed().as_secs_f64() * 1e3 / n as f64);
}
RUST
}
make_crate tls-aws-lc rustls "" ""
make_crate tls-ring rustls-no-provider 'rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12", "logging"] }' \
    'let _ = rustls::crypto::ring::default_provider().install_default();'
for profile in dev release; do
    for c in tls-aws-lc tls-ring; do
        rm -rf "$base/$c/target"
        start=$(date +%s.%N)
        cargo build --quiet --profile "$profile" --manifest-path "$base/$c/Cargo.toml"
        printf '%s %s clean build: %.1f s\n' "$c" "$profile" "$(echo "$(date +%s.%N) - $start" | bc)"
    done
done
if [ -n "${1:-}" ]; then
    for _ in 1 2 3; do
        "$base/tls-aws-lc/target/release/tls-aws-lc" "$1"
        "$base/tls-ring/target/release/tls-ring" "$1"
    done
fi

//! A webhook receiver: every delivery is verified (signature, timestamp)
//! before it is parsed; a bad one is answered 401 and never handled.
//!
//!     PHALA_WEBHOOK_SECRET=whsec_... cargo run -p phala-cloud --example webhook_receiver
//!
//! Listens on 127.0.0.1:8787 (or `PORT`), path `/webhook`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use phala_cloud::WebhookVerifier;

async fn receive(State(verifier): State<WebhookVerifier>, headers: HeaderMap, body: Bytes) -> StatusCode {
    match verifier.parse_request(&headers, &body) {
        Ok(event) => {
            // Deliveries are retried: deduplicate on event.id before acting.
            println!("{} {} ({})", event.created_at, event.event, event.id);
            StatusCode::NO_CONTENT
        }
        Err(e) => {
            eprintln!("refused a delivery: {e}");
            StatusCode::UNAUTHORIZED
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("PHALA_WEBHOOK_SECRET").map_err(|_| "set PHALA_WEBHOOK_SECRET (whsec_...)")?;
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8787);
    let app = Router::new()
        .route("/webhook", post(receive))
        .with_state(WebhookVerifier::new(secret));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}/webhook", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

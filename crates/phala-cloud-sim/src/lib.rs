//! A stateful local simulator of the Phala Cloud CVM API.
//!
//! Nobody can try a CVM client without an account and real CVMs; this crate
//! serves the CVM endpoints of the bundled document over real HTTP on loopback, with a seeded
//! fleet whose CVMs stop and start over (accelerated) time, Server-Sent
//! Events for state, the five-streams-per-key limit, auth, API versions and
//! faults on demand. The CLI's `--simulate`, the facade's tests and the
//! benchmarks all run against it.
//!
//! Beyond the fleet and deploy paths it answers the reads Phala's own tools
//! make (apps, KMS, instance types, OS images, nodes, the account and its
//! workspaces, a CVM's attestation and composition) from the same seeded
//! world, in each API version's shape. Webhooks are real: registered under
//! `/api/v1/workspace/webhooks`, they receive a signed delivery (the
//! service's envelope and `X-Webhook-Signature`) of every CVM state change,
//! retried with backoff and recorded for the deliveries list, the stats and
//! a resend. Logs are real too: each CVM's `syslog_endpoint` and its
//! containers' `log_endpoint` point at the simulator, which serves what the
//! CVM prints (seeded, growing while it runs, followed as a stream) with
//! the query flags Phala's CLI sends; they are not API operations, so not
//! in the list below. What it serves is one table of
//! routes; [`IMPLEMENTED_OPERATIONS`] (and `phala-cloud-sim
//! --list-operations`) lists it: every operation of the document and the
//! overlay. An operation a newer document adds answers 501 naming itself
//! until it is served.
//!
//! With the `client` feature, [`SimHandle::client`] gives the facade's
//! `phala_cloud::Client` for a running simulator (its URL and key), as the
//! facade's own examples use it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sim = phala_cloud_sim::Simulator::builder().cvms(10).seed(7).time_scale(100.0).start().await?;
//! phala_cloud_api::install_crypto_provider(); // reqwest here has no TLS provider of its own
//! let answer = reqwest::Client::new()
//!     .get(format!("{}/api/v1/cvms", sim.base_url()))
//!     .header("X-API-Key", sim.api_key())
//!     .send()
//!     .await
//!     .unwrap();
//! assert_eq!(answer.status(), 200);
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
// docs.rs (which sets `docsrs`) shows which feature each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "client")]
mod client;
mod codes;
mod config;
mod deploy;
mod fleet;
mod handle;
mod logs;
mod records;
mod rng;
mod routes;
mod server;
mod sse;
mod state;
mod stats;
mod webhooks;

pub use config::{CVMINFO_SINCE, Faults, KNOWN_VERSIONS, SimConfig};
pub use handle::{CvmInfo, FaultControl, SimHandle, Simulator, SimulatorBuilder};
pub use routes::IMPLEMENTED as IMPLEMENTED_OPERATIONS;
pub use state::OPERATION_IN_PROGRESS;
pub use stats::Stats;

/// The bundled OpenAPI document, served at `/openapi.json`: the generated
/// client's own copy, so a packaged simulator carries it too.
pub const BUNDLED_OPENAPI: &str = phala_cloud_api::OPENAPI_JSON;

//! Raw Phala Cloud API client for the CVM endpoints.
//!
//! Generated at build time by progenitor from the bundled `openapi.json`
//! (normalised by `phala-cloud-spec`): one method per operation, builder
//! style, typed request and response bodies in [`types`]. It is faithful and
//! bare: no auth, retries or batching. Most users want the `phala-cloud`
//! facade crate, whose `Client::raw()` hands out this client.
//!
//! ```no_run
//! # async fn run() -> Result<(), phala_cloud_api::Error<phala_cloud_api::types::HttpValidationError>> {
//! let client = phala_cloud_api::Client::new("https://cloud-api.phala.com");
//! let status = client
//!     .batch_cvm_status()
//!     .body(phala_cloud_api::types::BatchStatusRequest::builder().vm_uuids(vec!["0a1b...".to_string()]))
//!     .send()
//!     .await?;
//! for (vm_uuid, s) in status.iter() {
//!     println!("{vm_uuid}: {}", s.status);
//! }
//! # Ok(())
//! # }
//! ```
#![allow(clippy::all, missing_docs, rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/codegen.rs"));

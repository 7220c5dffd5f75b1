//! Raw Phala Cloud API client for the CVM endpoints.
//!
//! Generated at build time by progenitor from the bundled `openapi.json`
//! (exactly as Phala publishes it) plus `openapi.overlay.json` (what the live
//! service sends beyond it), normalised by `phala-cloud-spec`: one method per
//! operation, builder style, typed request and response bodies in [`types`].
//! Response types are tolerant: objects keep unknown fields in `extra` (a
//! `BTreeMap<String, serde_json::Value>`, which allocates nothing while it is
//! empty), and enums such as [`types::Status`] keep unknown values.
//!
//! Every request goes through one [`Transport`] (headers, per-attempt
//! timeout, body cap, tracing). There are no retries or batching here: the
//! `phala-cloud` facade adds those, and its `Client::raw()` hands out this
//! client configured the same way.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use phala_cloud_api::{Client, Transport, types};
//! let transport = Transport::default().api_key("phak_...")?.api_version("2026-06-23")?;
//! let client = Client::new("https://cloud-api.phala.com", transport);
//! let status = client
//!     .batch_cvm_status()
//!     .body(types::BatchStatusRequest::builder().vm_uuids(vec!["0a1b...".to_string()]))
//!     .send()
//!     .await?;
//! for (vm_uuid, s) in status.iter() {
//!     println!("{vm_uuid}: {}", s.status);
//! }
//! # Ok(())
//! # }
//! ```

// Extensions of the facade's types, which the `core` operations reach.
#[cfg(feature = "core")]
mod ext;
mod multipart;
mod transport;
pub mod versions;

/// The OpenAPI document this client was generated from, exactly as Phala
/// publishes it (the overlay is applied at build time, not here).
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// The overlay applied to [`OPENAPI_JSON`] before generation: what the live
/// service does beyond the document, including the operations no document
/// publishes but Phala's own tools call (each action names its evidence).
pub const OVERLAY_JSON: &str = include_str!("../openapi.overlay.json");

#[cfg(feature = "cvms")]
pub use multipart::CvmFileUpload;
#[cfg(feature = "attestations")]
pub use multipart::UploadAndVerify;
pub use multipart::{Upload, MULTIPART_OPERATIONS};
pub use transport::{install_crypto_provider, is_body_too_large, InvalidHeader, Transport};

// `unused_mut`: requests left without header parameters once `api-version`
// is trimmed keep progenitor's `let mut header_map`.
#[allow(clippy::all, missing_docs, rustdoc::all, unused_imports, unused_mut)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
}

pub use generated::*;

/// progenitor's CLI for every generated operation (feature `cli`): a clap
/// command per operation and `Cli::execute` to run one, printing through
/// your `CliConfig`. `phala-cvm api` mounts it.
#[cfg(feature = "cli")]
#[allow(clippy::all, missing_docs, rustdoc::all, unused)]
pub mod cli {
    include!(concat!(env!("OUT_DIR"), "/cli.rs"));
}

/// One operation of the generated client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// The path template, as in the document.
    pub path: &'static str,
    /// The [`Client`] method that sends it.
    pub name: &'static str,
    /// The Cargo feature of its group (the document's first tag), e.g. `cvms`.
    pub group: &'static str,
}

/// Every operation this build of the crate generated (it depends on the
/// enabled features), as the code names them.
pub const OPERATIONS: &[Operation] = include!(concat!(env!("OUT_DIR"), "/operations.rs"));

/// Typed mocks for your tests (feature `httpmock`): progenitor's
/// `MockServerExt` adds a method per operation to `httpmock::MockServer`,
/// with `When`/`Then` builders that take and give the generated types, so
/// a mock that no longer matches the document fails to compile.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use httpmock::MockServer;
/// use phala_cloud_api::mock::MockServerExt;
/// use phala_cloud_api::{Client, Transport, types};
///
/// let server = MockServer::start_async().await;
/// let status: types::CvmStatus =
///     serde_json::from_value(serde_json::json!({"vm_uuid": "u1", "status": "running"})).unwrap();
/// let mock = server.batch_cvm_status(|when, then| {
///     when.body(&types::BatchStatusRequest { vm_uuids: vec!["u1".into()] });
///     then.ok(&[("u1".to_string(), status)].into_iter().collect());
/// });
/// let client = Client::new(&server.base_url(), Transport::default());
/// let answer = client
///     .batch_cvm_status()
///     .body(types::BatchStatusRequest { vm_uuids: vec!["u1".into()] })
///     .send()
///     .await
///     .unwrap();
/// mock.assert();
/// assert_eq!(answer["u1"].status, types::KnownStatus::Running);
/// # }
/// ```
#[cfg(feature = "httpmock")]
#[allow(clippy::all, missing_docs, rustdoc::all, unused_imports)]
pub mod mock {
    include!(concat!(env!("OUT_DIR"), "/mock.rs"));
}

//! The Phala Cloud CVM client that fleet operators want.
//!
//! Built on the generated raw client (`phala-cloud-api`, reachable through
//! [`Client::raw`]), it adds what the API leaves to callers:
//!
//! - configuration from the same environment variables as Phala's SDKs
//!   ([`Client::from_env`]) or in code ([`Client::builder`]), with the API
//!   version pinned and credentials that never print;
//! - one [`Error`] type with the status, `error_code`, request id and a body
//!   snippet, and retries as a value ([`RetryPolicy`]);
//! - batches of any size: [`Client::status_many`], [`Client::stop_many`]
//!   (which accounts for every id);
//! - one CVM's lifecycle ([`Client::cvm`], [`Client::start`],
//!   [`Client::stop`], [`Client::shutdown`], [`Client::restart`],
//!   [`Client::delete`]) and the same over fleets ([`Client::start_many`],
//!   [`Client::restart_many`], ..., with an [`ActionReport`]), and
//!   [`Client::rolling_restart`] a few CVMs at a time;
//! - waiting: [`Client::watch_state`] (SSE, reconnecting, within the
//!   five-stream limit), [`Client::wait_for_state`], and
//!   [`Client::wait_all`] for whole fleets;
//! - lists in one type, [`Cvm`], whatever shape the API version answers,
//!   as a stream with no pages in sight ([`Client::cvms`]), and a CVM's
//!   operation history the same way ([`Client::operations`]);
//! - a CVM named any way it has a name ([`CvmRef`]: hashed id, VM UUID,
//!   app id, instance id, name), resolved with one listing per fleet call;
//!   waits on a [`KnownStatus`] or any [`Condition`]; failures in fleet
//!   reports as the same [`Error`] a single call returns.
//!
//! `use phala_cloud::prelude::*;` brings the types most programs name.
//!
//! Every request goes through the generated builders of `phala-cloud-api`
//! (document + overlay -> generated code), and what comes back is the
//! generated types ([`CvmStatus`], [`CvmState`], [`Status`], ...): a field
//! Phala adds reaches callers by regeneration alone. Written here is only
//! what the API does not define: batching, waiting, retries, reports, errors.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), phala_cloud::Error> {
//! let client = phala_cloud::Client::from_env()?;
//! let cvms = client.list_cvms(&Default::default()).await?;
//! let ids: Vec<String> = cvms.iter().filter_map(|c| c.id()).collect();
//! let report = client.stop_many(&ids).await;
//! assert!(report.is_consistent());
//! let uuids: Vec<String> = cvms.iter().filter_map(|c| c.vm_uuid().map(str::to_string)).collect();
//! let waited = client
//!     .wait_all(&uuids, phala_cloud::KnownStatus::Stopped, Duration::from_secs(600), Default::default(), |p| {
//!         eprintln!("{} reached, {} pending", p.reached, p.pending)
//!     })
//!     .await?;
//! println!("all stopped: {}", waited.all_reached());
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod account;
mod fleet_ops;
mod one_cvm;
mod transport;
mod trust;
pub mod types;
mod webhook;

// Each concern's modules by their short names, for paths within the crate.
#[cfg(feature = "discovery")]
use account::discovery;
#[cfg(feature = "account")]
use account::identity;
#[cfg(feature = "discovery")]
use fleet_ops::paging;
use fleet_ops::{batch, fleet, listing, report, rolling, wait};
#[cfg(feature = "cvms")]
use one_cvm::logs;
use one_cvm::{condition, cvm, cvm_ref, history, lifecycle, watch};
use transport::{client, config, deadline, error, retry, secret, sse};
#[cfg(feature = "cvms")]
use trust::attestation_check;
use trust::{compose, deploy, env_seal, kms_key, replicate, update};

pub use account::credentials;
#[cfg(feature = "cvms")]
pub use attestation_check::{AttestationCheck, DSTACK_RUNTIME_EVENT};
pub use batch::{StatusChunk, StatusChunkError, StopFailure};
pub use client::{Client, ListFilter};
pub use compose::{AppCompose, ComposeHash};
pub use condition::Condition;
pub use config::{ClientBuilder, DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_REQUEST_TIMEOUT};
pub use cvm::{Cvm, CvmDetails};
pub use cvm_ref::CvmRef;
pub use deploy::{DeploySpec, Deployed, ProvisionBuilder, SignerSource};
#[cfg(feature = "discovery")]
pub use discovery::KmsListed;
pub use env_seal::{EnvEncryptKey, EnvVars};
pub use error::{ApiError, ApiErrorKind, Error, FieldError, SNIPPET_LIMIT, TrustError};
pub use fleet::{ActionDone, ActionFailure, ActionReport};
pub use history::OperationsFilter;
#[cfg(feature = "account")]
pub use identity::CurrentUserExt;
pub use kms_key::{KmsSigner, MAX_KEY_AGE, MAX_KEY_SKEW, VerifiedEnvKey, recover_env_key_signer, verify_env_key};
pub use lifecycle::Action;
pub use listing::PAGE_SIZE;
#[cfg(feature = "cvms")]
pub use logs::{LogChannel, LogLine, LogSource, LogsOptions};
pub use phala_cloud_api as raw;
pub use raw::types::{
    BatchStopErrorEntry, BatchStopResponse, CancelOperationRequest, CvmBasicInfo, CvmInfoDetail, CvmOperation,
    CvmOperationResponse, CvmState, CvmStatus, GuestEvent, KnownStatus, OperationEventDetail, ResourceUsage, Status,
    Vm,
};
pub use replicate::Replicated;
pub use report::{StatusMap, StopReport};
pub use retry::{RetryPolicy, parse_retry_after};
pub use rolling::{RollingOptions, RollingProgress, RollingReport};
pub use secret::Secret;
pub use update::{OnChainPending, Redeployed, UpdateSpec, Updated};
pub use wait::{WaitAllOptions, WaitOutcome, WaitProgress, WaitReport};
pub use watch::{StateEvent, WatchOptions};
pub use webhook::{WEBHOOK_TOLERANCE, WebhookError, WebhookEvent, WebhookVerifier};

/// The types most programs name: `use phala_cloud::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AppCompose, Client, Condition, Cvm, CvmRef, DeploySpec, Error, KnownStatus, RetryPolicy, Status, UpdateSpec,
        WaitAllOptions, WatchOptions,
    };
}

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeExamples;

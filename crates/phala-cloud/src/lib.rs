#![doc = include_str!("guide.md")]
#![warn(missing_docs)]
// docs.rs (which sets `docsrs`) shows which feature each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

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
pub use report::{StatusMap, StatusValues, StopReport};
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

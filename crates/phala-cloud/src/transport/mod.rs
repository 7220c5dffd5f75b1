//! Sending requests: the client and its configuration, typed errors,
//! retries within a deadline, the body cap, event streams, secrets.

pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod deadline;
pub(crate) mod error;
pub(crate) mod raw_request;
pub(crate) mod retry;
pub(crate) mod secret;
pub(crate) mod sse;

//! What the API does not define: the accounts of batch calls over many
//! requests. Their entries are the generated types.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::raw::types::{BatchStopErrorEntry, CvmStatus};

/// The batch status answer: vm_uuid to status (only the ids asked about).
pub type StatusMap = BTreeMap<String, CvmStatus>;

/// What `stop_many` did with every id it was given.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct StopReport {
    /// Ids requested (after removing duplicates).
    pub total: usize,
    /// Scheduled for stop.
    pub stopped: usize,
    /// Already stopping/stopped, in progress, or managed elsewhere.
    pub skipped: usize,
    /// Per-id errors the server reported, as it sent them.
    pub errors: Vec<BatchStopErrorEntry>,
    /// Ids whose chunk failed as a whole (or that could not be sent), with why.
    pub failed: Vec<BatchStopErrorEntry>,
    /// Requests sent.
    pub requests: usize,
    /// Stops sent again for CVMs that were skipped while busy (`stop_and_wait`).
    pub resent: usize,
}

impl StopReport {
    /// Every id is accounted for exactly once.
    pub fn is_consistent(&self) -> bool {
        self.stopped + self.skipped + self.errors.len() + self.failed.len() == self.total
    }

    /// Nothing failed.
    pub fn is_complete_success(&self) -> bool {
        self.errors.is_empty() && self.failed.is_empty()
    }
}

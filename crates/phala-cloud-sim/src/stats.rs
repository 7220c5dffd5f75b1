//! What the simulator saw and did, so tests can prove "nothing lost, nothing
//! done twice, never more than five streams".

use std::collections::BTreeMap;

/// A snapshot of the simulator's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests answered, by endpoint label and HTTP status.
    pub requests: BTreeMap<(String, u16), u64>,
    /// SSE streams open right now, by key label.
    pub sse_open: BTreeMap<String, usize>,
    /// The most SSE streams any key held at once, by key label.
    pub sse_peak: BTreeMap<String, usize>,
    /// Times each id reached the batch-stop handler (faults that answer
    /// before the handler do not count): more than 1 means a client resent it.
    pub stop_requests: BTreeMap<String, u32>,
    /// Stops applied (running -> stopping), by hashed CVM id.
    pub stops_applied: BTreeMap<String, u32>,
    /// Stops applied by requests whose response was then dropped or cut.
    pub stops_applied_unanswered: BTreeMap<String, u32>,
    /// Times each (call, hashed CVM id) reached a per-CVM lifecycle handler
    /// (`start`, `stop`, `shutdown`, `restart`, `delete`).
    pub action_requests: BTreeMap<(String, String), u32>,
    /// Lifecycle calls applied, by (call, hashed CVM id): a restart or delete
    /// counted twice means a CVM was restarted or deleted twice.
    pub actions_applied: BTreeMap<(String, String), u32>,
    /// Lifecycle calls applied by requests whose response was then dropped or cut.
    pub actions_applied_unanswered: BTreeMap<(String, String), u32>,
    /// The most CVMs restarting at once since the simulator started.
    pub restarting_peak: usize,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests to `endpoint` answered with `status`.
    pub fn count(&self, endpoint: &str, status: u16) -> u64 {
        self.requests.get(&(endpoint.to_string(), status)).copied().unwrap_or(0)
    }

    /// Requests to `endpoint`, any status.
    pub fn total(&self, endpoint: &str) -> u64 {
        self.requests
            .iter()
            .filter(|((e, _), _)| e == endpoint)
            .map(|(_, n)| n)
            .sum()
    }

    /// Ids that reached the batch-stop handler more than once.
    pub fn resent_stops(&self) -> Vec<(&str, u32)> {
        self.stop_requests
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| (id.as_str(), *n))
            .collect()
    }

    /// CVMs `action` was applied to more than once.
    pub fn applied_twice(&self, action: &str) -> Vec<(&str, u32)> {
        self.actions_applied
            .iter()
            .filter(|((a, _), n)| a == action && **n > 1)
            .map(|((_, id), n)| (id.as_str(), *n))
            .collect()
    }

    /// How many times `action` was applied to CVM `id`.
    pub fn applied(&self, action: &str, id: &str) -> u32 {
        self.actions_applied
            .get(&(action.to_string(), id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// The highest number of streams any key held at once.
    pub fn max_sse_peak(&self) -> usize {
        self.sse_peak.values().copied().max().unwrap_or(0)
    }
}

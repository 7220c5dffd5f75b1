//! What the API does not define: the accounts of batch calls over many
//! requests. Their entries are the generated types.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::batch::StopFailure;
use crate::raw::types::{BatchStopErrorEntry, CvmStatus};

/// Statuses by VM UUID (only the ids asked about): the generated
/// [`CvmStatus`] entries, sorted by their `vm_uuid`, which is the key.
///
/// Not a `BTreeMap<String, CvmStatus>`: that stored every uuid twice (key
/// and field) and each entry in a tree node sized for eleven; here one
/// entry costs its own size and its strings, about 40 % less in all
/// (BENCHMARKS.md, decode scenario). Reads like a map; serializes as the
/// API's JSON object keyed by uuid.
///
/// ```
/// use phala_cloud::{CvmStatus, StatusMap};
/// let entry = |id: &str| -> CvmStatus {
///     serde_json::from_value(serde_json::json!({"vm_uuid": id, "status": "running"})).unwrap()
/// };
/// let map: StatusMap = [entry("b"), entry("a")].into_iter().collect();
/// assert_eq!(map.keys().collect::<Vec<_>>(), ["a", "b"]);
/// assert_eq!(map["b"].vm_uuid, "b");
/// assert!(map.get("c").is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusMap {
    /// Sorted by `vm_uuid`, no uuid twice.
    entries: Vec<CvmStatus>,
}

impl StatusMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
    /// Statuses in the map.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// No status at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    fn position(&self, vm_uuid: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|s| s.vm_uuid.as_str().cmp(vm_uuid))
    }
    /// The status of `vm_uuid`, if it was answered.
    pub fn get(&self, vm_uuid: &str) -> Option<&CvmStatus> {
        self.position(vm_uuid).ok().map(|i| &self.entries[i])
    }
    /// Whether `vm_uuid` was answered.
    pub fn contains_key(&self, vm_uuid: &str) -> bool {
        self.position(vm_uuid).is_ok()
    }
    /// The uuids, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|s| s.vm_uuid.as_str())
    }
    /// The statuses, in uuid order.
    pub fn values(&self) -> std::slice::Iter<'_, CvmStatus> {
        self.entries.iter()
    }
    /// `(uuid, status)` pairs, in uuid order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &CvmStatus)> {
        self.entries.iter().map(|s| (s.vm_uuid.as_str(), s))
    }
    /// Keeps the statuses `keep` holds for.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &CvmStatus) -> bool) {
        self.entries.retain(|s| keep(&s.vm_uuid, s));
    }
    /// The statuses as a vector, in uuid order.
    pub fn into_vec(self) -> Vec<CvmStatus> {
        self.entries
    }
    /// The generated client's answer: where a key and its entry's
    /// `vm_uuid` differ, the key wins (it is what was asked about). The
    /// map's keys are sorted and distinct, so after `keyed` the entries are
    /// too: moved in order, with no sort.
    pub(crate) fn from_answer(answer: BTreeMap<String, CvmStatus>) -> Self {
        let entries: Vec<CvmStatus> = answer.into_iter().map(|(key, status)| keyed(key, status)).collect();
        debug_assert!(entries.windows(2).all(|w| w[0].vm_uuid < w[1].vm_uuid));
        Self { entries }
    }
}

/// `status` under `key`: where the two differ, the key wins. Kept without
/// the spare room decoding left in its event list (a decoder cannot know a
/// list's length, so it grows by doubling: two events took room for four).
fn keyed(key: String, mut status: CvmStatus) -> CvmStatus {
    if status.vm_uuid != key {
        tracing::warn!(key = %key, vm_uuid = %status.vm_uuid, "status entry keyed by another uuid; the key wins");
        status.vm_uuid = key;
    }
    if let Some(events) = status.events.as_mut() {
        events.shrink_to_fit();
    }
    status
}

impl Extend<CvmStatus> for StatusMap {
    /// Adds statuses; one for a uuid already present replaces it, as a map would.
    fn extend<I: IntoIterator<Item = CvmStatus>>(&mut self, statuses: I) {
        let before = self.entries.len();
        self.entries.extend(statuses);
        if self.entries.len() == before {
            return;
        }
        // Stable: of equal uuids, the one added last comes last and stays.
        self.entries.sort_by(|a, b| a.vm_uuid.cmp(&b.vm_uuid));
        self.entries.dedup_by(|later, kept| {
            let same = later.vm_uuid == kept.vm_uuid;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
    }
}

impl Extend<StatusMap> for StatusMap {
    /// Adds maps one by one: into an empty map, a map moves as is; else its
    /// statuses are added with the room reserved at once (never by doubling).
    fn extend<I: IntoIterator<Item = StatusMap>>(&mut self, maps: I) {
        for map in maps {
            if self.entries.is_empty() {
                *self = map;
            } else {
                self.entries.reserve_exact(map.len());
                self.extend(map.into_vec());
            }
        }
    }
}

impl FromIterator<CvmStatus> for StatusMap {
    /// Of two statuses for one uuid, the later is kept, as a map would.
    fn from_iter<I: IntoIterator<Item = CvmStatus>>(statuses: I) -> Self {
        let mut map = StatusMap::new();
        map.extend(statuses);
        map.entries.shrink_to_fit();
        map
    }
}

impl StatusMap {
    /// Statuses of distinct uuids, gathered in any order: sorted in place,
    /// without the merge buffer of a stable sort or a second vector (for
    /// 80,000 statuses each would be tens of MiB at the peak).
    pub(crate) fn from_distinct(mut entries: Vec<CvmStatus>) -> Self {
        entries.sort_unstable_by(|a, b| a.vm_uuid.cmp(&b.vm_uuid));
        // Distinct by contract; should a duplicate slip in, the map stays a map.
        entries.dedup_by(|a, b| a.vm_uuid == b.vm_uuid);
        entries.shrink_to_fit();
        Self { entries }
    }
}

impl IntoIterator for StatusMap {
    type Item = CvmStatus;
    type IntoIter = std::vec::IntoIter<CvmStatus>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a StatusMap {
    type Item = &'a CvmStatus;
    type IntoIter = std::slice::Iter<'a, CvmStatus>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

impl std::ops::Index<&str> for StatusMap {
    type Output = CvmStatus;
    /// Panics when `vm_uuid` is absent, like a map's index; see [`StatusMap::get`].
    fn index(&self, vm_uuid: &str) -> &CvmStatus {
        self.get(vm_uuid).expect("no status for this vm_uuid")
    }
}

impl Serialize for StatusMap {
    /// The API's shape: an object from uuid to status.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for StatusMap {
    /// The API's shape, an object from uuid to status, read entry by entry.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = StatusMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object from vm_uuid to status")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<StatusMap, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
                while let Some((key, status)) = map.next_entry::<String, CvmStatus>()? {
                    entries.push(keyed(key, status));
                }
                Ok(entries.into_iter().collect())
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// What `stop_many` did with every id it was given.
#[derive(Debug, Clone, Default, Serialize)]
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
    /// Ids whose chunk failed as a whole (or that could not be sent), with
    /// the error.
    pub failed: Vec<StopFailure>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, uptime: &str) -> CvmStatus {
        serde_json::from_value(serde_json::json!({"vm_uuid": id, "status": "running", "uptime": uptime})).unwrap()
    }

    fn uptimes(map: &StatusMap) -> Vec<(&str, &str)> {
        map.iter()
            .map(|(k, s)| (k, s.uptime.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn a_map_keeps_one_status_per_uuid_the_latest() {
        let distinct = StatusMap::from_distinct(vec![status("c", "1"), status("a", "1"), status("b", "1")]);
        assert_eq!(uptimes(&distinct), [("a", "1"), ("b", "1"), ("c", "1")]);

        let mut map = StatusMap::new();
        map.extend([distinct.clone()]);
        assert_eq!(map, distinct, "into an empty map, a map moves as is");
        map.extend([StatusMap::from_distinct(vec![status("b", "2"), status("d", "2")])]);
        assert_eq!(uptimes(&map), [("a", "1"), ("b", "2"), ("c", "1"), ("d", "2")]);

        let collected: StatusMap = [status("x", "1"), status("w", "1"), status("x", "2")]
            .into_iter()
            .collect();
        assert_eq!(uptimes(&collected), [("w", "1"), ("x", "2")]);
        let json = serde_json::to_value(&collected).unwrap();
        assert_eq!(json["x"]["uptime"], "2");
        assert_eq!(serde_json::from_value::<StatusMap>(json).unwrap(), collected);
    }
}

//! What the API does not define: the accounts of batch calls over many
//! requests. Their entries are the generated types.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::batch::StopFailure;
use crate::raw::types::{BatchStopErrorEntry, CvmStatus};

/// Statuses by VM UUID (only the ids asked about): the generated
/// [`CvmStatus`] entries, in `vm_uuid` order, which is the key.
///
/// The answer to one request (up to 100 uuids) is kept as the generated
/// client decoded it, a `BTreeMap<String, CvmStatus>`: nothing is moved out
/// of it, which would cost a call about 2 % (BENCHMARKS.md, scenario 1).
/// A map gathered from several answers is a vector sorted by `vm_uuid`
/// instead: a tree stores every uuid twice (key and field) and each entry
/// in a node sized for eleven, so a fleet's map costs about 40 % less this
/// way (BENCHMARKS.md, decode scenario). Reads like a map either way;
/// serializes as the API's JSON object keyed by uuid.
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
#[derive(Clone)]
pub struct StatusMap {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    /// One answer as decoded; each key equals its entry's `vm_uuid`.
    Answer(BTreeMap<String, CvmStatus>),
    /// Sorted by `vm_uuid`, no uuid twice.
    Sorted(Vec<CvmStatus>),
}

impl Default for StatusMap {
    fn default() -> Self {
        Self {
            repr: Repr::Sorted(Vec::new()),
        }
    }
}

impl PartialEq for StatusMap {
    /// Equal when they hold the same statuses, however each is kept.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.values().eq(other.values())
    }
}

impl std::fmt::Debug for StatusMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl StatusMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }
    /// Statuses in the map.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Answer(map) => map.len(),
            Repr::Sorted(entries) => entries.len(),
        }
    }
    /// No status at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The status of `vm_uuid`, if it was answered.
    pub fn get(&self, vm_uuid: &str) -> Option<&CvmStatus> {
        match &self.repr {
            Repr::Answer(map) => map.get(vm_uuid),
            Repr::Sorted(entries) => entries
                .binary_search_by(|s| s.vm_uuid.as_str().cmp(vm_uuid))
                .ok()
                .map(|i| &entries[i]),
        }
    }
    /// Whether `vm_uuid` was answered.
    pub fn contains_key(&self, vm_uuid: &str) -> bool {
        self.get(vm_uuid).is_some()
    }
    /// The uuids, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values().map(|s| s.vm_uuid.as_str())
    }
    /// The statuses, in uuid order.
    pub fn values(&self) -> StatusValues<'_> {
        StatusValues(match &self.repr {
            Repr::Answer(map) => ValuesOf::Answer(map.values()),
            Repr::Sorted(entries) => ValuesOf::Sorted(entries.iter()),
        })
    }
    /// `(uuid, status)` pairs, in uuid order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &CvmStatus)> {
        self.values().map(|s| (s.vm_uuid.as_str(), s))
    }
    /// Keeps the statuses `keep` holds for.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &CvmStatus) -> bool) {
        match &mut self.repr {
            Repr::Answer(map) => map.retain(|k, s| keep(k, s)),
            Repr::Sorted(entries) => entries.retain(|s| keep(&s.vm_uuid, s)),
        }
    }
    /// The statuses as a vector, in uuid order.
    pub fn into_vec(self) -> Vec<CvmStatus> {
        match self.repr {
            Repr::Answer(map) => map.into_values().collect(),
            Repr::Sorted(entries) => entries,
        }
    }
    /// The sorted vector, moving an answer's entries into it first.
    fn sorted_mut(&mut self) -> &mut Vec<CvmStatus> {
        if let Repr::Answer(map) = &mut self.repr {
            let entries = std::mem::take(map).into_values().collect();
            self.repr = Repr::Sorted(entries);
        }
        match &mut self.repr {
            Repr::Sorted(entries) => entries,
            Repr::Answer(_) => unreachable!("made sorted above"),
        }
    }
    /// The generated client's answer, kept as it is: where a key and its
    /// entry's `vm_uuid` differ, the key wins (it is what was asked about).
    pub(crate) fn from_answer(mut answer: BTreeMap<String, CvmStatus>) -> Self {
        for (key, status) in answer.iter_mut() {
            keyed(key, status);
        }
        Self {
            repr: Repr::Answer(answer),
        }
    }
}

/// The statuses of a [`StatusMap`], in uuid order.
#[derive(Clone)]
pub struct StatusValues<'a>(ValuesOf<'a>);

#[derive(Clone)]
enum ValuesOf<'a> {
    Answer(std::collections::btree_map::Values<'a, String, CvmStatus>),
    Sorted(std::slice::Iter<'a, CvmStatus>),
}

impl<'a> Iterator for StatusValues<'a> {
    type Item = &'a CvmStatus;
    fn next(&mut self) -> Option<&'a CvmStatus> {
        match &mut self.0 {
            ValuesOf::Answer(it) => it.next(),
            ValuesOf::Sorted(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            ValuesOf::Answer(it) => it.size_hint(),
            ValuesOf::Sorted(it) => it.size_hint(),
        }
    }
}

impl DoubleEndedIterator for StatusValues<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            ValuesOf::Answer(it) => it.next_back(),
            ValuesOf::Sorted(it) => it.next_back(),
        }
    }
}

impl ExactSizeIterator for StatusValues<'_> {}

/// `status` under `key`: where the two differ, the key wins. Kept without
/// the spare room decoding left in its event list (a decoder cannot know a
/// list's length, so it grows by doubling: two events took room for four).
fn keyed(key: &str, status: &mut CvmStatus) {
    if status.vm_uuid != key {
        tracing::warn!(key = %key, vm_uuid = %status.vm_uuid, "status entry keyed by another uuid; the key wins");
        status.vm_uuid = key.to_string();
    }
    if let Some(events) = status.events.as_mut() {
        events.shrink_to_fit();
    }
}

impl Extend<CvmStatus> for StatusMap {
    /// Adds statuses; one for a uuid already present replaces it, as a map would.
    fn extend<I: IntoIterator<Item = CvmStatus>>(&mut self, statuses: I) {
        let entries = self.sorted_mut();
        let before = entries.len();
        entries.extend(statuses);
        if entries.len() == before {
            return;
        }
        // Stable: of equal uuids, the one added last comes last and stays.
        entries.sort_by(|a, b| a.vm_uuid.cmp(&b.vm_uuid));
        entries.dedup_by(|later, kept| {
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
            if self.is_empty() {
                *self = map;
            } else {
                self.sorted_mut().reserve_exact(map.len());
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
        map.sorted_mut().shrink_to_fit();
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
        Self {
            repr: Repr::Sorted(entries),
        }
    }
}

impl IntoIterator for StatusMap {
    type Item = CvmStatus;
    type IntoIter = std::vec::IntoIter<CvmStatus>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'a> IntoIterator for &'a StatusMap {
    type Item = &'a CvmStatus;
    type IntoIter = StatusValues<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.values()
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
                while let Some((key, mut status)) = map.next_entry::<String, CvmStatus>()? {
                    keyed(&key, &mut status);
                    entries.push(status);
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

    #[test]
    fn an_answer_kept_as_decoded_reads_and_merges_as_a_sorted_map() {
        let mut answer = BTreeMap::new();
        answer.insert("b".to_string(), status("b", "1h"));
        answer.insert("a".to_string(), status("x", "2h")); // keyed by another uuid: the key wins
        let kept = StatusMap::from_answer(answer);
        let sorted: StatusMap = [status("b", "1h"), status("a", "2h")].into_iter().collect();
        assert_eq!(kept, sorted);
        assert_eq!(uptimes(&kept), [("a", "2h"), ("b", "1h")]);
        assert_eq!(kept["a"].vm_uuid, "a");
        assert_eq!(kept.values().next_back().map(|s| s.vm_uuid.as_str()), Some("b"));
        assert_eq!(format!("{kept:?}"), format!("{sorted:?}"));
        assert_eq!(
            serde_json::to_value(&kept).unwrap(),
            serde_json::to_value(&sorted).unwrap()
        );

        let mut merged = kept.clone();
        merged.extend([status("a", "3h"), status("c", "4h")]);
        assert_eq!(uptimes(&merged), [("a", "3h"), ("b", "1h"), ("c", "4h")]);
        let mut kept = kept;
        kept.retain(|k, _| k != "a");
        assert_eq!(kept.into_vec().len(), 1);
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

//! Batches without limits: any number of ids, split into chunks the API
//! accepts, sent with bounded concurrency, merged into one answer.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use futures::{Stream, StreamExt};

use crate::client::Replay;
use crate::cvm_ref::{Form, form_of};
use crate::raw::types::{BatchStatusRequest, BatchStopRequest, BatchStopResponse, CvmStatus};
use crate::report::{StatusMap, StopReport};
use crate::{Client, Error};

/// Removes duplicates, keeping the first occurrence's order.
pub(crate) fn dedup<I, S>(ids: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let all: Vec<String> = ids.into_iter().map(|s| s.as_ref().to_string()).collect();
    let mut seen: HashSet<&str> = HashSet::with_capacity(all.len());
    let first: Vec<bool> = all.iter().map(|s| seen.insert(s.as_str())).collect();
    if first.iter().all(|f| *f) {
        return all;
    }
    all.into_iter().zip(first).filter_map(|(s, f)| f.then_some(s)).collect()
}

/// The distinct ids (first order kept), split into those a request can carry
/// and those none can (see [`invalid_id`]), for calls that report the
/// latter instead of refusing the whole call.
fn sendable<I, S>(ids: I) -> (Vec<String>, Vec<String>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    dedup(ids).into_iter().partition(|id| invalid_id(id).is_none())
}

/// Refuses the first id no endpoint could accept (empty, blank, or with
/// control characters), naming its position, so nothing is sent.
pub(crate) fn check_ids<S: AsRef<str>>(ids: &[S]) -> Result<(), Error> {
    match ids
        .iter()
        .map(AsRef::as_ref)
        .enumerate()
        .find_map(|(at, id)| Some((at, id, invalid_id(id)?)))
    {
        Some((at, id, why)) => Err(Error::InvalidInput(format!("vm_uuid #{at} ({id:?}): {why}"))),
        None => Ok(()),
    }
}

/// Why an id cannot be sent, if it cannot.
pub(crate) fn invalid_id(id: &str) -> Option<&'static str> {
    // Printable ASCII (every real id) needs no further look; folded without
    // an early exit, so the check runs on whole vectors of bytes.
    if !id.is_empty() && id.bytes().fold(true, |ok, b| ok & (b.wrapping_sub(0x21) < 0x5e)) {
        return None;
    }
    if id.trim().is_empty() {
        Some("empty id")
    } else if id.chars().any(char::is_control) {
        Some("id contains control characters")
    } else {
        None
    }
}

/// The ids one request asked about, sorted: what its answer is checked
/// against. Sorting beats hashing here (bench scenario 1): the answer map's
/// keys come sorted too, so the usual check is one merge walk.
pub(crate) struct Asked<'a>(Vec<&'a str>);

impl<'a> Asked<'a> {
    /// The ids of `ids`, sorted.
    fn of<S: AsRef<str>>(ids: &'a [S]) -> Self {
        let mut sorted: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
        sorted.sort_unstable();
        Asked(sorted)
    }

    /// The set of `ids`, or `None` if an id occurs twice.
    pub(crate) fn distinct<S: AsRef<str>>(ids: &'a [S]) -> Option<Self> {
        let asked = Self::of(ids);
        asked.0.windows(2).all(|w| w[0] != w[1]).then_some(asked)
    }

    fn contains(&self, id: &str) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// Whether every key of `answer` was asked about: one walk, since both are sorted.
    fn covers(&self, answer: &BTreeMap<String, CvmStatus>) -> bool {
        let mut asked = self.0.iter();
        answer.keys().all(|k| asked.by_ref().any(|a| *a == k.as_str()))
    }
}

/// `ids` split into owned chunks of at most `size` (moved, not copied).
fn into_chunks(ids: Vec<String>, size: usize) -> Vec<Vec<String>> {
    let mut rest = ids.into_iter();
    std::iter::from_fn(|| Some(rest.by_ref().take(size).collect::<Vec<_>>()).filter(|c| !c.is_empty())).collect()
}

/// The outputs of `futures`, at most `concurrency` at a time, as they finish.
/// A single future is awaited directly: going through `buffer_unordered`
/// added about 40 µs to every one-request call (bench scenario 1).
pub(crate) fn in_flight<F: Future>(futures: Vec<F>, concurrency: usize) -> impl Stream<Item = F::Output> {
    let single = futures.len() == 1;
    let all = futures::stream::iter(futures);
    if single {
        all.then(|f| f).left_stream()
    } else {
        all.buffer_unordered(concurrency).right_stream()
    }
}

/// One id `stop_many` could not have stopped: its whole chunk failed (after
/// retries), or it could not be sent. The server's own per-id refusals are
/// in [`StopReport::errors`](crate::StopReport::errors), as it sent them.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct StopFailure {
    /// The id as given.
    pub cvm_id: String,
    /// Why, as a single call would have returned it. In JSON, its message.
    #[serde(serialize_with = "crate::error::serialize_display")]
    pub error: Error,
}

/// One batch status request's answer, from [`Client::statuses`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatusChunk {
    /// The statuses answered, sorted by `vm_uuid` (only uuids asked about).
    pub statuses: Vec<CvmStatus>,
    /// Uuids asked about that the answer does not hold: not known to the
    /// server (or not visible to this key), in the order asked.
    pub unknown: Vec<String>,
}

/// A chunk of [`Client::statuses`] that was not answered: its uuids and why.
#[derive(Debug, thiserror::Error)]
#[error("status of {} vm_uuids failed: {error}", .vm_uuids.len())]
#[non_exhaustive]
pub struct StatusChunkError {
    /// The uuids of the chunk, none of them answered.
    pub vm_uuids: Vec<String>,
    /// Why (after retries).
    #[source]
    pub error: Error,
}

impl Client {
    /// One batch status request. An answer is trusted only for what was
    /// asked: entries for other ids are dropped (with a warning), never merged.
    async fn status_chunk(&self, chunk: &[String]) -> Result<StatusMap, Error> {
        self.status_request(chunk, &Asked::of(chunk)).await
    }

    /// [`Client::status_chunk`] with the set of `chunk`'s ids already built.
    async fn status_request<S: AsRef<str>>(&self, chunk: &[S], asked: &Asked<'_>) -> Result<StatusMap, Error> {
        // Each attempt builds its request from the chunk: one copy of the ids
        // per attempt, where cloning a built request would make two.
        let mut map = self
            .send("status_batch", Replay::Idempotent, || {
                let body = BatchStatusRequest {
                    vm_uuids: chunk.iter().map(|id| id.as_ref().to_string()).collect(),
                };
                self.raw().batch_cvm_status().body(body).send()
            })
            .await?;
        if !asked.covers(&map) {
            let before = map.len();
            map.retain(|k, _| asked.contains(k.as_str()));
            tracing::warn!(
                dropped = before - map.len(),
                asked = chunk.len(),
                "batch status answered for ids it was not asked about; dropped"
            );
        }
        Ok(StatusMap::from_answer(map))
    }

    /// One batch stop request, with the ids it carried.
    async fn stop_chunk(&self, chunk: Vec<String>) -> (Vec<String>, Result<BatchStopResponse, Error>) {
        let answer = self
            .send("batch_stop", Replay::IfNotApplied, || {
                let body = BatchStopRequest { cvm_ids: chunk.clone() };
                self.raw().batch_stop_cvms().body(body).send()
            })
            .await;
        (chunk, answer)
    }

    /// Status of any number of CVMs: one map keyed by VM UUID. Takes any
    /// [`CvmRef`](crate::CvmRef) (an app id: all of its CVMs); VM UUIDs go
    /// straight to the batch endpoint (an unknown one is absent from the
    /// map, as the API answers), the other forms are resolved with one
    /// listing for the whole call, and one that names no CVM fails it
    /// ([`Error::NoSuchCvm`]). Sends nothing for an empty list, or when an
    /// id is empty or blank ([`Error::InvalidInput`]); fails if any chunk
    /// fails after retries. The retry deadline bounds the whole call: chunks
    /// not answered by then fail it ([`Error::GaveUp`]). Collects
    /// [`Client::statuses`]; for a fleet too large to hold at once, consume
    /// that stream instead.
    pub async fn status_many<I, S>(&self, cvms: I) -> Result<StatusMap, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // The caller's ids as given: copied once per request, not before.
        let all: Vec<S> = cvms.into_iter().collect();
        if all.is_empty() {
            return Ok(StatusMap::new());
        }
        if !all.iter().all(|r| form_of(r.as_ref()) == Form::Uuid) {
            check_ids(&all)?;
            let mut uuids = Vec::with_capacity(all.len());
            for (_, found) in self.resolve(dedup(all), Form::Uuid).await? {
                uuids.extend(found?);
            }
            return Box::pin(self.status_many(uuids)).await;
        }
        // Every id is a VM UUID here (hex digits and dashes), which no
        // endpoint refuses: `check_ids` would find nothing.
        // One request without duplicates (the usual call): the set that finds
        // duplicates is the one the answer is checked against; no stream
        // machinery, no merge.
        if all.len() <= self.inner.status_chunk
            && let Some(asked) = Asked::distinct(&all)
        {
            return self.status_request(&all, &asked).await;
        }
        let ids = dedup(all);
        let until = crate::deadline::from_now(self.inner.retry.deadline());
        // Room for every id at once: growing by doubling would peak at
        // twice the statuses.
        let mut entries = Vec::with_capacity(ids.len());
        let mut answers = std::pin::pin!(self.status_chunks(ids, until));
        while let Some(chunk) = answers.next().await {
            let chunk = chunk.map_err(|failed| failed.error)?;
            // Chunks hold distinct ids: gathered unsorted, sorted once.
            entries.extend(chunk.statuses);
        }
        Ok(StatusMap::from_distinct(entries))
    }

    /// Status of any number of CVMs as a stream, one item per request of at
    /// most the status chunk size (100), in the order of `vm_uuids`, each
    /// as soon as it and the chunks before it are answered, up to the
    /// client's concurrency ahead. Every distinct uuid comes out exactly
    /// once: in `statuses`, in `unknown` (the server does not know it), or
    /// in a [`StatusChunkError`] (its chunk failed after retries, or the id
    /// could not be sent), so nothing is lost and memory stays at the
    /// chunks in flight plus what the caller keeps.
    ///
    /// Each request has the retry policy's deadline from when it starts: a
    /// stream the caller consumes slowly does not time out for it.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// # async fn run(client: phala_cloud::Client, uuids: Vec<String>) {
    /// let mut chunks = std::pin::pin!(client.statuses(&uuids));
    /// while let Some(chunk) = chunks.next().await {
    ///     match chunk {
    ///         Ok(chunk) => {
    ///             for status in &chunk.statuses {
    ///                 println!("{} {}", status.vm_uuid, status.status);
    ///             }
    ///         }
    ///         Err(failed) => eprintln!("{} uuids unanswered: {}", failed.vm_uuids.len(), failed.error),
    ///     }
    /// }
    /// # }
    /// ```
    pub fn statuses<I, S>(&self, vm_uuids: I) -> impl Stream<Item = Result<StatusChunk, StatusChunkError>> + Send + '_
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (ids, invalid) = sendable(vm_uuids);
        // Ids no request could carry come first, as one failure, unsent.
        let refused = (!invalid.is_empty()).then(|| {
            let why = invalid
                .iter()
                .map(|id| format!("{id:?}: {}", invalid_id(id).unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(", ");
            Err(StatusChunkError {
                vm_uuids: invalid,
                error: Error::InvalidInput(format!("vm_uuids not sent: {why}")),
            })
        });
        futures::stream::iter(refused).chain(self.status_chunks(ids, None))
    }

    /// One batch status request per chunk of `ids`, in order, each within
    /// `until` when given (else its own retry deadline).
    fn status_chunks(
        &self,
        ids: Vec<String>,
        until: Option<tokio::time::Instant>,
    ) -> impl Stream<Item = Result<StatusChunk, StatusChunkError>> + Send + '_ {
        let chunks = into_chunks(ids, self.inner.status_chunk);
        futures::stream::iter(chunks)
            .map(move |chunk| {
                crate::deadline::within(until, async move {
                    match self.status_chunk(&chunk).await {
                        Ok(map) => {
                            let statuses = map.into_vec();
                            let unknown = chunk
                                .into_iter()
                                .filter(|id| statuses.binary_search_by(|s| s.vm_uuid.cmp(id)).is_err())
                                .collect();
                            Ok(StatusChunk { statuses, unknown })
                        }
                        Err(error) => Err(StatusChunkError { vm_uuids: chunk, error }),
                    }
                })
            })
            .buffered(self.inner.concurrency)
    }

    /// Status chunk by chunk, for fleet waits: what answered, and the ids of
    /// the chunks that failed (after retries) with the last error, so one
    /// failed chunk does not throw away the others' answers. The retry
    /// deadline bounds the whole round.
    pub(crate) async fn status_partial(&self, ids: Vec<String>) -> (StatusMap, BTreeSet<String>, Option<Error>) {
        let until = crate::deadline::from_now(self.inner.retry.deadline());
        let mut entries = Vec::with_capacity(ids.len());
        let mut answers = std::pin::pin!(self.status_chunks(ids, until));
        let (mut unanswered, mut last_error) = (BTreeSet::new(), None);
        while let Some(answer) = answers.next().await {
            match answer {
                Ok(chunk) => entries.extend(chunk.statuses),
                Err(failed) => {
                    unanswered.extend(failed.vm_uuids);
                    last_error = Some(failed.error);
                }
            }
        }
        (StatusMap::from_distinct(entries), unanswered, last_error)
    }

    /// Stops any number of CVMs by hashed id, 50 per request at most.
    ///
    /// Never loses an id: each one ends up counted as stopped or skipped, in
    /// `errors` (the server's per-id errors) or in `failed` (its whole chunk
    /// failed, or the id is empty or blank, with why). A failed chunk never
    /// discards the others' results.
    pub async fn stop_many<I, S>(&self, cvms: I) -> StopReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let (refs, invalid) = sendable(cvms);
        // Ids no server would accept are reported, not sent.
        let mut failed: Vec<StopFailure> = invalid
            .into_iter()
            .map(|id| {
                let error = Error::InvalidInput(format!("cvm_id {id:?}: {}", invalid_id(&id).unwrap_or_default()));
                StopFailure { cvm_id: id, error }
            })
            .collect();
        // Other references become hashed ids (one listing, if any needs it);
        // one that names nothing is reported under the reference given.
        let mut ids = Vec::with_capacity(refs.len());
        match self.resolve(refs.clone(), Form::Id).await {
            Ok(resolved) => {
                for (reference, found) in resolved {
                    match found {
                        Ok(found) => ids.extend(found),
                        Err(error) => failed.push(StopFailure {
                            cvm_id: reference,
                            error,
                        }),
                    }
                }
            }
            Err(error) => failed.extend(refs.into_iter().map(|cvm_id| StopFailure {
                cvm_id,
                error: error.clone(),
            })),
        }
        let ids = dedup(ids);
        let mut report = StopReport {
            total: ids.len() + failed.len(),
            failed,
            ..StopReport::default()
        };
        let chunks = into_chunks(ids, self.inner.stop_chunk);
        // One deadline for the whole call: a chunk that cannot be sent or
        // answered by then is reported failed, with why.
        let until = crate::deadline::from_now(self.inner.retry.deadline());
        let mut answers = std::pin::pin!(in_flight(
            chunks
                .into_iter()
                .map(|chunk| crate::deadline::within(until, self.stop_chunk(chunk)))
                .collect(),
            self.inner.concurrency,
        ));
        while let Some((chunk, answer)) = answers.next().await {
            report.requests += 1;
            match answer {
                Ok(a) => {
                    let errors = a.errors.unwrap_or_default();
                    let n = chunk.len() as i64;
                    if a.total != n || a.stopped + a.skipped + errors.len() as i64 != n {
                        tracing::warn!(
                            chunk = chunk.len(),
                            stopped = a.stopped,
                            skipped = a.skipped,
                            errors = errors.len(),
                            "batch stop answer does not add up"
                        );
                    }
                    report.stopped += usize::try_from(a.stopped).unwrap_or(0);
                    report.skipped += usize::try_from(a.skipped).unwrap_or(0);
                    report.errors.extend(errors);
                }
                Err(e) => {
                    report.failed.extend(chunk.into_iter().map(|cvm_id| StopFailure {
                        cvm_id,
                        error: e.clone(),
                    }));
                }
            }
        }
        report
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunks_keep_every_id_in_order() {
        let ids: Vec<String> = (0..7).map(|i| i.to_string()).collect();
        assert_eq!(
            super::into_chunks(ids, 3),
            [vec!["0", "1", "2"], vec!["3", "4", "5"], vec!["6"]]
        );
        assert!(super::into_chunks(Vec::new(), 3).is_empty());
    }

    #[test]
    fn asked_sets_find_duplicates_and_foreign_answers() {
        use super::Asked;
        let ids: Vec<String> = ["c", "a", "b"].map(String::from).to_vec();
        let asked = Asked::distinct(&ids).unwrap();
        let entry = |id: &str| {
            serde_json::from_value::<crate::CvmStatus>(serde_json::json!({"vm_uuid": id, "status": "running"})).unwrap()
        };
        let answer = |keys: &[&str]| -> std::collections::BTreeMap<String, crate::CvmStatus> {
            keys.iter().map(|k| (k.to_string(), entry(k))).collect()
        };
        assert!(asked.covers(&answer(&[])));
        assert!(asked.covers(&answer(&["a", "c"])));
        assert!(asked.covers(&answer(&["a", "b", "c"])));
        assert!(!asked.covers(&answer(&["a", "d"])));
        assert!(!asked.covers(&answer(&["0", "a"])));
        assert!(asked.contains("b") && !asked.contains("d"));
        assert!(Asked::distinct(&["x", "y", "x"]).is_none());
    }

    #[test]
    fn printable_ids_pass_and_others_are_named() {
        assert_eq!(super::invalid_id("cvm_ab-1.x~"), None);
        assert_eq!(super::invalid_id("é✓"), None);
        assert_eq!(super::invalid_id(" "), Some("empty id"));
        assert_eq!(super::invalid_id("a\u{7f}"), Some("id contains control characters"));
        assert_eq!(super::invalid_id("a\u{85}"), Some("id contains control characters"));
    }

    #[test]
    fn dedup_keeps_first_order() {
        assert_eq!(super::dedup(["b", "a", "b", "c", "a"]), ["b", "a", "c"]);
    }
}

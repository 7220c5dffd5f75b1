//! Waiting for a whole fleet by polling batch status: one request per chunk
//! per round, however many CVMs, never one connection per CVM.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::batch::{StopFailure, check_ids, dedup};
use crate::cvm_ref::{Form, form_of};
use crate::raw::types::KnownStatus;
use crate::{Client, Condition, Error, StatusMap, StopReport};

/// Where a fleet wait stands after a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WaitProgress {
    /// Rounds so far (one batch status sweep each).
    pub round: u32,
    /// CVMs at the target.
    pub reached: usize,
    /// CVMs still waited for.
    pub pending: usize,
    /// CVMs that failed or were not found.
    pub failed: usize,
    /// Time since the wait began.
    pub elapsed: Duration,
}

/// How one CVM's wait ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitOutcome {
    /// At the target, with no operation in progress.
    Reached,
    /// The CVM is in a state it will not leave by itself (e.g. `error`).
    Failed {
        /// The status it is stuck in.
        status: String,
    },
    /// The batch status answer never mentioned it.
    NotFound,
    /// Still not at the target at the deadline.
    TimedOut {
        /// The last status seen, if any.
        status: Option<String>,
    },
}

/// The per-id result of [`Client::wait_all`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct WaitReport {
    /// The condition waited for, as [`Condition`] displays it.
    pub target: String,
    /// How each VM UUID's wait ended.
    pub outcomes: BTreeMap<String, WaitOutcome>,
    /// The last status seen per id.
    pub last: StatusMap,
    /// Rounds sent.
    pub rounds: u32,
    /// Time the wait took.
    pub elapsed: Duration,
    /// The last error of a round that failed as a whole, if any.
    pub last_error: Option<String>,
}

impl WaitReport {
    /// Every CVM reached the target.
    pub fn all_reached(&self) -> bool {
        self.outcomes.values().all(|o| *o == WaitOutcome::Reached)
    }
    /// How many outcomes match `pred`.
    pub fn count(&self, pred: impl Fn(&WaitOutcome) -> bool) -> usize {
        self.outcomes.values().filter(|o| pred(o)).count()
    }
}

/// Options of [`Client::wait_all`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WaitAllOptions {
    /// The longest time between rounds. Rounds start
    /// [`WaitAllOptions::FIRST_INTERVAL`] apart (or `interval`, if shorter),
    /// double while no CVM waited for changes, up to `interval`, and close
    /// up again (halving) while they do.
    pub interval: Duration,
    /// Rounds in which an id may be missing from the answer before it counts as not found.
    pub missing_rounds: u32,
}

impl Default for WaitAllOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            missing_rounds: 2,
        }
    }
}

impl WaitAllOptions {
    /// The shortest interval accepted: anything shorter is a busy loop.
    pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

    /// The time between the first rounds, before they space out.
    pub const FIRST_INTERVAL: Duration = Duration::from_millis(250);

    /// The longest time between rounds (default 5 s; at least
    /// [`Self::MIN_INTERVAL`]; see the field for how rounds are paced).
    pub fn interval(mut self, d: Duration) -> Self {
        self.interval = d;
        self
    }

    /// Rounds an id may be missing before it counts as not found (default 2; at least 1).
    pub fn missing_rounds(mut self, n: u32) -> Self {
        self.missing_rounds = n;
        self
    }

    /// Checked before any request.
    pub fn validate(&self) -> Result<(), Error> {
        if self.interval < Self::MIN_INTERVAL {
            return Err(Error::InvalidInput(format!(
                "interval must be at least {:?}, got {:?}",
                Self::MIN_INTERVAL,
                self.interval
            )));
        }
        if self.missing_rounds == 0 {
            return Err(Error::InvalidInput("missing_rounds must be at least 1".into()));
        }
        Ok(())
    }
}

impl Client {
    /// Waits until every CVM (by VM UUID) meets `target` (a [`KnownStatus`]
    /// or any [`Condition`]), ends in a failed state the condition does not
    /// accept, or the deadline passes; `progress` hears after every round.
    pub async fn wait_all<I, S>(
        &self,
        vm_uuids: I,
        target: impl Into<Condition>,
        deadline: Duration,
        opts: WaitAllOptions,
        progress: impl FnMut(&WaitProgress),
    ) -> Result<WaitReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Options are checked before anything is sent, a listing included.
        opts.validate()?;
        let refs = dedup(vm_uuids);
        if refs.iter().all(|r| form_of(r) == Form::Uuid) {
            return self
                .wait_rounds(refs, target.into(), deadline, opts, progress, None)
                .await;
        }
        // Other references: VM UUIDs from one listing; one that names no
        // CVM (or several, but for an app) ends at once, under its own text.
        check_ids(&refs)?;
        let mut uuids = Vec::with_capacity(refs.len());
        let mut unresolved = Vec::new();
        for (reference, found) in self.resolve(refs, Form::Uuid).await? {
            match found {
                Ok(found) => uuids.extend(found),
                Err(e) => unresolved.push((reference, e)),
            }
        }
        let mut report = self
            .wait_rounds(uuids, target.into(), deadline, opts, progress, None)
            .await?;
        for (reference, e) in unresolved {
            tracing::debug!(reference = %reference, error = %e, "wait: reference names no CVM");
            report.outcomes.insert(reference, WaitOutcome::NotFound);
        }
        Ok(report)
    }

    /// Stops a fleet and waits until every CVM is stopped.
    ///
    /// `cvms` are any [`CvmRef`](crate::CvmRef)s (an app id: all of its
    /// CVMs), resolved to hashed id and VM UUID with one listing; one that
    /// names no CVM is in the report's `failed`. The API skips CVMs busy
    /// with another operation (a start, say); those are stopped again once
    /// they are idle, at most three times each, so the whole fleet converges.
    pub async fn stop_and_wait<I, S>(
        &self,
        cvms: I,
        deadline: Duration,
        opts: WaitAllOptions,
        progress: impl FnMut(&WaitProgress),
    ) -> Result<(StopReport, WaitReport), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let refs = dedup(cvms);
        check_ids(&refs)?;
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(refs.len());
        let mut unresolved = Vec::new();
        for (reference, found) in self.resolve_both(refs).await? {
            match found {
                Ok(found) => {
                    for named in found {
                        match (named.id, named.uuid) {
                            (Some(id), Some(uuid)) => pairs.push((id, uuid)),
                            _ => unresolved.push(StopFailure {
                                cvm_id: reference.clone(),
                                error: Error::NoSuchCvm(format!(
                                    "{reference:?}: the listing of this API version gives no hashed id and VM UUID"
                                )),
                            }),
                        }
                    }
                }
                Err(error) => unresolved.push(StopFailure {
                    cvm_id: reference,
                    error,
                }),
            }
        }
        let cvms = pairs;
        let ids: Vec<&String> = cvms.iter().map(|(id, _)| id).collect();
        let mut report = self.stop_many(ids).await;
        report.total += unresolved.len();
        report.failed.extend(unresolved);
        let failed: std::collections::HashSet<&str> = report
            .errors
            .iter()
            .map(|e| e.cvm_id.as_str())
            .chain(report.failed.iter().map(|f| f.cvm_id.as_str()))
            .collect();
        let by_uuid: BTreeMap<String, String> = cvms
            .iter()
            .filter(|(id, _)| !failed.contains(id.as_str()))
            .map(|(id, uuid)| (uuid.clone(), id.clone()))
            .collect();
        let uuids: Vec<String> = by_uuid.keys().cloned().collect();
        let waited = self
            .wait_rounds(
                uuids,
                Condition::Status(KnownStatus::Stopped),
                deadline,
                opts,
                progress,
                Some((&by_uuid, &mut report)),
            )
            .await?;
        Ok((report, waited))
    }

    async fn wait_rounds<I, S>(
        &self,
        vm_uuids: I,
        target: Condition,
        deadline: Duration,
        opts: WaitAllOptions,
        mut progress: impl FnMut(&WaitProgress),
        mut restop: Option<(&BTreeMap<String, String>, &mut StopReport)>,
    ) -> Result<WaitReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut resent: BTreeMap<String, u32> = BTreeMap::new();
        opts.validate()?;
        let ids = dedup(vm_uuids);
        check_ids(&ids)?;
        let started = Instant::now();
        let mut pending: BTreeSet<String> = ids.iter().cloned().collect();
        let mut outcomes = BTreeMap::new();
        let mut last = StatusMap::new();
        let mut missing: BTreeMap<String, u32> = BTreeMap::new();
        let mut last_error = None;
        let mut round = 0;
        // Rounds start close together and space out while nothing changes,
        // up to the interval: a fleet that settles in a moment is seen to,
        // a slow one is soon polled at the interval again.
        let first = opts.interval.min(WaitAllOptions::FIRST_INTERVAL);
        let mut delay = first;
        while !pending.is_empty() {
            round += 1;
            let (map, unanswered, error) = self.status_partial(pending.iter().cloned().collect()).await;
            if let Some(e) = error {
                tracing::warn!(round, unanswered = unanswered.len(), error = %e, "status chunks failed this round");
                last_error = Some(e.to_string());
            }
            // Ids whose chunk failed learn nothing this round: not even that they are missing.
            for id in pending.clone() {
                if unanswered.contains(&id) {
                    continue;
                }
                match map.get(&id) {
                    Some(s) if target.is_met(s) => {
                        outcomes.insert(id.clone(), WaitOutcome::Reached);
                        pending.remove(&id);
                    }
                    Some(s) if s.status.is_failed() && !s.is_in_progress() && !target.accepts_failed(&s.status) => {
                        outcomes.insert(
                            id.clone(),
                            WaitOutcome::Failed {
                                status: s.status.to_string(),
                            },
                        );
                        pending.remove(&id);
                    }
                    Some(_) => {}
                    None => {
                        let n = missing.entry(id.clone()).or_default();
                        *n += 1;
                        if *n >= opts.missing_rounds {
                            // Missing is what a wait for `Gone` waits for.
                            let outcome = match target {
                                Condition::Gone => WaitOutcome::Reached,
                                _ => WaitOutcome::NotFound,
                            };
                            outcomes.insert(id.clone(), outcome);
                            pending.remove(&id);
                        }
                    }
                }
            }
            if let Some((by_uuid, report)) = restop.as_mut() {
                let idle: Vec<String> = pending
                    .iter()
                    .filter(|id| {
                        map.get(id).is_some_and(|s| {
                            !s.is_in_progress() && s.status != KnownStatus::Stopping && s.status != KnownStatus::Stopped
                        })
                    })
                    .filter_map(|id| by_uuid.get(id).cloned())
                    .filter(|cvm| resent.get(cvm).copied().unwrap_or(0) < 3)
                    .collect();
                if !idle.is_empty() {
                    tracing::debug!(count = idle.len(), "stopping again CVMs that were busy");
                    for cvm in &idle {
                        *resent.entry(cvm.clone()).or_default() += 1;
                    }
                    let again = self.stop_many(&idle).await;
                    report.resent += idle.len();
                    report.requests += again.requests;
                }
            }
            // Whether any CVM still waited for moved since the last round:
            // the pace follows what is seen.
            let moved = map.values().any(|s| {
                last.get(&s.vm_uuid)
                    .is_none_or(|p| p.status != s.status || p.is_in_progress() != s.is_in_progress())
            });
            delay = next_delay(delay, moved, first, opts.interval);
            last.extend([map]);
            let failed = outcomes.values().filter(|o| !matches!(o, WaitOutcome::Reached)).count();
            progress(&WaitProgress {
                round,
                reached: outcomes.len() - failed,
                pending: pending.len(),
                failed,
                elapsed: started.elapsed(),
            });
            if pending.is_empty() || started.elapsed() + delay > deadline {
                break;
            }
            tokio::time::sleep(delay).await;
        }
        for id in pending {
            let status = last.get(&id).map(|s| s.status.to_string());
            outcomes.insert(id, WaitOutcome::TimedOut { status });
        }
        Ok(WaitReport {
            target: target.to_string(),
            outcomes,
            last,
            rounds: round,
            elapsed: started.elapsed(),
            last_error,
        })
    }
}

/// The time to the next round: half of `delay` (not under `first`) after a
/// round in which something moved, double (not over `max`) after one in
/// which nothing did.
fn next_delay(delay: Duration, moved: bool, first: Duration, max: Duration) -> Duration {
    if moved {
        (delay / 2).max(first)
    } else {
        (delay * 2).min(max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_space_out_while_nothing_moves_and_close_up_when_it_does() {
        let (first, max) = (WaitAllOptions::FIRST_INTERVAL, Duration::from_secs(5));
        let mut delay = first;
        let mut quiet = Vec::new();
        for _ in 0..6 {
            delay = next_delay(delay, false, first, max);
            quiet.push(delay.as_millis());
        }
        // A slow fleet: 250 ms apart at first, at the interval after five quiet rounds.
        assert_eq!(quiet, [500, 1000, 2000, 4000, 5000, 5000]);
        // Movement halves the wait, never under the first interval.
        assert_eq!(next_delay(max, true, first, max), Duration::from_millis(2500));
        assert_eq!(next_delay(first, true, first, max), first);
        // An interval shorter than the first one is kept as it is.
        let short = Duration::from_millis(20);
        assert_eq!(next_delay(short, false, short, short), short);
    }
}

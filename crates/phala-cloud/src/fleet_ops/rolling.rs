//! Rolling restart: a set of CVMs (an app's replicas, say) restarted a few
//! at a time, each batch back to `running` before the next begins, stopping
//! at the first CVM that fails, as a managed instance group rolls.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::batch::dedup;
use crate::fleet::ActionFailure;
use crate::lifecycle::Action;
use crate::wait::{WaitAllOptions, WaitOutcome};
use crate::{Client, Error};

/// One batch acted on: the VM UUID of each id accepted, the failure of each refused.
pub(crate) struct BatchActed {
    pub uuid_of: BTreeMap<String, String>,
    pub refused: BTreeMap<String, ActionFailure>,
}

/// Options of [`Client::rolling_restart`] and [`Client::rolling_update`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RollingOptions {
    /// CVMs restarting at once (at least 1; default 1).
    pub max_unavailable: usize,
    /// Skip the graceful shutdown of each restart.
    pub force: bool,
    /// How long one batch may take to be `running` again (default 10 min).
    pub batch_timeout: Duration,
    /// How the batch is waited for (batch status polling).
    pub wait: WaitAllOptions,
}

impl Default for RollingOptions {
    fn default() -> Self {
        Self {
            max_unavailable: 1,
            force: false,
            batch_timeout: Duration::from_secs(600),
            wait: WaitAllOptions::default(),
        }
    }
}

impl RollingOptions {
    /// The longest batch timeout accepted.
    pub const MAX_BATCH_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    /// CVMs restarting at once.
    pub fn max_unavailable(mut self, n: usize) -> Self {
        self.max_unavailable = n;
        self
    }
    /// Skip the graceful shutdown.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
    /// How long one batch may take to be running again.
    pub fn batch_timeout(mut self, d: Duration) -> Self {
        self.batch_timeout = d;
        self
    }
    /// How batches are waited for.
    pub fn wait(mut self, wait: WaitAllOptions) -> Self {
        self.wait = wait;
        self
    }

    /// Checked before any request.
    pub fn validate(&self) -> Result<(), Error> {
        if self.max_unavailable == 0 {
            return Err(Error::InvalidInput("max_unavailable must be at least 1".into()));
        }
        if self.batch_timeout.is_zero() || self.batch_timeout > Self::MAX_BATCH_TIMEOUT {
            return Err(Error::InvalidInput(format!(
                "batch timeout must be more than 0 and at most {:?}, got {:?}",
                Self::MAX_BATCH_TIMEOUT,
                self.batch_timeout
            )));
        }
        self.wait.validate()
    }
}

/// Where a rolling restart stands after a batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RollingProgress {
    /// Batches finished.
    pub batch: usize,
    /// Batches in all, if none fails.
    pub batches: usize,
    /// CVMs restarted and running again so far.
    pub restarted: usize,
    /// CVMs that failed so far.
    pub failed: usize,
    /// CVMs not touched yet.
    pub remaining: usize,
    /// Time since the rollout began.
    pub elapsed: Duration,
}

/// What a rolling restart did with every id.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RollingReport {
    /// Ids requested (after removing duplicates).
    pub total: usize,
    /// Restarted and seen `running` again, in order.
    pub restarted: Vec<String>,
    /// Refused, or not back to `running` in time: the rollout stopped there.
    pub failed: Vec<ActionFailure>,
    /// Never restarted, because the rollout stopped first.
    pub untouched: Vec<String>,
    /// Batches begun.
    pub batches: usize,
    /// Time the rollout took.
    pub elapsed: Duration,
}

impl RollingReport {
    /// Every id is accounted for exactly once.
    pub fn is_consistent(&self) -> bool {
        self.restarted.len() + self.failed.len() + self.untouched.len() == self.total
    }

    /// Every CVM was restarted and is running.
    pub fn is_complete_success(&self) -> bool {
        self.failed.is_empty() && self.untouched.is_empty()
    }
}

impl Client {
    /// Restarts CVMs (hashed ids, or any form a path takes) at most
    /// `max_unavailable` at a time. Each batch is waited for by batch status
    /// polling (no event streams, whatever the size) until every CVM in it is
    /// `running` with no operation in flight; the rollout stops at the first
    /// CVM that is refused, fails or times out, and reports the rest as
    /// untouched. Errors only for invalid input, before any request.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client, ids: Vec<String>) -> Result<(), phala_cloud::Error> {
    /// let opts = phala_cloud::RollingOptions::default().max_unavailable(2);
    /// let report = client.rolling_restart(&ids, &opts, |p| eprintln!("batch {}/{}", p.batch, p.batches)).await?;
    /// assert!(report.is_consistent());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn rolling_restart<I, S>(
        &self,
        cvm_ids: I,
        opts: &RollingOptions,
        mut progress: impl FnMut(&RollingProgress),
    ) -> Result<RollingReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let force = opts.force;
        self.roll(cvm_ids, opts, &mut progress, |batch| self.restart_acts(batch, force))
            .await
    }

    /// Rolls `act` over the ids a batch at a time: each batch acted on, then
    /// waited for until running, stopping at the first failure.
    pub(crate) async fn roll<I, S, F, Fut>(
        &self,
        cvm_ids: I,
        opts: &RollingOptions,
        progress: &mut impl FnMut(&RollingProgress),
        mut act: F,
    ) -> Result<RollingReport, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = BatchActed>,
    {
        opts.validate()?;
        let ids = dedup(cvm_ids);
        for id in &ids {
            Self::check_id(id, "CVM id")?;
        }
        let started = Instant::now();
        let batches = ids.len().div_ceil(opts.max_unavailable);
        let mut report = RollingReport {
            total: ids.len(),
            restarted: Vec::new(),
            failed: Vec::new(),
            untouched: Vec::new(),
            batches: 0,
            elapsed: Duration::ZERO,
        };
        let mut rest = ids.into_iter();
        loop {
            let batch: Vec<String> = rest.by_ref().take(opts.max_unavailable).collect();
            if batch.is_empty() {
                break;
            }
            report.batches += 1;
            let acted = act(batch.clone()).await;
            self.wait_batch(batch, acted, opts, &mut report).await;
            progress(&RollingProgress {
                batch: report.batches,
                batches,
                restarted: report.restarted.len(),
                failed: report.failed.len(),
                remaining: rest.len(),
                elapsed: started.elapsed(),
            });
            if !report.failed.is_empty() {
                report.untouched.extend(rest.by_ref());
                break;
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Restarts the replicas of one app (see [`Client::rolling_restart`]).
    pub async fn rolling_restart_app(
        &self,
        app_id: &str,
        opts: &RollingOptions,
        progress: impl FnMut(&RollingProgress),
    ) -> Result<RollingReport, Error> {
        opts.validate()?;
        let ids = self.replica_ids(app_id).await?;
        self.rolling_restart(ids, opts, progress).await
    }

    /// The ids of an app's CVMs (the hashed id, else the VM UUID).
    pub(crate) async fn replica_ids(&self, app_id: &str) -> Result<Vec<String>, Error> {
        let replicas = self.app_cvms(app_id).await?;
        Ok(replicas
            .iter()
            .filter_map(|c| c.id().or_else(|| c.vm_uuid().map(str::to_string)))
            .collect())
    }

    /// Restarts one batch together: the VM UUID to wait on for each id
    /// accepted, and the failure of each one refused.
    async fn restart_acts(&self, batch: Vec<String>, force: bool) -> BatchActed {
        let restarted = self.act_many(batch, Action::Restart { force }).await;
        let mut refused: BTreeMap<String, ActionFailure> =
            restarted.failed.into_iter().map(|f| (f.id.clone(), f)).collect();
        let mut accepted = Vec::new();
        for done in restarted.done {
            accepted.push((done.id, done.cvm.and_then(|vm| vm.vm_uuid)));
        }
        let uuid_of = self.uuids_of(accepted, &mut refused).await;
        BatchActed { uuid_of, refused }
    }

    /// The VM UUID of each accepted id: the one its answer carried, else
    /// the CVM's details are asked for it.
    pub(crate) async fn uuids_of(
        &self,
        accepted: Vec<(String, Option<String>)>,
        refused: &mut BTreeMap<String, ActionFailure>,
    ) -> BTreeMap<String, String> {
        let mut uuid_of: BTreeMap<String, String> = BTreeMap::new();
        for (id, known) in accepted {
            let uuid = match known {
                Some(uuid) => Some(uuid),
                None => match self.cvm(&id).await {
                    Ok(details) => details.vm_uuid().map(str::to_string),
                    Err(e) => {
                        refused.insert(id.clone(), ActionFailure::new(id, &e).applied());
                        continue;
                    }
                },
            };
            match uuid {
                Some(uuid) => {
                    uuid_of.insert(id, uuid);
                }
                None => {
                    let why = Error::Unsettled("accepted, but the CVM has no VM UUID to wait on".into());
                    refused.insert(id.clone(), ActionFailure::restarted_but(id, why));
                }
            }
        }
        uuid_of
    }

    /// Waits until a batch acted on is running again, and records each id;
    /// what it reports keeps the batch's order.
    async fn wait_batch(
        &self,
        batch: Vec<String>,
        acted: BatchActed,
        opts: &RollingOptions,
        report: &mut RollingReport,
    ) {
        let BatchActed { uuid_of, mut refused } = acted;
        let waited = if uuid_of.is_empty() {
            Ok(BTreeMap::new())
        } else {
            self.wait_all(
                uuid_of.values(),
                crate::raw::types::KnownStatus::Running,
                opts.batch_timeout,
                opts.wait.clone(),
                |_| {},
            )
            .await
            .map(|w| w.outcomes)
        };
        for id in batch {
            if let Some(failure) = refused.remove(&id) {
                report.failed.push(failure);
                continue;
            }
            let Some(uuid) = uuid_of.get(&id) else { continue };
            let outcome = match &waited {
                Ok(outcomes) => outcomes.get(uuid),
                Err(e) => {
                    report.failed.push(ActionFailure::new(id, e).applied());
                    continue;
                }
            };
            let why = match outcome {
                Some(WaitOutcome::Reached) => {
                    report.restarted.push(id);
                    continue;
                }
                Some(WaitOutcome::Failed { status }) => Error::Unsettled(format!("restarted, then ended {status}")),
                Some(WaitOutcome::TimedOut { status }) => Error::Deadline {
                    target: "running".into(),
                    waited: opts.batch_timeout,
                    // The status is all a fleet wait keeps of the last state.
                    last: status
                        .as_deref()
                        .and_then(|s| serde_json::from_value(serde_json::json!({ "status": s })).ok())
                        .map(Box::new),
                },
                _ => Error::Unsettled("restarted, then no longer found".into()),
            };
            report.failed.push(ActionFailure::restarted_but(id, why));
        }
    }
}

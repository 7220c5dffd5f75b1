//! Lifecycle calls over many CVMs. The API has no batch endpoint for them:
//! one request per CVM, a bounded number in flight, and a report that
//! accounts for every id exactly once.

use serde::Serialize;

use crate::batch::{dedup, in_flight};
use crate::cvm_ref::{Form, form_of};
use crate::lifecycle::Action;
use crate::raw::types::Vm;
use crate::{Client, Error};

/// One CVM a lifecycle call was accepted for.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ActionDone {
    /// The id as given.
    pub id: String,
    /// The record the API answered with (none for delete).
    pub cvm: Option<Vm>,
}

/// One CVM a lifecycle call failed for, with what is known of why.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ActionFailure {
    /// The id as given.
    pub id: String,
    /// The error, as a single call would have returned it (kind, status,
    /// code, request id; [`Error::last_attempt`] after retries). In JSON, its
    /// message.
    #[serde(serialize_with = "crate::error::serialize_display")]
    pub error: Error,
    /// The HTTP status, if the server answered.
    pub status: Option<u16>,
    /// The API's `error_code`, if it sent one.
    pub error_code: Option<String>,
    /// The CVM was busy with another operation (a 409 with an error code).
    pub in_progress: bool,
    /// The request may have been applied anyway (the answer was lost or
    /// unreadable): look before acting again.
    pub may_have_applied: bool,
}

impl ActionFailure {
    pub(crate) fn new(id: String, error: &Error) -> Self {
        let api = error.api();
        Self {
            id,
            error: error.clone(),
            status: error.status(),
            error_code: api.and_then(|a| a.error_code.clone()),
            in_progress: error.is_operation_in_progress(),
            may_have_applied: may_have_applied(error),
        }
    }

    /// The same failure, for a call known to have been applied (a restart
    /// whose wait then failed).
    pub(crate) fn applied(mut self) -> Self {
        self.may_have_applied = true;
        self
    }

    /// A call that was applied, then did not end as it should have.
    pub(crate) fn restarted_but(id: String, error: Error) -> Self {
        Self {
            id,
            error,
            status: None,
            error_code: None,
            in_progress: false,
            may_have_applied: true,
        }
    }
}

/// Whether a failed call may still have acted: its answer was lost,
/// unreadable, or a server error that can come after the work was done.
fn may_have_applied(error: &Error) -> bool {
    if let Error::GaveUp { attempts: 0, .. } = error {
        return false;
    }
    match error.last_attempt() {
        Error::Config(_) | Error::MissingEnv(_) | Error::InvalidInput(_) => false,
        Error::Api(api) => api.status >= 500 && api.status != 503,
        Error::Transport { connect, .. } => !connect,
        _ => true,
    }
}

/// What a fleet lifecycle call did with every id it was given.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ActionReport {
    /// The call.
    pub action: Action,
    /// Ids requested (after removing duplicates).
    pub total: usize,
    /// Ids the call was accepted for, in the order the answers came.
    pub done: Vec<ActionDone>,
    /// Ids it failed for (after retries), or that could not be sent.
    pub failed: Vec<ActionFailure>,
}

impl ActionReport {
    /// Every id is accounted for exactly once.
    pub fn is_consistent(&self) -> bool {
        self.done.len() + self.failed.len() == self.total
    }

    /// Nothing failed.
    pub fn is_complete_success(&self) -> bool {
        self.failed.is_empty()
    }
}

impl Client {
    /// Starts any number of CVMs (see [`Client::act_many`]).
    pub async fn start_many<I, S>(&self, cvm_ids: I) -> ActionReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.act_many(cvm_ids, Action::Start).await
    }

    /// Shuts down any number of CVMs gracefully (see [`Client::act_many`]).
    pub async fn shutdown_many<I, S>(&self, cvm_ids: I) -> ActionReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.act_many(cvm_ids, Action::Shutdown).await
    }

    /// Restarts any number of CVMs at once (see [`Client::act_many`]; for
    /// a few at a time, waiting for each batch, see [`Client::rolling_restart`]).
    pub async fn restart_many<I, S>(&self, cvm_ids: I, force: bool) -> ActionReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.act_many(cvm_ids, Action::Restart { force }).await
    }

    /// Deletes any number of CVMs for good (see [`Client::act_many`]).
    pub async fn delete_many<I, S>(&self, cvm_ids: I) -> ActionReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.act_many(cvm_ids, Action::Delete).await
    }

    /// One lifecycle call per CVM, at most the client's concurrency in
    /// flight. Never loses an id: each ends in `done` or in `failed` (with
    /// the status, error code and whether it may have been applied); ids no
    /// path could carry (blank, control characters, `.`/`..`) fail without
    /// a request. Replays follow [`Client::restart`]'s rules, so no CVM is
    /// restarted or deleted twice by one call.
    ///
    /// Takes any [`CvmRef`](crate::CvmRef): the service resolves each in its
    /// path, except an app id, which here means all of the app's CVMs (one
    /// listing for the whole call finds them; an app with none fails with
    /// [`Error::NoSuchCvm`]).
    pub async fn act_many<I, S>(&self, cvms: I, action: Action) -> ActionReport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let refs = dedup(cvms);
        let mut failed = Vec::new();
        let ids = if refs.iter().any(|r| form_of(r) == Form::App) {
            let apps: Vec<String> = refs.iter().filter(|r| form_of(r) == Form::App).cloned().collect();
            let expanded = self.resolve(apps, Form::Uuid).await;
            let mut ids = Vec::with_capacity(refs.len());
            let mut expanded = expanded.map(|r| r.into_iter());
            for r in refs {
                if form_of(&r) != Form::App {
                    ids.push(r);
                    continue;
                }
                match expanded.as_mut().map(|e| e.next()) {
                    Ok(Some((_, Ok(found)))) => ids.extend(found),
                    Ok(Some((_, Err(e)))) => failed.push(ActionFailure::new(r, &e)),
                    Ok(None) => {}
                    Err(e) => failed.push(ActionFailure::new(r, e)),
                }
            }
            dedup(ids)
        } else {
            refs
        };
        let mut report = ActionReport {
            action,
            total: ids.len() + failed.len(),
            done: Vec::with_capacity(ids.len()),
            failed,
        };
        // One deadline for the whole call: a call that cannot be sent or
        // answered by then fails with why, and is reported.
        let until = crate::deadline::from_now(self.inner.retry.deadline());
        let calls: Vec<_> = ids
            .into_iter()
            .map(|id| {
                crate::deadline::within(until, async move {
                    let answer = self.lifecycle(&id, action).await;
                    (id, answer)
                })
            })
            .collect();
        let mut answers = std::pin::pin!(in_flight(calls, self.inner.concurrency));
        while let Some((id, answer)) = futures::StreamExt::next(&mut answers).await {
            match answer {
                Ok(cvm) => report.done.push(ActionDone { id, cvm }),
                Err(e) => report.failed.push(ActionFailure::new(id, &e)),
            }
        }
        report
    }
}

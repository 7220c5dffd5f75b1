//! One CVM's lifecycle: details, start, stop, shutdown, restart, delete.
//! Each call is a generated builder sent through the one retry loop; what
//! differs per call is only which failures may be replayed.

use serde::Serialize;

use crate::client::Replay;
use crate::cvm::CvmDetails;
use crate::raw::types::{RestartPost, Vm};
use crate::{Client, Error};

/// A per-CVM lifecycle call, as fleet reports name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
#[non_exhaustive]
pub enum Action {
    /// Power on a stopped CVM.
    Start,
    /// Stop at once (like pulling the power); cancels an operation in flight.
    Stop,
    /// Graceful shutdown (SIGTERM, then SIGKILL after a timeout).
    Shutdown,
    /// Stop, then start; `force` skips the graceful part.
    Restart {
        /// Skip the graceful shutdown.
        force: bool,
    },
    /// Stop and delete for good.
    Delete,
}

impl Action {
    /// The call's name: `start`, `stop`, `shutdown`, `restart`, `delete`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Shutdown => "shutdown",
            Action::Restart { .. } => "restart",
            Action::Delete => "delete",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Client {
    /// One CVM's details, in either shape the API version answers. `id` may
    /// be the hashed id, the VM UUID, `app_<app id>`, the instance id or the name.
    pub async fn cvm(&self, id: &str) -> Result<CvmDetails, Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().get_cvm().cvm_id(id);
        let answer = self
            .send("get_cvm", Replay::Idempotent, || request.clone().send())
            .await?;
        Ok(answer.into())
    }

    /// Powers on a stopped CVM; the answer shows it `starting`.
    pub async fn start(&self, id: &str) -> Result<Vm, Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().start_cvm().cvm_id(id);
        self.send("start", REPLAY, || request.clone().send()).await
    }

    /// Stops a CVM at once, cancelling any operation in flight.
    pub async fn stop(&self, id: &str) -> Result<Vm, Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().stop_cvm().cvm_id(id);
        self.send("stop", REPLAY, || request.clone().send()).await
    }

    /// Shuts a CVM down gracefully (slower than [`Client::stop`]).
    pub async fn shutdown(&self, id: &str) -> Result<Vm, Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().shutdown_cvm().cvm_id(id);
        self.send("shutdown", REPLAY, || request.clone().send()).await
    }

    /// Restarts a CVM; `force` skips the graceful shutdown.
    pub async fn restart(&self, id: &str, force: bool) -> Result<Vm, Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().restart_cvm().cvm_id(id).body(RestartPost { force });
        self.send("restart", REPLAY, || request.clone().send()).await
    }

    /// Stops and deletes a CVM for good (the API answers 204).
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        Self::check_id(id, "CVM id")?;
        let request = self.raw().remove_cvm().cvm_id(id);
        self.send("delete", REPLAY, || request.clone().send()).await
    }

    /// One lifecycle call by value, for fleet operations: the record the
    /// call answers with (none for delete).
    pub(crate) async fn lifecycle(&self, id: &str, action: Action) -> Result<Option<Vm>, Error> {
        match action {
            Action::Start => self.start(id).await.map(Some),
            Action::Stop => self.stop(id).await.map(Some),
            Action::Shutdown => self.shutdown(id).await.map(Some),
            Action::Restart { force } => self.restart(id, force).await.map(Some),
            Action::Delete => self.delete(id).await.map(|()| None),
        }
    }
}

/// Lifecycle calls are replayed only on answers that prove nothing was
/// applied (429, 503, a 409 without `error_code`, a connection never made),
/// honouring `Retry-After` within the policy's deadline, as Phala's Go SDK
/// does: a restart or delete sent twice would act twice, and a start or
/// shutdown resent after its first attempt was applied meets that very
/// operation and fails with a 409 that hides the success. A 409 with an
/// `error_code` (another operation in progress) comes back as an error for
/// which [`Error::is_operation_in_progress`] holds.
const REPLAY: Replay = Replay::IfNotApplied;

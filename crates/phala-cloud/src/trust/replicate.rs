//! Replicas: another CVM of the same app, running the compose the source
//! holds, checked on both ends: the source's compose is hashed here and
//! that hash is what the server is told to replicate, and the replica's
//! compose is read back and compared.

use crate::Client;
use crate::client::Replay;
use crate::compose::{ComposeHash, first_difference};
use crate::raw::types::{ReplicateRequest, Vm};
use crate::{Error, TrustError};

/// A replica and the compose it was checked to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Replicated {
    /// The replica's lifecycle record.
    pub cvm: Vm,
    /// The compose hash it runs, the source's.
    pub compose_hash: ComposeHash,
}

impl Client {
    /// Replicates CVM `id` onto `node_id` (the source's node when `None`),
    /// with the source's env. The replica is created even if the last
    /// check fails: the error names it.
    pub async fn replicate(&self, id: &str, node_id: Option<i64>) -> Result<Replicated, Error> {
        Self::check_id(id, "CVM id")?;
        let source = self.compose_of(id).await?;
        let hash = source.hash();
        let body = ReplicateRequest::builder()
            .node_id(node_id)
            .compose_hash(Some(hash.to_string()));
        let body = ReplicateRequest::try_from(body).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let call = self.raw().replicate_cvm().cvm_id(id).body(body);
        // Creates a CVM: sent again only when nothing can have been applied.
        let cvm = self
            .send("replicate", Replay::IfNotApplied, || call.clone().send())
            .await?;
        let replica = cvm.vm_uuid.clone().unwrap_or_else(|| cvm.id.to_text());
        let held = self.compose_of(&replica).await?;
        if let Some(field) = first_difference(source.as_map(), held.as_map()) {
            return Err(TrustError::ComposeChanged { cvm: replica, field }.into());
        }
        Ok(Replicated {
            cvm,
            compose_hash: hash,
        })
    }
}

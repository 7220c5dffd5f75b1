//! What a deploy can choose from (feature `discovery`): nodes with their
//! capacity, instance types, OS images and KMS instances. Listings that
//! the API pages come as streams; answers are the generated types.

use futures::Stream;

use crate::client::Replay;
use crate::paging::{PAGED_SIZE, paged};
use crate::raw::types;
use crate::{Client, Error};

/// A KMS as `GET /kms` lists it: a contract from API 2026-06-23 on, a
/// KMS instance before.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum KmsListed {
    /// API 2026-06-23 on: an on-chain KMS contract.
    Contract(types::KmsContract),
    /// Before: a KMS instance.
    Instance(types::KmsInfo),
}

impl Client {
    /// The nodes this workspace may deploy to, with their capacity, and
    /// the KMS instances they reach (`GET /teepods/available`).
    pub async fn available_nodes(&self) -> Result<types::AvailableNodes, Error> {
        let request = self.raw().get_available_nodes();
        self.send("get_available_nodes", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// Every instance type, grouped by family (`GET /instance-types`).
    pub async fn instance_families(&self) -> Result<Vec<types::FamilyGroup>, Error> {
        let request = self.raw().list_all_families();
        let answer = self
            .send("list_all_families", Replay::Idempotent, || request.clone().send())
            .await?;
        Ok(answer.result)
    }

    /// The instance types of one family, `cpu` or `gpu` for instance
    /// (`GET /instance-types/{family}`).
    pub async fn instance_types(&self, family: &str) -> Result<Vec<types::InstanceTypePublic>, Error> {
        Self::check_id(family, "instance family")?;
        let request = self.raw().list_family_instance_types().family(family);
        let answer = self
            .send("list_family_instance_types", Replay::Idempotent, || {
                request.clone().send()
            })
            .await?;
        Ok(answer.items)
    }

    /// Every OS image (`GET /os-images`, page after page).
    pub fn os_images(&self) -> impl Stream<Item = Result<types::OsImagePublic, Error>> + Send + '_ {
        paged(move |n| async move {
            let request = self.raw().list_os_images().page(n + 1).page_size(PAGED_SIZE);
            let page = self
                .send("list_os_images", Replay::Idempotent, || request.clone().send())
                .await?;
            Ok(page.items)
        })
    }

    /// Every KMS (`GET /kms`, page after page), in the shape this
    /// client's API version answers.
    pub fn kms_list(&self) -> impl Stream<Item = Result<KmsListed, Error>> + Send + '_ {
        paged(move |n| async move {
            let request = self.raw().list_kms().page(n + 1).page_size(PAGED_SIZE);
            let page = self
                .send("list_kms", Replay::Idempotent, || request.clone().send())
                .await?;
            Ok(match page {
                types::ListKmsResponse::ContractList(l) => l.items.into_iter().map(KmsListed::Contract).collect(),
                types::ListKmsResponse::ListResponse(l) => l.items.into_iter().map(KmsListed::Instance).collect(),
            })
        })
    }
}

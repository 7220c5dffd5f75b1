//! One CVM's settings and what it runs (feature `cvms`): its containers,
//! resources, visibility, OS image and attestation. Requests are the
//! generated types, sent through the generated builders.

use crate::client::Replay;
use crate::raw::types;
use crate::{Client, Error};

impl Client {
    /// The CVM's containers and compose as its agent reports them (`GET
    /// /cvms/{id}/composition`); each container names its log endpoint.
    pub async fn composition(&self, cvm: &str) -> Result<types::CvmComposition, Error> {
        Self::check_id(cvm, "CVM id")?;
        let request = self.raw().get_cvm_composition().cvm_id(cvm);
        self.send("get_cvm_composition", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// The CVM's attestation: TCB measurements, event log, app compose and
    /// certificates (`GET /cvms/{id}/attestation`). Check it with
    /// [`AttestationCheck::of`](crate::AttestationCheck::of).
    pub async fn attestation(&self, cvm: &str) -> Result<types::CvmAttestation, Error> {
        Self::check_id(cvm, "CVM id")?;
        let request = self.raw().get_cvm_attestation().cvm_id(cvm);
        self.send("get_cvm_attestation", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// The CVM's runtime configuration: hostname, the SSH keys injected at
    /// launch, the default gateway domain (`GET /cvms/{id}/user_config`).
    pub async fn runtime_config(&self, cvm: &str) -> Result<types::CvmUserConfig, Error> {
        Self::check_id(cvm, "CVM id")?;
        let request = self.raw().get_cvm_user_config().cvm_id(cvm);
        self.send("get_cvm_user_config", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// Changes vCPUs, memory (MB), disk (GB) or instance type (`PATCH
    /// /cvms/{id}/resources`); a running CVM restarts only with
    /// `allow_restart`. Retried only when nothing can have been applied.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// use phala_cloud::raw::types::CvmResourcesRequest;
    /// let bigger = CvmResourcesRequest {
    ///     vcpu: std::num::NonZeroU64::new(4),
    ///     allow_restart: Some(true),
    ///     ..Default::default()
    /// };
    /// client.resize("web-1", &bigger).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn resize(&self, cvm: &str, resources: &types::CvmResourcesRequest) -> Result<(), Error> {
        Self::check_id(cvm, "CVM id")?;
        if resources.vcpu.is_none()
            && resources.memory.is_none()
            && resources.disk_size.is_none()
            && resources.instance_type.is_none()
        {
            return Err(Error::InvalidInput(
                "nothing to resize: give vCPUs, memory, disk size or an instance type".into(),
            ));
        }
        let request = self.raw().update_cvm_resources().cvm_id(cvm).body(resources.clone());
        self.send("update_cvm_resources", Replay::IfNotApplied, || request.clone().send())
            .await
    }

    /// Sets who may read the CVM's logs, system info and TCB info
    /// (`PATCH /cvms/{id}/visibility`); the CVM as it is then.
    pub async fn set_visibility(
        &self,
        cvm: &str,
        visibility: &types::CvmVisibilityRequest,
    ) -> Result<types::UpdateCvmVisibilityResponse, Error> {
        Self::check_id(cvm, "CVM id")?;
        let request = self.raw().update_cvm_visibility().cvm_id(cvm).body(visibility.clone());
        self.send("update_cvm_visibility", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// The OS images this CVM can move to (`GET
    /// /cvms/{id}/available-os-images`).
    pub async fn available_os_images(&self, cvm: &str) -> Result<Vec<types::AvailableOsImage>, Error> {
        Self::check_id(cvm, "CVM id")?;
        let request = self.raw().get_available_os_images().cvm_id(cvm);
        self.send("get_available_os_images", Replay::Idempotent, || request.clone().send())
            .await
    }

    /// Moves the CVM to another OS image by name (`PATCH
    /// /cvms/{id}/os-image`); the service restarts it. Retried only when
    /// nothing can have been applied.
    pub async fn upgrade_os(&self, cvm: &str, image: &str) -> Result<serde_json::Value, Error> {
        Self::check_id(cvm, "CVM id")?;
        Self::check_id(image, "OS image name")?;
        let body = types::OsImagePatch {
            os_image_name: image.to_string(),
        };
        let request = self.raw().update_cvm_os_image().cvm_id(cvm).body(body);
        self.send("update_cvm_os_image", Replay::IfNotApplied, || request.clone().send())
            .await
    }
}

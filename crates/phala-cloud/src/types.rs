//! The generated types the facade's signatures and fields name, each with
//! its page here.
//!
//! They come from `phala-cloud-api` (document + overlay -> generated code)
//! unchanged: a field Phala adds reaches them by regeneration alone. The
//! most used are also at the crate root. Field descriptions come from the
//! document or, where it has none, from the overlay, which names its
//! evidence (Phala's SDKs' docstrings, the API notes). `cargo xtask
//! doc-check` fails when a public signature names a generated type that
//! has no page here.

#[cfg(feature = "webhooks")]
pub use phala_cloud_api::types::WebhookDeliveryResponse;
pub use phala_cloud_api::types::error::ConversionError;
pub use phala_cloud_api::types::{
    AppComposeV2, AppComposeV2StorageFs, AppRevisionResponse, BatchStopErrorEntry, BatchStopResponse, BillingPeriod,
    CancelOperationRequest, CvmBasicInfo, CvmGatewayInfo, CvmId, CvmInfo, CvmInfoDetail, CvmInfoDetailComposeFile,
    CvmInfoManifestVersion, CvmKmsInfo, CvmLogUrls, CvmNetworkUrls, CvmNode, CvmOperation, CvmOperationResponse,
    CvmProgressInfo, CvmRef, CvmResourceInfo, CvmState, CvmStatus, CvmosInfo, DeviceIdEntry, GetAppCvmsResponseItem,
    GetCvmResponse, GpuConfig, GpuSpec, GuestEvent, HostedCvm, InProgressResponse, KmsContract, KmsInfo, KmsType,
    KnownBillingPeriod, KnownKmsType, KnownStatus, KnownTeepodStatus, ListCvmsPaginatedFamily, ListCvmsResponseItem,
    ManagedUser, NodeRef, OperationEventDetail, PortMapping, ProvisionDstackAppRequestV2, ResourceUsage, Status,
    TeepodMeta, TeepodStatus, UserRef, Vm, VmConfiguration, VmInfo, WorkspaceRef,
};
#[cfg(feature = "discovery")]
pub use phala_cloud_api::types::{
    AvailableNodes, FamilyGroup, GpuAvailability, InstanceTypePublic, NodeKmsInfo, NodeOsImage, OsImagePublic,
    ResourceThreshold, TeepodCapacity,
};
#[cfg(feature = "cvms")]
pub use phala_cloud_api::types::{
    AvailableOsImage, Certificate, CertificateIssuer, CertificateSubject, CvmAttestation, CvmComposition,
    CvmCompositionContainersItem, CvmResourcesRequest, CvmUserConfig, CvmVisibilityRequest, EventLog, OsImageVariant,
    TcbInfo, UpdateCvmVisibilityResponse,
};
#[cfg(feature = "account")]
pub use phala_cloud_api::types::{
    CreditsInfo, CreditsInfoBalance, CreditsInfoGrantedBalance, CreditsInfoOutstandingAmount, CurrentUserV20251028,
    CurrentUserV20260121, GetCurrentUserResponse, UserInfo, WorkspaceInfo, WorkspaceQuotasResponse,
    WorkspaceQuotasResponseQuotas, WorkspaceQuotasResponseQuotasDiskGb, WorkspaceQuotasResponseQuotasMemoryMb,
    WorkspaceQuotasResponseQuotasVcpu, WorkspaceQuotasResponseQuotasVmSlots, WorkspaceQuotasResponseReservedGpu,
    WorkspaceQuotasResponseReservedGpuGpus, WorkspaceQuotasResponseReservedNodes, WorkspaceResponse,
};
pub use phala_cloud_api::versions::{ApiVersion, UnknownVersion, VERSIONS, VersionInfo};

/// Builders of the types above (`Vm::builder()`, ...), as generated.
pub mod builder {
    #[cfg(feature = "webhooks")]
    pub use phala_cloud_api::types::builder::WebhookDeliveryResponse;
    pub use phala_cloud_api::types::builder::{
        AppComposeV2, AppRevisionResponse, BatchStopErrorEntry, BatchStopResponse, CancelOperationRequest,
        CvmBasicInfo, CvmGatewayInfo, CvmInfo, CvmInfoDetail, CvmKmsInfo, CvmLogUrls, CvmNetworkUrls, CvmNode,
        CvmOperation, CvmOperationResponse, CvmProgressInfo, CvmRef, CvmResourceInfo, CvmState, CvmStatus, CvmosInfo,
        DeviceIdEntry, GpuConfig, GpuSpec, GuestEvent, HostedCvm, InProgressResponse, KmsContract, KmsInfo,
        ManagedUser, NodeRef, OperationEventDetail, PortMapping, ProvisionDstackAppRequestV2, ResourceUsage,
        TeepodMeta, UserRef, Vm, VmConfiguration, VmInfo, WorkspaceRef,
    };
    #[cfg(feature = "discovery")]
    pub use phala_cloud_api::types::builder::{
        AvailableNodes, FamilyGroup, GpuAvailability, InstanceTypePublic, NodeKmsInfo, NodeOsImage, OsImagePublic,
        ResourceThreshold, TeepodCapacity,
    };
    #[cfg(feature = "cvms")]
    pub use phala_cloud_api::types::builder::{
        AvailableOsImage, Certificate, CertificateIssuer, CertificateSubject, CvmAttestation, CvmComposition,
        CvmCompositionContainersItem, CvmResourcesRequest, CvmUserConfig, CvmVisibilityRequest, EventLog,
        OsImageVariant, TcbInfo,
    };
    #[cfg(feature = "account")]
    pub use phala_cloud_api::types::builder::{
        CreditsInfo, CurrentUserV20251028, CurrentUserV20260121, UserInfo, WorkspaceInfo, WorkspaceQuotasResponse,
        WorkspaceQuotasResponseQuotas, WorkspaceQuotasResponseQuotasDiskGb, WorkspaceQuotasResponseQuotasMemoryMb,
        WorkspaceQuotasResponseQuotasVcpu, WorkspaceQuotasResponseQuotasVmSlots, WorkspaceQuotasResponseReservedGpu,
        WorkspaceQuotasResponseReservedGpuGpus, WorkspaceQuotasResponseReservedNodes, WorkspaceResponse,
    };
}

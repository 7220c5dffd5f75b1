//! The operations whose request is a `multipart/form-data` upload, which
//! progenitor does not encode (the normaliser sets them aside, see
//! `x-normalise-dropped`): typed builders in the generated style, the form
//! encoded by reqwest, sent through the same hooks as every generated call
//! (headers, timeout, body cap, tracing), answers decoded into the
//! generated types.
//!
//! ```no_run
//! # async fn run(client: phala_cloud_api::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use phala_cloud_api::Upload;
//! let accepted = client
//!     .update_cvm_docker_compose()
//!     .cvm_id("app_0a1b")
//!     .file(Upload::new("docker-compose.yml", std::fs::read("docker-compose.yml")?))
//!     .send()
//!     .await?;
//! println!("{}", accepted.into_inner());
//! # Ok(())
//! # }
//! ```

// With neither group enabled only `Upload` and the (empty) table remain.
#![cfg_attr(not(any(feature = "cvms", feature = "attestations")), allow(unused))]

#[cfg(feature = "cvms")]
use progenitor_client::encode_path;
use progenitor_client::{ClientHooks, Error, OperationInfo, ResponseValue};
use reqwest::multipart::{Form, Part};

#[allow(unused_imports)]
use crate::{types, Client, Operation};

/// A file in a multipart form: the name the server sees and its bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Upload {
    file_name: String,
    bytes: Vec<u8>,
}

impl Upload {
    /// A file named `file_name` holding `bytes`.
    pub fn new(file_name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            file_name: file_name.into(),
            bytes: bytes.into(),
        }
    }

    fn part(self) -> Part {
        Part::bytes(self.bytes).file_name(self.file_name)
    }
}

// The contents may be a secret script: only the name and size are shown.
impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("file_name", &self.file_name)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The operations of this module, as [`crate::OPERATIONS`] lists the
/// generated ones (which depend on the enabled features too).
pub const MULTIPART_OPERATIONS: &[Operation] = &[
    #[cfg(feature = "cvms")]
    Operation {
        method: "PATCH",
        path: "/api/v1/cvms/{cvm_id}/docker-compose",
        name: "update_cvm_docker_compose",
        group: "cvms",
    },
    #[cfg(feature = "cvms")]
    Operation {
        method: "PATCH",
        path: "/api/v1/cvms/{cvm_id}/pre-launch-script",
        name: "update_cvm_pre_launch_script",
        group: "cvms",
    },
    #[cfg(feature = "attestations")]
    Operation {
        method: "POST",
        path: "/api/v1/attestations/verify",
        name: "upload_and_verify",
        group: "attestations",
    },
];

/// Sends a built request through the client's hooks and decodes the answer:
/// `ok` is the success status, 422 the document's validation error.
async fn send<T: serde::de::DeserializeOwned>(
    client: &Client,
    request: reqwest::RequestBuilder,
    operation_id: &'static str,
    ok: u16,
) -> Result<ResponseValue<T>, Error<types::HttpValidationError>> {
    let mut request = request.header(reqwest::header::ACCEPT, "application/json").build()?;
    let info = OperationInfo { operation_id };
    client.pre(&mut request, &info).await?;
    let result = client.exec(request, &info).await;
    client.post(&result, &info).await?;
    let response = result?;
    match response.status().as_u16() {
        status if status == ok => ResponseValue::from_response(response).await,
        422 => Err(Error::ErrorResponse(ResponseValue::from_response(response).await?)),
        _ => Err(Error::UnexpectedResponse(response)),
    }
}

/// A compose or pre-launch script upload: the CVM, the file and, for an
/// on-chain KMS app's second phase, the compose hash and transaction hash.
#[cfg(feature = "cvms")]
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until sent"]
pub struct CvmFileUpload<'a> {
    client: &'a Client,
    operation: &'static str,
    suffix: &'static str,
    cvm_id: Option<String>,
    file: Option<Upload>,
    compose_hash: Option<String>,
    transaction_hash: Option<String>,
}

#[cfg(feature = "cvms")]
impl<'a> CvmFileUpload<'a> {
    fn new(client: &'a Client, operation: &'static str, suffix: &'static str) -> Self {
        Self {
            client,
            operation,
            suffix,
            cvm_id: None,
            file: None,
            compose_hash: None,
            transaction_hash: None,
        }
    }

    /// The CVM (id, UUID or name, as for every CVM operation).
    pub fn cvm_id(mut self, cvm_id: impl Into<String>) -> Self {
        self.cvm_id = Some(cvm_id.into());
        self
    }

    /// The file to upload.
    pub fn file(mut self, file: Upload) -> Self {
        self.file = Some(file);
        self
    }

    /// `X-Compose-Hash`: the compose hash the first phase answered.
    pub fn compose_hash(mut self, hash: impl Into<String>) -> Self {
        self.compose_hash = Some(hash.into());
        self
    }

    /// `X-Transaction-Hash`: the on-chain transaction that registered it.
    pub fn transaction_hash(mut self, hash: impl Into<String>) -> Self {
        self.transaction_hash = Some(hash.into());
        self
    }

    /// Sends the upload; the service answers 202 with the operation it started.
    pub async fn send(self) -> Result<ResponseValue<serde_json::Value>, Error<types::HttpValidationError>> {
        let cvm_id = self
            .cvm_id
            .ok_or_else(|| Error::InvalidRequest("cvm_id was not initialized".into()))?;
        let mut form = Form::new();
        if let Some(file) = self.file {
            form = form.part("file", file.part());
        }
        let url = format!(
            "{}/api/v1/cvms/{}/{}",
            self.client.baseurl,
            encode_path(&cvm_id),
            self.suffix
        );
        let mut request = self.client.client.patch(url).multipart(form);
        for (name, value) in [
            ("X-Compose-Hash", self.compose_hash),
            ("X-Transaction-Hash", self.transaction_hash),
        ] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        send(self.client, request, self.operation, 202).await
    }
}

/// An attestation quote to verify: uploaded as a file, or given as hex.
#[cfg(feature = "attestations")]
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until sent"]
pub struct UploadAndVerify<'a> {
    client: &'a Client,
    file: Option<Upload>,
    hex: Option<String>,
}

#[cfg(feature = "attestations")]
impl UploadAndVerify<'_> {
    /// The quote as a file.
    pub fn file(mut self, file: Upload) -> Self {
        self.file = Some(file);
        self
    }

    /// The quote as a hex string.
    pub fn hex(mut self, hex: impl Into<String>) -> Self {
        self.hex = Some(hex.into());
        self
    }

    /// Sends the quote; the answer is the service's verdict.
    pub async fn send(self) -> Result<ResponseValue<types::VerificationResponse>, Error<types::HttpValidationError>> {
        let mut form = Form::new();
        if let Some(file) = self.file {
            form = form.part("file", file.part());
        }
        if let Some(hex) = self.hex {
            form = form.text("hex", hex);
        }
        let url = format!("{}/api/v1/attestations/verify", self.client.baseurl);
        let request = self.client.client.post(url).multipart(form);
        send(self.client, request, "upload_and_verify", 200).await
    }
}

impl Client {
    /// Replaces a CVM's docker-compose file (`PATCH /api/v1/cvms/{cvm_id}/docker-compose`, multipart).
    #[cfg(feature = "cvms")]
    pub fn update_cvm_docker_compose(&self) -> CvmFileUpload<'_> {
        CvmFileUpload::new(self, "update_cvm_docker_compose", "docker-compose")
    }

    /// Replaces a CVM's pre-launch script (`PATCH /api/v1/cvms/{cvm_id}/pre-launch-script`, multipart).
    #[cfg(feature = "cvms")]
    pub fn update_cvm_pre_launch_script(&self) -> CvmFileUpload<'_> {
        CvmFileUpload::new(self, "update_cvm_pre_launch_script", "pre-launch-script")
    }

    /// Verifies an attestation quote (`POST /api/v1/attestations/verify`, multipart).
    #[cfg(feature = "attestations")]
    pub fn upload_and_verify(&self) -> UploadAndVerify<'_> {
        UploadAndVerify {
            client: self,
            file: None,
            hex: None,
        }
    }
}

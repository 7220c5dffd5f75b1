//! What a TEE user checks rather than trusts: compose hashes, env keys and
//! their KMS signatures, env sealing, deploy, update and replicate with
//! their checks, attestation consistency.

#[cfg(feature = "cvms")]
pub(crate) mod attestation_check;

pub(crate) mod compose;
pub(crate) mod deploy;
pub(crate) mod env_seal;
pub(crate) mod kms_key;
pub(crate) mod replicate;
pub(crate) mod update;

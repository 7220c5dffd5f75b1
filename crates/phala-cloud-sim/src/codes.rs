//! The service's error codes the simulator answers with, named and numbered
//! as Phala's own list has them (PyPI phala-cloud 0.2.0,
//! `phala_cloud/error_codes.py`), so a client matching an official code
//! matches the simulator's. Codes that list lacks (the simulator's SSH key,
//! quote and webhook errors, its resize and log checks) keep numbers of
//! their own outside it.

pub(crate) const NODE_NOT_FOUND: &str = "ERR-01-001";
pub(crate) const INVALID_COMPOSE_FILE: &str = "ERR-01-003";
pub(crate) const HASH_REGISTRATION_REQUIRED: &str = "ERR-01-005";
pub(crate) const HASH_INVALID_OR_EXPIRED: &str = "ERR-01-006";
pub(crate) const INSTANCE_TYPE_NOT_FOUND: &str = "ERR-02-001";
pub(crate) const INSUFFICIENT_GPU: &str = "ERR-02-007";
pub(crate) const INVALID_REQUEST: &str = "ERR-02-008";
pub(crate) const KMS_NOT_FOUND: &str = "ERR-02-011";
pub(crate) const OS_IMAGE_NOT_COMPATIBLE: &str = "ERR-02-013";
pub(crate) const CVM_APP_ID_CONFLICT: &str = "ERR-03-007";
pub(crate) const PERMISSION_DENIED: &str = "ERR-06-006";

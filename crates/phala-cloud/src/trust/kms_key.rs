//! The KMS's signature on an app's env-encryption key, checked before any
//! secret is sealed to it: a key the KMS did not sign could be anyone's.
//! dstack signs `keccak256("dstack-env-encrypt-pubkey" ":" app_id
//! [timestamp as 8 bytes big endian] public_key)` with secp256k1 (65 bytes
//! `r || s || recovery id`); the signer is recovered and compared.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};
use sha3::{Digest, Keccak256};

use crate::env_seal::EnvEncryptKey;
use crate::{Error, TrustError};

/// How old a timestamped signature may be (as dstack's reference check).
pub const MAX_KEY_AGE: Duration = Duration::from_secs(300);
/// How far in the future a timestamp may be (clock skew).
pub const MAX_KEY_SKEW: Duration = Duration::from_secs(60);

/// A KMS signer: a secp256k1 public key, kept compressed (33 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KmsSigner([u8; 33]);

impl KmsSigner {
    fn from_key(key: &VerifyingKey) -> Self {
        let point = key.to_encoded_point(true);
        let mut bytes = [0u8; 33];
        bytes.copy_from_slice(point.as_bytes());
        Self(bytes)
    }
}

impl FromStr for KmsSigner {
    type Err = Error;

    /// Hex (`0x` optional) of a compressed (33 bytes) or uncompressed
    /// (65 bytes) SEC1 public key, as KMS info's `k256_pubkey`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let bytes = hex::decode(s.strip_prefix("0x").unwrap_or(s))
            .map_err(|e| Error::InvalidInput(format!("a KMS signer is a hex secp256k1 public key: {e}")))?;
        let key = VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| {
            Error::InvalidInput(format!(
                "a KMS signer is a secp256k1 public key (33 or 65 bytes), not these {} bytes",
                bytes.len()
            ))
        })?;
        Ok(Self::from_key(&key))
    }
}

impl fmt::Display for KmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for KmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KmsSigner({self})")
    }
}

/// An env-encryption key that may be sealed to: its signature checked
/// against an expected signer, or trusted by the caller's explicit choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEnvKey {
    key: EnvEncryptKey,
    signer: Option<KmsSigner>,
    timestamp: Option<u64>,
}

impl VerifiedEnvKey {
    /// Skips verification: for a key obtained out of band that the caller
    /// vouches for. The one way to seal to a key nobody checked.
    pub fn trust_unverified(key: EnvEncryptKey) -> Self {
        Self {
            key,
            signer: None,
            timestamp: None,
        }
    }

    /// The key.
    pub fn key(&self) -> &EnvEncryptKey {
        &self.key
    }

    /// Who signed it; `None` when trusted unverified.
    pub fn signer(&self) -> Option<&KmsSigner> {
        self.signer.as_ref()
    }

    /// The signature's timestamp (Unix seconds); `None` for a legacy
    /// signature without one (replayable) or an unverified key.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
}

/// Recovers who signed `public_key` for `app_id` (40 hex digits, `0x`
/// optional), with the signature's `timestamp` when the KMS gave one.
pub fn recover_env_key_signer(
    app_id: &str,
    public_key: &EnvEncryptKey,
    signature: &str,
    timestamp: Option<u64>,
) -> Result<KmsSigner, Error> {
    let app = hex::decode(app_id.trim().strip_prefix("0x").unwrap_or(app_id.trim()))
        .map_err(|e| Error::InvalidInput(format!("an app id is hex: {e}")))?;
    let sig = signature.trim();
    let sig = hex::decode(sig.strip_prefix("0x").unwrap_or(sig))
        .map_err(|e| TrustError::BadSignature(format!("not hex: {e}")))?;
    if sig.len() != 65 {
        return Err(TrustError::BadSignature(format!("{} bytes, not 65 (r || s || v)", sig.len())).into());
    }
    // Ethereum-style signers write v as 27/28.
    let v = if sig[64] >= 27 { sig[64] - 27 } else { sig[64] };
    let recovery = RecoveryId::from_byte(v)
        .ok_or_else(|| TrustError::BadSignature(format!("recovery id {} is not 0-3", sig[64])))?;
    let rs = Signature::from_slice(&sig[..64]).map_err(|_| TrustError::BadSignature("r or s out of range".into()))?;
    let mut hasher = Keccak256::new();
    hasher.update(b"dstack-env-encrypt-pubkey:");
    hasher.update(&app);
    if let Some(ts) = timestamp {
        hasher.update(ts.to_be_bytes());
    }
    hasher.update(public_key.0);
    let digest = hasher.finalize();
    let key = VerifyingKey::recover_from_prehash(&digest, &rs, recovery)
        .map_err(|_| TrustError::BadSignature("no signer recovers from it".into()))?;
    Ok(KmsSigner::from_key(&key))
}

/// Checks that `expected` signed `public_key` for `app_id`, and that a
/// timestamped signature is neither older than [`MAX_KEY_AGE`] nor more
/// than [`MAX_KEY_SKEW`] ahead of `now`. A legacy signature (no timestamp)
/// is accepted, but [`VerifiedEnvKey::timestamp`] says it is replayable.
pub fn verify_env_key(
    app_id: &str,
    public_key: &EnvEncryptKey,
    signature: &str,
    timestamp: Option<u64>,
    expected: &KmsSigner,
    now: SystemTime,
) -> Result<VerifiedEnvKey, Error> {
    if let Some(ts) = timestamp {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if ts > now + MAX_KEY_SKEW.as_secs() {
            return Err(TrustError::FutureKey { ahead_secs: ts - now }.into());
        }
        if now.saturating_sub(ts) > MAX_KEY_AGE.as_secs() {
            return Err(TrustError::StaleKey {
                age_secs: now - ts,
                max_secs: MAX_KEY_AGE.as_secs(),
            }
            .into());
        }
    }
    let signer = recover_env_key_signer(app_id, public_key, signature, timestamp)?;
    if signer != *expected {
        return Err(TrustError::SignerMismatch {
            expected: expected.to_string(),
            recovered: signer.to_string(),
        }
        .into());
    }
    Ok(VerifiedEnvKey {
        key: *public_key,
        signer: Some(signer),
        timestamp,
    })
}

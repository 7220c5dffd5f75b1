//! Env values sealed to a CVM on the client: only the app's TEE holds the
//! private key, so neither Phala nor anything between sees the values.
//! The format is dstack's (`encrypt_env_vars`): X25519 with a fresh
//! ephemeral key, the shared secret as the AES-256-GCM key, a random
//! 12-byte nonce, hex of `ephemeral public key || nonce || ciphertext+tag`.

use std::fmt;
use std::str::FromStr;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use serde::Serialize;
use x25519_dalek::{EphemeralSecret, PublicKey};
use zeroize::Zeroizing;

use crate::Error;
use crate::kms_key::VerifiedEnvKey;

/// Env variables to seal: names in clear (they go beside the ciphertext as
/// `env_keys`), values never printed by `Debug` and wiped on drop.
#[derive(Default, Clone)]
pub struct EnvVars {
    vars: Vec<(String, Zeroizing<String>)>,
}

impl EnvVars {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// A dotenv file as the official SDKs read it: `KEY=VALUE` lines, the
    /// value split at the first `=`, key and value trimmed, blank lines and
    /// `#` comments skipped. Unlike them, a line without `=`, an empty key
    /// or a key given twice is an error naming the line, not skipped or
    /// overwritten: a secret that silently goes missing is worse.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut vars = Self::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(Error::InvalidInput(format!(
                    "env line {}: no `=` (expected KEY=VALUE)",
                    n + 1
                )));
            };
            vars.insert(key.trim(), value.trim())
                .map_err(|e| Error::InvalidInput(format!("env line {}: {}", n + 1, bare(e))))?;
        }
        Ok(vars)
    }

    /// Adds one variable; an empty key or one already present is refused.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) -> Result<(), Error> {
        let key = key.into();
        let value = Zeroizing::new(value.into());
        if key.is_empty() {
            return Err(Error::InvalidInput("an env key is empty".into()));
        }
        if self.vars.iter().any(|(k, _)| *k == key) {
            return Err(Error::InvalidInput(format!("env key {key} is given twice")));
        }
        self.vars.push((key, value));
        Ok(())
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.vars.iter().map(|(k, _)| k.as_str())
    }

    /// Refuses a key the compose's `allowed_envs` does not list: the CVM
    /// would refuse it.
    pub fn check_allowed(&self, allowed: &[String]) -> Result<(), Error> {
        match self.keys().find(|k| !allowed.iter().any(|a| a == k)) {
            None => Ok(()),
            Some(key) => Err(Error::InvalidInput(format!(
                "env key {key} is not in the compose's allowed_envs, so the CVM would refuse it"
            ))),
        }
    }

    /// How many variables.
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// No variables.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Seals the variables to a verified env-encryption key: hex of
    /// `ephemeral public key (32) || nonce (12) || ciphertext with tag`.
    /// The plaintext `{"env":[{"key":..,"value":..}]}` is built in a buffer
    /// sized once and wiped before it is freed.
    pub fn seal(&self, to: &VerifiedEnvKey) -> Result<String, Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            key: &'a str,
            value: &'a str,
        }
        #[derive(Serialize)]
        struct Plain<'a> {
            env: Vec<Entry<'a>>,
        }
        let plain = Plain {
            env: self.vars.iter().map(|(k, v)| Entry { key: k, value: v }).collect(),
        };
        // Escaping at most sixfolds a character; sized once, never moved.
        let bound = 16
            + self
                .vars
                .iter()
                .map(|(k, v)| 6 * (k.len() + v.len()) + 24)
                .sum::<usize>();
        let mut plaintext = Zeroizing::new(Vec::with_capacity(bound));
        serde_json::to_writer(&mut *plaintext, &plain).map_err(|e| Error::InvalidInput(e.to_string()))?;

        let ephemeral = EphemeralSecret::random_from_rng(OsRng);
        let ephemeral_public = PublicKey::from(&ephemeral);
        let shared = ephemeral.diffie_hellman(&PublicKey::from(to.key().0));
        if !shared.was_contributory() {
            // A low-order "public key" makes the shared secret known to all.
            return Err(Error::InvalidInput(
                "the env-encryption public key is a low-order point; refusing to seal to it".into(),
            ));
        }
        let cipher = Aes256Gcm::new_from_slice(shared.as_bytes())
            .map_err(|_| Error::InvalidInput("the shared secret is not an AES-256 key".into()))?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(&nonce, plaintext.as_slice())
            .map_err(|_| Error::InvalidInput("the env is too large to seal".into()))?;
        let mut out = Vec::with_capacity(32 + nonce.len() + sealed.len());
        out.extend_from_slice(ephemeral_public.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(hex::encode(out))
    }
}

/// The message of an `InvalidInput`, to prefix it with where it came from.
fn bare(e: Error) -> String {
    match e {
        Error::InvalidInput(m) => m,
        other => other.to_string(),
    }
}

impl fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvVars")
            .field("keys", &self.keys().collect::<Vec<_>>())
            .field("values", &"[redacted]")
            .finish()
    }
}

/// An X25519 public key an app's env is sealed to, as the KMS hands it out
/// (32 bytes; hex, `0x` optional). Not trusted until verified
/// ([`crate::verify_env_key`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EnvEncryptKey(
    /// The X25519 public key.
    pub [u8; 32],
);

impl FromStr for EnvEncryptKey {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s.trim().strip_prefix("0x").unwrap_or(s.trim()), &mut bytes).map_err(|e| {
            Error::InvalidInput(format!(
                "an env-encryption public key is 32 bytes of hex (64 digits): {e}"
            ))
        })?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for EnvEncryptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EnvEncryptKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvEncryptKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_lines_parse_like_the_sdks_and_bad_ones_are_named() {
        let vars = EnvVars::parse("# c\n\nA=1\n B = x=y \nEMPTY=\n").unwrap();
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["A", "B", "EMPTY"]);
        assert_eq!(vars.vars[1].1.as_str(), "x=y");
        let err = |t: &str| EnvVars::parse(t).unwrap_err().to_string();
        assert_eq!(
            err("A=1\nB\n"),
            "invalid input: env line 2: no `=` (expected KEY=VALUE)"
        );
        assert_eq!(err("A=1\nA=2\n"), "invalid input: env line 2: env key A is given twice");
        assert_eq!(err("=v\n"), "invalid input: env line 1: an env key is empty");
    }

    #[test]
    fn values_never_print() {
        let vars = EnvVars::parse("TOKEN=hunter2-SECRET").unwrap();
        let shown = format!("{vars:?}");
        assert!(shown.contains("TOKEN") && !shown.contains("hunter2"), "{shown}");
        let err = EnvVars::parse("TOKEN=hunter2-SECRET\nTOKEN=hunter3").unwrap_err();
        assert!(!err.to_string().contains("hunter"));
    }

    #[test]
    fn keys_that_are_not_32_bytes_of_hex_are_refused() {
        assert!("ab".parse::<EnvEncryptKey>().is_err());
        assert!("zz".repeat(32).parse::<EnvEncryptKey>().is_err());
        assert!(format!("0x{}", "ab".repeat(32)).parse::<EnvEncryptKey>().is_ok());
    }
}

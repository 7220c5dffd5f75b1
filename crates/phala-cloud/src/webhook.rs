//! Webhook deliveries verified before they are parsed: Phala signs each
//! with HMAC-SHA256 over `"{timestamp}.{raw body}"`, keyed with the
//! webhook's secret (`X-Webhook-Signature: sha256=<hex>`,
//! `X-Webhook-Timestamp`: Unix seconds). A delivery that is not signed by
//! the secret, or is too old or too new, never becomes an event.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::secret::Secret;

/// How far a delivery's timestamp may be from now, either way (as the
/// Python SDK's default).
pub const WEBHOOK_TOLERANCE: Duration = Duration::from_secs(300);

/// A verified webhook event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookEvent {
    /// Event id (unique per delivery attempt series; deduplicate on it).
    pub id: String,
    /// Event type, e.g. `cvm.status.changed`.
    pub event: String,
    /// Envelope version (`"1"` when absent).
    #[serde(default = "version_one")]
    pub version: String,
    /// When the event happened (ISO 8601).
    pub created_at: String,
    /// The workspace it concerns.
    pub workspace: Map<String, Value>,
    /// The event's payload, by event type.
    pub data: Value,
    /// Fields a newer service adds.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn version_one() -> String {
    "1".into()
}

/// Why a delivery was refused. Never carries the secret or the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is absent or not text.
    #[error("missing webhook header {0}")]
    MissingHeader(&'static str),
    /// `X-Webhook-Timestamp` is not Unix seconds.
    #[error("X-Webhook-Timestamp is not Unix seconds")]
    BadTimestamp,
    /// The timestamp is older than the tolerance (a replay, or a slow queue).
    #[error("webhook timestamp is {age_secs} s old (at most {tolerance_secs} s accepted)")]
    Stale {
        /// Its age.
        age_secs: u64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    /// The timestamp is further in the future than the tolerance.
    #[error("webhook timestamp is {ahead_secs} s in the future (at most {tolerance_secs} s accepted)")]
    Future {
        /// How far ahead.
        ahead_secs: u64,
        /// The tolerance.
        tolerance_secs: u64,
    },
    /// `X-Webhook-Signature` is not `sha256=<64 hex digits>`.
    #[error("X-Webhook-Signature is not sha256=<hex>")]
    BadSignatureFormat,
    /// The signature is not the secret's over this timestamp and body.
    #[error("webhook signature does not match: not signed with this secret, or the body or timestamp changed")]
    SignatureMismatch,
    /// Signed, but not an event envelope.
    #[error("webhook body is not an event envelope: {0}")]
    Body(String),
}

/// Verifies deliveries for one webhook secret.
///
/// ```
/// use phala_cloud::WebhookVerifier;
///
/// let verifier = WebhookVerifier::new("whsec_...");
/// // In a handler: verifier.parse_request(&headers, &body)?
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct WebhookVerifier {
    secret: Secret,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secret", &self.secret)
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for the webhook secret (`whsec_...`), tolerance 300 s.
    pub fn new(secret: impl Into<Secret>) -> Self {
        Self {
            secret: secret.into(),
            tolerance: WEBHOOK_TOLERANCE,
        }
    }

    /// How far a timestamp may be from now, either way.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies and parses a delivery from its HTTP headers and raw body.
    pub fn parse_request(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookEvent, WebhookError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(WebhookError::MissingHeader(name))
        };
        self.parse_at(
            header("X-Webhook-Timestamp")?,
            header("X-Webhook-Signature")?,
            body,
            SystemTime::now(),
        )
    }

    /// Verifies the delivery (at `now`), then parses its envelope.
    pub fn parse_at(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<WebhookEvent, WebhookError> {
        self.verify_at(timestamp, signature, body, now)?;
        serde_json::from_slice(body).map_err(|e| WebhookError::Body(e.to_string()))
    }

    /// Checks the timestamp against `now` and the signature over
    /// `"{timestamp}.{body}"`, in constant time.
    pub fn verify_at(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), WebhookError> {
        let ts: u64 = timestamp.trim().parse().map_err(|_| WebhookError::BadTimestamp)?;
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let tolerance_secs = self.tolerance.as_secs();
        if ts > now.saturating_add(tolerance_secs) {
            return Err(WebhookError::Future {
                ahead_secs: ts - now,
                tolerance_secs,
            });
        }
        if now.saturating_sub(ts) > tolerance_secs {
            return Err(WebhookError::Stale {
                age_secs: now - ts,
                tolerance_secs,
            });
        }
        let hex_sig = signature
            .trim()
            .strip_prefix("sha256=")
            .ok_or(WebhookError::BadSignatureFormat)?;
        let mut expected = [0u8; 32];
        hex::decode_to_slice(hex_sig, &mut expected).map_err(|_| WebhookError::BadSignatureFormat)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .map_err(|_| WebhookError::SignatureMismatch)?;
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.verify_slice(&expected).map_err(|_| WebhookError::SignatureMismatch)
    }
}

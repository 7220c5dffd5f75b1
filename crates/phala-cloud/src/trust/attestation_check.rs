//! What an attestation answer proves about itself, checked here rather
//! than taken on trust: each RTMR3 event's digest is recomputed from its
//! name and payload, the event log replays to the RTMR3 reported, the
//! `compose-hash` event names the SHA-256 of the app compose shown beside
//! it, and the `app-id` event names the app asked about.
//!
//! This checks the answer's consistency, not the TDX quote's signature:
//! the quote (in the certificates) must still be verified against Intel's
//! collateral (for instance with dstack's verifier) to know the RTMR3 is
//! the hardware's.

use sha2::{Digest, Sha256, Sha384};

use crate::raw::types;

/// The event type dstack records its runtime (RTMR3) events under.
pub const DSTACK_RUNTIME_EVENT: i64 = 0x0800_0001;

/// The outcome of checking one attestation answer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AttestationCheck {
    /// RTMR3 as reported.
    pub rtmr3: String,
    /// RTMR3 replayed here from the event log.
    pub replayed_rtmr3: String,
    /// The compose hash the event log records.
    pub attested_compose_hash: Option<String>,
    /// SHA-256 of the app compose the answer shows.
    pub shown_compose_hash: Option<String>,
    /// The app id the event log records.
    pub attested_app_id: Option<String>,
    /// Every way the answer contradicts itself (empty when it holds).
    pub problems: Vec<String>,
}

impl AttestationCheck {
    /// Checks `attestation`; `app_id`, when given (hex, with or without
    /// `app_`), must be the one the event log records.
    pub fn of(attestation: &types::CvmAttestation, app_id: Option<&str>) -> Self {
        let mut problems = Vec::new();
        let Some(tcb) = &attestation.tcb_info else {
            return Self {
                rtmr3: String::new(),
                replayed_rtmr3: String::new(),
                attested_compose_hash: None,
                shown_compose_hash: None,
                attested_app_id: None,
                problems: vec!["the answer carries no TCB info (an offline or private CVM?)".into()],
            };
        };
        let mut register = [0u8; 48];
        let (mut compose, mut app) = (None, None);
        for (i, e) in tcb.event_log.iter().filter(|e| e.imr == 3).enumerate() {
            let Ok(digest) = hex::decode(&e.digest) else {
                problems.push(format!("RTMR3 event {i} ({}): digest is not hex", e.event));
                continue;
            };
            if e.event_type == DSTACK_RUNTIME_EVENT {
                match hex::decode(&e.event_payload) {
                    Ok(payload) if event_digest(e.event_type, &e.event, &payload).as_slice() == digest => {}
                    Ok(_) => problems.push(format!(
                        "RTMR3 event {i} ({}): its digest is not that of its name and payload",
                        e.event
                    )),
                    Err(_) => problems.push(format!("RTMR3 event {i} ({}): payload is not hex", e.event)),
                }
                match e.event.as_str() {
                    "compose-hash" => compose = Some(e.event_payload.to_ascii_lowercase()),
                    "app-id" => app = Some(e.event_payload.to_ascii_lowercase()),
                    _ => {}
                }
            }
            // A digest shorter than the register is zero-padded, as
            // dstack-sdk's `replay_rtmr` does.
            let mut content = digest;
            if content.len() < 48 {
                content.resize(48, 0);
            }
            let mut h = Sha384::new();
            h.update(register);
            h.update(&content);
            register = h.finalize().into();
        }
        let replayed = hex::encode(register);
        if !replayed.eq_ignore_ascii_case(&tcb.rtmr3) {
            problems.push("the event log does not replay to the RTMR3 reported".into());
        }
        let shown = (!tcb.app_compose.is_empty()).then(|| hex::encode(Sha256::digest(tcb.app_compose.as_bytes())));
        match (&compose, &shown) {
            (Some(a), Some(s)) if a != s => problems.push(format!(
                "the app compose shown hashes to {s}, the event log records {a}"
            )),
            (None, _) => problems.push("the event log records no compose-hash event".into()),
            _ => {}
        }
        if let Some(want) = app_id {
            let want = want.strip_prefix("app_").unwrap_or(want).to_ascii_lowercase();
            if app.as_deref() != Some(want.as_str()) {
                problems.push(format!(
                    "the event log records app id {}, not {want}",
                    app.as_deref().unwrap_or("none")
                ));
            }
        }
        Self {
            rtmr3: tcb.rtmr3.to_ascii_lowercase(),
            replayed_rtmr3: replayed,
            attested_compose_hash: compose,
            shown_compose_hash: shown,
            attested_app_id: app,
            problems,
        }
    }

    /// True when the answer is consistent with itself.
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }
}

/// dstack's runtime event digest: SHA-384 of the event type (4 bytes,
/// little endian), `:`, the name, `:`, the payload.
fn event_digest(event_type: i64, event: &str, payload: &[u8]) -> [u8; 48] {
    let mut h = Sha384::new();
    h.update((event_type as u32).to_le_bytes());
    h.update(b":");
    h.update(event.as_bytes());
    h.update(b":");
    h.update(payload);
    h.finalize().into()
}

//! Webhook verification against signatures computed outside our code:
//! `printf '%s' "1790000000.$BODY" | openssl dgst -sha256 -hmac whsec_test_secret`
//! (and Python's hmac module, which agrees).

use std::time::{Duration, UNIX_EPOCH};

use phala_cloud::{WebhookError, WebhookVerifier};
use reqwest::header::{HeaderMap, HeaderValue};

const SECRET: &str = "whsec_test_secret";
const TS: &str = "1790000000";
const BODY: &str = r#"{"id":"evt_01J","event":"cvm.status.changed","version":"1","created_at":"2026-09-21T12:00:00Z","workspace":{"id":"wks_abc","name":"main-team"},"data":{"cvm_id":"cvm_abc","status":"running"}}"#;
/// openssl dgst -sha256 -hmac whsec_test_secret of "1790000000." + BODY.
const SIGNATURE: &str = "sha256=e7939cae773fd5e23f7a881ae3841cdde27c1eff919a5831504b5ea19425fbbb";

fn at(secs: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

#[test]
fn a_signed_delivery_parses_into_the_envelope() {
    let v = WebhookVerifier::new(SECRET);
    let event = v.parse_at(TS, SIGNATURE, BODY.as_bytes(), at(1_790_000_010)).unwrap();
    assert_eq!(
        (event.id.as_str(), event.event.as_str(), event.version.as_str()),
        ("evt_01J", "cvm.status.changed", "1")
    );
    assert_eq!(event.workspace["id"], "wks_abc");
    assert_eq!(event.data["status"], "running");
    // Upper-case hex is the same signature.
    let upper = format!("sha256={}", SIGNATURE[7..].to_uppercase());
    assert!(v.verify_at(TS, &upper, BODY.as_bytes(), at(1_790_000_000)).is_ok());
}

#[test]
fn every_bad_delivery_is_a_typed_refusal_never_an_event() {
    let v = WebhookVerifier::new(SECRET);
    let now = at(1_790_000_000);
    let refuse = |ts: &str, sig: &str, body: &str, when| v.parse_at(ts, sig, body.as_bytes(), when).unwrap_err();
    // Tampered body, other timestamp, other secret.
    let tampered = BODY.replace("running", "stopped");
    assert_eq!(refuse(TS, SIGNATURE, &tampered, now), WebhookError::SignatureMismatch);
    assert_eq!(
        refuse("1790000001", SIGNATURE, BODY, now),
        WebhookError::SignatureMismatch
    );
    let other = WebhookVerifier::new("whsec_other");
    assert_eq!(
        other.parse_at(TS, SIGNATURE, BODY.as_bytes(), now).unwrap_err(),
        WebhookError::SignatureMismatch
    );
    // Stale and future, at the edge of the 300 s tolerance.
    assert!(v.verify_at(TS, SIGNATURE, BODY.as_bytes(), at(1_790_000_300)).is_ok());
    assert_eq!(
        refuse(TS, SIGNATURE, BODY, at(1_790_000_301)),
        WebhookError::Stale {
            age_secs: 301,
            tolerance_secs: 300
        }
    );
    assert_eq!(
        refuse(TS, SIGNATURE, BODY, at(1_789_999_699)),
        WebhookError::Future {
            ahead_secs: 301,
            tolerance_secs: 300
        }
    );
    // Malformed headers.
    assert_eq!(refuse("yesterday", SIGNATURE, BODY, now), WebhookError::BadTimestamp);
    for bad in ["e7939cae", "sha1=e7939cae", "sha256=zz", "sha256="] {
        assert_eq!(refuse(TS, bad, BODY, now), WebhookError::BadSignatureFormat, "{bad}");
    }
    // Signed (openssl, key "k"), but not an envelope: refused after the check.
    let v2 = WebhookVerifier::new("k");
    let signed = "sha256=b96905dbbe989274a718a34fe411b9391faf68d10f3d9ab5afd6bc8083406078";
    assert!(matches!(
        v2.parse_at(TS, signed, b"[]", now),
        Err(WebhookError::Body(_))
    ));
    let forged = "sha256=5ee9c2a0e5bf1b0b0c1e5ec3f3c0c3b8c2f4bb6b0f2d4f1f0e0a3b6b8c2f4bb6";
    assert_eq!(
        v2.parse_at(TS, forged, b"[]", now).unwrap_err(),
        WebhookError::SignatureMismatch
    );
    // Missing headers.
    let mut headers = HeaderMap::new();
    headers.insert("X-Webhook-Signature", HeaderValue::from_static(SIGNATURE));
    assert_eq!(
        v.parse_request(&headers, BODY.as_bytes()).unwrap_err(),
        WebhookError::MissingHeader("X-Webhook-Timestamp")
    );
    // The secret never prints.
    assert!(!format!("{v:?}").contains("whsec_test_secret"));
    let errors = [
        refuse(TS, SIGNATURE, &tampered, now).to_string(),
        refuse("x", SIGNATURE, BODY, now).to_string(),
    ];
    assert!(errors.iter().all(|e| !e.contains(SECRET) && !e.contains("evt_01J")));
}

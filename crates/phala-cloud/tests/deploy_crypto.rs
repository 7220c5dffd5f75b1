//! The deploy crypto against vectors from Phala's references (dstack-sdk on
//! PyPI, @phala/dstack-sdk on npm; see each file's `about`), never against
//! our own output alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use phala_cloud::{
    AppCompose, ComposeHash, EnvEncryptKey, EnvVars, Error, KmsSigner, TrustError, VerifiedEnvKey,
    recover_env_key_signer, verify_env_key,
};
use serde_json::Value;
use x25519_dalek::{PublicKey, StaticSecret};

fn vectors(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap()
}

#[test]
fn compose_hashes_equal_both_references() {
    let file = vectors("compose_hash.json");
    let cases = file["vectors"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let compose = AppCompose::from_json(case["app_compose"].clone()).unwrap();
        let compose = if case["normalize"].as_bool().unwrap() {
            compose.normalized()
        } else {
            compose
        };
        assert_eq!(
            compose.hash().to_string(),
            s(case, "compose_hash"),
            "{}: {}",
            s(case, "name"),
            compose.to_canonical_json()
        );
    }
}

/// dstack's env decryption as the CVM does it, written from the format.
fn open(sealed_hex: &str, private: [u8; 32]) -> Value {
    let bytes = hex::decode(sealed_hex).unwrap();
    let (ephemeral, rest) = bytes.split_at(32);
    let (nonce, ciphertext) = rest.split_at(12);
    let ephemeral: [u8; 32] = ephemeral.try_into().unwrap();
    let shared = StaticSecret::from(private).diffie_hellman(&PublicKey::from(ephemeral));
    let plain = Aes256Gcm::new_from_slice(shared.as_bytes())
        .unwrap()
        .decrypt(Nonce::from_slice(nonce), ciphertext)
        .unwrap();
    serde_json::from_slice(&plain).unwrap()
}

#[test]
fn sealed_env_opens_like_the_references_ciphertext() {
    let v = vectors("env_key.json");
    let private: [u8; 32] = hex::decode(s(&v, "env_private_key")).unwrap().try_into().unwrap();
    // The reference's ciphertext opens with this decryption...
    assert_eq!(open(s(&v, "encrypted_env"), private)["env"], v["env"]);
    // ...and so does ours, of the same variables, to the same key.
    let mut vars = EnvVars::new();
    for e in v["env"].as_array().unwrap() {
        vars.insert(s(e, "key"), s(e, "value")).unwrap();
    }
    let key: EnvEncryptKey = s(&v, "env_public_key").parse().unwrap();
    let sealed = vars.seal(&VerifiedEnvKey::trust_unverified(key)).unwrap();
    assert_eq!(open(&sealed, private)["env"], v["env"]);
    // A fresh ephemeral key and nonce each time.
    let again = vars.seal(&VerifiedEnvKey::trust_unverified(key)).unwrap();
    assert_ne!(sealed[..88], again[..88]);
    assert_eq!(sealed.len(), again.len());
}

#[test]
fn a_low_order_key_is_refused() {
    let zero = EnvEncryptKey([0; 32]);
    let mut vars = EnvVars::new();
    vars.insert("A", "secret").unwrap();
    let err = vars.seal(&VerifiedEnvKey::trust_unverified(zero)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(m) if m.contains("low-order")));
}

#[test]
fn kms_signatures_recover_the_references_signer() {
    let v = vectors("env_key.json");
    let key: EnvEncryptKey = s(&v, "env_public_key").parse().unwrap();
    let signer: KmsSigner = s(&v, "kms_signer_compressed").parse().unwrap();
    let ts = v["timestamp"].as_u64().unwrap();
    let app = s(&v, "app_id");
    assert_eq!(
        recover_env_key_signer(app, &key, s(&v, "signature_v1"), Some(ts)).unwrap(),
        signer
    );
    assert_eq!(
        recover_env_key_signer(app, &key, s(&v, "signature_legacy"), None).unwrap(),
        signer
    );
    // The app id with or without 0x; v as 27/28 as Ethereum writes it.
    let bare = app.trim_start_matches("0x");
    let mut sig = hex::decode(s(&v, "signature_v1")).unwrap();
    sig[64] += 27;
    assert_eq!(
        recover_env_key_signer(bare, &key, &hex::encode(&sig), Some(ts)).unwrap(),
        signer
    );

    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let ok = verify_env_key(app, &key, s(&v, "signature_v1"), Some(ts), &signer, at(ts + 10)).unwrap();
    assert_eq!((ok.key(), ok.signer(), ok.timestamp()), (&key, Some(&signer), Some(ts)));
    let legacy = verify_env_key(app, &key, s(&v, "signature_legacy"), None, &signer, SystemTime::now()).unwrap();
    assert_eq!(legacy.timestamp(), None, "a legacy signature says it is replayable");
}

#[test]
fn every_bad_key_or_signature_is_a_typed_refusal() {
    let v = vectors("env_key.json");
    let key: EnvEncryptKey = s(&v, "env_public_key").parse().unwrap();
    let signer: KmsSigner = s(&v, "kms_signer_compressed").parse().unwrap();
    let ts = v["timestamp"].as_u64().unwrap();
    let app = s(&v, "app_id");
    let sig = s(&v, "signature_v1");
    let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
    let trust = |r: Result<VerifiedEnvKey, Error>| match r {
        Err(Error::Trust(t)) => t,
        other => panic!("not a trust error: {other:?}"),
    };

    // Stale and future timestamps.
    let stale = trust(verify_env_key(app, &key, sig, Some(ts), &signer, at(ts + 301)));
    assert_eq!(
        stale,
        TrustError::StaleKey {
            age_secs: 301,
            max_secs: 300
        }
    );
    let future = trust(verify_env_key(app, &key, sig, Some(ts), &signer, at(ts - 61)));
    assert_eq!(future, TrustError::FutureKey { ahead_secs: 61 });
    assert!(verify_env_key(app, &key, sig, Some(ts), &signer, at(ts - 60)).is_ok());

    // Another signer (the uncompressed form of a different key parses too).
    let other: KmsSigner = "0x0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        .parse()
        .unwrap();
    assert!(matches!(
        trust(verify_env_key(app, &key, sig, Some(ts), &other, at(ts))),
        TrustError::SignerMismatch { .. }
    ));
    // A key, app id or timestamp the KMS did not sign recovers someone else.
    let mut swapped = key;
    swapped.0[0] ^= 1;
    for (k, a, t) in [(swapped, app, ts), (key, "0x00", ts), (key, app, ts + 1)] {
        assert!(matches!(
            trust(verify_env_key(a, &k, sig, Some(t), &signer, at(ts))),
            TrustError::SignerMismatch { .. } | TrustError::BadSignature(_)
        ));
    }
    // Malformed signatures.
    for bad in ["zz", &sig[..128], &format!("{}05", &sig[..128]), &format!("{sig}00")] {
        assert!(matches!(
            trust(verify_env_key(app, &key, bad, Some(ts), &signer, at(ts))),
            TrustError::BadSignature(_)
        ));
    }
    // Malformed input is refused as input.
    assert!(matches!("12".parse::<KmsSigner>(), Err(Error::InvalidInput(_))));
    assert!(matches!("ab".parse::<EnvEncryptKey>(), Err(Error::InvalidInput(_))));
    assert!(matches!("x".parse::<ComposeHash>(), Err(Error::InvalidInput(_))));
}

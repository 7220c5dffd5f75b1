//! `POST /attestations/verify`: a TDX quote (uploaded as `file`, or hex in
//! a form field or JSON `hex`; `0x` taken off) parsed as the service parses
//! one. The simulator cannot check Intel's signatures and issued no quote
//! itself, so it vouches for none: `success` and `proof_of_cloud` are
//! false, the parsed quote and its checksum are there. A body that is not
//! a TDX v4 quote is a 400.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::state::{Authed, Shared, api_error, validation_error};

/// The largest quote taken (a quote with its certificate chain is ~5 KiB).
const MAX_QUOTE: usize = 1 << 20;

/// A TDX quote v4: a 48-byte header, a 584-byte TD report, then the signature data.
const HEADER_LEN: usize = 48;
const BODY_LEN: usize = 584;

/// The TEE type of TDX in a quote header.
const TEE_TDX: u32 = 0x81;

/// The quote's bytes from the request, or why there are none.
async fn quote_bytes(request: Request) -> Result<Vec<u8>, String> {
    let kind = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let from_hex = |text: &str| {
        let text = text.trim();
        hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(|_| "hex is not hexadecimal".to_string())
    };
    if kind.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(request, &()).await.map_err(|e| e.to_string())?;
        while let Some(field) = form.next_field().await.map_err(|e| e.to_string())? {
            match field.name() {
                Some("file") => return Ok(field.bytes().await.map_err(|e| e.to_string())?.to_vec()),
                Some("hex") => return from_hex(&field.text().await.map_err(|e| e.to_string())?),
                _ => {}
            }
        }
        return Err("give the quote as `file` or `hex`".into());
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_QUOTE)
        .await
        .map_err(|e| e.to_string())?;
    if kind.starts_with("application/x-www-form-urlencoded") {
        return match form_urlencoded::parse(&body).find(|(k, _)| k == "hex") {
            Some((_, v)) => from_hex(&v),
            None => Err("give the quote as `hex`".into()),
        };
    }
    let json: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
    match json.get("hex").and_then(Value::as_str) {
        Some(text) => from_hex(text),
        None => Err("give the quote as `hex`".into()),
    }
}

/// The quote parsed into the document's `Quote` (byte fields as hex).
pub(crate) fn parse_quote(quote: &[u8]) -> Result<Value, String> {
    if quote.len() < HEADER_LEN + BODY_LEN {
        return Err(format!(
            "{} bytes: a TDX quote has at least {}",
            quote.len(),
            HEADER_LEN + BODY_LEN
        ));
    }
    let u16_at = |at: usize| u16::from_le_bytes([quote[at], quote[at + 1]]);
    let version = u16_at(0);
    let ak_type = u16_at(2);
    let tee_type = u32::from_le_bytes([quote[4], quote[5], quote[6], quote[7]]);
    if version != 4 {
        return Err(format!("quote version {version}: only version 4 is read"));
    }
    if tee_type != TEE_TDX {
        return Err(format!("TEE type {tee_type:#x} is not TDX"));
    }
    if ak_type != 2 && ak_type != 3 {
        return Err(format!(
            "attestation key type {ak_type} is not ECDSA P-256 (2) or P-384 (3)"
        ));
    }
    let body = &quote[HEADER_LEN..HEADER_LEN + BODY_LEN];
    let mut at = 0;
    let mut next = |len: usize| {
        let field = hex::encode(&body[at..at + len]);
        at += len;
        field
    };
    let fields = [
        ("tee_tcb_svn", 16),
        ("mrseam", 48),
        ("mrsignerseam", 48),
        ("seamattributes", 8),
        ("tdattributes", 8),
        ("xfam", 8),
        ("mrtd", 48),
        ("mrconfig", 48),
        ("mrowner", 48),
        ("mrownerconfig", 48),
        ("rtmr0", 48),
        ("rtmr1", 48),
        ("rtmr2", 48),
        ("rtmr3", 48),
        ("reportdata", 64),
    ];
    let body: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(name, len)| (name.to_string(), json!(next(*len))))
        .collect();
    let rest = &quote[HEADER_LEN + BODY_LEN..];
    Ok(json!({
        "header": {
            "version": version, "ak_type": ak_type, "tee_type": tee_type,
            "qe_vendor": hex::encode(&quote[12..28]), "user_data": hex::encode(&quote[28..48]),
        },
        "cert_data": (!rest.is_empty()).then(|| hex::encode(rest)),
        "body": body,
        "verified": false,
    }))
}

pub(crate) async fn verify(
    State(shared): State<Arc<Shared>>,
    Authed { rid, .. }: Authed,
    request: Request,
) -> Response {
    let bytes = match quote_bytes(request).await {
        Ok(b) => b,
        Err(why) => return validation_error(&["body"], &format!("No quote: {why}"), "value_error", Value::Null),
    };
    let quote = match parse_quote(&bytes) {
        Ok(q) => q,
        Err(why) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "ERR-07-003",
                &format!("Invalid quote: {why}"),
                &rid,
            );
        }
    };
    let checksum = hex::encode(Sha256::digest(&bytes));
    let now = {
        let inner = shared.lock();
        inner
            .fleet
            .clock(tokio::time::Instant::now(), shared.origin)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    axum::Json(json!({
        "id": checksum, "success": false, "proof_of_cloud": false, "quote": quote, "checksum": checksum,
        "can_download": false, "uploaded_at": now, "verified_at": now, "quote_collateral": null,
        "node_provider": null,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(version: u16, tee: u32) -> Vec<u8> {
        let mut q = vec![0u8; HEADER_LEN + BODY_LEN + 4];
        q[0..2].copy_from_slice(&version.to_le_bytes());
        q[2..4].copy_from_slice(&2u16.to_le_bytes());
        q[4..8].copy_from_slice(&tee.to_le_bytes());
        // rtmr3 is the 14th field: 16+48*2+8*3+48*9 bytes in.
        let rtmr3 = HEADER_LEN + 16 + 96 + 24 + 48 * 7;
        q[rtmr3] = 0xab;
        q
    }

    #[test]
    fn a_tdx_quote_is_read_field_by_field() {
        let parsed = parse_quote(&quote(4, TEE_TDX)).unwrap();
        assert_eq!(parsed["header"]["tee_type"], 129);
        assert!(parsed["body"]["rtmr3"].as_str().unwrap().starts_with("ab00"));
        assert_eq!(parsed["body"]["reportdata"].as_str().unwrap().len(), 128);
        assert_eq!(parsed["cert_data"], "00000000");
    }

    #[test]
    fn what_is_not_a_tdx_v4_quote_says_why() {
        assert!(parse_quote(&[0; 10]).unwrap_err().contains("at least"));
        assert!(parse_quote(&quote(3, TEE_TDX)).unwrap_err().contains("version 3"));
        assert!(parse_quote(&quote(4, 0)).unwrap_err().contains("not TDX"));
    }
}

//! A request the bundled document does not describe yet, sent with what
//! every generated request carries (key, version, workspace, user agent),
//! the request timeout, the body cap and the retry policy; a failure is
//! the same typed [`Error`] as any call's.

use phala_cloud_api::{ClientInfo, ResponseValue};
use reqwest::Method;
use serde_json::Value;

use crate::client::{Replay, read_capped};
use crate::error::{ApiError, ERROR_BODY_LIMIT, body_prefix};
use crate::{Client, Error};

impl Client {
    /// Sends `method path` (`/api/v1/...`, or a path below it) with
    /// `query` and a JSON `body`; the answer as JSON (`null` when empty, a
    /// string when not JSON). Reads are retried, writes only when nothing
    /// can have been applied.
    ///
    /// ```no_run
    /// # async fn run(client: phala_cloud::Client) -> Result<(), phala_cloud::Error> {
    /// let me = client.request(reqwest::Method::GET, "/auth/me", &[], None).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let path = path.trim();
        if !path.starts_with('/') || path.contains("://") || path.chars().any(char::is_control) {
            return Err(Error::InvalidInput(format!(
                "{path:?}: give a path such as /api/v1/cvms or /cvms"
            )));
        }
        let path = if path.starts_with("/api/") {
            path.to_string()
        } else {
            format!("/api/v1{path}")
        };
        let url = format!("{}{path}", self.base_url().trim_end_matches('/'));
        let replay = if method == Method::GET || method == Method::HEAD {
            Replay::Idempotent
        } else {
            Replay::IfNotApplied
        };
        let (timeout, cap) = (self.inner.request_timeout, self.inner.max_body_bytes);
        self.retrying("request", replay, || async {
            let mut builder = self.raw().client().request(method.clone(), &url).query(query);
            if let Some(body) = body {
                builder = builder.json(body);
            }
            let mut request = builder
                .build()
                .map_err(|e| Error::InvalidInput(format!("cannot build the request: {}", e.without_url())))?;
            self.raw().inner().apply(&mut request);
            *request.timeout_mut() = Some(timeout);
            let response = self
                .raw()
                .client()
                .execute(request)
                .await
                .map_err(|e| Error::transport(e, timeout))?;
            let status = response.status();
            if !status.is_success() {
                let headers = response.headers().clone();
                let body = body_prefix(response, ERROR_BODY_LIMIT, timeout).await;
                return Err(Error::Api(Box::new(ApiError::from_parts(status, &headers, &body))));
            }
            let body = read_capped(ResponseValue::stream(response), cap, timeout).await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            Ok(serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned())))
        })
        .await
    }
}

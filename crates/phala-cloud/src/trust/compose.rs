//! The app compose and its hash: what dstack measures into a CVM, so the
//! hash a client computes is the one it can check the server against.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Error;
use phala_cloud_api::types::AppComposeV2;

/// An app compose (dstack's `app-compose.json`): the runner, the
/// docker-compose file and the flags the CVM boots with. Unknown keys are
/// kept and hashed: the hash covers exactly what is held here.
///
/// ```
/// use phala_cloud::AppCompose;
///
/// let compose = AppCompose::docker_compose("web", "services:\n  web:\n    image: nginx\n")
///     .with_allowed_envs(["API_KEY"]);
/// assert_eq!(compose.hash().to_string().len(), 64);
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppCompose(Map<String, Value>);

impl AppCompose {
    /// A docker-compose app, every other field at the published document's
    /// default (`AppComposeV2`, read from the generated type: manifest 2, KMS
    /// and gateway on, logs, sysinfo and TCB info public, ...). Written out
    /// in full, so the server has nothing to fill in and the hash it reports
    /// can equal ours.
    pub fn docker_compose(name: impl Into<String>, docker_compose_file: impl Into<String>) -> Self {
        let request = AppComposeV2::builder()
            .name(name.into())
            .docker_compose_file(Some(docker_compose_file.into()));
        match AppComposeV2::try_from(request).map(serde_json::to_value) {
            Ok(Ok(Value::Object(map))) => Self(map),
            // The builder has every required field and serialising a struct
            // of strings, numbers and booleans cannot fail.
            _ => unreachable!("AppComposeV2 with a name serialises to an object"),
        }
    }

    /// The compose as the provision request carries it, refused if that
    /// would lose or change anything (an unknown key, a value of the wrong
    /// type): the hash must cover exactly what is sent.
    pub fn to_request(&self) -> Result<AppComposeV2, Error> {
        self.to_typed()
    }

    /// The compose as a generated request type carries it, refused if that
    /// would lose or change anything.
    pub(crate) fn to_typed<T: Serialize + DeserializeOwned>(&self) -> Result<T, Error> {
        let request: T = serde_json::from_value(Value::Object(self.0.clone()))
            .map_err(|e| Error::InvalidInput(format!("the app compose does not fit the request: {e}")))?;
        let sent = Self::from_json(serde_json::to_value(&request).unwrap_or_default())?;
        match first_difference(&self.0, &sent.0) {
            None => Ok(request),
            Some(key) => Err(Error::InvalidInput(format!(
                "the app compose field `{key}` would not be sent as given (the request does not \
                 carry it, or fills in a default): set it explicitly or remove it"
            ))),
        }
    }

    /// An app compose as JSON (e.g. an `app-compose.json` file): an object
    /// with a string `runner`.
    pub fn from_json(value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(map) if map.get("runner").is_some_and(Value::is_string) => Ok(Self(map)),
            Value::Object(_) => Err(Error::InvalidInput(
                "an app compose needs a string `runner` (docker-compose or bash)".into(),
            )),
            other => Err(Error::InvalidInput(format!(
                "an app compose is a JSON object, not {}",
                json_kind(&other)
            ))),
        }
    }

    /// Sets one field (any key; unknown keys are kept and hashed).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    /// The env keys the CVM accepts (their values travel encrypted). None
    /// removes the field, as the provision request leaves an empty list out.
    pub fn with_allowed_envs<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let keys: Vec<Value> = keys.into_iter().map(|k| Value::String(k.into())).collect();
        if keys.is_empty() {
            self.0.remove("allowed_envs");
            return self;
        }
        self.with("allowed_envs", keys)
    }

    /// A script run before the containers start.
    pub fn with_pre_launch_script(self, script: impl Into<String>) -> Self {
        self.with("pre_launch_script", script.into())
    }

    /// One field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// Every field.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The deterministic JSON dstack hashes: keys sorted recursively (by
    /// code point), no whitespace, non-ASCII written as UTF-8, absent
    /// fields absent. (JSON numbers here are finite, so the references'
    /// NaN-to-null rule never applies.)
    pub fn to_canonical_json(&self) -> String {
        let sorted = sorted(&Value::Object(self.0.clone()));
        // Serialising a `Value` cannot fail: its keys are strings.
        serde_json::to_string(&sorted).unwrap_or_default()
    }

    /// SHA-256 of [`to_canonical_json`](Self::to_canonical_json): the
    /// compose hash of dstack's `get_compose_hash` (PyPI `dstack-sdk`) and
    /// `getComposeHash` (npm `@phala/dstack-sdk`), without normalisation.
    pub fn hash(&self) -> ComposeHash {
        ComposeHash(Sha256::digest(self.to_canonical_json().as_bytes()).into())
    }

    /// The normalised form the references hash when asked to: without
    /// `docker_compose_file` for the `bash` runner, without `bash_script`
    /// for `docker-compose`, and without an empty `pre_launch_script`.
    /// A different hash from [`hash`](Self::hash) whenever it drops something.
    pub fn normalized(&self) -> Self {
        let mut map = self.0.clone();
        match map.get("runner").and_then(Value::as_str) {
            Some("bash") => {
                map.remove("docker_compose_file");
            }
            Some("docker-compose") => {
                map.remove("bash_script");
            }
            _ => {}
        }
        if map.get("pre_launch_script").is_some_and(is_falsy) {
            map.remove("pre_launch_script");
        }
        Self(map)
    }
}

impl fmt::Debug for AppCompose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No secrets live here (env values never do), so the JSON is shown.
        write!(f, "AppCompose({})", self.to_canonical_json())
    }
}

/// JavaScript truthiness, as the references test `pre_launch_script`.
fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(_) | Value::Object(_) => false,
    }
}

/// The first key (in sorted order) whose value differs between two maps.
pub(crate) fn first_difference(a: &Map<String, Value>, b: &Map<String, Value>) -> Option<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().find(|k| a.get(*k) != b.get(*k)).cloned()
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A compose hash: 32 bytes, shown as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ComposeHash(
    /// The SHA-256 digest of the `app-compose.json` text.
    pub [u8; 32],
);

impl fmt::Display for ComposeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ComposeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ComposeHash({self})")
    }
}

impl FromStr for ComposeHash {
    type Err = Error;

    /// 64 hex digits, with or without `0x`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let digits = s.strip_prefix("0x").unwrap_or(s);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(digits, &mut bytes)
            .map_err(|e| Error::InvalidInput(format!("a compose hash is 64 hex digits: {e}")))?;
        Ok(Self(bytes))
    }
}

impl Serialize for ComposeHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_nested_keys_and_writes_utf8() {
        let c = AppCompose::from_json(json!({"runner": "bash", "b": {"z": 1, "a": [{"y": 2, "x": "é"}]}, "a": ""}))
            .unwrap();
        assert_eq!(
            c.to_canonical_json(),
            r#"{"a":"","b":{"a":[{"x":"é","y":2}],"z":1},"runner":"bash"}"#
        );
    }

    #[test]
    fn a_docker_compose_app_is_the_documents_defaults_written_out() {
        let c = AppCompose::docker_compose("web", "services: {}");
        assert_eq!(c.get("manifest_version"), Some(&json!(2)));
        assert_eq!(c.get("runner"), Some(&json!("docker-compose")));
        assert_eq!(c.get("kms_enabled"), Some(&json!(true)));
        let none: [&str; 0] = [];
        assert!(c.clone().with_allowed_envs(none).to_request().is_ok());
        // What is sent is what is hashed: nothing is added or lost.
        let sent = serde_json::to_value(c.to_request().unwrap()).unwrap();
        assert_eq!(AppCompose::from_json(sent).unwrap().hash(), c.hash());
        let extra = c.clone().with("surprise", 1);
        let err = extra.to_request().unwrap_err().to_string();
        assert!(err.contains("`surprise` would not be sent"), "{err}");
        let mut partial = c.as_map().clone();
        partial.remove("public_logs");
        let err = AppCompose::from_json(Value::Object(partial))
            .unwrap()
            .to_request()
            .unwrap_err();
        assert!(err.to_string().contains("`public_logs`"), "{err}");
    }

    #[test]
    fn not_an_app_compose_is_refused() {
        for bad in [json!([]), json!({"name": "x"}), json!({"runner": 1})] {
            assert!(matches!(AppCompose::from_json(bad), Err(Error::InvalidInput(_))));
        }
    }

    #[test]
    fn hashes_parse_back_and_refuse_what_is_not_one() {
        let h = AppCompose::docker_compose("a", "b").hash();
        assert_eq!(h.to_string().parse::<ComposeHash>().unwrap(), h);
        assert_eq!(format!("0x{h}").parse::<ComposeHash>().unwrap(), h);
        assert!("abc".parse::<ComposeHash>().is_err());
        assert!("zz".repeat(32).parse::<ComposeHash>().is_err());
    }
}

//! The credentials file Phala's CLI (npm `phala`) keeps, read and written
//! in its own schema so that a key stored by either tool serves both:
//! `$PHALA_CLOUD_DIR/credentials.json` (default `~/.phala-cloud`), mode 0600,
//! `{"schema_version": 1, "current_profile": NAME, "profiles": {NAME: {...}}}`.
//!
//! Fields this crate does not know are kept on rewrite. A token never
//! reaches `Debug` output or an error message: a file that does not parse is
//! reported by line and column, never by content.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Secret};

/// The only schema Phala's CLI writes and reads.
pub const CREDENTIALS_SCHEMA: u64 = 1;

/// The file's name inside the credentials directory.
pub const CREDENTIALS_FILE: &str = "credentials.json";

/// The profile name Phala's CLI falls back to.
pub const DEFAULT_PROFILE: &str = "default";

/// The whole credentials file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Credentials {
    /// Always [`CREDENTIALS_SCHEMA`].
    pub schema_version: u64,
    /// The profile used when none is named.
    pub current_profile: String,
    /// Every stored profile, by name.
    pub profiles: BTreeMap<String, Profile>,
    /// Fields written by a newer tool, kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One stored login: a token for one workspace at one API.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// The API key (or token) itself; `Debug` shows `[redacted]`.
    #[serde(default, with = "token_field", skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// The API base URL including `/api/v1`, as Phala's SDKs spell it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The workspace the token acts in.
    pub workspace: Option<ProfileWorkspace>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Whose token it is.
    pub user: Option<ProfileUser>,
    /// When the profile was written (RFC 3339, milliseconds, `Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// Fields written by a newer tool, kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The workspace a profile's token acts in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileWorkspace {
    /// Its display name.
    pub name: String,
    /// Its slug (what `X-Phala-Workspace` takes), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Fields written by a newer tool, kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The user a profile's token belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProfileUser {
    /// The user's name.
    pub username: String,
    /// The user's email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Fields written by a newer tool, kept as they are.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The token as the file spells it (a plain string), kept in a [`Secret`]
/// everywhere else.
mod token_field {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::Secret;

    pub fn serialize<S: Serializer>(token: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
        match token {
            Some(t) => s.serialize_str(t.expose()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
        Ok(Option::<String>::deserialize(d)?
            .filter(|t| !t.trim().is_empty())
            .map(Secret::new))
    }
}

impl Profile {
    /// A profile for a token checked against the API: its workspace and
    /// user as `GET /auth/me` named them, stamped now.
    pub fn new(token: impl Into<Secret>, api_prefix: impl Into<String>) -> Self {
        Self {
            token: Some(token.into()),
            api_prefix: Some(api_prefix.into()),
            updated_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            ..Self::default()
        }
    }

    /// Names the workspace (a blank slug is left out, as Phala's CLI does).
    pub fn workspace(mut self, name: impl Into<String>, slug: Option<String>) -> Self {
        self.workspace = Some(ProfileWorkspace {
            name: name.into(),
            slug: slug.filter(|s| !s.trim().is_empty()),
            other: Map::new(),
        });
        self
    }

    /// Names the user.
    pub fn user(mut self, username: impl Into<String>, email: Option<String>) -> Self {
        self.user = Some(ProfileUser {
            username: username.into(),
            email,
            other: Map::new(),
        });
        self
    }
}

impl Credentials {
    /// An empty file whose current profile is `current`.
    pub fn new(current: impl Into<String>) -> Self {
        Self {
            schema_version: CREDENTIALS_SCHEMA,
            current_profile: current.into(),
            profiles: BTreeMap::new(),
            other: Map::new(),
        }
    }

    /// The directory Phala's CLI uses: `PHALA_CLOUD_DIR` when set and not
    /// blank, else `.phala-cloud` in the home directory.
    pub fn dir_with(lookup: impl Fn(&str) -> Option<String>) -> Result<PathBuf, Error> {
        if let Some(dir) = lookup("PHALA_CLOUD_DIR").filter(|d| !d.trim().is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let home = lookup("HOME")
            .or_else(|| lookup("USERPROFILE"))
            .filter(|h| !h.trim().is_empty())
            .ok_or(Error::MissingEnv("HOME"))?;
        Ok(Path::new(&home).join(".phala-cloud"))
    }

    /// The file's path from the process environment.
    pub fn default_path() -> Result<PathBuf, Error> {
        Ok(Self::dir_with(|k| std::env::var(k).ok())?.join(CREDENTIALS_FILE))
    }

    /// Reads the file; `None` when there is none. A file that does not
    /// parse, or of another schema, is an error naming the file (not its
    /// content): guessing would send the wrong key.
    pub fn load(path: &Path) -> Result<Option<Self>, Error> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
        };
        let bad = |why: String| Error::Config(format!("{}: {why}", path.display()));
        // Parsed as a value first: serde's messages about a mistyped field
        // quote the value, which may be a token.
        let value: Value = serde_json::from_slice(&text).map_err(|e| {
            bad(format!(
                "not JSON ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        let schema = value.get("schema_version").and_then(Value::as_u64);
        if schema != Some(CREDENTIALS_SCHEMA) {
            return Err(bad(format!(
                "schema_version {} is not {CREDENTIALS_SCHEMA}, the one Phala's CLI writes",
                schema.map_or_else(|| "missing".to_string(), |s| s.to_string())
            )));
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|_| bad("not the credentials schema (current_profile and profiles expected)".into()))
    }

    /// Writes the file whole, readable by its owner only (0600, the
    /// directory 0700 when created): to a temporary file beside it, then
    /// renamed over it, so a reader never sees half a file.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let fail = |what: &str, e: std::io::Error| Error::Config(format!("cannot {what} {}: {e}", path.display()));
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(|e| fail("create the directory of", e))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Config(format!("cannot render: {e}")))?;
        let tmp = dir.join(format!(".{CREDENTIALS_FILE}.{}.tmp", std::process::id()));
        let written = write_private(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail("write", e));
        }
        Ok(())
    }

    /// The profile `name` names, as Phala's CLI finds it: by profile name,
    /// else the one whose workspace slug, else workspace name, is `name`.
    pub fn find(&self, name: &str) -> Option<(&str, &Profile)> {
        if let Some((k, p)) = self.profiles.get_key_value(name) {
            return Some((k.as_str(), p));
        }
        let by = |f: &dyn Fn(&ProfileWorkspace) -> Option<&str>| {
            self.profiles
                .iter()
                .find(|(_, p)| p.workspace.as_ref().and_then(f) == Some(name))
                .map(|(k, p)| (k.as_str(), p))
        };
        by(&|w| w.slug.as_deref()).or_else(|| by(&|w| Some(w.name.as_str())))
    }

    /// The current profile, if it is stored.
    pub fn current(&self) -> Option<(&str, &Profile)> {
        self.find(&self.current_profile)
    }

    /// Stores `profile` under `name` (replacing one of that name) and makes
    /// it current.
    pub fn insert(&mut self, name: impl Into<String>, profile: Profile) {
        let name = name.into();
        self.profiles.insert(name.clone(), profile);
        self.current_profile = name;
    }

    /// Makes the profile `name` names current; its stored name.
    pub fn switch(&mut self, name: &str) -> Result<String, Error> {
        let found = self
            .find(name)
            .map(|(k, _)| k.to_string())
            .ok_or_else(|| self.no_such(name))?;
        self.current_profile = found.clone();
        Ok(found)
    }

    /// Removes a profile; the current one becomes the first left (by
    /// name) when it was the one removed. `true` when none is left.
    pub fn remove(&mut self, name: &str) -> Result<(String, bool), Error> {
        let found = self
            .find(name)
            .map(|(k, _)| k.to_string())
            .ok_or_else(|| self.no_such(name))?;
        self.profiles.remove(&found);
        if self.current_profile == found
            && let Some(next) = self.profiles.keys().next()
        {
            self.current_profile = next.clone();
        }
        Ok((found, self.profiles.is_empty()))
    }

    fn no_such(&self, name: &str) -> Error {
        let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
        Error::InvalidInput(format!(
            "no profile {name:?} (stored: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Where the token a client sends came from, in the order it is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `--api-key` or `PHALA_CLOUD_API_KEY`.
    ApiKey,
    /// A stored profile.
    Profile,
    /// `PHALA_OIDC_TOKEN`, sent as a Bearer token.
    Oidc,
}

/// What a client authenticates with, resolved as Phala's CLI resolves it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Login {
    /// What to send.
    pub token: Secret,
    /// Where it came from.
    pub source: TokenSource,
    /// The profile consulted (even when a key given outright won).
    pub profile: Option<String>,
    /// The base URL: `PHALA_CLOUD_API_PREFIX`, else the profile's.
    pub base_url: Option<String>,
}

impl Login {
    /// A token given outright (an API key), at `base_url` if given.
    pub fn outright(token: impl Into<Secret>, base_url: Option<String>) -> Self {
        Self {
            token: token.into(),
            source: TokenSource::ApiKey,
            profile: None,
            base_url,
        }
    }
}

/// The inputs of [`resolve_login`]: what the caller was given outright.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoginSources {
    /// A key from a flag or `PHALA_CLOUD_API_KEY`.
    pub api_key: Option<Secret>,
    /// `--profile`, else `PHALA_CLOUD_PROFILE`.
    pub profile: Option<String>,
    /// The `profile` of the project's `phala.toml`.
    pub project_profile: Option<String>,
    /// `PHALA_CLOUD_API_PREFIX` (or a flag).
    pub base_url: Option<String>,
    /// `PHALA_OIDC_TOKEN`.
    pub oidc_token: Option<Secret>,
}

impl LoginSources {
    /// Reads `PHALA_CLOUD_API_KEY`, `PHALA_CLOUD_PROFILE`,
    /// `PHALA_CLOUD_API_PREFIX` and `PHALA_OIDC_TOKEN` (blank is unset).
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| lookup(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Self {
            api_key: get("PHALA_CLOUD_API_KEY").map(Secret::new),
            profile: get("PHALA_CLOUD_PROFILE"),
            project_profile: None,
            base_url: get("PHALA_CLOUD_API_PREFIX"),
            oidc_token: get("PHALA_OIDC_TOKEN").map(Secret::new),
        }
    }
}

/// The token to send: a key given outright, else the chosen profile's
/// (`--profile`, `PHALA_CLOUD_PROFILE`, the project's, then the file's
/// current one), else `PHALA_OIDC_TOKEN`. A profile named outright that
/// is not stored is an error, not a fall-through to another key.
pub fn resolve_login(sources: &LoginSources, file: Option<&Credentials>) -> Result<Login, Error> {
    let named = sources.profile.clone().or_else(|| sources.project_profile.clone());
    let chosen = match (&named, file) {
        (Some(name), Some(file)) => match file.find(name) {
            Some((k, p)) => Some((k.to_string(), p)),
            None if sources.api_key.is_some() => None,
            None => return Err(file.no_such(name)),
        },
        (Some(name), None) if sources.api_key.is_none() => {
            return Err(Error::InvalidInput(format!(
                "no profile {name:?}: no credentials are stored (run `phala-cvm login`)"
            )));
        }
        (None, Some(file)) => file.current().map(|(k, p)| (k.to_string(), p)),
        _ => None,
    };
    let profile_name = chosen.as_ref().map(|(k, _)| k.clone());
    let base_url = sources
        .base_url
        .clone()
        .or_else(|| chosen.as_ref().and_then(|(_, p)| p.api_prefix.clone()));
    let (token, source) = if let Some(key) = &sources.api_key {
        (key.clone(), TokenSource::ApiKey)
    } else if let Some(token) = chosen.as_ref().and_then(|(_, p)| p.token.clone()) {
        (token, TokenSource::Profile)
    } else if let Some(token) = &sources.oidc_token {
        (token.clone(), TokenSource::Oidc)
    } else {
        return Err(Error::MissingEnv("PHALA_CLOUD_API_KEY"));
    };
    Ok(Login {
        token,
        source,
        profile: profile_name,
        base_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Credentials {
        let mut c = Credentials::new("a");
        c.insert(
            "b",
            Profile::new("tok-b", "http://b/api/v1").workspace("Team B", Some("team-b".into())),
        );
        c.insert("a", Profile::new("tok-a", "http://a/api/v1").workspace("Team A", None));
        c
    }

    #[test]
    fn profiles_are_found_by_name_slug_or_workspace_name() {
        let c = file();
        assert_eq!(c.find("b").map(|(k, _)| k), Some("b"));
        assert_eq!(c.find("team-b").map(|(k, _)| k), Some("b"));
        assert_eq!(c.find("Team A").map(|(k, _)| k), Some("a"));
        assert!(c.find("nope").is_none());
    }

    #[test]
    fn resolution_order_is_key_profile_then_oidc() {
        let c = file();
        let mut s = LoginSources::default();
        let l = resolve_login(&s, Some(&c)).unwrap();
        assert_eq!((l.token.expose(), l.source), ("tok-a", TokenSource::Profile));
        assert_eq!(l.base_url.as_deref(), Some("http://a/api/v1"));
        s.project_profile = Some("team-b".into());
        assert_eq!(resolve_login(&s, Some(&c)).unwrap().token.expose(), "tok-b");
        s.profile = Some("a".into());
        assert_eq!(resolve_login(&s, Some(&c)).unwrap().token.expose(), "tok-a");
        s.base_url = Some("http://env".into());
        assert_eq!(
            resolve_login(&s, Some(&c)).unwrap().base_url.as_deref(),
            Some("http://env")
        );
        s.api_key = Some(Secret::new("key"));
        let l = resolve_login(&s, Some(&c)).unwrap();
        assert_eq!((l.token.expose(), l.source), ("key", TokenSource::ApiKey));
        let oidc = LoginSources {
            oidc_token: Some(Secret::new("jwt")),
            ..LoginSources::default()
        };
        assert_eq!(resolve_login(&oidc, None).unwrap().source, TokenSource::Oidc);
        assert!(matches!(
            resolve_login(&LoginSources::default(), None),
            Err(Error::MissingEnv(_))
        ));
        let unknown = LoginSources {
            profile: Some("nope".into()),
            oidc_token: Some(Secret::new("jwt")),
            ..LoginSources::default()
        };
        let e = resolve_login(&unknown, Some(&c)).unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("a, b"), "{e}");
    }

    #[test]
    fn removing_the_current_profile_moves_current_to_the_next() {
        let mut c = file();
        assert_eq!(c.remove("a").unwrap(), ("a".to_string(), false));
        assert_eq!(c.current_profile, "b");
        assert_eq!(c.remove("team-b").unwrap(), ("b".to_string(), true));
        assert!(c.remove("b").is_err());
    }

    #[test]
    fn tokens_never_print_and_bad_files_are_named_not_quoted() {
        let c = file();
        assert!(!format!("{c:?}").contains("tok-a"));
        let dir = std::env::temp_dir().join(format!("phala-creds-unit-{}", std::process::id()));
        let path = dir.join(CREDENTIALS_FILE);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &path,
            r#"{"schema_version": 1, "current_profile": 7, "profiles": {"x": {"token": "phak_canary"}}}"#,
        )
        .unwrap();
        let e = Credentials::load(&path).unwrap_err().to_string();
        assert!(!e.contains("phak_canary") && e.contains("credentials.json"), "{e}");
        std::fs::write(&path, r#"{"schema_version": 2}"#).unwrap();
        assert!(
            Credentials::load(&path)
                .unwrap_err()
                .to_string()
                .contains("schema_version 2")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

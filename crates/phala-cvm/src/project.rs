//! A project's `phala.toml`, shared with Phala's CLI: its profile and the
//! CVM it is linked to, so that commands run in that directory need no
//! CVM argument. Read from the working directory only, as Phala's CLI
//! does; keys this tool does not know are kept when `link` rewrites it.

use std::path::{Path, PathBuf};

use phala_cloud::Error;
use serde::Deserialize;

/// The file's name.
pub const PROJECT_FILE: &str = "phala.toml";

/// What this tool reads from `phala.toml` (Phala's CLI's keys).
#[derive(Debug, Default, Deserialize)]
pub struct Project {
    pub profile: Option<String>,
    pub id: Option<String>,
    pub uuid: Option<String>,
    pub app_id: Option<String>,
    pub instance_id: Option<String>,
    pub name: Option<String>,
    pub gateway_domain: Option<String>,
    pub gateway_port: Option<u16>,
}

impl Project {
    /// The project in the working directory, if it has one.
    pub fn load() -> Result<Option<Self>, Error> {
        let path = PathBuf::from(PROJECT_FILE);
        Self::load_from(&path)
    }

    fn load_from(path: &Path) -> Result<Option<Self>, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))
    }

    /// The CVM the project names, as Phala's CLI picks it: id, then UUID,
    /// app id (a bare 40-hex id as `app_<hex>`), instance id, name.
    pub fn cvm(&self) -> Option<String> {
        let app = self.app_id.as_deref().map(|a| {
            if a.len() == 40 && a.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("app_{a}")
            } else {
                a.to_string()
            }
        });
        [
            self.id.clone(),
            self.uuid.clone(),
            app,
            self.instance_id.clone(),
            self.name.clone(),
        ]
        .into_iter()
        .flatten()
        .find(|v| !v.trim().is_empty())
    }
}

/// The CVM a command was given, else the project's: an error that says
/// both ways when there is neither.
pub fn cvm_or_project(given: Option<&str>) -> Result<String, Error> {
    if let Some(id) = given {
        return Ok(id.to_string());
    }
    Project::load()?.and_then(|p| p.cvm()).ok_or_else(|| {
        Error::InvalidInput(format!(
            "name a CVM (id, VM UUID, app_<id>, instance id or name), or run `phala-cvm link CVM` to write {PROJECT_FILE} here"
        ))
    })
}

/// Links the working directory to a CVM: sets `app_id`, `name` and
/// `profile` in `phala.toml` (other keys kept; the id keys of an earlier
/// link dropped), and `compose_file`/`env_file` when those files are here.
pub fn link(app_id: &str, name: &str, profile: Option<&str>) -> Result<PathBuf, Error> {
    let path = PathBuf::from(PROJECT_FILE);
    let mut table: toml::Table = match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(Error::Config(format!("cannot read {}: {e}", path.display()))),
    };
    for key in ["id", "uuid", "instance_id"] {
        table.remove(key);
    }
    let app = app_id.strip_prefix("app_").unwrap_or(app_id);
    table.insert("app_id".into(), app.into());
    table.insert("name".into(), name.into());
    if let Some(p) = profile {
        table.insert("profile".into(), p.into());
    }
    let present = |names: &[&str]| names.iter().find(|n| Path::new(n).is_file()).map(|n| n.to_string());
    if let Some(f) = present(&["docker-compose.yml", "docker-compose.yaml"]) {
        table.entry("compose_file").or_insert(f.into());
    }
    if let Some(f) = present(&[".env.production"]) {
        table.entry("env_file").or_insert(f.into());
    }
    std::fs::write(&path, table.to_string())
        .map_err(|e| Error::Config(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cvm_is_picked_as_phala_cli_picks_it() {
        let p: Project = toml::from_str(
            "name = \"web\"\napp_id = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\nprofile = \"x\"\nother = 1\n",
        )
        .unwrap();
        assert_eq!(p.cvm().as_deref(), Some("app_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        let p: Project = toml::from_str("name = \"web\"\nid = \"cvm_1\"").unwrap();
        assert_eq!(p.cvm().as_deref(), Some("cvm_1"));
        let p: Project = toml::from_str("name = \"web\"").unwrap();
        assert_eq!(p.cvm().as_deref(), Some("web"));
        assert_eq!(Project::default().cvm(), None);
    }
}

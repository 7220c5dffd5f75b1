//! `login`, `logout`, `profiles`, `whoami` and `link`: the credentials file
//! and project file Phala's CLI keeps, shared with it.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::Subcommand;
use phala_cloud::credentials::{Credentials, DEFAULT_PROFILE, Login, Profile, TokenSource};
use phala_cloud::{Client, CurrentUserExt, Error, Secret};
use serde_json::json;

use crate::cli::{Args, Format};
use crate::output::{Out, safe};
use crate::run::Outcome;

/// `profiles` subcommands.
#[derive(Subcommand, Debug)]
pub enum ProfilesCommand {
    /// List the stored profiles (the current one marked).
    List,
    /// Make a profile current (by name, workspace slug or workspace name).
    Use {
        /// The profile.
        name: String,
    },
}

/// The credentials file's path (`PHALA_CLOUD_DIR`, else `~/.phala-cloud`).
pub fn credentials_path() -> Result<PathBuf, Error> {
    Credentials::default_path()
}

/// The key `login` stores: given as an argument, by `--api-key` or
/// `PHALA_CLOUD_API_KEY`, else asked for without echo on a terminal, else
/// one line of standard input (`echo $KEY | phala-cvm login`).
pub fn key_to_store(given: Option<&str>, args: &Args) -> Result<Secret, Error> {
    let key = match given.map(str::to_string).or_else(|| args.api_key.clone()) {
        Some(k) => k,
        None if std::io::stdin().is_terminal() => rpassword::prompt_password("API key (phak_...): ")
            .map_err(|e| Error::InvalidInput(format!("cannot read the key: {e}")))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::InvalidInput(format!("cannot read the key from standard input: {e}")))?;
            line
        }
    };
    let key = key.trim();
    if key.is_empty() || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::InvalidInput(
            "the API key is empty or holds spaces or control characters".into(),
        ));
    }
    Ok(Secret::new(key))
}

/// Checks the key against the API (`GET /auth/me`), then stores it as
/// Phala's CLI does: profile `--profile`, else the workspace's slug, else
/// `default`; made current.
pub async fn login(client: &Client, out: &Out, key: Secret, profile: Option<&str>) -> Result<Outcome, Error> {
    let me = client.me().await?;
    let name = profile
        .map(str::to_string)
        .or_else(|| me.workspace_slug().map(str::to_string))
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let prefix = format!("{}/api/v1", client.base_url().trim_end_matches('/'));
    let stored = Profile::new(key, prefix)
        .workspace(me.workspace_name(), me.workspace_slug().map(str::to_string))
        .user(me.username(), Some(me.email().to_string()));
    let path = credentials_path()?;
    let mut file = Credentials::load(&path)?.unwrap_or_else(|| Credentials::new(name.clone()));
    file.insert(name.clone(), stored);
    file.save(&path)?;
    match out.format {
        Format::Table => outln!(
            "logged in as {} ({}): profile {} saved in {}",
            safe(me.username()),
            safe(me.workspace_name()),
            safe(&name),
            path.display()
        ),
        _ => out.json(&json!({
            "username": me.username(), "email": me.email(), "workspace": me.workspace_name(),
            "profile": name, "path": path,
        })),
    }
    Ok(Outcome::Done)
}

/// Removes a profile (the current one unless named); the file goes with
/// the last one.
pub fn logout(out: &Out, profile: Option<&str>) -> Result<(), Error> {
    let path = credentials_path()?;
    let Some(mut file) = Credentials::load(&path)? else {
        return Err(Error::InvalidInput(format!("not logged in: no {}", path.display())));
    };
    let name = profile
        .map(str::to_string)
        .unwrap_or_else(|| file.current_profile.clone());
    let (removed, none_left) = file.remove(&name)?;
    if none_left {
        std::fs::remove_file(&path).map_err(|e| Error::Config(format!("cannot remove {}: {e}", path.display())))?;
    } else {
        file.save(&path)?;
    }
    match out.format {
        Format::Table => outln!("removed profile {}", safe(&removed)),
        _ => out.json(&json!({"profile": removed, "current": (!none_left).then_some(&file.current_profile)})),
    }
    Ok(())
}

/// Lists the profiles, or makes one current.
pub fn profiles(out: &Out, command: Option<&ProfilesCommand>) -> Result<(), Error> {
    let path = credentials_path()?;
    let file = Credentials::load(&path)?;
    if let Some(ProfilesCommand::Use { name }) = command {
        let mut file = file.ok_or_else(|| Error::InvalidInput(format!("no profiles stored: no {}", path.display())))?;
        let changed = file.find(name).map(|(k, _)| k) != Some(file.current_profile.as_str());
        let chosen = file.switch(name)?;
        file.save(&path)?;
        match out.format {
            Format::Table if changed => outln!("switched to profile {}", safe(&chosen)),
            Format::Table => outln!("already using profile {}", safe(&chosen)),
            _ => out.json(&json!({"profile": chosen, "changed": changed})),
        }
        return Ok(());
    }
    let Some(file) = file else {
        match out.format {
            Format::Table => eprintln!("no profiles stored ({}): run `phala-cvm login`", path.display()),
            _ => out.json(&json!({"profiles": []})),
        }
        return Ok(());
    };
    let listed: Vec<serde_json::Value> = file
        .profiles
        .iter()
        .map(|(name, p)| {
            json!({
                "name": name,
                "workspace": p.workspace.as_ref().map(|w| &w.name),
                "slug": p.workspace.as_ref().and_then(|w| w.slug.as_ref()),
                "user": p.user.as_ref().map(|u| &u.username),
                "api_prefix": p.api_prefix,
                "current": *name == file.current_profile,
            })
        })
        .collect();
    match out.format {
        Format::Table => {
            let text = |v: &serde_json::Value, k: &str| safe(v[k].as_str().unwrap_or("-")).into_owned();
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|p| {
                    vec![
                        if p["current"] == true { "*" } else { "" }.to_string(),
                        text(p, "name"),
                        text(p, "workspace"),
                        text(p, "slug"),
                        text(p, "user"),
                        text(p, "api_prefix"),
                    ]
                })
                .collect();
            out.table(&["", "PROFILE", "WORKSPACE", "SLUG", "USER", "API"], &rows);
        }
        _ => out.json(&json!({ "profiles": listed })),
    }
    Ok(())
}

/// Who the key in use belongs to, and where it came from.
pub async fn whoami(client: &Client, out: &Out, login: &Login) -> Result<Outcome, Error> {
    let me = client.me().await?;
    let source = match login.source {
        TokenSource::ApiKey => "an API key given outright",
        TokenSource::Profile => "the stored profile",
        TokenSource::Oidc => "PHALA_OIDC_TOKEN",
        _ => "another source",
    };
    match out.format {
        Format::Table => {
            outln!("{} ({})", safe(me.username()), safe(me.workspace_name()));
            eprintln!(
                "key: {source}{}; API {}",
                login
                    .profile
                    .as_deref()
                    .map(|p| format!(", profile {}", safe(p)))
                    .unwrap_or_default(),
                client.base_url()
            );
        }
        _ => out.json(&json!({
            "username": me.username(), "email": me.email(), "workspace": me.workspace_name(),
            "workspace_slug": me.workspace_slug(), "profile": login.profile, "api": client.base_url(),
        })),
    }
    Ok(Outcome::Done)
}

/// Links the working directory to a CVM (`phala.toml`).
pub async fn link(client: &Client, out: &Out, cvm: &str, login: &Login) -> Result<Outcome, Error> {
    let found = client.cvm(cvm).await?;
    let app = found
        .app_id()
        .ok_or_else(|| Error::InvalidInput(format!("{cvm} has no app id to link to")))?;
    let path = crate::project::link(app, found.name(), login.profile.as_deref())?;
    match out.format {
        Format::Table => outln!(
            "linked {} to {} (app {}): commands here take it when no CVM is named",
            path.display(),
            safe(found.name()),
            app
        ),
        _ => out.json(&json!({"path": path, "app_id": app, "name": found.name(), "profile": login.profile})),
    }
    Ok(Outcome::Done)
}

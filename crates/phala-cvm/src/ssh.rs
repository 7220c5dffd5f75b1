//! `ssh`: into a CVM through its dstack gateway, as Phala's CLI does:
//! `ssh -o ProxyCommand="openssl s_client -quiet -connect %h:%p" ...
//! root@<app id>-22.<gateway> -p <port>`. `--dry-run` prints the command.

use clap::Args as ClapArgs;
use phala_cloud::{Client, Error};

use crate::output::safe;
use crate::project::Project;
use crate::run::Outcome;

/// `ssh` flags.
#[derive(ClapArgs, Debug)]
pub struct SshArgs {
    /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
    pub cvm: Option<String>,
    /// The gateway port (default: phala.toml's gateway_port, the gateway's own, else 443).
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// The gateway domain (default: phala.toml's gateway_domain, else the CVM's).
    #[arg(short, long, value_name = "DOMAIN")]
    pub gateway: Option<String>,
    /// ssh's ConnectTimeout, in seconds.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub timeout: u32,
    /// ssh -v, and openssl's messages kept.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
    /// After `--`: ssh options, then a remote command.
    #[arg(last = true, value_name = "SSH_ARGS")]
    pub passthrough: Vec<String>,
}

/// ssh options that take a value (from ssh(1)).
const TAKES_VALUE: &str = "bcDEeFIiJLlmOoPpRSWw";

/// Splits what follows `--` into ssh options and the remote command, at
/// the first word that is neither an option nor an option's value.
fn split_passthrough(words: &[String]) -> Result<(Vec<String>, Vec<String>), Error> {
    let mut i = 0;
    while i < words.len() && words[i].starts_with('-') && words[i].len() > 1 {
        let w = &words[i];
        if w.to_ascii_lowercase().contains("proxycommand")
            || (w == "-o"
                && words
                    .get(i + 1)
                    .is_some_and(|v| v.to_ascii_lowercase().starts_with("proxycommand")))
        {
            return Err(Error::InvalidInput(
                "a ProxyCommand of your own would bypass the gateway's TLS: leave it out".into(),
            ));
        }
        let flag = w.chars().nth(1).unwrap_or(' ');
        i += if w.len() == 2 && TAKES_VALUE.contains(flag) {
            2
        } else {
            1
        };
    }
    let i = i.min(words.len());
    Ok((words[..i].to_vec(), words[i..].to_vec()))
}

/// A word as a POSIX shell reads it back.
fn shell_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_./:@=-".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The port: given, else the project's, else the one in the gateway
/// domain, else 443.
fn port_of(given: Option<u16>, project: Option<u16>, gateway: &str) -> Result<(String, u16), Error> {
    let (host, in_domain) = match gateway.rsplit_once(':') {
        Some((h, p)) => (
            h,
            Some(
                p.parse::<u16>()
                    .map_err(|_| Error::InvalidInput(format!("gateway {gateway:?}: the port is not a number")))?,
            ),
        ),
        None => (gateway, None),
    };
    Ok((host.to_string(), given.or(project).or(in_domain).unwrap_or(443)))
}

/// The ssh arguments for `app_id` through `gateway`.
pub fn ssh_command(app_id: &str, gateway: &str, port: u16, args: &SshArgs) -> Result<Vec<String>, Error> {
    let host_ok = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
    if !host_ok(app_id) || !host_ok(gateway) {
        return Err(Error::InvalidInput(format!(
            "cannot make an ssh host of app {} and gateway {}",
            safe(app_id),
            safe(gateway)
        )));
    }
    let (options, remote) = split_passthrough(&args.passthrough)?;
    let proxy = if args.verbose {
        "ProxyCommand=openssl s_client -quiet -connect %h:%p"
    } else {
        "ProxyCommand=openssl s_client -quiet -connect %h:%p 2>/dev/null"
    };
    let mut cmd: Vec<String> = Vec::new();
    if args.verbose {
        cmd.push("-v".into());
    }
    for o in [proxy, "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null"] {
        cmd.extend(["-o".to_string(), o.to_string()]);
    }
    cmd.extend(["-o".to_string(), format!("ConnectTimeout={}", args.timeout)]);
    cmd.extend(["-p".to_string(), port.to_string()]);
    cmd.extend(options);
    cmd.push(format!("root@{app_id}-22.{gateway}"));
    cmd.extend(remote);
    Ok(cmd)
}

/// Resolves the CVM's app and gateway, then runs (or prints) ssh.
pub async fn ssh(client: &Client, cvm: &str, args: &SshArgs) -> Result<Outcome, Error> {
    let project = Project::load()?;
    let project_gateway = project.as_ref().and_then(|p| p.gateway_domain.clone());
    let (app_id, gateway) = match args.gateway.clone().or(project_gateway) {
        // A gateway given outright: the CVM reference is the app id.
        Some(g) if cvm.starts_with("app_") || (cvm.len() == 40 && cvm.bytes().all(|b| b.is_ascii_hexdigit())) => {
            (cvm.trim_start_matches("app_").to_string(), g)
        }
        given => {
            let details = client.cvm(cvm).await?;
            if details.is_dev_os() == Some(false) {
                eprintln!(
                    "warning: {} runs a production OS image, which may not serve ssh",
                    safe(details.name())
                );
            }
            let app = details
                .app_id()
                .ok_or_else(|| Error::InvalidInput(format!("{} has no app id", safe(cvm))))?
                .trim_start_matches("app_")
                .to_string();
            let gateway = match given {
                Some(g) => g,
                None => details
                    .gateway_domain()
                    .map(str::to_string)
                    .ok_or_else(|| Error::InvalidInput(format!("{} names no gateway: give --gateway", safe(cvm))))?,
            };
            (app, gateway)
        }
    };
    let (host, port) = port_of(args.port, project.and_then(|p| p.gateway_port), &gateway)?;
    let command = ssh_command(&app_id, &host, port, args)?;
    if args.dry_run {
        let words: Vec<String> = command.iter().map(|w| shell_quote(w)).collect();
        outln!("ssh {}", words.join(" "));
        return Ok(Outcome::Done);
    }
    let status = std::process::Command::new("ssh")
        .args(&command)
        .status()
        .map_err(|e| Error::InvalidInput(format!("cannot run ssh: {e}")))?;
    match status.code() {
        Some(0) => Ok(Outcome::Done),
        Some(code) => std::process::exit(code),
        None => Err(Error::InvalidInput("ssh was killed by a signal".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(passthrough: &[&str]) -> SshArgs {
        SshArgs {
            cvm: None,
            port: None,
            gateway: None,
            timeout: 30,
            verbose: false,
            dry_run: true,
            passthrough: passthrough.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_command_is_phala_clis_and_passthrough_splits_at_the_remote_command() {
        let cmd = ssh_command(
            "abc",
            "gw.example.com",
            8443,
            &args(&["-L", "8080:localhost:80", "ls", "-la"]),
        )
        .unwrap();
        let line: Vec<String> = cmd.iter().map(|w| shell_quote(w)).collect();
        assert_eq!(
            line.join(" "),
            "-o 'ProxyCommand=openssl s_client -quiet -connect %h:%p 2>/dev/null' -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o ConnectTimeout=30 -p 8443 -L 8080:localhost:80 root@abc-22.gw.example.com ls -la"
        );
        assert!(ssh_command("abc", "gw", 443, &args(&["-o", "ProxyCommand=nc %h %p"])).is_err());
        assert!(ssh_command("abc", "gw;rm -rf /", 443, &args(&[])).is_err());
    }

    #[test]
    fn the_port_comes_from_the_flag_the_project_or_the_domain() {
        assert_eq!(port_of(None, None, "gw.x:8443").unwrap(), ("gw.x".into(), 8443));
        assert_eq!(port_of(Some(22), Some(1), "gw.x:8443").unwrap().1, 22);
        assert_eq!(port_of(None, Some(7), "gw.x").unwrap().1, 7);
        assert_eq!(port_of(None, None, "gw.x").unwrap().1, 443);
        assert!(port_of(None, None, "gw.x:nope").is_err());
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}

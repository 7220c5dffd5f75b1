//! Running a command: connect (or start the embedded simulator), dispatch
//! to the command's group, map the outcome to an exit code.

use std::process::ExitCode;
use std::time::Duration;

use phala_cloud::credentials::{Credentials, Login, LoginSources, resolve_login};
use phala_cloud::{Action, Client, Error, ListFilter, Secret};

use crate::cli::{Args, Command};
use crate::exit;
use crate::output::Out;
use crate::project::cvm_or_project;
use crate::{deploy, discovery, fleet, lifecycle, settings, waiting};

/// Time compression of the embedded simulator: a 12 s stop takes 0.4 s.
const SIM_TIME_SCALE: f64 = 30.0;

/// The outcome of a command: success, partial failure, or an error.
pub(crate) enum Outcome {
    Done,
    Partial,
}

pub async fn run(args: Args) -> ExitCode {
    let out = Out::new(args.output, args.progress);
    let result = match &args.command {
        // The credentials file alone: no key, no server.
        Command::Logout => crate::account::logout(&out, args.profile.as_deref()).map(|()| Outcome::Done),
        Command::Profiles { command } => crate::account::profiles(&out, command.as_ref()).map(|()| Outcome::Done),
        _ => connected(&args, &out).await,
    };
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(exit::PARTIAL),
        Err(e) => {
            out.error(&e);
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Usage and configuration mistakes exit 2, the API's and the network's 1.
fn exit_code(e: &Error) -> u8 {
    match e {
        Error::InvalidInput(_) | Error::Config(_) | Error::MissingEnv(_) => exit::USAGE,
        _ => exit::API,
    }
}

/// Runs a command that talks to the API (or the embedded simulator).
async fn connected(args: &Args, out: &Out) -> Result<Outcome, Error> {
    // `login` checks the key it is given, not the one stored.
    let login = match &args.command {
        Command::Login { key } => {
            let key = crate::account::key_to_store(key.as_deref(), args)?;
            Login::outright(key, args.base_url.clone())
        }
        _ => resolve(args)?,
    };
    let (client, sim, interval) = connect(args, &login).await?;
    let result = match &args.command {
        Command::Api(api) => {
            let code = crate::api::run(&client, api, out).await;
            if let Some(sim) = sim {
                sim.shutdown().await;
            }
            std::process::exit(i32::from(code));
        }
        Command::Login { .. } => {
            crate::account::login(&client, out, login.token.clone(), args.profile.as_deref()).await
        }
        Command::Whoami => crate::account::whoami(&client, out, &login).await,
        Command::Link { cvm } => crate::account::link(&client, out, cvm, &login).await,
        command => execute(&client, command, out, interval).await,
    };
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    result
}

/// The key to send, as Phala's CLI finds it: --api-key or
/// PHALA_CLOUD_API_KEY, the profile (--profile, PHALA_CLOUD_PROFILE, the
/// project's phala.toml, the current one), then PHALA_OIDC_TOKEN.
fn resolve(args: &Args) -> Result<Login, Error> {
    let mut sources = LoginSources::from_env_with(|k| std::env::var(k).ok());
    sources.api_key = args.api_key.clone().filter(|k| !k.trim().is_empty()).map(Secret::new);
    sources.profile = args.profile.clone().filter(|p| !p.trim().is_empty());
    sources.base_url = args.base_url.clone();
    let project = crate::project::Project::load()?;
    sources.project_profile = project.and_then(|p| p.profile);
    // The file is read only when a profile may be needed.
    let file = if sources.api_key.is_some() && sources.profile.is_none() && sources.project_profile.is_none() {
        None
    } else {
        Credentials::load(&crate::account::credentials_path()?)?
    };
    match resolve_login(&sources, file.as_ref()) {
        Err(Error::MissingEnv(_)) if args.simulate => Ok(Login::outright(Secret::new(""), None)),
        Err(Error::MissingEnv(_)) => Err(Error::InvalidInput(
            "no API key: set PHALA_CLOUD_API_KEY, pass --api-key, run `phala-cvm login`, or set PHALA_OIDC_TOKEN"
                .into(),
        )),
        other => other,
    }
}

/// The client, the embedded simulator if any, and the polling interval.
/// The simulator accepts the key resolved (so `login` then `whoami` work
/// against it), or its own when there is none.
async fn connect(args: &Args, login: &Login) -> Result<(Client, Option<phala_cloud_sim::SimHandle>, Duration), Error> {
    let mut builder = Client::builder().api_version(args.api_version.clone());
    let mut sim = None;
    let mut interval = Duration::from_secs(5);
    if args.simulate {
        let mut sim_builder = phala_cloud_sim::Simulator::builder()
            .cvms(args.sim_cvms)
            .apps((args.sim_cvms / 8).max(1))
            .seed(args.sim_seed)
            .time_scale(SIM_TIME_SCALE);
        if let Some(bytes) = args.sim_hostile_logs {
            sim_builder = sim_builder.hostile_logs(bytes);
        }
        if !login.token.expose().is_empty() {
            sim_builder = sim_builder.api_key(login.token.expose());
        }
        let handle = sim_builder.start().await.map_err(|e| Error::Transport {
            message: format!("cannot start the simulator: {e}"),
            connect: true,
            source: None,
        })?;
        builder = builder.base_url(handle.base_url()).api_key(handle.api_key());
        interval = interval.div_f64(SIM_TIME_SCALE);
        sim = Some(handle);
    } else {
        builder = builder.login(login);
    }
    if let Some(ws) = &args.workspace {
        builder = builder.workspace(ws.clone());
    }
    let client = builder.build()?;
    Ok((client, sim, interval))
}

async fn execute(client: &Client, command: &Command, out: &Out, interval: Duration) -> Result<Outcome, Error> {
    match command {
        Command::List {
            app,
            status,
            family,
            instance_types,
        } => {
            let mut filter = ListFilter::default().instance_types(instance_types.iter().cloned());
            if let Some(family) = family {
                filter = filter.family(*family);
            }
            fleet::list(client, out, app.as_deref(), status.as_deref(), &filter).await
        }
        Command::Logs(a) => crate::logs::logs(client, out, a).await,
        Command::Ps { cvm } => settings::ps(client, out, &cvm_or_project(cvm.as_deref())?).await,
        Command::Attestation { cvm } => settings::attestation(client, out, &cvm_or_project(cvm.as_deref())?).await,
        Command::Resize(r) => settings::resize(client, out, &cvm_or_project(r.cvm.as_deref())?, r).await,
        Command::Visibility(v) => settings::visibility(client, out, &cvm_or_project(v.cvm.as_deref())?, v).await,
        Command::RuntimeConfig { cvm } => settings::runtime_config(client, out, &cvm_or_project(cvm.as_deref())?).await,
        Command::Upgrade { cvm, image } => {
            settings::upgrade(client, out, &cvm_or_project(cvm.as_deref())?, image.as_deref()).await
        }
        Command::Ssh(a) => crate::ssh::ssh(client, &cvm_or_project(a.cvm.as_deref())?, a).await,
        Command::Nodes => discovery::nodes(client, out).await,
        Command::InstanceTypes { family } => discovery::instance_types(client, out, family.as_deref()).await,
        Command::OsImages => discovery::os_images(client, out).await,
        Command::Kms => discovery::kms(client, out).await,
        Command::Workspaces => discovery::workspaces(client, out).await,
        Command::Status { select } => fleet::status(client, out, select).await,
        Command::State {
            cvm_id,
            watch,
            target,
            timeout,
        } => match (watch, target) {
            (true, Some(t)) => fleet::watch_state(client, out, &cvm_or_project(cvm_id.as_deref())?, *t, *timeout).await,
            _ => fleet::state(client, out, &cvm_or_project(cvm_id.as_deref())?).await,
        },
        Command::Stop {
            ids,
            all,
            app,
            wait,
            timeout,
            yes,
        } => lifecycle::stop(client, out, ids, *all, app.as_deref(), *wait, *timeout, *yes, interval).await,
        Command::Get { cvm_id } => fleet::get(client, out, &cvm_or_project(cvm_id.as_deref())?).await,
        Command::History { cvm_id, since, types } => {
            fleet::history(client, out, &cvm_or_project(cvm_id.as_deref())?, *since, types).await
        }
        Command::Cancel { cvm_id } => fleet::cancel(client, out, &cvm_or_project(cvm_id.as_deref())?).await,
        // Answered in `main`, before any client exists.
        Command::Completions { .. } | Command::ComposeHash { .. } | Command::Env { .. } => Ok(Outcome::Done),
        // Answered before: in `run`, or in `connected`.
        Command::Api(_)
        | Command::Login { .. }
        | Command::Logout
        | Command::Profiles { .. }
        | Command::Whoami
        | Command::Link { .. } => Ok(Outcome::Done),
        Command::CommitUpdate {
            cvm_id,
            token,
            compose_hash,
            transaction_hash,
        } => crate::deploy::commit_update(client, out, cvm_id, token, compose_hash, transaction_hash)
            .await
            .map(|()| Outcome::Done),
        Command::Replicate { cvm_id, node } => {
            deploy::replicate(client, out, &cvm_or_project(cvm_id.as_deref())?, *node).await
        }
        Command::Update(update) => deploy::update(client, out, update, interval).await,
        Command::Deploy(spec) => deploy::deploy(client, out, spec).await,
        Command::Start { select, wait } => {
            lifecycle::lifecycle(client, out, Action::Start, select, wait, interval).await
        }
        Command::Shutdown { select, wait } => {
            lifecycle::lifecycle(client, out, Action::Shutdown, select, wait, interval).await
        }
        Command::Delete { select, wait } => {
            lifecycle::lifecycle(client, out, Action::Delete, select, wait, interval).await
        }
        Command::Restart {
            select,
            wait,
            force,
            rolling: true,
            max_unavailable,
        } => lifecycle::rolling(client, out, select, wait, *force, *max_unavailable, interval).await,
        Command::Restart {
            select, wait, force, ..
        } => lifecycle::lifecycle(client, out, Action::Restart { force: *force }, select, wait, interval).await,
        Command::Wait {
            select,
            target,
            timeout,
        } => {
            let uuids = crate::select::select_uuids(client, select).await?;
            let report = waiting::wait_for(client, out, &uuids, (*target).into(), *timeout, interval).await?;
            waiting::print_wait(out, &report);
            Ok(if report.all_reached() {
                Outcome::Done
            } else {
                Outcome::Partial
            })
        }
    }
}

//! Running a command: connect (or start the embedded simulator), dispatch
//! to the command's group, map the outcome to an exit code.

use std::process::ExitCode;
use std::time::Duration;

use phala_cloud::{Action, Client, Error, ListFilter};

use crate::cli::{Args, Command};
use crate::exit;
use crate::output::Out;
use crate::{deploy, fleet, lifecycle, waiting};

/// Time compression of the embedded simulator: a 12 s stop takes 0.4 s.
const SIM_TIME_SCALE: f64 = 30.0;

/// The outcome of a command: success, partial failure, or an error.
pub(crate) enum Outcome {
    Done,
    Partial,
}

pub async fn run(args: Args) -> ExitCode {
    let out = Out::new(args.output, args.progress);
    let (client, sim, interval) = match connect(&args).await {
        Ok(c) => c,
        Err((code, e)) => {
            out.error(&e);
            return ExitCode::from(code);
        }
    };
    let result = match &args.command {
        Command::Api(api) => {
            let code = crate::api::run(&client, api, &out).await;
            if let Some(sim) = sim {
                sim.shutdown().await;
            }
            return ExitCode::from(code);
        }
        command => execute(&client, command, &out, interval).await,
    };
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Partial) => ExitCode::from(exit::PARTIAL),
        Err(e) => {
            out.error(&e);
            let code = if matches!(e, Error::InvalidInput(_)) {
                exit::USAGE
            } else {
                exit::API
            };
            ExitCode::from(code)
        }
    }
}

/// The client, the embedded simulator if any, and the polling interval.
async fn connect(args: &Args) -> Result<(Client, Option<phala_cloud_sim::SimHandle>, Duration), (u8, Error)> {
    let mut builder = Client::builder().api_version(args.api_version.clone());
    let mut sim = None;
    let mut interval = Duration::from_secs(5);
    if args.simulate {
        let handle = phala_cloud_sim::Simulator::builder()
            .cvms(args.sim_cvms)
            .apps((args.sim_cvms / 8).max(1))
            .seed(args.sim_seed)
            .time_scale(SIM_TIME_SCALE)
            .start()
            .await
            .map_err(|e| (exit::API, Error::Config(format!("cannot start the simulator: {e}"))))?;
        builder = builder.base_url(handle.base_url()).api_key(handle.api_key());
        interval = interval.div_f64(SIM_TIME_SCALE);
        sim = Some(handle);
    } else {
        let key = args
            .api_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or((exit::USAGE, Error::MissingEnv("PHALA_CLOUD_API_KEY")))?;
        builder = builder.api_key(key);
        if let Some(url) = &args.base_url {
            builder = builder.base_url(url.clone());
        }
    }
    if let Some(ws) = &args.workspace {
        builder = builder.workspace(ws.clone());
    }
    let client = builder.build().map_err(|e| (exit::USAGE, e))?;
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
        Command::Status { select } => fleet::status(client, out, select).await,
        Command::State {
            cvm_id,
            watch,
            target,
            timeout,
        } => match (watch, target) {
            (true, Some(t)) => fleet::watch_state(client, out, cvm_id, *t, *timeout).await,
            _ => fleet::state(client, out, cvm_id).await,
        },
        Command::Stop {
            ids,
            all,
            app,
            wait,
            timeout,
            yes,
        } => lifecycle::stop(client, out, ids, *all, app.as_deref(), *wait, *timeout, *yes, interval).await,
        Command::Get { cvm_id } => fleet::get(client, out, cvm_id).await,
        Command::History { cvm_id, since, types } => fleet::history(client, out, cvm_id, *since, types).await,
        Command::Cancel { cvm_id } => fleet::cancel(client, out, cvm_id).await,
        // Answered in `main`, before any client exists.
        Command::Completions { .. } | Command::ComposeHash { .. } | Command::Env { .. } => Ok(Outcome::Done),
        // Answered in `run`.
        Command::Api(_) => Ok(Outcome::Done),
        Command::CommitUpdate {
            cvm_id,
            token,
            compose_hash,
            transaction_hash,
        } => crate::deploy::commit_update(client, out, cvm_id, token, compose_hash, transaction_hash)
            .await
            .map(|()| Outcome::Done),
        Command::Replicate { cvm_id, node } => deploy::replicate(client, out, cvm_id, *node).await,
        Command::Update(update) => deploy::update(client, out, update, interval).await,
        Command::Deploy(spec) => deploy::deploy(client, out, spec).await.map(|()| Outcome::Done),
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

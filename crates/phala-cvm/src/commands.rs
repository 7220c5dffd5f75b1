//! What each command does, on top of the facade.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use phala_cloud::{
    Action, ActionReport, Client, Condition, Cvm, CvmRef, Error, KnownStatus, ListFilter, OperationsFilter,
    RollingOptions, RollingReport, StateEvent, StopReport, WaitAllOptions, WaitOutcome, WaitReport, WatchOptions,
};
use serde_json::json;

use crate::cli::{Args, Command, CvmSelect, Format, UuidSelect, WaitFlags};
use crate::exit;
use crate::output::Out;

/// Time compression of the embedded simulator: a 12 s stop takes 0.4 s.
const SIM_TIME_SCALE: f64 = 30.0;

/// The outcome of a command: success, partial failure, or an error.
enum Outcome {
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
            list(client, out, app.as_deref(), status.as_deref(), &filter).await
        }
        Command::Status { select } => status(client, out, select).await,
        Command::State {
            cvm_id,
            watch,
            target,
            timeout,
        } => match (watch, target) {
            (true, Some(t)) => watch_state(client, out, cvm_id, *t, *timeout).await,
            _ => state(client, out, cvm_id).await,
        },
        Command::Stop {
            ids,
            all,
            app,
            wait,
            timeout,
            yes,
        } => stop(client, out, ids, *all, app.as_deref(), *wait, *timeout, *yes, interval).await,
        Command::Get { cvm_id } => get(client, out, cvm_id).await,
        Command::History { cvm_id, since, types } => history(client, out, cvm_id, *since, types).await,
        Command::Cancel { cvm_id } => cancel(client, out, cvm_id).await,
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
        Command::Replicate { cvm_id, node } => {
            let done = client.replicate(cvm_id, *node).await?;
            match out.format {
                Format::Table => outln!(
                    "replicated {cvm_id} as {} ({}) on node {}, compose hash {} (the source's and the replica's copy match it)",
                    done.cvm.id.to_text(),
                    done.cvm.vm_uuid.as_deref().unwrap_or("-"),
                    done.cvm.teepod.as_ref().map_or("-", |n| n.name.as_str()),
                    done.compose_hash
                ),
                _ => out.json(&json!({"cvm": done.cvm, "compose_hash": done.compose_hash})),
            }
            Ok(Outcome::Done)
        }
        Command::Update {
            select,
            wait,
            compose,
            env_file,
            name,
            kms_signer,
            trust_unverified_env_key,
            rolling,
            max_unavailable,
        } => {
            let (targets, _) = select_cvms(client, "update", select, false).await?;
            let how = crate::deploy::UpdateHow {
                compose: compose.as_deref(),
                env_file: env_file.as_deref(),
                name: name.as_deref(),
                kms_signer: kms_signer.as_deref(),
                trust_unverified: *trust_unverified_env_key,
            };
            let spec = crate::deploy::update_spec(client, &targets, &how).await?;
            if *rolling || targets.len() > 1 {
                let opts = RollingOptions::default()
                    .max_unavailable(*max_unavailable)
                    .batch_timeout(Duration::from_secs(wait.timeout))
                    .wait(WaitAllOptions::default().interval(interval));
                let lines = out.progress;
                let report = client
                    .rolling_update(&targets, &spec, &opts, |p| {
                        if lines {
                            eprintln!(
                                "rolling update: batch {}/{}: {} updated, {} failed, {} to go ({:.1?})",
                                p.batch, p.batches, p.restarted, p.failed, p.remaining, p.elapsed
                            );
                        }
                    })
                    .await?;
                print_rolling(out, "rolling update", &report);
                Ok(if report.is_complete_success() {
                    Outcome::Done
                } else {
                    Outcome::Partial
                })
            } else {
                let spec = if wait.wait {
                    spec.wait(Duration::from_secs(wait.timeout))
                } else {
                    spec
                };
                Ok(if crate::deploy::update_one(client, out, &targets[0], &spec).await? {
                    Outcome::Done
                } else {
                    Outcome::Partial
                })
            }
        }
        Command::Deploy {
            compose,
            env_file,
            name,
            instance_type,
            kms_signer,
            trust_unverified_env_key,
            wait,
            timeout,
        } => crate::deploy::deploy(
            client,
            out,
            compose,
            env_file.as_deref(),
            name.as_deref(),
            instance_type.as_deref(),
            kms_signer.as_deref(),
            *trust_unverified_env_key,
            wait.then(|| Duration::from_secs(*timeout)),
        )
        .await
        .map(|()| Outcome::Done),
        Command::Start { select, wait } => lifecycle(client, out, Action::Start, select, wait, interval).await,
        Command::Shutdown { select, wait } => lifecycle(client, out, Action::Shutdown, select, wait, interval).await,
        Command::Delete { select, wait } => lifecycle(client, out, Action::Delete, select, wait, interval).await,
        Command::Restart {
            select,
            wait,
            force,
            rolling: true,
            max_unavailable,
        } => rolling(client, out, select, wait, *force, *max_unavailable, interval).await,
        Command::Restart {
            select, wait, force, ..
        } => lifecycle(client, out, Action::Restart { force: *force }, select, wait, interval).await,
        Command::Wait {
            select,
            target,
            timeout,
        } => {
            let uuids = select_uuids(client, select).await?;
            let report = wait_for(client, out, &uuids, (*target).into(), *timeout, interval).await?;
            print_wait(out, &report);
            Ok(if report.all_reached() {
                Outcome::Done
            } else {
                Outcome::Partial
            })
        }
    }
}

fn cvm_json(c: &Cvm) -> serde_json::Value {
    json!({"id": c.id(), "vm_uuid": c.vm_uuid(), "name": c.name(), "app_id": c.app_id(), "status": c.status().as_str(), "in_progress": c.in_progress(), "node": c.node(), "vcpu": c.vcpu(), "memory_mb": c.memory_mb()})
}

fn dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

/// Column widths of a streamed list: rows print as pages arrive, before
/// the widest cell is known.
const LIST_COLUMNS: [(&str, usize); 6] = [
    ("ID", 13),
    ("NAME", 20),
    ("STATUS", 9),
    ("VM_UUID", 36),
    ("APP", 12),
    ("NODE", 0),
];

fn list_row(out: &Out, c: &Cvm) -> Vec<String> {
    let status = if c.in_progress() {
        format!("{}*", out.status(c.status().as_str()))
    } else {
        out.status(c.status().as_str())
    };
    let app: Option<String> = c.app_id().map(|a| a.chars().take(12).collect());
    vec![
        dash(c.id().as_deref()),
        c.name().to_string(),
        status,
        dash(c.vm_uuid()),
        dash(app.as_deref()),
        dash(c.node()),
    ]
}

/// Lists CVMs as the pages arrive: a row (or a JSON line) per CVM at once;
/// `-o json` collects them into one document.
async fn list(
    client: &Client,
    out: &Out,
    app: Option<&str>,
    status: Option<&str>,
    filter: &ListFilter,
) -> Result<Outcome, Error> {
    let cvms = match app {
        // An app's replicas come in one answer (the API pages only the fleet).
        Some(app) => futures::stream::iter(client.app_cvms(app).await?.into_iter().map(Ok)).left_stream(),
        None => client.cvms(filter).right_stream(),
    };
    let mut cvms = std::pin::pin!(cvms);
    let (widths, header): (Vec<usize>, Vec<String>) = LIST_COLUMNS.iter().map(|(h, w)| (*w, h.to_string())).unzip();
    if out.format == Format::Table {
        out.row(&widths, &header);
    }
    let (mut shown, mut collected) = (0usize, Vec::new());
    while let Some(cvm) = cvms.next().await {
        let cvm = cvm?;
        if status.is_some_and(|s| cvm.status().as_str() != s) {
            continue;
        }
        shown += 1;
        match out.format {
            Format::Table => out.row(&widths, &list_row(out, &cvm)),
            Format::Jsonl => out.json(&cvm_json(&cvm)),
            Format::Json => collected.push(cvm_json(&cvm)),
        }
    }
    match out.format {
        Format::Json => out.json(&collected),
        Format::Table => eprintln!("{shown} CVMs"),
        Format::Jsonl => {}
    }
    Ok(Outcome::Done)
}

async fn history(
    client: &Client,
    out: &Out,
    id: &str,
    since: Option<chrono::DateTime<chrono::Utc>>,
    types: &[String],
) -> Result<Outcome, Error> {
    let mut filter = OperationsFilter::default();
    if let Some(t) = since {
        filter = filter.since(t);
    }
    for t in types {
        filter = filter.of_type(t.clone());
    }
    let mut ops = std::pin::pin!(client.operations(id, &filter));
    let widths = [24, 10, 11, 10, 0];
    if out.format == Format::Table {
        let header = ["STARTED", "TYPE", "STATUS", "DURATION", "CORRELATION_ID"].map(String::from);
        out.row(&widths, &header);
    }
    let (mut shown, mut collected) = (0usize, Vec::new());
    while let Some(op) = ops.next().await {
        let op = op?;
        shown += 1;
        match out.format {
            Format::Table => {
                let duration = op.duration_ms.map(|ms| format!("{:.1}s", ms as f64 / 1000.0));
                let status = match &op.error_message {
                    Some(why) if op.status == "failed" => format!("failed ({why})"),
                    _ => op.status.clone(),
                };
                let row = [
                    op.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    op.operation_type.clone(),
                    status,
                    dash(duration.as_deref()),
                    op.correlation_id.clone(),
                ];
                out.row(&widths, &row);
            }
            Format::Jsonl => out.json(&op),
            Format::Json => collected.push(op),
        }
    }
    match out.format {
        Format::Json => out.json(&collected),
        Format::Table => eprintln!("{shown} operations"),
        Format::Jsonl => {}
    }
    Ok(Outcome::Done)
}

async fn cancel(client: &Client, out: &Out, id: &str) -> Result<Outcome, Error> {
    let answer = client.cancel_operation(id).await?;
    match out.format {
        Format::Table => match &answer.correlation_id {
            Some(op) if answer.cancelled => outln!("cancelled {op}"),
            _ => outln!("nothing to cancel: no operation in flight"),
        },
        _ => out.json(&answer),
    }
    Ok(Outcome::Done)
}

async fn select_uuids(client: &Client, select: &UuidSelect) -> Result<Vec<String>, Error> {
    if select.all {
        let cvms = client.list_cvms(&ListFilter::default()).await?;
        return Ok(cvms.iter().filter_map(|c| c.vm_uuid().map(str::to_string)).collect());
    }
    Ok(select.uuids.clone())
}

async fn status(client: &Client, out: &Out, select: &UuidSelect) -> Result<Outcome, Error> {
    let uuids = select_uuids(client, select).await?;
    let map = client.status_many(&uuids).await?;
    // A VM UUID the server does not know is absent from its answer (other
    // references that name nothing failed the call already).
    let missing: Vec<&String> = uuids
        .iter()
        .filter(|u| matches!(CvmRef::parse(u), CvmRef::Uuid(_)) && !map.contains_key(u))
        .collect();
    match out.format {
        Format::Json | Format::Jsonl => out.json(&json!({"statuses": map, "not_found": missing})),
        Format::Table => {
            let rows: Vec<Vec<String>> = map
                .values()
                .map(|s| {
                    let op = s.current_operation().and_then(|o| o.type_).unwrap_or_default();
                    let progress = s
                        .shutdown_progress
                        .clone()
                        .or(s.boot_progress.clone())
                        .unwrap_or_default();
                    vec![
                        s.vm_uuid.clone(),
                        out.status(s.status.as_str()),
                        if s.is_in_progress() {
                            format!("{op} {progress}").trim().to_string()
                        } else {
                            "-".into()
                        },
                        dash(s.uptime.as_deref()),
                    ]
                })
                .collect();
            out.table(&["VM_UUID", "STATUS", "IN PROGRESS", "UPTIME"], &rows);
            for m in &missing {
                eprintln!("not found: {m}");
            }
        }
    }
    Ok(if missing.is_empty() {
        Outcome::Done
    } else {
        Outcome::Partial
    })
}

async fn state(client: &Client, out: &Out, id: &str) -> Result<Outcome, Error> {
    let s = client.cvm_state(id).await?;
    match out.format {
        Format::Json | Format::Jsonl => out.json(&s),
        Format::Table => {
            let rows = vec![
                vec!["name".into(), dash(s.name.as_deref())],
                vec!["status".into(), out.status(s.status.as_str())],
                vec!["derived".into(), dash(s.derived_status.as_ref().map(|d| d.as_str()))],
                vec!["uptime".into(), dash(s.uptime.as_deref())],
                vec!["instance".into(), dash(s.instance_id.as_deref())],
            ];
            out.table(&["FIELD", "VALUE"], &rows);
        }
    }
    Ok(Outcome::Done)
}

async fn watch_state(
    client: &Client,
    out: &Out,
    id: &str,
    target: KnownStatus,
    timeout: u64,
) -> Result<Outcome, Error> {
    let mut events = std::pin::pin!(client.watch_state(
        id,
        target,
        WatchOptions::default().deadline(Duration::from_secs(timeout))
    ));
    while let Some(event) = events.next().await {
        let event = match event {
            Err(Error::Deadline { .. }) => {
                eprintln!("{id} did not reach {target} within {timeout}s");
                return Ok(Outcome::Partial);
            }
            other => other?,
        };
        let (name, data, line) = match &event {
            StateEvent::State(s) => (
                "state",
                serde_json::to_value(s).unwrap_or_default(),
                format!("state     {}", out.status(s.status.as_str())),
            ),
            StateEvent::Complete { status, elapsed, .. } => (
                "complete",
                json!({"status": status.as_str(), "elapsed": elapsed.as_secs_f64()}),
                format!(
                    "complete  {} after {:.1}s",
                    out.status(status.as_str()),
                    elapsed.as_secs_f64()
                ),
            ),
            StateEvent::Timeout { elapsed, .. } => (
                "timeout",
                json!({"elapsed": elapsed.as_secs_f64()}),
                format!(
                    "timeout   server wait ended after {:.1}s; reconnecting",
                    elapsed.as_secs_f64()
                ),
            ),
            StateEvent::Error { error, message } => (
                "error",
                json!({"error": error, "message": message}),
                format!("error     {error}: {message}"),
            ),
            _ => continue,
        };
        match out.format {
            Format::Json | Format::Jsonl => outln!("{}", json!({"event": name, "data": data})),
            Format::Table => outln!("{line}"),
        }
        match event {
            StateEvent::Complete { .. } => return Ok(Outcome::Done),
            StateEvent::Error { .. } => return Ok(Outcome::Partial),
            _ => {}
        }
    }
    Ok(Outcome::Partial)
}

/// Asks on a terminal; refuses in a script.
fn confirm(verb: &str, n: usize, what: &str) -> Result<(), Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::InvalidInput(format!(
            "refusing to {verb} {n} CVMs ({what}) without --yes: not a terminal"
        )));
    }
    let warning = if verb == "delete" {
        " This cannot be undone."
    } else {
        ""
    };
    let mut title = verb.to_string();
    title[..1].make_ascii_uppercase();
    eprint!("{title} {n} CVMs ({what})?{warning} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(Error::InvalidInput("aborted".into()))
    }
}

#[allow(clippy::too_many_arguments)]
async fn stop(
    client: &Client,
    out: &Out,
    ids: &[String],
    all: bool,
    app: Option<&str>,
    wait: bool,
    timeout: u64,
    yes: bool,
    interval: Duration,
) -> Result<Outcome, Error> {
    let bulk = all || app.is_some();
    // The whole workspace or app: its CVMs by hashed id (one listing); else
    // the references as given (the facade resolves what is not a hashed id).
    let targets: Vec<String> = if bulk {
        let cvms = match app {
            Some(app) => client.app_cvms(app).await?,
            None => client.list_cvms(&ListFilter::default()).await?,
        };
        cvms.iter().filter_map(|c| c.id()).collect()
    } else {
        ids.to_vec()
    };
    if bulk && !yes {
        confirm(
            "stop",
            targets.len(),
            if all { "the whole workspace" } else { "the app" },
        )?;
    }
    let (report, waited) = if wait {
        let (bar, lines) = (progress_bar(out, targets.len() as u64, ""), out.progress);
        let opts = WaitAllOptions::default().interval(interval);
        let (report, waited) = client
            .stop_and_wait(&targets, Duration::from_secs(timeout), opts, |p| {
                show_progress(bar.as_ref(), lines, &Condition::Status(KnownStatus::Stopped), p)
            })
            .await?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        (report, Some(waited))
    } else {
        (client.stop_many(&targets).await, None)
    };
    print_stop(out, &report, waited.as_ref());
    let ok = report.is_complete_success() && waited.as_ref().is_none_or(WaitReport::all_reached);
    Ok(if ok { Outcome::Done } else { Outcome::Partial })
}

fn progress_bar(out: &Out, len: u64, msg: &'static str) -> Option<ProgressBar> {
    if !out.progress || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(msg);
    Some(bar)
}

async fn wait_for(
    client: &Client,
    out: &Out,
    uuids: &[String],
    target: Condition,
    timeout: u64,
    interval: Duration,
) -> Result<WaitReport, Error> {
    let bar = progress_bar(out, uuids.len() as u64, "");
    let lines = out.progress && bar.is_none();
    let opts = WaitAllOptions::default().interval(interval);
    let report = client
        .wait_all(uuids, target.clone(), Duration::from_secs(timeout), opts, |p| {
            show_progress(bar.as_ref(), lines, &target, p)
        })
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(report)
}

fn show_progress(bar: Option<&ProgressBar>, lines: bool, target: &Condition, p: &phala_cloud::WaitProgress) {
    if let Some(bar) = bar {
        bar.set_position((p.reached + p.failed) as u64);
        bar.set_message(format!(
            "wait {target}: {} reached, {} pending, {} failed",
            p.reached, p.pending, p.failed
        ));
    } else if lines {
        eprintln!(
            "wait {target}: round {}: {} reached, {} pending, {} failed ({:.1?})",
            p.round, p.reached, p.pending, p.failed, p.elapsed
        );
    }
}

fn outcome_text(o: &WaitOutcome) -> String {
    match o {
        WaitOutcome::Reached => "reached".into(),
        WaitOutcome::Failed { status } => format!("failed ({status})"),
        WaitOutcome::NotFound => "not found".into(),
        WaitOutcome::TimedOut { status } => format!("timed out ({})", status.as_deref().unwrap_or("unknown")),
        _ => "unknown".into(),
    }
}

fn wait_json(r: &WaitReport) -> serde_json::Value {
    json!({
        "target": r.target, "all_reached": r.all_reached(), "rounds": r.rounds, "elapsed_secs": r.elapsed.as_secs_f64(),
        "reached": r.count(|o| *o == WaitOutcome::Reached),
        "not_reached": r.outcomes.iter().filter(|(_, o)| **o != WaitOutcome::Reached).map(|(id, o)| json!({"vm_uuid": id, "outcome": o})).collect::<Vec<_>>(),
    })
}

fn print_wait(out: &Out, r: &WaitReport) {
    match out.format {
        Format::Json | Format::Jsonl => out.json(&wait_json(r)),
        Format::Table => print_wait_table(out, r),
    }
}

fn print_wait_table(out: &Out, r: &WaitReport) {
    let reached = r.count(|o| *o == WaitOutcome::Reached);
    outln!(
        "wait: {reached}/{} reached {} in {:.1?} ({} rounds)",
        r.outcomes.len(),
        out.status(&r.target),
        r.elapsed,
        r.rounds
    );
    let rows: Vec<Vec<String>> = r
        .outcomes
        .iter()
        .filter(|(_, o)| **o != WaitOutcome::Reached)
        .map(|(id, o)| vec![id.clone(), outcome_text(o)])
        .collect();
    if !rows.is_empty() {
        out.table(&["VM_UUID", "OUTCOME"], &rows);
    }
}

fn print_stop(out: &Out, report: &StopReport, waited: Option<&WaitReport>) {
    match out.format {
        Format::Json | Format::Jsonl => out.json(&json!({"stop": report, "wait": waited.map(wait_json)})),
        Format::Table => {
            outln!(
                "stop: {} requested, {} scheduled, {} skipped, {} errors, {} failed ({} requests{})",
                report.total,
                report.stopped,
                report.skipped,
                report.errors.len(),
                report.failed.len(),
                report.requests,
                if report.resent > 0 {
                    format!(", {} sent again once idle", report.resent)
                } else {
                    String::new()
                }
            );
            let rows: Vec<Vec<String>> = report
                .errors
                .iter()
                .map(|e| vec![e.cvm_id.clone(), e.error.clone()])
                .chain(
                    report
                        .failed
                        .iter()
                        .map(|f| vec![f.cvm_id.clone(), f.error.to_string()]),
                )
                .collect();
            if !rows.is_empty() {
                out.table(&["CVM_ID", "ERROR"], &rows);
            }
            if let Some(w) = waited {
                print_wait_table(out, w);
            }
        }
    }
}

async fn get(client: &Client, out: &Out, id: &str) -> Result<Outcome, Error> {
    let cvm = client.cvm(id).await?;
    match out.format {
        Format::Json | Format::Jsonl => out.json(&cvm),
        Format::Table => {
            let status = if cvm.in_progress() {
                format!("{} (operation in progress)", out.status(cvm.status().as_str()))
            } else {
                out.status(cvm.status().as_str())
            };
            let rows = vec![
                vec!["id".into(), cvm.id()],
                vec!["name".into(), cvm.name().to_string()],
                vec!["status".into(), status],
                vec!["vm_uuid".into(), dash(cvm.vm_uuid())],
                vec!["app_id".into(), dash(cvm.app_id())],
                vec!["instance".into(), dash(cvm.instance_id())],
                vec!["node".into(), dash(cvm.node())],
                vec!["vcpu".into(), dash(cvm.vcpu().map(|v| v.to_string()).as_deref())],
                vec![
                    "memory_mb".into(),
                    dash(cvm.memory_mb().map(|v| v.to_string()).as_deref()),
                ],
            ];
            out.table(&["FIELD", "VALUE"], &rows);
        }
    }
    Ok(Outcome::Done)
}

/// The CVMs a lifecycle command acts on: the ids given, or every CVM of
/// the workspace or app (after confirmation); and the VM UUIDs the list
/// knows for them, for waiting.
async fn select_cvms(
    client: &Client,
    verb: &str,
    select: &CvmSelect,
    need_uuids: bool,
) -> Result<(Vec<String>, BTreeMap<String, String>), Error> {
    let bulk = select.all || select.app.is_some();
    let listed: Vec<Cvm> = match (&select.app, bulk || need_uuids) {
        (Some(app), _) => client.app_cvms(app).await?,
        (None, true) => client.list_cvms(&ListFilter::default()).await?,
        (None, false) => Vec::new(),
    };
    let key = |c: &Cvm| c.id().or_else(|| c.vm_uuid().map(str::to_string));
    let uuid_of: BTreeMap<String, String> = listed
        .iter()
        .filter_map(|c| Some((key(c)?, c.vm_uuid()?.to_string())))
        .collect();
    let targets: Vec<String> = if bulk {
        listed.iter().filter_map(key).collect()
    } else {
        select.ids.clone()
    };
    let scope = match (&select.app, select.all) {
        (Some(_), _) => "every replica of the app",
        (None, true) => "the whole workspace",
        (None, false) => "as given",
    };
    if !select.yes && (bulk || verb == "delete") {
        confirm(verb, targets.len(), scope)?;
    }
    Ok((targets, uuid_of))
}

/// start, shutdown, restart (all at once) and delete.
async fn lifecycle(
    client: &Client,
    out: &Out,
    action: Action,
    select: &CvmSelect,
    wait: &WaitFlags,
    interval: Duration,
) -> Result<Outcome, Error> {
    let is_delete = action == Action::Delete;
    let (targets, mut uuid_of) = select_cvms(client, action.name(), select, wait.wait && is_delete).await?;
    let report = client.act_many(&targets, action).await;
    let waited = if wait.wait {
        // Start, shutdown and restart answer with the record, VM UUID included.
        for done in &report.done {
            if let Some(uuid) = done.cvm.as_ref().and_then(|vm| vm.vm_uuid.clone()) {
                uuid_of.insert(done.id.clone(), uuid);
            }
        }
        let uuids: Vec<String> = report.done.iter().filter_map(|d| uuid_of.get(&d.id).cloned()).collect();
        let target = match action {
            Action::Shutdown => Condition::Status(KnownStatus::Stopped),
            // A deleted CVM leaves the batch status answer.
            Action::Delete => Condition::Gone,
            _ => Condition::Status(KnownStatus::Running),
        };
        Some(wait_for(client, out, &uuids, target, wait.timeout, interval).await?)
    } else {
        None
    };
    print_action(out, &report, waited.as_ref());
    let ok = report.is_complete_success() && waited.as_ref().is_none_or(WaitReport::all_reached);
    Ok(if ok { Outcome::Done } else { Outcome::Partial })
}

async fn rolling(
    client: &Client,
    out: &Out,
    select: &CvmSelect,
    wait: &WaitFlags,
    force: bool,
    max_unavailable: usize,
    interval: Duration,
) -> Result<Outcome, Error> {
    let opts = RollingOptions::default()
        .max_unavailable(max_unavailable)
        .force(force)
        .batch_timeout(Duration::from_secs(wait.timeout))
        .wait(WaitAllOptions::default().interval(interval));
    opts.validate()?;
    let (targets, _) = select_cvms(client, "restart", select, false).await?;
    let lines = out.progress;
    let report = client
        .rolling_restart(&targets, &opts, |p| {
            if lines {
                eprintln!(
                    "rolling restart: batch {}/{}: {} restarted, {} failed, {} to go ({:.1?})",
                    p.batch, p.batches, p.restarted, p.failed, p.remaining, p.elapsed
                );
            }
        })
        .await?;
    print_rolling(out, "rolling restart", &report);
    Ok(if report.is_complete_success() {
        Outcome::Done
    } else {
        Outcome::Partial
    })
}

fn failure_rows(failed: &[phala_cloud::ActionFailure]) -> Vec<Vec<String>> {
    failed
        .iter()
        .map(|f| {
            let note = match (f.in_progress, f.may_have_applied) {
                (true, _) => " [busy]",
                (_, true) => " [may have been applied]",
                _ => "",
            };
            vec![f.id.clone(), format!("{}{note}", f.error)]
        })
        .collect()
}

fn print_action(out: &Out, report: &ActionReport, waited: Option<&WaitReport>) {
    match out.format {
        Format::Json | Format::Jsonl => out.json(&json!({"result": report, "wait": waited.map(wait_json)})),
        Format::Table => {
            outln!(
                "{}: {} requested, {} accepted, {} failed",
                report.action,
                report.total,
                report.done.len(),
                report.failed.len()
            );
            let rows = failure_rows(&report.failed);
            if !rows.is_empty() {
                out.table(&["CVM_ID", "ERROR"], &rows);
            }
            if let Some(w) = waited {
                print_wait_table(out, w);
            }
        }
    }
}

fn print_rolling(out: &Out, what: &str, report: &RollingReport) {
    match out.format {
        Format::Json | Format::Jsonl => out.json(&json!({ what.replace(' ', "_"): report })),
        Format::Table => {
            outln!(
                "{what}: {} requested, {} {}, {} failed, {} untouched ({} batches, {:.1?})",
                report.total,
                report.restarted.len(),
                if what.ends_with("update") {
                    "updated"
                } else {
                    "restarted"
                },
                report.failed.len(),
                report.untouched.len(),
                report.batches,
                report.elapsed
            );
            let rows = failure_rows(&report.failed);
            if !rows.is_empty() {
                out.table(&["CVM_ID", "ERROR"], &rows);
            }
            if !report.untouched.is_empty() {
                outln!("untouched: {}", report.untouched.join(" "));
            }
        }
    }
}

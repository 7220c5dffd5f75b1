//! Acting on CVMs: stop, start, shutdown, restart (rolling too), delete,
//! each optionally waiting for the state it leads to.

use std::time::Duration;

use phala_cloud::{
    Action, ActionReport, Client, Condition, Error, KnownStatus, ListFilter, RollingOptions, RollingReport, StopReport,
    WaitAllOptions, WaitReport,
};
use serde_json::json;

use crate::cli::{CvmSelect, Format, WaitFlags};
use crate::output::Out;
use crate::run::Outcome;
use crate::select::{confirm, select_cvms};
use crate::waiting::{print_wait_table, progress_bar, show_progress, wait_for, wait_json};

#[allow(clippy::too_many_arguments)]
pub(crate) async fn stop(
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

pub(crate) fn print_stop(out: &Out, report: &StopReport, waited: Option<&WaitReport>) {
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

/// start, shutdown, restart (all at once) and delete.
pub(crate) async fn lifecycle(
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

pub(crate) async fn rolling(
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

pub(crate) fn failure_rows(failed: &[phala_cloud::ActionFailure]) -> Vec<Vec<String>> {
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

pub(crate) fn print_action(out: &Out, report: &ActionReport, waited: Option<&WaitReport>) {
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

pub(crate) fn print_rolling(out: &Out, what: &str, report: &RollingReport) {
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

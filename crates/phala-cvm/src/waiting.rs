//! Waiting for many CVMs: progress on stderr, the report as a table or
//! JSON.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use phala_cloud::{Client, Condition, Error, WaitAllOptions, WaitOutcome, WaitReport};
use serde_json::json;

use crate::cli::Format;
use crate::output::Out;

pub(crate) fn progress_bar(out: &Out, len: u64, msg: &'static str) -> Option<ProgressBar> {
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

pub(crate) async fn wait_for(
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

pub(crate) fn show_progress(bar: Option<&ProgressBar>, lines: bool, target: &Condition, p: &phala_cloud::WaitProgress) {
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

pub(crate) fn outcome_text(o: &WaitOutcome) -> String {
    match o {
        WaitOutcome::Reached => "reached".into(),
        WaitOutcome::Failed { status } => format!("failed ({status})"),
        WaitOutcome::NotFound => "not found".into(),
        WaitOutcome::TimedOut { status } => format!("timed out ({})", status.as_deref().unwrap_or("unknown")),
        _ => "unknown".into(),
    }
}

pub(crate) fn wait_json(r: &WaitReport) -> serde_json::Value {
    json!({
        "target": r.target, "all_reached": r.all_reached(), "rounds": r.rounds, "elapsed_secs": r.elapsed.as_secs_f64(),
        "reached": r.count(|o| *o == WaitOutcome::Reached),
        "not_reached": r.outcomes.iter().filter(|(_, o)| **o != WaitOutcome::Reached).map(|(id, o)| json!({"vm_uuid": id, "outcome": o})).collect::<Vec<_>>(),
    })
}

pub(crate) fn print_wait(out: &Out, r: &WaitReport) {
    match out.format {
        Format::Json | Format::Jsonl => out.json(&wait_json(r)),
        Format::Table => print_wait_table(out, r),
    }
}

pub(crate) fn print_wait_table(out: &Out, r: &WaitReport) {
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

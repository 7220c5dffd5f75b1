//! Reading the fleet: list, get, status, state (and its watch), history,
//! cancel.

use std::time::Duration;

use futures::StreamExt;
use phala_cloud::{Client, Cvm, CvmRef, Error, KnownStatus, ListFilter, OperationsFilter, StateEvent, WatchOptions};
use serde_json::json;

use crate::cli::{Format, UuidSelect};
use crate::output::{Out, dash};
use crate::run::Outcome;
use crate::select::select_uuids;

pub(crate) fn cvm_json(c: &Cvm) -> serde_json::Value {
    json!({"id": c.id(), "vm_uuid": c.vm_uuid(), "name": c.name(), "app_id": c.app_id(), "status": c.status().as_str(), "in_progress": c.in_progress(), "node": c.node(), "vcpu": c.vcpu(), "memory_mb": c.memory_mb()})
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
pub(crate) async fn list(
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

pub(crate) async fn history(
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

pub(crate) async fn cancel(client: &Client, out: &Out, id: &str) -> Result<Outcome, Error> {
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

pub(crate) async fn status(client: &Client, out: &Out, select: &UuidSelect) -> Result<Outcome, Error> {
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

pub(crate) async fn state(client: &Client, out: &Out, id: &str) -> Result<Outcome, Error> {
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

pub(crate) async fn watch_state(
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

pub(crate) async fn get(client: &Client, out: &Out, id: &str) -> Result<Outcome, Error> {
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

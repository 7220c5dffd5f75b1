//! `nodes`, `instance-types`, `os-images`, `kms` and `workspaces`: what a
//! deploy can choose from and where a key may act, as tables (or JSON).

use futures::TryStreamExt;
use phala_cloud::{Client, Error, KmsListed};
use serde_json::{Value, json};

use crate::cli::Format;
use crate::output::{Out, dash};
use crate::run::Outcome;

/// Prints `rows` as a table, or `json` for scripts.
fn show(out: &Out, header: &[&str], rows: Vec<Vec<String>>, json: &impl serde::Serialize) -> Outcome {
    match out.format {
        Format::Table => out.table(header, &rows),
        _ => out.json(json),
    }
    Outcome::Done
}

/// A number as the API sends capacity (floats that are whole).
fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n:.1}")
    }
}

/// The nodes this workspace may deploy to, with what is left on each.
pub async fn nodes(client: &Client, out: &Out) -> Result<Outcome, Error> {
    let answer = client.available_nodes().await?;
    let rows = answer
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.teepod_id.to_string(),
                n.name.clone(),
                dash(n.region_identifier.as_deref()),
                num(n.remaining_vcpu),
                num(n.remaining_memory),
                num(n.remaining_cvm_slots),
                n.images.len().to_string(),
                if n.support_onchain_kms == Some(true) {
                    "yes"
                } else {
                    "no"
                }
                .into(),
            ]
        })
        .collect();
    let header = [
        "ID",
        "NAME",
        "REGION",
        "VCPU_LEFT",
        "MEMORY_MB_LEFT",
        "SLOTS_LEFT",
        "IMAGES",
        "ONCHAIN_KMS",
    ];
    Ok(show(out, &header, rows, &answer))
}

/// Instance types: one family's, or every family's.
pub async fn instance_types(client: &Client, out: &Out, family: Option<&str>) -> Result<Outcome, Error> {
    let types = match family {
        Some(f) => client.instance_types(f).await?,
        None => client
            .instance_families()
            .await?
            .into_iter()
            .flat_map(|g| g.items)
            .collect(),
    };
    let rows = types
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                dash(t.family.as_deref()),
                t.vcpu.to_string(),
                t.memory_mb.to_string(),
                dash(t.default_disk_size_gb.map(|d| d.to_string()).as_deref()),
                if t.requires_gpu { "yes" } else { "no" }.into(),
                t.hourly_rate.clone(),
            ]
        })
        .collect();
    let header = ["ID", "FAMILY", "VCPU", "MEMORY_MB", "DISK_GB", "GPU", "HOURLY"];
    Ok(show(out, &header, rows, &types))
}

/// Every OS image.
pub async fn os_images(client: &Client, out: &Out) -> Result<Outcome, Error> {
    let images: Vec<_> = client.os_images().try_collect().await?;
    let rows = images
        .iter()
        .map(|i| {
            vec![
                i.slug.clone(),
                i.version.clone(),
                if i.is_dev { "dev" } else { "prod" }.into(),
                if i.requires_gpu { "yes" } else { "no" }.into(),
                dash(i.os_image_hash.as_deref()),
            ]
        })
        .collect();
    Ok(show(out, &["SLUG", "VERSION", "KIND", "GPU", "HASH"], rows, &images))
}

/// Every KMS, in the shape the API version answers.
pub async fn kms(client: &Client, out: &Out) -> Result<Outcome, Error> {
    let listed: Vec<KmsListed> = client.kms_list().try_collect().await?;
    let rows = listed
        .iter()
        .map(|k| match k {
            KmsListed::Contract(c) => vec![
                c.id.clone(),
                dash(c.slug.as_deref().or(c.label.as_deref())),
                c.chain_id.to_string(),
                c.contract_address.clone(),
                c.node_count.to_string(),
            ],
            KmsListed::Instance(i) => vec![
                i.id.clone(),
                dash(i.slug.as_deref()),
                dash(i.chain_id.map(|c| c.to_string()).as_deref()),
                dash(i.kms_contract_address.as_deref()),
                i.url.clone(),
            ],
            _ => vec!["?".into(); 5],
        })
        .collect();
    let last = if listed.iter().any(|k| matches!(k, KmsListed::Instance(_))) {
        "URL"
    } else {
        "NODES"
    };
    Ok(show(out, &["ID", "SLUG", "CHAIN", "CONTRACT", last], rows, &listed))
}

/// `remaining/limit` of one quota, from its JSON (`{limit, remaining}`).
fn quota(quotas: &Value, key: &str) -> String {
    let q = &quotas[key];
    match (q["remaining"].as_f64(), q["limit"].as_f64()) {
        (Some(r), Some(l)) => format!("{}/{}", num(r), num(l)),
        _ => "-".into(),
    }
}

/// The workspaces the key may act in, each with its quotas left.
pub async fn workspaces(client: &Client, out: &Out) -> Result<Outcome, Error> {
    let listed = client.workspaces().await?;
    let mut rows = Vec::new();
    let mut collected = Vec::new();
    for ws in &listed {
        let quotas = match ws.slug.as_deref() {
            Some(slug) => Some(client.workspace_quotas(slug).await?),
            None => None,
        };
        let q = quotas
            .as_ref()
            .and_then(|q| serde_json::to_value(&q.quotas).ok())
            .unwrap_or(Value::Null);
        rows.push(vec![
            dash(ws.slug.as_deref()),
            ws.name.clone(),
            dash(ws.tier.as_deref()),
            dash(ws.role.as_deref()),
            quota(&q, "vcpu"),
            quota(&q, "memory_mb"),
            quota(&q, "disk_gb"),
            quota(&q, "vm_slots"),
        ]);
        collected.push(json!({"workspace": ws, "quotas": quotas}));
    }
    let header = ["SLUG", "NAME", "TIER", "ROLE", "VCPU", "MEMORY_MB", "DISK_GB", "CVMS"];
    Ok(show(out, &header, rows, &collected))
}

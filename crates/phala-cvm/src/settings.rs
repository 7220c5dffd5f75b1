//! One CVM by any of its names: `ps`, `attestation` (checked here),
//! `resize`, `visibility` and `upgrade`.

use std::num::NonZeroU64;

use clap::Args as ClapArgs;
use phala_cloud::raw::types::{CvmResourcesRequest, CvmVisibilityRequest};
use phala_cloud::{AttestationCheck, Client, Error};
use serde_json::json;

use crate::cli::Format;
use crate::output::{Out, dash, safe};
use crate::run::Outcome;

/// `resize` flags.
#[derive(ClapArgs, Debug)]
pub struct ResizeArgs {
    /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
    pub cvm: Option<String>,
    /// vCPUs.
    #[arg(long, value_name = "N")]
    pub vcpu: Option<NonZeroU64>,
    /// Memory: MB, or with a unit (8G, 8192M).
    #[arg(long, value_name = "SIZE", value_parser = mebibytes)]
    pub memory: Option<NonZeroU64>,
    /// Disk: GB, or with a unit (100G, 1T).
    #[arg(long, value_name = "SIZE", value_parser = gigabytes)]
    pub disk_size: Option<NonZeroU64>,
    /// Another instance type instead (tdx.large, ...).
    #[arg(long, value_name = "TYPE")]
    pub instance_type: Option<String>,
    /// Let a running CVM restart to apply it (else a running CVM refuses).
    #[arg(long)]
    pub allow_restart: bool,
}

/// `visibility` flags: what is not given stays as it is.
#[derive(ClapArgs, Debug)]
pub struct VisibilityArgs {
    /// Hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
    pub cvm: Option<String>,
    /// Anyone may read the CVM's logs.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub public_logs: Option<bool>,
    /// Anyone may read the CVM's system info.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub public_sysinfo: Option<bool>,
    /// Anyone may read the CVM's TCB info.
    #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
    pub public_tcbinfo: Option<bool>,
}

/// A size in `unit_mb` units: a bare number, or with K/M/G/T.
fn size_in(text: &str, unit_mb: u64) -> Result<NonZeroU64, String> {
    let t = text.trim();
    let (digits, suffix) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size like 8G"))?;
    let mb = match suffix.trim_end_matches(['B', 'b', 'i']).to_ascii_uppercase().as_str() {
        "" => return NonZeroU64::new(n).ok_or_else(|| "the size must not be zero".into()),
        "M" => Some(n),
        "G" => n.checked_mul(1024),
        "T" => n.checked_mul(1024 * 1024),
        _ => return Err(format!("{text:?}: the unit must be M, G or T")),
    }
    .ok_or_else(|| format!("{text:?} is too large"))?;
    if mb % unit_mb != 0 {
        return Err(format!(
            "{text:?} is not a whole number of {}",
            if unit_mb == 1 { "MB" } else { "GB" }
        ));
    }
    NonZeroU64::new(mb / unit_mb).ok_or_else(|| "the size must not be zero".into())
}

fn mebibytes(text: &str) -> Result<NonZeroU64, String> {
    size_in(text, 1)
}

pub fn gigabytes(text: &str) -> Result<NonZeroU64, String> {
    size_in(text, 1024)
}

/// The CVM's containers.
pub async fn ps(client: &Client, out: &Out, cvm: &str) -> Result<Outcome, Error> {
    let composition = client.composition(cvm).await?;
    if !composition.is_online {
        eprintln!(
            "warning: {}",
            safe(composition.error.as_deref().unwrap_or("the CVM is offline"))
        );
    }
    let containers = composition.containers.clone().unwrap_or_default();
    if out.format != Format::Table {
        out.json(&json!({ "containers": containers }));
        return Ok(Outcome::Done);
    }
    let rows = containers
        .iter()
        .map(|c| {
            let name = c.names.first().map(|n| n.trim_start_matches('/')).unwrap_or(&c.id);
            let created = chrono::DateTime::from_timestamp(c.created as i64, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            vec![
                name.to_string(),
                c.image.clone(),
                dash(created.as_deref()),
                c.status.clone(),
                c.state.clone(),
            ]
        })
        .collect::<Vec<_>>();
    out.table(&["NAME", "IMAGE", "CREATED", "STATUS", "STATE"], &rows);
    Ok(Outcome::Done)
}

/// The CVM's attestation, checked here: exit 3 when it contradicts itself.
pub async fn attestation(client: &Client, out: &Out, cvm: &str) -> Result<Outcome, Error> {
    let details = client.cvm(cvm).await?;
    let att = client.attestation(cvm).await?;
    let check = AttestationCheck::of(&att, details.app_id());
    match out.format {
        Format::Table => {
            let tcb = att.tcb_info.as_ref();
            let mut rows = vec![
                vec!["online".into(), att.is_online.to_string()],
                vec!["public".into(), dash(att.is_public.map(|p| p.to_string()).as_deref())],
                vec!["error".into(), dash(att.error.as_deref())],
                vec![
                    "certificates".into(),
                    att.app_certificates.as_ref().map_or(0, Vec::len).to_string(),
                ],
            ];
            if let Some(t) = tcb {
                for (k, v) in [
                    ("mrtd", &t.mrtd),
                    ("rtmr0", &t.rtmr0),
                    ("rtmr1", &t.rtmr1),
                    ("rtmr2", &t.rtmr2),
                    ("rtmr3", &t.rtmr3),
                ] {
                    rows.push(vec![k.into(), v.clone()]);
                }
            }
            rows.push(vec!["rtmr3 replayed".into(), check.replayed_rtmr3.clone()]);
            rows.push(vec![
                "compose hash".into(),
                dash(check.attested_compose_hash.as_deref()),
            ]);
            rows.push(vec!["app id".into(), dash(check.attested_app_id.as_deref())]);
            out.table(&["FIELD", "VALUE"], &rows);
            if check.holds() {
                outln!(
                    "check: the event log replays to RTMR3 and records this app and the compose shown (the quote's signature is not verified here)"
                );
            }
            for p in &check.problems {
                outln!("check FAILED: {p}");
            }
        }
        _ => out.json(&json!({"attestation": att, "check": check})),
    }
    Ok(if check.holds() { Outcome::Done } else { Outcome::Partial })
}

/// Changes the CVM's resources.
pub async fn resize(client: &Client, out: &Out, cvm: &str, args: &ResizeArgs) -> Result<Outcome, Error> {
    let request = CvmResourcesRequest {
        vcpu: args.vcpu,
        memory: args.memory,
        disk_size: args.disk_size,
        instance_type: args.instance_type.clone(),
        allow_restart: Some(args.allow_restart),
    };
    client.resize(cvm, &request).await?;
    match out.format {
        Format::Table => outln!(
            "resize of {} accepted{}",
            safe(cvm),
            if args.allow_restart { " (it may restart)" } else { "" }
        ),
        _ => out.json(&json!({"cvm": cvm, "request": request})),
    }
    Ok(Outcome::Done)
}

/// Sets the CVM's visibility; flags not given keep their current value.
pub async fn visibility(client: &Client, out: &Out, cvm: &str, args: &VisibilityArgs) -> Result<Outcome, Error> {
    let now = serde_json::to_value(client.cvm(cvm).await?).unwrap_or_default();
    let current = |k: &str| now[k].as_bool();
    let request = CvmVisibilityRequest {
        public_logs: args.public_logs.or(current("public_logs")).unwrap_or(true),
        public_sysinfo: args.public_sysinfo.or(current("public_sysinfo")).unwrap_or(true),
        public_tcbinfo: args.public_tcbinfo.or(current("public_tcbinfo")),
    };
    let answer = serde_json::to_value(client.set_visibility(cvm, &request).await?).unwrap_or_default();
    let shown = |k: &str| answer[k].as_bool().map_or("-".to_string(), |b| b.to_string());
    match out.format {
        Format::Table => out.table(
            &["FIELD", "VALUE"],
            &[
                vec!["public_logs".into(), shown("public_logs")],
                vec!["public_sysinfo".into(), shown("public_sysinfo")],
                vec!["public_tcbinfo".into(), shown("public_tcbinfo")],
            ],
        ),
        _ => out.json(&answer),
    }
    Ok(Outcome::Done)
}

/// The CVM's runtime configuration (hostname, SSH keys, gateway domain).
pub async fn runtime_config(client: &Client, out: &Out, cvm: &str) -> Result<Outcome, Error> {
    let config = client.runtime_config(cvm).await?;
    match out.format {
        Format::Table => {
            let keys = match config.ssh_authorized_keys.as_deref() {
                None | Some([]) => "-".to_string(),
                Some(keys) => keys.join(", "),
            };
            out.table(
                &["FIELD", "VALUE"],
                &[
                    vec!["hostname".into(), dash(config.hostname.as_deref())],
                    vec!["gateway domain".into(), dash(config.default_gateway_domain.as_deref())],
                    vec!["ssh keys".into(), keys],
                ],
            );
        }
        _ => out.json(&config),
    }
    Ok(Outcome::Done)
}

/// Moves the CVM to another OS image, or lists those it can move to.
pub async fn upgrade(client: &Client, out: &Out, cvm: &str, image: Option<&str>) -> Result<Outcome, Error> {
    let Some(image) = image else {
        let images = client.available_os_images(cvm).await?;
        match out.format {
            Format::Table => {
                let rows = images
                    .iter()
                    .flat_map(|i| [("prod", &i.prod), ("dev", &i.dev)])
                    .filter_map(|(kind, v)| {
                        let v = serde_json::to_value(v.as_ref()?).ok()?;
                        let text = |k: &str| v[k].as_str().unwrap_or("-").to_string();
                        Some(vec![text("name"), kind.to_string(), text("os_image_hash")])
                    })
                    .collect::<Vec<_>>();
                out.table(&["NAME", "KIND", "HASH"], &rows);
                eprintln!("upgrade with: phala-cvm upgrade {} --image NAME", safe(cvm));
            }
            _ => out.json(&images),
        }
        return Ok(Outcome::Done);
    };
    let answer = client.upgrade_os(cvm, image).await?;
    match out.format {
        Format::Table => outln!("OS image change of {} to {} accepted", safe(cvm), safe(image)),
        _ => out.json(&answer),
    }
    Ok(Outcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units_and_refuse_what_is_not_whole() {
        assert_eq!(mebibytes("8G").unwrap().get(), 8192);
        assert_eq!(mebibytes("2048").unwrap().get(), 2048);
        assert_eq!(gigabytes("100G").unwrap().get(), 100);
        assert_eq!(gigabytes("1T").unwrap().get(), 1024);
        assert_eq!(gigabytes("80").unwrap().get(), 80);
        assert!(gigabytes("1500M").is_err());
        assert!(mebibytes("0").is_err());
        assert!(mebibytes("8X").is_err());
        assert!(mebibytes("99999999999999999999T").is_err());
    }
}

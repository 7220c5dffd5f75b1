//! The fleet as the API shows it: each answer's JSON rendering of a CVM,
//! per API version.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Fleet, OpRecord, Operation, op_type};

impl Fleet {
    /// The progress of an operation in flight, as a percentage string.
    fn progress(op: &Operation, now: Instant) -> String {
        let total = op.done_at.saturating_duration_since(op.started).as_secs_f64().max(1e-9);
        let done = now.saturating_duration_since(op.started).as_secs_f64();
        format!("{}%", ((done / total) * 100.0).clamp(0.0, 99.0) as u32)
    }

    fn uptime(&self, idx: usize, at: DateTime<Utc>) -> Option<String> {
        let since = self.cvms[idx].running_since?;
        let secs = (at - since).num_seconds().max(0);
        Some(match secs {
            s if s >= 86_400 => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
            s if s >= 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
            s => format!("{}m{}s", s / 60, s % 60),
        })
    }

    /// Where CVM `idx`'s console and VM output are served (`&ch=` picks a channel).
    fn syslog_endpoint(&self, idx: usize) -> Option<String> {
        Some(self.log_urls.as_ref()?.syslog(idx, &self.cvms[idx]))
    }

    /// `CVMLogUrls`: each syslog channel, and the base a container's name
    /// is appended to.
    fn log_urls_json(&self, idx: usize) -> Value {
        let syslog = self.syslog_endpoint(idx);
        let channel = |ch: &str| syslog.as_ref().map(|url| format!("{url}&ch={ch}"));
        let base = self.log_urls.as_ref().map(|u| u.container(idx, &self.cvms[idx], ""));
        json!({"serial": channel("serial"), "stdout": channel("stdout"), "stderr": channel("stderr"),
               "container_log_base": base})
    }

    fn events_json(&self, idx: usize) -> Value {
        self.cvms[idx]
            .events
            .iter()
            .map(|e| json!({"event": e.event, "body": e.body, "timestamp": e.timestamp_ms}))
            .collect()
    }

    /// `CvmStatus` for the batch status endpoint.
    pub fn status_json(&self, idx: usize, now: Instant, origin: Instant) -> Value {
        let at = self.clock(now, origin);
        let cvm = &self.cvms[idx];
        let op = cvm.operation.as_ref();
        json!({
            "vm_uuid": cvm.vm_uuid,
            "status": cvm.status,
            "uptime": self.uptime(idx, at),
            "in_progress": op.is_some(),
            "boot_progress": if cvm.status == "running" && op.is_none() { Some("done".to_string()) } else { self.phase_progress(idx, "starting", now) },
            "boot_error": cvm.boot_error,
            "shutdown_progress": self.phase_progress(idx, "stopping", now).or_else(|| (cvm.status == "stopped").then(|| "done".to_string())),
            "events": self.events_json(idx),
            "operation_type": op.map(|o| o.kind),
            "operation_started_at": op.map(|o| o.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "correlation_id": op.map(|o| o.correlation_id.clone()),
        })
    }

    /// The progress of the operation in flight while the CVM is in `phase`
    /// (`starting` or `stopping`).
    fn phase_progress(&self, idx: usize, phase: &str, now: Instant) -> Option<String> {
        let cvm = &self.cvms[idx];
        let op = cvm.operation.as_ref().filter(|_| cvm.status == phase)?;
        Some(Self::progress(op, now))
    }

    /// The immediate state object of `GET /cvms/{id}/state`. Optional fields
    /// without a value are left out, as the service does: Phala's TypeScript
    /// SDK declares them optional strings and rejects `null`.
    pub fn state_json(&self, idx: usize, now: Instant, origin: Instant) -> Value {
        let at = self.clock(now, origin);
        let cvm = &self.cvms[idx];
        let mut state = json!({
            "id": cvm.id,
            "name": cvm.name,
            "status": cvm.status,
            "derived_status": cvm.status,
            "instance_id": cvm.instance_id,
        });
        let optional = [
            ("uptime", self.uptime(idx, at)),
            (
                "exited_at",
                cvm.exited_at
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            ),
            ("boot_progress", self.phase_progress(idx, "starting", now)),
            ("boot_error", cvm.boot_error.clone()),
            ("shutdown_progress", self.phase_progress(idx, "stopping", now)),
        ];
        if let Value::Object(map) = &mut state {
            for (name, value) in optional {
                if let Some(v) = value {
                    map.insert(name.into(), Value::String(v));
                }
            }
        }
        state
    }

    /// One `HostedCvm` (API versions before 2026-01-21).
    pub fn hosted_json(&self, idx: usize, now: Instant, origin: Instant) -> Value {
        let at = self.clock(now, origin);
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        let gateway = format!("{}.dstack-{}.phala.network", cvm.app_id, node.region);
        json!({
            "hosted": {
                "id": cvm.vm_uuid,
                "name": cvm.name,
                "status": cvm.status,
                "uptime": self.uptime(idx, at).unwrap_or_default(),
                "app_url": format!("https://{gateway}"),
                "app_id": cvm.app_id,
                "instance_id": cvm.instance_id,
                "exited_at": cvm.exited_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                "boot_progress": if cvm.status == "running" { Some("done") } else { None },
                "boot_error": cvm.boot_error,
                "shutdown_progress": None::<String>,
                "image_version": "dstack-0.5.3",
                "events": self.events_json(idx),
            },
            "name": cvm.name,
            "managed_user": cvm.user.map(|u| json!({"id": self.users[u].numeric_id, "username": self.users[u].username})),
            "node": {"id": node.id, "name": node.name, "region_identifier": node.region},
            "listed": false,
            "status": cvm.status,
            "in_progress": cvm.operation.is_some(),
            "dapp_dashboard_url": format!("https://{gateway}/dashboard"),
            "syslog_endpoint": self.syslog_endpoint(idx),
            "allow_upgrade": true,
            "project_id": None::<String>,
            "project_type": "webapp",
            "billing_period": "hourly",
            "kms_info": {"id": "kms_phalaprod", "slug": "phala-prod", "url": "https://kms.phala.network", "version": "0.5.3",
                         "chain_id": None::<i64>, "kms_contract_address": None::<String>, "gateway_app_id": None::<String>},
            "contract_address": None::<String>,
            "deployer_address": None::<String>,
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "gateway_domain": format!("dstack-{}.phala.network", node.region),
            "public_urls": [{"app": format!("https://{gateway}"), "instance": format!("https://{}.{gateway}", cvm.instance_id)}],
        })
    }

    /// One `CVMInfo` (API versions from 2026-01-21).
    pub fn info_json(&self, idx: usize) -> Value {
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        let ws = &self.workspaces[cvm.workspace];
        let op = cvm.operation.as_ref();
        json!({
            "id": cvm.id,
            "name": cvm.name,
            "app_id": cvm.app_id,
            "vm_uuid": cvm.vm_uuid,
            "instance_id": cvm.instance_id,
            "resource": {"instance_type": cvm.instance_type(),
                         "vcpu": cvm.vcpu, "memory_in_gb": cvm.memory_mb as f64 / 1024.0, "disk_in_gb": cvm.disk_gb, "gpus": 0,
                         "compute_billing_price": "0.058000", "billing_period": "hourly"},
            "node_info": {"object_type": "node", "id": node.id, "node_id": node.id, "name": node.name, "region": node.region,
                          "device_id": None::<String>, "ppid": None::<String>, "status": "ONLINE", "version": "0.5.3"},
            "os": {"name": cvm.base_image, "version": cvm.base_image.rsplit('-').next(), "is_dev": cvm.base_image.contains("-dev-"), "os_image_hash": None::<String>},
            "kms_type": "phala",
            // A centralized KMS: no chain, the app's env key named here
            // (what Phala's CLI seals `envs update` to).
            "kms_info": {"chain_id": None::<i64>, "dstack_kms_address": None::<String>, "dstack_app_address": None::<String>,
                         "deployer_address": None::<String>, "rpc_endpoint": None::<String>,
                         "encrypted_env_pubkey": self.env_pubkey(&cvm.app_id)},
            "status": cvm.status,
            "in_progress": op.is_some(),
            "progress": op.map(|o| json!({"target": o.target, "started_at": o.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "correlation_id": o.correlation_id})),
            "compose_hash": None::<String>,
            "docker_compose_hash": None::<String>,
            "pre_launch_script_hash": None::<String>,
            "gateway": {"base_domain": format!("dstack-{}.phala.network", node.region), "cname": None::<String>},
            "logs": self.log_urls_json(idx),
            "services": [],
            "endpoints": [{"app": format!("https://{}.dstack-{}.phala.network", cvm.app_id, node.region), "instance": format!("https://{}.dstack-{}.phala.network", cvm.instance_id, node.region)}],
            "public_logs": cvm.visibility.public_logs,
            "public_sysinfo": cvm.visibility.public_sysinfo,
            "public_tcbinfo": cvm.visibility.public_tcbinfo,
            "gateway_enabled": true,
            "secure_time": false,
            "storage_fs": "zfs",
            "workspace": {"object_type": "workspace", "id": ws.id, "name": ws.name, "slug": ws.name, "avatar_url": None::<String>},
            "creator": cvm.user.map(|u| json!({"object_type": "user", "id": self.users[u].id, "username": self.users[u].username, "avatar_url": None::<String>})),
            "created_at": cvm.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "deleted_at": None::<String>,
            "listed": false,
            "project_type": "webapp",
        })
    }

    /// One operation record of `GET /cvms/{cvm_id}/operations`.
    pub fn record_json(&self, idx: usize, r: &OpRecord) -> Value {
        let cvm = &self.cvms[idx];
        let ts = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let user = cvm.user.map(|u| &self.users[u]);
        json!({
            "correlation_id": r.correlation_id,
            "operation_type": op_type(r.kind),
            "target_state": r.target,
            "triggered_by": user.map_or(0, |u| u.numeric_id),
            "triggered_by_username": user.map(|u| u.username.clone()),
            "triggered_by_email": None::<String>,
            "started_at": ts(r.started_at),
            "completed_at": r.completed_at.map(ts),
            "duration_ms": r.completed_at.map(|c| (c - r.started_at).num_milliseconds()),
            "status": r.status,
            "error_message": r.error,
            "sub_operations": [op_type(r.kind)],
            "events": r.events.iter().map(|(e, t, s)| json!({"event_type": e, "timestamp": ts(*t), "state": s})).collect::<Vec<_>>(),
            "instance_name": cvm.name,
            "compose_hash": None::<String>,
        })
    }

    /// The `VM` record the lifecycle calls answer with. `vm_uuid`,
    /// `instance_id` and `encrypted_env_pubkey` are always present (null when
    /// unknown): Phala's TypeScript SDK requires the keys.
    /// `hashed`: the hashed id (API versions from 2026-05-22), else the integer.
    /// The app's env encryption key, as records name it (hex x25519).
    fn env_pubkey(&self, app_id: &str) -> Option<String> {
        self.kms.as_ref().map(|k| k.env_public_hex(app_id))
    }

    pub fn vm_json(&self, idx: usize, hashed: bool) -> Value {
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        json!({
            "id": if hashed { json!(cvm.id) } else { json!(cvm.numeric_id) },
            "name": cvm.name,
            "status": cvm.status,
            "teepod_id": node.id,
            "teepod": {"id": node.id, "name": node.name},
            "user_id": cvm.user.map(|u| self.users[u].numeric_id),
            "app_id": cvm.app_id,
            "vm_uuid": cvm.vm_uuid,
            "instance_id": cvm.instance_id,
            "app_url": format!("https://{}.dstack-{}.phala.network", cvm.app_id, node.region),
            "base_image": cvm.base_image,
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "manifest_version": 2,
            "version": "0.5.3",
            "runner": "docker-compose",
            "features": ["kms", "tproxy-net"],
            "created_at": cvm.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "docker_compose_file": None::<String>,
            "encrypted_env_pubkey": self.env_pubkey(&cvm.app_id),
        })
    }

    /// `GET /cvms/{cvm_id}`: the flat `CvmBasicInfo` before 2026-01-21, the
    /// `CVMInfoDetail` (the list item plus `compose_file`) from then on.
    pub fn detail_json(&self, idx: usize, cvminfo: bool) -> Value {
        if cvminfo {
            let mut info = self.info_json(idx);
            if let Value::Object(map) = &mut info {
                map.insert("compose_file".into(), Value::Null);
            }
            return info;
        }
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        let gateway = format!("{}.dstack-{}.phala.network", cvm.app_id, node.region);
        json!({
            "id": cvm.numeric_id,
            "name": cvm.name,
            "status": cvm.status,
            "in_progress": cvm.operation.is_some(),
            "teepod_id": node.id,
            "teepod": {"id": node.id, "name": node.name, "region_identifier": node.region},
            "app_id": cvm.app_id,
            "vm_uuid": cvm.vm_uuid,
            "instance_id": cvm.instance_id,
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "base_image": cvm.base_image,
            "encrypted_env_pubkey": self.env_pubkey(&cvm.app_id),
            "listed": false,
            "project_id": None::<String>,
            "project_type": "webapp",
            "instance_type": cvm.instance_type(),
            "public_sysinfo": cvm.visibility.public_sysinfo,
            "public_logs": cvm.visibility.public_logs,
            "dapp_dashboard_url": format!("https://{gateway}/dashboard"),
            "syslog_endpoint": self.syslog_endpoint(idx),
            "kms_info": {"id": "kms_phalaprod", "slug": "phala-prod", "url": "https://kms.phala.network", "version": "0.5.3",
                         "chain_id": None::<i64>, "kms_contract_address": None::<String>, "gateway_app_id": None::<String>},
            "contract_address": None::<String>,
            "deployer_address": None::<String>,
            "scheduled_delete_at": None::<String>,
            "public_urls": [{"app": format!("https://{gateway}"), "instance": format!("https://{}.{gateway}", cvm.instance_id)}],
            "gateway_domain": format!("dstack-{}.phala.network", node.region),
        })
    }

    /// A CVM as the apps routes show it before 2026-01-21 (their `CvmBasicInfo`).
    pub fn app_cvm_json(&self, idx: usize) -> Value {
        let cvm = &self.cvms[idx];
        let node = &self.nodes[cvm.node];
        json!({
            "vm_uuid": cvm.vm_uuid,
            "app_id": cvm.app_id,
            "name": cvm.name,
            "status": cvm.status,
            "vcpu": cvm.vcpu,
            "memory": cvm.memory_mb,
            "disk_size": cvm.disk_gb,
            "teepod_id": node.id,
            "teepod_name": node.name,
            "region_identifier": node.region,
            "kms_type": "phala",
            "instance_type": cvm.instance_type(),
            "listed": false,
            "base_image": cvm.base_image,
            "kms_slug": "phala-prod",
            "kms_id": "kms_phalaprod",
            "instance_id": cvm.instance_id,
            "machine_info": None::<Value>,
            "updated_at": None::<String>,
        })
    }

    /// App `app` (an index of `apps`) with its CVMs `members` (fleet
    /// indices, oldest first): the apps routes' `DstackAppFullResponse`,
    /// its CVMs as `CVMInfo` from 2026-01-21 (`cvminfo`), before that as
    /// the apps routes' `CvmBasicInfo`, with the workspace named.
    pub fn app_json(&self, app: usize, members: &[usize], cvminfo: bool) -> Value {
        let app_id = &self.apps[app];
        let cvm = |i: usize| {
            if cvminfo {
                self.info_json(i)
            } else {
                self.app_cvm_json(i)
            }
        };
        let created = members
            .iter()
            .map(|&i| self.cvms[i].created_at)
            .min()
            .unwrap_or(self.epoch);
        let mut out = json!({
            "id": format!("prj_{}", app_id.get(..10).unwrap_or(app_id)),
            "name": self.app_names.get(app).cloned().unwrap_or_default(),
            "app_id": app_id,
            "app_provision_type": None::<String>,
            "app_icon_url": None::<String>,
            "created_at": created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "kms_type": "phala",
            "profile": None::<Value>,
            "current_cvm": members.last().map(|&i| cvm(i)),
            "cvms": members.iter().map(|&i| cvm(i)).collect::<Vec<_>>(),
            "cvm_count": members.len(),
        });
        if !cvminfo && let (Value::Object(map), Some(&first)) = (&mut out, members.first()) {
            let ws = &self.workspaces[self.cvms[first].workspace];
            map.insert("team_slug".into(), json!(ws.name));
            map.insert("team_name".into(), json!(ws.name));
        }
        out
    }
}

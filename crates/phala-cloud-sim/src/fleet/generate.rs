//! The seeded fleet a simulator starts with: workspaces, users, nodes,
//! apps and CVMs in every status, the same for the same seed.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{Cvm, Event, Fleet, Node, User, Workspace, now_ms};
use crate::config::SimConfig;
use crate::rng::Rng;

const WORDS: [&str; 12] = [
    "web", "api", "worker", "oracle", "relay", "indexer", "agent", "gateway", "vault", "miner", "bot", "llm",
];
const REGIONS: [&str; 4] = ["us-west", "us-east", "eu-central", "ap-southeast"];

impl Fleet {
    /// A fleet of `config.cvms` CVMs over `config.apps` apps; same seed, same fleet.
    pub fn generate(config: &SimConfig) -> Self {
        let mut rng = Rng::new(config.seed);
        let epoch = DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let workspaces: Vec<Workspace> = ["main", "staging", "partner"]
            .iter()
            .map(|name| Workspace {
                id: format!("wks_{}", rng.alnum(8)),
                name: format!("{name}-team"),
            })
            .collect();
        let users: Vec<User> = ["alice", "bob", "carol"]
            .iter()
            .enumerate()
            .map(|(i, name)| User {
                numeric_id: 1000 + i as i64,
                id: format!("usr_{}", rng.alnum(8)),
                username: name.to_string(),
            })
            .collect();
        let nodes: Vec<Node> = (0..4)
            .map(|i| Node {
                id: 10 + i as i64,
                name: format!("prod{}-{}", i + 1, REGIONS[i % 4]),
                region: REGIONS[i % 4].into(),
            })
            .collect();
        let apps: Vec<String> = (0..config.apps.max(1)).map(|_| rng.hex(40)).collect();
        let app_names: Vec<String> = (0..apps.len())
            .map(|i| format!("{}-{}", WORDS[i % WORDS.len()], i / WORDS.len() + 1))
            .collect();
        let mut fleet = Fleet {
            cvms: Vec::with_capacity(config.cvms),
            workspaces,
            users,
            nodes,
            apps,
            app_names,
            rng,
            stop_duration: config.stop_duration,
            shutdown_duration: config.shutdown_duration,
            start_duration: config.start_duration,
            jitter: config.transition_jitter,
            time_scale: config.time_scale.max(1e-6),
            epoch,
            correlation: 0,
            by_id: HashMap::new(),
            by_uuid: HashMap::new(),
            wake: BTreeSet::new(),
            restarts: 0,
            by_workspace: Vec::new(),
            changes: None,
            last_tick: epoch,
            log_urls: None,
            kms: None,
        };
        let now = Instant::now();
        for i in 0..config.cvms {
            let app = i % fleet.apps.len();
            // Most CVMs live in the main workspace; an app stays in one workspace.
            let workspace = match app % 10 {
                8 => 1,
                9 => 2,
                _ => 0,
            };
            let roll = fleet.rng.unit();
            let status = if roll < 0.80 {
                "running"
            } else if roll < 0.92 {
                "stopped"
            } else if roll < 0.97 {
                "starting"
            } else {
                "error"
            };
            let created_at = epoch - chrono::Duration::hours(24 + fleet.rng.below(24 * 90) as i64);
            let mut cvm = Cvm {
                id: format!("cvm_{}", fleet.rng.alnum(8)),
                numeric_id: 5000 + i as i64,
                vm_uuid: fleet.rng.uuid(),
                name: format!("{}-{}", fleet.app_names[app], i / fleet.apps.len()),
                app_id: fleet.apps[app].clone(),
                instance_id: fleet.rng.hex(40),
                workspace,
                user: if fleet.rng.chance(0.05) {
                    None
                } else {
                    Some(workspace.min(2))
                },
                node: fleet.rng.below(4),
                status: status.into(),
                operation: None,
                events: vec![Event {
                    event: "instance.info".into(),
                    body: "created".into(),
                    timestamp_ms: now_ms(created_at),
                }],
                running_since: None,
                exited_at: None,
                boot_error: None,
                history: Vec::new(),
                vcpu: [1, 2, 4, 8][fleet.rng.below(4)],
                memory_mb: [2048, 4096, 8192, 16384][fleet.rng.below(4)],
                disk_gb: [20, 40, 80][fleet.rng.below(3)],
                base_image: super::DEFAULT_IMAGE.into(),
                created_at,
                visibility: Default::default(),
                deleted: false,
            };
            match status {
                "running" => {
                    cvm.running_since =
                        Some(epoch - chrono::Duration::minutes(5 + fleet.rng.below(60 * 24 * 30) as i64));
                    cvm.events.push(Event {
                        event: "boot.progress".into(),
                        body: "done".into(),
                        timestamp_ms: now_ms(cvm.running_since.unwrap_or(epoch)),
                    });
                }
                "stopped" => {
                    cvm.exited_at = Some(epoch - chrono::Duration::minutes(fleet.rng.below(60 * 24) as i64));
                    cvm.events.push(Event {
                        event: "shutdown.progress".into(),
                        body: "stopped".into(),
                        timestamp_ms: now_ms(cvm.exited_at.unwrap_or(epoch)),
                    });
                }
                "error" => {
                    cvm.boot_error = Some("failed to mount encrypted disk".into());
                    cvm.events.push(Event {
                        event: "boot.error".into(),
                        body: "failed to mount encrypted disk".into(),
                        timestamp_ms: now_ms(epoch),
                    });
                }
                _ => {}
            }
            fleet.cvms.push(cvm);
            if status == "starting" {
                let idx = fleet.cvms.len() - 1;
                fleet.begin(idx, "start", "running", "stopped".into(), now, epoch, false);
            }
        }
        fleet.reindex();
        fleet
    }

    /// Builds the lookup tables, once the fleet is generated (the clock and
    /// the restart count are kept by `begin` as operations start).
    fn reindex(&mut self) {
        self.by_id = self.cvms.iter().enumerate().map(|(i, c)| (c.id.clone(), i)).collect();
        self.by_uuid = self
            .cvms
            .iter()
            .enumerate()
            .map(|(i, c)| (c.vm_uuid.clone(), i))
            .collect();
        self.by_workspace = vec![Vec::new(); self.workspaces.len()];
        for (i, c) in self.cvms.iter().enumerate() {
            self.by_workspace[c.workspace].push(i);
        }
    }
}

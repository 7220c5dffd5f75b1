//! The one table of routes: each operation the simulator serves, as the
//! document writes it (`METHOD /path`), with the handler that serves it.
//! The router, [`IMPLEMENTED`] (`phala-cloud-sim --list-operations`, the
//! conformance run's list) and the 501 of every other documented operation
//! all derive from [`ROUTES`], so they cannot disagree.
//!
//! The handlers are grouped by resource, one module each; they depend on
//! [`crate::state`] (and [`crate::deploy`], [`crate::fleet`]), never on
//! this module or the server.

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter, on};

use crate::fleet::Action;
use crate::state::Shared;

pub(crate) mod account;
pub(crate) mod apps;
pub(crate) mod attestation;
pub(crate) mod catalog;
pub(crate) mod compose_edits;
pub(crate) mod cvm_config;
pub(crate) mod cvm_patch;
pub(crate) mod deploy;
pub(crate) mod device_login;
pub(crate) mod fleet;
pub(crate) mod instances;
pub(crate) mod is_allowed;
pub(crate) mod kms;
pub(crate) mod legacy_deploy;
pub(crate) mod lifecycle;
pub(crate) mod logs;
pub(crate) mod quote_verify;
pub(crate) mod reads;
pub(crate) mod settings;
pub(crate) mod ssh_keys;
pub(crate) mod webhooks;

/// Mounts a handler for the route's method.
pub(crate) type Mount = fn(MethodFilter) -> MethodRouter<Arc<Shared>>;

/// One operation served: `METHOD /path` as the document writes it, and its handler.
pub(crate) struct Route {
    pub op: &'static str,
    pub mount: Mount,
}

const fn route(op: &'static str, mount: Mount) -> Route {
    Route { op, mount }
}

/// Every operation the simulator serves.
pub(crate) const ROUTES: &[Route] = &[
    // The fleet: batch calls and listings.
    route("POST /api/v1/status/batch", |m| on(m, fleet::status_batch)),
    route("POST /api/v1/cvms/batch-stop", |m| on(m, fleet::batch_stop)),
    route("GET /api/v1/cvms", |m| on(m, fleet::list_cvms)),
    route("GET /api/v1/cvms/paginated", |m| on(m, fleet::list_cvms_paginated)),
    route("GET /api/v1/apps/{app_id}/cvms", |m| on(m, fleet::app_cvms)),
    // Deploying and updating.
    route("POST /api/v1/cvms", |m| on(m, deploy::commit)),
    route("POST /api/v1/cvms/provision", |m| on(m, deploy::provision)),
    route("POST /api/v1/cvms/provision/eliza", |m| {
        on(m, legacy_deploy::provision_eliza)
    }),
    // An Eliza provision commits as any provision does.
    route("POST /api/v1/cvms/eliza", |m| on(m, deploy::commit)),
    route("POST /api/v1/cvms/workload", |m| on(m, legacy_deploy::create_workload)),
    route("POST /api/v1/cvms/pubkey/from_cvm_configuration", |m| {
        on(m, legacy_deploy::legacy_pubkey)
    }),
    route("POST /api/v1/cvms/from_cvm_configuration", |m| {
        on(m, legacy_deploy::legacy_create)
    }),
    route("GET /api/v1/cvms/{cvm_id}/compose_file", |m| {
        on(m, deploy::compose_file)
    }),
    route("PATCH /api/v1/cvms/{cvm_id}", |m| on(m, cvm_patch::update_cvm)),
    route("PATCH /api/v1/cvms/{cvm_id}/envs", |m| on(m, cvm_patch::update_envs)),
    route("PATCH /api/v1/cvms/{cvm_id}/os-image", |m| on(m, cvm_patch::upgrade_os)),
    route("PATCH /api/v1/cvms/{cvm_id}/compose_file", |m| {
        on(m, deploy::apply_update)
    }),
    route("POST /api/v1/cvms/{cvm_id}/compose_file/provision", |m| {
        on(m, deploy::provision_update)
    }),
    route("POST /api/v1/cvms/{cvm_id}/compose_file", |m| {
        on(m, compose_edits::submit_compose)
    }),
    route("PATCH /api/v1/cvms/{cvm_id}/docker-compose", |m| {
        on(m, compose_edits::upload_docker_compose)
    }),
    route("PATCH /api/v1/cvms/{cvm_id}/pre-launch-script", |m| {
        on(m, compose_edits::upload_pre_launch_script)
    }),
    route("POST /api/v1/cvms/{cvm_id}/revisions/{revision_id}/redeploy", |m| {
        on(m, compose_edits::redeploy_revision)
    }),
    route("PUT /api/v1/cvms/{cvm_id}/compose", |m| {
        on(m, compose_edits::legacy_upgrade)
    }),
    route("POST /api/v1/cvms/{cvm_id}/replicas", |m| {
        on(m, instances::replicate_cvm)
    }),
    route("POST /api/v1/cvms/{cvm_id}/commit-replica", |m| {
        on(m, instances::commit_replica)
    }),
    route("POST /api/v1/cvms/{cvm_id}/commit-update", |m| {
        on(m, deploy::commit_update)
    }),
    route("GET /api/v1/cvms/{cvm_id}/commit-update", |m| {
        on(m, deploy::commit_update_info)
    }),
    // Apps.
    route("GET /api/v1/apps", |m| on(m, apps::list_apps)),
    route("GET /api/v1/apps/filter-options", |m| on(m, apps::filter_options)),
    route("GET /api/v1/apps/{app_id}", |m| on(m, apps::get_app)),
    route("GET /api/v1/apps/{app_id}/kms-info", |m| on(m, apps::app_kms_info)),
    route("GET /api/v1/apps/{app_id}/pending-updates", |m| {
        on(m, apps::pending_updates)
    }),
    route("GET /api/v1/apps/{app_id}/usage", |m| on(m, apps::app_usage)),
    route(
        "GET /api/v1/apps/{app_id}/pending-updates/{vm_uuid}/{compose_hash}/preview",
        |m| on(m, apps::pending_update_preview),
    ),
    route("GET /api/v1/apps/{app_id}/attestations", |m| {
        on(m, attestation::app_attestations)
    }),
    route("GET /api/v1/apps/{app_id}/attestations/tcb-evaluation", |m| {
        on(m, attestation::tcb_evaluation)
    }),
    route("GET /api/v1/apps/{app_id}/device-allowlist", |m| {
        on(m, apps::device_allowlist)
    }),
    route("GET /api/v1/apps/{app_id}/revisions", |m| on(m, apps::app_revisions)),
    route("GET /api/v1/apps/{app_id}/revisions/{revision_id}", |m| {
        on(m, apps::app_revision)
    }),
    route("POST /api/v1/apps/{app_id}/revisions/{revision_id}/redeploy", |m| {
        on(m, apps::redeploy_revision)
    }),
    route("POST /api/v1/apps/{app_id}/cvms/{vm_uuid}/replicas", |m| {
        on(m, instances::replicate)
    }),
    route("POST /api/v1/apps/{app_id}/instances", |m| {
        on(m, instances::create_instance)
    }),
    route("POST /api/v1/apps/{app_id}/is-allowed", |m| on(m, is_allowed::app)),
    route("POST /api/v1/apps/{app_id}/cvms/is-allowed", |m| {
        on(m, is_allowed::app_cvms)
    }),
    // KMS.
    route("GET /api/v1/kms", |m| on(m, kms::list_kms)),
    route("GET /api/v1/kms/{kms_id}/nodes", |m| on(m, kms::kms_nodes)),
    route("GET /api/v1/kms/{kms_id}/info", |m| on(m, kms::inspect)),
    route("GET /api/v1/kms/on-chain/{chain}", |m| on(m, kms::on_chain)),
    route("GET /api/v1/kms/phala/next_app_id", |m| on(m, kms::next_app_ids)),
    route("GET /api/v1/kms/{kms_id}", |m| on(m, kms::kms_info)),
    route("GET /api/v1/kms/{kms_id}/pubkey/{app_id}", |m| on(m, kms::kms_pubkey)),
    // What a deploy chooses from.
    route("GET /api/v1/instance-types", |m| on(m, catalog::all_families)),
    route("GET /api/v1/instance-types/{family}", |m| on(m, catalog::family)),
    route("GET /api/v1/os-images", |m| on(m, catalog::os_images)),
    route("GET /api/v1/attestations/nodes", |m| on(m, catalog::attestation_nodes)),
    route("GET /api/v1/attestations/ppids", |m| on(m, catalog::attestation_ppids)),
    route("GET /api/v1/attestations/device_ids", |m| {
        on(m, catalog::attestation_device_ids)
    }),
    route("POST /api/v1/attestations/verify", |m| on(m, quote_verify::verify)),
    route("GET /api/v1/attestations/recent", |m| {
        on(m, catalog::recent_attestations)
    }),
    route("GET /api/v1/attestations/raw/{checksum}", |m| {
        on(m, catalog::quote_not_found)
    }),
    route("HEAD /api/v1/attestations/raw/{checksum}", |m| {
        on(m, catalog::quote_not_found)
    }),
    route("GET /api/v1/attestations/view/{checksum}", |m| {
        on(m, catalog::quote_not_found)
    }),
    route("GET /api/v1/attestations/collateral/{checksum}", |m| {
        on(m, catalog::quote_not_found)
    }),
    route("GET /api/v1/cvms/{cvm_id}/available-os-images", |m| {
        on(m, reads::cvm_read(catalog::available_os_images))
    }),
    route("GET /api/v1/teepods/available", |m| on(m, catalog::available_nodes)),
    route("GET /api/v1/teepods/cvm-create-resources", |m| {
        on(m, catalog::create_resources)
    }),
    // One CVM's lifecycle.
    route("GET /api/v1/cvms/{cvm_id}/operations", |m| {
        on(m, lifecycle::cvm_operations)
    }),
    route("POST /api/v1/cvms/{cvm_id}/operations/cancel", |m| {
        on(m, lifecycle::cancel_operation)
    }),
    route("GET /api/v1/cvms/{cvm_id}", |m| on(m, lifecycle::get_cvm)),
    route("DELETE /api/v1/cvms/{cvm_id}", |m| on(m, lifecycle::delete_cvm)),
    route("POST /api/v1/cvms/{cvm_id}/start", |m| {
        lifecycle::action_route(Action::Start, m)
    }),
    route("POST /api/v1/cvms/{cvm_id}/stop", |m| {
        lifecycle::action_route(Action::Stop, m)
    }),
    route("POST /api/v1/cvms/{cvm_id}/shutdown", |m| {
        lifecycle::action_route(Action::Shutdown, m)
    }),
    route("POST /api/v1/cvms/{cvm_id}/restart", |m| {
        lifecycle::action_route(Action::Restart { force: false }, m)
    }),
    route("GET /api/v1/cvms/{cvm_id}/state", |m| on(m, lifecycle::cvm_state)),
    // A CVM's settings.
    route("PATCH /api/v1/cvms/{cvm_id}/resources", |m| {
        on(m, settings::update_resources)
    }),
    route("PATCH /api/v1/cvms/{cvm_id}/visibility", |m| {
        on(m, settings::update_visibility)
    }),
    route("PATCH /api/v1/cvms/{cvm_id}/name", |m| on(m, cvm_config::rename)),
    route("PATCH /api/v1/cvms/{cvm_id}/listed", |m| on(m, cvm_config::set_listed)),
    route("PATCH /api/v1/cvms/{cvm_id}/scheduled-delete", |m| {
        on(m, cvm_config::schedule_delete)
    }),
    route("PATCH /api/v1/cvms/{cvm_id}/network-config", |m| {
        on(m, cvm_config::network_config)
    }),
    route("PUT /api/v1/cvms/{cvm_id}/ports", |m| on(m, cvm_config::set_ports)),
    route("PATCH /api/v1/cvms/{cvm_id}/instance-id", |m| {
        on(m, cvm_config::refresh_instance_id)
    }),
    route("PATCH /api/v1/cvms/instance-ids", |m| {
        on(m, cvm_config::refresh_instance_ids)
    }),
    route("POST /api/v1/cvms/{cvm_id}/customize-domain-diagnose", |m| {
        on(m, cvm_config::diagnose_domains)
    }),
    route("POST /api/v1/cvms/{cvm_id}/is-allowed", |m| on(m, is_allowed::cvm)),
    // A CVM's reads.
    route("GET /api/v1/cvms/{cvm_id}/docker-compose.yml", |m| {
        on(m, reads::cvm_read(reads::docker_compose))
    }),
    route("GET /api/v1/cvms/{cvm_id}/pre-launch-script", |m| {
        on(m, reads::cvm_read(reads::pre_launch_script))
    }),
    route("GET /api/v1/cvms/{cvm_id}/user_config", |m| {
        on(m, reads::cvm_read(reads::user_config))
    }),
    route("GET /api/v1/cvms/{cvm_id}/network", |m| {
        on(m, reads::cvm_read(reads::network))
    }),
    route("GET /api/v1/cvms/{cvm_id}/stats", |m| {
        on(m, reads::cvm_read(reads::stats))
    }),
    route("GET /api/v1/cvms/{cvm_id}/ports", |m| {
        on(m, reads::cvm_read(reads::ports))
    }),
    route("GET /api/v1/cvms/{cvm_id}/firewall-status", |m| {
        on(m, reads::cvm_read(reads::firewall_status))
    }),
    route("GET /api/v1/cvms/{cvm_id}/network-config", |m| {
        on(m, reads::cvm_read(reads::network_config))
    }),
    route("GET /api/v1/cvms/{cvm_id}/operation-status", |m| {
        on(m, reads::cvm_read(reads::operation_status))
    }),
    route("GET /api/v1/cvms/{cvm_id}/attestation", |m| {
        on(m, reads::cvm_read(attestation::attestation))
    }),
    route("GET /api/v1/cvms/{cvm_id}/composition", |m| {
        on(m, reads::cvm_read(attestation::composition))
    }),
    // The account.
    route("GET /api/v1/auth/me", |m| on(m, account::me)),
    route("POST /api/v1/auth/device/code", |m| on(m, device_login::request_code)),
    route("POST /api/v1/auth/device/token", |m| on(m, device_login::poll_token)),
    route("GET /api/v1/workspaces", |m| on(m, account::list_workspaces)),
    route("GET /api/v1/workspaces/{team_slug}", |m| on(m, account::get_workspace)),
    route("GET /api/v1/workspaces/{team_slug}/nodes", |m| {
        on(m, account::workspace_nodes)
    }),
    route("GET /api/v1/workspaces/{team_slug}/quotas", |m| {
        on(m, account::workspace_quotas)
    }),
    route("GET /api/v1/user/ssh-keys", |m| on(m, ssh_keys::list)),
    route("POST /api/v1/user/ssh-keys", |m| on(m, ssh_keys::create)),
    route("DELETE /api/v1/user/ssh-keys/{key_id}", |m| on(m, ssh_keys::delete)),
    route("POST /api/v1/user/ssh-keys/github-profile", |m| {
        on(m, ssh_keys::import_github)
    }),
    route("POST /api/v1/user/ssh-keys/github-sync", |m| {
        on(m, ssh_keys::sync_github)
    }),
    // The workspace's webhooks (deliveries: crate::webhooks).
    route("GET /api/v1/workspace/webhooks", |m| on(m, webhooks::list)),
    route("POST /api/v1/workspace/webhooks", |m| on(m, webhooks::create)),
    route("GET /api/v1/workspace/webhooks/{webhook_id}", |m| on(m, webhooks::get)),
    route("PUT /api/v1/workspace/webhooks/{webhook_id}", |m| {
        on(m, webhooks::update)
    }),
    route("DELETE /api/v1/workspace/webhooks/{webhook_id}", |m| {
        on(m, webhooks::delete)
    }),
    route("POST /api/v1/workspace/webhooks/{webhook_id}/reveal-secret", |m| {
        on(m, webhooks::reveal_secret)
    }),
    route("POST /api/v1/workspace/webhooks/{webhook_id}/rotate-secret", |m| {
        on(m, webhooks::rotate_secret)
    }),
    route("POST /api/v1/workspace/webhooks/{webhook_id}/test", |m| {
        on(m, webhooks::test)
    }),
    route("GET /api/v1/workspace/webhooks/{webhook_id}/deliveries", |m| {
        on(m, webhooks::deliveries)
    }),
    route(
        "POST /api/v1/workspace/webhooks/{webhook_id}/deliveries/{event_id}/resend",
        |m| on(m, webhooks::resend),
    ),
    route("GET /api/v1/workspace/webhooks/{webhook_id}/stats", |m| {
        on(m, webhooks::stats)
    }),
];

/// `op`'s method and path, and the method as axum filters it (`None`: not one it routes).
pub(crate) fn split(op: &str) -> Option<(MethodFilter, &str)> {
    let (method, path) = op.split_once(' ')?;
    let filter = match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        "HEAD" => MethodFilter::HEAD,
        _ => return None,
    };
    Some((filter, path))
}

const fn names<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = ROUTES[i].op;
        i += 1;
    }
    out
}

/// The operations the simulator answers, `METHOD /path` as the document
/// writes them: the operations of the route table (`ROUTES`), in its order. Every other
/// operation of the overlaid document answers 501 naming itself
/// (tests/api.rs checks both halves); `phala-cloud-sim --list-operations`
/// prints this list (the conformance run tests these).
pub const IMPLEMENTED: &[&str] = &names::<{ ROUTES.len() }>();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_a_method_and_a_path_once() {
        let mut seen = std::collections::BTreeSet::new();
        for r in ROUTES {
            let (_, path) = split(r.op).unwrap_or_else(|| panic!("{}: no method", r.op));
            assert!(path.starts_with("/api/v1/"), "{}", r.op);
            assert!(seen.insert(r.op), "{} twice", r.op);
        }
        assert_eq!(IMPLEMENTED.len(), ROUTES.len());
    }
}

//! The caller's account: who they are (`auth/me`, each version's shape),
//! the workspaces their key may act in, each one's nodes and quotas.

// Handlers return a ready `Response` as their error; boxing it buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::fleet::Fleet;
use crate::state::{Authed, Caller, Shared, api_error, bounded, page_of};

/// Every workspace's tier.
const TIER: &str = "pro";

/// A workspace's limits: vCPUs, memory (MB), disk (GB), CVMs.
const QUOTA: (i64, i64, i64, i64) = (64, 128 * 1024, 2000, 50);

/// The user behind the caller's key: the owner of the workspace it acts in.
pub(crate) fn user_of(fleet: &Fleet, caller: &Caller) -> usize {
    caller.workspace.min(fleet.users.len().saturating_sub(1))
}

fn email(username: &str) -> String {
    format!("{username}@example.com")
}

/// `GET /auth/me`: the user, the workspace and its credits (2026-01-21
/// on), before that one flat record.
pub(crate) async fn me(State(shared): State<Arc<Shared>>, Authed { caller, .. }: Authed) -> Response {
    let inner = shared.lock();
    let fleet = &inner.fleet;
    let user = &fleet.users[user_of(fleet, &caller)];
    let ws = &fleet.workspaces[caller.workspace];
    let avatar = format!("https://avatars.example.com/{}.png", user.username);
    if !caller.cvminfo {
        return axum::Json(json!({
            "username": user.username, "email": email(&user.username), "credits": 100.0, "granted_credits": 0.0,
            "avatar": avatar, "team_name": ws.name, "team_tier": TIER,
        }))
        .into_response();
    }
    axum::Json(json!({
        "user": {
            "username": user.username, "email": email(&user.username),
            "role": if caller.admin { "admin" } else { "user" }, "avatar": avatar, "email_verified": true,
            "totp_enabled": false, "has_backup_codes": false, "flag_has_password": true,
        },
        "workspace": {"id": ws.id, "name": ws.name, "slug": ws.name, "tier": TIER, "role": "owner", "avatar": null},
        "credits": {"balance": "100.00", "granted_balance": "0.00", "is_post_paid": false, "outstanding_amount": null},
    }))
    .into_response()
}

/// The workspaces the caller's key may act in (an admin's: every one).
fn reachable(fleet: &Fleet, caller: &Caller) -> Vec<usize> {
    if caller.admin {
        (0..fleet.workspaces.len()).collect()
    } else {
        caller.workspaces.clone()
    }
}

fn workspace_json(fleet: &Fleet, ws: usize, default: bool) -> Value {
    let w = &fleet.workspaces[ws];
    json!({
        "id": w.id, "name": w.name, "slug": w.name, "role": "owner", "tier": TIER,
        "confidential_models_enabled": false, "created_at": "2026-01-01T00:00:00Z", "is_default": default,
    })
}

/// `GET /workspaces`: every workspace the key may act in.
pub(crate) async fn list_workspaces(State(shared): State<Arc<Shared>>, Authed { caller, .. }: Authed) -> Response {
    let inner = shared.lock();
    let fleet = &inner.fleet;
    let all = reachable(fleet, &caller);
    let first = caller.workspaces.first().copied();
    let data: Vec<Value> = all
        .iter()
        .map(|&ws| workspace_json(fleet, ws, Some(ws) == first))
        .collect();
    axum::Json(json!({"data": data, "pagination": {"has_more": false, "next_cursor": null, "total": data.len()}}))
        .into_response()
}

/// The workspace `{team_slug}` names (its slug or id) if the key may act
/// in it; else the 404 the service gives.
fn find_workspace(fleet: &Fleet, caller: &Caller, slug: &str, rid: &str) -> Result<usize, Response> {
    reachable(fleet, caller)
        .into_iter()
        .find(|&ws| fleet.workspaces[ws].name == slug || fleet.workspaces[ws].id == slug)
        .ok_or_else(|| {
            let msg = format!("Workspace {slug} not found");
            api_error(StatusCode::NOT_FOUND, "ERR-06-001", &msg, rid)
        })
}

/// `GET /workspaces/{team_slug}`.
pub(crate) async fn get_workspace(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(slug): Path<String>,
) -> Response {
    let inner = shared.lock();
    match find_workspace(&inner.fleet, &caller, &slug, &rid) {
        Ok(ws) => axum::Json(workspace_json(&inner.fleet, ws, caller.workspaces.first() == Some(&ws))).into_response(),
        Err(r) => r,
    }
}

/// `GET /workspaces/{team_slug}/nodes`: the nodes the workspace may deploy
/// to (every simulated node), a page at a time.
pub(crate) async fn workspace_nodes(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(slug): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let (page, page_size) = match (
        bounded(&query, "page", 1, 1, u64::MAX),
        bounded(&query, "page_size", 20, 1, u64::MAX),
    ) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let inner = shared.lock();
    let fleet = &inner.fleet;
    if let Err(r) = find_workspace(fleet, &caller, &slug, &rid) {
        return r;
    }
    let all: Vec<Value> = fleet
        .nodes
        .iter()
        .map(|n| {
            json!({"object_type": "node", "id": n.id, "name": n.name, "region": n.region,
                   "device_id": crate::deploy::device_id(n.id), "ppid": null, "status": "ONLINE", "version": "0.5.3"})
        })
        .collect();
    let (items, pages) = page_of(&all, page, page_size);
    axum::Json(json!({"items": items, "total": all.len(), "page": page, "page_size": page_size, "pages": pages}))
        .into_response()
}

/// `GET /workspaces/{team_slug}/quotas`: the workspace's limits and what
/// its live CVMs leave of them.
pub(crate) async fn workspace_quotas(
    State(shared): State<Arc<Shared>>,
    Authed { caller, rid }: Authed,
    Path(slug): Path<String>,
) -> Response {
    let (inner, now) = shared.now();
    let fleet = &inner.fleet;
    let ws = match find_workspace(fleet, &caller, &slug, &rid) {
        Ok(ws) => ws,
        Err(r) => return r,
    };
    let mut used = (0, 0, 0, 0);
    for &i in fleet.in_workspace(ws) {
        let cvm = &fleet.cvms[i];
        used = (
            used.0 + cvm.vcpu,
            used.1 + cvm.memory_mb,
            used.2 + cvm.disk_gb,
            used.3 + 1,
        );
    }
    let quota = |limit: i64, taken: i64| json!({"limit": limit, "remaining": (limit - taken).max(0)});
    let as_of = fleet
        .clock(now, shared.origin)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    axum::Json(json!({
        "team_slug": fleet.workspaces[ws].name, "tier": TIER, "as_of": as_of,
        "quotas": {
            "vcpu": quota(QUOTA.0, used.0), "memory_mb": quota(QUOTA.1, used.1),
            "disk_gb": quota(QUOTA.2, used.2), "vm_slots": quota(QUOTA.3, used.3),
        },
        "reserved_gpu": {"gpus": quota(0, 0), "in_use": 0, "misconfigured": 0}, "reserved_nodes": quota(0, 0),
    }))
    .into_response()
}

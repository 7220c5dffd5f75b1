//! The fleet's state machine, driven with explicit instants.

use super::*;
use crate::config::SimConfig;

/// Operations in flight on the clock, one entry each, and the restarts
/// among them counted.
fn on_clock(fleet: &Fleet) -> bool {
    let busy = fleet.cvms.iter().filter(|c| c.operation.is_some()).count();
    let restarts = fleet
        .cvms
        .iter()
        .filter(|c| c.operation.as_ref().is_some_and(|o| o.kind == "restart"))
        .count();
    fleet.wake.len() == busy
        && fleet.restarting() == restarts
        && fleet
            .wake
            .iter()
            .all(|&(at, i)| fleet.cvms[i].operation.as_ref().is_some_and(|op| op.wake_at() == at))
}

/// A deleted CVM is gone from every lookup, scan and index, its
/// operation off the clock, and no other CVM's index moves.
#[test]
fn a_delete_leaves_every_other_index_in_place() {
    let mut fleet = Fleet::generate(&SimConfig::default());
    let origin = Instant::now();
    let idx = (0..fleet.cvms.len())
        .find(|&i| fleet.cvms[i].status == "running" && fleet.cvms[i].operation.is_none())
        .expect("a running CVM");
    assert_eq!(
        fleet.act(idx, Action::Restart { force: false }, origin, origin),
        Acted::Applied
    );
    let gone = fleet.cvms[idx].clone();
    let others: Vec<(usize, String)> = fleet
        .live()
        .filter(|&i| i != idx)
        .map(|i| (i, fleet.cvms[i].id.clone()))
        .collect();
    let members = fleet.in_workspace(gone.workspace).len();
    let undashed = gone.vm_uuid.replace('-', "");
    let keys = [&gone.id, &gone.vm_uuid, &undashed, &gone.name, &gone.instance_id];
    for key in keys {
        assert_eq!(fleet.find(key), Some(idx), "{key}");
    }
    fleet.remove(idx);
    fleet.remove(idx);
    for key in keys {
        assert_eq!(fleet.find(key), None, "{key}");
    }
    assert!(!fleet.live().any(|i| i == idx));
    assert!(!fleet.in_workspace(gone.workspace).contains(&idx));
    assert_eq!(fleet.in_workspace(gone.workspace).len(), members - 1);
    assert!(fleet.wake.iter().all(|&(_, i)| i != idx) && on_clock(&fleet));
    for (i, id) in others {
        assert_eq!(fleet.find(&id), Some(i));
    }
}

/// `tick` applies exactly the transitions due, a restart's halfway
/// included, and a superseded operation leaves the clock. Instants are
/// passed in: nothing here waits.
#[test]
fn tick_applies_what_is_due_and_nothing_else() {
    let config = SimConfig {
        cvms: 40,
        transition_jitter: 0.0,
        ..SimConfig::default()
    };
    let mut fleet = Fleet::generate(&config);
    let origin = Instant::now();
    let running: Vec<usize> = (0..fleet.cvms.len())
        .filter(|&i| fleet.cvms[i].status == "running" && fleet.cvms[i].operation.is_none())
        .take(3)
        .collect();
    let [stop, graceful, forced] = running[..] else {
        panic!("the fleet has fewer than 3 running CVMs")
    };
    let s = |secs: u64| origin + Duration::from_secs(secs);
    assert_eq!(fleet.act(stop, Action::Stop, origin, origin), Acted::Applied);
    assert_eq!(
        fleet.act(graceful, Action::Restart { force: false }, origin, origin),
        Acted::Applied
    );
    assert_eq!(
        fleet.act(forced, Action::Restart { force: true }, origin, origin),
        Acted::Applied
    );
    assert!(on_clock(&fleet));
    let status = |fleet: &Fleet, i: usize| fleet.cvms[i].status.clone();

    fleet.tick(s(11), origin);
    assert_eq!(
        [status(&fleet, stop), status(&fleet, graceful), status(&fleet, forced)],
        ["stopping"; 3]
    );

    // 12 s: the stop is done and the forced restart is halfway.
    fleet.tick(s(12), origin);
    assert_eq!(status(&fleet, stop), "stopped");
    assert_eq!(status(&fleet, forced), "starting");
    assert_eq!(status(&fleet, graceful), "stopping");
    assert!(fleet.cvms[stop].operation.is_none() && on_clock(&fleet));

    // A force stop supersedes the graceful restart: its entry goes.
    assert_eq!(fleet.act(graceful, Action::Stop, s(13), origin), Acted::Applied);
    assert!(on_clock(&fleet));

    // The stop begun at 13 s ends at 25 s; the forced restart (12 s down, 20 s up) at 32 s.
    fleet.tick(s(24), origin);
    assert_eq!(status(&fleet, graceful), "stopping");
    fleet.tick(s(25), origin);
    assert_eq!(status(&fleet, graceful), "stopped");
    assert_eq!(status(&fleet, forced), "starting");
    fleet.tick(s(32), origin);
    assert_eq!(status(&fleet, forced), "running");
    assert!(on_clock(&fleet));
    let history = &fleet.cvms[graceful].history;
    assert_eq!(history[history.len() - 2].status, "failed", "the superseded restart");
    assert_eq!(history[history.len() - 1].status, "completed");
}

//! Property tests: random sequences of operations by random actors, checking
//! after every step that the invariants hold whatever the outcome.

mod support;

use std::collections::BTreeMap;

use orgman_domain::{
    Actor, LifecycleAction, OrgRole, OrgStatus, Organization, OrganizationId, PageRequest,
};
use orgman_memory::block_on;
use proptest::prelude::*;
use support::{World, name};

#[derive(Clone, Debug)]
enum Op {
    Add {
        actor: usize,
        org: usize,
        target: usize,
        role: OrgRole,
    },
    Change {
        actor: usize,
        org: usize,
        target: usize,
        role: OrgRole,
    },
    Remove {
        actor: usize,
        org: usize,
        target: usize,
    },
    Transition {
        actor: usize,
        org: usize,
        action: LifecycleAction,
    },
    Rename {
        actor: usize,
        org: usize,
        name: u8,
    },
    AdvanceDays(u8),
}

/// Actor 0 is the platform admin, 1..=USERS ordinary users.
const USERS: usize = 4;
const ORGS: usize = 2;

fn role() -> impl Strategy<Value = OrgRole> {
    prop::sample::select(OrgRole::ALL.to_vec())
}

fn action() -> impl Strategy<Value = LifecycleAction> {
    prop::sample::select(vec![
        LifecycleAction::Suspend,
        LifecycleAction::Reactivate,
        LifecycleAction::RequestDeletion,
        LifecycleAction::Restore,
        LifecycleAction::Purge,
    ])
}

fn op() -> impl Strategy<Value = Op> {
    let actor = 0..=USERS;
    let target = 1..=USERS;
    let org = 0..ORGS;
    prop_oneof![
        4 => (actor.clone(), org.clone(), target.clone(), role())
            .prop_map(|(actor, org, target, role)| Op::Add { actor, org, target, role }),
        4 => (actor.clone(), org.clone(), target.clone(), role())
            .prop_map(|(actor, org, target, role)| Op::Change { actor, org, target, role }),
        3 => (actor.clone(), org.clone(), target)
            .prop_map(|(actor, org, target)| Op::Remove { actor, org, target }),
        2 => (actor.clone(), org.clone(), action())
            .prop_map(|(actor, org, action)| Op::Transition { actor, org, action }),
        1 => (actor, org, 0..3u8).prop_map(|(actor, org, name)| Op::Rename { actor, org, name }),
        1 => (0..40u8).prop_map(Op::AdvanceDays),
    ]
}

type Snapshot = BTreeMap<OrganizationId, (Organization, Vec<(String, OrgRole)>)>;

fn snapshot(world: &World, orgs: &[OrganizationId]) -> Snapshot {
    orgs.iter()
        .map(|id| {
            let org = block_on(world.service.get(&world.admin, *id)).unwrap();
            let members = world
                .memory
                .store
                .memberships_of(*id)
                .into_iter()
                .map(|m| (m.user_id.to_string(), m.role))
                .collect();
            (*id, (org, members))
        })
        .collect()
}

fn allowed_edge(from: OrgStatus, to: OrgStatus) -> bool {
    [
        LifecycleAction::Suspend,
        LifecycleAction::Reactivate,
        LifecycleAction::RequestDeletion,
        LifecycleAction::Restore,
        LifecycleAction::Purge,
    ]
    .into_iter()
    .any(|action| from.after(action) == Some(to))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_operation(ops in prop::collection::vec(op(), 1..60)) {
        let world = World::new();
        let mut actors: Vec<Actor> = vec![world.admin.clone()];
        actors.extend((1..=USERS).map(|i| world.user(&format!("user-{i}"))));
        let orgs: Vec<OrganizationId> = (0..ORGS)
            .map(|i| world.org_owned_by(&format!("org-{i}"), &actors[1 + i]).id())
            .collect();

        for op in ops {
            let before = snapshot(&world, &orgs);
            let events_before = world.events();
            let outcome = match &op {
                Op::Add { actor, org, target, role } => block_on(world.service.add_member(
                    &actors[*actor], orgs[*org], actors[*target].user_id(), *role)).map(drop),
                Op::Change { actor, org, target, role } => block_on(world.service.change_role(
                    &actors[*actor], orgs[*org], actors[*target].user_id(), *role)).map(drop),
                Op::Remove { actor, org, target } => block_on(world.service.remove_member(
                    &actors[*actor], orgs[*org], actors[*target].user_id())),
                Op::Transition { actor, org, action } => block_on(world.service.transition(
                    &actors[*actor], orgs[*org], *action)).map(drop),
                Op::Rename { actor, org, name: n } => block_on(world.service.rename(
                    &actors[*actor], orgs[*org], name(&format!("Name {n}")), None)).map(drop),
                Op::AdvanceDays(days) => {
                    world.memory.clock.advance(orgman_domain::time::Duration::days(i64::from(*days)));
                    Ok(())
                }
            };
            let after = snapshot(&world, &orgs);
            let new_events = world.events() - events_before;

            // An event if and only if the state changed; a refusal changes nothing.
            let changed = before != after;
            prop_assert_eq!(new_events, usize::from(changed), "{:?} -> {:?}", op, outcome);
            if outcome.is_err() {
                prop_assert!(!changed, "refused {:?} changed state", op);
            }

            for (id, (org, members)) in &after {
                // At least one owner until it is purged; nothing after.
                if org.status() == OrgStatus::Deleted {
                    prop_assert!(members.is_empty(), "{} purged with members", id);
                } else {
                    prop_assert!(members.iter().any(|(_, r)| *r == OrgRole::Owner), "{} lost its owners", id);
                }
                // A user appears at most once.
                let mut users: Vec<_> = members.iter().map(|(u, _)| u).collect();
                users.dedup();
                prop_assert_eq!(users.len(), members.len());
                // Lifecycle moves only along allowed edges.
                let from = before[id].0.status();
                if from != org.status() {
                    prop_assert!(allowed_edge(from, org.status()), "{:?} -> {:?}", from, org.status());
                }
                // Only ACTIVE organizations change members or name (a
                // purge erases the members of a PENDING_DELETION one).
                if from != OrgStatus::Active && org.status() != OrgStatus::Deleted {
                    prop_assert_eq!(&before[id].1, members);
                    prop_assert_eq!(before[id].0.name(), org.name());
                }
            }

            // Every listing agrees with storage.
            for (index, actor) in actors.iter().enumerate().skip(1) {
                let mine = block_on(world.service.list_mine(actor, PageRequest::first())).unwrap();
                let expected = after
                    .values()
                    .filter(|(org, members)| org.status() != OrgStatus::Deleted
                        && members.iter().any(|(u, _)| *u == actor.user_id().to_string()))
                    .count();
                prop_assert_eq!(mine.items.len(), expected, "list_mine of user {}", index);
            }
        }
    }
}

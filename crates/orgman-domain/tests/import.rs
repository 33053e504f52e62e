//! Bulk member import through the use case, with the in-memory ports.

mod support;

use futures_util::StreamExt;
use orgman_domain::{
    EventKind, ImportEntry, ImportOutcome, ImportTotals, LifecycleAction, OrgError, OrgRole,
    OrgStatus, Permission, UserId,
};
use orgman_memory::block_on;
use support::World;

fn entries(users: &[UserId], role: OrgRole) -> Vec<ImportEntry> {
    users
        .iter()
        .map(|&user| ImportEntry::new(user, role))
        .collect()
}

#[test]
fn chunks_add_members_with_one_event_each_in_order() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let users: Vec<_> = (0..5).map(|n| w.user(&format!("u{n}")).user_id()).collect();
    let before = w.events();

    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    let first = block_on(import.apply(&entries(&users[..3], OrgRole::Member))).unwrap();
    let second = block_on(import.apply(&entries(&users[3..], OrgRole::Admin))).unwrap();
    assert!(
        first
            .iter()
            .chain(&second)
            .all(|o| *o == ImportOutcome::Added)
    );
    assert_eq!(
        import.totals(),
        ImportTotals {
            added: 5,
            unchanged: 0,
            failed: 0,
            chunks: 2
        }
    );
    let events = w.memory.store.committed_events();
    let added: Vec<_> = events[before..]
        .iter()
        .map(|e| match e.kind {
            EventKind::MemberAdded { user_id, role } => (user_id, role, e.actor),
            ref other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(n, &u)| {
            let role = if n < 3 {
                OrgRole::Member
            } else {
                OrgRole::Admin
            };
            (u, role, Some(ann.user_id().as_uuid()))
        })
        .collect();
    assert_eq!(added, expected);
}

#[test]
fn rows_are_judged_one_by_one_and_a_rerun_changes_nothing() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let bob = w.user("bob").user_id();
    let carl = w.user("carl").user_id();
    let stranger = UserId::from_uuid(w.memory.ids.next());
    let rows = [
        ImportEntry::new(bob, OrgRole::Member),
        ImportEntry::new(stranger, OrgRole::Member),
        ImportEntry::new(bob, OrgRole::Member),
        ImportEntry::new(bob, OrgRole::Admin),
        ImportEntry::new(ann.user_id(), OrgRole::Owner),
        ImportEntry::new(carl, OrgRole::Owner),
    ];
    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    let outcomes = block_on(import.apply(&rows)).unwrap();
    assert_eq!(
        outcomes,
        vec![
            ImportOutcome::Added,
            ImportOutcome::Failed(OrgError::UserNotFound),
            ImportOutcome::Unchanged,
            ImportOutcome::Failed(OrgError::AlreadyMember),
            ImportOutcome::Unchanged,
            ImportOutcome::Added,
        ]
    );
    let events = w.events();
    let again = block_on(import.apply(&rows)).unwrap();
    assert_eq!(again[0], ImportOutcome::Unchanged);
    assert_eq!(again[5], ImportOutcome::Unchanged);
    assert_eq!(w.events(), events, "a rerun writes no event");
}

#[test]
fn an_admin_imports_but_cannot_grant_owner() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let dee = w.user("dee");
    block_on(
        w.service
            .add_member(&ann, org.id(), dee.user_id(), OrgRole::Admin),
    )
    .unwrap();
    let eve = w.user("eve").user_id();
    let fay = w.user("fay").user_id();
    let import = block_on(w.service.start_import(&dee, org.id())).unwrap();
    let outcomes = block_on(import.apply(&[
        ImportEntry::new(eve, OrgRole::Owner),
        ImportEntry::new(fay, OrgRole::Admin),
    ]))
    .unwrap();
    assert_eq!(
        outcomes,
        vec![
            ImportOutcome::Failed(OrgError::OwnerRequired),
            ImportOutcome::Added
        ]
    );
    // A user nobody knows, listed several times: each row is judged as if
    // alone (a role the admin may not grant, else not found), never as if
    // an earlier row had added them.
    let stranger = UserId::from_uuid(w.memory.ids.next());
    let row = |role| ImportEntry::new(stranger, role);
    let outcomes = block_on(import.apply(&[
        row(OrgRole::Member),
        row(OrgRole::Member),
        row(OrgRole::Owner),
        row(OrgRole::Admin),
    ]))
    .unwrap();
    assert_eq!(
        outcomes,
        vec![
            ImportOutcome::Failed(OrgError::UserNotFound),
            ImportOutcome::Failed(OrgError::UserNotFound),
            ImportOutcome::Failed(OrgError::OwnerRequired),
            ImportOutcome::Failed(OrgError::UserNotFound),
        ]
    );
    assert!(
        !w.memory
            .store
            .committed_events()
            .iter()
            .any(|e| e.kind.member() == Some(stranger)),
        "no event for a user not added"
    );
}

#[test]
fn members_and_outsiders_cannot_start_an_import() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let bob = w.user("bob");
    assert_eq!(
        block_on(w.service.start_import(&bob, org.id())).unwrap_err(),
        OrgError::NotFound
    );
    block_on(
        w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    assert_eq!(
        block_on(w.service.start_import(&bob, org.id())).unwrap_err(),
        OrgError::Forbidden {
            permission: Permission::MembersManage
        }
    );
}

#[test]
fn a_chunk_after_a_suspension_or_a_demotion_writes_nothing_and_earlier_chunks_stay() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let dee = w.user("dee");
    block_on(
        w.service
            .add_member(&ann, org.id(), dee.user_id(), OrgRole::Admin),
    )
    .unwrap();
    let users: Vec<_> = (0..4).map(|n| w.user(&format!("u{n}")).user_id()).collect();

    // The importing ADMIN is demoted between two chunks.
    let import = block_on(w.service.start_import(&dee, org.id())).unwrap();
    block_on(import.apply(&entries(&users[..2], OrgRole::Member))).unwrap();
    block_on(
        w.service
            .change_role(&ann, org.id(), dee.user_id(), OrgRole::Member),
    )
    .unwrap();
    let events = w.events();
    assert_eq!(
        block_on(import.apply(&entries(&users[2..], OrgRole::Member))).unwrap_err(),
        OrgError::Forbidden {
            permission: Permission::MembersManage
        }
    );
    assert_eq!(w.events(), events);
    assert_eq!(import.totals().added, 2);

    // An OWNER's import stops when the organization is suspended.
    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    block_on(import.apply(&entries(&users[2..3], OrgRole::Member))).unwrap();
    block_on(
        w.service
            .transition(&w.admin, org.id(), LifecycleAction::Suspend),
    )
    .unwrap();
    assert_eq!(
        block_on(import.apply(&entries(&users[3..], OrgRole::Member))).unwrap_err(),
        OrgError::ReadOnly {
            status: OrgStatus::Suspended
        }
    );
    let members = w.memory.store.memberships_of(org.id());
    assert_eq!(members.len(), 2 + 3, "ann, dee and the three committed");
    assert!(!members.iter().any(|m| m.user_id == users[3]));
}

#[test]
fn storage_going_down_mid_import_keeps_what_committed() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let users: Vec<_> = (0..4).map(|n| w.user(&format!("u{n}")).user_id()).collect();
    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    block_on(import.apply(&entries(&users[..2], OrgRole::Member))).unwrap();
    w.memory.store.set_unavailable(true);
    assert!(matches!(
        block_on(import.apply(&entries(&users[2..], OrgRole::Member))),
        Err(OrgError::Unavailable(_))
    ));
    w.memory.store.set_unavailable(false);
    assert_eq!(w.memory.store.memberships_of(org.id()).len(), 1 + 2);
    // Going again over the whole list completes it.
    let outcomes = block_on(import.apply(&entries(&users, OrgRole::Member))).unwrap();
    assert_eq!(
        outcomes,
        vec![
            ImportOutcome::Unchanged,
            ImportOutcome::Unchanged,
            ImportOutcome::Added,
            ImportOutcome::Added
        ]
    );
}

/// The chunks of `users`, `size` at a time, tagged with their number.
fn numbered_chunks(users: &[UserId], size: usize) -> Vec<(usize, Vec<ImportEntry>)> {
    users
        .chunks(size)
        .map(|chunk| entries(chunk, OrgRole::Member))
        .enumerate()
        .collect()
}

#[test]
fn a_run_commits_chunks_in_file_order_and_reports_each_once() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let users: Vec<_> = (0..7).map(|n| w.user(&format!("u{n}")).user_id()).collect();
    let before = w.events();
    let mut chunks = numbered_chunks(&users, 2);
    // An empty chunk (every row refused while parsing) keeps its turn, and
    // a chunk naming a user of the chunk before waits for its commit.
    chunks.insert(2, (9, Vec::new()));
    chunks.push((10, entries(&users[6..], OrgRole::Member)));
    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    let mut reported = Vec::new();
    block_on(
        import.run(futures_util::stream::iter(chunks), |tag, outcomes| {
            reported.push((tag, outcomes))
        }),
    )
    .unwrap();
    let tags: Vec<usize> = reported.iter().map(|(tag, _)| *tag).collect();
    assert_eq!(tags, [0, 1, 9, 2, 3, 10]);
    assert_eq!(reported[2].1, Vec::new());
    assert_eq!(
        reported[5].1,
        [ImportOutcome::Unchanged],
        "after chunk 3 committed"
    );
    let added: Vec<UserId> = w.memory.store.committed_events()[before..]
        .iter()
        .map(|e| match e.kind {
            EventKind::MemberAdded { user_id, .. } => user_id,
            ref other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(added, users, "events in file order");
    assert_eq!(import.totals().chunks, 5);
}

#[test]
fn a_run_stops_at_the_first_chunk_that_cannot_be_applied() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let users: Vec<_> = (0..12)
        .map(|n| w.user(&format!("u{n}")).user_id())
        .collect();
    let import = block_on(w.service.start_import(&ann, org.id())).unwrap();
    let mut reported = Vec::new();
    let mut read = 0;
    // Storage goes down once the third chunk has been handed over: the
    // second, in the database beside it, may or may not commit; at most one
    // chunk is read ahead of the failed one, and what was reported is
    // exactly what committed.
    let chunks = futures_util::stream::iter(numbered_chunks(&users, 2)).inspect(|(tag, _)| {
        read += 1;
        if *tag == 2 {
            w.memory.store.set_unavailable(true);
        }
    });
    let error =
        block_on(import.run(chunks, |tag, outcomes| reported.push((tag, outcomes)))).unwrap_err();
    w.memory.store.set_unavailable(false);
    assert!(matches!(error, OrgError::Unavailable(_)), "{error:?}");
    assert!((3..=4).contains(&read), "{read} of 6 chunks read");
    let committed: usize = reported.iter().map(|(_, outcomes)| outcomes.len()).sum();
    assert_eq!(w.memory.store.memberships_of(org.id()).len(), 1 + committed);
    let tags: Vec<usize> = reported.iter().map(|(tag, _)| *tag).collect();
    assert!(tags == [0] || tags == [0, 1], "{tags:?}");
}

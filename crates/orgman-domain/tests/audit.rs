//! Reading the audit trail through the use cases, with the in-memory ports.

mod support;

use std::sync::Arc;

use orgman_domain::{ActorFilter, AuditService, OrgError, OrgRole, PageRequest, Permission};
use orgman_memory::block_on;
use support::World;

#[test]
fn owners_and_admins_read_their_trail_members_and_outsiders_do_not() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let other = w.org_owned_by("other", &ann);
    let (bob, dee, eve) = (w.user("bob"), w.user("dee"), w.user("eve"));
    block_on(
        w.service
            .add_member(&ann, org.id(), bob.user_id(), OrgRole::Member),
    )
    .unwrap();
    block_on(
        w.service
            .add_member(&ann, org.id(), dee.user_id(), OrgRole::Admin),
    )
    .unwrap();
    block_on(
        w.service
            .add_member(&ann, other.id(), eve.user_id(), OrgRole::Member),
    )
    .unwrap();
    let audit = AuditService::new(Arc::new(w.memory.service()), w.memory.store.clone());

    let page = block_on(audit.organization_events(
        &dee,
        org.id(),
        None,
        ActorFilter::default(),
        PageRequest::new(None, 2),
    ))
    .unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.items.iter().all(|e| e.organization_id == org.id()));
    assert!(page.items[0].id > page.items[1].id, "newest first");
    let rest = block_on(audit.organization_events(
        &dee,
        org.id(),
        None,
        ActorFilter::default(),
        PageRequest::new(page.next, 500),
    ))
    .unwrap();
    assert!(rest.items.iter().all(|e| e.id < page.items[1].id));
    assert!(rest.next.is_none());

    let by_ann = block_on(audit.organization_events(
        &ann,
        org.id(),
        Some("organization.member.added".into()),
        ActorFilter {
            id: Some(ann.user_id().as_uuid()),
            kind: None,
        },
        PageRequest::new(None, 500),
    ))
    .unwrap();
    let added: Vec<_> = by_ann
        .items
        .iter()
        .filter_map(|e| e.kind.member())
        .collect();
    assert_eq!(added, vec![dee.user_id(), bob.user_id()]);

    assert_eq!(
        block_on(audit.organization_events(
            &bob,
            org.id(),
            None,
            ActorFilter::default(),
            PageRequest::first()
        ))
        .unwrap_err(),
        OrgError::Forbidden {
            permission: Permission::AuditRead
        }
    );
    assert_eq!(
        block_on(audit.organization_events(
            &eve,
            org.id(),
            None,
            ActorFilter::default(),
            PageRequest::first()
        ))
        .unwrap_err(),
        OrgError::NotFound
    );
    assert_eq!(
        block_on(audit.all_events(&ann, None, ActorFilter::default(), PageRequest::first()))
            .unwrap_err(),
        OrgError::PlatformAdminRequired
    );
    let everything = block_on(audit.all_events(
        &w.admin,
        None,
        ActorFilter::default(),
        PageRequest::new(None, 500),
    ))
    .unwrap();
    assert!(
        everything
            .items
            .iter()
            .any(|e| e.organization_id == other.id())
    );
}

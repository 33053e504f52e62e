//! Organization metadata through the use cases, with the in-memory ports.

mod support;

use orgman_domain::time::Duration;
use orgman_domain::{
    EventKind, LifecycleAction, Metadata, MetadataKind, OrgError, OrgRole, OrganizationPatch,
    OrganizationService, PageRequest, ServiceSettings, ValidationError,
};
use orgman_memory::block_on;
use serde_json::{Value, json};
use support::World;

fn metadata(value: Value) -> Metadata {
    Metadata::parse(MetadataKind::Public, value).unwrap()
}

fn patch(public: Option<Value>, private: Option<Value>) -> OrganizationPatch {
    OrganizationPatch {
        name: None,
        metadata: public,
        private_metadata: private,
    }
}

#[test]
fn managers_merge_metadata_and_each_change_is_one_event() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let id = org.id();

    let changed = block_on(w.service.update(
        &ann,
        id,
        &patch(
            Some(json!({"plan": "gold", "region": {"primary": "eu"}})),
            Some(json!({"crm": 42})),
        ),
        Some(org.version()),
    ))
    .unwrap();
    assert_eq!(changed.version(), org.version() + 1);
    assert_eq!(
        block_on(
            w.service
                .update(&ann, id, &patch(Some(json!({})), None), Some(org.version()))
        ),
        Err(OrgError::VersionMismatch {
            expected: org.version(),
            actual: changed.version()
        })
    );
    let event = w.memory.store.committed_events().pop().unwrap();
    assert_eq!(
        event.kind,
        EventKind::OrganizationMetadataChanged {
            metadata: Some(metadata(
                json!({"plan": "gold", "region": {"primary": "eu"}})
            )),
            private_metadata: Some(metadata(json!({"crm": 42}))),
        }
    );

    // A merge: one member removed, one nested member added; the private
    // object is untouched and stays out of the event.
    let merged = block_on(w.service.update(
        &ann,
        id,
        &patch(
            Some(json!({"plan": null, "region": {"backup": "us"}})),
            None,
        ),
        None,
    ))
    .unwrap();
    assert_eq!(
        merged.metadata(),
        &metadata(json!({"region": {"primary": "eu", "backup": "us"}}))
    );
    assert_eq!(
        merged.private_metadata(),
        Some(&metadata(json!({"crm": 42})))
    );
    assert!(matches!(
        w.memory.store.committed_events().pop().unwrap().kind,
        EventKind::OrganizationMetadataChanged {
            metadata: Some(_),
            private_metadata: None
        }
    ));

    // A patch that changes nothing records nothing.
    let events = w.events();
    let same = block_on(w.service.update(
        &ann,
        id,
        &patch(
            Some(json!({"region": {"backup": "us"}})),
            Some(json!({"gone": null})),
        ),
        None,
    ))
    .unwrap();
    assert_eq!(same.version(), merged.version());
    assert_eq!(w.events(), events);

    // `null` empties an object.
    let emptied = block_on(
        w.service
            .update(&ann, id, &patch(None, Some(Value::Null)), None),
    )
    .unwrap();
    assert_eq!(emptied.private_metadata(), Some(&Metadata::empty()));
}

#[test]
fn bad_metadata_changes_nothing_and_members_may_not_write() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let mia = w.user("mia");
    block_on(
        w.service
            .add_member(&ann, org.id(), mia.user_id(), OrgRole::Member),
    )
    .unwrap();
    let before = block_on(w.service.get(&ann, org.id())).unwrap();
    let events = w.events();
    let too_big = json!({ "blob": "x".repeat(Metadata::MAX_BYTES) });
    assert_eq!(
        block_on(
            w.service
                .update(&ann, org.id(), &patch(None, Some(too_big)), None)
        ),
        Err(OrgError::Invalid(ValidationError::MetadataInvalid {
            field: "privateMetadata",
            reason: "must be at most 8192 bytes of JSON"
        }))
    );
    // A valid name with a bad metadata patch: neither is applied.
    let mixed = OrganizationPatch {
        name: Some(orgman_domain::OrgName::parse("Renamed").unwrap()),
        metadata: Some(json!([1, 2])),
        private_metadata: None,
    };
    assert!(matches!(
        block_on(w.service.update(&ann, org.id(), &mixed, None)),
        Err(OrgError::Invalid(ValidationError::MetadataInvalid {
            field: "metadata",
            ..
        }))
    ));
    // A patch no organization could take is refused as such, even with a
    // stale version: the version only matters for patches that could apply.
    assert_eq!(
        block_on(w.service.update(
            &ann,
            org.id(),
            &patch(Some(json!(434)), None),
            Some(before.version() + 7)
        )),
        Err(OrgError::Invalid(ValidationError::MetadataInvalid {
            field: "metadata",
            reason: "must be a JSON object"
        }))
    );
    assert_eq!(
        block_on(w.service.update(
            &ann,
            org.id(),
            &patch(Some(json!({"a": 1})), None),
            Some(before.version() + 7)
        )),
        Err(OrgError::VersionMismatch {
            expected: before.version() + 7,
            actual: before.version()
        })
    );
    assert_eq!(block_on(w.service.get(&ann, org.id())).unwrap(), before);
    assert_eq!(w.events(), events);
    assert!(matches!(
        block_on(
            w.service
                .update(&mia, org.id(), &patch(Some(json!({"a": 1})), None), None)
        ),
        Err(OrgError::Forbidden { .. })
    ));
}

#[test]
fn private_metadata_is_shown_only_to_those_who_manage_the_organization() {
    let w = World::new();
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    let (mia, ada) = (w.user("mia"), w.user("ada"));
    for (who, role) in [(&mia, OrgRole::Member), (&ada, OrgRole::Admin)] {
        block_on(w.service.add_member(&ann, org.id(), who.user_id(), role)).unwrap();
    }
    block_on(w.service.update(
        &ann,
        org.id(),
        &patch(Some(json!({"shown": true})), Some(json!({"hidden": true}))),
        None,
    ))
    .unwrap();
    let private = metadata(json!({"hidden": true}));
    for (who, sees) in [(&ann, true), (&ada, true), (&mia, false), (&w.admin, true)] {
        let seen = block_on(w.service.get(who, org.id())).unwrap();
        assert_eq!(seen.metadata(), &metadata(json!({"shown": true})));
        assert_eq!(seen.private_metadata(), sees.then_some(&private), "{who:?}");
    }
    let mine = block_on(w.service.list_mine(&mia, PageRequest::new(None, 50))).unwrap();
    assert_eq!(mine.items[0].0.private_metadata(), None);
    // The cached list of the member does not leak into the admin's.
    let mine = block_on(w.service.list_mine(&ada, PageRequest::new(None, 50))).unwrap();
    assert_eq!(mine.items[0].0.private_metadata(), Some(&private));
    // A redacted organization is for reading only.
    let mut redacted = block_on(w.service.get(&mia, org.id())).unwrap();
    assert!(matches!(
        redacted.apply(
            &patch(Some(json!({})), None),
            orgman_domain::time::OffsetDateTime::now_utc()
        ),
        Err(OrgError::Internal(_))
    ));
}

#[test]
fn a_purged_organization_keeps_no_metadata() {
    let w = World::new();
    let service = OrganizationService::new(
        w.memory.ports(),
        ServiceSettings {
            deletion_grace: Duration::ZERO,
            ..ServiceSettings::default()
        },
    );
    let ann = w.user("ann");
    let org = w.org_owned_by("acme", &ann);
    block_on(service.update(
        &ann,
        org.id(),
        &patch(Some(json!({"a": 1})), Some(json!({"b": 2}))),
        None,
    ))
    .unwrap();
    block_on(service.transition(&ann, org.id(), LifecycleAction::RequestDeletion)).unwrap();
    let purged = block_on(service.transition(&w.admin, org.id(), LifecycleAction::Purge)).unwrap();
    assert!(purged.metadata().is_empty());
    assert_eq!(purged.private_metadata(), Some(&Metadata::empty()));
}

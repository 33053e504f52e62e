//! Organizations mirrored in the stack's Keycloak (its Organizations), as
//! two replicas with their own caches write them.

mod common;

use common::client;
use orgman_domain::ports::BrokerOrganizations;
use orgman_domain::{IdentityError, MirroredOrganization, OrganizationId};

fn organization(slug: &str) -> MirroredOrganization {
    MirroredOrganization {
        id: OrganizationId::from_uuid(uuid::Uuid::now_v7()),
        slug: slug.to_owned(),
        name: "Raced".into(),
        enabled: true,
        domains: vec![],
        identity_providers: vec![],
        login_redirect: None,
    }
}

/// Two replicas create one new organization at once: Keycloak takes one
/// creation, the other writer is told to try again (never refused), and
/// its next write updates the one organization. A name another
/// organization holds is refused.
#[tokio::test]
async fn racing_writers_of_a_new_organization_leave_one_and_a_taken_name_is_refused() {
    let (first, second) = (client(false), client(false));
    let wanted = organization(&orgman_testkit::unique_name("raced"));
    let (a, b) = tokio::join!(
        first.put_organization(&wanted),
        second.put_organization(&wanted)
    );
    for outcome in [&a, &b] {
        assert!(
            matches!(outcome, Ok(()) | Err(IdentityError::Unavailable(_))),
            "{outcome:?}"
        );
    }
    let renamed = MirroredOrganization {
        name: "Raced, renamed".into(),
        ..wanted.clone()
    };
    first.put_organization(&renamed).await.unwrap();
    second.put_organization(&renamed).await.unwrap();
    let held = first.organizations().await.unwrap();
    assert_eq!(held.iter().filter(|id| **id == wanted.id).count(), 1);

    let impostor = MirroredOrganization {
        id: OrganizationId::from_uuid(uuid::Uuid::now_v7()),
        ..wanted.clone()
    };
    let refused = client(false).put_organization(&impostor).await;
    assert!(
        matches!(&refused, Err(IdentityError::Rejected(reason)) if reason.contains(&wanted.slug)),
        "{refused:?}"
    );
    first.remove_organization(wanted.id).await.unwrap();
}

/// A replica with nothing remembered (just started, or another replica's
/// organization) finds Keycloak's copy when it looks the organization up;
/// when that copy already is what it would write, it writes nothing. A copy
/// that differs is written, as before.
#[tokio::test]
async fn an_organization_keycloak_already_holds_as_it_is_is_not_written_again() {
    let wanted = organization(&orgman_testkit::unique_name("kept"));
    let writer = client(false);
    writer.put_organization(&wanted).await.unwrap();
    let requests = async |organization: &MirroredOrganization| {
        let fresh = client(false);
        let before = fresh.admin_requests();
        fresh.put_organization(organization).await.unwrap();
        fresh.admin_requests() - before
    };
    let unchanged = requests(&wanted).await;
    let renamed = MirroredOrganization {
        name: "Kept, renamed".into(),
        domains: vec![],
        enabled: false,
        ..wanted.clone()
    };
    assert_eq!(
        requests(&renamed).await,
        unchanged + 1,
        "the changed copy is written"
    );
    assert_eq!(
        requests(&renamed).await,
        unchanged,
        "and Keycloak holds it: nothing to write again"
    );
    writer.remove_organization(wanted.id).await.unwrap();
}

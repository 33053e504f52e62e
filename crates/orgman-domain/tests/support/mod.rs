//! Shared set-up for the domain's tests: the in-memory ports, a platform
//! admin, and helpers to create organizations, users and SSO
//! configurations.

#![allow(dead_code, unreachable_pub)]

use orgman_domain::{Actor, OrgName, OrgRole, Organization, OrganizationService, Slug, UserId};
use orgman_memory::{InMemory, block_on};

pub struct World {
    pub memory: InMemory,
    pub service: OrganizationService,
    pub admin: Actor,
}

impl World {
    pub fn new() -> Self {
        let memory = InMemory::new();
        let service = memory.service();
        let admin = Actor::platform_admin(UserId::from_uuid(memory.ids.next()));
        memory.store.add_user(admin.user_id(), "platform-admin");
        Self {
            memory,
            service,
            admin,
        }
    }

    /// A new known user, as an ordinary actor.
    pub fn user(&self, name: &str) -> Actor {
        let actor = Actor::user(UserId::from_uuid(self.memory.ids.next()));
        self.memory.store.add_user(actor.user_id(), name);
        actor
    }

    /// An organization created by the platform admin, with `owner` added as
    /// OWNER and the admin removed, so `owner` is its only owner.
    pub fn org_owned_by(&self, slug: &str, owner: &Actor) -> Organization {
        let org = block_on(self.service.create(
            &self.admin,
            name(slug),
            Slug::parse(slug).unwrap(),
        ))
        .unwrap();
        block_on(
            self.service
                .add_member(&self.admin, org.id(), owner.user_id(), OrgRole::Owner),
        )
        .unwrap();
        block_on(
            self.service
                .remove_member(&self.admin, org.id(), self.admin.user_id()),
        )
        .unwrap();
        org
    }

    pub fn events(&self) -> usize {
        self.memory.store.committed_events().len()
    }
}

pub fn name(text: &str) -> OrgName {
    OrgName::parse(text).unwrap()
}

/// An SSO configuration of `issuer`, named `name`, with a client secret,
/// enabled, not auto-provisioning.
pub fn sso_draft(name: &str, issuer: &str) -> orgman_domain::SsoDraft {
    orgman_domain::SsoDraft {
        name: Some(name.into()),
        issuer_url: Some(orgman_domain::IssuerUrl::parse(issuer, false).unwrap()),
        client_id: Some("orgman".into()),
        client_secret: Some(orgman_domain::ClientSecret::new("s".into())),
        enabled: None,
        auto_provision: None,
        ..Default::default()
    }
}

impl World {
    /// The domain use cases over this world, with a TXT resolver the test
    /// publishes records to.
    pub fn domains(
        &self,
    ) -> (
        orgman_domain::DomainService,
        std::sync::Arc<orgman_memory::MemoryTxt>,
    ) {
        let dns = std::sync::Arc::new(orgman_memory::MemoryTxt::default());
        let domains = orgman_domain::DomainService::new(
            std::sync::Arc::new(self.memory.service()),
            self.memory.store.clone(),
            dns.clone(),
        );
        (domains, dns)
    }

    /// `name` claimed and verified by `organization` (its owner `owner`).
    pub fn verify_domain(
        &self,
        owner: &Actor,
        organization: orgman_domain::OrganizationId,
        name: &str,
    ) {
        let (domains, dns) = self.domains();
        let claimed = block_on(domains.claim(
            owner,
            organization,
            orgman_domain::DomainName::parse(name).unwrap(),
        ))
        .unwrap();
        dns.publish(&claimed.record_name(), &claimed.challenge);
        block_on(domains.verify(owner, organization, &claimed.name)).unwrap();
    }
}

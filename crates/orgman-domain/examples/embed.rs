//! How another team embeds the domain: wire ports (here the in-memory ones;
//! in production your own adapters), build the service, call use cases with
//! an explicit actor, and read the events the changes produced.
//!
//! Run with `cargo run -p orgman-domain --example embed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use orgman_domain::ports::{
    Authorizer, CommitSignal, EventEncoder, NoCache, OutboxSink, RoleAuthorizer, SyncGuard,
    SystemClock, UuidV7Generator,
};
use orgman_domain::{
    Actor, ActorFilter, ApiKeyService, AuditService, CatalogPermission, CheckScope, ClientSecret,
    DomainName, DomainPolicyChange, DomainService, Email, ImportEntry, InvitationService,
    IssuerUrl, KeyDraft, KeyName, MemberMirroring, MemberRoles, MetadataSource, MetadataUrl,
    OrgError, OrgName, OrgRole, OrganizationMirror, OrganizationPatch, OrganizationService,
    OutboxRelay, PageRequest, Permission, PermissionCheck, PermissionName, ProviderSync,
    Provisioner, RoleDraft, RoleKey, RoleRef, RoleService, SamlIdp, ServicePorts, ServiceSettings,
    SignIn, SigningCertificate, Slug, SsoDraft, SsoLoginPolicy, SsoProtocol, SsoService, UserId,
    UserProfile,
};
use orgman_domain::{
    DirectoryGroupDraft, DirectoryService, DirectoryUserDraft, GroupMatch, GroupRole,
};
use orgman_domain::{
    DispatchSettings, EventTypes, WebhookDispatcher, WebhookDraft, WebhookFanout, WebhookPorts,
    WebhookService, WebhookUrl,
};
use orgman_domain::{MemberCursor, MemberQuery, SearchPrefix};
use orgman_memory::{
    FakeCipher, MemoryBrokerOrganizations, MemoryLoginBroker, MemorySamlMetadata, MemoryStore,
    MemoryTxt, PredictableTokens, RecordingWebhooks, block_on,
};

/// Told after every commit that wrote events: where a service wakes the
/// relays that move its outbox to Kafka or an authorizer. Here it counts.
#[derive(Debug, Default)]
struct Commits(AtomicUsize);

impl CommitSignal for Commits {
    fn committed(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Directory sync: a directory's key (`scim:provision`) provisions a
/// person and a group; the organization maps the group to ADMIN, so its
/// member is one; suspending the person takes the membership away. The
/// SCIM protocol itself (filters, PATCH dialects) is `orgman-scim`'s.
fn directory(
    store: &Arc<MemoryStore>,
    commits: &Arc<Commits>,
    owner: &Actor,
    organization: orgman_domain::OrganizationId,
) -> Result<(), Box<dyn std::error::Error>> {
    let keys = ApiKeyService::new(
        Arc::new(service_with(store, commits)),
        store.clone(),
        Arc::new(PredictableTokens::default()),
    );
    let draft = KeyDraft {
        name: KeyName::parse("okta")?,
        permissions: [Permission::ScimProvision].into_iter().collect(),
        expires_at: None,
    };
    let issued = block_on(keys.create(owner, organization, draft))?;
    let okta = Actor::scim_client(block_on(keys.authenticate(issued.secret.expose()))?);
    let directory = DirectoryService::new(Arc::new(service_with(store, commits)), store.clone());
    let person = block_on(directory.create_user(
        &okta,
        organization,
        DirectoryUserDraft {
            user_name: "grace@elsewhere.example".into(),
            external_id: Some("00u-grace".into()),
            active: true,
            email: Some(Email::parse("grace@elsewhere.example")?),
            display_name: Some("Grace".into()),
            attributes: serde_json::json!({"userName": "grace@elsewhere.example"}),
        },
    ))?;
    let group = block_on(directory.create_group(
        &okta,
        organization,
        DirectoryGroupDraft {
            display_name: "Engineering".into(),
            external_id: None,
            members: [person.id].into(),
            attributes: serde_json::json!({}),
        },
    ))?;
    block_on(directory.set_group_roles(
        owner,
        organization,
        vec![GroupRole {
            group: GroupMatch::Name("engineering".into()),
            role: RoleRef::BuiltIn(OrgRole::Admin),
        }],
    ))?;
    let user = person
        .user_id
        .ok_or("an untrusted address is a user of the directory's")?;
    let service = service_with(store, commits);
    println!(
        "{} of {} is {:?}",
        person.user_name,
        group.display_name,
        block_on(service.role_of(organization, user))?
    );
    let mut suspended = person.clone();
    suspended.active = false;
    block_on(directory.replace_user(
        &okta,
        organization,
        person.id,
        DirectoryUserDraft {
            user_name: suspended.user_name,
            external_id: suspended.external_id,
            active: false,
            email: suspended.email,
            display_name: suspended.display_name,
            attributes: suspended.attributes,
        },
        Some(person.version),
    ))?;
    println!(
        "suspended: {:?}",
        block_on(service.role_of(organization, user))?
    );
    Ok(())
}

/// Webhooks: an endpoint registered with a signing secret (shown once),
/// the outbox's webhook sink recording a delivery per event, and the
/// dispatcher sending them, signed, in order. A production transport signs
/// per Standard Webhooks and calls only public addresses
/// (`orgman-egress`); this one records.
fn webhooks(
    store: &Arc<MemoryStore>,
    commits: &Arc<Commits>,
    alice: &Actor,
    org: orgman_domain::OrganizationId,
) -> Result<(), Box<dyn std::error::Error>> {
    let wire = Arc::new(RecordingWebhooks::default());
    let hooks = Arc::new(WebhookService::new(
        Arc::new(service_with(store, commits)),
        WebhookPorts {
            queries: store.clone(),
            queue: store.clone(),
            transport: wire.clone(),
            cipher: Some(Arc::new(FakeCipher::new("k1"))),
            tokens: Arc::new(PredictableTokens::default()),
        },
    ));
    let fanout = WebhookFanout::new(store.clone(), Arc::new(TypeOnly), commits.clone());
    let relay = OutboxRelay::new(store.clone(), Arc::new(fanout), OutboxSink::Webhooks, 100);
    // The in-memory outbox offers a new sink every event ever committed;
    // relay what came before, as a running service would have.
    block_on(relay.run_once())?;
    let made = block_on(hooks.create(
        alice,
        org,
        WebhookDraft {
            url: WebhookUrl::parse("https://hooks.example.com/orgman")?,
            event_types: EventTypes::parse(&["organization.member.added"])?,
            enabled: true,
        },
    ))?;
    println!(
        "endpoint {} signs with {}...",
        made.endpoint.id,
        &made.secret.expose()[..8]
    );
    let service = service_with(store, commits);
    let newcomer = UserId::from_uuid(uuid::Uuid::now_v7());
    store.add_user(newcomer, "newcomer");
    block_on(service.add_member(alice, org, newcomer, OrgRole::Member))?;
    block_on(relay.run_once())?;
    let dispatcher = WebhookDispatcher::new(hooks, DispatchSettings::default());
    for due in block_on(dispatcher.claim(16))? {
        block_on(dispatcher.dispatch(due))?;
    }
    for (url, body, signatures) in wire.sent() {
        println!("sent to {url} with {signatures} signature(s): {body}");
    }
    Ok(())
}

/// Request bodies: here the event's type; in the service, the CloudEvent
/// the message broker gets.
struct TypeOnly;

/// Pseudonyms for erased addresses. Use a keyed hash (orgman-secrets'
/// `HmacPseudonyms`); this one only shows the shape.
struct Tagged;

impl orgman_domain::ports::Pseudonyms for Tagged {
    fn pseudonym(&self, email: &Email) -> Email {
        let tag = email.as_str().len();
        Email::parse(&format!("demo-{tag}@erased.invalid")).expect("a valid address")
    }
}

impl EventEncoder for TypeOnly {
    fn encode(&self, event: &orgman_domain::DomainEvent) -> String {
        event.type_name().to_owned()
    }
}

/// The ports of the organization use cases over one store.
fn service_ports(store: &Arc<MemoryStore>, commits: &Arc<Commits>) -> ServicePorts {
    ServicePorts {
        organizations: store.clone(),
        members: store.clone(),
        authorizer: Arc::new(RoleAuthorizer::new(store.clone(), Arc::new(NoCache))),
        cache: Arc::new(NoCache),
        clock: Arc::new(SystemClock),
        ids: Arc::new(UuidV7Generator),
        commit_signal: commits.clone(),
    }
}

fn service_with(store: &Arc<MemoryStore>, commits: &Arc<Commits>) -> OrganizationService {
    OrganizationService::new(service_ports(store, commits), ServiceSettings::default())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let commits = Arc::new(Commits::default());
    // Storage: replace with your own implementation of the storage ports.
    let store = Arc::new(MemoryStore::new());
    let service = service_with(&store, &commits);

    // Actors come from your authentication layer; users must be known.
    let admin = Actor::platform_admin(UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()));
    let alice = Actor::user(UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()));
    store.add_user(admin.user_id(), "admin");
    store.add_user(alice.user_id(), "alice");

    // Input is parsed into domain values at the edge; bad input never gets in.
    let slug = Slug::parse("acme")?;
    if let Err(error) = Slug::parse("Acme Corp") {
        println!("refused slug: {error}");
    }

    let org = block_on(service.create(&admin, OrgName::parse("Acme")?, slug))?;
    block_on(service.add_member(&admin, org.id(), alice.user_id(), OrgRole::Owner))?;
    block_on(service.remove_member(&admin, org.id(), admin.user_id()))?;

    // The rules hold: Alice is now the last owner and cannot leave.
    match block_on(service.remove_member(&alice, org.id(), alice.user_id())) {
        Err(OrgError::LastOwner) => println!("alice is the last owner and must stay"),
        other => return Err(format!("unexpected: {other:?}").into()),
    }

    // Bulk import: one authorization, then chunks, each one unit of work;
    // a row already in place is `Unchanged`, so a rerun completes a file.
    let (bob, carol) = (
        UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()),
        UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()),
    );
    store.add_user(bob, "bob");
    store.add_user(carol, "carol");
    // A member limit (platform administrators): the owner and two more.
    block_on(service.set_member_limit(&admin, org.id(), Some(3)))?;
    let import = block_on(service.start_import(&alice, org.id()))?;
    let rows = [
        ImportEntry::new(bob, OrgRole::Member),
        ImportEntry::new(bob, OrgRole::Member),
        ImportEntry::new(carol, OrgRole::Admin),
    ];
    // `run` takes the chunks as a stream (each with a tag you report it
    // by) and hands each committed chunk's outcomes back in file order. It
    // stages a chunk while the one before commits, unless the two share a
    // user (`MemberImport::overlap`), and stops at the first chunk that
    // cannot be applied. (`apply`, `stage` and `commit` are the steps.)
    let next = [ImportEntry::new(carol, OrgRole::Member)];
    let chunks =
        futures_util::stream::iter([("lines 2-4", rows.to_vec()), ("line 5", next.to_vec())]);
    block_on(import.run(chunks, |lines, outcomes| {
        println!("import, {lines}: {outcomes:?}");
    }))?;
    match block_on(service.add_member(&alice, org.id(), admin.user_id(), OrgRole::Member)) {
        Err(OrgError::MemberLimitReached { max }) => println!("full at {max} members"),
        other => return Err(format!("unexpected: {other:?}").into()),
    }

    // The member directory: your login keeps each user's address and names
    // current (`provision_from_claims` writes only when they changed), and
    // a search finds members by a prefix of either, in keyset pages.
    block_on(orgman_domain::provision_from_claims(
        &*store,
        UserProfile {
            id: bob,
            subject: "bob".into(),
            email: Some(Email::parse("bob.smith@example.com")?),
            display_name: Some("Bob Smith".into()),
            given_name: Some("Bob".into()),
            family_name: Some("Smith".into()),
        },
    ))?;
    let smiths = block_on(service.directory(
        &alice,
        org.id(),
        &MemberQuery {
            search: SearchPrefix::parse("SMI")?,
            ..MemberQuery::all(50)
        },
    ))?;
    for entry in &smiths.items {
        println!(
            "found {:?} ({:?}), next page after {:?}",
            entry.display_name,
            entry.membership.role,
            smiths.next.as_ref().map(MemberCursor::encode)
        );
    }
    // An export reads every member in pages; one page is in memory at once.
    let mut export = block_on(service.export_members(&alice, org.id()))?;
    while let Some(page) = block_on(export.next_page())? {
        println!("exported {} members", page.len());
    }

    // A person's data: access (Article 15) and erasure (Article 17). Your
    // identity provider's port deletes or disables the account first
    // (`None` here: no provider to tell).
    let rights = orgman_domain::Erasure::new(
        Arc::new(service_with(&store, &commits)),
        orgman_domain::PersonStores::over(store.clone()),
        None,
        orgman_domain::AccountErasure::Keep,
        Arc::new(Tagged),
    );
    let bobs = Actor::user(bob);
    let kept = block_on(rights.personal_data(&bobs, bob))?;
    println!("bob is in {} organizations", kept.memberships.len());
    let erased = block_on(rights.erase(&bobs, bob))?;
    println!("bob erased, left {:?}", erased.organizations);

    // Accounts deleted at your identity provider: the account check walks
    // the users a page per round, marks accounts found missing, and erases
    // their users once the grace period has passed (a worker of yours runs
    // `round` on an interval). This provider knows nobody, so every user is
    // marked, and nobody is erased within the seven days of the default.
    let check = orgman_domain::AccountCheck::new(
        store.clone(),
        Arc::new(orgman_memory::MemoryIdentityProvider::new()),
        Arc::new(rights),
        Arc::new(SystemClock),
        orgman_domain::AccountCheckSettings::default(),
    );
    let round = block_on(check.round())?;
    println!(
        "checked {} accounts: {} missing, {} erased",
        round.checked,
        round.missing,
        round.erased.len()
    );

    // Invitations: a single-use token for one address; storage keeps a
    // digest. Your adapter of `SecretTokens` makes real tokens (the
    // service uses orgman-secrets' RandomTokens); these are predictable.
    let invitations = InvitationService::new(
        Arc::new(service_with(&store, &commits)),
        store.clone(),
        Arc::new(PredictableTokens::default()),
        orgman_domain::time::Duration::days(7),
    );
    block_on(service.set_member_limit(&admin, org.id(), None))?;
    let dana = Actor::user(UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()));
    store.add_user(dana.user_id(), "dana");
    let dana_email = Email::parse("dana@example.com")?;
    let issued =
        block_on(invitations.invite(&alice, org.id(), dana_email.clone(), OrgRole::Member))?;
    block_on(invitations.accept(&dana, issued.token.expose(), Some(&dana_email)))?;
    match block_on(invitations.accept(&dana, issued.token.expose(), Some(&dana_email))) {
        Err(OrgError::InvitationAccepted) => println!("an invitation works once"),
        other => return Err(format!("unexpected: {other:?}").into()),
    }

    // Verified domains: the organization proves control of a domain with a
    // DNS TXT record; your `TxtResolver` asks DNS (orgman-dns does).
    let dns = Arc::new(MemoryTxt::default());
    let domains = DomainService::new(
        Arc::new(service_with(&store, &commits)),
        store.clone(),
        dns.clone(),
    );
    let claim = block_on(domains.claim(&alice, org.id(), DomainName::parse("acme.example")?))?;
    dns.publish(&claim.record_name(), &claim.challenge);
    let verified = block_on(domains.verify(&alice, org.id(), &claim.name))?;
    println!(
        "{} verified: {}",
        verified.name,
        verified.verified_at.is_some()
    );
    // With `auto_join` on, a first login with a verified address in the
    // domain makes a MEMBER; the `Provisioner` is your just-in-time path.
    let domains = Arc::new(domains);
    let policy = DomainPolicyChange {
        auto_join: Some(true),
        sso_required: None,
    };
    block_on(domains.set_policy(&alice, org.id(), &claim.name, policy))?;
    let provisioner = Provisioner::new(store.clone()).with_auto_join(domains.clone());
    let dana = Actor::user(UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()));
    let profile = UserProfile::from_claims(
        dana.user_id(),
        "dana-at-the-idp",
        Some("dana@acme.example"),
        Some("Dana"),
        None,
    )?;
    let first_login = block_on(provisioner.provision(&dana, profile, true))?;
    println!("dana's first login: {:?}", first_login.auto_join);

    // An API key for the organization's own systems: it holds a subset of
    // its creator's permissions, acts in this organization only, and shows
    // its secret once. Authenticating reads the key with its organization;
    // the grant is the actor of the key's requests.
    let keys = ApiKeyService::new(
        Arc::new(service_with(&store, &commits)),
        store.clone(),
        Arc::new(PredictableTokens::default()),
    );
    let issued = block_on(
        keys.create(
            &alice,
            org.id(),
            KeyDraft {
                name: KeyName::parse("billing sync")?,
                permissions: [Permission::OrganizationRead, Permission::MembersRead]
                    .into_iter()
                    .collect(),
                expires_at: None,
            },
        ),
    )?;
    let grant = block_on(keys.authenticate(issued.secret.expose()))?;
    let robot = Actor::api_key(grant);
    let seen = block_on(service_with(&store, &commits).get(&robot, org.id()))?;
    println!("the key {} reads {}", issued.key.prefix, seen.name());
    block_on(keys.revoke(&alice, org.id(), issued.key.id))?;
    assert!(block_on(keys.authenticate(issued.secret.expose())).is_err());

    webhooks(&store, &commits, &alice, org.id())?;
    directory(&store, &commits, &alice, org.id())?;

    // The audit trail: every change, newest first, for OWNERs and ADMINs,
    // filtered by actor or by kind of actor (people, API keys).
    let audit = AuditService::new(Arc::new(service_with(&store, &commits)), store.clone());
    let trail = block_on(audit.organization_events(
        &alice,
        org.id(),
        None,
        ActorFilter::default(),
        PageRequest::new(None, 3),
    ))?;
    for entry in &trail.items {
        println!(
            "audit: {} by {:?} ({})",
            entry.type_name(),
            entry.actor,
            entry.actor_kind
        );
    }

    for event in store.committed_events() {
        println!(
            "{} {} by {:?}",
            event.occurred_at,
            event.type_name(),
            event.actor
        );
    }
    println!(
        "{} commits signalled (a relay would have woken for each)",
        commits.0.load(Ordering::Relaxed)
    );

    // Reads of one organization: with the domain's RoleAuthorizer the
    // decision comes from the role read with the organization (one storage
    // read); an external authorizer's decisions are cached under the
    // organization's generation when the cache port keeps them.
    let seen = block_on(service.get(&alice, org.id()))?;
    println!("alice reads {} (version {})", seen.name(), seen.version());

    // Metadata for other services: JSON merge patches; `privateMetadata`
    // is shown only to those who manage the organization.
    let patch = OrganizationPatch {
        metadata: Some(serde_json::json!({"plan": "gold"})),
        private_metadata: Some(serde_json::json!({"crmId": 42})),
        ..OrganizationPatch::default()
    };
    let updated = block_on(service.update(&alice, org.id(), &patch, Some(seen.version())))?;
    println!(
        "metadata {:?}, private {:?}",
        updated.metadata(),
        updated.private_metadata()
    );

    // Custom roles: the platform registers another service's permission in
    // the catalog, the organization defines a role granting it (with its
    // own permissions if it likes) and gives it to a member. Nobody grants
    // a permission they do not hold; OWNERs hold the whole catalog.
    let roles = RoleService::new(Arc::new(service_with(&store, &commits)), store.clone());
    let invoices = PermissionName::parse("invoices:read")?;
    let listed = CatalogPermission::registered(invoices.clone(), "Read invoices")?;
    block_on(roles.register_permission(&admin, listed))?;
    let bea = Actor::user(UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()));
    store.add_user(bea.user_id(), "bea");
    block_on(service.add_member(&alice, org.id(), bea.user_id(), OrgRole::Member))?;
    let grants = [invoices, PermissionName::from(Permission::AuditRead)];
    let draft = RoleDraft::new("Billing viewer", "Reads invoices", grants.into())?;
    let billing = RoleKey::parse("billing-viewer")?;
    block_on(roles.create(&alice, org.id(), billing.clone(), draft))?;
    let refs = [RoleRef::Custom(billing)];
    block_on(roles.set_member_roles(
        &alice,
        org.id(),
        bea.user_id(),
        MemberRoles::from_refs(&refs)?,
    ))?;
    let held = block_on(roles.member_permissions(&bea, org.id(), bea.user_id()))?;
    println!("bea holds {held:?}");
    // The role's audit:read lets bea read the audit trail, as orgman's
    // own permissions are checked by name, never by role.
    block_on(service.ensure_permission(&bea, org.id(), Permission::AuditRead))?;
    // The check API's question, as another service asks it: in order, one
    // answer per check, a refusal with its reason.
    let asked = [
        PermissionName::parse("invoices:read")?,
        Permission::OrganizationDelete.into(),
    ]
    .map(|permission| PermissionCheck {
        organization: org.id(),
        permission,
        user: None,
    });
    let answers = block_on(roles.check(&bea, CheckScope::Own, &asked))?;
    println!("bea's checks: {answers:?}");

    // A platform role: platform administrators define it once, in the
    // platform's scope, and every organization's members may hold it.
    let platform = orgman_domain::OrganizationId::PLATFORM;
    let auditor = RoleKey::parse("auditor")?;
    let grants = [PermissionName::from(Permission::AuditRead)];
    let draft = RoleDraft::new("Auditor", "Reads audit trails", grants.into())?;
    block_on(roles.create(&admin, platform, auditor.clone(), draft))?;
    let refs = [RoleRef::Custom(auditor)];
    block_on(roles.set_member_roles(
        &alice,
        org.id(),
        bea.user_id(),
        MemberRoles::from_refs(&refs)?,
    ))?;
    let listed: Vec<_> = block_on(roles.list(&bea, org.id()))?
        .into_iter()
        .map(|role| (role.key.to_string(), role.is_platform()))
        .collect();
    println!("roles bea's organization offers: {listed:?}");
    // An import row gives custom and platform roles besides the built-in
    // one, under the same no-escalation rule.
    let cleo = UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7());
    store.add_user(cleo, "cleo");
    let import = block_on(service.start_import(&alice, org.id()))?;
    let row = ImportEntry::new(cleo, OrgRole::Member).with_custom_roles([
        RoleKey::parse("auditor")?,
        RoleKey::parse("billing-viewer")?,
    ]);
    println!("import with roles: {:?}", block_on(import.apply(&[row]))?);

    // An external authorizer (SpiceDB in orgman's service) is wrapped so
    // that every replica fails closed while the outbox holds authorization
    // events it has not taken in; here around the domain's own authorizer.
    // With a window, organizations unchanged for it are checked at the
    // authorizer's recent snapshot (`Freshness::Recent`; SpiceDB's
    // quantized revision), the others fully consistently; the in-memory
    // outbox always says "changed", so every check here is of the latest.
    let guarded = SyncGuard::new(
        Arc::new(RoleAuthorizer::new(store.clone(), Arc::new(NoCache))),
        store.clone(),
        std::time::Duration::from_secs(5),
    )
    .with_recent_reads(Some(std::time::Duration::from_secs(10)));
    println!(
        "alice may read through the guard: {}",
        block_on(guarded.check(&alice, org.id(), Permission::OrganizationRead))?
    );

    // What a verified token says about a user, as just-in-time provisioning
    // stores it: an invalid address left out, an over-long name cut.
    let profile = UserProfile::from_claims(
        alice.user_id(),
        "alice-subject",
        Some("not an address"),
        Some(&"A".repeat(300)),
        Some("alice"),
    )?;
    println!(
        "profile: email {:?}, name of {} characters",
        profile.email,
        profile.display_name.map_or(0, |n| n.chars().count())
    );

    // SSO: an organization's own identity provider, its secret sealed by
    // your `SecretCipher` (orgman-secrets' AES-GCM in the service). SAML
    // identity providers' metadata is read through a `SamlMetadataReader`
    // (orgman-keycloak's `SamlMetadata` in the service: fetched under the
    // address rules, parsed without DTDs), and certificates within 30 days
    // of expiry are announced.
    let saml_metadata = Arc::new(MemorySamlMetadata::default());
    let sso = Arc::new(
        SsoService::new(
            Arc::new(service_with(&store, &commits)),
            store.clone(),
            Some(Arc::new(FakeCipher::new("k1"))),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
        )
        .with_saml(
            saml_metadata.clone(),
            std::time::Duration::from_secs(30 * 86_400),
        )
        .with_home_realm_discovery(store.clone()),
    );
    let draft = SsoDraft {
        name: Some("Acme login".into()),
        issuer_url: Some(IssuerUrl::parse("https://login.acme.example", false)?),
        client_id: Some("orgman".into()),
        client_secret: Some(ClientSecret::new("s3cret".into())),
        enabled: None,
        auto_provision: Some(true),
        ..Default::default()
    };
    let config = block_on(sso.create(&alice, Some(org.id()), draft))?;
    // A SAML connection, for an organization whose identity provider speaks
    // only SAML: its metadata at a URL, re-read by `refresh_saml` on your
    // schedule; a changed certificate becomes an
    // `organization.sso-config.metadata-refreshed` event (the broker's copy
    // follows), one about to expire an `organization.sso.certificate-expiring`.
    let metadata_url = "https://idp.partner.example/metadata";
    let expires =
        orgman_domain::time::OffsetDateTime::now_utc() + orgman_domain::time::Duration::days(10);
    saml_metadata.publish(
        metadata_url,
        SamlIdp {
            entity_id: "https://idp.partner.example/saml".into(),
            sso_url: "https://idp.partner.example/sso".into(),
            post_binding: true,
            certificates: vec![SigningCertificate {
                base64: "MIIC...".into(),
                sha256: "ab".repeat(32),
                subject: "CN=idp.partner.example".into(),
                not_before: expires - orgman_domain::time::Duration::days(365),
                not_after: expires,
            }],
            name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
            wants_signed_requests: false,
            offered_attributes: Vec::new(),
            slo_url: None,
        },
    );
    let saml = block_on(sso.create(
        &alice,
        Some(org.id()),
        SsoDraft {
            name: Some("Partner SAML".into()),
            protocol: Some(SsoProtocol::Saml),
            metadata: Some(MetadataSource::Url(MetadataUrl::parse(
                metadata_url,
                false,
            )?)),
            ..Default::default()
        },
    ))?;
    let refreshed = block_on(sso.refresh_saml())?;
    println!(
        "SAML {}: certificates by state {:?} (the expiring one was announced at creation)",
        saml.name, refreshed.certificates
    );
    block_on(sso.delete(&alice, Some(org.id()), saml.id))?;
    // The login broker (Keycloak in the service) gets a copy of every
    // configuration from the outbox: `ProviderSync` is the sink a relay
    // feeds, and `reconcile` repairs drift.
    let broker = Arc::new(MemoryLoginBroker::new());
    // With the organizations' storage it copies the providers of a
    // suspended organization switched off, and records a provider it had
    // to switch off because the issuer's endpoints stopped passing the
    // address rules (`organization.sso-config.provider-disabled`). With
    // their domains, each provider carries the organization's verified
    // domains: a first login through it may make or link an account only
    // for those addresses (the broker enforces it).
    let sync = Arc::new(
        ProviderSync::new(
            store.clone(),
            Arc::new(FakeCipher::new("k1")),
            broker.clone(),
        )
        .with_organizations(
            store.clone(),
            Arc::new(SystemClock),
            Arc::new(UuidV7Generator),
        )
        .with_login_domains(store.clone()),
    );
    let relay = OutboxRelay::new(store.clone(), sync.clone(), OutboxSink::LoginBroker, 100);
    block_on(relay.run_once())?;
    for (alias, provider) in broker.providers() {
        println!(
            "the broker holds {alias}, for addresses of {:?}",
            provider.email_domains
        );
    }
    // Home-realm discovery: where a login page sends an address.
    let realm = block_on(sso.discover_home_realm(&Email::parse("erin@acme.example")?))?;
    println!("erin logs in through {:?}", realm.identity_provider);
    // A first login brokered through that provider (the token names its
    // alias) joins the organization, as the configuration auto-provisions.
    let erin = Actor::user(UserId::from_uuid(orgman_domain::uuid::Uuid::now_v7()));
    let profile = UserProfile::from_claims(
        erin.user_id(),
        "erin-at-the-idp",
        Some("erin@acme.example"),
        Some("Erin"),
        None,
    )?;
    let provisioner = Provisioner::new(store.clone()).with_sso_provisioning(sso.clone());
    let first_login =
        block_on(provisioner.provision_via(&erin, profile, false, Some(&config.broker_alias())))?;
    println!("erin's first login: {:?}", first_login.auto_join);
    // `ssoRequired` domains are enforced by the use cases, for actors that
    // say how they signed in (`Actor::signed_in`, from the token's `email`
    // and `identity_provider`): a member whose address is in one of the
    // organization's `ssoRequired` domains gets `OrgError::SsoRequired`
    // unless the login came through one of its enabled providers. Storage
    // keeps the rule with the organization (`Organization::sso_login`).
    let rule = SsoLoginPolicy::new(["acme.example".to_owned()], [config.id]);
    let by_password = SignIn::from_claims(Some("erin@acme.example"), None);
    let through_acme = SignIn::from_claims(Some("erin@acme.example"), Some(&config.broker_alias()));
    println!(
        "ssoRequired: a password login counts {}, one through Acme's provider {}",
        rule.admits(&by_password),
        rule.admits(&through_acme)
    );
    let _erin_signed_in = erin.clone().signed_in(through_acme);

    // The broker's own organizations (Keycloak's Organizations) mirror
    // orgman's: another outbox sink, which only marks the organizations
    // that changed (a `MirrorQueue`, here the memory store); a worker copies
    // each with `sync_next`, with its members as `MemberMirroring` says
    // (here: those of organizations with a linked provider, as Acme has).
    let organizations = Arc::new(MemoryBrokerOrganizations::new());
    let mirror = Arc::new(
        OrganizationMirror::new(
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            store.clone(),
            organizations.clone(),
        )
        .with_members(MemberMirroring::Linked),
    );
    let relay = OutboxRelay::new(
        store.clone(),
        mirror.clone(),
        OutboxSink::OrganizationMirror,
        500,
    );
    while block_on(relay.run_once())?.claimed > 0 {}
    while let Some(synced) = block_on(mirror.sync_next(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(1),
    ))? {
        println!(
            "copied {}: {} members added, {} removed",
            synced.organization, synced.added, synced.removed
        );
    }
    let (held, members) = &organizations.held()[&org.id()];
    println!(
        "the broker mirrors {} with {} members and providers {:?}",
        held.slug,
        members.len(),
        held.identity_providers
    );
    // Outside any organization, some views are the platform
    // administrators' alone: your HTTP edge asks the domain, not the role.
    for (who, actor) in [("alice", &alice), ("the platform admin", &admin)] {
        println!(
            "{who} may see the platform's components: {}",
            orgman_domain::PlatformView::Components
                .authorize(actor)
                .is_ok()
        );
    }
    Ok(())
}

//! SAML configurations through the use cases, with in-memory ports: the
//! metadata read on creation becomes the broker's provider, a refresh rolls
//! changed certificates in and announces expiring ones once, metadata that
//! cannot be used is refused or left aside, and the protocol never mixes.

mod support;

use std::sync::Arc;

use orgman_domain::ports::OutboxSink;
use orgman_domain::time::{Duration, OffsetDateTime};
use orgman_domain::{
    BrokeredConnection, CertificateState, EventKind, MetadataSource, MetadataUrl, OrgError,
    OutboxRelay, ProviderSync, SamlIdp, SigningCertificate, SsoDraft, SsoProtocol, SsoService,
    ValidationError,
};
use orgman_memory::{FakeCipher, MemoryLoginBroker, MemorySamlMetadata, block_on};
use support::World;

const URL: &str = "https://idp.example/metadata?app=orgman";

struct Setup {
    w: World,
    sso: SsoService,
    metadata: Arc<MemorySamlMetadata>,
    broker: Arc<MemoryLoginBroker>,
    relay: OutboxRelay,
}

fn setup() -> Setup {
    let w = World::new();
    let cipher = Arc::new(FakeCipher::new("k1"));
    let metadata = Arc::new(MemorySamlMetadata::default());
    let sso = SsoService::new(
        Arc::new(w.memory.service()),
        w.memory.store.clone(),
        Some(cipher.clone()),
        w.memory.clock.clone(),
        w.memory.ids.clone(),
    )
    .with_saml(
        metadata.clone(),
        std::time::Duration::from_secs(30 * 86_400),
    );
    let broker = Arc::new(MemoryLoginBroker::new());
    let sync = Arc::new(ProviderSync::new(
        w.memory.store.clone(),
        cipher,
        broker.clone(),
    ));
    let relay = OutboxRelay::new(w.memory.store.clone(), sync, OutboxSink::LoginBroker, 100);
    Setup {
        w,
        sso,
        metadata,
        broker,
        relay,
    }
}

fn now(s: &Setup) -> OffsetDateTime {
    orgman_domain::ports::Clock::now(s.w.memory.clock.as_ref())
}

fn certificate(name: &str, not_after: OffsetDateTime) -> SigningCertificate {
    SigningCertificate {
        base64: format!("MII{name}"),
        sha256: format!("{name:0>64}"),
        subject: format!("CN={name}"),
        not_before: not_after - Duration::days(365),
        not_after,
    }
}

fn idp(certificates: Vec<SigningCertificate>) -> SamlIdp {
    SamlIdp {
        entity_id: "https://idp.example/saml".into(),
        sso_url: "https://idp.example/sso".into(),
        post_binding: true,
        certificates,
        name_id_format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress".into(),
        wants_signed_requests: false,
        offered_attributes: vec![
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress".into(),
        ],
        slo_url: Some("https://idp.example/logout".into()),
    }
}

fn saml_draft(source: MetadataSource) -> SsoDraft {
    SsoDraft {
        name: Some("Acme SAML".into()),
        protocol: Some(SsoProtocol::Saml),
        metadata: Some(source),
        ..Default::default()
    }
}

fn by_url() -> MetadataSource {
    MetadataSource::Url(MetadataUrl::parse(URL, false).unwrap())
}

fn kinds(s: &Setup) -> Vec<EventKind> {
    s.w.memory
        .store
        .committed_events()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

#[test]
fn a_saml_configuration_reads_its_metadata_and_becomes_the_brokers_provider() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let valid = certificate("a", now(&s) + Duration::days(400));
    s.metadata.publish(URL, idp(vec![valid.clone()]));

    let config = block_on(s.sso.create(&ann, Some(org.id()), saml_draft(by_url()))).unwrap();
    assert_eq!(config.protocol(), SsoProtocol::Saml);
    let saml = config.saml().unwrap();
    assert_eq!(saml.metadata_url.as_ref().unwrap().as_str(), URL);
    assert_eq!(saml.idp.certificates, vec![valid]);
    // The e-mail attribute the metadata offers is the one read; the others
    // take their plain names.
    assert_eq!(
        saml.attributes.email,
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
    );
    assert_eq!(saml.attributes.first_name, "firstName");
    assert!(kinds(&s).iter().any(|k| matches!(
        k,
        EventKind::SsoConfigCreated { protocol: SsoProtocol::Saml, idp_entity_id: Some(id), issuer_url: None, .. }
            if id == "https://idp.example/saml"
    )));
    assert!(
        !kinds(&s)
            .iter()
            .any(|k| matches!(k, EventKind::SsoCertificateExpiring { .. })),
        "nothing expires soon"
    );

    block_on(s.relay.run_once()).unwrap();
    let held = s.broker.providers();
    let BrokeredConnection::Saml { idp: brokered, .. } = &held[&config.broker_alias()].connection
    else {
        panic!("a SAML provider");
    };
    assert_eq!(brokered, &saml.idp, "endpoints and certificates as read");
}

#[test]
fn a_refresh_rolls_a_new_certificate_in_and_announces_an_expiring_one_once() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let old = certificate("old", now(&s) + Duration::days(40));
    s.metadata.publish(URL, idp(vec![old.clone()]));
    let config = block_on(s.sso.create(&ann, Some(org.id()), saml_draft(by_url()))).unwrap();
    block_on(s.relay.run_once()).unwrap();

    // Nothing changed: nothing written.
    let report = block_on(s.sso.refresh_saml()).unwrap();
    assert_eq!(
        (report.examined, report.changed, report.announced),
        (1, 0, 0)
    );
    let written = s.w.memory.store.committed_events().len();

    // Eleven days on, the old certificate is within 30 days of expiry; the
    // identity provider publishes a new one beside it.
    s.w.memory.clock.advance(Duration::days(11));
    let new = certificate("new", now(&s) + Duration::days(700));
    s.metadata.publish(URL, idp(vec![old.clone(), new.clone()]));
    let report = block_on(s.sso.refresh_saml()).unwrap();
    assert_eq!((report.changed, report.announced), (1, 1));
    assert_eq!(
        report.certificates,
        vec![
            (CertificateState::Valid, 1),
            (CertificateState::Expiring, 1),
            (CertificateState::Expired, 0)
        ]
    );
    let events = &s.w.memory.store.committed_events()[written..];
    assert!(matches!(
        &events[0].kind,
        EventKind::SsoMetadataRefreshed { certificates, .. } if certificates.len() == 2
    ));
    assert!(matches!(
        &events[1].kind,
        EventKind::SsoCertificateExpiring { fingerprint, expired: false, .. } if *fingerprint == old.sha256
    ));
    assert_eq!(events[1].actor, None, "the service itself");
    block_on(s.relay.run_once()).unwrap();
    let BrokeredConnection::Saml { idp: brokered, .. } =
        &s.broker.providers()[&config.broker_alias()].connection
    else {
        panic!("a SAML provider");
    };
    assert_eq!(brokered.certificates, vec![old.clone(), new], "rolled in");

    // Announced once, however many rounds follow.
    let report = block_on(s.sso.refresh_saml()).unwrap();
    assert_eq!((report.changed, report.announced), (0, 0));
    // When it has expired, it is announced as such only if it was not
    // announced before: it was.
    s.w.memory.clock.advance(Duration::days(30));
    assert_eq!(block_on(s.sso.refresh_saml()).unwrap().announced, 0);
}

#[test]
fn metadata_that_cannot_be_read_leaves_the_last_good_copy_in_use() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let good = idp(vec![certificate("a", now(&s) + Duration::days(400))]);
    s.metadata.publish(URL, good.clone());
    let config = block_on(s.sso.create(&ann, Some(org.id()), saml_draft(by_url()))).unwrap();

    s.metadata.take_down(URL);
    let report = block_on(s.sso.refresh_saml()).unwrap();
    assert_eq!(report.failed.len(), 1);
    // Published again with only an expired certificate: refused too.
    s.metadata.publish(
        URL,
        idp(vec![certificate("gone", now(&s) - Duration::days(1))]),
    );
    let report = block_on(s.sso.refresh_saml()).unwrap();
    assert_eq!((report.changed, report.failed.len()), (0, 1));
    let stored = block_on(s.sso.get(&ann, Some(org.id()), config.id)).unwrap();
    assert_eq!(stored.saml().unwrap().idp, good);
}

#[test]
fn unusable_metadata_and_the_other_protocols_fields_are_refused() {
    let s = setup();
    let ann = s.w.user("ann");
    let org = s.w.org_owned_by("acme", &ann);
    let invalid = |result: Result<_, OrgError>| match result {
        Err(OrgError::Invalid(error)) => error,
        other => panic!("expected a validation error, got {other:?}"),
    };
    let expired = s
        .metadata
        .paste(idp(vec![certificate("gone", now(&s) - Duration::days(1))]));
    assert!(matches!(
        invalid(block_on(s.sso.create(
            &ann,
            Some(org.id()),
            saml_draft(MetadataSource::Xml(expired))
        ))),
        ValidationError::SamlMetadataInvalid {
            field: "metadataXml",
            ..
        }
    ));
    assert!(matches!(
        invalid(block_on(s.sso.create(
            &ann,
            Some(org.id()),
            saml_draft(MetadataSource::Xml("<not-metadata/>".into()))
        ))),
        ValidationError::SamlMetadataInvalid { .. }
    ));
    let mut mixed = saml_draft(by_url());
    mixed.client_id = Some("orgman".into());
    assert_eq!(
        invalid(block_on(s.sso.create(&ann, Some(org.id()), mixed))),
        ValidationError::FieldNotForProtocol {
            field: "clientId",
            protocol: "saml"
        }
    );
    let mut nothing = saml_draft(by_url());
    nothing.metadata = None;
    assert_eq!(
        invalid(block_on(s.sso.create(&ann, Some(org.id()), nothing))),
        ValidationError::MetadataSourceRequired
    );

    // A pasted document soon to expire is announced on creation, and the
    // protocol of a configuration never changes.
    let soon = s
        .metadata
        .paste(idp(vec![certificate("soon", now(&s) + Duration::days(3))]));
    let config = block_on(s.sso.create(
        &ann,
        Some(org.id()),
        saml_draft(MetadataSource::Xml(soon)),
    ))
    .unwrap();
    assert!(config.saml().unwrap().metadata_url.is_none());
    assert_eq!(
        kinds(&s)
            .iter()
            .filter(|k| matches!(k, EventKind::SsoCertificateExpiring { .. }))
            .count(),
        1
    );
    let to_oidc = SsoDraft {
        protocol: Some(SsoProtocol::Oidc),
        ..Default::default()
    };
    assert_eq!(
        invalid(block_on(s.sso.update(
            &ann,
            Some(org.id()),
            config.id,
            to_oidc
        ))),
        ValidationError::ProtocolFixed
    );
    assert!(
        !kinds(&s)
            .iter()
            .any(|k| matches!(k, EventKind::SsoConfigUpdated { .. })),
        "the refused change wrote nothing"
    );
}

//! The parts the composition root puts together: adapters, the
//! synchronization of the outbox's consumers, and the use cases.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orgman_domain::ports::{
    Authorizer, EventSink, MembershipCache, NoCache, OutboxSink, RoleAuthorizer, SecretCipher,
    SyncGuard, SystemClock, UuidV7Generator,
};
use orgman_domain::{
    AuditService, DomainService, InvitationService, MemberMirroring, OrganizationMirror,
    OrganizationService, OutboxRelay, ProviderSync, Provisioner, ServicePorts, ServiceSettings,
    SsoService, UserService,
};
use orgman_kafka::KafkaPublisher;
use orgman_keycloak::KeycloakClient;
use orgman_postgres::PgStore;
use orgman_redis::RedisCache;
use orgman_spicedb::SpiceDbAuthorizer;
use tokio::task::JoinHandle;

use crate::auth::TokenVerifier;
use crate::background::{
    Pacing, RelayWake, spawn_broker_reconciler, spawn_outbox_pruner, spawn_relay,
    spawn_spicedb_keeper,
};
use crate::config::{Config, MirrorMode};
use crate::mirror::MirrorGate;
use crate::operability::health::{Probe, Watched};
use crate::operability::metered::MeteredAuthorizer;
use crate::operability::metrics::Metrics;
use crate::operability::{Dependencies, Figures};

/// Every adapter, built from the configuration. Nothing here waits for a
/// dependency to answer: connections open on first use.
pub(crate) struct Adapters {
    pub(crate) store: Arc<PgStore>,
    pub(crate) verifier: Arc<TokenVerifier>,
    pub(crate) redis: Option<Arc<RedisCache>>,
    pub(crate) cache: Arc<dyn MembershipCache>,
    pub(crate) kafka: Option<Arc<KafkaPublisher>>,
    pub(crate) spicedb: Option<Arc<SpiceDbAuthorizer>>,
    pub(crate) keycloak: Option<Arc<KeycloakClient>>,
}

impl Adapters {
    /// What health and metrics look at: one probe per configured
    /// dependency, and the adapters whose own figures metrics read.
    pub(crate) fn dependencies(
        &self,
        relays: Vec<Arc<OutboxRelay>>,
        required: BTreeSet<String>,
        probe_interval: Duration,
    ) -> Dependencies {
        let mut probes: Vec<Arc<dyn Probe>> = vec![self.store.clone()];
        probes.extend(self.redis.clone().map(|p| p as Arc<dyn Probe>));
        probes.extend(self.kafka.clone().map(|p| p as Arc<dyn Probe>));
        probes.extend(self.spicedb.clone().map(|p| p as Arc<dyn Probe>));
        probes.push(self.verifier.clone());
        Dependencies {
            probes: probes
                .into_iter()
                .map(|probe| Watched::new(probe, probe_interval))
                .collect(),
            required,
            figures: Figures {
                store: self.store.clone(),
                redis: self.redis.clone(),
                spicedb: self.spicedb.clone(),
                keycloak: self.keycloak.clone(),
                verifier: self.verifier.clone(),
                relays,
            },
        }
    }

    /// Builds the adapters.
    ///
    /// # Errors
    /// An unusable setting (a URL, a TLS configuration).
    pub(crate) fn connect(config: &Config) -> anyhow::Result<Adapters> {
        let store = PgStore::connect(&config.database).map_err(|e| anyhow::anyhow!("{e}"))?;
        // Without SpiceDB nothing consumes the authorizer sink.
        let store = if config.spicedb.is_some() {
            store
        } else {
            store.without_authorizer_sink()
        };
        // Only the SSO events are written pending for the login broker, and
        // only when something takes them.
        let store = if config.broker_sync_active() && config.relay_enabled {
            store.with_login_broker_sink(ProviderSync::EVENT_TYPES)
        } else {
            store
        };
        let store = Arc::new(with_mirror_sink(store, config));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .context("building the HTTP client")?;
        let verifier = TokenVerifier::new(config.auth.clone(), http);
        let redis = config
            .redis
            .as_ref()
            .map(|settings| RedisCache::connect(settings.clone()).map(Arc::new))
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let cache: Arc<dyn MembershipCache> = match &redis {
            Some(redis) => redis.clone(),
            None => Arc::new(NoCache),
        };
        let kafka = config
            .relay_enabled
            .then(|| Arc::new(KafkaPublisher::new(config.kafka.clone())));
        let spicedb = config
            .spicedb
            .as_ref()
            .map(|settings| SpiceDbAuthorizer::connect(settings.clone()).map(Arc::new))
            .transpose()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let keycloak = match config.keycloak.clone() {
            // The token endpoint and the Admin API never redirect; not
            // following redirects keeps the service account's credentials
            // from being sent anywhere else.
            Some(settings) => Some(Arc::new(
                KeycloakClient::new(
                    settings,
                    reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .context("building the identity provider's HTTP client")?,
                )
                .with_private_issuers(config.sso.allow_private_issuers)
                .with_mirror_pace(config.sso.mirror_calls_per_second),
            )),
            None => None,
        };
        Ok(Adapters {
            store,
            verifier,
            redis,
            cache,
            kafka,
            spicedb,
            keycloak,
        })
    }
}

/// The outbox's consumers and the authorizer the use cases ask.
pub(crate) struct Delivery {
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) relays: Vec<Arc<OutboxRelay>>,
    pub(crate) wake: Arc<RelayWake>,
    /// Wakes the webhook dispatcher when deliveries are recorded.
    pub(crate) webhook_wake: Arc<crate::webhooks::DispatchWake>,
}

impl Delivery {
    /// Starts the relays (Kafka, SpiceDB) with their pruner, and the
    /// SpiceDB keeper, pushing their tasks onto `background`; none of them
    /// holds up start-up.
    pub(crate) async fn start(
        config: &Config,
        adapters: &Adapters,
        metrics: &Arc<Metrics>,
        background: &mut Vec<JoinHandle<()>>,
    ) -> Delivery {
        let mut relays: Vec<Arc<OutboxRelay>> = broker_relay(config, adapters, background)
            .into_iter()
            .collect();
        let authorizer = authorizer(config, adapters, metrics, background, &mut relays);
        identity_provider_relays(config, adapters, background, &mut relays);
        let webhook_wake = Arc::new(crate::webhooks::DispatchWake::default());
        if config.relay_enabled {
            // Records deliveries per endpoint; settles at once.
            let fanout = orgman_domain::WebhookFanout::new(
                adapters.store.clone(),
                Arc::new(crate::webhooks::CloudEvents::new(
                    config.kafka.naming.clone(),
                    config.kafka.source.clone(),
                )),
                webhook_wake.clone(),
            );
            relays.push(relay(
                config,
                adapters,
                Arc::new(fanout),
                OutboxSink::Webhooks,
            ));
        }
        let wake = Arc::new(RelayWake::default());
        for relay in &relays {
            // The copies to Keycloak need no millisecond latency: they
            // gather a moment's commits into one round, which keeps a
            // write-heavy load from costing a round per commit.
            let pacing = match relay.target() {
                OutboxSink::Broker | OutboxSink::Authorizer | OutboxSink::Webhooks => {
                    Pacing::default()
                }
                OutboxSink::LoginBroker | OutboxSink::OrganizationMirror => Pacing {
                    gather: config.sso.mirror_gather,
                    ..Pacing::default()
                },
            };
            background.push(spawn_relay(relay.clone(), pacing, wake.register()));
        }
        if let Some(retention) = config.outbox_retention.filter(|_| config.relay_enabled) {
            background.push(spawn_outbox_pruner(
                adapters.store.clone(),
                relays.iter().map(|r| r.target()).collect(),
                retention,
                Duration::from_secs(300),
            ));
        }
        Delivery {
            authorizer,
            relays,
            wake,
            webhook_wake,
        }
    }
}

/// A relay of the outbox's events for `target` to `sink`.
fn relay(
    config: &Config,
    adapters: &Adapters,
    sink: Arc<dyn EventSink>,
    target: OutboxSink,
) -> Arc<OutboxRelay> {
    Arc::new(OutboxRelay::new(
        adapters.store.clone(),
        sink,
        target,
        config.outbox_batch,
    ))
}

/// The Kafka relay, when Kafka is configured; the topic is made ready in
/// the background (until the broker answers, events wait in the outbox).
fn broker_relay(
    config: &Config,
    adapters: &Adapters,
    background: &mut Vec<JoinHandle<()>>,
) -> Option<Arc<OutboxRelay>> {
    let kafka = adapters.kafka.as_ref()?;
    let starting = kafka.clone();
    background.push(tokio::spawn(async move {
        match starting.ensure_ready().await {
            Ok(()) => tracing::info!(topic = %starting.settings().topic, "kafka reachable; events topic ready"),
            Err(error) => tracing::warn!(%error, "kafka not reachable yet; events wait in the outbox"),
        }
    }));
    Some(relay(config, adapters, kafka.clone(), OutboxSink::Broker))
}

/// The authorizer the use cases ask: SpiceDB when configured (its schema
/// written in the background, its relay, its keeper, and a guard that fails
/// closed while its events are in doubt), else the database's roles.
fn authorizer(
    config: &Config,
    adapters: &Adapters,
    metrics: &Arc<Metrics>,
    background: &mut Vec<JoinHandle<()>>,
    relays: &mut Vec<Arc<OutboxRelay>>,
) -> Arc<dyn Authorizer> {
    let store = &adapters.store;
    let (Some(spicedb), Some(settings)) = (&adapters.spicedb, &config.spicedb) else {
        return Arc::new(MeteredAuthorizer::new(
            Arc::new(RoleAuthorizer::new(store.clone(), adapters.cache.clone())),
            metrics.clone(),
            "database",
        ));
    };
    if settings.write_schema {
        // In the background: the service is ready without waiting for a
        // gRPC connection and a schema read (tens of milliseconds of every
        // start). Until the schema is in place, checks fail closed, as when
        // SpiceDB is down.
        let spicedb = spicedb.clone();
        background.push(tokio::spawn(async move {
            match spicedb.ensure_schema().await {
                Ok(written) => {
                    tracing::info!(written, "SpiceDB client initialized; schema in place")
                }
                Err(error) => {
                    tracing::warn!(%error, "SpiceDB not reachable at start-up; checks fail closed until it is")
                }
            }
        }));
    }
    if config.relay_enabled {
        relays.push(relay(
            config,
            adapters,
            spicedb.clone(),
            OutboxSink::Authorizer,
        ));
    }
    background.push(spawn_spicedb_keeper(
        spicedb.clone(),
        store.clone(),
        Duration::from_millis(500),
        settings.reconcile_interval,
    ));
    // Every replica fails closed for an organization whose authorization
    // events are in doubt (from the outbox).
    let guarded = Arc::new(
        SyncGuard::new(spicedb.clone(), store.clone(), Duration::from_secs(5))
            .with_recent_reads(settings.recent_reads_after),
    );
    Arc::new(MeteredAuthorizer::new(guarded, metrics.clone(), "spicedb"))
}

/// The relays to the identity provider (its providers and its
/// Organizations), and their periodic reconciliation.
fn identity_provider_relays(
    config: &Config,
    adapters: &Adapters,
    background: &mut Vec<JoinHandle<()>>,
    relays: &mut Vec<Arc<OutboxRelay>>,
) {
    let providers = provider_sync(config, adapters);
    let mirror = organization_mirror(config, adapters);
    if config.relay_enabled {
        if let Some(sync) = &providers {
            relays.push(relay(
                config,
                adapters,
                sync.clone(),
                OutboxSink::LoginBroker,
            ));
        }
        if let Some(mirror) = &mirror {
            relays.push(relay(
                config,
                adapters,
                mirror.clone(),
                OutboxSink::OrganizationMirror,
            ));
            background.push(crate::background::spawn_mirror_worker(
                mirror.clone(),
                config.sso.mirror_lease,
                config.sso.mirror_poll,
                config.sso.mirror_backoff,
            ));
        }
    }
    if let Some(every) = config.sso.broker_reconcile_interval {
        if providers.is_some() || mirror.is_some() {
            background.push(spawn_broker_reconciler(providers, mirror, every));
        }
    }
}

/// The store writing events pending for the Keycloak mirror's sink as the
/// mirror takes them (none when it does not run).
fn with_mirror_sink(store: PgStore, config: &Config) -> PgStore {
    if !(config.mirror_configured() && config.relay_enabled) {
        return store;
    }
    let store = store.with_organization_mirror_sink(
        if config.sso.member_mirroring == MemberMirroring::None {
            OrganizationMirror::ORGANIZATION_EVENT_TYPES
        } else {
            OrganizationMirror::EVENT_TYPES
        },
    );
    // Membership events of organizations without a provider have nothing
    // to do at Keycloak when only linked members are copied.
    if config.sso.member_mirroring == MemberMirroring::Linked {
        store.with_linked_member_mirroring(OrganizationMirror::MEMBER_EVENT_TYPES)
    } else {
        store
    }
}

/// The SSO use cases: OpenID Connect discovery and SAML metadata under the
/// same address rules, and home-realm discovery.
fn sso_service(
    config: &Config,
    organizations: Arc<OrganizationService>,
    store: Arc<PgStore>,
) -> SsoService {
    SsoService::new(
        organizations,
        store.clone(),
        config
            .sso
            .cipher
            .clone()
            .map(|c| c as Arc<dyn SecretCipher>),
        Arc::new(SystemClock),
        Arc::new(UuidV7Generator),
    )
    .with_discovery(Arc::new(orgman_keycloak::OidcDiscovery::new(
        config.sso.allow_private_issuers,
    )))
    .with_saml(
        Arc::new(orgman_keycloak::SamlMetadata::new(
            orgman_keycloak::AddressRule::new(config.sso.allow_private_issuers),
        )),
        config.sso.certificate_warning,
    )
    .with_home_realm_discovery(store)
}

/// The copy of SSO configurations to Keycloak, when it is active
/// ([`Config::broker_sync_active`]).
pub(crate) fn provider_sync(config: &Config, adapters: &Adapters) -> Option<Arc<ProviderSync>> {
    if !config.broker_sync_active() {
        return None;
    }
    let keycloak = adapters.keycloak.clone()?;
    let cipher = config.sso.cipher.clone()?;
    Some(Arc::new(
        ProviderSync::new(adapters.store.clone(), cipher, keycloak)
            .with_login_domains(adapters.store.clone())
            .with_organizations(
                adapters.store.clone(),
                Arc::new(SystemClock),
                Arc::new(UuidV7Generator),
            ),
    ))
}

/// The mirror of organizations in Keycloak's Organizations, when it may
/// run ([`Config::mirror_configured`]).
pub(crate) fn organization_mirror(config: &Config, adapters: &Adapters) -> Option<Arc<MirrorGate>> {
    if !config.mirror_configured() {
        return None;
    }
    let keycloak = adapters.keycloak.clone()?;
    let store = &adapters.store;
    let mirror = OrganizationMirror::new(
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        keycloak.clone(),
    )
    .with_members(config.sso.member_mirroring);
    Some(Arc::new(MirrorGate::new(
        mirror,
        keycloak,
        config.sso.organization_mirror == MirrorMode::On,
    )))
}

/// The use cases, over the adapters.
pub(crate) struct UseCases {
    pub(crate) organizations: Arc<OrganizationService>,
    pub(crate) sso: Arc<SsoService>,
    pub(crate) registration: Option<UserService>,
    pub(crate) audit: AuditService,
    pub(crate) invitations: InvitationService,
    pub(crate) api_keys: Arc<orgman_domain::ApiKeyService>,
    pub(crate) webhooks: Arc<orgman_domain::WebhookService>,
    pub(crate) directory: Arc<orgman_domain::DirectoryService>,
    /// Wakes the webhook dispatcher (from the outbox's webhook sink).
    pub(crate) webhook_wake: Arc<crate::webhooks::DispatchWake>,
    pub(crate) domains: Arc<DomainService>,
    pub(crate) roles: orgman_domain::RoleService,
    pub(crate) provisioner: Provisioner,
    /// `None` without a pseudonym key (erasure then answers 503).
    pub(crate) erasure: Option<Arc<orgman_domain::Erasure>>,
}

impl UseCases {
    pub(crate) fn build(
        config: &Config,
        adapters: &Adapters,
        delivery: &Delivery,
    ) -> anyhow::Result<UseCases> {
        let store = &adapters.store;
        let organizations = organization_service(config, adapters, delivery);
        if config.sso.cipher.is_none() {
            tracing::warn!(
                "ORGMAN_SSO_ENCRYPTION_KEYS is not set: SSO configurations cannot be created or changed"
            );
        }
        let sso = Arc::new(sso_service(config, organizations.clone(), store.clone()));
        let registration = adapters
            .keycloak
            .clone()
            .map(|keycloak| UserService::new(organizations.clone(), store.clone(), keycloak));
        let audit = AuditService::new(organizations.clone(), store.clone());
        let tokens = Arc::new(orgman_secrets::RandomTokens::new());
        let api_keys = Arc::new(orgman_domain::ApiKeyService::new(
            organizations.clone(),
            store.clone(),
            tokens.clone(),
        ));
        let webhooks = webhook_service(config, adapters, &organizations, tokens.clone());
        let invitations = InvitationService::new(
            organizations.clone(),
            store.clone(),
            tokens,
            time::Duration::try_from(config.invitation_ttl).unwrap_or(time::Duration::days(7)),
        );
        let resolver = orgman_dns::DnsTxt::new(&config.dns_nameservers, Duration::from_secs(3))
            .map_err(anyhow::Error::msg)?;
        let domains = Arc::new(DomainService::new(
            organizations.clone(),
            store.clone(),
            Arc::new(resolver),
        ));
        let roles = orgman_domain::RoleService::new(organizations.clone(), store.clone());
        let provisioner = Provisioner::new(store.clone())
            .with_auto_join(domains.clone())
            .with_sso_provisioning(sso.clone());
        let directory = Arc::new(orgman_domain::DirectoryService::new(
            organizations.clone(),
            store.clone(),
        ));
        let erasure = config.erasure.pseudonyms.clone().map(|pseudonyms| {
            let identity = adapters
                .keycloak
                .clone()
                .map(|k| k as Arc<dyn orgman_domain::ports::IdentityProvider>);
            Arc::new(orgman_domain::Erasure::new(
                organizations.clone(),
                orgman_domain::PersonStores::over(store.clone()),
                identity,
                config.erasure.account,
                pseudonyms,
            ))
        });
        Ok(UseCases {
            erasure,
            organizations,
            sso,
            registration,
            audit,
            invitations,
            api_keys,
            webhooks,
            directory,
            webhook_wake: delivery.webhook_wake.clone(),
            domains,
            roles,
            provisioner,
        })
    }
}

/// The webhook use cases: endpoints in PostgreSQL, signed requests over the
/// address rule, secrets sealed with the SSO encryption key.
fn webhook_service(
    config: &Config,
    adapters: &Adapters,
    organizations: &Arc<OrganizationService>,
    tokens: Arc<orgman_secrets::RandomTokens>,
) -> Arc<orgman_domain::WebhookService> {
    let store = &adapters.store;
    Arc::new(orgman_domain::WebhookService::new(
        organizations.clone(),
        orgman_domain::WebhookPorts {
            queries: store.clone(),
            queue: store.clone(),
            transport: Arc::new(orgman_egress::HttpWebhooks::new(
                config.webhooks.allow_http_loopback,
                config.webhooks.timeout,
            )),
            cipher: config
                .sso
                .cipher
                .clone()
                .map(|c| c as Arc<dyn SecretCipher>),
            tokens,
        },
    ))
}

/// The organization use cases over the adapters, with the relays' wake.
fn organization_service(
    config: &Config,
    adapters: &Adapters,
    delivery: &Delivery,
) -> Arc<OrganizationService> {
    let store = &adapters.store;
    Arc::new(OrganizationService::new(
        ServicePorts {
            organizations: store.clone(),
            members: store.clone(),
            authorizer: delivery.authorizer.clone(),
            cache: adapters.cache.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7Generator),
            commit_signal: delivery.wake.clone(),
        },
        ServiceSettings {
            deletion_grace: time::Duration::days(i64::from(config.deletion_grace_days)),
            creation: config.creation,
            default_max_members: config.default_max_members,
        },
    ))
}

//! [`SpiceDbAuthorizer`]: checks and relationship writes against SpiceDB.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use futures_util::StreamExt;
use orgman_domain::ports::{Authorizer, DeliveryError, EventSink, Freshness};
use orgman_domain::{
    Actor, AuthzError, DomainEvent, EventKind, OrgRole, OrganizationId, Permission, UserId,
};
use spicedb_grpc_tonic::v1::permissions_service_client::PermissionsServiceClient;
use spicedb_grpc_tonic::v1::schema_service_client::SchemaServiceClient;
use spicedb_grpc_tonic::v1::{
    CheckPermissionRequest, Consistency, DeleteRelationshipsRequest, ObjectReference,
    ReadRelationshipsRequest, ReadSchemaRequest, Relationship, RelationshipFilter,
    RelationshipUpdate, SubjectReference, WriteRelationshipsRequest, WriteSchemaRequest,
    check_permission_response, consistency, relationship_update,
};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig};
use tonic::{Code, Request, Status};

use crate::settings::SpiceDbSettings;

/// The role relations of an organization.
const ROLES: [OrgRole; 3] = [OrgRole::Owner, OrgRole::Admin, OrgRole::Member];
/// The single platform object organizations point to.
const PLATFORM: &str = "main";

/// SpiceDB cannot be used.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SpiceDbError {
    /// Not reachable, timing out, or refusing for now.
    #[error("spicedb unavailable: {0}")]
    Unavailable(String),
    /// The request was refused (bad token, missing permission, a
    /// precondition): worth retrying once the operator fixed it.
    #[error("spicedb refused: {0}")]
    Refused(String),
    /// The request orgman built is invalid: retrying cannot help.
    #[error("spicedb found the request invalid: {0}")]
    Invalid(String),
    /// SpiceDB does not know orgman's definitions: it lost its data (a new
    /// cluster, a reset datastore). [`SpiceDbAuthorizer::restore`] repairs
    /// it; until then checks fail closed.
    #[error("spicedb lost its data: {0}")]
    Lost(String),
}

impl From<Status> for SpiceDbError {
    fn from(status: Status) -> Self {
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted => {
                SpiceDbError::Unavailable(format!("{:?}: {}", status.code(), status.message()))
            }
            // "object definition `organization` not found" and the like:
            // the schema is gone.
            Code::FailedPrecondition | Code::InvalidArgument | Code::NotFound
                if status.message().contains("definition")
                    && status.message().contains("not found") =>
            {
                SpiceDbError::Lost(format!("{:?}: {}", status.code(), status.message()))
            }
            Code::InvalidArgument => {
                SpiceDbError::Invalid(format!("InvalidArgument: {}", status.message()))
            }
            code => SpiceDbError::Refused(format!("{code:?}: {}", status.message())),
        }
    }
}

impl From<SpiceDbError> for AuthzError {
    fn from(error: SpiceDbError) -> Self {
        match error {
            SpiceDbError::Unavailable(reason) | SpiceDbError::Lost(reason) => {
                AuthzError::Unavailable(reason)
            }
            SpiceDbError::Refused(reason) | SpiceDbError::Invalid(reason) => {
                AuthzError::Other(reason)
            }
        }
    }
}

fn relation(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Owner => "owner",
        OrgRole::Admin => "admin",
        OrgRole::Member => "member",
    }
}

fn object(object_type: &str, id: impl ToString) -> ObjectReference {
    ObjectReference {
        object_type: object_type.into(),
        object_id: id.to_string(),
    }
}

fn subject(object_type: &str, id: impl ToString) -> SubjectReference {
    SubjectReference {
        object: Some(object(object_type, id)),
        optional_relation: String::new(),
    }
}

fn update(
    operation: relationship_update::Operation,
    org: OrganizationId,
    relation: &str,
    subject: SubjectReference,
) -> RelationshipUpdate {
    RelationshipUpdate {
        operation: operation as i32,
        relationship: Some(Relationship {
            resource: Some(object("organization", org)),
            relation: relation.into(),
            subject: Some(subject),
            ..Default::default()
        }),
    }
}

/// The role relations of one user: `role` set (or none), the others removed.
fn role_updates(
    org: OrganizationId,
    user: UserId,
    role: Option<OrgRole>,
) -> Vec<RelationshipUpdate> {
    use relationship_update::Operation;
    ROLES
        .iter()
        .map(|r| {
            let operation = if Some(*r) == role {
                Operation::Touch
            } else {
                Operation::Delete
            };
            update(operation, org, relation(*r), subject("user", user))
        })
        .collect()
}

/// Events per relationship write when a run of membership events is
/// written at once: each is three updates, and SpiceDB takes at most 1,000
/// updates per call by default.
const EVENTS_PER_WRITE: usize = 300;

/// The relationship updates of a membership event; `None` for other events.
fn membership_updates(event: &DomainEvent) -> Option<Vec<RelationshipUpdate>> {
    let org = event.organization_id;
    match &event.kind {
        EventKind::MemberAdded { user_id, role }
        | EventKind::MemberRoleChanged {
            user_id, to: role, ..
        } => Some(role_updates(org, *user_id, Some(*role))),
        EventKind::MemberRemoved { user_id, .. } => Some(role_updates(org, *user_id, None)),
        _ => None,
    }
}

/// Where the batch starting at `start` ends (exclusive): a run of
/// membership events with no (organization, user) twice, since SpiceDB
/// refuses two updates of one relationship in one call, of at most
/// [`EVENTS_PER_WRITE`]; any other event is a batch of its own.
fn batch_end(events: &[DomainEvent], start: usize) -> usize {
    let mut seen = HashSet::new();
    let mut end = start;
    while end < events.len() && end - start < EVENTS_PER_WRITE {
        let Some(user) = events[end].kind.member() else {
            break;
        };
        if !seen.insert((events[end].organization_id, user)) {
            break;
        }
        end += 1;
    }
    end.max(start + 1)
}

/// The relations and permissions of a schema, each prefixed with its
/// definition, without comments or layout, sorted: SpiceDB hands the schema
/// back with its own layout and definitions in name order.
fn statements(schema: &str) -> Vec<String> {
    let mut current = String::new();
    let mut found = Vec::new();
    for line in schema.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("definition") {
            current = rest
                .trim()
                .trim_end_matches('{')
                .trim_end_matches("{}")
                .trim()
                .to_owned();
            found.push(format!("definition {current}"));
        } else if line.starts_with("relation") || line.starts_with("permission") {
            found.push(format!(
                "{current}: {}",
                line.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
    }
    found.sort();
    found
}

/// One stored relationship of an organization, as text:
/// `organization:<id>#<relation>@<type>:<id>`.
pub(crate) fn describe(relationship: &Relationship) -> String {
    let resource = relationship.resource.clone().unwrap_or_default();
    let subject_reference = relationship.subject.clone().unwrap_or_default();
    let subject = subject_reference.object.unwrap_or_default();
    let subject_relation = match subject_reference.optional_relation.as_str() {
        "" => String::new(),
        relation => format!("#{relation}"),
    };
    format!(
        "{}:{}#{}@{}:{}{subject_relation}",
        resource.object_type,
        resource.object_id,
        relationship.relation,
        subject.object_type,
        subject.object_id
    )
}

/// Checks and relationship writes against SpiceDB.
pub struct SpiceDbAuthorizer {
    channel: Channel,
    token: MetadataValue<Ascii>,
    settings: SpiceDbSettings,
    /// Organizations whose latest change this process could not write yet;
    /// their checks fail closed until the relay has written it.
    stale: Mutex<HashSet<OrganizationId>>,
    /// Set when SpiceDB answered that it lost orgman's definitions: every
    /// check fails closed until [`SpiceDbAuthorizer::restore`] succeeds.
    lost: AtomicBool,
    /// Restorations completed (for metrics).
    restorations: AtomicU64,
    /// Checks made, by [`Freshness`] (`Latest`, `Recent`), for metrics.
    checks: [AtomicU64; 2],
}

impl std::fmt::Debug for SpiceDbAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpiceDbAuthorizer")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl SpiceDbAuthorizer {
    /// An authorizer; connects lazily (start-up succeeds while SpiceDB is
    /// down; checks then fail closed).
    ///
    /// # Errors
    /// [`SpiceDbError::Refused`] for an unusable endpoint or token.
    pub fn connect(settings: SpiceDbSettings) -> Result<Self, SpiceDbError> {
        let mut endpoint = Channel::from_shared(settings.endpoint())
            .map_err(|e| SpiceDbError::Refused(format!("bad endpoint: {e}")))?
            .connect_timeout(settings.timeout)
            .timeout(settings.timeout);
        if settings.tls {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(ca) = &settings.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    SpiceDbError::Refused(format!("ORGMAN_SPICEDB_CA_FILE {}: {e}", ca.display()))
                })?;
                tls = tls.ca_certificate(tonic::transport::Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| SpiceDbError::Refused(format!("tls: {e}")))?;
        }
        let token = format!("Bearer {}", settings.token)
            .parse()
            .map_err(|_| SpiceDbError::Refused("the token is not a valid header value".into()))?;
        Ok(Self {
            channel: endpoint.connect_lazy(),
            token,
            settings,
            stale: Mutex::new(HashSet::new()),
            lost: AtomicBool::new(false),
            checks: [AtomicU64::new(0), AtomicU64::new(0)],
            restorations: AtomicU64::new(0),
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.token.clone());
        request.set_timeout(self.settings.timeout);
        request
    }

    fn permissions(&self) -> PermissionsServiceClient<Channel> {
        PermissionsServiceClient::new(self.channel.clone())
    }

    /// Writes [`crate::SCHEMA`], merged into what SpiceDB holds (other
    /// services' definitions stay), unless SpiceDB already has it.
    /// Returns whether it was written.
    ///
    /// # Errors
    /// [`SpiceDbError`].
    pub async fn ensure_schema(&self) -> Result<bool, SpiceDbError> {
        let mut schema = SchemaServiceClient::new(self.channel.clone());
        let current = match schema.read_schema(self.request(ReadSchemaRequest {})).await {
            Ok(response) => response.into_inner().schema_text,
            Err(status) if status.code() == Code::NotFound => String::new(),
            Err(status) => return Err(status.into()),
        };
        // A SpiceDB shared with other services keeps their definitions
        // (and their statements on definitions both use).
        let desired = crate::schema::merge(&current, crate::SCHEMA);
        // SpiceDB returns the schema in its own layout: compare statements.
        if statements(&current) == statements(&desired) {
            return Ok(false);
        }
        schema
            .write_schema(self.request(WriteSchemaRequest { schema: desired }))
            .await?;
        tracing::info!("wrote the SpiceDB schema");
        Ok(true)
    }

    /// Remembers a [`SpiceDbError::Lost`] (checks fail closed from now on,
    /// until [`SpiceDbAuthorizer::restore`]); passes the error on.
    fn noticed(&self, error: SpiceDbError) -> SpiceDbError {
        if let SpiceDbError::Lost(reason) = &error {
            if !self.lost.swap(true, Ordering::SeqCst) {
                tracing::error!(%reason, "SpiceDB lost orgman's schema or relationships; failing closed until they are restored");
            }
        }
        error
    }

    /// Whether SpiceDB was found without orgman's data and not restored yet.
    pub fn needs_restore(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Checks made so far at each freshness: (latest, recent).
    pub fn checks_by_freshness(&self) -> (u64, u64) {
        (
            self.checks[Freshness::Latest as usize].load(Ordering::Relaxed),
            self.checks[Freshness::Recent as usize].load(Ordering::Relaxed),
        )
    }

    /// How many times [`SpiceDbAuthorizer::restore`] has completed.
    pub fn restorations(&self) -> u64 {
        self.restorations.load(Ordering::Relaxed)
    }

    /// Records a completed restoration ([`SpiceDbAuthorizer::restore`]):
    /// checks stop failing closed.
    pub(crate) fn mark_restored(&self) {
        self.stale.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.lost.store(false, Ordering::SeqCst);
        self.restorations.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether SpiceDB answers (reads the schema).
    ///
    /// # Errors
    /// [`SpiceDbError`].
    pub async fn ping(&self) -> Result<(), SpiceDbError> {
        SchemaServiceClient::new(self.channel.clone())
            .read_schema(self.request(ReadSchemaRequest {}))
            .await
            .map(drop)
            .or_else(|status| {
                if status.code() == Code::NotFound {
                    Ok(())
                } else {
                    Err(status.into())
                }
            })
    }

    pub(crate) async fn write(&self, updates: Vec<RelationshipUpdate>) -> Result<(), SpiceDbError> {
        if updates.is_empty() {
            return Ok(());
        }
        self.permissions()
            .write_relationships(self.request(WriteRelationshipsRequest {
                updates,
                ..Default::default()
            }))
            .await
            .map_err(|status| self.noticed(status.into()))?;
        Ok(())
    }

    async fn delete_organization(&self, org: OrganizationId) -> Result<(), SpiceDbError> {
        self.delete(RelationshipFilter {
            resource_type: "organization".into(),
            optional_resource_id: org.to_string(),
            ..Default::default()
        })
        .await?;
        self.delete(crate::custom_roles::of_roles(org)).await
    }

    /// Deletes every relationship `filter` matches.
    async fn delete(&self, filter: RelationshipFilter) -> Result<(), SpiceDbError> {
        self.permissions()
            .delete_relationships(self.request(DeleteRelationshipsRequest {
                relationship_filter: Some(filter),
                ..Default::default()
            }))
            .await
            .map_err(|status| self.noticed(status.into()))?;
        Ok(())
    }

    /// The relationships of custom roles an event implies (`None` for an
    /// event that touches none): a removed member's roles are let go too.
    async fn apply_custom_roles(&self, event: &DomainEvent) -> Option<Result<(), SpiceDbError>> {
        use crate::custom_roles::{
            held_by, holder_updates, of_role, role_pointer_removed, role_updates,
        };
        let org = event.organization_id;
        Some(match &event.kind {
            EventKind::RoleCreated {
                key, permissions, ..
            } => self.write(role_updates(org, key, permissions, &[])).await,
            EventKind::RoleUpdated {
                key,
                permissions,
                revoked,
                ..
            } => {
                self.write(role_updates(org, key, permissions, revoked))
                    .await
            }
            EventKind::RoleDeleted { key, .. } => {
                match self.write(role_pointer_removed(org, key)).await {
                    Ok(()) => self.delete(of_role(org, key)).await,
                    Err(error) => Err(error),
                }
            }
            EventKind::MemberRolesChanged {
                user_id,
                custom_roles,
                previous_custom_roles,
            } => {
                let updates = holder_updates(org, *user_id, custom_roles, previous_custom_roles);
                self.write(updates).await
            }
            EventKind::MemberRemoved { user_id, .. } => self.delete(held_by(org, *user_id)).await,
            _ => return None,
        })
    }

    /// The relationships SpiceDB holds for organizations (all of them, or
    /// one), as `organization:<id>#<relation>@<type>:<id>` text, sorted.
    ///
    /// # Errors
    /// [`SpiceDbError`].
    pub async fn relationships(
        &self,
        org: Option<OrganizationId>,
    ) -> Result<Vec<String>, SpiceDbError> {
        let organizations = RelationshipFilter {
            resource_type: "organization".into(),
            optional_resource_id: org.map(|o| o.to_string()).unwrap_or_default(),
            ..Default::default()
        };
        let roles = match org {
            Some(org) => crate::custom_roles::of_roles(org),
            None => RelationshipFilter {
                resource_type: "role".into(),
                ..Default::default()
            },
        };
        let mut found = Vec::new();
        for filter in [organizations, roles] {
            found.extend(self.read(filter).await?);
        }
        found.sort();
        Ok(found)
    }

    /// The relationships `filter` matches, as text.
    async fn read(&self, filter: RelationshipFilter) -> Result<Vec<String>, SpiceDbError> {
        let mut stream = self
            .permissions()
            .read_relationships(self.request(ReadRelationshipsRequest {
                consistency: Some(Consistency {
                    requirement: Some(consistency::Requirement::FullyConsistent(true)),
                }),
                relationship_filter: Some(filter),
                ..Default::default()
            }))
            .await?
            .into_inner();
        let mut found = Vec::new();
        while let Some(item) = stream.next().await {
            if let Some(relationship) = item?.relationship {
                found.push(describe(&relationship));
            }
        }
        Ok(found)
    }

    /// Writes a batch from [`batch_end`]: a run of membership events in one
    /// call, any other event on its own.
    async fn apply_batch(&self, batch: &[DomainEvent]) -> Result<(), SpiceDbError> {
        if let [event] = batch {
            return self.apply_event(event).await;
        }
        let updates = batch
            .iter()
            .filter_map(membership_updates)
            .flatten()
            .collect();
        self.write(updates).await?;
        for event in batch {
            if let EventKind::MemberRemoved { .. } = event.kind {
                self.apply_custom_roles(event).await.transpose()?;
            }
        }
        Ok(())
    }

    /// The relationship writes an event implies.
    async fn apply_event(&self, event: &DomainEvent) -> Result<(), SpiceDbError> {
        use relationship_update::Operation;
        let org = event.organization_id;
        match &event.kind {
            EventKind::OrganizationCreated { .. } => {
                self.write(vec![update(
                    Operation::Touch,
                    org,
                    "platform",
                    subject("platform", PLATFORM),
                )])
                .await
            }
            EventKind::MemberAdded { user_id, role }
            | EventKind::MemberRoleChanged {
                user_id, to: role, ..
            } => self.write(role_updates(org, *user_id, Some(*role))).await,
            EventKind::MemberRemoved { user_id, .. } => {
                self.write(role_updates(org, *user_id, None)).await?;
                self.apply_custom_roles(event).await.transpose().map(drop)
            }
            EventKind::OrganizationDeleted { .. } => self.delete_organization(org).await,
            // Lifecycle states other than deletion change no relationship:
            // the domain keeps suspended organizations read-only itself.
            EventKind::OrganizationUpdated { .. }
            | EventKind::OrganizationSuspended
            | EventKind::OrganizationReactivated
            | EventKind::OrganizationDeletionRequested { .. }
            | EventKind::OrganizationRestored
            | EventKind::MemberLimitChanged { .. }
            | EventKind::SsoConfigCreated { .. }
            | EventKind::SsoConfigUpdated { .. }
            | EventKind::SsoConfigDeleted { .. }
            | EventKind::SsoProviderDisabled { .. }
            | EventKind::SsoMetadataRefreshed { .. }
            | EventKind::SsoCertificateExpiring { .. }
            | EventKind::InvitationCreated { .. }
            | EventKind::InvitationAccepted { .. }
            | EventKind::InvitationRevoked { .. }
            // The erased person's memberships went with their own events.
            | EventKind::UserErased { .. }
            | EventKind::DomainClaimed { .. }
            | EventKind::DomainVerified { .. }
            | EventKind::DomainPolicyChanged { .. }
            | EventKind::OrganizationMetadataChanged { .. }
            | EventKind::DomainDeleted { .. }
            // A key's permissions are decided from the key itself, never
            // asked of SpiceDB.
            | EventKind::ApiKeyCreated { .. }
            | EventKind::ApiKeyRevoked { .. }
            | EventKind::WebhookCreated { .. }
            | EventKind::WebhookUpdated { .. }
            | EventKind::WebhookSecretRotated { .. }
            | EventKind::WebhookDisabled { .. }
            | EventKind::WebhookDeleted { .. }
            | EventKind::DirectoryUserProvisioned { .. }
            | EventKind::DirectoryUserUpdated { .. }
            | EventKind::DirectoryUserDeprovisioned { .. }
            | EventKind::DirectoryGroupCreated { .. }
            | EventKind::DirectoryGroupUpdated { .. }
            | EventKind::DirectoryGroupDeleted { .. }
            | EventKind::DirectoryGroupRolesChanged { .. } => Ok(()),
            EventKind::MemberRolesChanged { .. }
            | EventKind::RoleCreated { .. }
            | EventKind::RoleUpdated { .. }
            | EventKind::RoleDeleted { .. } => {
                self.apply_custom_roles(event).await.unwrap_or(Ok(()))
            }
        }
    }

    fn set_stale(&self, org: OrganizationId, stale: bool) {
        let mut set = self.stale.lock().unwrap_or_else(|e| e.into_inner());
        if stale {
            set.insert(org);
        } else {
            set.remove(&org);
        }
    }
}

#[async_trait]
impl Authorizer for SpiceDbAuthorizer {
    async fn check(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
    ) -> Result<bool, AuthzError> {
        self.check_at(actor, organization, permission, Freshness::Latest)
            .await
    }

    async fn check_at(
        &self,
        actor: &Actor,
        organization: OrganizationId,
        permission: Permission,
        freshness: Freshness,
    ) -> Result<bool, AuthzError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(AuthzError::Unavailable(
                "SpiceDB lost its data and is being restored; retry shortly".into(),
            ));
        }
        if self
            .stale
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|stale| *stale == organization || stale.is_platform())
        {
            return Err(AuthzError::Unavailable(
                "this organization's relationships are being synchronized; retry shortly".into(),
            ));
        }
        // Latest: fully consistent, so a write made through another replica
        // is seen at once (a ZedToken only this process knows cannot promise
        // that). Recent: SpiceDB's quantized revision, whose cached
        // sub-problems every check shares; the caller (the sync guard) asks
        // for it only where nothing changed within its window.
        let requirement = match freshness {
            Freshness::Latest => consistency::Requirement::FullyConsistent(true),
            Freshness::Recent => consistency::Requirement::MinimizeLatency(true),
        };
        self.checks[freshness as usize].fetch_add(1, Ordering::Relaxed);
        let response = self
            .permissions()
            .check_permission(self.request(CheckPermissionRequest {
                consistency: Some(Consistency {
                    requirement: Some(requirement),
                }),
                resource: Some(object("organization", organization)),
                permission: permission.as_str().into(),
                subject: Some(subject("user", actor.user_id())),
                ..Default::default()
            }))
            .await
            .map_err(|status| AuthzError::from(self.noticed(SpiceDbError::from(status))))?
            .into_inner();
        Ok(response.permissionship
            == check_permission_response::Permissionship::HasPermission as i32)
    }

    async fn apply(&self, event: &DomainEvent) -> Result<(), AuthzError> {
        self.apply_all(std::slice::from_ref(event)).await
    }

    async fn apply_all(&self, events: &[DomainEvent]) -> Result<(), AuthzError> {
        let mut start = 0;
        while start < events.len() {
            let end = batch_end(events, start);
            let batch = &events[start..end];
            if let Err(error) = self.apply_batch(batch).await {
                // Until the relay has written them, these organizations'
                // checks fail closed in this process.
                for event in &events[start..] {
                    self.set_stale(event.organization_id, true);
                }
                tracing::warn!(%error, organization = %batch[0].organization_id, "cannot write relationships now; the outbox relay will");
                return Err(error.into());
            }
            start = end;
        }
        Ok(())
    }
}

#[async_trait]
impl EventSink for SpiceDbAuthorizer {
    async fn deliver(&self, events: &[DomainEvent]) -> Vec<Result<(), DeliveryError>> {
        let mut blocked = HashSet::new();
        let mut outcomes: Vec<Option<Result<(), DeliveryError>>> =
            events.iter().map(|_| None).collect();
        let mut start = 0;
        while start < events.len() {
            let end = batch_end(events, start);
            // Events of organizations behind an earlier failure wait, so
            // each organization's events are taken in order.
            let mut batch = Vec::with_capacity(end - start);
            for (index, event) in events.iter().enumerate().take(end).skip(start) {
                if blocked.contains(&event.organization_id) {
                    outcomes[index] = Some(Err(DeliveryError::Retryable(
                        "held back behind an earlier failure".into(),
                    )));
                } else {
                    batch.push((index, event.clone()));
                }
            }
            start = end;
            if batch.is_empty() {
                continue;
            }
            let events_of_batch: Vec<DomainEvent> = batch.iter().map(|(_, e)| e.clone()).collect();
            let results = match self.apply_batch(&events_of_batch).await {
                Ok(()) => batch.iter().map(|_| Ok(())).collect(),
                // SpiceDB refused the batch as invalid: find the event that
                // is, one by one, so the others are not held back by it.
                Err(SpiceDbError::Invalid(_)) if batch.len() > 1 => {
                    let mut results = Vec::with_capacity(batch.len());
                    for event in &events_of_batch {
                        results.push(self.apply_event(event).await);
                    }
                    results
                }
                Err(error) => batch.iter().map(|_| Err(error.clone())).collect::<Vec<_>>(),
            };
            for ((index, event), result) in batch.iter().zip(results) {
                outcomes[*index] = Some(match result {
                    Ok(()) => Ok(()),
                    // Only a request SpiceDB proves invalid is given up on;
                    // anything else is retried (with the relay's backoff)
                    // while the organization fails closed.
                    Err(SpiceDbError::Invalid(reason)) => Err(DeliveryError::Permanent(reason)),
                    Err(error) => {
                        blocked.insert(event.organization_id);
                        self.set_stale(event.organization_id, true);
                        Err(DeliveryError::Retryable(error.to_string()))
                    }
                });
            }
        }
        // Organizations whose every pending event is now written are fresh.
        for event in events {
            if !blocked.contains(&event.organization_id) {
                self.set_stale(event.organization_id, false);
            }
        }
        outcomes
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| Err(DeliveryError::Retryable("not attempted".into())))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::{EVENTS_PER_WRITE, batch_end, statements};
    use orgman_domain::{DomainEvent, EventId, EventKind, OrgRole, OrganizationId, UserId};
    use uuid::Uuid;

    fn event(org: u128, kind: EventKind) -> DomainEvent {
        DomainEvent {
            id: EventId::from_uuid(Uuid::now_v7()),
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            organization_id: OrganizationId::from_uuid(Uuid::from_u128(org)),
            actor: None,
            actor_kind: orgman_domain::ActorKind::User,
            request_id: None,
            schema_version: 1,
            kind,
        }
    }

    fn added(org: u128, user: u128) -> DomainEvent {
        event(
            org,
            EventKind::MemberAdded {
                user_id: UserId::from_uuid(Uuid::from_u128(user)),
                role: OrgRole::Member,
            },
        )
    }

    fn batches(events: &[DomainEvent]) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let end = batch_end(events, start);
            sizes.push(end - start);
            start = end;
        }
        sizes
    }

    #[test]
    fn membership_runs_are_batched_without_touching_one_relationship_twice() {
        let many: Vec<_> = (0..EVENTS_PER_WRITE as u128 + 5)
            .map(|u| added(1, u))
            .collect();
        assert_eq!(batches(&many), vec![EVENTS_PER_WRITE, 5]);
        // The same user twice: the second starts a new batch; the same user
        // in another organization is another relationship.
        let repeated = vec![
            added(1, 7),
            added(2, 7),
            added(1, 8),
            added(1, 7),
            added(1, 9),
        ];
        assert_eq!(batches(&repeated), vec![3, 2]);
        // Any other event stands alone and breaks a run.
        let mixed = vec![
            added(1, 1),
            event(1, EventKind::OrganizationSuspended),
            added(1, 2),
            added(1, 3),
        ];
        assert_eq!(batches(&mixed), vec![1, 1, 2]);
    }

    #[test]
    fn schemas_compare_by_meaning_not_layout() {
        let ours = "/** x */\ndefinition user {}\n\ndefinition doc {\n    relation reader: user\n    permission read = reader\n}\n";
        let theirs = "definition doc {\n\trelation reader: user\n\tpermission read = reader\n}\n\n/** x */\ndefinition user {}";
        assert_eq!(statements(ours), statements(theirs));
        assert_ne!(
            statements(ours),
            statements(&theirs.replace("reader\n}", "reader + user\n}"))
        );
    }
}

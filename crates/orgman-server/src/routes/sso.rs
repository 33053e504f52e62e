//! SSO configurations, per organization and installation-wide. The client
//! secret is write-only: accepted on create and update, never returned.

use actix_web::http::header;
use actix_web::web::{Data, Json, Path, Query};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post};
use orgman_domain::{
    ClientSecret, Email, IssuerUrl, MetadataSource, MetadataUrl, OrganizationId,
    SamlAttributeDraft, SamlConnection, SsoConfig, SsoConfigId, SsoDraft, SsoProtocol, SsoScope,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{Authenticated, JsonObject};
use crate::problem::{ApiError, Problem, ProblemCode};
use crate::state::AppState;

/// Which protocol a configuration speaks.
#[derive(Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ProtocolBody {
    /// OpenID Connect: `issuerUrl`, `clientId`, `clientSecret`.
    Oidc,
    /// SAML 2.0: `metadataUrl` or `metadataXml`, and `attributes`.
    Saml,
}

impl From<ProtocolBody> for SsoProtocol {
    fn from(protocol: ProtocolBody) -> Self {
        match protocol {
            ProtocolBody::Oidc => SsoProtocol::Oidc,
            ProtocolBody::Saml => SsoProtocol::Saml,
        }
    }
}

/// The SAML assertion attributes that carry a person's profile; each
/// unset one keeps its value (or, on creation, is the first well-known
/// name the metadata offers, else `email`, `firstName`, `lastName`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AttributesBody {
    #[schema(min_length = 1, max_length = 255)]
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    #[serde(skip_serializing_if = "Option::is_none")]
    first_name: Option<String>,
    #[schema(min_length = 1, max_length = 255)]
    #[serde(skip_serializing_if = "Option::is_none")]
    last_name: Option<String>,
}

/// Body of a create: `oidc` (the default) takes `issuerUrl`, `clientId`
/// and `clientSecret`; `saml` takes exactly one of `metadataUrl` and
/// `metadataXml`, and optionally `attributes`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct CreateSso {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: String,
    protocol: Option<ProtocolBody>,
    /// OpenID Connect: `https://` URL of the provider's issuer.
    #[schema(
        max_length = 500,
        pattern = "^https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,4})?(/[A-Za-z0-9._~-]*)*$"
    )]
    issuer_url: Option<String>,
    /// OpenID Connect: the client at the provider.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    client_id: Option<String>,
    /// OpenID Connect. Write-only; never returned.
    #[schema(min_length = 1, max_length = 256, write_only)]
    client_secret: Option<String>,
    /// SAML: where the identity provider publishes its metadata (fetched
    /// now and re-read on a schedule).
    #[schema(
        max_length = 500,
        pattern = "^https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,4})?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&%-]*)?$"
    )]
    metadata_url: Option<String>,
    /// SAML: the identity provider's metadata, pasted (at most 200,000
    /// characters; no DTD).
    #[schema(min_length = 1, max_length = 200000)]
    metadata_xml: Option<String>,
    /// SAML: the attributes carrying the profile.
    attributes: Option<AttributesBody>,
    enabled: Option<bool>,
    auto_provision: Option<bool>,
}

/// Body of an update; absent fields keep their value. The protocol never
/// changes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateSso {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    name: Option<String>,
    /// Must be the configuration's own, when given.
    protocol: Option<ProtocolBody>,
    #[schema(
        max_length = 500,
        pattern = "^https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,4})?(/[A-Za-z0-9._~-]*)*$"
    )]
    issuer_url: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    client_id: Option<String>,
    /// Write-only; replaces the stored secret.
    #[schema(min_length = 1, max_length = 256, write_only)]
    client_secret: Option<String>,
    /// SAML: new metadata, read from this URL (and re-read on a schedule).
    #[schema(
        max_length = 500,
        pattern = "^https://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(:[0-9]{1,4})?(/[A-Za-z0-9._~-]*)*(\\?[A-Za-z0-9._~=&%-]*)?$"
    )]
    metadata_url: Option<String>,
    /// SAML: new metadata, pasted.
    #[schema(min_length = 1, max_length = 200000)]
    metadata_xml: Option<String>,
    /// SAML: attributes to change.
    attributes: Option<AttributesBody>,
    enabled: Option<bool>,
    auto_provision: Option<bool>,
}

/// An SSO configuration (an OpenID Connect client secret is never part of
/// it).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SsoView {
    id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization_id: Option<Uuid>,
    name: String,
    protocol: ProtocolBody,
    /// OpenID Connect only.
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer_url: Option<String>,
    /// OpenID Connect only.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// SAML only.
    #[serde(skip_serializing_if = "Option::is_none")]
    saml: Option<SamlView>,
    enabled: bool,
    auto_provision: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

/// A SAML configuration: the identity provider as orgman read its
/// metadata, and what its IT enters there about the service provider.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SamlView {
    /// Where the metadata is re-read; absent when it was pasted.
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata_url: Option<String>,
    /// The identity provider's entity id.
    idp_entity_id: String,
    /// Where people are sent to log in.
    sso_url: String,
    /// How they are sent there: `HTTP-POST` or `HTTP-Redirect`.
    binding: &'static str,
    /// Where a logout at the platform is passed on, if the identity
    /// provider offers single logout.
    #[serde(skip_serializing_if = "Option::is_none")]
    slo_url: Option<String>,
    /// The NameID format asked for.
    name_id_format: String,
    attributes: AttributesBody,
    /// The identity provider's signing certificates.
    certificates: Vec<CertificateView>,
    /// Whether a certificate expires within the warning period (or has).
    certificate_warning: bool,
    /// What the identity provider's administrators enter about orgman.
    #[serde(skip_serializing_if = "Option::is_none")]
    service_provider: Option<ServiceProviderView>,
}

/// A signing certificate.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertificateView {
    /// SHA-256 of the certificate, hex.
    fingerprint: String,
    subject: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    not_after: OffsetDateTime,
    /// `valid`, `expiring` (within the warning period) or `expired`.
    state: &'static str,
}

/// The service provider's details for the identity provider.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServiceProviderView {
    /// The service provider's entity id (audience).
    entity_id: String,
    /// The assertion consumer service URL (HTTP-POST).
    acs_url: String,
    /// The service provider's metadata XML, at a stable URL (no
    /// authentication).
    metadata_url: String,
    /// Keycloak's own descriptor of the provider, which also carries the
    /// certificate of the realm's key that signs requests (for identity
    /// providers that want signed requests).
    descriptor_url: String,
    /// Whether requests are signed (the identity provider's metadata asks
    /// for it).
    signed_requests: bool,
}

impl SsoView {
    fn of(state: &AppState, c: &SsoConfig) -> Self {
        let (issuer_url, client_id) = match c.oidc() {
            Some(oidc) => (
                Some(oidc.issuer_url.to_string()),
                Some(oidc.client_id.clone()),
            ),
            None => (None, None),
        };
        Self {
            id: c.id.as_uuid(),
            organization_id: c.organization.map(|o| o.as_uuid()),
            name: c.name.clone(),
            protocol: match c.protocol() {
                SsoProtocol::Oidc => ProtocolBody::Oidc,
                SsoProtocol::Saml => ProtocolBody::Saml,
            },
            issuer_url,
            client_id,
            saml: c.saml().map(|saml| SamlView::of(state, c, saml)),
            enabled: c.enabled,
            auto_provision: c.auto_provision,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl SamlView {
    fn of(state: &AppState, config: &SsoConfig, saml: &SamlConnection) -> Self {
        let now = OffsetDateTime::now_utc();
        let warning = state.sso.certificate_warning();
        let certificates: Vec<CertificateView> = saml
            .idp
            .certificates
            .iter()
            .map(|c| CertificateView {
                fingerprint: c.sha256.clone(),
                subject: c.subject.clone(),
                not_before: c.not_before,
                not_after: c.not_after,
                state: c.state(now, warning).as_str(),
            })
            .collect();
        Self {
            metadata_url: saml.metadata_url.as_ref().map(ToString::to_string),
            idp_entity_id: saml.idp.entity_id.clone(),
            sso_url: saml.idp.sso_url.clone(),
            binding: if saml.idp.post_binding {
                "HTTP-POST"
            } else {
                "HTTP-Redirect"
            },
            slo_url: saml.idp.slo_url.clone(),
            name_id_format: saml.idp.name_id_format.clone(),
            attributes: AttributesBody {
                email: Some(saml.attributes.email.clone()),
                first_name: Some(saml.attributes.first_name.clone()),
                last_name: Some(saml.attributes.last_name.clone()),
            },
            certificate_warning: certificates.iter().any(|c| c.state != "valid"),
            certificates,
            service_provider: service_provider(state, config).map(|sp| ServiceProviderView {
                entity_id: sp.entity_id,
                acs_url: sp.acs_url,
                metadata_url: format!("/api/v1/sso/saml/{}/metadata", config.id),
                descriptor_url: sp.descriptor_url,
                signed_requests: saml.idp.wants_signed_requests,
            }),
        }
    }
}

/// Keycloak as the service provider of a SAML configuration, when Keycloak
/// is configured.
fn service_provider(
    state: &AppState,
    config: &SsoConfig,
) -> Option<orgman_keycloak::SamlServiceProvider> {
    let keycloak = state.config.keycloak.as_ref()?;
    Some(orgman_keycloak::SamlServiceProvider::of(
        &keycloak.public_url,
        &keycloak.realm,
        &config.broker_alias(),
    ))
}

/// The outcome of a connection test.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConnectionTest {
    /// Whether every step passed.
    reachable: bool,
    /// The issuer (OpenID Connect) or entity id (SAML) the provider
    /// reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// What happened: the first failing step's detail, or the last one's.
    detail: String,
    /// Each step, in order.
    steps: Vec<TestStepView>,
}

/// One step of a connection test.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestStepView {
    /// `discovery` (OpenID Connect); `metadata`, `descriptor`,
    /// `certificates`, `identity` (SAML).
    name: &'static str,
    ok: bool,
    detail: String,
}

fn issuer(state: &AppState, raw: &str) -> Result<IssuerUrl, ApiError> {
    Ok(IssuerUrl::parse(raw, state.config.sso.allow_http_loopback)?)
}

/// The longest pasted metadata, in characters: well within the request
/// body's limit, so that a longer one is answered 422, not 413.
const MAX_PASTED_METADATA: usize = 200_000;

fn metadata(
    state: &AppState,
    url: Option<String>,
    xml: Option<String>,
) -> Result<Option<MetadataSource>, ApiError> {
    match (url, xml) {
        (Some(_), Some(_)) => Err(orgman_domain::ValidationError::MetadataSourceRequired.into()),
        (Some(url), None) => Ok(Some(MetadataSource::Url(MetadataUrl::parse(
            &url,
            state.config.sso.allow_http_loopback,
        )?))),
        (None, Some(xml)) if xml.chars().count() > MAX_PASTED_METADATA => {
            Err(orgman_domain::ValidationError::TextInvalid {
                field: "metadataXml",
                max: MAX_PASTED_METADATA,
            }
            .into())
        }
        (None, Some(xml)) => Ok(Some(MetadataSource::Xml(xml))),
        (None, None) => Ok(None),
    }
}

fn attribute_draft(body: Option<AttributesBody>) -> SamlAttributeDraft {
    body.map_or_else(SamlAttributeDraft::default, |a| SamlAttributeDraft {
        email: a.email,
        first_name: a.first_name,
        last_name: a.last_name,
    })
}

fn create_draft(state: &AppState, body: CreateSso) -> Result<SsoDraft, ApiError> {
    Ok(SsoDraft {
        name: Some(body.name),
        protocol: body.protocol.map(Into::into),
        metadata: metadata(state, body.metadata_url, body.metadata_xml)?,
        attributes: attribute_draft(body.attributes),
        issuer_url: body.issuer_url.map(|u| issuer(state, &u)).transpose()?,
        client_id: body.client_id,
        client_secret: body.client_secret.map(ClientSecret::new),
        enabled: body.enabled,
        auto_provision: body.auto_provision,
    })
}

fn update_draft(state: &AppState, body: UpdateSso) -> Result<SsoDraft, ApiError> {
    Ok(SsoDraft {
        name: body.name,
        protocol: body.protocol.map(Into::into),
        metadata: metadata(state, body.metadata_url, body.metadata_xml)?,
        attributes: attribute_draft(body.attributes),
        issuer_url: body.issuer_url.map(|u| issuer(state, &u)).transpose()?,
        client_id: body.client_id,
        client_secret: body.client_secret.map(ClientSecret::new),
        enabled: body.enabled,
        auto_provision: body.auto_provision,
    })
}

async fn create(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    body: CreateSso,
) -> Result<HttpResponse, ApiError> {
    let draft = create_draft(&state, body)?;
    let config = state.sso.create(&auth.actor, scope, draft).await?;
    let location = match scope {
        Some(org) => format!("/api/v1/organizations/{org}/sso-configs/{}", config.id),
        None => format!("/api/v1/sso-configs/{}", config.id),
    };
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(SsoView::of(&state, &config)))
}

async fn list(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    let configs = state.sso.list(&auth.actor, scope).await?;
    Ok(Json(
        configs.iter().map(|c| SsoView::of(&state, c)).collect(),
    ))
}

async fn read(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
) -> Result<Json<SsoView>, ApiError> {
    let config = state
        .sso
        .get(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(Json(SsoView::of(&state, &config)))
}

async fn change(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
    body: UpdateSso,
) -> Result<Json<SsoView>, ApiError> {
    let draft = update_draft(&state, body)?;
    let config = state
        .sso
        .update(&auth.actor, scope, SsoConfigId::from_uuid(id), draft)
        .await?;
    Ok(Json(SsoView::of(&state, &config)))
}

async fn remove(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
) -> Result<HttpResponse, ApiError> {
    state
        .sso
        .delete(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn test(
    auth: Authenticated,
    state: Data<AppState>,
    scope: SsoScope,
    id: Uuid,
) -> Result<Json<ConnectionTest>, ApiError> {
    let probe = state
        .sso
        .test_connection(&auth.actor, scope, SsoConfigId::from_uuid(id))
        .await?;
    Ok(Json(ConnectionTest {
        reachable: probe.reachable,
        issuer: probe.reported_issuer,
        detail: probe.detail,
        steps: probe
            .steps
            .into_iter()
            .map(|step| TestStepView {
                name: step.name,
                ok: step.ok,
                detail: step.detail,
            })
            .collect(),
    }))
}

// The handlers of both scopes share the bodies above.

/// The configurations of this scope.
#[utoipa::path(
    operation_id = "list_organization_sso_configs",tag = "sso", responses((status = 200, body = Vec<SsoView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/organizations/{id}/sso-configs")]
pub(crate) async fn list_org(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    list(auth, state, Some(OrganizationId::from_uuid(*id))).await
}

/// Creates a configuration; the client secret is encrypted at rest.
#[utoipa::path(
    operation_id = "create_organization_sso_config",tag = "sso", request_body = CreateSso, responses((status = 201, body = SsoView), (status = 400, body = Problem), (status = 413, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/organizations/{id}/sso-configs")]
pub(crate) async fn create_org(
    auth: Authenticated,
    state: Data<AppState>,
    id: Path<Uuid>,
    body: JsonObject<CreateSso>,
) -> Result<HttpResponse, ApiError> {
    create(
        auth,
        state,
        Some(OrganizationId::from_uuid(*id)),
        body.into_inner(),
    )
    .await
}

/// One configuration.
#[utoipa::path(
    operation_id = "get_organization_sso_config",tag = "sso", responses((status = 200, body = SsoView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn get_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    read(auth, state, scope, config_id).await
}

/// Changes a configuration; a `clientSecret` replaces the stored one.
#[utoipa::path(
    operation_id = "update_organization_sso_config",tag = "sso", request_body = UpdateSso, responses((status = 200, body = SsoView), (status = 400, body = Problem), (status = 413, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn update_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
    body: JsonObject<UpdateSso>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    change(auth, state, scope, config_id, body.into_inner()).await
}

/// Deletes a configuration.
#[utoipa::path(
    operation_id = "delete_organization_sso_config",tag = "sso", responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)), security(("bearer" = [])))]
#[delete("/api/v1/organizations/{id}/sso-configs/{configId}")]
pub(crate) async fn delete_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    remove(auth, state, scope, config_id).await
}

/// Tests the connection: OIDC discovery against the issuer, or the SAML
/// metadata fetched and checked (no private addresses unless allowed).
#[utoipa::path(
    operation_id = "test_organization_sso_config",tag = "sso", responses((status = 200, body = ConnectionTest), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/organizations/{id}/sso-configs/{configId}/test")]
pub(crate) async fn test_org(
    auth: Authenticated,
    state: Data<AppState>,
    path: Path<(Uuid, Uuid)>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let (scope, config_id) = {
        let (org, config) = path.into_inner();
        (Some(OrganizationId::from_uuid(org)), config)
    };
    test(auth, state, scope, config_id).await
}

/// The configurations of this scope.
#[utoipa::path(
    operation_id = "list_installation_sso_configs",tag = "sso", responses((status = 200, body = Vec<SsoView>), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/sso-configs")]
pub(crate) async fn list_installation(
    auth: Authenticated,
    state: Data<AppState>,
) -> Result<Json<Vec<SsoView>>, ApiError> {
    list(auth, state, None).await
}

/// Creates a configuration; the client secret is encrypted at rest.
#[utoipa::path(
    operation_id = "create_installation_sso_config",tag = "sso", request_body = CreateSso, responses((status = 201, body = SsoView), (status = 400, body = Problem), (status = 413, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/sso-configs")]
pub(crate) async fn create_installation(
    auth: Authenticated,
    state: Data<AppState>,
    body: JsonObject<CreateSso>,
) -> Result<HttpResponse, ApiError> {
    create(auth, state, None, body.into_inner()).await
}

/// One configuration.
#[utoipa::path(
    operation_id = "get_installation_sso_config",tag = "sso", responses((status = 200, body = SsoView), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/sso-configs/{configId}")]
pub(crate) async fn get_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    read(auth, state, scope, config_id).await
}

/// Changes a configuration; a `clientSecret` replaces the stored one.
#[utoipa::path(
    operation_id = "update_installation_sso_config",tag = "sso", request_body = UpdateSso, responses((status = 200, body = SsoView), (status = 400, body = Problem), (status = 413, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/sso-configs/{configId}")]
pub(crate) async fn update_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
    body: JsonObject<UpdateSso>,
) -> Result<Json<SsoView>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    change(auth, state, scope, config_id, body.into_inner()).await
}

/// Deletes a configuration.
#[utoipa::path(
    operation_id = "delete_installation_sso_config",tag = "sso", responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)), security(("bearer" = [])))]
#[delete("/api/v1/sso-configs/{configId}")]
pub(crate) async fn delete_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    remove(auth, state, scope, config_id).await
}

/// Tests the connection: OIDC discovery against the issuer, or the SAML
/// metadata fetched and checked (no private addresses unless allowed).
#[utoipa::path(
    operation_id = "test_installation_sso_config",tag = "sso", responses((status = 200, body = ConnectionTest), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/sso-configs/{configId}/test")]
pub(crate) async fn test_installation(
    auth: Authenticated,
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<Json<ConnectionTest>, ApiError> {
    let (scope, config_id) = (None, config.into_inner());
    test(auth, state, scope, config_id).await
}

/// Which address to look up.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct DiscoverQuery {
    /// The address a person typed on the login page.
    #[param(max_length = 254)]
    email: String,
}

/// Where a login page sends an address.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HomeRealmView {
    /// The identity provider to log in through: Keycloak's alias, to pass
    /// as `kc_idp_hint`; `null` for a login at the realm itself.
    identity_provider: Option<String>,
    /// Whether the address's organization requires SSO (no password
    /// login).
    sso_required: bool,
}

/// Home-realm discovery for login pages (no authentication): the identity
/// provider of the organization that verified the address's domain, when
/// it has an enabled SSO configuration. The answer depends on the domain
/// only, never on whether the address has an account. Limited per client
/// address (`ORGMAN_SSO_DISCOVERY_RATE_PER_MINUTE`; behind a proxy of
/// `ORGMAN_TRUSTED_PROXIES`, the address it forwards).
#[utoipa::path(
    operation_id = "discover_home_realm",
    tag = "sso",
    params(DiscoverQuery),
    responses(
        (status = 200, body = HomeRealmView), (status = 400, body = Problem),
        (status = 429, body = Problem), (status = 503, body = Problem),
    ),
    security(())
)]
#[get("/api/v1/sso/discover")]
pub(crate) async fn discover(
    request: HttpRequest,
    state: Data<AppState>,
    query: Query<DiscoverQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(peer) = request.peer_addr() {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok())
            .collect();
        let client = state.trusted_proxies.client(peer.ip(), &forwarded);
        state
            .discovery_limiter
            .check(client, std::time::Instant::now())
            .map_err(|retry_after| {
                ApiError::rate_limited("too many discovery requests from this address", retry_after)
            })?;
    }
    let email = Email::parse(&query.email).map_err(|error| {
        ApiError::bad_request(
            ProblemCode::InvalidQueryParameter,
            format!("email: {error}"),
        )
    })?;
    let realm = state.sso.discover_home_realm(&email).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(HomeRealmView {
            identity_provider: realm.identity_provider,
            sso_required: realm.sso_required,
        }))
}

/// A SAML configuration's service provider metadata, for the identity
/// provider's administrators to import (no authentication: it holds no
/// secret, and identity providers fetch it themselves).
#[utoipa::path(
    operation_id = "get_saml_service_provider_metadata",
    tag = "sso",
    params(("configId" = Uuid, Path, description = "A SAML configuration")),
    responses(
        (status = 200, description = "SAML 2.0 metadata", content_type = "application/samlmetadata+xml", body = String),
        (status = 404, body = Problem), (status = 503, body = Problem),
    ),
    security(())
)]
#[get("/api/v1/sso/saml/{configId}/metadata")]
pub(crate) async fn saml_metadata(
    state: Data<AppState>,
    config: Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let config = state
        .sso
        .saml_config(SsoConfigId::from_uuid(config.into_inner()))
        .await?;
    let (Some(saml), Some(sp)) = (config.saml(), service_provider(&state, &config)) else {
        return Err(orgman_domain::OrgError::SsoConfigNotFound.into());
    };
    let required = [
        ("email", &saml.attributes.email, true),
        ("firstName", &saml.attributes.first_name, false),
        ("lastName", &saml.attributes.last_name, false),
    ];
    let xml = orgman_saml::render_sp_metadata(&orgman_saml::ServiceProvider {
        entity_id: sp.entity_id,
        acs_url: sp.acs_url,
        signed_requests: saml.idp.wants_signed_requests,
        name_id_format: saml.idp.name_id_format.clone(),
        attributes: required
            .into_iter()
            .map(
                |(friendly, name, required)| orgman_saml::RequestedAttribute {
                    name: name.clone(),
                    friendly_name: friendly.to_owned(),
                    required,
                },
            )
            .collect(),
        display_name: config.name.clone(),
    });
    Ok(HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(xml))
}

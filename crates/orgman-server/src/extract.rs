//! Request-scoped extractors: who is calling ([`Authenticated`]) and in which
//! organization ([`OrgContext`]), both from the verified token (and an
//! optional header) of the request at hand, nothing kept in thread-locals
//! or globals; and JSON bodies that must be objects ([`JsonObject`]).

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use orgman_domain::{
    Actor, CheckScope, KeyGrant, KeySecret, OrgError, OrgRole, OrganizationId, RequestId, SignIn,
    SystemRole, UserId,
};
use uuid::Uuid;

use crate::auth::{AuthError, Claims};
use crate::problem::{ApiError, ProblemCode};
use crate::state::AppState;

/// The header naming the organization a request is in.
pub const ORGANIZATION_HEADER: &str = "Fx-Organization-Id";

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Authenticated {
    /// The caller as the domain sees it (user, platform role, request id).
    pub actor: Actor,
    /// The verified token's claims (shared with the verified-token cache).
    pub claims: Arc<Claims>,
    /// Whose permissions the caller may ask the check API about: anyone's
    /// with the realm role `SECURITY_AUTHZ_CHECK_ROLE`.
    pub check_scope: CheckScope,
}

/// Whether the token's `realm_access.roles` names `role`.
fn holds_realm_role(claims: &Claims, role: &str) -> bool {
    claims.realm_access.roles.iter().any(|r| r == role)
}

/// Local user ids are the provider's subject when it is a UUID (Keycloak's
/// are), else a UUIDv5 of issuer and subject (the issuer is asked for only
/// then).
fn user_id_for<I: std::fmt::Display>(issuer: impl FnOnce() -> I, subject: &str) -> UserId {
    let uuid = Uuid::parse_str(subject).unwrap_or_else(|_| {
        Uuid::new_v5(
            &Uuid::NAMESPACE_URL,
            format!("{}#{subject}", issuer()).as_bytes(),
        )
    });
    UserId::from_uuid(uuid)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(done) = req.extensions().get::<Authenticated>() {
                return Ok(done.clone());
            }
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("application state missing"))?;
            let header = req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let token = match header.split_once(' ') {
                Some((scheme, token))
                    if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
                {
                    token.trim()
                }
                _ if header.is_empty() => {
                    return Err(ApiError::unauthorized(
                        ProblemCode::MissingToken,
                        "a Bearer token is required",
                    ));
                }
                _ => {
                    return Err(ApiError::unauthorized(
                        ProblemCode::InvalidToken,
                        "the Authorization header must be `Bearer <token>`",
                    ));
                }
            };
            if KeySecret::looks_like(token) {
                let authenticated = with_api_key(&req, &state, token).await?;
                req.extensions_mut().insert(authenticated.clone());
                return Ok(authenticated);
            }
            let claims = state.verifier.verify(token).await.map_err(|error| match error {
                AuthError::Invalid(reason) => ApiError::unauthorized(ProblemCode::InvalidToken, reason),
                AuthError::ProviderUnavailable(reason) => {
                    tracing::warn!(%reason, "cannot fetch the identity provider's keys");
                    ApiError::unavailable(
                        ProblemCode::IdentityProviderUnavailable,
                        "the identity provider cannot be reached to verify this token; retry later",
                    )
                }
            })?;
            let user_id = user_id_for(|| state.config.auth.issuer(), &claims.sub);
            let system_role = if holds_realm_role(&claims, &state.config.auth.admin_role) {
                SystemRole::Admin
            } else {
                SystemRole::User
            };
            let mut actor = Actor::new(user_id, system_role).signed_in(SignIn::from_claims(
                claims.email.as_deref(),
                claims.identity_provider.as_deref(),
            ));
            if let Some(request_id) = req.extensions().get::<RequestId>() {
                actor = actor.in_request(*request_id);
            }
            state.provisioning.ensure(&actor, &claims).await?;
            let check_scope = if holds_realm_role(&claims, &state.config.auth.authz_check_role) {
                CheckScope::AnyUser
            } else {
                CheckScope::Own
            };
            let authenticated = Authenticated {
                actor,
                claims,
                check_scope,
            };
            req.extensions_mut().insert(authenticated.clone());
            Ok(authenticated)
        })
    }
}

/// The routes an API key may call: those of one organization
/// (`/api/v1/organizations/{id}/...`, `/api/v1/organizations/current`).
/// Everything else is about a person (their organizations, their
/// invitations) or the platform.
fn key_may_call(pattern: &str) -> bool {
    pattern == "/api/v1/organizations/current"
        || pattern == "/api/v1/organizations/{id}"
        || pattern.starts_with("/api/v1/organizations/{id}/")
}

/// A request made with an API key: the key authenticated (with its
/// organization, in one cache round trip) and its use noted for
/// `lastUsedAt`.
async fn with_api_key(
    req: &HttpRequest,
    state: &AppState,
    secret: &str,
) -> Result<Authenticated, ApiError> {
    if !req
        .match_pattern()
        .is_some_and(|pattern| key_may_call(&pattern))
    {
        return Err(ApiError::forbidden(
            ProblemCode::ApiKeyNotAllowed,
            "an API key acts in its organization only: call /api/v1/organizations/{id}/... with it",
        ));
    }
    let grant = key_grant(state, secret).await.map_err(ApiError::from)?;
    let claims = Arc::new(Claims::of_api_key(grant.key));
    Ok(Authenticated {
        actor: in_request(req, Actor::api_key(grant)),
        claims,
        check_scope: CheckScope::Own,
    })
}

/// An API key authenticated, counted in the metrics and its use noted for
/// `lastUsedAt`: the one way a key is read, for the REST API and for the
/// SCIM endpoint alike.
pub(crate) async fn key_grant(state: &AppState, secret: &str) -> Result<KeyGrant, OrgError> {
    let grant = state
        .api_keys
        .authenticate(secret)
        .await
        .inspect_err(|error| {
            let outcome = match error {
                OrgError::ApiKeyRejected { reason } => {
                    tracing::info!(reason, "an API key was refused");
                    *reason
                }
                _ => "unavailable",
            };
            state.metrics.observe_api_key(outcome);
        })?;
    state.metrics.observe_api_key("accepted");
    state.key_usage.note(grant.key);
    Ok(grant)
}

/// The actor, within the request's id when the middleware gave it one.
pub(crate) fn in_request(req: &HttpRequest, actor: Actor) -> Actor {
    match req.extensions().get::<RequestId>() {
        Some(request_id) => actor.in_request(*request_id),
        None => actor,
    }
}

/// The organization the request is in: the `Fx-Organization-Id` header if
/// present, else an API key's organization, else the token's organization
/// claim. The caller must be a member
/// (or a platform administrator); anyone else gets 404, as for any
/// organization they are not in.
#[derive(Clone, Debug)]
pub struct OrgContext {
    /// The caller.
    pub auth: Authenticated,
    /// The organization.
    pub organization: OrganizationId,
    /// The caller's role there (`None` for a platform administrator who is
    /// not a member).
    pub role: Option<OrgRole>,
}

impl FromRequest for OrgContext {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let authenticated = Authenticated::from_request(&req, payload);
        Box::pin(async move {
            let auth = authenticated.await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("application state missing"))?;
            let from_header = req
                .headers()
                .get(ORGANIZATION_HEADER)
                .map(|value| {
                    value
                        .to_str()
                        .ok()
                        .and_then(|v| v.parse::<OrganizationId>().ok())
                        .ok_or_else(|| {
                            ApiError::bad_request(
                                ProblemCode::InvalidOrganizationHeader,
                                "Fx-Organization-Id must be a UUID",
                            )
                        })
                })
                .transpose()?;
            let from_claim = auth
                .claims
                .other
                .get(&state.config.auth.organization_claim)
                .and_then(|v| v.as_str())
                .and_then(|v| v.parse::<OrganizationId>().ok());
            let from_key = auth.actor.key_grant().map(|grant| grant.organization);
            let organization = from_header.or(from_key).or(from_claim).ok_or_else(|| {
                ApiError::bad_request(
                    ProblemCode::OrganizationContextMissing,
                    "no organization: send Fx-Organization-Id or use a token with an organization claim",
                )
            })?;
            let role = state.service.context(&auth.actor, organization).await?;
            Ok(OrgContext {
                auth,
                organization,
                role,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Named {
        name: String,
        size: Option<u8>,
    }

    #[test]
    fn a_body_is_read_from_an_object_only_and_in_one_pass() {
        let read = |text: &str| serde_json::from_str::<ObjectBody<Named>>(text).map(|b| b.0);
        assert_eq!(
            read(r#"{"name": "a", "size": 3}"#).unwrap(),
            Named {
                name: "a".into(),
                size: Some(3)
            }
        );
        // A struct's fields as an array, which serde would otherwise take.
        let array = read(r#"["a", 3]"#).unwrap_err().to_string();
        assert!(
            array.contains("expected the body to be a JSON object"),
            "{array}"
        );
        assert!(read(r#""a""#).is_err());
        let unknown = read(r#"{"name": "a", "owner": "me"}"#)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field `owner`"), "{unknown}");
        assert!(
            read(r#"{"size": 1}"#)
                .unwrap_err()
                .to_string()
                .contains("missing field `name`")
        );
    }

    #[test]
    fn uuid_subjects_are_kept_and_others_are_derived_stably() {
        let keycloak = "0a000000-0000-4000-8000-000000000002";
        assert_eq!(
            user_id_for(|| "https://idp/realms/x", keycloak).to_string(),
            keycloak
        );
        let a = user_id_for(|| "https://idp/realms/x", "alice");
        assert_eq!(a, user_id_for(|| "https://idp/realms/x", "alice"));
        assert_ne!(a, user_id_for(|| "https://other/realms/x", "alice"));
    }
}

/// A JSON body that is an object, read into `T`. Plain `web::Json` would
/// also read a struct from an array of its fields (`[null, null]`), which
/// the API documents as an object and must refuse: 400 `malformed-body`.
/// Content type, size limit and syntax errors are `web::Json`'s (415, 413,
/// 400).
#[derive(Debug)]
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // One pass over the bytes, straight into `T`: no `Value` tree first.
        let json = web::Json::<ObjectBody<T>>::from_request(req, payload);
        Box::pin(async move { Ok(JsonObject(json.await?.into_inner().0)) })
    }
}

/// `T` read from a JSON object only: anything else is refused while the
/// body is parsed, as "invalid type: ..., expected the body to be a JSON
/// object".
struct ObjectBody<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectBody<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);

        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = T;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the body to be a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(Object(std::marker::PhantomData))
            .map(ObjectBody)
    }
}

//! Errors as `application/problem+json` (RFC 9457), each with a stable
//! machine-readable `code`. Server-side failures are logged with their
//! details and answered with a generic body.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use orgman_domain::{OrgError, ValidationError};
use serde::Serialize;
use utoipa::ToSchema;

/// Declares [`ProblemCode`]: each variant with the text it is sent as.
macro_rules! problem_codes {
    ($($variant:ident = $code:literal,)*) => {
        /// The stable, machine-readable code of a problem: what clients
        /// branch on. Codes are only ever added; a code's meaning never
        /// changes (docs/api.md lists them by status).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        pub enum ProblemCode {
            $(
                #[allow(missing_docs)]
                #[serde(rename = $code)]
                $variant,
            )*
        }

        impl ProblemCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant),*];

            /// The code as sent, e.g. `slug-taken`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $code,)*
                }
            }
        }
    };
}

problem_codes! {
    AlreadyMember = "already-member",
    ApiKeyEndInvalid = "api-key-end-invalid",
    ApiKeyEnded = "api-key-ended",
    ApiKeyNotAllowed = "api-key-not-allowed",
    ApiKeyNotFound = "api-key-not-found",
    BodyTooLarge = "body-too-large",
    DependencyUnavailable = "dependency-unavailable",
    DirectoryConflict = "directory-conflict",
    DirectoryGroupNotFound = "directory-group-not-found",
    DirectoryInvalid = "directory-invalid",
    DirectoryUserNotFound = "directory-user-not-found",
    DomainClaimed = "domain-claimed",
    DomainLimitReached = "domain-limit-reached",
    DomainNotFound = "domain-not-found",
    DomainNotVerified = "domain-not-verified",
    DomainUnverified = "domain-unverified",
    DomainVerifiedElsewhere = "domain-verified-elsewhere",
    FileTooLarge = "file-too-large",
    GracePeriodNotOver = "grace-period-not-over",
    IdentityProviderRejected = "identity-provider-rejected",
    IdentityProviderUnavailable = "identity-provider-unavailable",
    InternalError = "internal-error",
    InvalidApiKey = "invalid-api-key",
    InvalidCsv = "invalid-csv",
    InvalidIfMatch = "invalid-if-match",
    InvalidInvitationToken = "invalid-invitation-token",
    InvalidMemberLimit = "invalid-member-limit",
    InvalidMultipart = "invalid-multipart",
    InvalidOrganizationHeader = "invalid-organization-header",
    InvalidPathParameter = "invalid-path-parameter",
    InvalidQueryParameter = "invalid-query-parameter",
    InvalidToken = "invalid-token",
    InvalidTransition = "invalid-transition",
    InvalidUserId = "invalid-user-id",
    InvitationAccepted = "invitation-accepted",
    InvitationEmailMismatch = "invitation-email-mismatch",
    InvitationExpired = "invitation-expired",
    InvitationNotFound = "invitation-not-found",
    InvitationPending = "invitation-pending",
    InvitationRevoked = "invitation-revoked",
    IssuerNotAllowed = "issuer-not-allowed",
    LastOwner = "last-owner",
    SoleOwner = "sole-owner",
    AccountErased = "account-erased",
    MalformedBody = "malformed-body",
    MemberLimitReached = "member-limit-reached",
    MemberNotFound = "member-not-found",
    MethodNotAllowed = "method-not-allowed",
    MissingFile = "missing-file",
    MissingToken = "missing-token",
    NotConfigured = "not-configured",
    OrganizationContextMissing = "organization-context-missing",
    OrganizationNotFound = "organization-not-found",
    OrganizationReadOnly = "organization-read-only",
    OwnerRequired = "owner-required",
    PermissionBuiltIn = "permission-built-in",
    PermissionDenied = "permission-denied",
    PermissionInUse = "permission-in-use",
    PermissionNotFound = "permission-not-found",
    PermissionNotHeld = "permission-not-held",
    PlatformAdminRequired = "platform-admin-required",
    PreconditionFailed = "precondition-failed",
    RateLimited = "rate-limited",
    RequestTooLarge = "request-too-large",
    RoleExists = "role-exists",
    RoleInUse = "role-in-use",
    RoleLimitReached = "role-limit-reached",
    RoleNotFound = "role-not-found",
    RoleOfPlatform = "role-of-platform",
    RoleWithoutOrganization = "role-without-organization",
    RouteNotFound = "route-not-found",
    SlugTaken = "slug-taken",
    SsoRequired = "sso-required",
    SsoConfigLimitReached = "sso-config-limit-reached",
    SsoConfigNotFound = "sso-config-not-found",
    TooManyRows = "too-many-rows",
    UnknownPermission = "unknown-permission",
    UnknownRole = "unknown-role",
    UnsupportedFileType = "unsupported-file-type",
    UnsupportedMediaType = "unsupported-media-type",
    UserExists = "user-exists",
    UserNotFound = "user-not-found",
    ValidationFailed = "validation-failed",
    VersionConflict = "version-conflict",
    WebhookDeliveryNotFound = "webhook-delivery-not-found",
    WebhookDeliveryPending = "webhook-delivery-pending",
    WebhookInvalid = "webhook-invalid",
    WebhookNotFound = "webhook-not-found",
    WebhookUrlNotAllowed = "webhook-url-not-allowed",
}

// By hand: the derive does not see the `serde(rename)`s the macro writes.
impl utoipa::PartialSchema for ProblemCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "Stable, machine-readable problem code; codes are only ever added.",
            ))
            .enum_values(Some(ProblemCode::ALL.iter().map(|code| code.as_str())))
            .into()
    }
}

impl ToSchema for ProblemCode {}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one request field.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field, in the request's camelCase.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The problem body.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// A URI naming the problem type (`urn:orgman:problem:<code>`).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, fixed summary of the problem type.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this case.
    pub detail: String,
    /// Stable machine-readable code, e.g. `slug-taken`.
    pub code: ProblemCode,
    /// Field-level details of a validation failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For a member import that stopped part-way: what was committed
    /// before it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportProgress>,
    /// For `sole-owner`: the organizations the user is the only OWNER of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizations: Option<Vec<uuid::Uuid>>,
}

/// How far a member import got before it stopped. Every data row up to
/// and including `committedThroughLine` was applied or refused; nothing
/// after it was written. Importing the same file again completes it (rows
/// already in place count as `unchanged`).
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImportProgress {
    /// Members added by the committed chunks.
    pub added: u64,
    /// Rows already in place.
    pub unchanged: u64,
    /// Rows refused.
    pub failed: u64,
    /// The last line whose row was committed (0 when none was).
    pub committed_through_line: u64,
}

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ProblemCode,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    challenge: Option<Box<str>>,
    retry_after: Option<u32>,
    // Boxed: rare, and errors travel in every `Result` of the handlers.
    extension: Option<Box<Extension>>,
}

/// A problem's member beyond the standard ones.
#[derive(Debug)]
enum Extension {
    /// `imported`.
    Imported(ImportProgress),
    /// `organizations`.
    Organizations(Vec<uuid::Uuid>),
}

impl ApiError {
    /// An error with a status, code, title and detail.
    pub fn new(
        status: StatusCode,
        code: ProblemCode,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
            retry_after: None,
            extension: None,
        }
    }

    /// 429: the caller asks too often; `retry_after` seconds until it may
    /// ask again.
    pub fn rate_limited(detail: impl Into<String>, retry_after: u32) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ProblemCode::RateLimited,
            "Too many requests",
            detail,
        );
        error.retry_after = Some(retry_after.max(1));
        error
    }

    /// The same error, telling how far a member import got.
    pub fn with_import_progress(mut self, progress: ImportProgress) -> Self {
        self.extension = Some(Box::new(Extension::Imported(progress)));
        self
    }

    /// 400 for a request that cannot be understood.
    pub fn bad_request(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
    }

    /// 401 with a `WWW-Authenticate` challenge.
    pub fn unauthorized(code: ProblemCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut error = Self::new(
            StatusCode::UNAUTHORIZED,
            code,
            "Unauthorized",
            detail.clone(),
        );
        let description = detail.replace('"', "'");
        let challenge = if code == ProblemCode::MissingToken {
            r#"Bearer realm="orgman""#.to_owned()
        } else {
            format!(
                r#"Bearer realm="orgman", error="invalid_token", error_description="{description}""#
            )
        };
        error.challenge = Some(challenge.into_boxed_str());
        error
    }

    /// 403.
    pub fn forbidden(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, "Forbidden", detail)
    }

    /// 404.
    pub fn not_found(code: ProblemCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, "Not found", detail)
    }

    /// 503 with `Retry-After`, for a dependency that is down.
    pub fn unavailable(code: ProblemCode, detail: impl Into<String>) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            code,
            "Service unavailable",
            detail,
        );
        error.retry_after = Some(5);
        error
    }

    /// 422 with field details.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ProblemCode::ValidationFailed,
            "Validation failed",
            detail,
        );
        error.errors = errors;
        error
    }

    /// 500; `internal` is logged, never sent.
    pub fn internal(internal: impl fmt::Display) -> Self {
        tracing::error!(error = %internal, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::InternalError,
            "Internal server error",
            "the request could not be completed; it has been logged",
        )
    }

    /// The stable code.
    pub fn code(&self) -> ProblemCode {
        self.code
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let body = Problem {
            problem_type: format!("urn:orgman:problem:{}", self.code.as_str()),
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            errors: self.errors.clone(),
            imported: match self.extension.as_deref() {
                Some(Extension::Imported(progress)) => Some(*progress),
                _ => None,
            },
            organizations: match self.extension.as_deref() {
                Some(Extension::Organizations(ids)) => Some(ids.clone()),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(challenge) = &self.challenge {
            if let Ok(value) = HeaderValue::from_str(challenge) {
                response.insert_header((header::WWW_AUTHENTICATE, value));
            }
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&body).unwrap_or_default())
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::validation(vec![FieldError {
            field: error.field().unwrap_or("body").to_owned(),
            message: error.to_string(),
        }])
    }
}

/// The problems of the catalog's and the custom roles' use cases.
fn roles_problem(error: &OrgError, detail: String) -> ApiError {
    use StatusCode as S;
    let conflict = |code| ApiError::new(S::CONFLICT, code, "Conflict", detail.clone());
    match error {
        OrgError::PermissionNotHeld { .. } => {
            ApiError::forbidden(ProblemCode::PermissionNotHeld, detail)
        }
        OrgError::UnknownPermission { .. } => ApiError::new(
            S::UNPROCESSABLE_ENTITY,
            ProblemCode::UnknownPermission,
            "Unknown permission",
            detail,
        ),
        OrgError::UnknownRoleKey { .. } => ApiError::new(
            S::UNPROCESSABLE_ENTITY,
            ProblemCode::UnknownRole,
            "Unknown role",
            detail,
        ),
        OrgError::PermissionNotFound => {
            ApiError::not_found(ProblemCode::PermissionNotFound, detail)
        }
        OrgError::RoleNotFound => ApiError::not_found(ProblemCode::RoleNotFound, detail),
        OrgError::PermissionBuiltIn { .. } => conflict(ProblemCode::PermissionBuiltIn),
        OrgError::PermissionInUse { .. } => conflict(ProblemCode::PermissionInUse),
        OrgError::RoleExists => conflict(ProblemCode::RoleExists),
        OrgError::RoleInUse { .. } => conflict(ProblemCode::RoleInUse),
        OrgError::RoleOfPlatform => conflict(ProblemCode::RoleOfPlatform),
        _ => conflict(ProblemCode::RoleLimitReached),
    }
}

impl From<OrgError> for ApiError {
    fn from(error: OrgError) -> Self {
        use StatusCode as S;
        let detail = error.to_string();
        match error {
            OrgError::NotFound => ApiError::not_found(ProblemCode::OrganizationNotFound, detail),
            OrgError::Forbidden { .. } => {
                ApiError::forbidden(ProblemCode::PermissionDenied, detail)
            }
            OrgError::PlatformAdminRequired => {
                ApiError::forbidden(ProblemCode::PlatformAdminRequired, detail)
            }
            OrgError::OwnerRequired => ApiError::forbidden(ProblemCode::OwnerRequired, detail),
            OrgError::SsoRequired => ApiError::forbidden(ProblemCode::SsoRequired, detail),
            OrgError::LastOwner => {
                ApiError::new(S::CONFLICT, ProblemCode::LastOwner, "Conflict", detail)
            }
            OrgError::SoleOwner { organizations } => {
                let mut error =
                    ApiError::new(S::CONFLICT, ProblemCode::SoleOwner, "Conflict", detail);
                error.extension = Some(Box::new(Extension::Organizations(
                    organizations.iter().map(|o| o.as_uuid()).collect(),
                )));
                error
            }
            OrgError::AccountErased => ApiError::forbidden(ProblemCode::AccountErased, detail),
            OrgError::SlugTaken { .. } => {
                ApiError::new(S::CONFLICT, ProblemCode::SlugTaken, "Conflict", detail)
            }
            OrgError::AlreadyMember => {
                ApiError::new(S::CONFLICT, ProblemCode::AlreadyMember, "Conflict", detail)
            }
            OrgError::MemberNotFound => ApiError::not_found(ProblemCode::MemberNotFound, detail),
            OrgError::UserNotFound => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::UserNotFound,
                "Unknown user",
                detail,
            ),
            OrgError::ReadOnly { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::OrganizationReadOnly,
                "Conflict",
                detail,
            ),
            OrgError::InvalidTransition { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::InvalidTransition,
                "Conflict",
                detail,
            ),
            OrgError::GracePeriodNotOver { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::GracePeriodNotOver,
                "Conflict",
                detail,
            ),
            OrgError::VersionMismatch { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::VersionConflict,
                "Conflict",
                detail,
            ),
            OrgError::Unavailable(reason) => {
                tracing::warn!(%reason, "dependency unavailable");
                ApiError::unavailable(
                    ProblemCode::DependencyUnavailable,
                    "a dependency is unavailable; retry later",
                )
            }
            OrgError::Invalid(validation) => validation.into(),
            error @ (OrgError::PermissionNotHeld { .. }
            | OrgError::UnknownPermission { .. }
            | OrgError::PermissionNotFound
            | OrgError::PermissionBuiltIn { .. }
            | OrgError::PermissionInUse { .. }
            | OrgError::RoleNotFound
            | OrgError::UnknownRoleKey { .. }
            | OrgError::RoleExists
            | OrgError::RoleInUse { .. }
            | OrgError::RoleOfPlatform
            | OrgError::RoleLimitReached { .. }) => roles_problem(&error, detail),
            OrgError::UserExists => {
                ApiError::new(S::CONFLICT, ProblemCode::UserExists, "Conflict", detail)
            }
            OrgError::IdentityRejected(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::IdentityProviderRejected,
                "Rejected by the identity provider",
                detail,
            ),
            OrgError::SsoConfigNotFound => {
                ApiError::not_found(ProblemCode::SsoConfigNotFound, detail)
            }
            OrgError::SsoConfigLimitReached { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::SsoConfigLimitReached,
                "Conflict",
                detail,
            ),
            OrgError::DomainNotFound => ApiError::not_found(ProblemCode::DomainNotFound, detail),
            OrgError::DomainClaimed => {
                ApiError::new(S::CONFLICT, ProblemCode::DomainClaimed, "Conflict", detail)
            }
            OrgError::DomainLimitReached { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::DomainLimitReached,
                "Conflict",
                detail,
            ),
            OrgError::DomainNotVerified { .. } => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::DomainNotVerified,
                "Not verified",
                detail,
            ),
            OrgError::DomainUnverified => ApiError::new(
                S::CONFLICT,
                ProblemCode::DomainUnverified,
                "Conflict",
                detail,
            ),
            OrgError::DomainVerifiedElsewhere => ApiError::new(
                S::CONFLICT,
                ProblemCode::DomainVerifiedElsewhere,
                "Conflict",
                detail,
            ),
            OrgError::IssuerNotAllowed(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::IssuerNotAllowed,
                "Issuer not allowed",
                detail,
            ),
            OrgError::WebhookNotFound => ApiError::not_found(ProblemCode::WebhookNotFound, detail),
            OrgError::DirectoryUserNotFound => {
                ApiError::not_found(ProblemCode::DirectoryUserNotFound, detail)
            }
            OrgError::DirectoryGroupNotFound => {
                ApiError::not_found(ProblemCode::DirectoryGroupNotFound, detail)
            }
            OrgError::DirectoryConflict(_) => ApiError::new(
                S::CONFLICT,
                ProblemCode::DirectoryConflict,
                "Conflict",
                detail,
            ),
            OrgError::DirectoryInvalid(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::DirectoryInvalid,
                "Unprocessable Entity",
                detail,
            ),
            OrgError::DeliveryNotFound => {
                ApiError::not_found(ProblemCode::WebhookDeliveryNotFound, detail)
            }
            OrgError::DeliveryPending => ApiError::new(
                S::CONFLICT,
                ProblemCode::WebhookDeliveryPending,
                "Conflict",
                detail,
            ),
            OrgError::WebhookInvalid(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::WebhookInvalid,
                "Unprocessable Entity",
                detail,
            ),
            OrgError::WebhookUrlNotAllowed(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::WebhookUrlNotAllowed,
                "Webhook URL not allowed",
                detail,
            ),
            OrgError::ApiKeyNotFound => ApiError::not_found(ProblemCode::ApiKeyNotFound, detail),
            OrgError::ApiKeyEnded => {
                ApiError::new(S::CONFLICT, ProblemCode::ApiKeyEnded, "Conflict", detail)
            }
            OrgError::ApiKeyRejected { .. } => {
                ApiError::unauthorized(ProblemCode::InvalidApiKey, detail)
            }
            OrgError::ApiKeyEndInvalid(_) => ApiError::new(
                S::UNPROCESSABLE_ENTITY,
                ProblemCode::ApiKeyEndInvalid,
                "Unprocessable Entity",
                detail,
            ),
            OrgError::InvitationNotFound => {
                ApiError::not_found(ProblemCode::InvitationNotFound, detail)
            }
            OrgError::InvitationAccepted => ApiError::new(
                S::CONFLICT,
                ProblemCode::InvitationAccepted,
                "Conflict",
                detail,
            ),
            OrgError::InvitationRevoked => {
                ApiError::new(S::GONE, ProblemCode::InvitationRevoked, "Gone", detail)
            }
            OrgError::InvitationExpired => {
                ApiError::new(S::GONE, ProblemCode::InvitationExpired, "Gone", detail)
            }
            OrgError::InvitationEmailMismatch => {
                ApiError::forbidden(ProblemCode::InvitationEmailMismatch, detail)
            }
            OrgError::InvitationPending => ApiError::new(
                S::CONFLICT,
                ProblemCode::InvitationPending,
                "Conflict",
                detail,
            ),
            OrgError::MemberLimitReached { .. } => ApiError::new(
                S::CONFLICT,
                ProblemCode::MemberLimitReached,
                "Conflict",
                detail,
            ),
            OrgError::NotConfigured(setting) => {
                tracing::error!(setting, "a required setting is missing");
                ApiError::unavailable(
                    ProblemCode::NotConfigured,
                    "this feature is not configured on the server",
                )
            }
            OrgError::Internal(reason) => ApiError::internal(reason),
        }
    }
}

/// A version mismatch against a client's `If-Match` is a failed precondition.
pub fn precondition(error: OrgError) -> ApiError {
    match error {
        OrgError::VersionMismatch { expected, actual } => ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            ProblemCode::PreconditionFailed,
            "Precondition failed",
            format!("If-Match names version {expected}, the current version is {actual}"),
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/api.md lists every code by status, and no code that is not one.
    #[test]
    fn the_api_docs_list_exactly_the_codes() {
        let docs = include_str!("../../../docs/api.md");
        let errors = docs
            .split("\n## Errors")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("docs/api.md has an Errors section");
        let listed: std::collections::BTreeSet<&str> = errors
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|token| {
                token.contains('-') && token.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            })
            .collect();
        let codes: std::collections::BTreeSet<&str> =
            ProblemCode::ALL.iter().map(|code| code.as_str()).collect();
        assert_eq!(listed, codes, "docs/api.md#errors and ProblemCode differ");
    }

    #[test]
    fn every_code_is_sent_as_its_documented_text_once() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ProblemCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert!(seen.insert(code.as_str()), "{code} twice");
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{code} is not kebab-case"
            );
        }
    }
}

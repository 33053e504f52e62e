//! Request and response bodies (camelCase, as in the reference). Requests
//! refuse unknown fields; they are turned into domain values at the edge.

use orgman_domain::{Membership, OrgRole, OrgStatus, Organization, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Body of `POST /api/v1/organizations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrganization {
    /// Display name, 1-100 characters after trimming, no control characters.
    #[schema(
        example = "Acme Corporation",
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub(crate) name: String,
    /// Unique handle matching `^[a-z0-9-]+$`, at most 50 characters.
    #[schema(example = "acme", pattern = "^[a-z0-9-]+$", max_length = 50)]
    pub(crate) slug: String,
}

/// Body of `PATCH /api/v1/organizations/{id}`: absent fields stay as they
/// are; the metadata fields are JSON merge patches (RFC 7396: `null`
/// removes a member, objects merge, other values replace).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct UpdateOrganization {
    /// The new display name, 1-100 characters after trimming, no control
    /// characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub(crate) name: Option<String>,
    /// Merge patch for `metadata` (readable by every member); the result
    /// must be an object of at most 8192 bytes of JSON. `null` empties it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub(crate) metadata: Option<Value>,
    /// Merge patch for `privateMetadata` (OWNERs and ADMINs), same rules.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub(crate) private_metadata: Option<Value>,
}

/// A field that is present, even as `null` (which a plain `Option` would
/// read as absent): `null` is a merge patch of its own.
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// Body of `POST /api/v1/organizations/{id}/members`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct AddMember {
    /// The user to add.
    pub(crate) user_id: Uuid,
    /// `OWNER`, `ADMIN` or `MEMBER` (default `MEMBER`).
    #[serde(default)]
    #[schema(example = "MEMBER", pattern = "^(OWNER|ADMIN|MEMBER)$")]
    pub(crate) role: Option<String>,
    /// Instead of `role`: every role the member gets, at most one of
    /// `OWNER`, `ADMIN` and `MEMBER` (`MEMBER` when none is named) and the
    /// organization's custom role keys.
    #[serde(default)]
    #[schema(max_items = 21)]
    pub(crate) roles: Option<Vec<RoleText>>,
}

/// Body of `PATCH /api/v1/organizations/{id}/members/{userId}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangeRole {
    /// `OWNER`, `ADMIN` or `MEMBER`.
    #[schema(pattern = "^(OWNER|ADMIN|MEMBER)$")]
    pub(crate) role: String,
}

/// Keyset pagination parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page size, 1-500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub(crate) limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    pub(crate) after: Option<Uuid>,
}

/// An organization.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationView {
    /// Id.
    pub(crate) id: Uuid,
    /// Display name.
    pub(crate) name: String,
    /// Unique handle.
    pub(crate) slug: String,
    /// `ACTIVE`, `SUSPENDED`, `PENDING_DELETION` or `DELETED`.
    pub(crate) status: String,
    /// While `PENDING_DELETION`: the earliest purge time.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub(crate) purge_after: Option<OffsetDateTime>,
    /// The most members it may have; `null` for no limit.
    pub(crate) max_members: Option<u32>,
    /// Data for the platform's services (a JSON object), readable by every
    /// member.
    #[schema(value_type = Object)]
    pub(crate) metadata: Value,
    /// Data for the platform's services (a JSON object), readable by OWNERs,
    /// ADMINs and platform administrators; absent for other readers and
    /// possibly when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub(crate) private_metadata: Option<Value>,
    /// Incremented by every change; also the `ETag`.
    pub(crate) version: u64,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub(crate) updated_at: OffsetDateTime,
}

impl From<&Organization> for OrganizationView {
    fn from(org: &Organization) -> Self {
        Self {
            id: org.id().as_uuid(),
            name: org.name().to_string(),
            slug: org.slug().to_string(),
            status: status_text(org.status()),
            purge_after: org.purge_after(),
            max_members: org.max_members(),
            metadata: org.metadata().to_value(),
            private_metadata: org
                .private_metadata()
                .map(orgman_domain::Metadata::to_value),
            version: org.version(),
            created_at: org.created_at(),
            updated_at: org.updated_at(),
        }
    }
}

fn status_text(status: OrgStatus) -> String {
    status.as_str().to_owned()
}

/// An organization with the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MyOrganization {
    /// The organization.
    #[serde(flatten)]
    pub(crate) organization: OrganizationView,
    /// The caller's role (absent for a platform administrator who is not a
    /// member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
}

impl MyOrganization {
    /// Builds the view.
    pub(crate) fn new(org: &Organization, role: Option<OrgRole>) -> Self {
        Self {
            organization: org.into(),
            role: role.map(|r| r.as_str().to_owned()),
        }
    }
}

/// A membership.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberView {
    /// The member.
    pub(crate) user_id: Uuid,
    /// `OWNER`, `ADMIN` or `MEMBER`.
    #[schema(pattern = "^(OWNER|ADMIN|MEMBER)$")]
    pub(crate) role: String,
    /// Every role the member holds: the built-in role first, then the
    /// organization's custom roles by key.
    pub(crate) roles: Vec<String>,
    /// When the user joined.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub(crate) created_at: OffsetDateTime,
    /// When the role last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub(crate) updated_at: OffsetDateTime,
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        Self {
            user_id: m.user_id.as_uuid(),
            role: m.role.as_str().to_owned(),
            roles: std::iter::once(m.role.as_str().to_owned())
                .chain(m.custom_roles.iter().map(ToString::to_string))
                .collect(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A page of organizations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationPage {
    /// The items.
    pub(crate) items: Vec<OrganizationView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<Uuid>,
}

/// A page of the caller's organizations.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MyOrganizationPage {
    /// The items.
    pub(crate) items: Vec<MyOrganization>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<Uuid>,
}

/// A page of members.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MemberPage {
    /// The items.
    pub(crate) items: Vec<MemberView>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<Uuid>,
}

/// A refused row of a member import.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportRow {
    /// The 1-based line the row starts on (the header is line 1).
    pub(crate) line: u64,
    /// The user id of the row, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<Uuid>,
    /// Always `failed` (only refused rows are listed).
    pub(crate) status: &'static str,
    /// The problem code, as a single request would answer it.
    pub(crate) code: crate::problem::ProblemCode,
    /// What went wrong.
    pub(crate) detail: String,
}

/// The result of a member import.
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ImportReport {
    /// Rows added.
    pub(crate) added: u64,
    /// Rows whose user already was a member with that role.
    pub(crate) unchanged: u64,
    /// Rows refused.
    pub(crate) failed: u64,
    /// The refused rows, in file order, at most
    /// `ORGMAN_IMPORT_MAX_REPORTED_FAILURES` of them.
    pub(crate) rows: Vec<ImportRow>,
    /// Whether more rows were refused than are listed.
    pub(crate) rows_truncated: bool,
}

/// The caller, as the service knows them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Me {
    /// Local user id.
    pub(crate) id: Uuid,
    /// The identity provider's subject.
    pub(crate) subject: String,
    /// E-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    /// `ADMIN` (platform administrator) or `USER`.
    pub(crate) system_role: &'static str,
}

impl Me {
    /// Builds the view.
    /// A user just registered: registration never makes a platform
    /// administrator.
    pub(crate) fn registered(user: &User) -> Self {
        Self::new(user, orgman_domain::SystemRole::User)
    }

    /// The view of `user`, whose platform role is `role`.
    pub(crate) fn new(user: &User, role: orgman_domain::SystemRole) -> Self {
        Self {
            id: user.id.as_uuid(),
            subject: user.subject.clone(),
            email: user.email.as_ref().map(|e| e.to_string()),
            display_name: user.display_name.clone(),
            system_role: match role {
                orgman_domain::SystemRole::Admin => "ADMIN",
                orgman_domain::SystemRole::User => "USER",
            },
        }
    }
}

/// An optional JSON integer, accepting what JSON Schema calls an integer:
/// `5` and `5.0` alike (serde alone refuses `5.0` for an integer type).
pub(crate) fn whole_number<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| u32::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| {
            D::Error::custom(format!(
                "{number} is not a whole number from 0 to {}",
                u32::MAX
            ))
        })
}

/// A role a member holds: `OWNER`, `ADMIN`, `MEMBER` or a custom role's
/// key.
#[derive(Debug, Deserialize)]
pub(crate) struct RoleText(String);

/// The roles a request names.
pub(crate) fn member_roles(
    texts: &[RoleText],
) -> Result<orgman_domain::MemberRoles, crate::problem::ApiError> {
    let refs = texts
        .iter()
        .map(|text| orgman_domain::RoleRef::parse(&text.0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(orgman_domain::MemberRoles::from_refs(&refs)?)
}

/// A string schema with a pattern (utoipa takes no pattern on a newtype).
pub(crate) fn text_schema(
    pattern: &str,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for RoleText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text_schema(
            "^(OWNER|ADMIN|MEMBER|[a-z0-9][a-z0-9_-]{0,62})$",
            "`OWNER`, `ADMIN`, `MEMBER` or a custom role's key.",
        )
    }
}

impl ToSchema for RoleText {}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Limit {
        #[serde(default, deserialize_with = "whole_number")]
        max: Option<u32>,
    }

    fn max(json: &str) -> Result<Option<u32>, serde_json::Error> {
        serde_json::from_str::<Limit>(json).map(|l| l.max)
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        assert_eq!(max(r#"{"max": 5941}"#).unwrap(), Some(5941));
        assert_eq!(max(r#"{"max": 5941.0}"#).unwrap(), Some(5941));
        assert_eq!(max(r#"{"max": 0}"#).unwrap(), Some(0));
        assert_eq!(max(r#"{"max": null}"#).unwrap(), None);
        assert_eq!(max("{}").unwrap(), None);
        for refused in ["5941.5", "-1", "-1.0", "4294967296", "1e300", r#""5""#] {
            assert!(
                max(&format!(r#"{{"max": {refused}}}"#)).is_err(),
                "{refused}"
            );
        }
    }
}

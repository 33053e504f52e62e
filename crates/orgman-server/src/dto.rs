//! Request and response bodies (camelCase, as in the reference). Requests
//! refuse unknown fields; they are turned into domain values at the edge.

use orgman_domain::{Invitation, IssuedInvitation, Membership};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

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
    /// The member's e-mail address, when known (in the member list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    /// The member's display name, when known (in the member list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) display_name: Option<String>,
    /// The member's given name, when known (in the member list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) given_name: Option<String>,
    /// The member's family name, when known (in the member list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) family_name: Option<String>,
}

impl MemberView {
    /// A member of the directory, with who they are.
    pub(crate) fn of_entry(entry: &orgman_domain::MemberEntry) -> Self {
        Self {
            email: entry.email.as_ref().map(|e| e.as_str().to_owned()),
            display_name: entry.display_name.clone(),
            given_name: entry.given_name.clone(),
            family_name: entry.family_name.clone(),
            ..Self::from(&entry.membership)
        }
    }
}

impl From<&Membership> for MemberView {
    fn from(m: &Membership) -> Self {
        Self {
            email: None,
            display_name: None,
            given_name: None,
            family_name: None,
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

/// An invitation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InvitationView {
    /// Id.
    id: Uuid,
    /// The organization.
    organization_id: Uuid,
    /// The invited address.
    email: String,
    /// The role accepting grants.
    role: &'static str,
    /// `PENDING`, `ACCEPTED`, `REVOKED` or `EXPIRED`.
    status: &'static str,
    /// Who invited.
    invited_by: Option<Uuid>,
    /// Sent (or last sent again).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    /// Valid until.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    expires_at: OffsetDateTime,
    /// Who accepted it.
    accepted_by: Option<Uuid>,
}

impl InvitationView {
    pub(crate) fn new(invitation: &Invitation) -> Self {
        Self {
            id: invitation.id.as_uuid(),
            organization_id: invitation.organization_id.as_uuid(),
            email: invitation.email.as_str().to_owned(),
            role: invitation.role.as_str(),
            status: invitation.status(OffsetDateTime::now_utc()).as_str(),
            invited_by: invitation.invited_by.map(|u| u.as_uuid()),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            accepted_by: invitation.accepted_by.map(|u| u.as_uuid()),
        }
    }
}

/// An invitation as answered once to its creator, with its token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IssuedInvitationView {
    #[serde(flatten)]
    invitation: InvitationView,
    /// The secret to hand to the invited person; shown this once and
    /// never stored (only its digest is).
    token: String,
    /// Where the invited person accepts, from `ORGMAN_INVITATION_ACCEPT_URL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    accept_url: Option<String>,
}

/// The view of an invitation just issued, with its accept address.
pub(crate) fn issued(
    state: &crate::state::AppState,
    issued: &IssuedInvitation,
) -> IssuedInvitationView {
    let token = issued.token.expose();
    IssuedInvitationView {
        invitation: InvitationView::new(&issued.invitation),
        token: token.to_owned(),
        accept_url: state
            .config
            .invitation_accept_url
            .as_ref()
            .map(|template| template.replace("{token}", token)),
    }
}

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

//! The directory's resources as orgman keeps them.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use crate::errors::port::ValidationError;
#[cfg(test)]
use crate::members::custom_role::RoleKey;
use crate::members::custom_role::{MemberRoles, RoleRef};
use crate::members::role::OrgRole;
use crate::values::actor::ActorRef;
use crate::values::id::{DirectoryGroupId, DirectoryUserId, OrganizationId, UserId};
use crate::values::name::Email;

/// Longest user name, group name or external id kept, in characters.
pub const MAX_DIRECTORY_TEXT: usize = 255;

/// A text a directory sends as a name or an id: trimmed, 1 to
/// [`MAX_DIRECTORY_TEXT`] characters, no control characters.
///
/// # Errors
/// [`ValidationError::TextInvalid`] naming `field`.
pub fn directory_text(field: &'static str, text: &str) -> Result<String, ValidationError> {
    let text = text.trim();
    if text.is_empty()
        || text.chars().count() > MAX_DIRECTORY_TEXT
        || text.chars().any(char::is_control)
    {
        return Err(ValidationError::TextInvalid {
            field,
            max: MAX_DIRECTORY_TEXT,
        });
    }
    Ok(text.to_owned())
}

/// A person the directory provisions into an organization.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryUser {
    /// The resource's id (the SCIM `id`).
    pub id: DirectoryUserId,
    /// The organization whose directory it is.
    pub organization_id: OrganizationId,
    /// The orgman user the person is; `None` while their account at the
    /// identity provider is being made, off the request
    /// ([`DirectoryService::open_accounts`](crate::DirectoryService::open_accounts)):
    /// they become a member then.
    pub user_id: Option<UserId>,
    /// The directory client that provisioned the person, whom the events
    /// of the account's opening name.
    pub created_by: ActorRef,
    /// The directory's user name (unique in the organization, compared
    /// case-insensitively).
    pub user_name: String,
    /// The directory's own id for the person, kept as sent.
    pub external_id: Option<String>,
    /// Whether the person is a member (`false`: suspended).
    pub active: bool,
    /// The person's primary address, as the directory gives it.
    pub email: Option<Email>,
    /// Whether the address is in one of the organization's verified
    /// domains. An untrusted address is never used to find or link an
    /// account.
    pub email_trusted: bool,
    /// The name shown for the person.
    pub display_name: Option<String>,
    /// Every attribute as the protocol keeps it (the resource's document);
    /// the domain reads none of it.
    pub attributes: serde_json::Value,
    /// Incremented by every change (the resource's ETag).
    pub version: u64,
    /// When it was provisioned.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// What the directory says of a person, on create or replace.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryUserDraft {
    /// The user name ([`directory_text`]).
    pub user_name: String,
    /// The directory's own id.
    pub external_id: Option<String>,
    /// Whether the person is a member.
    pub active: bool,
    /// The primary address, if the directory gives a valid one.
    pub email: Option<Email>,
    /// The name shown.
    pub display_name: Option<String>,
    /// The resource's document.
    pub attributes: serde_json::Value,
}

/// A group of the directory.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryGroup {
    /// The resource's id.
    pub id: DirectoryGroupId,
    /// The organization whose directory it is.
    pub organization_id: OrganizationId,
    /// Its name (unique in the organization, case-insensitively).
    pub display_name: String,
    /// The directory's own id for it.
    pub external_id: Option<String>,
    /// Its members.
    pub members: BTreeSet<DirectoryUserId>,
    /// The resource's document, without its members.
    pub attributes: serde_json::Value,
    /// Incremented by every change.
    pub version: u64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// What the directory says of a group, on create or replace.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryGroupDraft {
    /// Its name ([`directory_text`]).
    pub display_name: String,
    /// The directory's own id.
    pub external_id: Option<String>,
    /// Its members.
    pub members: BTreeSet<DirectoryUserId>,
    /// The resource's document, without its members.
    pub attributes: serde_json::Value,
}

/// Which resources a list answers. Each form is an index's lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum DirectoryFilter {
    /// Every one.
    #[default]
    All,
    /// Users of this user name (case-insensitive).
    UserName(String),
    /// Resources of this external id (as written).
    ExternalId(String),
    /// Users with this primary address (case-insensitive).
    Email(String),
    /// Users or groups of this display name (case-insensitive).
    DisplayName(String),
}

/// A window of a list: `count` resources after skipping `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// How many to skip.
    pub offset: u64,
    /// How many to answer at most.
    pub count: u64,
}

/// A window of a list with the list's total.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectoryPage<T> {
    /// How many resources the filter matches in all.
    pub total: u64,
    /// The window's.
    pub items: Vec<T>,
}

/// Which groups a mapping applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupMatch {
    /// The group of this id.
    Id(DirectoryGroupId),
    /// Groups of this name (case-insensitive).
    Name(String),
}

impl GroupMatch {
    /// Whether the group of `id` and `name` is one this mapping names.
    pub fn matches(&self, id: DirectoryGroupId, name: &str) -> bool {
        match self {
            GroupMatch::Id(wanted) => *wanted == id,
            GroupMatch::Name(wanted) => wanted.to_lowercase() == name.to_lowercase(),
        }
    }
}

/// One mapping of directory groups to a role: members of the groups it
/// names hold the role.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupRole {
    /// The groups.
    pub group: GroupMatch,
    /// The role: ADMIN, MEMBER or a custom role (a directory never makes
    /// OWNERs).
    pub role: RoleRef,
}

impl GroupRole {
    /// Most mappings an organization sets.
    pub const MAX: usize = 100;
}

/// The roles a directory user holds by their groups: ADMIN if a mapping
/// of one of them gives it, otherwise MEMBER, and every custom role
/// mapped to one of them. A group nothing maps gives nothing.
pub fn roles_of_groups<'a>(
    groups: impl IntoIterator<Item = (DirectoryGroupId, &'a str)> + Clone,
    mappings: &[GroupRole],
) -> MemberRoles {
    let mut roles = MemberRoles::built_in(OrgRole::Member);
    for mapping in mappings {
        if !groups
            .clone()
            .into_iter()
            .any(|(id, name)| mapping.group.matches(id, name))
        {
            continue;
        }
        match &mapping.role {
            RoleRef::BuiltIn(OrgRole::Admin) => roles.role = OrgRole::Admin,
            RoleRef::BuiltIn(_) => {}
            RoleRef::Custom(key) => {
                roles.custom.insert(key.clone());
            }
        }
    }
    roles
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn groups_give_only_what_a_mapping_says() {
        let (eng, ops) = (
            DirectoryGroupId::from_uuid(Uuid::from_u128(1)),
            DirectoryGroupId::from_uuid(Uuid::from_u128(2)),
        );
        let billing = RoleKey::parse("billing").unwrap();
        let mappings = [
            GroupRole {
                group: GroupMatch::Name("Engineering".into()),
                role: RoleRef::BuiltIn(OrgRole::Admin),
            },
            GroupRole {
                group: GroupMatch::Id(ops),
                role: RoleRef::Custom(billing.clone()),
            },
        ];
        let none: [(DirectoryGroupId, &str); 0] = [];
        assert_eq!(
            roles_of_groups(none, &mappings),
            MemberRoles::built_in(OrgRole::Member)
        );
        let unmapped = [(DirectoryGroupId::from_uuid(Uuid::from_u128(3)), "Sales")];
        assert_eq!(roles_of_groups(unmapped, &mappings).role, OrgRole::Member);
        let both = [(eng, "engineering"), (ops, "Operations")];
        let roles = roles_of_groups(both, &mappings);
        assert_eq!(roles.role, OrgRole::Admin);
        assert_eq!(roles.custom, BTreeSet::from([billing]));
    }

    #[test]
    fn directory_text_is_trimmed_and_bounded() {
        assert_eq!(directory_text("userName", "  ada ").unwrap(), "ada");
        assert!(directory_text("userName", " ").is_err());
        assert!(directory_text("userName", "a\u{7}b").is_err());
        assert!(directory_text("userName", &"x".repeat(256)).is_err());
    }
}

//! The member directory: an organization's members with who they are,
//! found by a prefix of their e-mail address or of any word of their name,
//! in keyset pages.

use time::OffsetDateTime;

use crate::errors::port::ValidationError;
use crate::members::role::OrgRole;
use crate::members::rules::Membership;
use crate::users::model::name_words;
use crate::values::id::UserId;
use crate::values::name::Email;

/// What a search looks for: a case-insensitive prefix, already lower-cased
/// and trimmed, 1 to [`SearchPrefix::MAX_CHARS`] characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPrefix(String);

impl SearchPrefix {
    /// The longest prefix accepted, in characters.
    pub const MAX_CHARS: usize = 100;

    /// The prefix `text` asks for; `None` when it is blank (no search).
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] (field `search`) when it is longer
    /// than [`SearchPrefix::MAX_CHARS`] characters or holds a control
    /// character.
    pub fn parse(text: &str) -> Result<Option<Self>, ValidationError> {
        let trimmed = text.trim();
        if trimmed.chars().count() > Self::MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(ValidationError::TextInvalid {
                field: "search",
                max: Self::MAX_CHARS,
            });
        }
        Ok((!trimmed.is_empty()).then(|| Self(trimmed.to_lowercase())))
    }

    /// The lower-cased prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The smallest text greater than every text that starts with the
    /// prefix, in code-point (and so UTF-8 byte) order: the prefix with its
    /// last character replaced by the next one. A store scans the keys from
    /// [`SearchPrefix::as_str`] (inclusive) to this (exclusive). `None`
    /// when no such text exists (a prefix of only `U+10FFFF`): scan to the
    /// end.
    pub fn upper_bound(&self) -> Option<String> {
        let mut chars: Vec<char> = self.0.chars().collect();
        while let Some(last) = chars.pop() {
            let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
            if let Some(next) = next {
                chars.push(next);
                return Some(chars.into_iter().collect());
            }
        }
        None
    }

    /// Whether an entry matches: its e-mail address, or one of the words of
    /// its names ([`name_words`]), starts with the prefix.
    pub fn matches(&self, entry: &MemberEntry) -> bool {
        entry
            .email
            .as_ref()
            .is_some_and(|e| e.as_str().starts_with(&self.0))
            || name_words(
                entry.display_name.as_deref(),
                entry.given_name.as_deref(),
                entry.family_name.as_deref(),
            )
            .iter()
            .any(|word| word.starts_with(&self.0))
    }
}

impl SearchPrefix {
    /// Whether an organization matches: its slug, or a word of its name
    /// (split as [`name_words`] splits names), starts with the prefix.
    pub fn matches_organization(&self, organization: &crate::Organization) -> bool {
        organization.slug().as_str().starts_with(&self.0)
            || name_words(Some(organization.name().as_str()), None, None)
                .iter()
                .any(|word| word.starts_with(&self.0))
    }
}

/// Where a page of the directory starts: after this member, in the order
/// of the listing (by e-mail while searching, by join date otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberCursor {
    /// After this e-mail address (empty for members without one) and user.
    Email {
        /// The address, lower-cased.
        email: String,
        /// The member, for members with the same address.
        user: UserId,
    },
    /// After this join date and user.
    Joined {
        /// When the member joined.
        at: OffsetDateTime,
        /// The member, for members who joined at the same instant.
        user: UserId,
    },
}

impl MemberCursor {
    /// The cursor as opaque text for a client to send back.
    pub fn encode(&self) -> String {
        match self {
            Self::Email { email, user } => {
                let hex: String = email.bytes().map(|b| format!("{b:02x}")).collect();
                format!("e.{}.{hex}", user.as_uuid().simple())
            }
            Self::Joined { at, user } => {
                format!(
                    "j.{}.{}",
                    user.as_uuid().simple(),
                    at.unix_timestamp_nanos()
                )
            }
        }
    }

    /// Reads a cursor [`MemberCursor::encode`] wrote.
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] (field `after`) for any other text.
    pub fn decode(text: &str) -> Result<Self, ValidationError> {
        let invalid = ValidationError::TextInvalid {
            field: "after",
            max: 512,
        };
        let mut parts = text.splitn(3, '.');
        let (Some(kind), Some(user), Some(rest)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid);
        };
        if text.len() > 512 || user.len() != 32 {
            return Err(invalid);
        }
        let user = uuid::Uuid::try_parse(user)
            .map(UserId::from_uuid)
            .map_err(|_| invalid.clone())?;
        match kind {
            "e" => {
                let bytes = (0..rest.len())
                    .step_by(2)
                    .map(|i| {
                        rest.get(i..i + 2)
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
                    .ok_or_else(|| invalid.clone())?;
                let email = String::from_utf8(bytes).map_err(|_| invalid.clone())?;
                Ok(Self::Email { email, user })
            }
            "j" => {
                let nanos: i128 = rest.parse().map_err(|_| invalid.clone())?;
                let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid)?;
                Ok(Self::Joined { at, user })
            }
            _ => Err(invalid),
        }
    }
}

/// Which members to read: a search, a role, and where the page starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberQuery {
    /// Only members whose e-mail or a word of whose name starts with it;
    /// the answer is then ordered by e-mail address (then user id), and by
    /// join date (then user id) otherwise.
    pub search: Option<SearchPrefix>,
    /// Only members with this built-in role.
    pub role: Option<OrgRole>,
    /// Start after this member; `None` for the first page.
    pub after: Option<MemberCursor>,
    /// At most this many members (adapters fetch one more to know whether
    /// another page exists).
    pub limit: u32,
}

impl MemberQuery {
    /// The page size of [`crate::OrganizationService::export_members`]:
    /// large enough that an export of a million members is 200 queries,
    /// small enough that a page is about a megabyte.
    pub const EXPORT_PAGE: u32 = 5_000;

    /// The first page of every member, by join date.
    pub fn all(limit: u32) -> Self {
        Self {
            search: None,
            role: None,
            after: None,
            limit,
        }
    }

    /// Whether `after` is of the kind this query's order needs.
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] (field `after`) for a cursor of a
    /// search used without one, or the other way round.
    pub fn check_cursor(&self) -> Result<(), ValidationError> {
        match (&self.after, &self.search) {
            (Some(MemberCursor::Email { .. }), None)
            | (Some(MemberCursor::Joined { .. }), Some(_)) => Err(ValidationError::TextInvalid {
                field: "after",
                max: 512,
            }),
            _ => Ok(()),
        }
    }
}

/// A member as the directory shows them: the membership and who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberEntry {
    /// Role, custom roles, dates.
    pub membership: Membership,
    /// E-mail address, when known.
    pub email: Option<Email>,
    /// Display name, when known.
    pub display_name: Option<String>,
    /// Given name, when the identity provider tells it.
    pub given_name: Option<String>,
    /// Family name, when the identity provider tells it.
    pub family_name: Option<String>,
}

impl MemberEntry {
    /// The cursor of a page ending at this entry, in a searching listing
    /// (by e-mail) or not (by join date).
    pub fn cursor(&self, searching: bool) -> MemberCursor {
        let user = self.membership.user_id;
        if searching {
            MemberCursor::Email {
                email: self
                    .email
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
                    .unwrap_or_default(),
                user,
            }
        } else {
            MemberCursor::Joined {
                at: self.membership.created_at,
                user,
            }
        }
    }

    /// This entry's place in its listing, to sort entries the way stores
    /// answer: `(e-mail, user)` while searching, `(join date, user)`
    /// otherwise; entries after `cursor` come after it.
    pub fn is_after(&self, cursor: &MemberCursor) -> bool {
        let user = self.membership.user_id;
        match cursor {
            MemberCursor::Email { email, user: after } => {
                let mine = self.email.as_ref().map_or("", Email::as_str);
                (mine, user) > (email.as_str(), *after)
            }
            MemberCursor::Joined { at, user: after } => {
                (self.membership.created_at, user) > (*at, *after)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_trimmed_and_lower_cased_and_a_blank_one_is_no_search() {
        assert_eq!(
            SearchPrefix::parse("  SMi ").unwrap().unwrap().as_str(),
            "smi"
        );
        assert_eq!(SearchPrefix::parse("   ").unwrap(), None);
        assert!(SearchPrefix::parse(&"a".repeat(101)).is_err());
        assert!(SearchPrefix::parse("a\u{0}").is_err());
    }

    #[test]
    fn the_upper_bound_is_just_past_every_text_with_the_prefix() {
        let prefix = SearchPrefix::parse("smi").unwrap().unwrap();
        let bound = prefix.upper_bound().unwrap();
        assert_eq!(bound, "smj");
        for inside in ["smi", "smith", "smi\u{10FFFF}"] {
            assert!(
                inside >= prefix.as_str() && inside < bound.as_str(),
                "{inside}"
            );
        }
        for outside in ["smh", "smj", "sn"] {
            assert!(
                !(outside >= prefix.as_str() && outside < bound.as_str()),
                "{outside}"
            );
        }
        let last = SearchPrefix(format!("a{}", char::MAX));
        assert_eq!(last.upper_bound().unwrap(), "b");
        // Past U+D7FF comes U+E000: surrogates are no characters.
        assert_eq!(
            SearchPrefix("\u{D7FF}".into()).upper_bound().unwrap(),
            "\u{E000}"
        );
        assert_eq!(SearchPrefix(char::MAX.to_string()).upper_bound(), None);
    }

    #[test]
    fn words_of_names_split_at_spaces_and_hyphens_once_each() {
        assert_eq!(
            name_words(Some("Jean-Luc  Picard"), Some("Jean-Luc"), Some("PICARD")),
            vec!["jean", "luc", "picard"]
        );
        assert!(name_words(None, Some("  "), None).is_empty());
    }

    #[test]
    fn cursors_survive_the_round_trip_and_nothing_else_is_one() {
        let user = UserId::from_uuid(uuid::Uuid::now_v7());
        for cursor in [
            MemberCursor::Email {
                email: "zoë.smith@example.com".into(),
                user,
            },
            MemberCursor::Email {
                email: String::new(),
                user,
            },
            MemberCursor::Joined {
                at: OffsetDateTime::from_unix_timestamp_nanos(1_765_000_000_123_456_789).unwrap(),
                user,
            },
        ] {
            assert_eq!(MemberCursor::decode(&cursor.encode()).unwrap(), cursor);
        }
        for junk in [
            "",
            "x.y.z",
            "e.00000000000000000000000000000000.zz",
            "e.00000000000000000000000000000000.ffff",
            "j.00000000000000000000000000000000.soon",
            &user.as_uuid().to_string(),
        ] {
            assert!(MemberCursor::decode(junk).is_err(), "{junk}");
        }
    }
}

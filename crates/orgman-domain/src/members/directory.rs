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

/// Where a page of the directory starts: after this member. It holds the
/// member's place in both orders (by e-mail address while searching, by
/// join date otherwise), so a cursor always means "after this member" in
/// the order of the page it is used for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberCursor {
    /// The member's address, lower-cased (empty for members without one).
    pub email: String,
    /// When the member joined.
    pub joined: OffsetDateTime,
    /// The member, which breaks ties in both orders.
    pub user: UserId,
}

impl MemberCursor {
    /// The longest encoded cursor, in bytes.
    pub const MAX_ENCODED: usize = 600;

    /// The cursor as opaque text for a client to send back:
    /// `m.<user>.<join date in ns>.<address in hex>`.
    pub fn encode(&self) -> String {
        let hex: String = self.email.bytes().map(|b| format!("{b:02x}")).collect();
        format!(
            "m.{}.{}.{hex}",
            self.user.as_uuid().simple(),
            self.joined.unix_timestamp_nanos()
        )
    }

    /// Reads a cursor of the shape [`MemberCursor::encode`] writes. Any
    /// text of that shape is a place in the list (bytes that are no UTF-8
    /// are replaced, a date beyond the representable range is clamped), so
    /// a well-formed cursor is never refused.
    ///
    /// # Errors
    /// [`ValidationError::TextInvalid`] (field `after`) for text of another
    /// shape.
    pub fn decode(text: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::TextInvalid {
            field: "after",
            max: Self::MAX_ENCODED,
        };
        let mut parts = text.splitn(4, '.');
        let (Some("m"), Some(user), Some(nanos), Some(hex)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        if text.len() > Self::MAX_ENCODED
            || user.len() != 32
            || !user.bytes().all(|b| b.is_ascii_hexdigit())
            || hex.len() % 2 != 0
        {
            return Err(invalid());
        }
        let user = uuid::Uuid::try_parse(user)
            .map(UserId::from_uuid)
            .map_err(|_| invalid())?;
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
        let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
        let earliest = time::Date::MIN.midnight().assume_utc();
        let latest = time::Date::MAX.midnight().assume_utc();
        let joined = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if nanos < 0 {
            earliest
        } else {
            latest
        });
        Ok(Self {
            email: String::from_utf8_lossy(&bytes).into_owned(),
            joined,
            user,
        })
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
    /// The cursor of a page ending at this entry.
    pub fn cursor(&self) -> MemberCursor {
        MemberCursor {
            email: self
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
            joined: self.membership.created_at,
            user: self.membership.user_id,
        }
    }

    /// Whether this entry comes after `cursor` in a listing's order:
    /// `(e-mail, user)` while `searching`, `(join date, user)` otherwise.
    pub fn is_after(&self, cursor: &MemberCursor, searching: bool) -> bool {
        let user = self.membership.user_id;
        if searching {
            let mine = self.email.as_ref().map_or("", Email::as_str);
            (mine, user) > (cursor.email.as_str(), cursor.user)
        } else {
            (self.membership.created_at, user) > (cursor.joined, cursor.user)
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
    fn cursors_survive_the_round_trip_and_any_of_their_shape_is_a_place() {
        let user = UserId::from_uuid(uuid::Uuid::now_v7());
        for email in ["zoë.smith@example.com", ""] {
            let cursor = MemberCursor {
                email: email.into(),
                joined: OffsetDateTime::from_unix_timestamp_nanos(1_765_000_000_123_456_789)
                    .unwrap(),
                user,
            };
            assert_eq!(MemberCursor::decode(&cursor.encode()).unwrap(), cursor);
        }
        let odd =
            MemberCursor::decode("m.00000000000000000000000000000000.99999999999999999999.ff")
                .unwrap();
        assert_eq!(odd.email, "\u{FFFD}");
        assert_eq!(odd.joined.year(), 5138);
        let far =
            MemberCursor::decode("m.00000000000000000000000000000000.-9999999999999999999999.")
                .unwrap();
        assert_eq!(far.joined, time::Date::MIN.midnight().assume_utc());
        for junk in [
            "",
            "x.y.z.w",
            "m.00000000000000000000000000000000.1.zz",
            "m.00000000000000000000000000000000.1.fff",
            "m.00000000000000000000000000000000.soon.",
            "m.0000000000000000000000000000000g.1.",
            &user.as_uuid().to_string(),
        ] {
            assert!(MemberCursor::decode(junk).is_err(), "{junk}");
        }
    }
}

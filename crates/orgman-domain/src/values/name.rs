//! Validated text values: organization names, slugs and e-mail addresses.

use std::fmt;

use crate::errors::port::ValidationError;

/// An organization's display name: 1 to 100 characters after trimming, no
/// control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct OrgName(String);

impl OrgName {
    /// The largest number of characters (not bytes) a name may have.
    pub const MAX_CHARS: usize = 100;

    /// Trims surrounding whitespace and checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::NameEmpty`], [`ValidationError::NameTooLong`] or
    /// [`ValidationError::NameControlCharacter`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 {
            return Err(ValidationError::NameEmpty);
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::NameTooLong {
                max: Self::MAX_CHARS,
                actual: chars,
            });
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::NameControlCharacter);
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL-safe unique handle: 1 to 50 characters matching `^[a-z0-9-]+$`
/// (the reference's rule, applied as is: no trimming, no case folding).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct Slug(String);

impl Slug {
    /// The largest number of characters a slug may have.
    pub const MAX_CHARS: usize = 50;

    /// Checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::SlugEmpty`], [`ValidationError::SlugTooLong`] or
    /// [`ValidationError::SlugInvalidCharacter`] (naming the first offender).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::SlugEmpty);
        }
        if let Some(bad) = raw
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '-'))
        {
            return Err(ValidationError::SlugInvalidCharacter { character: bad });
        }
        // Only ASCII is left, so bytes are characters.
        if raw.len() > Self::MAX_CHARS {
            return Err(ValidationError::SlugTooLong {
                max: Self::MAX_CHARS,
                actual: raw.len(),
            });
        }
        Ok(Self(raw.to_owned()))
    }

    /// The slug as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An e-mail address, checked loosely (one `@`, non-empty local part, a
/// dotted domain, no whitespace, at most 254 characters) and lower-cased, as
/// the identity provider compares addresses case-insensitively.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "String", into = "String"))]
pub struct Email(String);

impl Email {
    /// Checks the rule.
    ///
    /// # Errors
    /// [`ValidationError::EmailInvalid`].
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let candidate = raw.trim();
        let valid = candidate.len() <= 254
            && !candidate
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            && match candidate.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.split('.').count() >= 2
                        && domain.split('.').all(|label| !label.is_empty())
                }
                None => false,
            };
        if valid {
            Ok(Self(candidate.to_lowercase()))
        } else {
            Err(ValidationError::EmailInvalid)
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

macro_rules! text_value_impls {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    )*};
}
text_value_impls!(OrgName, Slug, Email);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_trimmed_and_bounded_in_characters() {
        assert_eq!(OrgName::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert_eq!(OrgName::parse("   "), Err(ValidationError::NameEmpty));
        // 100 multi-byte characters are fine; the bound counts characters.
        assert!(OrgName::parse(&"é".repeat(100)).is_ok());
        assert_eq!(
            OrgName::parse(&"a".repeat(101)),
            Err(ValidationError::NameTooLong {
                max: 100,
                actual: 101
            })
        );
        assert_eq!(
            OrgName::parse("Ac\u{7}me"),
            Err(ValidationError::NameControlCharacter)
        );
        assert_eq!(
            OrgName::parse("Ac\nme"),
            Err(ValidationError::NameControlCharacter)
        );
    }

    #[test]
    fn slug_follows_the_reference_pattern_exactly() {
        for ok in ["a", "acme", "acme-2", "-", "0-9", &"x".repeat(50)] {
            assert!(Slug::parse(ok).is_ok(), "{ok:?} should be accepted");
        }
        assert_eq!(Slug::parse(""), Err(ValidationError::SlugEmpty));
        assert_eq!(
            Slug::parse("Acme"),
            Err(ValidationError::SlugInvalidCharacter { character: 'A' })
        );
        assert_eq!(
            Slug::parse("acme corp"),
            Err(ValidationError::SlugInvalidCharacter { character: ' ' })
        );
        assert_eq!(
            Slug::parse("acme_corp"),
            Err(ValidationError::SlugInvalidCharacter { character: '_' })
        );
        assert_eq!(
            Slug::parse(" acme"),
            Err(ValidationError::SlugInvalidCharacter { character: ' ' })
        );
        assert_eq!(
            Slug::parse("ä"),
            Err(ValidationError::SlugInvalidCharacter { character: 'ä' })
        );
        assert_eq!(
            Slug::parse(&"x".repeat(51)),
            Err(ValidationError::SlugTooLong {
                max: 50,
                actual: 51
            })
        );
    }

    #[test]
    fn email_is_checked_and_lowercased() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "a nn@example.com",
            "ann@example..com",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(ValidationError::EmailInvalid),
                "{bad:?}"
            );
        }
    }
}

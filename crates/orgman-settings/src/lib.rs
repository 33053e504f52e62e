//! Settings from the environment, read the same way by every adapter and by
//! the service: values are trimmed and an empty value counts as unset;
//! every failure is a [`SettingsError`] naming the variable at fault.
//!
//! ```
//! use orgman_settings::Env;
//!
//! let env = Env::new(|name| (name == "PORT").then(|| " 8080 ".to_owned()));
//! assert_eq!(env.number("PORT", 80_u16).unwrap(), 8080);
//! assert_eq!(env.number("OTHER_PORT", 80_u16).unwrap(), 80);
//! assert!(!env.flag("VERBOSE", false).unwrap());
//! ```

mod transport;

pub use transport::{Protection, Transport, host_of, is_loopback_host, redact_url};

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

/// A setting is missing or unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct SettingsError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl SettingsError {
    /// An error about `name`.
    pub fn new(name: &'static str, reason: impl Into<String>) -> Self {
        Self {
            name,
            reason: reason.into(),
        }
    }
}

/// Variables, through a lookup function (`std::env::var`, or a map in
/// tests).
pub struct Env<F> {
    get: F,
}

impl<F> std::fmt::Debug for Env<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Variables looked up through `get`.
    pub fn new(get: F) -> Self {
        Self { get }
    }

    /// The value, trimmed; `None` when unset or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value exactly as set (for secrets, whose spaces count); `None`
    /// when unset or empty.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|value| !value.is_empty())
    }

    /// The value, or `default` when unset or blank.
    pub fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or_else(|| default.to_owned())
    }

    /// The value, which must be set.
    ///
    /// # Errors
    /// When it is unset or blank.
    pub fn required(&self, name: &'static str) -> Result<String, SettingsError> {
        self.text(name)
            .ok_or_else(|| SettingsError::new(name, "must be set"))
    }

    /// A number (or anything else parsed with [`FromStr`]), `default` when
    /// unset.
    ///
    /// # Errors
    /// When the value does not parse.
    pub fn number<T>(&self, name: &'static str, default: T) -> Result<T, SettingsError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.text(name) {
            None => Ok(default),
            Some(value) => value
                .parse()
                .map_err(|error| SettingsError::new(name, format!("{value:?}: {error}"))),
        }
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, any case), `default` when
    /// unset.
    ///
    /// # Errors
    /// For any other value.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, SettingsError> {
        match self.text(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(SettingsError::new(
                name,
                format!("{other:?} is not true or false"),
            )),
        }
    }

    /// A whole number of seconds, `default` when unset.
    ///
    /// # Errors
    /// When the value is not a whole number.
    pub fn seconds(&self, name: &'static str, default: u64) -> Result<Duration, SettingsError> {
        self.number(name, default).map(Duration::from_secs)
    }
}

/// A lookup over fixed `(name, value)` pairs, for `from_env` readers given
/// settings in code (tests, embedders) instead of the process environment.
pub fn lookup<K: AsRef<str>, V: AsRef<str>>(
    pairs: &[(K, V)],
) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        pairs
            .iter()
            .find(|(key, _)| key.as_ref() == name)
            .map(|(_, value)| value.as_ref().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::new(lookup(pairs))
    }

    #[test]
    fn blank_values_count_as_unset_and_values_are_trimmed() {
        let env = env(&[("BLANK", "  "), ("NAME", " orgman ")]);
        assert_eq!(env.text("BLANK"), None);
        assert_eq!(env.text_or("BLANK", "x"), "x");
        assert_eq!(env.text("NAME").as_deref(), Some("orgman"));
        assert_eq!(env.raw("NAME").as_deref(), Some(" orgman "));
        assert_eq!(env.raw("UNSET"), None);
        assert_eq!(
            env.required("BLANK"),
            Err(SettingsError::new("BLANK", "must be set"))
        );
    }

    #[test]
    fn numbers_flags_and_seconds_name_the_variable_when_wrong() {
        let env = env(&[
            ("N", "12"),
            ("BAD", "twelve"),
            ("ON", "Yes"),
            ("MAYBE", "maybe"),
        ]);
        assert_eq!(env.number("N", 0_u32).unwrap(), 12);
        assert_eq!(env.number("UNSET", 7_u32).unwrap(), 7);
        let error = env.number("BAD", 0_u32).unwrap_err();
        assert_eq!(error.name, "BAD");
        assert!(error.to_string().starts_with("BAD: \"twelve\""), "{error}");
        assert!(env.flag("ON", false).unwrap());
        assert!(env.flag("UNSET", true).unwrap());
        assert_eq!(env.flag("MAYBE", false).unwrap_err().name, "MAYBE");
        assert_eq!(env.seconds("N", 1).unwrap(), Duration::from_secs(12));
        assert!(env.number("N", 0_u8).is_ok());
        assert!(env.number("N", 0_i8).map(|n| n == 12).unwrap());
    }
}

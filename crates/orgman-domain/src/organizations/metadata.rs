//! Free-form data organizations carry for the platform's other services:
//! `metadata` (every member reads it) and `privateMetadata` (OWNERs, ADMINs
//! and platform administrators only). Both are JSON objects, changed with
//! JSON merge patches (RFC 7396).

use std::fmt;

use serde_json::{Map, Value};

use crate::errors::port::ValidationError;

/// Which of an organization's two metadata objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataKind {
    /// `metadata`, readable by every member.
    Public,
    /// `privateMetadata`, readable by those who manage the organization.
    Private,
}

impl MetadataKind {
    /// The field's name in the API and in events.
    pub const fn field(self) -> &'static str {
        match self {
            Self::Public => "metadata",
            Self::Private => "privateMetadata",
        }
    }
}

/// A JSON object of at most [`Metadata::MAX_BYTES`] bytes (as compact
/// JSON text).
#[derive(Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// The largest metadata object, in bytes of compact JSON text.
    pub const MAX_BYTES: usize = 8 * 1024;

    /// An empty object.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Checks the rules for the `kind` of metadata `value` would become.
    ///
    /// # Errors
    /// [`ValidationError::MetadataInvalid`] for anything but an object, or
    /// an object larger than [`Metadata::MAX_BYTES`] or holding U+0000.
    pub fn parse(kind: MetadataKind, value: Value) -> Result<Self, ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError::MetadataInvalid {
                field: kind.field(),
                reason: "must be a JSON object",
            });
        };
        let metadata = Self(map);
        if holds_nul(&metadata.0) {
            return Err(ValidationError::MetadataInvalid {
                field: kind.field(),
                reason: "must not hold the character U+0000",
            });
        }
        if metadata.to_text().len() > Self::MAX_BYTES {
            return Err(ValidationError::MetadataInvalid {
                field: kind.field(),
                reason: "must be at most 8192 bytes of JSON",
            });
        }
        Ok(metadata)
    }

    /// Rebuilds stored metadata from its JSON text.
    ///
    /// # Errors
    /// As [`Metadata::parse`], and for text that is not JSON.
    pub fn from_text(kind: MetadataKind, text: &str) -> Result<Self, ValidationError> {
        let value = serde_json::from_str(text).map_err(|_| ValidationError::MetadataInvalid {
            field: kind.field(),
            reason: "must be JSON",
        })?;
        Self::parse(kind, value)
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The object as compact JSON text.
    pub fn to_text(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }

    /// Whether the object has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The metadata after a JSON merge patch (RFC 7396): members of an
    /// object patch are merged recursively, `null` removes a member, any
    /// other value replaces it; a `null` patch empties the object.
    ///
    /// # Errors
    /// As [`Metadata::parse`] for the result (a patch that is neither an
    /// object nor `null` would replace the object with a non-object).
    pub fn merged(&self, kind: MetadataKind, patch: &Value) -> Result<Self, ValidationError> {
        let mut target = self.to_value();
        merge_patch(&mut target, patch);
        if target.is_null() {
            return Ok(Self::empty());
        }
        Self::parse(kind, target)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Metadata({})", self.to_text())
    }
}

/// RFC 7396, section 2.
/// Whether a key or string anywhere in `map` holds U+0000, which JSON
/// allows and PostgreSQL's `jsonb` (and most stores) refuse.
fn holds_nul(map: &Map<String, Value>) -> bool {
    fn value_holds_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::Array(items) => items.iter().any(value_holds_nul),
            Value::Object(map) => holds_nul(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => false,
        }
    }
    map.iter()
        .any(|(key, value)| key.contains('\0') || value_holds_nul(value))
}

fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(object) = target else {
        return;
    };
    for (name, value) in members {
        if value.is_null() {
            object.remove(name);
        } else {
            merge_patch(object.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn public(value: Value) -> Metadata {
        Metadata::parse(MetadataKind::Public, value).unwrap()
    }

    #[test]
    fn merge_patches_follow_rfc_7396() {
        // The examples of RFC 7396, appendix A, whose targets are objects.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, expected) in cases {
            let merged = public(target.clone())
                .merged(MetadataKind::Public, &patch)
                .unwrap();
            assert_eq!(merged.to_value(), expected, "{target} + {patch}");
        }
        assert!(
            public(json!({"a": 1}))
                .merged(MetadataKind::Public, &Value::Null)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn only_objects_within_the_size_limit_are_metadata() {
        for value in [json!([1]), json!("text"), json!(1), Value::Null] {
            assert_eq!(
                Metadata::parse(MetadataKind::Private, value),
                Err(ValidationError::MetadataInvalid {
                    field: "privateMetadata",
                    reason: "must be a JSON object",
                })
            );
        }
        assert!(
            public(json!({}))
                .merged(MetadataKind::Public, &json!(["not", "an", "object"]))
                .is_err()
        );
        // U+0000, in a key or a value at any depth, is refused; the text
        // `\u0000` is not that character.
        for value in [
            json!({"a\u{0}": 1}),
            json!({"a": "x\u{0}"}),
            json!({"a": [{"b": ["\u{0}"]}]}),
        ] {
            assert_eq!(
                Metadata::parse(MetadataKind::Public, value),
                Err(ValidationError::MetadataInvalid {
                    field: "metadata",
                    reason: "must not hold the character U+0000",
                })
            );
        }
        assert!(Metadata::parse(MetadataKind::Public, json!({"a": "\\u0000"})).is_ok());
        // {"k":"…"} is 8 bytes of framing.
        let fits = json!({ "k": "x".repeat(Metadata::MAX_BYTES - 8) });
        assert!(Metadata::parse(MetadataKind::Public, fits.clone()).is_ok());
        let over = json!({ "k": "x".repeat(Metadata::MAX_BYTES - 7) });
        assert!(Metadata::parse(MetadataKind::Public, over).is_err());
        let grown = public(fits).merged(MetadataKind::Public, &json!({"more": 1}));
        assert!(grown.is_err());
        assert!(Metadata::from_text(MetadataKind::Public, "{not json").is_err());
        assert_eq!(
            Metadata::from_text(MetadataKind::Public, r#"{"a":1}"#).unwrap(),
            public(json!({"a": 1}))
        );
    }
}

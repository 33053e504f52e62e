//! SCIM error responses (RFC 7644 §3.12).

use std::fmt;

use serde_json::{Value, json};

/// The `scimType` of a 400 or 409 error: what kind of request fault it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScimType {
    /// The filter cannot be parsed or is not supported.
    InvalidFilter,
    /// The request's syntax is invalid (not JSON, or a missing schema).
    InvalidSyntax,
    /// A PATCH path cannot be parsed or names no attribute.
    InvalidPath,
    /// A PATCH path or filter matched nothing the operation needs.
    NoTarget,
    /// A value is of the wrong type, or a required one is missing.
    InvalidValue,
    /// A value must be unique and is not (409).
    Uniqueness,
    /// The request would change a read-only or immutable attribute.
    Mutability,
    /// The request's version is not the resource's (412 handles If-Match;
    /// this is the body's form).
    InvalidVers,
    /// The request is larger or asks more than the service provides.
    TooMany,
}

impl ScimType {
    /// The wire form.
    pub const fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidVers => "invalidVers",
            ScimType::TooMany => "tooMany",
        }
    }
}

/// A SCIM error: its HTTP status, its `scimType` when it has one, and a
/// human-readable detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScimError {
    /// HTTP status.
    pub status: u16,
    /// The fault's kind, for 400 and 409.
    pub scim_type: Option<ScimType>,
    /// What went wrong, for a person.
    pub detail: String,
}

impl ScimError {
    /// A 400 of the given kind.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// An error of a status with no `scimType`.
    pub fn status(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }

    /// The error's body (`urn:ietf:params:scim:api:messages:2.0:Error`).
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [crate::ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let Some(scim_type) = self.scim_type {
            body["scimType"] = Value::from(scim_type.as_str());
        }
        body
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.scim_type {
            Some(kind) => write!(f, "{} {}: {}", self.status, kind.as_str(), self.detail),
            None => write!(f, "{}: {}", self.status, self.detail),
        }
    }
}

impl std::error::Error for ScimError {}

/// A 400 `invalidValue`.
pub(crate) fn invalid_value(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

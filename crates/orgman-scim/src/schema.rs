//! The resource schemas orgman serves, as `/Schemas` publishes them: only
//! the attributes it stores and gives back. A client's other attributes
//! (the enterprise extension, `title`, `phoneNumbers`, ...) are accepted
//! and ignored, so that what `/Schemas` says is what a read returns.

use serde_json::{Map, Value, json};

/// An attribute's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `string`
    String,
    /// `boolean`
    Boolean,
    /// `complex`
    Complex,
    /// `reference`
    Reference,
}

impl Kind {
    const fn as_str(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Boolean => "boolean",
            Kind::Complex => "complex",
            Kind::Reference => "reference",
        }
    }
}

/// An attribute of a schema.
#[derive(Clone, Copy, Debug)]
pub struct Attribute {
    /// Its name, as written in responses.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
    /// Whether it holds a list.
    pub multi_valued: bool,
    /// Whether a resource must have it.
    pub required: bool,
    /// Whether case matters when comparing values.
    pub case_exact: bool,
    /// `readWrite`, `immutable` or `readOnly`.
    pub mutability: &'static str,
    /// `none` or `server` (unique within the organization).
    pub uniqueness: &'static str,
    /// What a reference may point at.
    pub reference_types: &'static [&'static str],
    /// Sub-attributes of a complex attribute.
    pub sub_attributes: &'static [Attribute],
    /// What it is.
    pub description: &'static str,
}

impl Attribute {
    const fn string(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            kind: Kind::String,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: "readWrite",
            uniqueness: "none",
            reference_types: &[],
            sub_attributes: &[],
            description,
        }
    }

    /// The sub-attribute `name`, case-insensitively.
    pub fn sub(&self, name: &str) -> Option<&'static Attribute> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn to_json(self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.kind.as_str(),
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": "default",
            "uniqueness": self.uniqueness,
        });
        if !self.reference_types.is_empty() {
            out["referenceTypes"] = json!(self.reference_types);
        }
        if !self.sub_attributes.is_empty() {
            out["subAttributes"] =
                Value::Array(self.sub_attributes.iter().map(|a| a.to_json()).collect());
        }
        out
    }
}

/// A resource type and its schema.
#[derive(Debug)]
pub struct ResourceSchema {
    /// The schema's URN.
    pub id: &'static str,
    /// The resource type's name (`User`, `Group`).
    pub name: &'static str,
    /// Its endpoint, relative to the base URL (`/Users`).
    pub endpoint: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Its attributes, besides the common `id`, `externalId` and `meta`.
    pub attributes: &'static [Attribute],
}

impl ResourceSchema {
    /// The attribute `name` (or `externalId`), case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&'static Attribute> {
        if name.eq_ignore_ascii_case(EXTERNAL_ID.name) {
            return Some(&EXTERNAL_ID);
        }
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The schema as `/Schemas/{id}` answers it.
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(|a| a.to_json()).collect::<Vec<_>>(),
            "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{}", self.id)},
        })
    }

    /// The resource type as `/ResourceTypes/{name}` answers it.
    pub fn resource_type_json(&self, base: &str) -> Value {
        json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.id,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", self.name)},
        })
    }
}

/// `externalId`: the directory's own id for a resource, kept as written.
pub const EXTERNAL_ID: Attribute = Attribute {
    case_exact: true,
    ..Attribute::string(
        "externalId",
        "The directory's own identifier of the resource.",
    )
};

const EMAIL_SUBS: &[Attribute] = &[
    Attribute::string("value", "The address."),
    Attribute::string("type", "Its kind: work, home or other."),
    Attribute {
        kind: Kind::Boolean,
        ..Attribute::string("primary", "Whether it is the person's main address.")
    },
];

const NAME_SUBS: &[Attribute] = &[
    Attribute::string("formatted", "The full name, as it is displayed."),
    Attribute::string("familyName", "The family name."),
    Attribute::string("givenName", "The given name."),
];

/// The core User schema, as orgman keeps it.
pub const USER: ResourceSchema = ResourceSchema {
    id: "urn:ietf:params:scim:schemas:core:2.0:User",
    name: "User",
    endpoint: "/Users",
    description: "A person in the organization: an orgman user and a member.",
    attributes: &[
        Attribute {
            required: true,
            uniqueness: "server",
            ..Attribute::string(
                "userName",
                "The person's login name in the directory, usually the work address.",
            )
        },
        Attribute {
            kind: Kind::Complex,
            sub_attributes: NAME_SUBS,
            ..Attribute::string("name", "The person's name.")
        },
        Attribute::string("displayName", "The name shown for the person."),
        Attribute {
            kind: Kind::Complex,
            multi_valued: true,
            sub_attributes: EMAIL_SUBS,
            ..Attribute::string("emails", "The person's e-mail addresses.")
        },
        Attribute {
            kind: Kind::Boolean,
            ..Attribute::string(
                "active",
                "Whether the person is a member now (false suspends the membership).",
            )
        },
    ],
};

const MEMBER_SUBS: &[Attribute] = &[
    Attribute {
        mutability: "immutable",
        ..Attribute::string("value", "The member's User id.")
    },
    Attribute {
        kind: Kind::Reference,
        mutability: "immutable",
        reference_types: &["User"],
        ..Attribute::string("$ref", "The member's User resource.")
    },
];

/// The core Group schema, as orgman keeps it.
pub const GROUP: ResourceSchema = ResourceSchema {
    id: "urn:ietf:params:scim:schemas:core:2.0:Group",
    name: "Group",
    endpoint: "/Groups",
    description: "A group of the directory; it gives a role only through the organization's mapping.",
    attributes: &[
        Attribute {
            required: true,
            uniqueness: "server",
            ..Attribute::string("displayName", "The group's name.")
        },
        Attribute {
            kind: Kind::Complex,
            multi_valued: true,
            sub_attributes: MEMBER_SUBS,
            ..Attribute::string("members", "The group's members (Users only).")
        },
    ],
};

/// Most resources a list answers in one page.
pub const MAX_RESULTS: u64 = 200;

/// `/ServiceProviderConfig`: what orgman supports, truthfully.
pub fn service_provider_config(base: &str, documentation: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": documentation,
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Organization API key",
            "description": "An organization API key holding scim:provision, sent as a Bearer token.",
            "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
            "documentationUri": documentation,
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

/// Every schema served.
pub const ALL: [&ResourceSchema; 2] = [&USER, &GROUP];

/// A list response (`urn:ietf:params:scim:api:messages:2.0:ListResponse`).
pub fn list_response(resources: Vec<Value>, total: u64, start_index: u64) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([crate::LIST_SCHEMA]));
    out.insert("totalResults".into(), total.into());
    out.insert("startIndex".into(), start_index.into());
    out.insert("itemsPerPage".into(), resources.len().into());
    out.insert("Resources".into(), Value::Array(resources));
    Value::Object(out)
}

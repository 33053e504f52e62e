//! Resource documents: what a client sent, reduced to the attributes a
//! schema publishes, with names in their canonical case and values of
//! their declared type (a directory's `"False"` is a boolean here); and
//! the projection of a response by `attributes` and `excludedAttributes`.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimType, invalid_value};
use crate::filter::AttrPath;
use crate::schema::{Attribute, Kind, ResourceSchema};

/// A resource's attributes, keyed by canonical name.
pub type Document = Map<String, Value>;

/// Attributes a client may send that the server sets: ignored on input.
const SERVER_SET: [&str; 3] = ["schemas", "id", "meta"];

/// The document `input` describes under `schema`: unknown attributes and
/// extension schemas are dropped, `null` and empty values unassign.
///
/// # Errors
/// A 400 `invalidSyntax` when `input` is not an object, `invalidValue` for
/// a value of the wrong type.
pub fn normalize(input: &Value, schema: &ResourceSchema) -> Result<Document, ScimError> {
    let object = input.as_object().ok_or_else(|| {
        ScimError::bad_request(ScimType::InvalidSyntax, "a resource is a JSON object")
    })?;
    let mut out = Document::new();
    for (key, value) in object {
        if SERVER_SET.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            continue;
        }
        if key.len() > 4 && key[..4].eq_ignore_ascii_case("urn:") {
            // The core schema's attributes may come wrapped in its URN; an
            // extension's are not kept.
            if key.eq_ignore_ascii_case(schema.id) && value.is_object() {
                out.extend(normalize(value, schema)?);
            }
            continue;
        }
        let Some(attribute) = schema.attribute(key) else {
            continue;
        };
        if let Some(value) = coerce(attribute, value)? {
            out.insert(attribute.name.to_owned(), value);
        }
    }
    Ok(out)
}

/// `value` as `attribute` holds it, `None` when it unassigns.
pub(crate) fn coerce(attribute: &Attribute, value: &Value) -> Result<Option<Value>, ScimError> {
    if !attribute.multi_valued {
        return coerce_one(attribute, value);
    }
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        single => vec![single],
    };
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        if let Some(item) = coerce_one(attribute, item)? {
            if !list.contains(&item) {
                list.push(item);
            }
        }
    }
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

/// One value of `attribute` (an element, for a multi-valued one).
pub(crate) fn coerce_one(attribute: &Attribute, value: &Value) -> Result<Option<Value>, ScimError> {
    let wrong = || {
        invalid_value(format!(
            "`{}` takes a {} value",
            attribute.name,
            match attribute.kind {
                Kind::Boolean => "boolean",
                Kind::Complex => "complex",
                Kind::String | Kind::Reference => "string",
            }
        ))
    };
    match (attribute.kind, value) {
        (_, Value::Null) => Ok(None),
        (Kind::String | Kind::Reference, Value::String(text)) => {
            Ok((!text.is_empty()).then(|| Value::String(text.clone())))
        }
        (Kind::Boolean, Value::Bool(b)) => Ok(Some(Value::Bool(*b))),
        // Directories send booleans as "True" and "False".
        (Kind::Boolean, Value::String(text)) => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(Value::Bool(true))),
            "false" => Ok(Some(Value::Bool(false))),
            _ => Err(wrong()),
        },
        (Kind::Complex, Value::Object(fields)) => {
            let mut out = Map::new();
            for (key, value) in fields {
                let Some(sub) = attribute.sub(key) else {
                    continue;
                };
                if let Some(value) = coerce_one(sub, value)? {
                    out.insert(sub.name.to_owned(), value);
                }
            }
            Ok((!out.is_empty()).then_some(Value::Object(out)))
        }
        // A multi-valued attribute's element given as its bare value.
        (Kind::Complex, Value::String(_)) if attribute.sub("value").is_some() => {
            let mut out = Map::new();
            out.insert("value".into(), value.clone());
            Ok(Some(Value::Object(out)))
        }
        _ => Err(wrong()),
    }
}

/// Checks that `document` holds every required attribute.
///
/// # Errors
/// A 400 `invalidValue` naming the first one missing.
pub fn check_required(document: &Document, schema: &ResourceSchema) -> Result<(), ScimError> {
    match schema
        .attributes
        .iter()
        .find(|a| a.required && !document.contains_key(a.name))
    {
        Some(missing) => Err(invalid_value(format!("`{}` is required", missing.name))),
        None => Ok(()),
    }
}

/// A string attribute of the document.
pub fn text<'a>(document: &'a Document, name: &str) -> Option<&'a str> {
    document.get(name).and_then(Value::as_str)
}

/// Reduces a rendered resource to what `attributes` asks for, or removes
/// what `excludedAttributes` names (comma-separated paths). `id` and
/// `schemas` are always returned.
pub fn project(resource: &mut Value, attributes: Option<&str>, excluded: Option<&str>) {
    let Some(object) = resource.as_object_mut() else {
        return;
    };
    let paths = |list: &str| -> Vec<AttrPath> {
        list.split(',')
            .filter_map(|p| AttrPath::parse(p.trim()).ok())
            .collect()
    };
    if let Some(wanted) = attributes.filter(|a| !a.trim().is_empty()) {
        let wanted = paths(wanted);
        object.retain(|key, value| {
            if key == "id" || key == "schemas" {
                return true;
            }
            let subs: Vec<&AttrPath> = wanted
                .iter()
                .filter(|p| p.attr.eq_ignore_ascii_case(key))
                .collect();
            if subs.is_empty() {
                return false;
            }
            if subs.iter().all(|p| p.sub.is_some()) {
                keep_subs(value, &subs);
            }
            true
        });
    }
    if let Some(unwanted) = excluded {
        for path in paths(unwanted) {
            let Some(key) = object
                .keys()
                .find(|k| k.eq_ignore_ascii_case(&path.attr))
                .cloned()
            else {
                continue;
            };
            if key == "id" || key == "schemas" {
                continue;
            }
            match &path.sub {
                None => {
                    object.remove(&key);
                }
                Some(sub) => drop_sub(object.get_mut(&key), sub),
            }
        }
    }
}

fn keep_subs(value: &mut Value, paths: &[&AttrPath]) {
    let keep = |object: &mut Map<String, Value>| {
        object.retain(|k, _| {
            paths
                .iter()
                .any(|p| p.sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(k)))
        });
    };
    match value {
        Value::Object(object) => keep(object),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(keep),
        _ => {}
    }
}

fn drop_sub(value: Option<&mut Value>, sub: &str) {
    let drop = |object: &mut Map<String, Value>| object.retain(|k, _| !k.eq_ignore_ascii_case(sub));
    match value {
        Some(Value::Object(object)) => drop(object),
        Some(Value::Array(items)) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(drop),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::schema::{GROUP, USER};

    #[test]
    fn keeps_published_attributes_in_their_case_and_type() {
        let doc = normalize(
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "id": "client-chosen", "USERNAME": "ada@corp.example", "Active": "False",
                "name": {"GivenName": "Ada", "honorificPrefix": "Dr"},
                "emails": [{"value": "ada@corp.example", "type": "work", "primary": "true"}],
                "title": "Engineer", "externalid": "00u1",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"},
            }),
            &USER,
        )
        .unwrap();
        assert_eq!(
            Value::Object(doc),
            json!({"userName": "ada@corp.example", "active": false,
                "name": {"givenName": "Ada"},
                "emails": [{"value": "ada@corp.example", "type": "work", "primary": true}],
                "externalId": "00u1"})
        );
    }

    #[test]
    fn refuses_values_of_the_wrong_type() {
        for bad in [
            json!({"active": "maybe"}),
            json!({"userName": 3}),
            json!({"name": "Ada"}),
        ] {
            let error = normalize(&bad, &USER).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidValue), "{bad}");
        }
        assert!(normalize(&json!([1]), &USER).is_err());
    }

    #[test]
    fn members_drop_what_is_not_published() {
        let doc = normalize(
            &json!({"displayName": "Eng", "members": [{"value": "u1", "display": "Ada"}, "u2", {"value": "u1"}]}),
            &GROUP,
        )
        .unwrap();
        assert_eq!(doc["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        assert!(check_required(&doc, &GROUP).is_ok());
        assert!(check_required(&Document::new(), &GROUP).is_err());
    }

    #[test]
    fn projects_by_attributes_or_exclusions() {
        let user = json!({"id": "1", "schemas": [], "userName": "a", "displayName": "A",
            "name": {"givenName": "G", "familyName": "F"}});
        let mut only = user.clone();
        project(&mut only, Some("displayName,name.givenName"), None);
        assert_eq!(
            only,
            json!({"id": "1", "schemas": [], "displayName": "A", "name": {"givenName": "G"}})
        );
        let mut without = user;
        project(&mut without, None, Some("USERNAME,name.familyName,id"));
        assert_eq!(
            without,
            json!({"id": "1", "schemas": [], "displayName": "A", "name": {"givenName": "G"}})
        );
    }
}

//! PATCH (RFC 7644 §3.5.2) over a resource document, in the dialects
//! directories send: `op` in any case, operations without `path` carrying
//! a map of attributes (dotted and URN-prefixed keys among them), value
//! filters in paths, `members` removed by a `value` array, and booleans as
//! strings.

use serde_json::{Map, Value};

use crate::document::{Document, coerce, coerce_one};
use crate::error::{ScimError, ScimType, invalid_value};
use crate::filter::{CompareOp, Filter, PatchPath, get_ci};
use crate::schema::{Attribute, Kind, ResourceSchema};

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Applies a PATCH request's operations to `document`, all or nothing
/// (the caller keeps the original until this succeeds).
///
/// # Errors
/// A 400 with `invalidSyntax` (no `Operations`, an unknown `op`),
/// `invalidPath`, `noTarget` (a `remove` without a path, a `replace` whose
/// filter matches nothing) or `invalidValue`.
pub fn apply(
    document: &mut Document,
    request: &Value,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let syntax = |detail: &str| ScimError::bad_request(ScimType::InvalidSyntax, detail);
    let operations = get_ci(request, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| syntax("a PATCH request carries `Operations`"))?;
    if operations.len() > MAX_OPERATIONS {
        return Err(ScimError::bad_request(
            ScimType::TooMany,
            format!("at most {MAX_OPERATIONS} operations per request"),
        ));
    }
    for operation in operations {
        let op = match get_ci(operation, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("add") => Op::Add,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            _ => return Err(syntax("`op` is add, replace or remove")),
        };
        let path = match get_ci(operation, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if p.trim().is_empty() => None,
            Some(Value::String(p)) => Some(PatchPath::parse(p)?),
            Some(_) => {
                return Err(ScimError::bad_request(
                    ScimType::InvalidPath,
                    "`path` is a string",
                ));
            }
        };
        let value = get_ci(operation, "value");
        match path {
            Some(path) => apply_path(document, schema, op, &path, value)?,
            None => apply_map(document, schema, op, value)?,
        }
    }
    Ok(())
}

/// An operation without `path`: its value maps attributes (or paths) to
/// values.
fn apply_map(
    document: &mut Document,
    schema: &ResourceSchema,
    op: Op,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        return Err(ScimError::bad_request(
            ScimType::NoTarget,
            "`remove` needs a `path`",
        ));
    }
    let Some(Value::Object(fields)) = value else {
        return Err(invalid_value("an operation without `path` takes an object"));
    };
    for (key, value) in fields {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            continue;
        }
        if key.eq_ignore_ascii_case(schema.id) {
            apply_map(document, schema, op, Some(value))?;
            continue;
        }
        let path = PatchPath::parse(key)?;
        apply_path(document, schema, op, &path, Some(value))?;
    }
    Ok(())
}

fn apply_path(
    document: &mut Document,
    schema: &ResourceSchema,
    op: Op,
    path: &PatchPath,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    if path
        .attr
        .schema
        .as_deref()
        .is_some_and(|s| !s.eq_ignore_ascii_case(schema.id))
    {
        // An extension's attribute: not kept.
        return Ok(());
    }
    let Some(attribute) = schema.attribute(&path.attr.attr) else {
        // Unknown attributes are ignored, as on create.
        return Ok(());
    };
    let value = value.unwrap_or(&Value::Null);
    if op != Op::Remove && value.is_null() && path.filter.is_none() {
        document.remove(attribute.name);
        return Ok(());
    }
    match (
        &path.filter,
        path.attr.sub.as_deref().or(path.sub.as_deref()),
    ) {
        (None, None) => whole(document, attribute, op, value),
        (None, Some(sub)) => sub_attribute(document, attribute, op, sub, value),
        (Some(filter), sub) => filtered(document, attribute, op, filter, sub, value),
    }
}

/// `attr`: the whole attribute.
fn whole(
    document: &mut Document,
    attribute: &Attribute,
    op: Op,
    value: &Value,
) -> Result<(), ScimError> {
    let name = attribute.name;
    if op == Op::Remove {
        // `members` removed by a list of values (Okta, Entra ID).
        if attribute.multi_valued && value.is_array() {
            let gone = coerce(attribute, value)?.unwrap_or(Value::Array(Vec::new()));
            let gone: Vec<&Value> = gone.as_array().into_iter().flatten().collect();
            if let Some(Value::Array(items)) = document.get_mut(name) {
                items.retain(|item| !gone.iter().any(|g| same_element(g, item)));
            }
            tidy(document, name);
        } else {
            document.remove(name);
        }
        return Ok(());
    }
    let Some(value) = coerce(attribute, value)? else {
        document.remove(name);
        return Ok(());
    };
    match (op, document.get_mut(name)) {
        (Op::Add, Some(Value::Array(items))) if attribute.multi_valued => {
            let added = value.as_array().cloned().unwrap_or_default();
            if added.iter().any(is_primary) {
                items.iter_mut().for_each(clear_primary);
            }
            for item in added {
                match items.iter_mut().find(|i| same_element(i, &item)) {
                    Some(existing) => *existing = item,
                    None => items.push(item),
                }
            }
        }
        (Op::Add, Some(Value::Object(existing))) if attribute.kind == Kind::Complex => {
            if let Value::Object(fields) = value {
                existing.extend(fields);
            }
        }
        _ => {
            document.insert(name.to_owned(), value);
        }
    }
    Ok(())
}

/// `attr.sub` without a filter: the sub-attribute of a complex attribute,
/// or of every value of a multi-valued one.
fn sub_attribute(
    document: &mut Document,
    attribute: &Attribute,
    op: Op,
    sub: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let sub_def = attribute.sub(sub).ok_or_else(|| {
        ScimError::bad_request(
            ScimType::InvalidPath,
            format!("`{}` has no `{sub}`", attribute.name),
        )
    })?;
    let new = if op == Op::Remove {
        None
    } else {
        coerce_one(sub_def, value)?
    };
    let name = attribute.name;
    if attribute.multi_valued {
        if let Some(Value::Array(items)) = document.get_mut(name) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                set(item, sub_def.name, new.clone());
            }
        }
    } else {
        let entry = document
            .entry(name.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(object) = entry {
            set(object, sub_def.name, new);
        }
    }
    tidy(document, name);
    Ok(())
}

/// `attr[filter]` or `attr[filter].sub`: the values the filter matches.
fn filtered(
    document: &mut Document,
    attribute: &Attribute,
    op: Op,
    filter: &Filter,
    sub: Option<&str>,
    value: &Value,
) -> Result<(), ScimError> {
    let name = attribute.name;
    if !attribute.multi_valued {
        return Err(ScimError::bad_request(
            ScimType::InvalidPath,
            format!("`{name}` is not multi-valued"),
        ));
    }
    let sub_def = sub
        .map(|sub| {
            attribute.sub(sub).ok_or_else(|| {
                ScimError::bad_request(ScimType::InvalidPath, format!("`{name}` has no `{sub}`"))
            })
        })
        .transpose()?;
    let mut items = match document.remove(name) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    };
    let result = match sub_def {
        Some(sub_def) => filtered_sub(&mut items, attribute, op, filter, sub_def, value),
        None => filtered_values(&mut items, attribute, op, filter, value),
    };
    document.insert(name.to_owned(), Value::Array(items));
    tidy(document, name);
    result
}

/// The values `filter` matches, as objects to change in place.
fn matching<'a>(
    items: &'a mut [Value],
    filter: &'a Filter,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    items
        .iter_mut()
        .filter(|item| filter.matches(item))
        .filter_map(Value::as_object_mut)
}

/// `attr[filter].sub`: the sub-attribute of the values matched; where
/// none matches, the value the filter describes is added
/// (`emails[type eq "work"].value` where there is no work address yet).
fn filtered_sub(
    items: &mut Vec<Value>,
    attribute: &Attribute,
    op: Op,
    filter: &Filter,
    sub_def: &Attribute,
    value: &Value,
) -> Result<(), ScimError> {
    let new = if op == Op::Remove {
        None
    } else {
        coerce_one(sub_def, value)?
    };
    if op != Op::Remove && !items.iter().any(|item| filter.matches(item)) {
        let mut element = described_by(filter, attribute);
        set(&mut element, sub_def.name, new);
        items.push(Value::Object(element));
        return Ok(());
    }
    for object in matching(items, filter) {
        set(object, sub_def.name, new.clone());
    }
    Ok(())
}

/// `attr[filter]`: the values matched, removed, replaced or added to.
fn filtered_values(
    items: &mut Vec<Value>,
    attribute: &Attribute,
    op: Op,
    filter: &Filter,
    value: &Value,
) -> Result<(), ScimError> {
    if op == Op::Remove {
        items.retain(|item| !filter.matches(item));
        return Ok(());
    }
    let name = attribute.name;
    let Some(Value::Object(fields)) = coerce_one(attribute, value)? else {
        return Err(invalid_value(format!("`{name}[...]` takes an object")));
    };
    if !items.iter().any(|item| filter.matches(item)) {
        if op == Op::Replace {
            return Err(ScimError::bad_request(
                ScimType::NoTarget,
                format!("no value of `{name}` matches"),
            ));
        }
        let mut element = described_by(filter, attribute);
        element.extend(fields);
        items.push(Value::Object(element));
        return Ok(());
    }
    for object in matching(items, filter) {
        if op == Op::Replace {
            object.clear();
        }
        object.extend(fields.clone());
    }
    Ok(())
}

/// The value an `eq` filter describes (`type eq "work"` → `{"type": "work"}`).
fn described_by(filter: &Filter, attribute: &Attribute) -> Map<String, Value> {
    let mut out = Map::new();
    let mut stack = vec![filter];
    while let Some(filter) = stack.pop() {
        match filter {
            Filter::And(a, b) => stack.extend([&**a, &**b]),
            Filter::Compare(path, CompareOp::Eq, value) if path.sub.is_none() => {
                if let Some((name, value)) = described_value(attribute, &path.attr, value) {
                    out.insert(name, value);
                }
            }
            _ => {}
        }
    }
    out
}

fn described_value(attribute: &Attribute, name: &str, value: &Value) -> Option<(String, Value)> {
    let sub = attribute.sub(name)?;
    let value = coerce_one(sub, value).ok().flatten()?;
    Some((sub.name.to_owned(), value))
}

fn set(object: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    match value {
        Some(value) => {
            object.insert(key.to_owned(), value);
        }
        None => {
            object.remove(key);
        }
    }
}

/// Drops an attribute left empty, and empty values of a multi-valued one.
fn tidy(document: &mut Document, name: &str) {
    let empty = match document.get_mut(name) {
        Some(Value::Array(items)) => {
            items.retain(|item| !matches!(item, Value::Object(o) if o.is_empty()));
            items.is_empty()
        }
        Some(Value::Object(object)) => object.is_empty(),
        _ => false,
    };
    if empty {
        document.remove(name);
    }
}

/// Two values of a multi-valued attribute are the same one when their
/// `value`s are (or, without one, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn is_primary(item: &Value) -> bool {
    get_ci(item, "primary") == Some(&Value::Bool(true))
}

fn clear_primary(item: &mut Value) {
    if let Some(object) = item.as_object_mut() {
        if object.get("primary") == Some(&Value::Bool(true)) {
            object.insert("primary".into(), Value::Bool(false));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::document::normalize;
    use crate::schema::{GROUP, USER};

    fn user() -> Document {
        normalize(
            &json!({"userName": "ada@corp.example", "active": true,
                "emails": [{"value": "ada@corp.example", "type": "work", "primary": true}]}),
            &USER,
        )
        .unwrap()
    }

    fn patch(document: &mut Document, ops: Value) -> Result<(), ScimError> {
        apply(
            document,
            &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}),
            &USER,
        )
    }

    #[test]
    fn entra_replace_in_pascal_case_with_a_string_boolean() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .unwrap();
        assert_eq!(doc["active"], json!(false));
    }

    #[test]
    fn entra_map_without_path_with_dotted_and_extension_keys() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{"op": "Replace", "value": {"displayName": "Ada L.", "name.givenName": "Ada",
                "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName": "Lovelace",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "R&D"}}]),
        )
        .unwrap();
        assert_eq!(doc["displayName"], json!("Ada L."));
        assert_eq!(
            doc["name"],
            json!({"givenName": "Ada", "familyName": "Lovelace"})
        );
        assert!(!doc.contains_key("department"));
    }

    #[test]
    fn entra_value_filter_path_replaces_or_adds_the_work_address() {
        let mut doc = user();
        patch(&mut doc, json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "ada@new.example"}])).unwrap();
        assert_eq!(
            doc["emails"],
            json!([{"value": "ada@new.example", "type": "work", "primary": true}])
        );
        let mut bare = normalize(&json!({"userName": "b"}), &USER).unwrap();
        patch(&mut bare, json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "b@corp.example"}])).unwrap();
        assert_eq!(
            bare["emails"],
            json!([{"type": "work", "value": "b@corp.example"}])
        );
    }

    #[test]
    fn okta_deactivates_without_path_and_a_real_boolean() {
        let mut doc = user();
        patch(
            &mut doc,
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .unwrap();
        assert_eq!(doc["active"], json!(false));
    }

    #[test]
    fn members_are_added_and_removed_by_value_arrays_and_filters() {
        let mut group = normalize(
            &json!({"displayName": "Eng", "members": [{"value": "u1"}]}),
            &GROUP,
        )
        .unwrap();
        let ops = |ops: Value| json!({"Operations": ops});
        apply(&mut group, &ops(json!([{"op": "Add", "path": "members", "value": [{"value": "u2", "display": "B"}, {"value": "u1"}]}])), &GROUP).unwrap();
        assert_eq!(group["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        apply(
            &mut group,
            &ops(json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}])),
            &GROUP,
        )
        .unwrap();
        assert_eq!(group["members"], json!([{"value": "u2"}]));
        apply(
            &mut group,
            &ops(json!([{"op": "remove", "path": "members[value eq \"u2\"]"}])),
            &GROUP,
        )
        .unwrap();
        assert!(!group.contains_key("members"));
        // Okta's rename carries the group's id beside the new name.
        apply(
            &mut group,
            &ops(json!([{"op": "replace", "value": {"id": "g1", "displayName": "Engineering"}}])),
            &GROUP,
        )
        .unwrap();
        assert_eq!(group["displayName"], json!("Engineering"));
    }

    #[test]
    fn adding_a_primary_value_demotes_the_others() {
        let mut doc = user();
        patch(&mut doc, json!([{"op": "add", "path": "emails", "value": [{"value": "a2@corp.example", "primary": true}]}])).unwrap();
        assert_eq!(doc["emails"][0]["primary"], json!(false));
        assert_eq!(doc["emails"][1]["primary"], json!(true));
    }

    #[test]
    fn refuses_malformed_operations() {
        let mut doc = user();
        for (ops, kind) in [
            (
                json!([{"op": "move", "path": "active"}]),
                ScimType::InvalidSyntax,
            ),
            (json!([{"op": "remove"}]), ScimType::NoTarget),
            (
                json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "x"}}]),
                ScimType::NoTarget,
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "perhaps"}]),
                ScimType::InvalidValue,
            ),
            (
                json!([{"op": "replace", "path": "name[givenName eq \"x\"]", "value": {}}]),
                ScimType::InvalidPath,
            ),
        ] {
            let before = doc.clone();
            assert_eq!(
                patch(&mut doc, ops.clone()).unwrap_err().scim_type,
                Some(kind),
                "{ops}"
            );
            // The caller keeps the original; this one may be partly changed.
            doc = before;
        }
        assert!(apply(&mut doc, &json!({"ops": []}), &USER).is_err());
    }
}

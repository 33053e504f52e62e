//! Filters (RFC 7644 §3.4.2.2) and attribute paths, for list queries and
//! for PATCH paths with value filters (`emails[type eq "work"].value`).
//!
//! Precedence is `not`, then `and`, then `or`; keywords and operators are
//! case-insensitive, as attribute names are.

use serde_json::Value;

use crate::error::{ScimError, ScimType};

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 2048;

/// An attribute path: `attr`, `attr.sub`, optionally prefixed by a schema
/// URN (`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN the path names, if any.
    pub schema: Option<String>,
    /// The attribute, as written.
    pub attr: String,
    /// The sub-attribute, as written.
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `[urn:...:]attr[.sub]`.
    ///
    /// # Errors
    /// A 400 `invalidPath` for an empty name or more than one sub-attribute.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let bad = || ScimError::bad_request(ScimType::InvalidPath, format!("bad path `{text}`"));
        let (schema, rest) = if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
            // The schema's URN holds dots ("2.0") but never after its last colon.
            let at = text.rfind(':').ok_or_else(bad)?;
            (Some(text[..at].to_owned()), &text[at + 1..])
        } else {
            (None, text)
        };
        let mut parts = rest.split('.');
        let attr = parts.next().filter(|a| valid_name(a)).ok_or_else(bad)?;
        let sub = match parts.next() {
            Some(sub) if valid_name(sub) => Some(sub.to_owned()),
            Some(_) => return Err(bad()),
            None => None,
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            schema,
            attr: attr.to_owned(),
            sub,
        })
    }

    /// Whether the path is `attr` (with no sub-attribute), by SCIM's
    /// case-insensitive names.
    pub fn is(&self, attr: &str) -> bool {
        self.sub.is_none() && self.attr.eq_ignore_ascii_case(attr)
    }

    /// Whether the path is `attr.sub`.
    pub fn is_sub(&self, attr: &str, sub: &str) -> bool {
        self.attr.eq_ignore_ascii_case(attr)
            && self
                .sub
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(sub))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    /// equal
    Eq,
    /// not equal
    Ne,
    /// contains
    Co,
    /// starts with
    Sw,
    /// ends with
    Ew,
    /// greater than
    Gt,
    /// greater than or equal
    Ge,
    /// less than
    Lt,
    /// less than or equal
    Le,
}

impl CompareOp {
    fn parse(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            _ => return None,
        })
    }
}

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// `path op value`.
    Compare(AttrPath, CompareOp, Value),
    /// `path pr`.
    Present(AttrPath),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (a)`.
    Not(Box<Filter>),
    /// `attr[filter]`: some value of the multi-valued `attr` matches.
    Value(AttrPath, Box<Filter>),
}

impl Filter {
    /// Parses a filter.
    ///
    /// # Errors
    /// A 400 `invalidFilter` naming what could not be read.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(invalid_filter("the filter is too long"));
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser { tokens, at: 0 };
        let filter = parser.or()?;
        match parser.peek() {
            None => Ok(filter),
            Some(token) => Err(invalid_filter(format!("unexpected {token:?}"))),
        }
    }

    /// Whether `element` (an object: a resource, or one value of a
    /// multi-valued attribute) matches. Names compare case-insensitively,
    /// strings too (orgman's attributes are not case-exact, except ids,
    /// which are compared as written).
    pub fn matches(&self, element: &Value) -> bool {
        match self {
            Filter::Compare(path, op, value) => {
                values_at(element, path).any(|found| compare(found, *op, value))
            }
            Filter::Present(path) => values_at(element, path).any(|v| match v {
                Value::Null => false,
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(o) => !o.is_empty(),
                _ => true,
            }),
            Filter::And(a, b) => a.matches(element) && b.matches(element),
            Filter::Or(a, b) => a.matches(element) || b.matches(element),
            Filter::Not(a) => !a.matches(element),
            Filter::Value(path, inner) => match get_ci(element, &path.attr) {
                Some(Value::Array(items)) => items.iter().any(|item| inner.matches(item)),
                Some(other) => inner.matches(other),
                None => false,
            },
        }
    }
}

fn invalid_filter(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidFilter, detail)
}

/// A key of `object` named `name`, case-insensitively.
pub fn get_ci<'a>(object: &'a Value, name: &str) -> Option<&'a Value> {
    object
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// The values `path` reaches in `element`: one for a single-valued
/// attribute, each element's sub-attribute for a multi-valued one.
fn values_at<'a>(element: &'a Value, path: &AttrPath) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
    let Some(top) = get_ci(element, &path.attr) else {
        return Box::new(std::iter::empty());
    };
    match (&path.sub, top) {
        (None, Value::Array(items)) => Box::new(items.iter().map(|item| {
            // A multi-valued attribute compares through its `value`.
            get_ci(item, "value").unwrap_or(item)
        })),
        (None, single) => Box::new(std::iter::once(single)),
        (Some(sub), Value::Array(items)) => {
            let sub = sub.clone();
            Box::new(items.iter().filter_map(move |item| get_ci(item, &sub)))
        }
        (Some(sub), object) => Box::new(get_ci(object, sub).into_iter()),
    }
}

fn compare(found: &Value, op: CompareOp, wanted: &Value) -> bool {
    match (found, wanted) {
        (Value::String(a), Value::String(b)) => {
            let (a, b) = (a.to_lowercase(), b.to_lowercase());
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Co => a.contains(&b),
                CompareOp::Sw => a.starts_with(&b),
                CompareOp::Ew => a.ends_with(&b),
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
            }
        }
        (Value::Bool(a), Value::Bool(b)) => match op {
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
            _ => false,
        },
        (Value::Number(a), Value::Number(b)) => {
            let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                return false;
            };
            match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                CompareOp::Gt => a > b,
                CompareOp::Ge => a >= b,
                CompareOp::Lt => a < b,
                CompareOp::Le => a <= b,
                _ => false,
            }
        }
        (_, Value::Null) => matches!(op, CompareOp::Ne) != found.is_null(),
        _ => matches!(op, CompareOp::Ne),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Literal(Value),
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Dot,
}

fn tokenize(text: &str) -> Result<Vec<Token>, ScimError> {
    let mut tokens = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => (tokens.push(Token::Open), i += 1).1,
            b')' => (tokens.push(Token::Close), i += 1).1,
            b'[' => (tokens.push(Token::OpenBracket), i += 1).1,
            b']' => (tokens.push(Token::CloseBracket), i += 1).1,
            b'.' if tokens.last() == Some(&Token::CloseBracket) => {
                tokens.push(Token::Dot);
                i += 1;
            }
            b'"' => {
                let end =
                    string_end(bytes, i).ok_or_else(|| invalid_filter("unterminated string"))?;
                let value: Value = serde_json::from_str(&text[i..end])
                    .map_err(|_| invalid_filter("bad string"))?;
                tokens.push(Token::Literal(value));
                i = end;
            }
            _ => {
                let start = i;
                while i < bytes.len() && !b" \t\n\r()[]\"".contains(&bytes[i]) {
                    i += 1;
                }
                let word = &text[start..i];
                tokens.push(literal(word).unwrap_or_else(|| Token::Word(word.to_owned())));
            }
        }
    }
    Ok(tokens)
}

/// The end (exclusive) of the JSON string starting at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn literal(word: &str) -> Option<Token> {
    match word.to_ascii_lowercase().as_str() {
        "true" => Some(Token::Literal(Value::Bool(true))),
        "false" => Some(Token::Literal(Value::Bool(false))),
        "null" => Some(Token::Literal(Value::Null)),
        _ => word
            .parse::<serde_json::Number>()
            .ok()
            .filter(|_| word.starts_with(|c: char| c.is_ascii_digit() || c == '-'))
            .map(|n| Token::Literal(Value::Number(n))),
    }
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.group()?)));
        }
        if self.peek() == Some(&Token::Open) {
            return self.group();
        }
        self.comparison()
    }

    fn group(&mut self) -> Result<Filter, ScimError> {
        if self.next() != Some(Token::Open) {
            return Err(invalid_filter("expected `(`"));
        }
        let inner = self.or()?;
        if self.next() != Some(Token::Close) {
            return Err(invalid_filter("expected `)`"));
        }
        Ok(inner)
    }

    fn comparison(&mut self) -> Result<Filter, ScimError> {
        let Some(Token::Word(word)) = self.next() else {
            return Err(invalid_filter("expected an attribute"));
        };
        let path = AttrPath::parse(&word).map_err(|e| invalid_filter(e.detail))?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::CloseBracket) {
                return Err(invalid_filter("expected `]`"));
            }
            return Ok(Filter::Value(path, Box::new(inner)));
        }
        let Some(Token::Word(op)) = self.next() else {
            return Err(invalid_filter("expected an operator"));
        };
        if op.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(&op)
            .ok_or_else(|| invalid_filter(format!("unknown operator `{op}`")))?;
        match self.next() {
            Some(Token::Literal(value)) => Ok(Filter::Compare(path, op, value)),
            _ => Err(invalid_filter("expected a value")),
        }
    }
}

/// A PATCH path: an attribute, an optional value filter on it, and an
/// optional sub-attribute (`members[value eq "x"]`, `emails[type eq
/// "work"].value`, `name.givenName`).
#[derive(Clone, Debug, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when no filter is given).
    pub attr: AttrPath,
    /// The value filter.
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter.
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path.
    ///
    /// # Errors
    /// A 400 `invalidPath`.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let bad = |detail: String| ScimError::bad_request(ScimType::InvalidPath, detail);
        if text.len() > MAX_FILTER_BYTES {
            return Err(bad("the path is too long".into()));
        }
        let Some(open) = text.find('[') else {
            return Ok(Self {
                attr: AttrPath::parse(text.trim())?,
                filter: None,
                sub: None,
            });
        };
        let close = text
            .rfind(']')
            .ok_or_else(|| bad(format!("bad path `{text}`")))?;
        let attr = AttrPath::parse(text[..open].trim())?;
        if attr.sub.is_some() || close < open {
            return Err(bad(format!("bad path `{text}`")));
        }
        let filter = Filter::parse(&text[open + 1..close]).map_err(|e| bad(e.detail))?;
        let rest = &text[close + 1..];
        let sub = match rest.strip_prefix('.') {
            Some(sub) if valid_name(sub) => Some(sub.to_owned()),
            None if rest.is_empty() => None,
            _ => return Err(bad(format!("bad path `{text}`"))),
        };
        Ok(Self {
            attr,
            filter: Some(filter),
            sub,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_precedence_and_value_paths() {
        let filter = Filter::parse(
            r#"userName Eq "ada@corp.example" or emails[type eq "work" and value co "x"] and not (active eq false)"#,
        )
        .unwrap();
        let Filter::Or(left, right) = filter else {
            panic!("or binds loosest: {filter:?}");
        };
        assert!(matches!(*left, Filter::Compare(_, CompareOp::Eq, _)));
        assert!(matches!(*right, Filter::And(_, _)));
    }

    #[test]
    fn matches_case_insensitively_and_through_multi_values() {
        let user = json!({"userName": "Ada@Corp.example", "emails": [
            {"value": "ada@corp.example", "type": "work"},
            {"value": "ada@home.example", "type": "home"}],
            "active": true, "name": {"givenName": "Ada"}});
        for (text, want) in [
            (r#"USERNAME eq "ada@corp.EXAMPLE""#, true),
            (r#"emails[type eq "home" and value sw "ada@h"]"#, true),
            (r#"emails[type eq "home" and value sw "ada@c"]"#, false),
            (r#"emails.value eq "ada@home.example""#, true),
            (r#"emails eq "ada@home.example""#, true),
            (r#"name.givenName pr and active eq true"#, true),
            (r#"not (active eq true)"#, false),
            (r#"title pr"#, false),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName ew "example""#,
                true,
            ),
        ] {
            assert_eq!(Filter::parse(text).unwrap().matches(&user), want, "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for text in [
            "userName",
            r#"userName zz "a""#,
            r#"(userName eq "a""#,
            r#"userName eq "a" extra"#,
            r#"emails[type eq "work""#,
            r#"a.b.c eq "x""#,
        ] {
            let error = Filter::parse(text).unwrap_err();
            assert_eq!(error.scim_type, Some(ScimType::InvalidFilter), "{text}");
        }
    }

    #[test]
    fn patch_paths_carry_filters_and_sub_attributes() {
        let path = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert!(path.attr.is("emails"));
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert!(path.filter.unwrap().matches(&json!({"type": "Work"})));
        let path =
            PatchPath::parse("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName").unwrap();
        assert!(path.attr.is_sub("name", "givenName"));
        assert_eq!(
            path.attr.schema.as_deref(),
            Some("urn:ietf:params:scim:schemas:core:2.0:User")
        );
        assert!(PatchPath::parse("members[value eq \"x\"]junk").is_err());
    }
}

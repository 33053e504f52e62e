//! The member export's CSV: one line per member, cells quoted when they
//! need it, and cells a spreadsheet would run as a formula defused.

use std::fmt::Write;

use orgman_domain::MemberEntry;

/// The header line.
pub(crate) const HEADER: &str =
    "userId,email,displayName,givenName,familyName,role,roles,joinedAt,updatedAt\r\n";

/// Appends the members' lines to `out`.
pub(crate) fn write_rows(out: &mut String, entries: &[MemberEntry]) {
    for entry in entries {
        let m = &entry.membership;
        let roles = std::iter::once(m.role.as_str().to_owned())
            .chain(m.custom_roles.iter().map(ToString::to_string))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(out, "{}", m.user_id);
        for text in [
            entry.email.as_ref().map_or("", |e| e.as_str()),
            entry.display_name.as_deref().unwrap_or_default(),
            entry.given_name.as_deref().unwrap_or_default(),
            entry.family_name.as_deref().unwrap_or_default(),
            m.role.as_str(),
            &roles,
        ] {
            out.push(',');
            cell(out, text);
        }
        for at in [m.created_at, m.updated_at] {
            out.push(',');
            let _ = write!(
                out,
                "{}",
                at.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            );
        }
        out.push_str("\r\n");
    }
}

/// One cell (RFC 4180): quoted when it holds a comma, a quote or a line
/// break, quotes doubled; a leading `=`, `+`, `-`, `@`, tab or carriage
/// return gets a `'` first (OWASP's advice against CSV injection).
fn cell(out: &mut String, text: &str) {
    let defuse = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = defuse || text.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if defuse {
        out.push('\'');
    }
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        let mut out = String::new();
        cell(&mut out, text);
        out
    }

    #[test]
    fn cells_are_quoted_only_when_they_need_it_and_formulas_are_defused() {
        assert_eq!(one("ann@example.com"), "ann@example.com");
        assert_eq!(one("Smith, Ann"), "\"Smith, Ann\"");
        assert_eq!(one("The \"Boss\""), "\"The \"\"Boss\"\"\"");
        assert_eq!(one("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(one("-1+1"), "\"'-1+1\"");
        assert_eq!(one(""), "");
    }
}

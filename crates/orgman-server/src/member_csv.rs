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
        let _ = write!(out, "{}", m.user_id);
        for text in [
            entry.email.as_ref().map_or("", |e| e.as_str()),
            entry.display_name.as_deref().unwrap_or_default(),
            entry.given_name.as_deref().unwrap_or_default(),
            entry.family_name.as_deref().unwrap_or_default(),
            m.role.as_str(),
        ] {
            out.push(',');
            cell(out, text);
        }
        // The built-in role, then custom role keys (which never need
        // quoting: letters, digits, `-` and `_`).
        out.push(',');
        out.push_str(m.role.as_str());
        for key in &m.custom_roles {
            out.push(' ');
            let _ = write!(out, "{key}");
        }
        for at in [m.created_at, m.updated_at] {
            out.push(',');
            timestamp(out, at);
        }
        out.push_str("\r\n");
    }
}

/// RFC 3339 in UTC with microseconds, e.g. `2026-12-07T16:48:30.215430Z`.
fn timestamp(out: &mut String, at: time::OffsetDateTime) {
    let at = at.to_offset(time::UtcOffset::UTC);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    );
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
    fn timestamps_are_rfc_3339_in_utc() {
        let mut out = String::new();
        let at = time::macros::datetime!(2026-12-07 18:48:30.215_430_999 +02:00);
        timestamp(&mut out, at);
        assert_eq!(out, "2026-12-07T16:48:30.215430Z");
        assert!(
            time::OffsetDateTime::parse(&out, &time::format_description::well_known::Rfc3339)
                .is_ok()
        );
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

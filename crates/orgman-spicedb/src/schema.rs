//! Writing orgman's schema into a SpiceDB other services may share: their
//! definitions stay, and a definition both declare keeps their relations
//! and permissions beside orgman's.

/// One top-level item of a schema: a `definition` or a `caveat`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    name: String,
    text: String,
}

impl Item {
    /// The item whose whole text is `text` (`definition user {}`), named by
    /// its second word (a caveat's name without its parameters).
    fn of(text: &str) -> Item {
        let name = text
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .trim_end_matches('{')
            .split('(')
            .next()
            .unwrap_or_default()
            .to_owned();
        Item {
            name,
            text: text.to_owned(),
        }
    }

    /// The `relation`/`permission` statements of a definition, each with
    /// its key (`relation owner`).
    fn statements(&self) -> Vec<(String, String)> {
        let Some(open) = self.text.find('{') else {
            return Vec::new();
        };
        self.text[open + 1..]
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("relation ") || line.starts_with("permission "))
            .map(|line| {
                let statement = line
                    .trim_end_matches('}')
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let key = statement
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .trim_end_matches(':')
                    .to_owned();
                (key, statement)
            })
            .collect()
    }
}

/// The top-level items of a schema, comments between them left out.
fn items(schema: &str) -> Vec<Item> {
    let bytes = schema.as_bytes();
    let mut found = Vec::new();
    let (mut depth, mut start, mut i) = (0usize, None::<usize>, 0usize);
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            i = schema[i..]
                .find("*/")
                .map_or(bytes.len(), |end| i + end + 2);
            continue;
        }
        if bytes[i..].starts_with(b"//") {
            i = schema[i..].find('\n').map_or(bytes.len(), |end| i + end);
            continue;
        }
        if depth == 0
            && start.is_none()
            && (bytes[i..].starts_with(b"definition ") || bytes[i..].starts_with(b"caveat "))
        {
            start = Some(i);
        }
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if let Some(from) = start.take_if(|_| depth == 0) {
                    found.push(Item::of(&schema[from..=i]));
                }
            }
            _ => {}
        }
        i += 1;
    }
    found
}

/// The schema to write: the items of `current` that `ours` does not
/// declare, then `ours`, where each definition `current` declares too also
/// keeps `current`'s relations and permissions that `ours` does not name.
pub(crate) fn merge(current: &str, ours: &str) -> String {
    let ours_items = items(ours);
    let theirs = items(current);
    let mut out: Vec<String> = theirs
        .iter()
        .filter(|item| !ours_items.iter().any(|o| o.name == item.name))
        .map(|item| item.text.clone())
        .collect();
    for item in &ours_items {
        let mut text = item.text.clone();
        if let Some(shared) = theirs.iter().find(|t| t.name == item.name) {
            let ours_keys: Vec<String> = item.statements().into_iter().map(|(k, _)| k).collect();
            let extra: Vec<String> = shared
                .statements()
                .into_iter()
                .filter(|(key, _)| !ours_keys.contains(key))
                .map(|(_, statement)| statement)
                .collect();
            if !extra.is_empty() {
                if let Some(close) = text.rfind('}') {
                    let body = text[..close].trim_end().to_owned();
                    text = format!("{body}\n    {}\n}}", extra.join("\n    "));
                }
            }
        }
        out.push(text);
    }
    out.join("\n\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::{items, merge};

    const OURS: &str = "/** a person */\ndefinition user {}\n\ndefinition organization {\n    relation owner: user\n    permission view = owner\n}\n";

    #[test]
    fn foreign_definitions_and_statements_survive_and_ours_win_on_a_clash() {
        let theirs = "caveat on_weekdays(day string) {\n  day != \"saturday\"\n}\n\n/** { not a brace } */\ndefinition document {\n  relation reader: user\n  permission read = reader\n}\n\ndefinition user {\n  relation manager: user\n}\n\ndefinition organization {\n  relation owner: document\n  relation auditor: user\n}\n";
        let merged = merge(theirs, OURS);
        let names: Vec<String> = items(&merged).into_iter().map(|i| i.name).collect();
        assert_eq!(names, ["on_weekdays", "document", "user", "organization"]);
        assert!(
            merged.contains("definition user {\n    relation manager: user\n}"),
            "{merged}"
        );
        // Their `owner` is replaced by ours; their `auditor` stays.
        assert!(merged.contains("relation owner: user"), "{merged}");
        assert!(!merged.contains("relation owner: document"), "{merged}");
        assert!(merged.contains("relation auditor: user"), "{merged}");
        // Merging again changes nothing.
        assert_eq!(merge(&merged, OURS), merged);
    }

    #[test]
    fn an_empty_spicedb_gets_exactly_ours() {
        assert_eq!(items(&merge("", OURS)), items(OURS));
    }
}

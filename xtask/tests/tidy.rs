//! Layout rules checked as ordinary tests (rust-analyzer's "tidy").

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Crates that do IO, bring an async runtime or belong to one of the
/// adapters. The domain must reach none of them, directly or transitively.
const FORBIDDEN_PREFIXES: &[&str] = &[
    "actix",
    "aes",
    "async-std",
    "axum",
    "deadpool",
    "diesel",
    "h2",
    "hyper",
    "jsonwebtoken",
    "lz4",
    "mio",
    "native-tls",
    "openidconnect",
    "openssl",
    "postgres",
    "prometheus",
    "prost",
    "rdkafka",
    "redis",
    "reqwest",
    "ring",
    "rskafka",
    "rustls",
    "smol",
    "socket2",
    "spicedb",
    "sqlx",
    "tokio",
    "tonic",
    "tower",
    "tracing-subscriber",
    "ureq",
    "utoipa",
    "zstd",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace_root())
        .args(["metadata", "--format-version", "1", "--all-features"])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

/// Names of every package `root` depends on through normal (not dev)
/// dependencies, transitively.
fn normal_dependency_closure(metadata: &Value, root: &str) -> BTreeSet<String> {
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap();
    let name_of = |id: &str| -> String {
        metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let root_id = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == root)
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .unwrap();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([root_id]);
    while let Some(id) = queue.pop_front() {
        let node = nodes.iter().find(|n| n["id"] == id.as_str()).unwrap();
        for dep in node["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|kind| kind["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap().to_owned();
            if normal && seen.insert(name_of(&dep_id)) {
                queue.push_back(dep_id);
            }
        }
    }
    seen
}

#[test]
fn domain_depends_on_no_io_crate() {
    let metadata = metadata();
    let closure = normal_dependency_closure(&metadata, "orgman-domain");
    // Guard against a vacuous pass (e.g. the walk finding nothing).
    for expected in ["uuid", "time", "thiserror", "async-trait"] {
        assert!(
            closure.contains(expected),
            "expected {expected} in {closure:?}"
        );
    }
    let offenders: Vec<_> = closure
        .iter()
        .filter(|name| {
            FORBIDDEN_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "orgman-domain must stay free of IO crates, but depends on {offenders:?}"
    );
}

#[test]
fn the_walk_follows_normal_dependencies_only() {
    // Dev-dependencies (proptest, the in-memory ports) are not part of what
    // embedders link, so the walk must leave them out; transitive normal
    // dependencies (thiserror's proc-macro) must be in.
    let metadata = metadata();
    let closure = normal_dependency_closure(&metadata, "orgman-domain");
    assert!(!closure.contains("proptest"), "{closure:?}");
    assert!(!closure.contains("orgman-memory"), "{closure:?}");
    assert!(closure.contains("thiserror-impl"), "{closure:?}");
}

#[test]
fn every_crate_inherits_workspace_lints_and_has_a_header() {
    let root = workspace_root();
    let mut manifests = vec![root.join("xtask/Cargo.toml")];
    for entry in fs::read_dir(root.join("crates")).unwrap() {
        manifests.push(entry.unwrap().path().join("Cargo.toml"));
    }
    for manifest in manifests {
        let text = fs::read_to_string(&manifest).unwrap();
        assert!(
            text.contains("[lints]\nworkspace = true"),
            "{} must inherit [workspace.lints]",
            manifest.display()
        );
        let dir = manifest.parent().unwrap();
        let entry = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .unwrap();
        let source = fs::read_to_string(&entry).unwrap();
        assert!(
            source.starts_with("//!"),
            "{} needs a //! header",
            entry.display()
        );
    }
}

/// The dependencies a manifest pins itself: `name = "1.0"` (shorthand) or
/// `name = { version = ... }`, in any dependency table, instead of
/// `name.workspace = true` / `{ workspace = true, ... }`.
fn pinned_dependencies(manifest: &str) -> Vec<String> {
    let mut in_dependencies = false;
    let mut pinned = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line
                .trim_matches(|c| c == '[' || c == ']')
                .ends_with("dependencies");
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let shorthand = value.starts_with('"');
        let table = value.starts_with('{') && !value.contains("workspace = true");
        if (shorthand || table) && !value.contains("path =") {
            pinned.push(name.trim().to_owned());
        }
    }
    pinned
}

#[test]
fn the_pin_check_sees_shorthand_and_table_pins() {
    let manifest = "[package]\nversion = \"0.1.0\"\n\n[dependencies]\nserde.workspace = true\nuuid = { workspace = true, features = [\"v7\"] }\nanyhow = \"1\"\n\n[dev-dependencies]\nserde_yaml = { version = \"0.9\" }\nlocal = { path = \"../local\" }\n";
    assert_eq!(pinned_dependencies(manifest), ["anyhow", "serde_yaml"]);
}

#[test]
fn dependencies_are_declared_once_in_the_workspace() {
    let root = workspace_root();
    let mut manifests: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path().join("Cargo.toml"))
        .collect();
    manifests.push(root.join("xtask/Cargo.toml"));
    for manifest in manifests {
        let pinned = pinned_dependencies(&fs::read_to_string(&manifest).unwrap());
        assert!(
            pinned.is_empty(),
            "{}: {pinned:?} pin their versions; use `.workspace = true`",
            manifest.display()
        );
    }
}

#[test]
fn every_event_type_is_in_the_events_catalogue() {
    let root = workspace_root();
    let source =
        std::fs::read_to_string(root.join("crates/orgman-domain/src/events/event.rs")).unwrap();
    let catalogue = std::fs::read_to_string(root.join("docs/events.md")).unwrap();
    let types: Vec<&str> = source
        .lines()
        .filter_map(|line| line.split("=> \"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| name.starts_with("organization."))
        .collect();
    assert!(types.len() >= 20, "found only {types:?}");
    let missing: Vec<&&str> = types
        .iter()
        .filter(|name| !catalogue.contains(&format!("| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/events.md has no row for {missing:?}"
    );
}

/// Every environment variable the crates read (by the prefixes of the
/// reference's names and orgman's own) is documented for operators.
#[test]
fn every_setting_read_is_documented() {
    /// Read at build or test time, not by a deployment.
    const NOT_SETTINGS: &[&str] = &[
        "ORGMAN_BLESS",
        "ORGMAN_BUILD_UNIX_TIME",
        "ORGMAN_GIT_COMMIT",
    ];
    const PREFIXES: &[&str] = &[
        "SPRING_",
        "ORGMAN_",
        "KAFKA_",
        "SECURITY_",
        "FLOWX_",
        "LOGGING_",
        "MANAGEMENT_",
        "SERVER_",
        "MULTIPART_",
    ];
    let root = workspace_root();
    let docs = ["docs/configuration.md", "docs/operations.md"]
        .map(|doc| fs::read_to_string(root.join(doc)).unwrap())
        .concat();
    let mut sources = Vec::new();
    let mut pending = vec![root.join("crates")];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() && name != "tests" && name != "orgman-testkit" {
                pending.push(path);
            } else if name.ends_with(".rs") && path.components().any(|c| c.as_os_str() == "src") {
                sources.push(path);
            }
        }
    }
    let mut undocumented = BTreeSet::new();
    let mut seen = 0;
    for source in &sources {
        let text = fs::read_to_string(source).unwrap();
        // Every `"NAME"`: a quote, a run of upper-case letters, digits and
        // underscores, a quote (robust to other quotes around it).
        let literals = text.match_indices('"').filter_map(|(at, _)| {
            let rest = &text[at + 1..];
            let end =
                rest.find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))?;
            (end > 0 && rest[end..].starts_with('"')).then(|| &rest[..end])
        });
        for literal in literals {
            let setting = literal == "DATABASE_URL"
                || PREFIXES.iter().any(|p| literal.starts_with(p)) && literal.len() > 8;
            if !setting || NOT_SETTINGS.contains(&literal) {
                continue;
            }
            seen += 1;
            if !docs.contains(&format!("`{literal}`")) {
                undocumented.insert(format!("{literal} ({})", source.display()));
            }
        }
    }
    assert!(seen > 50, "found only {seen} settings: the scan is broken");
    assert!(
        undocumented.is_empty(),
        "settings read but not in docs/configuration.md or docs/operations.md: {undocumented:#?}"
    );
}

/// Every `.rs` file under each crate's `src/` (and xtask's).
fn source_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(root.join("xtask/src"));
    rust_files_under(dirs)
}

/// The tests' files: every crate's `tests/`, the API tests, the testkit.
fn test_files() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("tests"))
        .filter(|p| p.is_dir())
        .collect();
    dirs.push(root.join("tests"));
    dirs.push(root.join("crates/orgman-testkit/src"));
    rust_files_under(dirs)
}

fn rust_files_under(mut dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn every_module_opens_with_a_header_saying_what_it_owns() {
    let files = source_files();
    assert!(files.len() > 100, "the walk found {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|file| {
            !fs::read_to_string(file)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a //! header:\n{}",
        missing.join("\n")
    );
}

#[test]
fn route_handlers_hold_no_authorization_rule() {
    // Who may do what is the domain's: a handler that asks for a platform
    // administrator or names a role decides something a use case should.
    const RULES: &[&str] = &[
        "is_platform_admin",
        "OrgRole::Owner",
        "OrgRole::Admin",
        "OrgRole::Member",
        "SystemRole::Admin",
        "SystemRole::User",
        "administers()",
    ];
    let routes = workspace_root().join("crates/orgman-server/src/routes");
    let mut found = Vec::new();
    for path in rust_files_under(vec![routes]) {
        let text = fs::read_to_string(&path).unwrap();
        for rule in RULES {
            if text.contains(rule) {
                found.push(format!("{} names {rule}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn database_errors_become_store_errors_in_one_file() {
    // A refused connection, a timeout or a lost server is mapped once, in
    // orgman-postgres' error.rs; every other file calls it.
    let src = workspace_root().join("crates/orgman-postgres/src");
    let mut found = Vec::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n == "error.rs") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        if code.contains("StoreError::Unavailable(") {
            found.push(path.display().to_string());
        }
    }
    assert!(
        fs::read_to_string(src.join("error.rs"))
            .unwrap()
            .contains("StoreError::Unavailable("),
        "the check looks at the right crate"
    );
    assert!(
        found.is_empty(),
        "database errors mapped outside error.rs: {found:?}"
    );
}

#[test]
fn xtask_links_no_adapter() {
    // xtask runs the service binary for anything that needs an adapter
    // (`migrate`, `secrets rotate`, `spicedb reconcile`).
    let manifest = fs::read_to_string(workspace_root().join("xtask/Cargo.toml")).unwrap();
    let ours: Vec<&str> = manifest
        .lines()
        .filter(|line| line.starts_with("orgman-"))
        .collect();
    assert_eq!(ours, ["orgman-launch.workspace = true"], "{manifest}");
}

/// Tests wait for what they wait for (`orgman_testkit::eventually`); a
/// fixed sleep that remains says why it must be a fixed time, in a comment
/// on one of the three lines above it. The testkit's own polling is the
/// exception.
#[test]
fn every_fixed_sleep_in_the_tests_says_why() {
    let polling = workspace_root().join("crates/orgman-testkit/src/lib.rs");
    let mut unexplained = Vec::new();
    for file in test_files() {
        if file == polling {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if !line.contains("sleep(") || line.trim_start().starts_with("//") {
                continue;
            }
            let explained = lines[index.saturating_sub(3)..index]
                .iter()
                .any(|l| l.trim_start().starts_with("//"));
            if !explained {
                unexplained.push(format!("{}:{}", file.display(), index + 1));
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "sleeps without a reason (wait with `eventually`, or say why the time is fixed): {unexplained:#?}"
    );
}

/// The longest a production function may be, in lines from `fn` to its
/// closing brace.
const MAX_FUNCTION_LINES: usize = 80;

/// Production functions allowed past [`MAX_FUNCTION_LINES`]: (file, name,
/// why). Each entry is a debt with its reason; the list only shrinks.
const LONG_FUNCTIONS: &[(&str, &str, &str)] = &[
    (
        "crates/orgman-server/src/problem.rs",
        "from",
        "one match arm per domain error, each naming its status and problem code: a table read top to bottom",
    ),
    (
        "crates/orgman-server/src/operability/metrics.rs",
        "new",
        "registers each metric with its help text once: a table",
    ),
    (
        "crates/orgman-server/src/app.rs",
        "http_server",
        "the application's routes and middleware in the order actix applies them",
    ),
];

/// A line without its `//` comment and with string and character literals
/// emptied, so that braces inside them are not counted.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => break,
            '"' => {
                while let Some(s) = chars.next() {
                    match s {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                code.push_str("\"\"");
            }
            // A character literal ('{', '\n'), not a lifetime ('a).
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') || rest.chars().nth(1) == Some('\'') {
                    while let Some(s) = chars.next() {
                        if s == '\'' {
                            break;
                        }
                        if s == '\\' {
                            chars.next();
                        }
                    }
                }
            }
            _ => code.push(c),
        }
    }
    code
}

/// The name of the function a line declares, if it does.
fn declared_function(line: &str) -> Option<&str> {
    let mut rest = line.trim_start();
    for prefix in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "const ",
        "async ",
        "unsafe ",
    ] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Every function of `text` (up to its `#[cfg(test)]` module) with its
/// length in lines and its first line (1-based).
fn function_lengths(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .collect();
    let mut found = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let Some(name) = declared_function(line) else {
            continue;
        };
        let mut depth = 0_i32;
        let mut opened = false;
        'lines: for (offset, later) in lines[start..].iter().enumerate() {
            for c in code_of(later).chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    // A declaration without a body (a trait's).
                    ';' if !opened => break 'lines,
                    _ => {}
                }
                if opened && depth == 0 {
                    found.push((name.to_owned(), offset + 1, start + 1));
                    break 'lines;
                }
            }
        }
    }
    found
}

#[test]
fn function_lengths_are_counted_from_fn_to_its_closing_brace() {
    let text = "fn short() {\n    let s = \"}}\";\n}\n\ntrait T {\n    fn declared(&self);\n}\n\npub(crate) async fn longer(x: u8) -> u8 {\n    match x {\n        b'{' => 1,\n        _ => {\n            2\n        }\n    } // }\n}\n#[cfg(test)]\nfn ignored() {\n}\n";
    assert_eq!(
        function_lengths(text),
        [("short".to_owned(), 3, 1), ("longer".to_owned(), 8, 9)]
    );
}

/// Every production function measured by `measure` (name, figure, first
/// line), held to `limit` outside the `allowed` list named `list`; an
/// allowed function that is within the limit is a stale entry.
fn hold_functions_to(
    measure: fn(&str) -> Vec<(String, usize, usize)>,
    limit: usize,
    allowed: &[(&str, &str, &str)],
    list: &str,
) {
    let root = workspace_root();
    let mut over = Vec::new();
    let mut seen = BTreeSet::new();
    for path in source_files() {
        let relative = path
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if relative.starts_with("crates/orgman-testkit/") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for (name, figure, line) in measure(&text) {
            if figure <= limit {
                continue;
            }
            match allowed
                .iter()
                .find(|(file, function, _)| *file == relative && *function == name)
            {
                Some(entry) => {
                    seen.insert(entry.1);
                }
                None => over.push(format!("{relative}:{line} {name}: {figure}")),
            }
        }
    }
    assert!(
        over.is_empty(),
        "functions over the limit of {limit} (split or flatten them, or add them to {list} with a reason): {over:#?}"
    );
    let stale: Vec<_> = allowed
        .iter()
        .filter(|(_, name, _)| !seen.contains(name))
        .map(|(file, name, _)| format!("{file} {name}"))
        .collect();
    assert!(
        stale.is_empty(),
        "{list} names functions that are now within the limit or gone: remove them: {stale:?}"
    );
}

#[test]
fn no_production_function_is_longer_than_the_limit() {
    hold_functions_to(
        function_lengths,
        MAX_FUNCTION_LINES,
        LONG_FUNCTIONS,
        "LONG_FUNCTIONS",
    );
}

/// The deepest a production function may nest control flow: blocks opened
/// by `if`, `else`, `for`, `while`, `loop`, `match` or a match arm.
const MAX_NESTING: usize = 4;

/// Production functions allowed past [`MAX_NESTING`]: (file, name, why).
const DEEP_FUNCTIONS: &[(&str, &str, &str)] = &[];

/// Whether a line (code only) opens control flow: a keyword of
/// [`MAX_NESTING`] as a word, or a match arm.
fn opens_control(code: &str) -> bool {
    code.contains("=>")
        || code
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|word| matches!(word, "if" | "else" | "for" | "while" | "loop" | "match"))
}

/// Every outermost function of `text` (up to its `#[cfg(test)]` module)
/// with the deepest nesting of control-flow blocks in it and its first
/// line (1-based).
fn function_nesting(text: &str) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    // Each open brace: whether its line opened control flow.
    let mut braces: Vec<bool> = Vec::new();
    // The function being read: name, brace depth outside it, first line,
    // deepest nesting so far.
    let mut current: Option<(String, usize, usize, usize)> = None;
    for (number, line) in text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .enumerate()
    {
        if current.is_none() {
            if let Some(name) = declared_function(line) {
                current = Some((name.to_owned(), braces.len(), number + 1, 0));
            }
        }
        let code = code_of(line);
        let control = opens_control(&code);
        for c in code.chars() {
            match c {
                '{' => {
                    braces.push(control);
                    if let Some((_, outside, _, deepest)) = current.as_mut() {
                        let depth = braces[*outside + 1..].iter().filter(|c| **c).count();
                        *deepest = (*deepest).max(depth);
                    }
                }
                '}' => {
                    braces.pop();
                    if current
                        .as_ref()
                        .is_some_and(|(_, outside, _, _)| braces.len() == *outside)
                    {
                        let (name, _, first, deepest) = current.take().unwrap();
                        found.push((name, deepest, first));
                    }
                }
                // A declaration without a body (a trait's).
                ';' if current
                    .as_ref()
                    .is_some_and(|(_, outside, _, _)| braces.len() == *outside) =>
                {
                    current = None;
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn nesting_counts_control_flow_blocks_only() {
    let text = "impl A {\n    fn f(&self) {\n        let s = S { a: 1 };\n        if a {\n            for x in y {\n                match x {\n                    1 => {\n                        loop {}\n                    }\n                    _ => {}\n                }\n            }\n        }\n    }\n}\ntrait T {\n    fn g(&self);\n}\nfn h() {\n    let c = || { 1 };\n}\n";
    assert_eq!(
        function_nesting(text),
        [("f".to_owned(), 5, 2), ("h".to_owned(), 0, 19)]
    );
}

#[test]
fn no_production_function_nests_deeper_than_the_limit() {
    hold_functions_to(
        function_nesting,
        MAX_NESTING,
        DEEP_FUNCTIONS,
        "DEEP_FUNCTIONS",
    );
}

/// The types of a Rust file that describe an HTTP body or query (derive or
/// implement `ToSchema` or `IntoParams`).
fn body_types(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("impl ToSchema for ") {
            found.push(
                rest.trim_end_matches(" {}")
                    .trim_end_matches(" {")
                    .to_owned(),
            );
            continue;
        }
        let declared = ["pub(crate) struct ", "pub(crate) enum ", "struct ", "enum "]
            .iter()
            .find_map(|prefix| line.strip_prefix(prefix));
        let Some(rest) = declared else { continue };
        let derives = lines[..index]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with("#[") || l.trim_start().starts_with("///"))
            .any(|l| l.contains("ToSchema") || l.contains("IntoParams"));
        if derives {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push(name);
        }
    }
    found
}

/// Whether `text` names `word` as a whole word.
fn names_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The HTTP edge's convention for bodies: a body type lives in the route
/// module that uses it (with its submodules), and `dto.rs` holds exactly
/// the ones several route modules share.
#[test]
fn a_body_type_lives_with_its_one_route_module_or_in_dto_when_shared() {
    let server = workspace_root().join("crates/orgman-server/src");
    let routes = server.join("routes");
    // Route modules by name, each with the text of its files.
    let mut modules: std::collections::BTreeMap<String, String> = Default::default();
    for file in rust_files_under(vec![routes.clone()]) {
        let relative = file.strip_prefix(&routes).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = Path::new(first)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        modules
            .entry(module)
            .or_default()
            .push_str(&fs::read_to_string(&file).unwrap());
    }
    let mut wrong = Vec::new();
    for (module, text) in &modules {
        for body in body_types(text) {
            let elsewhere: Vec<&String> = modules
                .iter()
                .filter(|(other, other_text)| *other != module && names_word(other_text, &body))
                .map(|(other, _)| other)
                .collect();
            if !elsewhere.is_empty() {
                wrong.push(format!(
                    "routes/{module}: {body} is used by {elsewhere:?}: move it to dto.rs"
                ));
            }
        }
    }
    let dto = fs::read_to_string(server.join("dto.rs")).unwrap();
    for body in body_types(&dto) {
        let users = modules
            .values()
            .filter(|text| names_word(text, &body))
            .count();
        let inside = dto.matches(&body).count() > 2;
        if users < 2 && !(users == 1 && inside) {
            wrong.push(format!(
                "dto.rs: {body} is used by {users} route module(s): move it there"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

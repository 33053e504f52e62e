//! No file of a crate imports, directly or through others, a file that
//! imports it back: each crate's modules form a directed acyclic graph, so
//! every file can be read (and moved) with what it builds on.
//!
//! An import `crate::a::b::X` (or `super::...`) is an edge to the deepest
//! module file the path names; when that module only re-exports `X` from a
//! child (`pub use child::X`), the edge goes to the child that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `[a, b]`; `lib.rs` and `main.rs`
/// the crate root `[]`.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && (parts[0] == "lib" || parts[0] == "main") {
        parts.clear();
    }
    parts
}

fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path of the use tree starting at `text` (just after `crate::`):
/// `a::{b::C, d}` gives `a::b::C` and `a::d`.
fn use_tree(text: &str) -> (Vec<Vec<String>>, usize) {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut prefix: Vec<String> = Vec::new();
    loop {
        if text[i..].starts_with('{') {
            i += 1;
            let mut paths = Vec::new();
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    let full = paths
                        .into_iter()
                        .map(|p: Vec<String>| prefix.iter().cloned().chain(p).collect())
                        .collect();
                    return (full, i + 1);
                }
                let (inner, used) = use_tree(&text[i..]);
                paths.extend(inner);
                i += used.max(1);
                // Skip a rename (`X as Y`).
                while i < bytes.len() && !matches!(bytes[i], b',' | b'}') {
                    i += 1;
                }
            }
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        if i > start {
            prefix.push(text[start..i].to_owned());
        }
        if i > start && text[i..].starts_with("::") {
            i += 2;
            continue;
        }
        return (vec![prefix], i);
    }
}

struct Crate {
    modules: BTreeSet<Module>,
    /// (module, name) → the child module it re-exports `name` from.
    reexports: BTreeMap<(Module, String), Module>,
    sources: BTreeMap<Module, String>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = Vec::new();
        rust_files(src, &mut files);
        let mut sources = BTreeMap::new();
        for file in files {
            sources.insert(
                module_of(src, &file),
                without_comments(&fs::read_to_string(&file).unwrap()),
            );
        }
        let modules: BTreeSet<Module> = sources.keys().cloned().collect();
        let mut reexports = BTreeMap::new();
        for (module, text) in &sources {
            for (at, _) in text.match_indices("pub") {
                let rest = &text[at..];
                let Some(use_at) = rest.find("use ") else {
                    continue;
                };
                let head = &rest[..use_at];
                if !(head == "pub " || head == "pub(crate) ") {
                    continue;
                }
                let (paths, _) = use_tree(&rest[use_at + 4..]);
                for path in paths {
                    // The deepest module the path names below this one
                    // (`pub use a::b::X` from `a/b.rs`).
                    let child = (1..path.len())
                        .rev()
                        .map(|length| {
                            let mut child = module.clone();
                            child.extend(path[..length].iter().cloned());
                            child
                        })
                        .find(|child| modules.contains(child));
                    if let Some(child) = child {
                        reexports.insert((module.clone(), path.last().unwrap().clone()), child);
                    }
                }
            }
        }
        Crate {
            modules,
            reexports,
            sources,
        }
    }

    /// The file defining what `path` names: the deepest module it names,
    /// then through each `pub use` that re-exports the item from a child
    /// (the crate root's `pub use store::X` included, so a bare
    /// `crate::X` reaches `store`).
    fn resolve(&self, path: &[String]) -> Option<Module> {
        let (mut module, item) = (1..=path.len())
            .rev()
            .map(|length| path[..length].to_vec())
            .find(|module| self.modules.contains(module))
            .map(|module| {
                let item = path.get(module.len()).cloned();
                (module, item)
            })
            .or_else(|| Some((Vec::new(), path.first().cloned())))?;
        let Some(item) = item else {
            return Some(module);
        };
        let mut hops = 0;
        while let Some(child) = self.reexports.get(&(module.clone(), item.clone())) {
            module = child.clone();
            hops += 1;
            if hops > 16 {
                break;
            }
        }
        Some(module)
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut graph = BTreeMap::new();
        for (module, text) in &self.sources {
            let text = absolute(text, module);
            let mut targets = BTreeSet::new();
            for (at, _) in text.match_indices("crate::") {
                let (paths, _) = use_tree(&text[at + 7..]);
                for path in paths {
                    match self.resolve(&path) {
                        Some(target) if &target != module && !target.is_empty() => {
                            targets.insert(target);
                        }
                        _ => {}
                    }
                }
            }
            graph.insert(module.clone(), targets);
        }
        graph
    }
}

/// `text` with each `super::super::...` chain written from `crate::`.
fn absolute(text: &str, module: &Module) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("super::") {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let mut ups = 0;
        while let Some(after) = rest.strip_prefix("super::") {
            ups += 1;
            rest = after;
        }
        let base = &module[..module.len().saturating_sub(ups)];
        out.push_str("crate::");
        for part in base {
            out.push_str(part);
            out.push_str("::");
        }
    }
    out.push_str(rest);
    out
}

/// A cycle through `start`, if any (depth-first search).
fn cycle_from(graph: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    fn visit(
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        start: &Module,
        at: &Module,
        path: &mut Vec<Module>,
        seen: &mut BTreeSet<Module>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.clone()];
    let mut seen = BTreeSet::new();
    visit(graph, start, start, &mut path, &mut seen).then_some(path)
}

fn circles(src: &Path) -> Vec<String> {
    let graph = Crate::read(src).edges();
    let mut found = Vec::new();
    let mut reported = BTreeSet::new();
    for module in graph.keys() {
        if reported.contains(module) {
            continue;
        }
        if let Some(cycle) = cycle_from(&graph, module) {
            reported.extend(cycle.iter().cloned());
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            found.push(format!(
                "{}: {} -> {}",
                src.display(),
                names.join(" -> "),
                names[0]
            ));
        }
    }
    found
}

#[test]
fn no_crate_has_a_file_level_import_circle() {
    let root = workspace_root();
    let mut sources: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    sources.push(root.join("xtask/src"));
    let found: Vec<String> = sources.iter().flat_map(|src| circles(src)).collect();
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_circle_check_sees_circles_through_groups_super_and_reexports() {
    let dir = std::env::temp_dir().join(format!("circles-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("ports")).unwrap();
    let write = |name: &str, text: &str| fs::write(dir.join(name), text).unwrap();
    write("lib.rs", "mod a;\nmod b;\nmod ports;\n");
    write("a.rs", "use crate::{b::B, ports::Port};\npub struct A;\n");
    write("b.rs", "// use crate::a::A; (a comment)\npub struct B;\n");
    write(
        "ports/mod.rs",
        "mod store;\npub use store::{Port, Other};\n",
    );
    write("ports/store.rs", "pub trait Port {}\npub trait Other {}\n");
    assert!(circles(&dir).is_empty(), "{:?}", circles(&dir));
    // The port's file imports `a` through `super::super`: a circle.
    write(
        "ports/store.rs",
        "use super::super::a::A;\npub trait Port {}\n",
    );
    let found = circles(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("a -> ports::store") || found[0].contains("ports::store -> a"));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn the_circle_check_follows_reexports_at_the_crate_root() {
    let dir = std::env::temp_dir().join(format!("circles-root-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| fs::write(dir.join(name), text).unwrap();
    write(
        "lib.rs",
        "mod store;
mod outbox;
pub use outbox::Outbox;
pub use store::Store;
",
    );
    write(
        "store.rs",
        "use crate::Outbox;
pub struct Store;
",
    );
    write(
        "outbox.rs",
        "pub struct Outbox;
",
    );
    assert!(circles(&dir).is_empty(), "{:?}", circles(&dir));
    // `outbox` names `store` through the root's re-export only.
    write(
        "outbox.rs",
        "use crate::Store;
pub struct Outbox;
",
    );
    let found = circles(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("outbox -> store") || found[0].contains("store -> outbox"));
    let _ = fs::remove_dir_all(&dir);
}

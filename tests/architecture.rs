//! The module dependency rules of docs/architecture.md, checked on the source: no import cycle
//! between the library's top-level modules, each module imports only modules below it in
//! [`ORDER`], and clap appears only in the binary's edge (src/cli/, src/main.rs).
//!
//! Dependencies are the `crate::module` paths in the code of a module, comments, strings and
//! test-only code (`#[cfg(test)]` items and the files they declare) left out.

#[path = "architecture/scan.rs"]
mod scan;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use scan::{source, Source};

/// The library's top-level modules, lowest first: a module may import only modules listed
/// before it. Keep in step with "Module order" in docs/architecture.md.
const ORDER: &[&str] = &[
    "record",
    "json_text",
    "json_map",
    "lines",
    "tokens",
    "exit",
    "logging",
    "validate",
    "load",
    "cache",
    "pricing",
    "shard",
    "stats",
    "threshold",
    "output",
    "provider",
    "mock",
    "input",
    "config",
    "metrics",
    "dispatch",
    "progress",
    "report",
    "engine",
    "job",
    "batch_api",
    "bench",
    "check",
    "estimate",
    "compare",
    "export",
    "merge",
    "models",
    "folder_report",
];

/// Imports against [`ORDER`] that work in progress removes, each with what removes it: the
/// only edges the two checks below leave out. Nothing else may be added here.
const PENDING: &[(&str, &str, &str)] = &[(
    "report",
    "batch_api",
    "report.md's Batch API block (batch_api::summary::markdown) moves into report/",
)];

/// The top-level module of a src/-relative path: `dispatch` for dispatch/adaptive/mod.rs.
fn top_module(path: &Path) -> String {
    let first = path
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .to_string();
    first.trim_end_matches(".rs").to_string()
}

/// Edges `from → to` between top-level library modules, each with one file that makes it.
fn edges(source: &Source) -> BTreeMap<(String, String), PathBuf> {
    let mut edges = BTreeMap::new();
    for (path, code) in &source.code {
        let from = top_module(path);
        if from == "main" || from == "cli" || from == "lib" {
            continue;
        }
        for (at, _) in code.match_indices("crate::") {
            if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = &code[at + "crate::".len()..];
            let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
                // use crate::{a::X, b};
                let group = &group[..group.find('}').unwrap_or(group.len())];
                group
                    .split(',')
                    .filter_map(|item| item.trim().split("::").next().map(|s| s.trim().to_string()))
                    .collect()
            } else {
                vec![rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect()]
            };
            for to in names {
                if !to.is_empty() && to != from {
                    edges.entry((from.clone(), to)).or_insert_with(|| path.clone());
                }
            }
        }
    }
    edges
}

/// One cycle of the graph, if it has any.
fn find_cycle(edges: &BTreeMap<(String, String), PathBuf>) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in edges.keys() {
        next.entry(from).or_default().push(to);
    }
    fn visit<'a>(
        node: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        state: &mut BTreeMap<&'a str, bool>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => {
                let start = path.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            Some(false) => return None,
            None => {}
        }
        state.insert(node, true);
        path.push(node);
        for &to in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(to, next, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node, false);
        None
    }
    let mut state = BTreeMap::new();
    let nodes: Vec<&str> = next.keys().copied().collect();
    for node in nodes {
        if let Some(cycle) = visit(node, &next, &mut state, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn no_import_cycle_between_modules() {
    let edges = edges(&source());
    assert!(
        edges.len() > 30,
        "the scan found too few imports to be reading the source: {edges:?}"
    );
    let edges: BTreeMap<_, _> = edges
        .into_iter()
        .filter(|((from, to), _)| !PENDING.iter().any(|(a, b, _)| a == from && b == to))
        .collect();
    if let Some(cycle) = find_cycle(&edges) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|w| {
                format!(
                    "{} → {} ({})",
                    w[0],
                    w[1],
                    edges[&(w[0].clone(), w[1].clone())].display()
                )
            })
            .collect();
        panic!("import cycle between modules:\n  {}", steps.join("\n  "));
    }
}

#[test]
fn modules_import_only_modules_below_them() {
    let edges = edges(&source());
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let mut wrong = Vec::new();
    for ((from, to), path) in &edges {
        let (Some(f), Some(t)) = (rank(from), rank(to)) else {
            continue;
        };
        let pending = PENDING.iter().any(|(a, b, _)| a == from && b == to);
        if t > f && !pending {
            wrong.push(format!("{from} imports {to} ({}), which sits above it", path.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "module order broken (see docs/architecture.md, \"Module order\"):\n  {}",
        wrong.join("\n  ")
    );
    // A pending exception that is gone must leave the list.
    for (from, to, why) in PENDING {
        assert!(
            edges.contains_key(&(from.to_string(), to.to_string())),
            "{from} no longer imports {to} ({why}): remove it from PENDING"
        );
    }
}

#[test]
fn every_library_module_has_a_place_in_the_order() {
    let source = source();
    let modules: BTreeSet<String> = source.code.keys().map(|p| top_module(p)).collect();
    let missing: Vec<&String> = modules
        .iter()
        .filter(|m| !["main", "cli", "lib"].contains(&m.as_str()) && !ORDER.contains(&m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from ORDER in tests/architecture.rs and from docs/architecture.md: {missing:?}"
    );
}

#[test]
fn clap_is_only_in_the_binary_edge() {
    let source = source();
    let outside: Vec<String> = source
        .code
        .iter()
        .filter(|(path, _)| top_module(path) != "cli" && top_module(path) != "main")
        .filter(|(_, code)| {
            code.match_indices("clap").any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + 4..].chars().next();
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                !word(before) && !word(after)
            })
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "clap used outside src/cli/ and src/main.rs: {outside:?}"
    );
}

//! The module dependency rules of docs/architecture.md, checked on the source: no import cycle
//! between the library's top-level modules, each module imports only modules below it in
//! [`ORDER`], and clap appears only in the binary's edge (src/cli/, src/main.rs).
//!
//! Dependencies are the `crate::module` paths in the code of a module, comments, strings and
//! test-only code (`#[cfg(test)]` items and the files they declare) left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The library's top-level modules, lowest first: a module may import only modules listed
/// before it. Keep in step with "Module order" in docs/architecture.md.
const ORDER: &[&str] = &[
    "record",
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

/// The source with comments, string and char literals blanked out (newlines kept).
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
            }
        } else if (c == 'r' || c == 'b')
            && raw_string_start(&chars, i).is_some()
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let (hashes, body) = raw_string_start(&chars, i).unwrap_or((0, i));
            i = body;
            loop {
                if i >= chars.len() {
                    break;
                }
                if chars[i] == '"' && (0..hashes).all(|k| chars.get(i + 1 + k) == Some(&'#')) {
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                if let Some(&c) = chars.get(i) {
                    blank(&mut out, c);
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F}'), or a lifetime ('a) which stays.
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push_str("' '");
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At `r"`, `r#"`, `br"`...: the number of `#` and the index after the opening quote.
fn raw_string_start(chars: &[char], at: usize) -> Option<(usize, usize)> {
    let mut i = at;
    if chars[i] == 'b' {
        i += 1;
    }
    if chars.get(i) != Some(&'r') {
        return None;
    }
    i += 1;
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    (chars.get(i) == Some(&'"')).then_some((hashes, i + 1))
}

/// `code` without its `#[cfg(test)]` items; the names of the `#[cfg(test)] mod x;` it declares.
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut test_files = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "#[cfg(test)]".len()..];
        // The item runs to its first `;` at depth 0, or to the `}` closing its first `{`.
        let (mut depth, mut end) = (0i32, after.len());
        for (i, c) in after.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                _ => {}
            }
        }
        let item = &after[..end];
        let words: Vec<&str> = item
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        if item.trim_end().ends_with(';') {
            if let Some(pos) = words.iter().position(|w| *w == "mod") {
                if let Some(name) = words.get(pos + 1) {
                    test_files.push(name.to_string());
                }
            }
        }
        out.extend(item.chars().filter(|&c| c == '\n'));
        rest = &after[end..];
    }
    out.push_str(rest);
    (out, test_files)
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The file of child module `name` declared in `file`.
fn child_files(file: &Path, name: &str) -> [PathBuf; 2] {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let dir = match stem {
        "mod" | "lib" | "main" => file.parent().unwrap().to_path_buf(),
        _ => file.with_extension(""),
    };
    [dir.join(format!("{name}.rs")), dir.join(name).join("mod.rs")]
}

struct Source {
    /// src/-relative path → code (comments, strings and test code left out).
    code: BTreeMap<PathBuf, String>,
}

fn source() -> Source {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut code = BTreeMap::new();
    let mut test_only: BTreeSet<PathBuf> = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let (kept, tests) = without_tests(&code_only(&text));
        for name in tests {
            test_only.extend(child_files(file, &name));
        }
        code.insert(file.clone(), kept);
    }
    // Files under a test-only module are test-only too.
    let code = code
        .into_iter()
        .filter(|(path, _)| {
            !test_only.iter().any(|t| {
                let folder =
                    t.file_name().is_some_and(|n| n == "mod.rs") && t.parent().is_some_and(|d| path.starts_with(d));
                path == t || folder
            })
        })
        .map(|(path, code)| (path.strip_prefix(&src).unwrap().to_path_buf(), code))
        .collect();
    Source { code }
}

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

#[test]
fn the_scanner_sees_through_comments_strings_and_tests() {
    let text = "use crate::a::X; // crate::b\n/* crate::c */ let s = \"crate::d\"; let r = r#\"crate::e\"#;\n\
                let c = '{'; fn f<'a>() {}\n#[cfg(test)]\nmod tests { use crate::f; fn g() { let x = '}'; } }\n\
                #[cfg(test)]\nmod more;\nuse crate::{g::Y, h};\n";
    let (code, tests) = without_tests(&code_only(text));
    assert!(code.contains("crate::a") && code.contains("crate::{g::Y, h}"), "{code}");
    for hidden in ["crate::b", "crate::c", "crate::d", "crate::e", "crate::f"] {
        assert!(!code.contains(hidden), "{hidden} in {code}");
    }
    assert_eq!(tests, vec!["more".to_string()]);
    assert_eq!(text.lines().count(), code.lines().count());
}

//! The import graph of `src/` has no cycle, at two scales.
//!
//! Between top-level modules: the data flows edge → inbox → db and inbox → broker → hub →
//! session, never back (every `crate::module` outside comments).
//!
//! Between the files of one folder (e.g. `src/broker/`): a node is a file of the folder, a
//! subfolder (all its files), or the folder's own file `mod.rs`. A file imports a sibling when it
//! names it by `crate::folder::sibling`, `super::sibling`, `self::…` or a child's bare name, in a
//! `use` or inline, outside comments and `#[cfg(test)]` modules. A name the folder's `mod.rs`
//! re-exports (`pub use sibling::Name`, or `pub use sibling::*` where the sibling defines it)
//! counts as an import of that sibling; any other name of the folder's module is an import of
//! `mod.rs`. What `mod.rs` declares (`mod x;`) or re-exports (`pub use`, any visibility) is no
//! import of its own: a re-export only passes a name on. Whatever `mod.rs` uses in its own code
//! (a private `use`, an inline path) is. So a factory in `mod.rs` that builds a child's type while
//! the child implements a trait `mod.rs` defines is a cycle, and the trait belongs in a file of
//! its own.

use crate::helpers::imports::folder_graphs;
use crate::helpers::source::source_files;
use std::collections::{BTreeMap, BTreeSet};

/// Top-level module → the top-level modules it names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = source_files();
    let is_module =
        |name: &str| files.iter().any(|f| f.rel == format!("{name}.rs") || f.rel == format!("{name}/mod.rs"));
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files.iter().filter(|f| !f.rel.starts_with("bin/") && f.rel != "main.rs") {
        let module = file.rel.trim_end_matches(".rs").split('/').next().expect("a name").to_owned();
        let names = graph.entry(module.clone()).or_default();
        for line in file.text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !name.is_empty() && name != module && is_module(&name) {
                    names.insert(name);
                }
            }
        }
    }
    graph
}

/// A cycle through `node`, if any (depth-first, `path` is the current chain).
fn find_cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut cycle = path[at..].to_vec();
        cycle.push(node.to_owned());
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = find_cycle(graph, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("inbox") && graph.contains_key("broker"), "read the modules: {graph:?}");
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = find_cycle(&graph, module, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}\nthe graph: {graph:#?}", cycle.join(" → "));
        }
    }
    // The layers the design names, in their direction only.
    let imports = |from: &str, to: &str| graph.get(from).is_some_and(|names| names.contains(to));
    for (low, high) in [("db", "inbox"), ("broker", "hub"), ("hub", "ws"), ("broker", "ws"), ("event", "broker")] {
        assert!(!imports(low, high), "{low} must not import {high}");
    }
    // The edges read use-case results from the domain's vocabulary, never from storage, and
    // `ApiError` (an actix type) stays at the edges: below them, errors are the layer's own.
    for edge in ["http", "ws"] {
        assert!(!imports(edge, "db"), "{edge} must not import db (the inbox is its door to storage)");
    }
    for inner in ["domain", "event", "db", "inbox", "broker", "hub", "subscriptions", "group_commit"] {
        assert!(!imports(inner, "error"), "{inner} must not import error: ApiError belongs to the edges");
        assert!(!imports(inner, "http") && !imports(inner, "ws"), "{inner} must not import an edge");
    }
    let domain = graph.get("domain").cloned().unwrap_or_default();
    assert!(domain.is_empty(), "domain is the bottom layer and imports no other module: {domain:?}");
}

/// The groups of two or more nodes of `graph` that reach each other (its cycles).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<BTreeSet<String>> {
    let reach = |from: &String| {
        let (mut seen, mut stack) = (BTreeSet::new(), vec![from.clone()]);
        while let Some(node) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    stack.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|n| (n, reach(n))).collect();
    let reaches = |a: &String, b: &String| reached.get(a).is_some_and(|r| r.contains(b));
    graph
        .keys()
        .map(|a| graph.keys().filter(|b| *b == a || (reaches(a, b) && reaches(b, a))).cloned().collect::<BTreeSet<_>>())
        .filter(|group| group.len() > 1)
        .collect()
}

#[test]
fn files_inside_a_folder_import_each_other_without_a_cycle() {
    let graphs = folder_graphs();
    assert!(graphs.contains_key("broker") && graphs.contains_key("http"), "read the folders: {graphs:#?}");
    let mut found = Vec::new();
    for (folder, graph) in &graphs {
        let names = graph.iter().map(|(from, to)| (from.clone(), to.keys().cloned().collect())).collect();
        for group in cycles(&names) {
            let members: Vec<&str> = group.iter().map(String::as_str).collect();
            found.push(format!("src/{folder}/: {{{}}} import each other:", members.join(", ")));
            for (from, edges) in graph.iter().filter(|(from, _)| group.contains(*from)) {
                for (to, at) in edges.iter().filter(|(to, _)| group.contains(*to)) {
                    found.push(format!("    {from} → {to} ({at})"));
                }
            }
        }
    }
    assert!(found.is_empty(), "import cycles between the files of a folder:\n{}", found.join("\n"));
}

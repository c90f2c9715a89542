//! Which file of a folder of `src/` imports which sibling, read from the source text (the rule
//! is written in `ops/layers.rs`), with the place that makes each edge.

use super::source::{source_files, without_test_modules, SourceFile};
use std::collections::{BTreeMap, BTreeSet};

/// A folder of `src/` (e.g. `broker`) → its nodes (`mod.rs`, a file's module name, a
/// subfolder's name) → the nodes they import → where (`broker/redis.rs:12 crate::broker::sharded`).
pub type FolderGraphs = BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>;

/// The folder's own file, as a node.
pub const OWN_FILE: &str = "mod.rs";

/// A path a file names, resolved to a module path below the crate root.
struct Reference {
    to: Vec<String>,
    line: usize,
    written: String,
    /// Named by a `pub use` (of any visibility): a re-export.
    reexport: bool,
}

/// `broker/redis.rs` → `[broker, redis]`; `broker/mod.rs` → `[broker]`; `lib.rs` → `[]`.
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// Child modules of `module`: the files and folders in `src/<module>/`.
fn children(files: &[SourceFile], module: &[String]) -> BTreeSet<String> {
    files
        .iter()
        .map(|f| module_path(&f.rel))
        .filter(|p| p.len() > module.len() && p[..module.len()] == *module)
        .map(|p| p[module.len()].clone())
        .collect()
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `a::{b, c::{d, e as f}, self}` → `[a,b]`, `[a,c,d]`, `[a,c,e]`, `[a]` (aliases dropped, `*` ends a path).
fn expand_use(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let mut path = prefix.to_vec();
        let tree = tree.split(" as ").next().unwrap_or(tree);
        path.extend(
            tree.split("::").map(str::trim).filter(|s| !s.is_empty() && *s != "self" && *s != "*").map(str::to_owned),
        );
        out.push(path);
        return;
    };
    let mut path = prefix.to_vec();
    path.extend(tree[..open].split("::").map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned));
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_use(&inner[start..i], &path, out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        expand_use(&inner[start..], &path, out);
    }
}

/// `crate::…`, `super::…`, `self::…` or `child::…` resolved against `module`, if it is Herald's.
fn resolve(module: &[String], own_children: &BTreeSet<String>, path: &[String]) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut resolved = match first.as_str() {
        "crate" | "$crate" => return Some(path[1..].to_vec()),
        "self" => module.to_vec(),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let mut base = module[..module.len().checked_sub(ups)?].to_vec();
            base.extend(path[ups..].iter().cloned());
            return Some(base);
        }
        child if own_children.contains(child) => {
            let mut base = module.to_vec();
            base.extend(path.iter().cloned());
            return Some(base);
        }
        _ => return None,
    };
    resolved.extend(path[1..].iter().cloned());
    Some(resolved)
}

/// Every path `file` names: its `use` declarations expanded, then the inline paths of the rest.
fn references(file: &SourceFile, files: &[SourceFile]) -> Vec<Reference> {
    let module = module_path(&file.rel);
    let own_children = children(files, &module);
    let mut code = without_test_modules(&file.code);
    let mut found = Vec::new();
    for (at, _) in file.code.match_indices("use ") {
        let before = code[..at].trim_end();
        let starts_statement =
            before.is_empty() || before.ends_with([';', '{', '}', ']', ')']) || before.ends_with("pub");
        if (at > 0 && is_word(code.as_bytes()[at - 1])) || !starts_statement || !code[at..].starts_with("use ") {
            continue;
        }
        let Some(end) = code[at..].find(';').map(|n| at + n) else { continue };
        let reexport = before.ends_with("pub") || (before.ends_with(')') && before.contains("pub("));
        let mut paths = Vec::new();
        expand_use(&code[at + 4..end], &[], &mut paths);
        for path in paths {
            if let Some(to) = resolve(&module, &own_children, &path) {
                found.push(Reference { to, line: file.line_of(at), written: path.join("::"), reexport });
            }
        }
        let spaces = " ".repeat(end - at);
        code.replace_range(at..end, &spaces);
    }
    let bytes = code.as_bytes();
    for at in 0..bytes.len() {
        if !is_word(bytes[at]) || (at > 0 && (is_word(bytes[at - 1]) || bytes[at - 1] == b':')) {
            continue;
        }
        let mut path = Vec::new();
        let mut i = at;
        loop {
            let word_end = (i..bytes.len()).find(|j| !is_word(bytes[*j])).unwrap_or(bytes.len());
            path.push(code[i..word_end].to_owned());
            if !code[word_end..].starts_with("::") || !bytes.get(word_end + 2).copied().is_some_and(is_word) {
                break;
            }
            i = word_end + 2;
        }
        if path.len() < 2 {
            continue;
        }
        if let Some(to) = resolve(&module, &own_children, &path) {
            found.push(Reference { to, line: file.line_of(at), written: path.join("::"), reexport: false });
        }
    }
    found
}

/// The names `folder`'s own file re-exports → the child each comes from; `*` → children re-exported whole.
fn reexports(folder: &[String], files: &[SourceFile]) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let Some(own) = files.iter().find(|f| module_path(&f.rel) == folder) else { return names };
    for reference in references(own, files).into_iter().filter(|r| r.reexport) {
        if reference.to.len() > folder.len() + 1 && reference.to[..folder.len()] == *folder {
            let name = if reference.written.ends_with('*') {
                "*".to_owned()
            } else {
                reference.to.last().cloned().unwrap_or_default()
            };
            names.entry(name).or_default().insert(reference.to[folder.len()].clone());
        }
    }
    names
}

/// Whether a file of `child` (below `folder`) defines `name`.
fn defines(files: &[SourceFile], folder: &[String], child: &str, name: &str) -> bool {
    let mut path = folder.to_vec();
    path.push(child.to_owned());
    files.iter().filter(|f| module_path(&f.rel) == path).any(|f| {
        ["fn", "struct", "enum", "trait", "type", "const", "static", "mod"].iter().any(|kind| {
            f.code
                .match_indices(&format!("{kind} {name}"))
                .any(|(at, _)| f.code.as_bytes().get(at + kind.len() + 1 + name.len()).is_none_or(|b| !is_word(*b)))
        })
    })
}

/// The node of `folder` that `to` (a module path inside it) lands on.
fn target_node(
    files: &[SourceFile],
    folder: &[String],
    to: &[String],
    reexported: &BTreeMap<String, BTreeSet<String>>,
) -> String {
    let Some(name) = to.get(folder.len()) else { return OWN_FILE.to_owned() };
    if children(files, folder).contains(name) {
        return name.clone();
    }
    if let Some(child) = reexported.get(name).and_then(|c| c.iter().next()) {
        return child.clone();
    }
    let globbed = reexported.get("*").into_iter().flatten();
    globbed
        .into_iter()
        .find(|child| defines(files, folder, child, name))
        .cloned()
        .unwrap_or_else(|| OWN_FILE.to_owned())
}

/// The import graph inside every folder of `src/` below the top level.
pub fn folder_graphs() -> FolderGraphs {
    let files = source_files();
    let mut graphs = FolderGraphs::new();
    let mut reexported = BTreeMap::new();
    for file in files.iter().filter(|f| f.rel != "main.rs" && !f.rel.starts_with("bin/")) {
        let module = module_path(&file.rel);
        for reference in references(file, &files) {
            let common = module.iter().zip(&reference.to).take_while(|(a, b)| a == b).count();
            let folder = &module[..common];
            let is_folder = files.iter().any(|f| f.rel.starts_with(&format!("{}/", folder.join("/"))));
            if folder.is_empty() || !is_folder || (module.len() == common && reference.reexport) {
                continue;
            }
            let from = module.get(common).cloned().unwrap_or_else(|| OWN_FILE.to_owned());
            let names = reexported.entry(folder.to_vec()).or_insert_with(|| reexports(folder, &files));
            let to = target_node(&files, folder, &reference.to, names);
            if from != to {
                let edges = graphs.entry(folder.join("/")).or_default().entry(from).or_default();
                edges.entry(to).or_insert_with(|| format!("{}:{} {}", file.rel, reference.line, reference.written));
            }
        }
    }
    graphs
}

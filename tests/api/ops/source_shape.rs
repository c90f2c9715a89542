//! The shape issue 24 asks of `src/`, read from the source text (comments and literals blanked):
//! no `include!` or `macro_rules!` in `src/db`, no file over 400 lines (except the allowlist
//! below), no `fn` over 80 lines, and no `Result<…, String>` outside `src/main.rs`.
//!
//! A `fn` is measured from the line of its `fn` keyword to the line of the brace closing its
//! body, both counted: the body is the first `{` after the name outside parentheses and
//! brackets, closed by counting braces (a nested `fn` is measured on its own and also counts in
//! the one that holds it).

use crate::helpers::source::{fn_items, source_files, SourceFile};

const MAX_FILE_LINES: usize = 400;
const MAX_FN_LINES: usize = 80;

/// Files of `src/` allowed past `MAX_FILE_LINES`, each with why (a data table, generated code).
const LONG_FILES: &[(&str, &str)] = &[];

/// The top-level generic arguments of the `Result<` at `open` (the offset of its `<`).
fn generic_arguments(code: &str, open: usize) -> Vec<String> {
    let (mut depth, mut start, mut args) = (0usize, open + 1, Vec::new());
    let bytes = code.as_bytes();
    for i in open..code.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    args.push(code[start..i].trim().to_owned());
                    return args;
                }
            }
            b',' if depth == 1 => {
                args.push(code[start..i].trim().to_owned());
                start = i + 1;
            }
            b';' | b'{' | b'}' => return Vec::new(),
            _ => {}
        }
    }
    Vec::new()
}

/// `file:line what` for every `Result<…, String>` in `file`.
fn string_errors(file: &SourceFile) -> Vec<String> {
    let code = &file.code;
    code.match_indices("Result<")
        .filter(|(at, _)| *at == 0 || !code.as_bytes()[at - 1].is_ascii_alphanumeric())
        .filter(|(at, _)| generic_arguments(code, at + "Result".len()).last().is_some_and(|e| e == "String"))
        .map(|(at, _)| {
            format!(
                "{}:{} {}",
                file.rel,
                file.line_of(at),
                file.text.lines().nth(file.line_of(at) - 1).unwrap_or("").trim()
            )
        })
        .collect()
}

#[test]
fn source_shape() {
    let files = source_files();
    assert!(files.iter().any(|f| f.rel == "inbox/mod.rs"), "read src/");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| f.rel.starts_with("db/")) {
        for token in ["include!(", "macro_rules!"] {
            for (at, _) in file.code.match_indices(token) {
                found.push(format!("{token} in src/db: {}:{}", file.rel, file.line_of(at)));
            }
        }
    }
    for file in &files {
        let lines = file.text.lines().count();
        if lines > MAX_FILE_LINES && !LONG_FILES.iter().any(|(path, _)| *path == file.rel) {
            found.push(format!("file over {MAX_FILE_LINES} lines: {} ({lines})", file.rel));
        }
    }
    for file in &files {
        for item in fn_items(file).into_iter().filter(|item| item.lines > MAX_FN_LINES) {
            found.push(format!(
                "fn over {MAX_FN_LINES} lines: {}:{} {} ({})",
                file.rel, item.line, item.name, item.lines
            ));
        }
    }
    for file in files.iter().filter(|f| f.rel != "main.rs") {
        found.extend(string_errors(file).into_iter().map(|at| format!("Result<_, String>: {at}")));
    }
    assert!(found.is_empty(), "{} places do not have the shape issue 24 asks:\n{}", found.len(), found.join("\n"));
}

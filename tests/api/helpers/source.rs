//! This repository's `src/` read as text for the tests about the code's shape: each file with its
//! code (comments, string and char literals blanked to spaces, so offsets and line numbers stay
//! those of the file), and the `fn` items found in it by counting braces.

use std::path::Path;

/// One file under `src/`.
pub struct SourceFile {
    /// The path below `src/`, with `/` (e.g. `broker/redis.rs`).
    pub rel: String,
    pub text: String,
    /// `text` with comments and literals blanked.
    pub code: String,
}

impl SourceFile {
    /// The 1-based line of a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.code[..offset].matches('\n').count() + 1
    }
}

/// Every `.rs` file under `src/`, sorted by path.
pub fn source_files() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("read a source file");
                let code = blank_comments_and_literals(&text);
                files.push(SourceFile { rel, text, code });
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    files
}

/// `text` with comments, string literals (raw and byte ones too) and char literals replaced by
/// spaces; newlines are kept. Lifetimes (`'a`) are left as they are.
pub fn blank_comments_and_literals(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let ident = |at: usize| at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let end = if rest.starts_with(b"//") {
            Some(text[i..].find('\n').map_or(bytes.len(), |n| i + n))
        } else if rest.starts_with(b"/*") {
            Some(block_comment_end(bytes, i))
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#")) && !ident(i) {
            raw_string_end(bytes, i + 1)
        } else if (rest.starts_with(b"br\"") || rest.starts_with(b"br#")) && !ident(i) {
            raw_string_end(bytes, i + 2)
        } else if rest[0] == b'"' {
            Some(string_end(bytes, i))
        } else if rest[0] == b'\'' {
            char_end(bytes, i)
        } else {
            None
        };
        match end {
            Some(end) => {
                blank(&mut out, i, end);
                i = end;
            }
            None => i += 1,
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8: only whole literals and comments become spaces")
}

fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let (mut depth, mut i) = (0usize, start);
    while i < bytes.len() {
        if bytes[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if bytes[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// `at` is just past the `r` (or `br`): `#…#"…"#…#`.
fn raw_string_end(bytes: &[u8], at: usize) -> Option<usize> {
    let hashes = bytes[at..].iter().take_while(|b| **b == b'#').count();
    if bytes.get(at + hashes) != Some(&b'"') {
        return None;
    }
    let mut closing = vec![b'"'];
    closing.extend(std::iter::repeat_n(b'#', hashes));
    let body = at + hashes + 1;
    bytes[body..].windows(closing.len()).position(|w| w == closing.as_slice()).map(|n| body + n + closing.len())
}

fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() && bytes[i] != b'"' {
        i += if bytes[i] == b'\\' { 2 } else { 1 };
    }
    (i + 1).min(bytes.len())
}

/// A char literal (`'x'`, `'\n'`, `'\u{1F600}'`, `'é'`) starting at `start`, or `None` for a lifetime.
fn char_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start + 1) == Some(&b'\\') {
        let close = bytes.get(start + 3..)?.iter().take(10).position(|b| *b == b'\'')?;
        return Some(start + 3 + close + 1);
    }
    let width = match *bytes.get(start + 1)? {
        b if b < 0x80 => 1,
        b if b >= 0xf0 => 4,
        b if b >= 0xe0 => 3,
        _ => 2,
    };
    (bytes.get(start + 1 + width) == Some(&b'\'')).then_some(start + 2 + width)
}

/// The offset of the brace closing the one at `open`, in blanked code.
pub fn matching_brace(code: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, b) in code.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// A `fn` item with a body.
pub struct FnItem {
    pub name: String,
    /// The line of the `fn` keyword.
    pub line: usize,
    /// From the `fn` keyword's line to the closing brace's line, both counted.
    pub lines: usize,
}

/// Every `fn NAME` with a body in `file`, nested ones too (each counted on its own, and inside
/// the one that holds it). The body is the first `{` after the name outside parentheses and
/// brackets, ended by its matching `}`; a `;` first means a declaration without a body.
pub fn fn_items(file: &SourceFile) -> Vec<FnItem> {
    let code = file.code.as_bytes();
    let word = |i: usize| code[i].is_ascii_alphanumeric() || code[i] == b'_';
    let mut items = Vec::new();
    for (at, _) in file.code.match_indices("fn ") {
        if at > 0 && word(at - 1) {
            continue;
        }
        let name: String =
            file.code[at + 3..].trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if name.is_empty() {
            continue;
        }
        let mut nesting = 0i32;
        let body = (at..code.len()).find_map(|i| match code[i] {
            b'(' | b'[' => {
                nesting += 1;
                None
            }
            b')' | b']' => {
                nesting -= 1;
                None
            }
            b'{' | b';' if nesting == 0 => Some((code[i] == b'{').then_some(i)),
            _ => None,
        });
        let Some(Some(open)) = body else { continue };
        let Some(close) = matching_brace(&file.code, open) else { continue };
        let line = file.line_of(at);
        items.push(FnItem { name, line, lines: file.line_of(close) - line + 1 });
    }
    items
}

/// Nothing, or a visibility (`pub`, `pub(crate)`, `pub(super)`, …).
fn is_visibility(text: &str) -> bool {
    text.is_empty() || text == "pub" || (text.starts_with("pub(") && text.ends_with(')'))
}

/// `code` with each `#[cfg(test)] mod NAME { … }` blanked (unit tests are not part of the
/// module's dependencies).
pub fn without_test_modules(code: &str) -> String {
    let mut out = code.to_owned();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let after = code[at + "#[cfg(test)]".len()..].trim_start();
        // `mod tests`, or with a visibility: `pub mod`, `pub(crate) mod`.
        let Some(mod_at) = after.find("mod ").filter(|n| is_visibility(after[..*n].trim_end())) else { continue };
        let decl = &after[mod_at + 4..];
        let decl_at = code.len() - decl.len();
        let Some(open) = decl.find(['{', ';']).filter(|n| decl.as_bytes()[*n] == b'{') else { continue };
        let open = decl_at + open;
        if let Some(close) = matching_brace(code, open) {
            let spaces: String =
                code.as_bytes()[at..=close].iter().map(|b| if *b == b'\n' { '\n' } else { ' ' }).collect();
            out.replace_range(at..=close, &spaces);
        }
    }
    out
}

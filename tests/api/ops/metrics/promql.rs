//! The metric names a PromQL expression selects (a small reader, tested on its own).

use std::collections::BTreeSet;

/// Words of PromQL that are not metric names where no `(` follows: aggregation operators
/// (`sum by (le) (…)`), binary and set operators, modifiers, literals.
const KEYWORDS: &str = "sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk \
                        limit_ratio and or unless atan2 bool offset inf nan";

/// Modifiers followed by a parenthesized list of label names.
const LABEL_LISTS: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

/// The index just past the bracket that closes the one at `start` (`{…}`, `(…)` or `[…]`),
/// skipping quoted strings.
fn past_closing(chars: &[char], start: usize) -> usize {
    let open = chars[start];
    let close = match open {
        '{' => '}',
        '(' => ')',
        _ => ']',
    };
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = past_string(chars, i) - 1,
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unclosed `{open}` in {}", chars.iter().collect::<String>())
}

/// The index just past the string literal opening at `start`.
fn past_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 1,
            c if c == quote => return i + 1,
            _ => {}
        }
        i += 1;
    }
    panic!("unclosed string in {}", chars.iter().collect::<String>())
}

/// The metric names `expr` selects: identifiers that no `(` follows (functions) and that are
/// not keywords, outside label matchers (`{…}`), label lists (`by (…)`), ranges (`[…]`),
/// strings and numbers. Grafana's `$variables` are skipped.
pub(super) fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let next_non_space = |from: usize| (from..chars.len()).find(|&j| !chars[j].is_whitespace());
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' {
            i = past_closing(&chars, i);
        } else if c == '"' || c == '\'' || c == '`' {
            i = past_string(&chars, i);
        } else if c == '#' {
            i = (i..chars.len()).find(|&j| chars[j] == '\n').unwrap_or(chars.len());
        } else if c == '$' {
            // `$name`, `$__rate_interval` or `${name}`.
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = past_closing(&chars, i);
            } else {
                while i < chars.len() && is_part(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            // Numbers and durations: 0.99, 1e3, 0x1f, 5m, 1h30m.
            while i < chars.len() && (is_part(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if is_start(c) {
            let start = i;
            while i < chars.len() && is_part(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = next_non_space(i);
            if LABEL_LISTS.contains(&word.as_str()) {
                if let Some(open) = next.filter(|&j| chars[j] == '(') {
                    i = past_closing(&chars, open);
                }
            } else if next.is_some_and(|j| chars[j] == '(') || KEYWORDS.split_whitespace().any(|k| k == word) {
                // A function call or a keyword.
            } else {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn metric_names_are_the_selected_series_only() {
    let cases: &[(&str, &[&str])] = &[
        (r#"up{job="herald"} == 0"#, &["up"]),
        (
            r#"sum by (instance, le) (rate(a_bucket{code=~"1011|1013", x="b{c}(d)"}[5m] offset 1h)) > 0.1
               and on(instance) group_left(node) b == bool 1 or absent(c{job="x"} == 1) # d e"#,
            &["a_bucket", "b", "c"],
        ),
        (
            "histogram_quantile(0.99, sum without (pod) (rate(x_bucket{instance=~\"$instance\"}[$__rate_interval])))",
            &["x_bucket"],
        ),
        ("count_values(\"v\", y) / ignoring(code) z * 1e3 - .5 + topk(3, w) + sum(inf) + nan", &["w", "y", "z"]),
        ("avg(rate(r:recorded[1h30m] @ start())) unless q", &["q", "r:recorded"]),
    ];
    for (expr, expected) in cases {
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(metric_names(expr), expected, "{expr}");
    }
}

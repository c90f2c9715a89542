//! deploy/herald.env.example: exactly `ENV_VARS`, same defaults and docs, no secret.

use super::{is_env_var, read};
use herald::config::ENV_VARS;

/// One `NAME=value` line of the example, possibly commented out, with the comment above it.
pub(super) struct ExampleVar {
    pub(super) name: String,
    pub(super) value: String,
    pub(super) commented: bool,
    pub(super) doc: String,
}

pub(super) fn env_example() -> Vec<ExampleVar> {
    let text = read("deploy/herald.env.example");
    let lines: Vec<&str> = text.lines().collect();
    let mut vars = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let (commented, rest) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.trim_start()),
            None => (false, *line),
        };
        let Some((name, value)) = rest.split_once('=') else { continue };
        let is_name = name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !is_name {
            continue;
        }
        let doc = i.checked_sub(1).map(|j| lines[j]).and_then(|l| l.strip_prefix("# ")).unwrap_or("").to_owned();
        vars.push(ExampleVar { name: name.to_owned(), value: value.to_owned(), commented, doc });
    }
    vars
}

/// The lines the example should have for `ENV_VARS` (shown when it does not).
fn expected_example_lines() -> String {
    ENV_VARS
        .iter()
        .map(|v| match (v.name, v.default) {
            (name, "") => format!("# {}\n# {name}=\n", v.doc),
            (name, default) => format!("# {}\n{name}={default}\n", v.doc),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_env_example_has_exactly_the_variables_the_node_reads_with_their_defaults() {
    let example = env_example();
    let hint = || format!("deploy/herald.env.example should list, in ENV_VARS order:\n\n{}", expected_example_lines());
    for var in &example {
        assert!(is_env_var(&var.name), "herald.env.example names {}, which Herald never reads\n{}", var.name, hint());
    }
    let names: Vec<&str> = example.iter().map(|v| v.name.as_str()).collect();
    let expected: Vec<&str> = ENV_VARS.iter().map(|v| v.name).collect();
    assert_eq!(names, expected, "every ENV_VARS name once, in order\n{}", hint());
    for (var, env) in example.iter().zip(ENV_VARS) {
        assert_eq!(var.doc, env.doc, "the comment above {} is its ENV_VARS doc\n{}", var.name, hint());
        if var.name == "JWT_SECRET" {
            // Committed, any value is public: compose takes the secret from the operator instead.
            assert!(
                var.commented && var.value.is_empty(),
                "no secret is committed: `# JWT_SECRET=`, not {:?}\n{}",
                var.value,
                hint()
            );
        } else if env.default.is_empty() {
            assert!(
                var.commented && var.value.is_empty(),
                "{} is unset by default: `# {}=`\n{}",
                var.name,
                var.name,
                hint()
            );
        } else {
            assert!(!var.commented, "{} has a default and is set\n{}", var.name, hint());
            assert_eq!(var.value, env.default, "{} default\n{}", var.name, hint());
        }
    }
}

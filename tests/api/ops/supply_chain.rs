//! The supply-chain gate: `.ci/run` runs `cargo deny check licenses bans sources` against
//! deny.toml (installing cargo-deny when missing), deny.toml says why each known advisory is
//! accepted, and, where cargo-deny is installed (always in CI, which installs it before
//! `cargo test`), the check passes on the current dependency tree.

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const CHECK: [&str; 5] = ["deny", "check", "licenses", "bans", "sources"];

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn ci_runs_cargo_deny_and_deny_toml_gives_a_reason_for_each_accepted_advisory() {
    let ci = read(".ci/run");
    let lines: Vec<&str> = ci.lines().map(str::trim).collect();
    assert!(lines.contains(&"cargo deny check licenses bans sources"), ".ci/run runs cargo-deny");
    assert!(
        lines.contains(&"command -v cargo-deny >/dev/null 2>&1 || cargo install --locked cargo-deny"),
        ".ci/run installs cargo-deny when missing"
    );
    let position = |needle: &str| ci.find(needle).unwrap_or_else(|| panic!("{needle} in .ci/run"));
    assert!(position("cargo deny check") < position("\ncargo test\n"), "before the long test run");

    let deny = read("deny.toml");
    for section in ["[licenses]", "[bans]", "[sources]", "[advisories]"] {
        assert!(deny.lines().any(|l| l.trim() == section), "deny.toml has {section}");
    }
    let ignored: Vec<&str> = deny.lines().map(str::trim).filter(|l| l.starts_with("{ id = \"RUSTSEC-")).collect();
    assert!(ignored.iter().any(|l| l.contains("RUSTSEC-2023-0071")), "the rsa advisory (verify-only use)");
    for entry in &ignored {
        let reason = entry.split("reason = \"").nth(1).unwrap_or("");
        assert!(reason.len() > 20, "an accepted advisory says why: {entry}");
    }
    let allowed = deny.lines().find(|l| l.starts_with("allow = [")).expect("the allowed licenses");
    for copyleft in ["GPL", "AGPL", "LGPL", "MPL", "EUPL"] {
        assert!(!allowed.contains(copyleft), "no copyleft license is allowed: {allowed}");
    }
}

#[test]
fn cargo_deny_passes_on_the_current_dependency_tree() {
    let installed = Command::new("cargo").args(["deny", "--version"]).output().is_ok_and(|o| o.status.success());
    if !installed {
        eprintln!("cargo-deny is not installed here (`.ci/run` installs it): not run");
        return;
    }
    let out = Command::new("cargo").args(CHECK).current_dir(ROOT).output().expect("run cargo deny");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo deny check licenses bans sources failed:\n{report}");
    // The summary goes to stdout, the findings (duplicate versions: warnings only) to stderr.
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(summary.trim(), "bans ok, licenses ok, sources ok", "{report}");
}

//! The README documents what the code does: every environment variable the node reads is in
//! its table with the same default, and every route the node serves is in its REST reference.

use herald::config::ENV_VARS;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

#[test]
fn every_environment_variable_is_in_the_readme_table_with_its_default() {
    let readme = readme();
    for var in ENV_VARS {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{}` |", var.name)))
            .unwrap_or_else(|| panic!("README has no table row for {}", var.name));
        let default = if var.default.is_empty() { "(unset)".to_owned() } else { format!("`{}`", var.default) };
        assert!(
            row.contains(&format!("| {default} |")),
            "README row for {} should show default {default}: {row}",
            var.name
        );
    }
}

#[test]
fn every_rest_route_is_in_the_readme() {
    let readme = readme();
    for path in [
        "GET /auth/notifications/",
        "POST /auth/notifications/create/",
        "POST /auth/notifications/{id}/read/",
        "/unread/",
        "POST /auth/notifications/mark-all-read/",
        "DELETE /auth/notifications/{id}/delete/",
        "GET /auth/notifications/unread-count/",
        "GET /auth/notifications/preferences/",
        "POST /auth/notifications/broadcast/",
        "GET /healthz",
        "GET /readyz",
        "GET /openapi.json",
    ] {
        assert!(readme.contains(path), "README does not document {path}");
    }
}

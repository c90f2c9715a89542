//! deploy/Dockerfile: non-root, healthcheck, port.

use super::env_example::env_example;
use super::{default_of, read};
use std::collections::BTreeMap;

/// The port of a `host:port` bind address.
fn port_of(bind: &str) -> u16 {
    bind.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {bind:?}"))
}

/// `(INSTRUCTION, arguments)` with continuation lines joined and comments dropped.
pub(super) fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("deploy/Dockerfile").lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (instruction, args) = current.split_once(char::is_whitespace).unwrap_or((current.as_str(), ""));
                out.push((instruction.to_ascii_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// The instructions of the last stage (what runs).
fn runtime_stage() -> Vec<(String, String)> {
    let all = dockerfile();
    let start = all.iter().rposition(|(i, _)| i == "FROM").expect("a FROM");
    all[start..].to_vec()
}

pub(super) fn dockerfile_env() -> BTreeMap<String, String> {
    runtime_stage()
        .into_iter()
        .filter(|(i, _)| i == "ENV")
        .filter_map(|(_, args)| args.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

pub(super) fn dockerfile_exposed_port() -> u16 {
    let exposed: Vec<String> = runtime_stage().into_iter().filter(|(i, _)| i == "EXPOSE").map(|(_, a)| a).collect();
    assert_eq!(exposed.len(), 1, "one EXPOSE: {exposed:?}");
    exposed[0].trim_end_matches("/tcp").parse().unwrap_or_else(|_| panic!("EXPOSE {}", exposed[0]))
}

#[test]
fn the_image_builds_herald_and_runs_it_unprivileged_with_a_healthcheck_on_its_port() {
    let all = dockerfile();
    let froms: Vec<&str> = all.iter().filter(|(i, _)| i == "FROM").map(|(_, a)| a.as_str()).collect();
    assert_eq!(froms, ["rust:1-bookworm AS builder", "debian:bookworm-slim"]);
    // Nothing but the two base images comes from a registry: no `# syntax=` frontend image
    // (BuildKit's built-in frontend runs the cache mounts; deploy/offline/images.sh makes the
    // bases on a machine without a registry).
    assert!(
        !read("deploy/Dockerfile").lines().any(|line| line.trim_start().to_ascii_lowercase().starts_with("# syntax")),
        "a `# syntax=` line pulls the frontend image from a registry at build time"
    );
    let build = all.iter().find(|(i, a)| i == "RUN" && a.contains("cargo build")).expect("a cargo build");
    assert!(build.1.contains("cargo build --release --locked --bin herald"), "{}", build.1);
    assert!(all.iter().any(|(i, a)| i == "RUN" && a.contains("libpq-dev")), "the builder installs libpq-dev");

    let runtime = runtime_stage();
    let installs: Vec<&String> =
        runtime.iter().filter(|(i, a)| i == "RUN" && a.contains("apt-get install")).map(|(_, a)| a).collect();
    assert_eq!(installs.len(), 1);
    let packages = installs[0].split("--no-install-recommends").nth(1).expect("--no-install-recommends");
    let packages: Vec<&str> = packages.split("&&").next().unwrap_or("").split_whitespace().collect();
    assert_eq!(packages, ["libpq5", "ca-certificates", "curl"], "the runtime holds only what herald needs");

    let user =
        runtime.iter().rev().find(|(i, _)| i == "USER").map(|(_, a)| a.clone()).expect("a USER in the runtime stage");
    let name = user.split(':').next().unwrap_or("");
    assert!(!["root", "0", ""].contains(&name), "USER {user} is root");

    let healthcheck = runtime.iter().find(|(i, _)| i == "HEALTHCHECK").map(|(_, a)| a.clone()).expect("HEALTHCHECK");
    assert!(healthcheck.contains("CMD") && healthcheck.contains("/healthz"), "{healthcheck}");

    // The port the image exposes is the one of the documented HERALD_BIND and of its own.
    let example_bind = env_example().into_iter().find(|v| v.name == "HERALD_BIND").expect("HERALD_BIND").value;
    assert_eq!(dockerfile_exposed_port(), port_of(&example_bind));
    assert_eq!(dockerfile_env().get("HERALD_BIND").map(String::as_str), Some("0.0.0.0:8000"));
    assert_eq!(port_of(default_of("HERALD_BIND")), dockerfile_exposed_port());

    let last = |instruction: &str| runtime.iter().rev().find(|(i, _)| i == instruction).map(|(_, a)| a.clone());
    assert_eq!(last("ENTRYPOINT").as_deref(), Some(r#"["herald"]"#));
    assert_eq!(last("CMD").as_deref(), Some(r#"["serve"]"#));
}
